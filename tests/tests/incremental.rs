//! Incremental sync from the binlog, end to end: `ferry run -f` follows the source after the
//! initial sync, applies every change exactly once, survives crashes and server restarts, and
//! fails clearly when it cannot go on.

use std::time::{Duration, Instant};

use ferry_crds::Phase;
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
const CATCH_UP: Duration = Duration::from_secs(120);

/// Polls `sql` on `conn` until it returns `expected`; panics on timeout (or if ferry exits).
async fn wait_for_rows<T>(conn: &mut mysql_async::Conn, sql: &str, expected: &[T], ferry: &mut RunningFerry)
where
    T: FromRow + PartialEq + std::fmt::Debug + Send + 'static,
{
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        let got: Vec<T> = conn.query(sql).await.unwrap();
        if got == expected {
            return;
        }
        if !ferry.is_running() || Instant::now() > deadline {
            panic!("`{sql}` on the target gave {got:?}, expected {expected:?}\n{}", ferry.describe());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn applied(s: &ferry_crds::SyncTaskStatus) -> (u64, u64) {
    s.incremental_sync.as_ref().map_or((0, 0), |i| (i.rows_applied, i.transactions_applied))
}

/// The workload the other tests lean on: one seed, one connection, the same database twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workload_is_deterministic_and_keeps_its_invariants() {
    let (a, b) = tokio::join!(TestServer::start(ServerOptions::source()), TestServer::start(ServerOptions::source()));
    tokio::join!(Workload::create_tables(&a, "wl", 500), Workload::create_tables(&b, "wl", 500));
    let opts = WorkloadOptions::new("wl", 7).transactions(400);
    let (wa, wb) = tokio::join!(Workload::start(&a, opts.clone()), Workload::start(&b, opts));
    let (ra, rb) = tokio::join!(wa.wait(), wb.wait());
    assert_eq!((ra.committed, ra.rolled_back, ra.statements), (rb.committed, rb.rolled_back, rb.statements));
    assert!(ra.committed > 300 && ra.rolled_back > 0 && ra.rows_changed > 500, "{ra:?}");
    wait_until_same(&a, &b, &["wl"], Duration::from_secs(5)).await;
    let mut c = a.conn().await;
    check_workload_invariants(&mut c, "wl").await.unwrap();
    assert!(duplicate_rows(&mut c, "wl", "nokey").await > 0, "the keyless table holds duplicates on purpose");
    let other = WorkloadOptions::new("wl", 8).transactions(50);
    Workload::start(&b, other).await.wait().await;
    let diff = compare_databases(&a.opts(), &b.opts(), &["wl"]).await.unwrap();
    assert!(!diff.is_empty(), "another seed writes something else");
}

/// (a) Every column type through row events: inserts, updates of every column (value <-> NULL,
/// edge to edge), a key change, deletes; with and without a primary key; floats bit for bit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_through_the_binlog() {
    let (src, dst) = pair().await;
    src.exec(&format!(
        "CREATE DATABASE types CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n{}{}CREATE DATABASE scratch;",
        types_table_ddl("types.t", true),
        types_table_ddl("types.nk", false)
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "types", &src, &dst, "  objects:\n  - database: types\n  incremental: true\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    let st = ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    assert_eq!(st.full_sync.map(|f| f.rows_done), Some(0), "nothing to copy at first");

    let cols = TYPES_WRITABLE_COLUMNS.join(", ");
    let set_from_b = |t: &str| {
        let sets: Vec<String> = TYPES_WRITABLE_COLUMNS[1..].iter().map(|c| format!("a.{c} = b.{c}")).collect();
        format!("UPDATE types.{t} a JOIN scratch.v_{t} b ON b.id = a.id % 4 + 1 SET {} WHERE a.id <= 4;\n", sets.join(", "))
    };
    let mut script = String::new();
    for t in ["t", "nk"] {
        // Rows 1-4 (edge values), then 5-8 as copies.
        script.push_str(&types_insert(&format!("types.{t}")));
        script.push_str(&format!("INSERT INTO types.{t} ({cols}) SELECT id + 4{} FROM types.{t} WHERE id <= 4;\n", {
            TYPES_WRITABLE_COLUMNS[1..].iter().map(|c| format!(", {c}")).collect::<String>()
        }));
        // Every column of rows 1-4 takes the next row's values (4 takes row 1's): value to NULL,
        // NULL to value, minimum to maximum. The helper copy lives in an unselected database.
        script.push_str(&format!("CREATE TABLE scratch.v_{t} AS SELECT {cols} FROM types.{t} WHERE id <= 4;\n"));
        script.push_str(&set_from_b(t));
        // A key change, a delete.
        script.push_str(&format!("UPDATE types.{t} SET id = 102 WHERE id = 2;\nDELETE FROM types.{t} WHERE id = 7;\n"));
    }
    // Identical rows in the keyless table: one of three deleted, one of three updated.
    script.push_str(&format!(
        "INSERT INTO types.nk ({cols}) SELECT {cols} FROM types.nk WHERE id IN (1, 5);
         INSERT INTO types.nk ({cols}) SELECT {cols} FROM types.nk WHERE id IN (1, 5) LIMIT 2;
         DELETE FROM types.nk WHERE id = 1 LIMIT 1;
         UPDATE types.nk SET vc = 'one of three', f = 0.1 WHERE id = 5 LIMIT 1;\n"
    ));
    src.exec(&script).await;

    ferry.wait_until_same(&src, &dst, &["types"], SYNC_TIMEOUT).await;
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_same_values(&mut s, &mut d, "types", "t").await;
    assert_same_values(&mut s, &mut d, "types", "nk").await;
    assert_eq!(count_rows(&mut d, "types.t").await, 7);
    assert_eq!(count_rows(&mut d, "types.nk").await, 10);
    assert_eq!(duplicate_rows(&mut d, "types", "nk").await, duplicate_rows(&mut s, "types", "nk").await);
    let scratch: Vec<String> = d.query("SHOW DATABASES LIKE 'scratch'").await.unwrap();
    assert!(scratch.is_empty(), "an unselected database stays out of the target");

    // 36 row changes in 16 source transactions on the selected tables (more with the scratch ones).
    let st = ferry.wait_for_status("incrementalSync counting the changes", Duration::from_secs(10), |s| applied(s).0 >= 36).await;
    assert_eq!(st.phase, Some(Phase::Synchronizing));
    assert!(applied(&st).1 >= 16, "{:?}", st.incremental_sync);
    let inc = st.incremental_sync.as_ref().unwrap();
    assert!(inc.last_event_time.is_some(), "{inc:?}");
    assert!(st.lag_seconds.is_some_and(|l| (0..30).contains(&l)), "lagSeconds {:?}", st.lag_seconds);
    let cp = st.checkpoint.as_ref().expect("checkpoint");
    let (file, pos) = src.binlog_position().await;
    assert!(cp.file.starts_with("mysql-bin.") && cp.position > 4, "{cp:?}");
    assert!(cp.gtid_set.as_deref().is_some_and(|g| !g.is_empty()), "{cp:?}");
    assert!(cp.file < file || (cp.file == file && cp.position <= pos), "checkpoint {cp:?} beyond the source's end {file}:{pos}");

    // Ctrl-C stops it; the same command resumes from the checkpoint.
    let code = ferry.interrupt(Duration::from_secs(15)).await;
    assert!(!code.success(), "an interrupted incremental task does not report success: {code}");
    src.exec("UPDATE types.t SET d65 = d65 / 3, tiu = 7, j = '{\"after\": \"restart\"}' WHERE id = 1; DELETE FROM types.nk WHERE id = 5 LIMIT 1;")
        .await;
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_until_same(&src, &dst, &["types"], SYNC_TIMEOUT).await;
    assert_same_values(&mut s, &mut d, "types", "t").await;
    assert_same_values(&mut s, &mut d, "types", "nk").await;
}

/// (b) SIGKILL at random moments (seeded) while a mixed workload with a 100k-row transaction runs:
/// nothing lost, nothing applied twice, no transaction ever visible in part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let (src, dst) = pair().await;
    Workload::create_tables(&src, "wl", 5_000).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "crash", &src, &dst, "  objects:\n  - database: wl\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;

    let workload_time = Duration::from_secs(40);
    let workload = Workload::start(
        &src,
        WorkloadOptions::new("wl", 42)
            .connections(2)
            .duration(workload_time)
            .pause(Duration::from_millis(4))
            .bulk_after(Duration::from_secs(12)),
    )
    .await;
    let mut rng = Rng::new(2024);
    let mut d = dst.conn().await;
    let mut kills = 0;
    let mut killed_after_bulk = false;
    let started = Instant::now();
    while kills < 10 || !workload.is_finished() {
        assert!(started.elapsed() < Duration::from_secs(120), "the kill loop did not end");
        // Right after the big transaction commits on the source, one kill lands in its apply.
        let delay = if workload.bulk_done() && !killed_after_bulk {
            killed_after_bulk = true;
            rng.duration(Duration::from_millis(200), Duration::from_millis(1200))
        } else {
            rng.duration(Duration::from_millis(500), Duration::from_millis(4000))
        };
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if let Err(e) = check_workload_invariants(&mut d, "wl").await {
                panic!("on the target after {kills} kills: {e}\n{}", ferry.describe());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !ferry.kill() {
            panic!("ferry exited by itself before kill {}\n{}", kills + 1, ferry.describe());
        }
        kills += 1;
        tokio::time::sleep(rng.duration(Duration::ZERO, Duration::from_millis(500))).await;
        ferry = RunningFerry::start(&m, dir.path());
    }
    let report = workload.stop().await;
    println!("{kills} kills; workload: {report:?}");
    assert!(kills >= 10);
    assert!(killed_after_bulk, "the big transaction ran during the kills: {report:?}");
    assert_eq!(report.bulk_rows, BULK_ROWS, "{report:?}");
    assert!(report.committed > 1000, "{report:?}");

    ferry.wait_until_same(&src, &dst, &["wl"], CATCH_UP).await;
    let mut s = src.conn().await;
    assert_eq!(duplicate_rows(&mut d, "wl", "nokey").await, duplicate_rows(&mut s, "wl", "nokey").await);
    check_workload_invariants(&mut d, "wl").await.unwrap();
    assert_eq!(count_rows(&mut d, "wl.bulk").await, BULK_ROWS);
    let unsynced: Vec<String> = d.query("SHOW DATABASES LIKE 'wl_unsynced'").await.unwrap();
    assert!(unsynced.is_empty(), "writes to an unselected database in the same transactions stay out");
    assert_eq!(ferry.status().and_then(|s| s.phase), Some(Phase::Synchronizing));
}

/// (c) The full copy of a 300k-row table runs while the workload writes to it; the hand-off to the
/// binlog loses nothing and applies nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_during_the_full_copy_are_handed_off_to_the_binlog() {
    let (src, dst) = pair().await;
    Workload::create_tables(&src, "wl", 300_000).await;
    let workload =
        Workload::start(&src, WorkloadOptions::new("wl", 3).pause(Duration::from_millis(2)).duration(Duration::from_secs(90))).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(
        dir.path(),
        "handoff",
        &src,
        &dst,
        "  objects:\n  - database: wl\n  engine:\n    parallelism: 2\n    batchBytes: 1048576\n    chunkRows: 50000\n",
    );
    let at_start = workload.committed();
    let mut ferry = RunningFerry::start(&m, dir.path());
    let st = ferry.wait_for_phase(Phase::Synchronizing, Duration::from_secs(90)).await;
    let at_sync = workload.committed();
    assert!(at_sync >= at_start + 20, "the workload wrote during the full copy ({at_start} -> {at_sync} transactions)");
    assert!(st.full_sync.as_ref().is_some_and(|f| f.rows_done >= 250_000), "{:?}", st.full_sync);
    // Writes go on after the hand-off, then stop. Meanwhile the status file moves, at most about
    // once a second.
    let path = dir.path().join("handoff.status.yaml");
    let (mut writes, mut last) = (0, std::fs::read(&path).unwrap());
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(4) {
        let now = std::fs::read(&path).unwrap();
        if now != last {
            writes += 1;
            last = now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!((2..=6).contains(&writes), "the status file changed {writes} times in 4 s of steady writes");
    let report = workload.stop().await;
    assert!(report.committed > at_sync, "{report:?}");

    ferry.wait_until_same(&src, &dst, &["wl"], CATCH_UP).await;
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_eq!(duplicate_rows(&mut d, "wl", "nokey").await, duplicate_rows(&mut s, "wl", "nokey").await);
    check_workload_invariants(&mut d, "wl").await.unwrap();
}

/// (d) The target crashes and comes back, then the source restarts (a new binlog file): ferry
/// retries instead of exiting, and the data converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_target_crash_and_source_restart() {
    let (mut src, mut dst) = pair().await;
    Workload::create_tables(&src, "wl", 2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "restarts", &src, &dst, "  objects:\n  - database: wl\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;

    let w1 = Workload::start(&src, WorkloadOptions::new("wl", 11).pause(Duration::from_millis(3))).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The target dies (SIGKILL) while changes arrive, and stays away for a while.
    dst.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    ferry.assert_running("with the target down");
    dst.restart().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r1 = w1.stop().await;
    assert!(r1.committed > 100, "{r1:?}");
    ferry.wait_until_same(&src, &dst, &["wl"], Duration::from_secs(90)).await;

    // The source shuts down and starts again: a new binlog file, the stream is cut.
    src.stop().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ferry.assert_running("with the source down");
    src.restart().await;
    let w2 = Workload::start(&src, WorkloadOptions::new("wl", 12).pause(Duration::from_millis(3))).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let r2 = w2.stop().await;
    assert!(r2.committed > 100, "{r2:?}");
    ferry.assert_running("after the source restart");

    ferry.wait_until_same(&src, &dst, &["wl"], Duration::from_secs(90)).await;
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_eq!(duplicate_rows(&mut d, "wl", "nokey").await, duplicate_rows(&mut s, "wl", "nokey").await);
    let (file, _) = src.binlog_position().await;
    let st = ferry
        .wait_for_status("the checkpoint in the source's new binlog file", Duration::from_secs(10), |st| {
            st.checkpoint.as_ref().is_some_and(|c| c.file == file)
        })
        .await;
    assert_eq!(st.phase, Some(Phase::Synchronizing));
}

/// (e) The binlog ferry needs was purged while it was stopped: it fails at once and says to run
/// the initial sync again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_binlog_fails_with_a_clear_message() {
    let (src, dst) = pair().await;
    src.exec("CREATE DATABASE p; CREATE TABLE p.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO p.t VALUES (1, 'a');").await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "purged", &src, &dst, "  objects:\n  - database: p\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    src.exec("INSERT INTO p.t VALUES (2, 'b');").await;
    ferry.wait_until_same(&src, &dst, &["p"], SYNC_TIMEOUT).await;
    ferry.interrupt(Duration::from_secs(15)).await;

    let stopped_at = ferry.status().and_then(|s| s.checkpoint).expect("a checkpoint").file;

    // Changes ferry has not seen, then their binlog file goes.
    src.exec("INSERT INTO p.t VALUES (3, 'c'); UPDATE p.t SET v = 'changed' WHERE id = 1; FLUSH BINARY LOGS;").await;
    let mut s = src.conn().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // MariaDB keeps a file until its binlog checkpoint has passed it, and while a dump thread
        // (the stopped ferry's, until the server notices) reads it: retry.
        let (newest, _) = src.binlog_position().await;
        let purge = s.query_drop(format!("PURGE BINARY LOGS TO '{newest}'")).await;
        let logs: Vec<String> = s.query_map("SHOW BINARY LOGS", |row: mysql_async::Row| row.get::<String, _>(0).unwrap()).await.unwrap();
        if logs.first().is_some_and(|oldest| *oldest > stopped_at) {
            break;
        }
        assert!(Instant::now() < deadline, "the source kept {logs:?} ({purge:?}); ferry stopped in {stopped_at}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    src.exec("INSERT INTO p.t VALUES (4, 'd');").await;

    let mut ferry = RunningFerry::start(&m, dir.path());
    let code = ferry.wait_exit(Duration::from_secs(30)).await;
    let Some(code) = code else {
        panic!("ferry kept running although the binlog it needs is gone\n{}", ferry.describe());
    };
    assert!(!code.success(), "{}", ferry.describe());
    println!("ferry: {}", ferry.stderr().trim());
    let err = ferry.stderr().to_lowercase();
    assert!(err.contains("purged") || err.contains("no longer"), "{}", ferry.describe());
    assert!(err.contains("initial"), "the message advises to run the initial sync again\n{}", ferry.describe());
    let st = ferry.status().unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    let msg = st.message.unwrap_or_default().to_lowercase();
    assert!(msg.contains("purged") || msg.contains("no longer"), "{msg}");
    // Nothing after the gap was applied.
    let mut d = dst.conn().await;
    assert_eq!(count_rows(&mut d, "p.t").await, 2);
}

/// (f) Incremental-only tasks on pre-created tables, from a file+position and from a GTID
/// position: what was written after it arrives, what came before does not. Two tasks read one
/// source at once, each with its own `engine.serverId`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_position_skips_earlier_writes() {
    let (src, dst, dst2) = tokio::join!(
        TestServer::start(ServerOptions::source()),
        TestServer::start(ServerOptions::target()),
        TestServer::start(ServerOptions::target())
    );
    let ddl = "CREATE DATABASE inc;
               CREATE TABLE inc.t (id INT PRIMARY KEY, v VARCHAR(20));
               CREATE TABLE inc.nk (a INT, b VARCHAR(10));";
    tokio::join!(src.exec(ddl), dst.exec(ddl), dst2.exec(ddl));
    src.exec("INSERT INTO inc.t VALUES (1, 'before'), (2, 'before'), (3, 'before'); INSERT INTO inc.nk VALUES (1, 'before');").await;
    let mut s = src.conn().await;
    let (file, pos) = src.binlog_position().await;
    let gtid = src.gtid_position().await;
    src.exec(
        "INSERT INTO inc.t VALUES (4, 'after'), (5, 'after'), (6, 'after');
         UPDATE inc.t SET v = 'after-upd' WHERE id = 4;
         DELETE FROM inc.t WHERE id = 5;
         INSERT INTO inc.nk VALUES (2, 'after'), (2, 'after');",
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let only = "  objects:\n  - database: inc\n  initialSync:\n    schema: false\n    data: false\n";
    let m1 = write_task(
        dir.path(),
        "from-file",
        &src,
        &dst,
        &format!("{only}  startPosition:\n    file: {file}\n    position: {pos}\n  engine:\n    serverId: 4242\n"),
    );
    let m2 = write_task(
        dir.path(),
        "from-gtid",
        &src,
        &dst2,
        &format!("{only}  startPosition:\n    gtidSet: '{gtid}'\n  engine:\n    serverId: 4243\n"),
    );
    let mut f1 = RunningFerry::start(&m1, dir.path());
    let mut f2 = RunningFerry::start(&m2, dir.path());
    for (target, ferry) in [(&dst, &mut f1), (&dst2, &mut f2)] {
        let mut d = target.conn().await;
        wait_for_rows::<(i32, String)>(
            &mut d,
            "SELECT id, v FROM inc.t ORDER BY id",
            &[(4, "after-upd".into()), (6, "after".into())],
            ferry,
        )
        .await;
        wait_for_rows::<(i32, String)>(&mut d, "SELECT a, b FROM inc.nk ORDER BY a", &[(2, "after".into()), (2, "after".into())], ferry)
            .await;
    }
    // Both keep following.
    src.exec("INSERT INTO inc.t VALUES (7, 'live'); DELETE FROM inc.nk WHERE a = 2 LIMIT 1;").await;
    for (target, ferry) in [(&dst, &mut f1), (&dst2, &mut f2)] {
        let mut d = target.conn().await;
        wait_for_rows::<i32>(&mut d, "SELECT id FROM inc.t ORDER BY id", &[4, 6, 7], ferry).await;
        wait_for_rows::<i32>(&mut d, "SELECT a FROM inc.nk", &[2], ferry).await;
        let st = ferry.wait_for_phase(Phase::Synchronizing, Duration::from_secs(10)).await;
        assert!(st.full_sync.as_ref().is_none_or(|f| f.rows_done == 0), "no data copied: {:?}", st.full_sync);
    }
    let st = f1
        .wait_for_status("the checkpoint past the start position", Duration::from_secs(10), |st| {
            st.checkpoint.as_ref().is_some_and(|c| c.file > file || (c.file == file && c.position > pos))
        })
        .await;
    assert!(st.checkpoint.is_some());
    // 9 row changes; their row data in bytes (an INT counts 8, a string its length): inserts
    // 3 x 13 and 2 x 13, the update 13 + 17, deletes 13 and 13, the live insert 12.
    let st = f1.wait_for_status("9 row changes applied", Duration::from_secs(10), |st| applied(st).0 >= 9).await;
    let inc = st.incremental_sync.unwrap();
    assert_eq!((inc.rows_applied, inc.bytes_applied), (9, 133), "{inc:?}");
    // Each task is its own replica of the source, with the server id it was given.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let replicas = if src.flavor() == Flavor::MySql { "SHOW REPLICAS" } else { "SHOW SLAVE HOSTS" };
        let hosts: Vec<mysql_async::Row> = s.query(replicas).await.unwrap();
        let ids: Vec<u32> = hosts.iter().map(|r| r.get::<u32, _>(0).unwrap()).collect();
        if ids.contains(&4242) && ids.contains(&4243) {
            break;
        }
        assert!(Instant::now() < deadline, "SHOW SLAVE HOSTS lists {ids:?}, expected 4242 and 4243");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    f1.assert_running("at the end");
    f2.assert_running("at the end");
}

/// (g) A second engine for the same task (same target metadata) must not apply at the same time:
/// it stops with an error naming the other engine, or waits until the first is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_for_the_same_task_does_not_apply_concurrently() {
    let (src, dst) = pair().await;
    Workload::create_tables(&src, "wl", 2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "twice", &src, &dst, "  objects:\n  - database: wl\n");
    let mut first = RunningFerry::start(&m, dir.path());
    first.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    let workload = Workload::start(&src, WorkloadOptions::new("wl", 5).pause(Duration::from_millis(3))).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Its own state folder: the only thing the two share is the task on the target.
    let dir2 = tempfile::tempdir().unwrap();
    let mut second = RunningFerry::start(&m, dir2.path());
    let second_exit = second.wait_exit(Duration::from_secs(8)).await;
    let first_alive = first.is_running();
    let first_report = first.describe();
    let second_report = second.describe();
    let second_applied = second.status().map_or(0, |s| applied(&s).0);
    let second_phase = second.status().and_then(|s| s.phase);
    println!(
        "first engine running: {first_alive}; second engine: {}",
        match second_exit {
            Some(code) => format!("exited ({code}): {}", second.stderr().trim()),
            None => format!("still running, phase {second_phase:?}, {second_applied} rows applied"),
        }
    );

    // Whatever happened, the data must come out exact: the survivor (or a new engine) catches up.
    if first_alive {
        assert!(first.kill());
    }
    let mut survivor = if second.is_running() { second } else { RunningFerry::start(&m, dir2.path()) };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = workload.stop().await;
    assert!(report.committed > 100, "{report:?}");
    survivor.wait_until_same(&src, &dst, &["wl"], CATCH_UP).await;
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_eq!(duplicate_rows(&mut d, "wl", "nokey").await, duplicate_rows(&mut s, "wl", "nokey").await);
    check_workload_invariants(&mut d, "wl").await.unwrap();

    // The running engine keeps the task; the second one stops with an error naming the other
    // engine, or waits without applying anything.
    assert!(
        first_alive,
        "the first engine stopped when a second one started for the same task (taken over?)\n{first_report}\n\
         --- the second engine ---\n{second_report}"
    );
    match second_exit {
        Some(code) => {
            assert!(!code.success(), "{second_report}");
            let err = second_report.to_lowercase();
            assert!(
                ["another", "already", "in use", "lock", "running"].iter().any(|w| err.contains(w)),
                "the error names the other engine\n{second_report}"
            );
        }
        None => {
            assert_eq!(second_applied, 0, "the waiting engine applied changes\n{second_report}");
            assert_ne!(second_phase, Some(Phase::Synchronizing), "{second_report}");
        }
    }
}

/// Parallel apply: changes of different tables go to different lanes (each its own target
/// session, committing its own slots' positions), a transaction that spans lanes still lands
/// whole, and kills at random moments lose and repeat nothing, keyless tables included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_lanes_keep_transactions_whole_across_kills() {
    const LANES: usize = 4;
    let lane = |t: &str| ferry_engine::target::meta::slot_of("par", t) % LANES;
    let keyed: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    let keyless: Vec<String> = (0..3).map(|i| format!("k{i}")).collect();
    assert!(keyed.iter().map(|t| lane(t)).collect::<std::collections::HashSet<_>>().len() > 1, "tables spread over lanes");
    // Two account tables in different lanes: a transfer between them spans lanes.
    let names: Vec<String> = (0..40).map(|i| format!("acct_{i}")).collect();
    let x = names[0].clone();
    let y = names.iter().find(|n| lane(n) != lane(&x)).expect("two lanes").clone();
    const ACCOUNTS: i64 = 50;
    // MySQL has no @@last_gtid: there the audit reads the transaction from performance_schema.
    let (src, dst) =
        tokio::join!(TestServer::start(ServerOptions::source()), TestServer::start(ServerOptions::source().arg("--performance-schema=ON")));
    let mut ddl = String::from("CREATE DATABASE par;");
    for t in &keyed {
        ddl += &format!("CREATE TABLE par.{t} (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40));");
    }
    for t in &keyless {
        ddl += &format!("CREATE TABLE par.{t} (a INT, b VARCHAR(20));");
    }
    for t in [&x, &y] {
        ddl += &format!(
            "CREATE TABLE par.{t} (id INT PRIMARY KEY, balance BIGINT NOT NULL);\
             INSERT INTO par.{t} SELECT seq, 1000 FROM par.seq_1_to_{ACCOUNTS};"
        );
    }
    src.exec(&ddl).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "lanes", &src, &dst, &format!("  objects:\n  - database: par\n  engine:\n    parallelism: {LANES}\n"));
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    // Triggers on the target record what each target transaction does to the balances: a
    // transfer split over two target transactions shows as transactions whose deltas do not sum
    // to zero, however briefly the split was visible.
    // A target transaction is told apart by its session and the GTID its session last committed
    // (the target logs a binlog for that).
    let mut audit = String::from("CREATE DATABASE audit; CREATE TABLE audit.d (trx VARCHAR(100), delta BIGINT) ENGINE=InnoDB;");
    for (i, t) in [&x, &y].into_iter().enumerate() {
        let trx = match dst.flavor() {
            Flavor::MariaDb => "CONCAT(CONNECTION_ID(), '/', @@last_gtid)",
            Flavor::MySql => {
                "(SELECT CONCAT(THREAD_ID, '/', EVENT_ID) FROM performance_schema.events_transactions_current \
                 WHERE THREAD_ID = PS_CURRENT_THREAD_ID())"
            }
        };
        for (ev, delta) in [("INSERT", "NEW.balance"), ("DELETE", "-OLD.balance"), ("UPDATE", "NEW.balance - OLD.balance")] {
            audit += &format!(
                "CREATE TRIGGER par.audit_{i}_{ev} AFTER {ev} ON par.{t} FOR EACH ROW \
                 INSERT INTO audit.d SELECT {trx}, {delta};"
            );
        }
    }
    dst.exec(&audit).await;

    // Three writers for 20 s: single-table transactions on the keyed and keyless tables, and
    // transfers between the two account tables (with a keyless insert in the same transaction).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3u64 {
        let (mut c, stop, keyed, keyless, x, y) = (src.conn().await, stop.clone(), keyed.clone(), keyless.clone(), x.clone(), y.clone());
        writers.push(tokio::spawn(async move {
            let mut rng = Rng::new(77 + w);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let stmts: Vec<String> = match w {
                    0 => {
                        let t = &keyed[rng.below(keyed.len() as u64) as usize];
                        let id = rng.range(1, 400);
                        match rng.below(4) {
                            0 => vec![format!("DELETE FROM par.{t} WHERE id BETWEEN {id} AND {}", id + 3)],
                            1 => vec![format!("UPDATE IGNORE par.{t} SET v = v + 1, id = id + 1000 WHERE id = {id}")],
                            _ => vec![format!(
                                "INSERT INTO par.{t} VALUES ({id}, {n}, 'a'), ({}, {n}, NULL) ON DUPLICATE KEY UPDATE v = v + 1, s = 'dup'",
                                id + 1
                            )],
                        }
                    }
                    1 => {
                        let t = &keyless[rng.below(keyless.len() as u64) as usize];
                        let a = rng.range(0, 30);
                        if rng.chance(0.3) {
                            vec![format!("DELETE FROM par.{t} WHERE a = {a} LIMIT 1")]
                        } else {
                            vec![format!("INSERT INTO par.{t} VALUES ({a}, 'x'), ({a}, 'x')")]
                        }
                    }
                    _ => {
                        let (from, to) = if rng.chance(0.5) { (&x, &y) } else { (&y, &x) };
                        let amount = rng.range(1, 50);
                        vec![
                            "BEGIN".into(),
                            format!("UPDATE par.{from} SET balance = balance - {amount} WHERE id = {}", rng.range(1, ACCOUNTS + 1)),
                            format!("INSERT INTO par.k0 VALUES ({amount}, 'transfer')"),
                            format!("UPDATE par.{to} SET balance = balance + {amount} WHERE id = {}", rng.range(1, ACCOUNTS + 1)),
                            "COMMIT".into(),
                        ]
                    }
                };
                for s in &stmts {
                    c.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
                }
                n += 1;
            }
            n
        }));
    }
    let total = 2 * ACCOUNTS * 1000;
    let balance_sql = format!("SELECT CAST((SELECT SUM(balance) FROM par.{x}) + (SELECT SUM(balance) FROM par.{y}) AS SIGNED)");
    let mut d = dst.conn().await;
    let mut rng = Rng::new(5);
    let mut lanes_apart = 0;
    let started = Instant::now();
    for kill in 0..6 {
        let until = Instant::now() + rng.duration(Duration::from_millis(1500), Duration::from_millis(3500));
        let mut polls = 0u64;
        while Instant::now() < until {
            // Polled without pause: two lanes committing halves of a transfer would show here.
            let sum: Option<i64> = d.query_first(&balance_sql).await.unwrap();
            assert_eq!(sum, Some(total), "a transfer across lanes was applied in part (after {kill} kills)\n{}", ferry.describe());
            polls += 1;
            if polls.is_multiple_of(100) {
                // Lanes commit their own positions: while changes flow, they differ.
                let distinct: Option<u64> = d
                    .query_first("SELECT COUNT(DISTINCT binlog_file, binlog_pos) FROM ferry_meta.apply_slots WHERE task LIKE '%lanes'")
                    .await
                    .unwrap();
                if distinct.unwrap_or(0) > 1 {
                    lanes_apart += 1;
                }
            }
        }
        assert!(ferry.kill(), "ferry exited by itself before kill {}\n{}", kill + 1, ferry.describe());
        tokio::time::sleep(rng.duration(Duration::ZERO, Duration::from_millis(300))).await;
        ferry = RunningFerry::start(&m, dir.path());
    }
    while started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut done = Vec::new();
    for w in writers {
        done.push(w.await.unwrap());
    }
    assert!(done.iter().all(|&n| n > 100), "every writer ran: {done:?}");
    ferry.wait_until_same(&src, &dst, &["par"], CATCH_UP).await;
    let mut s = src.conn().await;
    for t in &keyless {
        assert_eq!(duplicate_rows(&mut d, "par", t).await, duplicate_rows(&mut s, "par", t).await, "par.{t}");
    }
    let sum: Option<i64> = d.query_first(&balance_sql).await.unwrap();
    assert_eq!(sum, Some(total));
    assert!(lanes_apart > 0, "lane positions never differed: the lanes did not commit independently");
    let audited: Option<u64> = d.query_first("SELECT COUNT(DISTINCT trx) FROM audit.d").await.unwrap();
    assert!(audited.unwrap_or(0) > 10, "transfers were applied in {audited:?} target transactions");
    let split: Vec<(String, i64)> =
        d.query("SELECT trx, CAST(SUM(delta) AS SIGNED) FROM audit.d GROUP BY trx HAVING SUM(delta) <> 0").await.unwrap();
    assert!(split.is_empty(), "target transactions that applied part of a transfer (trx, balance delta): {split:?}");
    let slots: Option<u64> = d.query_first("SELECT COUNT(*) FROM ferry_meta.apply_slots").await.unwrap();
    assert_eq!(slots, Some(ferry_engine::target::meta::APPLY_SLOTS as u64));
}
