//! Changing what a running incremental task selects: `ferry run -f` restarted on a manifest with
//! more tables (or a whole database that gained tables while ferry was stopped) creates and copies
//! the new tables, then goes on from its checkpoint; a table taken out of the selection stops
//! being applied and keeps its target rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferry_crds::Phase;
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC_TIMEOUT: Duration = Duration::from_secs(90);

/// A table the writer writes: `id` is unique by construction in both kinds, so a keyless table
/// holds no duplicate rows unless ferry makes them.
fn table_ddl(qualified: &str, keyed: bool, rows: u64) -> String {
    let db = qualified.split('.').next().unwrap();
    let key = if keyed { "id INT NOT NULL PRIMARY KEY" } else { "id INT NOT NULL" };
    format!(
        "CREATE TABLE {qualified} ({key}, v INT NOT NULL, note VARCHAR(40) NULL);\n\
         INSERT INTO {qualified} SELECT seq, seq % 7, IF(seq % 5 = 0, NULL, CONCAT('row ', seq)) FROM {db}.seq_1_to_{rows};\n"
    )
}

/// Writes to a list of tables in small transactions (insert, updates, sometimes a delete, across
/// tables) until stopped. Tables are `(db.table, first free id)`.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<u64>,
}

impl Writer {
    async fn start(src: &TestServer, tables: &[(&str, i64)], seed: u64) -> Writer {
        let mut conn = src.conn().await;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let mut tables: Vec<(String, i64)> = tables.iter().map(|(t, n)| (t.to_string(), *n)).collect();
        let handle = tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            let mut txns = 0u64;
            while !flag.load(Ordering::SeqCst) {
                let mut sql = String::from("START TRANSACTION;");
                for _ in 0..1 + rng.below(2) {
                    let i = rng.below(tables.len() as u64) as usize;
                    let (t, next) = &mut tables[i];
                    sql.push_str(&format!("INSERT INTO {t} (id, v, note) VALUES ({next}, {}, 'new');", rng.below(100)));
                    *next += 1;
                    let hot = 1 + rng.below(*next as u64 - 1);
                    sql.push_str(&format!("UPDATE {t} SET v = v + 1, note = CONCAT('upd ', v) WHERE id = {hot};"));
                    if rng.chance(0.2) {
                        sql.push_str(&format!("DELETE FROM {t} WHERE id = {};", 1 + rng.below(*next as u64 - 1)));
                    }
                }
                sql.push_str("COMMIT;");
                conn.query_drop(sql).await.expect("the writer's transaction");
                txns += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            txns
        });
        Writer { stop, handle }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.await.expect("the writer")
    }
}

fn tables_yaml(db: &str, tables: &[&str]) -> String {
    let mut s = format!("  objects:\n  - database: {db}\n    tables:\n");
    for t in tables {
        s.push_str(&format!("    - name: {t}\n"));
    }
    s
}

const ENGINE: &str = "  engine:\n    chunkRows: 1000\n    parallelism: 2\n";

async fn meta_state(d: &mut mysql_async::Conn, db: &str, table: &str) -> Option<String> {
    d.exec_first("SELECT state FROM ferry_meta.copy_tables WHERE src_db = ? AND src_table = ?", (db, table)).await.unwrap()
}

/// The full-sync entries of the status: (table, percent).
fn copied(s: &ferry_crds::SyncTaskStatus) -> Vec<(String, f64)> {
    s.full_sync.as_ref().map(|f| f.tables.iter().map(|t| (t.name.clone(), t.percent)).collect()).unwrap_or_default()
}

