//! The four one-way topologies, each edge a task (issue 7): one-to-many (one source, two targets,
//! two tasks reading it at once), cascade (A -> B -> C), many-to-one into separate databases, and
//! many-to-one merged into one table with each conflict policy. Every scenario ends with checksums
//! of each source against its objects on the target.

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_crds::{Phase, PrecheckItem, PrecheckResult, PrecheckStatus};
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC: Duration = Duration::from_secs(60);

/// `ferry precheck --output json -f MANIFEST`, parsed.
fn precheck(manifest: &Path) -> PrecheckStatus {
    let out = ferry().args(["precheck", "--output", "json", "-f"]).arg(manifest).output().expect("run ferry precheck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_saphyr::from_str(&stdout).unwrap_or_else(|e| panic!("not a report ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[track_caller]
fn item<'a>(r: &'a PrecheckStatus, id: &str) -> &'a PrecheckItem {
    r.items.iter().find(|i| i.id == id).unwrap_or_else(|| panic!("no item {id}: {r:#?}"))
}

/// Binlog dump sessions on a server (each a task reading its binlog).
async fn binlog_readers(db: &TestServer) -> u64 {
    let mut c = db.conn().await;
    c.query_first("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'").await.unwrap().unwrap_or(0)
}

async fn wait_readers(db: &TestServer, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while binlog_readers(db).await != n {
        assert!(Instant::now() < deadline, "expected {n} binlog readers on the source, have {}", binlog_readers(db).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn tasks_in_meta(db: &TestServer) -> Vec<String> {
    db.conn().await.query("SELECT task FROM ferry_meta.checkpoints ORDER BY task").await.unwrap()
}

/// One source, two targets: two tasks read the source at once, each with its own replica id and
/// checkpoint; one is killed in the middle of a write workload and restarted, and the other
/// keeps applying meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_many_tasks_read_one_source_at_once_and_survive_each_other() {
    let (src, d1, d2) = tokio::join!(
        TestServer::start(ServerOptions::source()),
        TestServer::start(ServerOptions::target()),
        TestServer::start(ServerOptions::target())
    );
    Workload::create_tables(&src, "wl", 2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let tail = "  objects:\n  - database: wl\n";
    let (m1, m2) = (write_task(dir.path(), "fan1", &src, &d1, tail), write_task(dir.path(), "fan2", &src, &d2, tail));
    let mut f1 = RunningFerry::start(&m1, dir.path());
    let mut f2 = RunningFerry::start(&m2, dir.path());
    f1.wait_for_phase(Phase::Synchronizing, SYNC).await;
    f2.wait_for_phase(Phase::Synchronizing, SYNC).await;
    // Both stream the binlog at once: two server ids (one id for both would kick one off, 4052).
    wait_readers(&src, 2).await;

    let workload = Workload::start(
        &src,
        WorkloadOptions::new("wl", 11).connections(2).duration(Duration::from_secs(16)).pause(Duration::from_millis(5)),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(f1.kill(), "fan1 ran until killed\n{}", f1.describe());
    wait_readers(&src, 1).await;
    let mut t2 = d2.conn().await;
    let before = table_checksum(&mut t2, "wl", "pk_int").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    f2.assert_running("while fan1 was down");
    let after = table_checksum(&mut t2, "wl", "pk_int").await;
    assert_ne!(before, after, "fan2 kept applying while fan1 was down\n{}", f2.describe());
    let mut f1 = RunningFerry::start(&m1, dir.path());
    let report = workload.wait().await;
    assert!(report.committed > 100, "{report:?}");
    wait_readers(&src, 2).await;

    f1.wait_until_same(&src, &d1, &["wl"], SYNC).await;
    f2.wait_until_same(&src, &d2, &["wl"], SYNC).await;
    let mut s = src.conn().await;
    assert_same_database(&mut s, "wl", &mut d1.conn().await, "wl").await;
    assert_same_database(&mut s, "wl", &mut d2.conn().await, "wl").await;
    check_workload_invariants(&mut d1.conn().await, "wl").await.unwrap();
    // Each target holds its own task's checkpoint only.
    assert_eq!(tasks_in_meta(&d1).await, ["default/fan1"]);
    assert_eq!(tasks_in_meta(&d2).await, ["default/fan2"]);
}

const SHOP: &str = "CREATE DATABASE shop;
     CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, total DECIMAL(10,2), note VARCHAR(40));
     INSERT INTO shop.orders (total, note) VALUES (9.5, 'a'), (3, 'b'), (7.25, NULL);";

/// A -> B -> C, B a source and a target. B runs with log_slave_updates OFF on purpose: ferry
/// writes to B as a client, and B's binary log records client writes whatever that option says,
/// so the changes ferry applies to B reach C.
async fn cascade() -> (TestServer, TestServer, TestServer, tempfile::TempDir, RunningFerry, RunningFerry) {
    let (a, b, c) = tokio::join!(
        TestServer::start(ServerOptions::source()),
        TestServer::start(ServerOptions::source().arg("--log-slave-updates=OFF")),
        TestServer::start(ServerOptions::target())
    );
    a.exec(SHOP).await;
    Workload::create_tables(&a, "wl", 1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let tail = "  objects:\n  - database: shop\n  - database: wl\n";
    let ab = write_task(dir.path(), "ab", &a, &b, tail);
    let mut fab = RunningFerry::start(&ab, dir.path());
    fab.wait_for_phase(Phase::Synchronizing, SYNC).await;
    let bc = write_task(dir.path(), "bc", &b, &c, tail);
    let report = precheck(&bc);
    let it = item(&report, "cascade");
    assert_eq!(it.result, PrecheckResult::Passed, "{it:#?}");
    assert!(it.message.contains("target of another ferry task") && it.message.contains("as a client"), "{it:#?}");
    let mut fbc = RunningFerry::start(&bc, dir.path());
    fbc.wait_for_phase(Phase::Synchronizing, SYNC).await;
    (a, b, c, dir, fab, fbc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascade_a_to_b_to_c_carries_row_changes_through_b() {
    let (a, b, c, _dir, mut fab, mut fbc) = cascade().await;
    let workload =
        Workload::start(&a, WorkloadOptions::new("wl", 5).duration(Duration::from_secs(8)).pause(Duration::from_millis(3))).await;
    a.exec(
        "INSERT INTO shop.orders (total, note) VALUES (1, 'x'), (2, 'y');
         UPDATE shop.orders SET total = total * 2, note = CONCAT(IFNULL(note, ''), '!') WHERE id <= 2;
         DELETE FROM shop.orders WHERE id = 3;
         UPDATE shop.orders SET id = 100 WHERE id = 4;",
    )
    .await;
    workload.wait().await;
    fab.wait_until_same(&a, &b, &["shop", "wl"], SYNC).await;
    fbc.wait_until_same(&b, &c, &["shop", "wl"], SYNC).await;
    for db in ["shop", "wl"] {
        assert_same_database(&mut a.conn().await, db, &mut b.conn().await, db).await;
        assert_same_database(&mut a.conn().await, db, &mut c.conn().await, db).await;
    }
    check_workload_invariants(&mut c.conn().await, "wl").await.unwrap();
    // Each edge keeps its checkpoint on its own target.
    assert_eq!(tasks_in_meta(&b).await, ["default/ab"]);
    assert_eq!(tasks_in_meta(&c).await, ["default/bc"]);
}

/// Schema changes travel the whole chain: an added column on A, then rows using it, reach C.
/// Needs DDL replay in incremental sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascade_carries_schema_changes_to_the_end_of_the_chain() {
    let (a, b, c, _dir, mut fab, mut fbc) = cascade().await;
    a.exec(
        "ALTER TABLE shop.orders ADD COLUMN region VARCHAR(8) NOT NULL DEFAULT 'eu';
         INSERT INTO shop.orders (total, note, region) VALUES (5, 'r', 'us'), (6, 's', 'ap');
         UPDATE shop.orders SET region = 'sa' WHERE id = 1;
         CREATE TABLE shop.items (id INT PRIMARY KEY, order_id INT);
         INSERT INTO shop.items VALUES (1, 1), (2, 4);",
    )
    .await;
    fab.wait_until_same(&a, &b, &["shop"], Duration::from_secs(30)).await;
    fbc.wait_until_same(&b, &c, &["shop"], Duration::from_secs(30)).await;
    assert_same_database(&mut a.conn().await, "shop", &mut c.conn().await, "shop").await;
}

/// Two sources into one target, each into its own database (name mapping); the metadata on the
/// shared target keeps the two tasks apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_to_one_into_separate_databases() {
    let (s1, s2, d) = tokio::join!(
        TestServer::start(ServerOptions::source()),
        TestServer::start(ServerOptions::source()),
        TestServer::start(ServerOptions::target())
    );
    tokio::join!(Workload::create_tables(&s1, "wl", 1_000), Workload::create_tables(&s2, "wl", 1_000));
    let dir = tempfile::tempdir().unwrap();
    let m1 = write_task(dir.path(), "in1", &s1, &d, "  objects:\n  - database: wl\n    rename: wl_1\n");
    let m2 = write_task(dir.path(), "in2", &s2, &d, "  objects:\n  - database: wl\n    rename: wl_2\n");
    let mut f1 = RunningFerry::start(&m1, dir.path());
    let mut f2 = RunningFerry::start(&m2, dir.path());
    f1.wait_for_phase(Phase::Synchronizing, SYNC).await;
    f2.wait_for_phase(Phase::Synchronizing, SYNC).await;
    let opts = |seed| WorkloadOptions::new("wl", seed).duration(Duration::from_secs(8)).pause(Duration::from_millis(4));
    let (w1, w2) = tokio::join!(Workload::start(&s1, opts(1)), Workload::start(&s2, opts(2)));
    tokio::join!(w1.wait(), w2.wait());
    wait_until_same_mapped(&s1, &d, &[("wl", "wl_1")], SYNC, &mut f1).await;
    wait_until_same_mapped(&s2, &d, &[("wl", "wl_2")], SYNC, &mut f2).await;
    let mut t = d.conn().await;
    assert_same_database(&mut s1.conn().await, "wl", &mut t, "wl_1").await;
    assert_same_database(&mut s2.conn().await, "wl", &mut t, "wl_2").await;
    assert_eq!(tasks_in_meta(&d).await, ["default/in1", "default/in2"]);
}

/// Waits until `sql` on `conn` returns `expected`. An error counts as "not yet": the query may
/// name a column or table that a schema change still on its way will create.
async fn wait_value(conn: &mut mysql_async::Conn, sql: &str, expected: &str, ferry: &mut RunningFerry) {
    let deadline = Instant::now() + SYNC;
    loop {
        let got: Result<Option<String>, _> = conn.query_first(sql).await;
        if matches!(&got, Ok(Some(v)) if v == expected) {
            return;
        }
        if !ferry.is_running() || Instant::now() > deadline {
            panic!("`{sql}` gave {got:?}, expected {expected}\n{}", ferry.describe());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that the rows of `src_db.t` matching `src_cond` are the rows of the target's `dst_db.t`
/// matching `dst_cond`.
async fn assert_share(src: &TestServer, src_db: &str, src_cond: &str, dst: &TestServer, dst_db: &str, dst_cond: &str) {
    let a = table_checksum_where(&mut src.conn().await, src_db, "t", src_cond).await;
    let b = table_checksum_where(&mut dst.conn().await, dst_db, "t", dst_cond).await;
    assert_eq!(a, b, "source {src_db}.t where {src_cond} vs target {dst_db}.t where {dst_cond}");
}

/// Two sources merged into one table: keys kept apart by AUTO_INCREMENT offsets (the precheck
/// sees them, and warns where there are none), then a deliberate collision on the same key in the
/// full copy and in the incremental sync under each conflict policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_to_one_merged_into_one_table_under_each_conflict_policy() {
    let (s1, s2, d) = tokio::join!(
        TestServer::start(ServerOptions::source().arg("--auto-increment-increment=2").arg("--auto-increment-offset=1")),
        TestServer::start(ServerOptions::source().arg("--auto-increment-increment=2").arg("--auto-increment-offset=2")),
        TestServer::start(ServerOptions::target())
    );
    let users = "CREATE DATABASE app; CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), origin VARCHAR(4));";
    s1.exec(&format!("{users} INSERT INTO app.t (name, origin) VALUES ('ann', 's1'), ('bob', 's1'), ('cy', 's1');")).await;
    s2.exec(&format!("{users} INSERT INTO app.t (name, origin) VALUES ('dan', 's2'), ('eve', 's2');")).await;
    let dir = tempfile::tempdir().unwrap();
    let merged =
        |db: &str, policy: &str| format!("  objects:\n  - database: {db}\n    tables:\n    - name: t\n      merge: true\n{policy}");
    let u1 = write_task(dir.path(), "users1", &s1, &d, &merged("app", ""));
    let u2 = write_task(dir.path(), "users2", &s2, &d, &merged("app", ""));
    let r = precheck(&u1);
    let it = item(&r, "merge-keys");
    assert_eq!(it.result, PrecheckResult::Passed, "{it:#?}");
    assert!(it.message.contains("1 modulo 2"), "{it:#?}");
    let mut f1 = RunningFerry::start(&u1, dir.path());
    f1.wait_for_phase(Phase::Synchronizing, SYNC).await;
    // The second task finds the merged table there (created by the first) and fills it too.
    let r = precheck(&u2);
    assert!(r.passed, "{r:#?}");
    assert_eq!(item(&r, "existing-tables").result, PrecheckResult::Passed, "{r:#?}");
    let mut f2 = RunningFerry::start(&u2, dir.path());
    f2.wait_for_phase(Phase::Synchronizing, SYNC).await;
    s1.exec("INSERT INTO app.t (name, origin) VALUES ('fay', 's1'); UPDATE app.t SET name = 'ANN' WHERE name = 'ann'; DELETE FROM app.t WHERE name = 'bob';").await;
    s2.exec("INSERT INTO app.t (name, origin) VALUES ('gus', 's2'), ('hal', 's2'); UPDATE app.t SET name = 'DAN' WHERE name = 'dan';")
        .await;
    let mut t = d.conn().await;
    wait_value(&mut t, "SELECT CAST(COUNT(*) AS CHAR) FROM app.t", "7", &mut f2).await;
    // Offsets 1 and 2 under increment 2: s1 wrote 1, 3, 5, 7 and s2 2, 4, 6, 8.
    wait_value(&mut t, "SELECT GROUP_CONCAT(name ORDER BY id) FROM app.t", "ANN,DAN,eve,cy,gus,fay,hal", &mut f1).await;
    // The target's share of each source is the source.
    assert_share(&s1, "app", "TRUE", &d, "app", "id % 2 = 1").await;
    assert_share(&s2, "app", "TRUE", &d, "app", "id % 2 = 0").await;
    f1.kill();
    f2.kill();

    // The target as a source: AUTO_INCREMENT without offsets (increment 1) is warned about.
    let r = precheck(&write_task(dir.path(), "nooffsets", &d, &s1, &merged("app", "")));
    let it = item(&r, "merge-keys");
    assert_eq!((it.result, it.level), (PrecheckResult::Failed, ferry_crds::PrecheckLevel::Warning), "{it:#?}");
    assert!(it.message.contains("auto_increment_increment = 1") && it.remedy.contains("auto_increment_offset"), "{it:#?}");

    // Collisions: s1 has keys 1-3, s2 keys 3-4 (3 collides in the full copy), then both insert 10.
    let table = "CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(4));";
    for (db, policy) in [("po", "Overwrite"), ("pi", "Ignore"), ("pf", "Fail")] {
        let ddl = format!("CREATE DATABASE {db}; {}", table.replace("{db}", db));
        s1.exec(&format!("{ddl} INSERT INTO {db}.t VALUES (1, 's1'), (2, 's1'), (3, 's1');")).await;
        s2.exec(&format!("{ddl} INSERT INTO {db}.t VALUES (3, 's2'), (4, 's2');")).await;
        let tail = |p: &str| merged(db, &if p == "Fail" { String::new() } else { format!("  conflictPolicy: {p}\n") });
        let m1 = write_task(dir.path(), &format!("{db}1"), &s1, &d, &tail(policy));
        let m2 = write_task(dir.path(), &format!("{db}2"), &s2, &d, &tail(policy));
        let mut f1 = RunningFerry::start(&m1, dir.path());
        f1.wait_for_phase(Phase::Synchronizing, SYNC).await;
        let mut f2 = RunningFerry::start(&m2, dir.path());
        let v_of = |id: u32| format!("SELECT v FROM {db}.t WHERE id = {id}");
        if policy == "Fail" {
            // The copy meets key 3: the task fails naming the table, the key and the other task.
            let status = f2.wait_exit(SYNC).await.unwrap_or_else(|| panic!("{db}2 kept running\n{}", f2.describe()));
            assert!(!status.success());
            let err = f2.stderr();
            // Both sources named: this task's (s2) and the other task's (s1).
            let (own, other) = (format!("127.0.0.1:{}", s2.port()), format!("from its source 127.0.0.1:{}", s1.port()));
            for needle in ["merge conflict", "pf.t", "'3'", "default/pf1", "default/pf2", &own, &other] {
                assert!(err.contains(needle), "{needle:?} missing in:\n{err}");
            }
            assert_eq!(count_rows(&mut t, "pf.t").await, 3, "nothing of the failed copy is on the target");
            // Resolved on the source, the task resumes and copies.
            s2.exec("DELETE FROM pf.t WHERE id = 3;").await;
            f2 = RunningFerry::start(&m2, dir.path());
            f2.wait_for_phase(Phase::Synchronizing, SYNC).await;
        } else {
            f2.wait_for_phase(Phase::Synchronizing, SYNC).await;
            let expect = if policy == "Overwrite" { "s2" } else { "s1" };
            wait_value(&mut t, &v_of(3), expect, &mut f2).await;
        }
        // Incremental: s1 inserts 10, then s2 inserts 10 too.
        s1.exec(&format!("INSERT INTO {db}.t VALUES (10, 's1');")).await;
        wait_value(&mut t, &v_of(10), "s1", &mut f1).await;
        s2.exec(&format!("INSERT INTO {db}.t VALUES (10, 's2'), (11, 's2');")).await;
        match policy {
            "Fail" => {
                let status = f2.wait_exit(SYNC).await.unwrap_or_else(|| panic!("{db}2 kept running\n{}", f2.describe()));
                assert!(!status.success());
                let err = f2.stderr();
                let other = format!("from its source 127.0.0.1:{}", s1.port());
                for needle in ["merge conflict", "pf.t", "'10'", "default/pf1", &other, "conflictPolicy"] {
                    assert!(err.contains(needle), "{needle:?} missing in:\n{err}");
                }
                // The whole source transaction was refused: 11 is not there either.
                assert_eq!(count_rows(&mut t, "pf.t").await, 5);
                assert_share(&s1, db, "TRUE", &d, db, "v = 's1'").await;
                assert_share(&s2, db, "id < 10", &d, db, "v = 's2'").await;
            }
            "Overwrite" => {
                wait_value(&mut t, &v_of(11), "s2", &mut f2).await;
                assert_eq!(conn_value(&mut t, &v_of(10)).await, "s2");
                assert_share(&s2, db, "TRUE", &d, db, "v = 's2'").await;
                assert_share(&s1, db, "id NOT IN (3, 10)", &d, db, "v = 's1'").await;
            }
            _ => {
                wait_value(&mut t, &v_of(11), "s2", &mut f2).await;
                assert_eq!(conn_value(&mut t, &v_of(10)).await, "s1");
                assert_share(&s1, db, "TRUE", &d, db, "v = 's1'").await;
                assert_share(&s2, db, "id NOT IN (3, 10)", &d, db, "v = 's2'").await;
            }
        }
        if policy != "Fail" {
            // Each collision counted once in the status: key 3 in the copy, key 10 in the binlog.
            let st = f2
                .wait_for_status("the incremental conflict counted", SYNC, |s| {
                    s.incremental_sync.as_ref().is_some_and(|i| i.merge_conflicts > 0)
                })
                .await;
            assert_eq!(st.full_sync.as_ref().map(|f| f.merge_conflicts), Some(1), "{policy}: {:?}", st.full_sync);
            assert_eq!(st.incremental_sync.as_ref().map(|i| i.merge_conflicts), Some(1), "{policy}: {:?}", st.incremental_sync);
            let fs = st.full_sync.unwrap();
            // Rows written by the copy: a replaced row once (Overwrite), a kept one not (Ignore).
            assert_eq!(fs.rows_done, if policy == "Overwrite" { 2 } else { 1 }, "{policy}: {fs:?}");
        }
        f1.assert_running(&format!("{db}1 after the collisions"));
        f1.kill();
        f2.kill();
    }
}

async fn conn_value(conn: &mut mysql_async::Conn, sql: &str) -> String {
    conn.query_first::<String, _>(sql).await.unwrap().unwrap_or_default()
}

/// Two tasks merging into one table start at the same moment: one creates the table, the other
/// finds it. Both sources then make the same schema change, which each task replays (the
/// second finds it applied). A TRUNCATE on one source is withheld, since the merged table also
/// holds the other source's rows, and the status lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_table_created_once_and_schema_changes_shared() {
    let (s1, s2, d) = tokio::join!(
        TestServer::start(ServerOptions::source()),
        TestServer::start(ServerOptions::source()),
        TestServer::start(ServerOptions::target())
    );
    let ddl = "CREATE DATABASE m; CREATE TABLE m.t (id INT PRIMARY KEY, v VARCHAR(8));";
    s1.exec(&format!("{ddl} INSERT INTO m.t VALUES (1, 'a'), (3, 'a');")).await;
    s2.exec(&format!("{ddl} INSERT INTO m.t VALUES (2, 'b'), (4, 'b');")).await;
    let dir = tempfile::tempdir().unwrap();
    let tail = "  objects:\n  - database: m\n    merge: true\n";
    let (m1, m2) = (write_task(dir.path(), "mg1", &s1, &d, tail), write_task(dir.path(), "mg2", &s2, &d, tail));
    let mut f1 = RunningFerry::start(&m1, dir.path());
    let mut f2 = RunningFerry::start(&m2, dir.path());
    f1.wait_for_phase(Phase::Synchronizing, SYNC).await;
    f2.wait_for_phase(Phase::Synchronizing, SYNC).await;
    let mut t = d.conn().await;
    wait_value(&mut t, "SELECT GROUP_CONCAT(id ORDER BY id) FROM m.t", "1,2,3,4", &mut f2).await;
    // One task created the table, the other found it there and kept it.
    let syncs: Vec<_> = ["mg1", "mg2"].map(|task| read_status(dir.path(), task).unwrap().schema_sync.unwrap()).into();
    let created = syncs.iter().filter(|s| s.tables == 1 && s.kept_existing.is_empty()).count();
    let found = syncs.iter().filter(|s| s.kept_existing == ["m.t"]).count();
    assert_eq!((created, found), (1, 1), "{syncs:?}");

    // The same column added on both sources, then rows that use it.
    for (s, id) in [(&s1, 5), (&s2, 6)] {
        s.exec(&format!("ALTER TABLE m.t ADD COLUMN note VARCHAR(8) NULL; INSERT INTO m.t VALUES ({id}, 'n', 'new');")).await;
    }
    wait_value(&mut t, "SELECT IFNULL(GROUP_CONCAT(id ORDER BY id), '') FROM m.t WHERE note = 'new'", "5,6", &mut f1).await;
    f2.assert_running("after both sources added the column");

    // TRUNCATE on s2: withheld, listed, s1's rows kept; s2's later rows still arrive.
    s2.exec("TRUNCATE TABLE m.t; INSERT INTO m.t VALUES (8, 'b', 'after');").await;
    wait_value(&mut t, "SELECT CAST(COUNT(*) AS CHAR) FROM m.t WHERE id = 8", "1", &mut f2).await;
    let st = f2
        .wait_for_status("the withheld TRUNCATE listed", SYNC, |s| s.schema_changes.as_ref().is_some_and(|c| !c.skipped.is_empty()))
        .await;
    let skipped = &st.schema_changes.unwrap().skipped[0];
    assert!(skipped.statement.contains("TRUNCATE") && skipped.reason.contains("merged"), "{skipped:?}");
    assert_share(&s1, "m", "TRUE", &d, "m", "v = 'a' OR id = 5").await;
    assert_eq!(conn_value(&mut t, "SELECT GROUP_CONCAT(id ORDER BY id) FROM m.t").await, "1,2,3,4,5,6,8");
    f1.assert_running("at the end");
    f2.assert_running("at the end");
}