/// (1) Tables added to the manifest of a running task, with writes flowing all along: a keyed
/// table split into chunks and a keyless one are created and copied, the first table keeps
/// syncing, nothing is lost and nothing applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_added_to_the_manifest_are_created_and_copied() {
    let (src, dst) = pair().await;
    src.exec(&format!(
        "CREATE DATABASE a;\n{}{}{}",
        table_ddl("a.t1", true, 500),
        table_ddl("a.t2", false, 3000),
        table_ddl("a.t3", true, 5000)
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "grow", &src, &dst, &format!("{}{ENGINE}", tables_yaml("a", &["t1"])));
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;

    let writer = Writer::start(&src, &[("a.t1", 501), ("a.t2", 3001), ("a.t3", 5001)], 11).await;
    let mut d = dst.conn().await;
    let mut s = src.conn().await;
    // t1 follows the source; t2 and t3 are not selected yet.
    let deadline = Instant::now() + SYNC_TIMEOUT;
    while count_rows(&mut d, "a.t1").await <= 500 {
        assert!(Instant::now() < deadline, "t1 does not follow\n{}", ferry.describe());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(base_tables(&mut d, "a").await, ["t1"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(ferry.kill());
    // Changes to every table while ferry is down, then the manifest names t2 and t3 too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    write_task(dir.path(), "grow", &src, &dst, &format!("{}{ENGINE}", tables_yaml("a", &["t1", "t2", "t3"])));
    let mut ferry = RunningFerry::start(&m, dir.path());
    let st = ferry
        .wait_for_status("the added tables copied", SYNC_TIMEOUT, |s| {
            let c = copied(s);
            s.phase == Some(Phase::Synchronizing) && ["a.t2", "a.t3"].iter().all(|t| c.iter().any(|(n, p)| n == t && *p >= 100.0))
        })
        .await;
    let c = copied(&st);
    assert!(c.iter().any(|(n, p)| n == "a.t1" && *p >= 100.0), "the first copy stays listed: {c:?}");
    let f = st.full_sync.as_ref().unwrap();
    assert_eq!((f.tables_done, f.tables_total), (3, 3), "{f:?}");
    assert!(f.tables.iter().find(|t| t.name == "a.t3").unwrap().chunks_total > 1, "t3 is copied in chunks: {f:?}");
    let sc = st.schema_sync.as_ref().expect("schemaSync");
    assert_eq!(sc.tables, 3, "{sc:?}");

    // Writes go on after the copy; then everything converges.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let txns = writer.stop().await;
    assert!(txns > 100, "the writer wrote {txns} transactions");
    ferry.wait_until_same(&src, &dst, &["a"], SYNC_TIMEOUT).await;
    assert_eq!(duplicate_rows(&mut s, "a", "t2").await, 0);
    assert_eq!(duplicate_rows(&mut d, "a", "t2").await, 0, "a keyless added table got rows twice");
    for t in ["t1", "t2", "t3"] {
        assert_eq!(meta_state(&mut d, "a", t).await.as_deref(), Some("done"), "{t}");
    }
    // The deferred secondary index of an added table is built like in a first copy.
    let (_, s_ddl): (String, String) = s.query_first("SHOW CREATE TABLE a.t3").await.unwrap().unwrap();
    let (_, d_ddl): (String, String) = d.query_first("SHOW CREATE TABLE a.t3").await.unwrap().unwrap();
    assert_eq!(s_ddl, d_ddl);

    // Another restart has nothing to add: no table is touched again.
    let records = "SELECT src_table, state, CAST(updated_at AS CHAR) FROM ferry_meta.copy_tables ORDER BY 1";
    let before: Vec<(String, String, String)> = d.query(records).await.unwrap();
    assert!(ferry.kill());
    let mut ferry = RunningFerry::start(&m, dir.path());
    src.exec("INSERT INTO a.t2 VALUES (1000000, 1, 'after'); INSERT INTO a.t1 VALUES (1000000, 1, 'after');").await;
    ferry.wait_until_same(&src, &dst, &["a"], SYNC_TIMEOUT).await;
    let after: Vec<(String, String, String)> = d.query(records).await.unwrap();
    assert_eq!(before, after);
}

/// (2) A whole database selected: a keyed and a keyless table created on the source while ferry
/// was stopped, with rows and writes before and after the restart: the restart copies them, and
/// the replay skips their CREATE TABLE, older than their copy (see `Meta::copy_snapshots`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_created_while_stopped_in_a_selected_database() {
    let (src, dst) = pair().await;
    src.exec(&format!("CREATE DATABASE b;\n{}", table_ddl("b.x", true, 300))).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "whole", &src, &dst, &format!("  objects:\n  - database: b\n{ENGINE}"));
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    let writer = Writer::start(&src, &[("b.x", 301)], 12).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(ferry.kill());

    // While ferry is down: new tables with rows, written to (in the binlog after the checkpoint).
    writer.stop().await;
    src.exec(&format!("{}{}", table_ddl("b.y", false, 2000), table_ddl("b.z", true, 3000))).await;
    let writer = Writer::start(&src, &[("b.x", 100_000), ("b.y", 2001), ("b.z", 3001)], 13).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry
        .wait_for_status("the new tables copied", SYNC_TIMEOUT, |s| {
            let c = copied(s);
            s.phase == Some(Phase::Synchronizing) && ["b.y", "b.z"].iter().all(|t| c.iter().any(|(n, p)| n == t && *p >= 100.0))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    writer.stop().await;
    ferry.wait_until_same(&src, &dst, &["b"], SYNC_TIMEOUT).await;
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_eq!(duplicate_rows(&mut s, "b", "y").await, 0);
    assert_eq!(duplicate_rows(&mut d, "b", "y").await, 0, "the keyless new table got rows twice");
    for t in ["x", "y", "z"] {
        assert_eq!(meta_state(&mut d, "b", t).await.as_deref(), Some("done"), "{t}");
    }
}

/// (3) A table taken out of the manifest stops being applied and keeps its target rows; put back
/// while its target table is still there, it is refused like any table already on the target
/// (existingTables: PrecheckAndIntercept); once dropped on the target it is created and copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_table_stops_being_applied_and_keeps_its_rows() {
    let (src, dst) = pair().await;
    src.exec(&format!("CREATE DATABASE c;\n{}{}", table_ddl("c.t1", true, 200), table_ddl("c.t2", false, 200))).await;
    let dir = tempfile::tempdir().unwrap();
    let both = format!("{}{ENGINE}", tables_yaml("c", &["t1", "t2"]));
    let m = write_task(dir.path(), "shrink", &src, &dst, &both);
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    let writer = Writer::start(&src, &[("c.t1", 201), ("c.t2", 201)], 14).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    writer.stop().await;
    ferry.wait_until_same(&src, &dst, &["c"], SYNC_TIMEOUT).await;
    assert!(ferry.kill());

    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    let kept = table_checksum(&mut d, "c", "t2").await;
    write_task(dir.path(), "shrink", &src, &dst, &format!("{}{ENGINE}", tables_yaml("c", &["t1"])));
    let mut ferry = RunningFerry::start(&m, dir.path());
    // t2 changes first, t1 after: once t1 has its change, the player is past t2's.
    let writer = Writer::start(&src, &[("c.t2", 100_000)], 15).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    writer.stop().await;
    src.exec("UPDATE c.t1 SET note = 'last' WHERE id = 1; DELETE FROM c.t2 WHERE id <= 50;").await;
    src.exec("UPDATE c.t1 SET note = 'later' WHERE id = 2;").await;
    let deadline = Instant::now() + SYNC_TIMEOUT;
    loop {
        let note: Option<Option<String>> = d.query_first("SELECT note FROM c.t1 WHERE id = 2").await.unwrap();
        if note.flatten().as_deref() == Some("later") {
            break;
        }
        assert!(ferry.is_running() && Instant::now() < deadline, "t1 does not follow\n{}", ferry.describe());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_same_table(&mut s, "c.t1", &mut d, "c.t1").await;
    assert_eq!(table_checksum(&mut d, "c", "t2").await, kept, "the removed table was written");
    assert_ne!(table_checksum(&mut s, "c", "t2").await, kept, "the source's t2 changed meanwhile");
    assert_eq!(meta_state(&mut d, "c", "t2").await, None, "ferry forgets a table it no longer selects");
    assert!(ferry.stderr().contains("no longer selected"), "{}", ferry.stderr());
    ferry.assert_running("with a table removed");
    assert!(ferry.kill());

    // Back in the manifest while the old target table is there: refused, nothing written.
    write_task(dir.path(), "shrink", &src, &dst, &both);
    let mut ferry = RunningFerry::start(&m, dir.path());
    let code = ferry.wait_exit(SYNC_TIMEOUT).await.expect("ferry stops");
    assert!(!code.success());
    let err = ferry.stderr();
    assert!(err.contains("existingTables") && err.contains("c.t2"), "{err}");
    assert_eq!(table_checksum(&mut d, "c", "t2").await, kept);

    // Dropped on the target: created and copied again, and followed.
    d.query_drop("DROP TABLE c.t2").await.unwrap();
    let mut ferry = RunningFerry::start(&m, dir.path());
    src.exec("INSERT INTO c.t2 VALUES (2000000, 1, 'back'); UPDATE c.t1 SET note = 'back' WHERE id = 3;").await;
    ferry.wait_until_same(&src, &dst, &["c"], SYNC_TIMEOUT).await;
    assert_eq!(duplicate_rows(&mut d, "c", "t2").await, 0);
    assert_eq!(meta_state(&mut d, "c", "t2").await.as_deref(), Some("done"));
}
