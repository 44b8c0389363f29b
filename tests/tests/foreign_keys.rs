//! Foreign-key actions (issue 11): the changes InnoDB cascades are not in the binlog (MariaDB,
//! MySQL 5.7/8.0, and MySQL 9.x whose foreign keys InnoDB handles, `innodb_native_foreign_keys=ON`),
//! so a parent's delete or key update alone reaches ferry. The target must still end equal to the
//! source: no orphans kept, no cascade the source did not make (`foreign_key_checks = 0` there),
//! through the copy, grouped and parallel apply, and SIGKILL and resume.

use std::time::{Duration, Instant};

use ferry_crds::Phase;
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC_TIMEOUT: Duration = Duration::from_secs(90);
const CATCH_UP: Duration = Duration::from_secs(120);
const LANES: usize = 4;

/// A parent `p` (key `id`, unique `code`), children by each action, a grandchild below the
/// cascading child, a child that restricts, and tables no key ties to anything.
const SCHEMA: &str = "CREATE DATABASE fk;
CREATE TABLE fk.p (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL UNIQUE, v INT NOT NULL DEFAULT 0);
CREATE TABLE fk.c_cascade (id INT PRIMARY KEY, p_id INT NOT NULL, v INT NOT NULL DEFAULT 0, KEY (p_id),
  CONSTRAINT cc_p FOREIGN KEY (p_id) REFERENCES fk.p (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE fk.c_null (id INT PRIMARY KEY, p_id INT NULL, v INT NOT NULL DEFAULT 0,
  CONSTRAINT cn_p FOREIGN KEY (p_id) REFERENCES fk.p (id) ON DELETE SET NULL ON UPDATE SET NULL);
CREATE TABLE fk.c_upd (id INT PRIMARY KEY, p_code VARCHAR(20) NULL, v INT NOT NULL DEFAULT 0,
  CONSTRAINT cu_p FOREIGN KEY (p_code) REFERENCES fk.p (code) ON UPDATE CASCADE ON DELETE SET NULL);
CREATE TABLE fk.c_keep (id INT PRIMARY KEY, p_id INT NOT NULL,
  CONSTRAINT ck_p FOREIGN KEY (p_id) REFERENCES fk.p (id));
CREATE TABLE fk.gc (id INT PRIMARY KEY, c_id INT NOT NULL, v INT NOT NULL DEFAULT 0,
  CONSTRAINT gc_c FOREIGN KEY (c_id) REFERENCES fk.c_cascade (id) ON DELETE CASCADE ON UPDATE CASCADE);
CREATE TABLE fk.other (id INT PRIMARY KEY, v INT NOT NULL);
CREATE TABLE fk.loose (a INT, b VARCHAR(20));
CREATE TABLE fk.ballast (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(200) NOT NULL);
CREATE TABLE fk.events (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(200) NOT NULL);
";

const TABLES: [&str; 10] = ["p", "c_cascade", "c_null", "c_upd", "c_keep", "gc", "other", "loose", "ballast", "events"];

/// Rows to copy: parents 1-60, a few children of each kind per parent.
fn seed() -> String {
    let mut s = String::new();
    for i in 1..=60 {
        s += &format!("INSERT INTO fk.p VALUES ({i}, 'k{i}', 0);");
        s += &format!("INSERT INTO fk.c_cascade VALUES ({i}, {i}, 0), ({}, {i}, 0);", i + 1000);
        s += &format!("INSERT INTO fk.c_null VALUES ({i}, {i}, 0);");
        s += &format!("INSERT INTO fk.c_upd VALUES ({i}, 'k{i}', 0);");
        s += &format!("INSERT INTO fk.gc VALUES ({i}, {i}, 0), ({}, {}, 0);", i + 1000, i + 1000);
        s += &format!("INSERT INTO fk.other VALUES ({i}, 0);");
        if i % 3 == 0 {
            s += &format!("INSERT INTO fk.c_keep VALUES ({i}, {i});");
        }
    }
    s
}

/// Rows whose parent is missing, per child table (the source never has any).
const ORPHANS: [(&str, &str); 5] = [
    ("c_cascade", "SELECT COUNT(*) FROM fk.c_cascade c LEFT JOIN fk.p p ON p.id = c.p_id WHERE p.id IS NULL"),
    ("c_null", "SELECT COUNT(*) FROM fk.c_null c LEFT JOIN fk.p p ON p.id = c.p_id WHERE c.p_id IS NOT NULL AND p.id IS NULL"),
    ("c_upd", "SELECT COUNT(*) FROM fk.c_upd c LEFT JOIN fk.p p ON p.code = c.p_code WHERE c.p_code IS NOT NULL AND p.id IS NULL"),
    ("c_keep", "SELECT COUNT(*) FROM fk.c_keep c LEFT JOIN fk.p p ON p.id = c.p_id WHERE p.id IS NULL"),
    ("gc", "SELECT COUNT(*) FROM fk.gc g LEFT JOIN fk.c_cascade c ON c.id = g.c_id WHERE c.id IS NULL"),
];

async fn assert_no_orphans(conn: &mut mysql_async::Conn, side: &str) {
    for (table, sql) in ORPHANS {
        let n: Option<u64> = conn.query_first(sql).await.unwrap();
        assert_eq!(n, Some(0), "orphan rows in fk.{table} on the {side}");
    }
}

/// One small source transaction of the workload: parents deleted (one, or a range), their keys
/// and codes changed, re-inserted under old keys, children added and moved, grandchildren, and
/// changes of unrelated tables. A statement the foreign keys refuse (a child whose parent is
/// gone, a parent a restricting child holds, a taken key) rolls its transaction back.
fn transaction(rng: &mut Rng, n: u64) -> Vec<String> {
    let id = rng.range(1, 90);
    let other = rng.range(1, 90);
    let mut ops = Vec::new();
    for _ in 0..rng.range(1, 4) {
        ops.push(match rng.below(16) {
            0 | 1 => format!("DELETE FROM fk.p WHERE id = {id}"),
            2 => format!("DELETE FROM fk.p WHERE id BETWEEN {id} AND {}", id + 2),
            3 => format!("UPDATE fk.p SET code = CONCAT('k', id, 'x{n}') WHERE id = {id}"),
            4 => format!("UPDATE fk.p SET id = {} WHERE id = {id}", id + 100),
            5 => format!("UPDATE fk.p SET id = id - 100 WHERE id = {}", id + 100),
            6 => format!("UPDATE fk.p SET v = v + 1 WHERE id = {id}"),
            7 | 8 => format!("INSERT INTO fk.p VALUES ({id}, 'k{id}n{n}', 0)"),
            9 => format!(
                "INSERT INTO fk.c_cascade VALUES ({}, {id}, 0) ON DUPLICATE KEY UPDATE p_id = VALUES(p_id), v = v + 1",
                2000 + n % 300
            ),
            10 => format!("INSERT INTO fk.c_null VALUES ({}, {id}, 0) ON DUPLICATE KEY UPDATE p_id = VALUES(p_id)", 2000 + n % 300),
            11 => format!(
                "INSERT INTO fk.c_upd (id, p_code) SELECT {}, code FROM fk.p WHERE id = {id} ON DUPLICATE KEY UPDATE p_code = VALUES(p_code)",
                2000 + n % 300
            ),
            12 => format!("INSERT INTO fk.gc VALUES ({}, {}, 0) ON DUPLICATE KEY UPDATE v = v + 1", 3000 + n % 300, 2000 + other % 300),
            13 => match rng.below(3) {
                0 => format!("DELETE FROM fk.c_keep WHERE p_id = {id}"),
                1 => format!("INSERT IGNORE INTO fk.c_keep VALUES ({}, {id})", 4000 + n % 50),
                _ => format!("DELETE FROM fk.c_cascade WHERE id = {}", 2000 + other % 300),
            },
            14 => format!("UPDATE fk.c_cascade SET id = {} WHERE id = {}", 5000 + n, 2000 + other % 300),
            _ => {
                if rng.chance(0.5) {
                    format!("INSERT INTO fk.other VALUES ({other}, {n}) ON DUPLICATE KEY UPDATE v = v + 1")
                } else {
                    format!("INSERT INTO fk.loose VALUES ({other}, 'w{n}')")
                }
            }
        });
    }
    ops
}

/// Runs `count` workload transactions on `conn` (seeded), `pause` apart.
async fn run_workload(conn: &mut mysql_async::Conn, seed: u64, count: u64, pause: Duration) -> (u64, u64) {
    let mut rng = Rng::new(seed);
    let (mut committed, mut refused) = (0, 0);
    for n in 0..count {
        let ops = transaction(&mut rng, n);
        conn.query_drop("BEGIN").await.unwrap();
        let mut ok = true;
        for op in &ops {
            if let Err(e) = conn.query_drop(op).await {
                match &e {
                    mysql_async::Error::Server(se) if [1062, 1451, 1452].contains(&se.code) => {
                        ok = false;
                        break;
                    }
                    _ => panic!("{op}: {e}"),
                }
            }
        }
        conn.query_drop(if ok { "COMMIT" } else { "ROLLBACK" }).await.unwrap();
        if ok {
            committed += 1;
        } else {
            refused += 1;
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    (committed, refused)
}

/// The lanes the tables start in differ: a parent and its children are applied by different
/// lanes unless ferry joins them.
fn assert_tables_spread() {
    let lanes: std::collections::HashSet<usize> = TABLES.iter().map(|t| ferry_engine::target::meta::slot_of("fk", t) % LANES).collect();
    assert!(lanes.len() > 1, "the test tables all hash to one lane");
}

fn spec() -> String {
    format!("  objects:\n  - database: fk\n  engine:\n    parallelism: {LANES}\n")
}

/// The seeded schema on `src`, and ferry following it into `dst` (task `name`), synchronizing.
async fn start_task(
    src: &TestServer,
    dst: &TestServer,
    name: &str,
) -> (tempfile::TempDir, std::path::PathBuf, RunningFerry, ferry_crds::SyncTaskStatus) {
    src.exec(&format!("{SCHEMA}{}", seed())).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), name, src, dst, &spec());
    let mut ferry = RunningFerry::start(&m, dir.path());
    let st = ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    (dir, m, ferry, st)
}

/// Copies the seeded tables, then follows the workload; the target ends equal, without orphans.
async fn cascades_follow(src: TestServer, dst: TestServer, name: &str) {
    assert_tables_spread();
    let (_dir, _m, mut ferry, st) = start_task(&src, &dst, name).await;
    assert!(st.full_sync.map(|f| f.rows_done).unwrap_or(0) > 300, "the seed rows were copied");
    let mut s = src.conn().await;
    // The case first.
    s.query_drop("DELETE FROM fk.p WHERE id = 1").await.unwrap();
    s.query_drop("UPDATE fk.p SET code = 'k2-renamed' WHERE id = 2").await.unwrap();
    s.query_drop("UPDATE fk.p SET id = 1002 WHERE id = 4").await.unwrap();
    // Then children written just before their parent goes or changes, each in a transaction of
    // its own: the children's tables start in other lanes than the parent's, so the parent's
    // lane must not cascade before theirs has written them. Their lanes have more to write
    // first (`ballast` shares c_null's slot, `events` c_upd's).
    assert_eq!(ferry_engine::target::meta::slot_of("fk", "ballast"), ferry_engine::target::meta::slot_of("fk", "c_null"));
    assert_eq!(ferry_engine::target::meta::slot_of("fk", "events"), ferry_engine::target::meta::slot_of("fk", "c_upd"));
    let ballast = |t: &str| format!("INSERT INTO fk.{t} (pad) VALUES {}", vec![format!("('{}')", "x".repeat(150)); 3000].join(", "));
    for round in 0..8 {
        s.query_drop(ballast("ballast")).await.unwrap();
        s.query_drop(ballast("events")).await.unwrap();
        for k in 200 + round * 4..204 + round * 4 {
            for sql in [
                format!("INSERT INTO fk.p VALUES ({k}, 'k{k}', 0)"),
                format!("INSERT INTO fk.c_cascade VALUES ({k}, {k}, 0)"),
                format!("INSERT INTO fk.gc VALUES ({k}, {k}, 0)"),
                format!("INSERT INTO fk.c_null VALUES ({k}, {k}, 0)"),
                format!("INSERT INTO fk.c_upd VALUES ({k}, 'k{k}', 0), ({}, 'k{k}', 0)", k + 10_000),
                if k % 2 == 0 {
                    format!("DELETE FROM fk.p WHERE id = {k}")
                } else {
                    format!("UPDATE fk.p SET code = 'k{k}-new' WHERE id = {k}")
                },
            ] {
                s.query_drop(&sql).await.unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (committed, refused) = run_workload(&mut s, 11, 1500, Duration::ZERO).await;
    eprintln!("workload: {committed} committed, {refused} refused");
    assert!(committed > 500, "{committed} transactions committed");
    ferry.wait_until_same(&src, &dst, &["fk"], CATCH_UP).await;
    let mut d = dst.conn().await;
    assert_no_orphans(&mut s, "source").await;
    assert_no_orphans(&mut d, "target").await;
    assert_same_database(&mut s, "fk", &mut d, "fk").await;
    // Followed in order, the target never refuses a cascading change (that fallback is for a
    // target that is not where the source was).
    assert!(!ferry.stderr().contains("the target refused a change"), "{}", ferry.describe());
    let children: Option<u64> = s.query_first("SELECT COUNT(*) FROM fk.c_cascade").await.unwrap();
    assert!(children.unwrap_or(0) > 0, "the workload leaves children to compare");
}

/// The source's own foreign keys, on the default flavour (MariaDB, or MySQL 9.7 whose SQL layer
/// logs the cascaded rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascaded_deletes_and_updates_reach_the_target() {
    let (src, dst) = pair().await;
    cascades_follow(src, dst, "cascades").await;
}

/// MySQL with InnoDB handling foreign keys (`innodb_native_foreign_keys=ON`): like MariaDB,
/// nothing cascaded is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_native_foreign_keys_log_no_cascades() {
    if default_flavor() != Flavor::MySql {
        eprintln!("skipped: innodb_native_foreign_keys is a MySQL 9 setting (FERRY_TEST_FLAVOR=mysql runs it)");
        return;
    }
    let (src, dst) = tokio::join!(
        TestServer::start(ServerOptions::source().arg("--innodb-native-foreign-keys=ON")),
        TestServer::start(ServerOptions::target())
    );
    let on: Option<i64> = src.conn().await.query_first("SELECT @@innodb_native_foreign_keys").await.unwrap();
    assert_eq!(on, Some(1));
    cascades_follow(src, dst, "native").await;
}

/// SIGKILL while the workload runs, then resume: converges with no orphans on the target, nothing
/// cascaded twice or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascades_survive_kill_and_resume() {
    assert_tables_spread();
    let (src, dst) = pair().await;
    let (dir, m, mut ferry, _) = start_task(&src, &dst, "fkkill").await;
    let mut s = src.conn().await;
    let writer = tokio::spawn(async move {
        let r = run_workload(&mut s, 23, 4000, Duration::from_millis(2)).await;
        (s, r)
    });
    let mut rng = Rng::new(99);
    let mut d = dst.conn().await;
    let started = Instant::now();
    let mut kills = 0;
    while !writer.is_finished() || kills < 3 {
        assert!(started.elapsed() < Duration::from_secs(180), "the kill loop did not end");
        // (Lanes commit independently, so the target may show a child a moment before its
        // parent: orphans are only counted once it has caught up.)
        tokio::time::sleep(rng.duration(Duration::from_millis(700), Duration::from_millis(2500))).await;
        assert!(ferry.kill(), "ferry exited by itself before kill {}\n{}", kills + 1, ferry.describe());
        kills += 1;
        tokio::time::sleep(rng.duration(Duration::ZERO, Duration::from_millis(300))).await;
        ferry = RunningFerry::start(&m, dir.path());
    }
    let (mut s, (committed, refused)) = writer.await.unwrap();
    let fallbacks: usize = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .map(|text| text.matches("the target refused a change").count())
        .sum();
    eprintln!("{kills} kills; workload: {committed} committed, {refused} refused; {fallbacks} cascading changes refused by the target");
    ferry.wait_until_same(&src, &dst, &["fk"], CATCH_UP).await;
    assert_no_orphans(&mut s, "source").await;
    assert_no_orphans(&mut d, "target").await;
    assert_same_database(&mut s, "fk", &mut d, "fk").await;
}

/// A source session with `foreign_key_checks = 0` deletes a parent and changes a referenced code:
/// the source cascades nothing, and neither may the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cascade_where_the_source_checked_no_foreign_keys() {
    let (src, dst) = pair().await;
    let (_dir, _m, mut ferry, _) = start_task(&src, &dst, "nochecks").await;
    let mut s = src.conn().await;
    // Checked and unchecked changes in one stretch (and one transaction), so that both kinds
    // land in the same lane's group.
    s.query_drop("DELETE FROM fk.p WHERE id = 5").await.unwrap();
    s.query_drop("SET foreign_key_checks = 0").await.unwrap();
    s.query_drop("DELETE FROM fk.p WHERE id = 1").await.unwrap();
    s.query_drop("UPDATE fk.p SET code = 'k2-unchecked' WHERE id = 2").await.unwrap();
    s.query_drop("UPDATE fk.p SET id = 1003 WHERE id = 3").await.unwrap();
    s.query_drop("BEGIN").await.unwrap();
    s.query_drop("DELETE FROM fk.p WHERE id = 6").await.unwrap();
    s.query_drop("SET foreign_key_checks = 1").await.unwrap();
    s.query_drop("DELETE FROM fk.p WHERE id = 7").await.unwrap();
    s.query_drop("COMMIT").await.unwrap();
    let kept: Option<u64> = s.query_first("SELECT COUNT(*) FROM fk.c_cascade WHERE p_id IN (1, 6)").await.unwrap();
    assert_eq!(kept, Some(4), "the source kept the children of the parents deleted without checks");
    ferry.wait_until_same(&src, &dst, &["fk"], SYNC_TIMEOUT).await;
    let mut d = dst.conn().await;
    assert_same_database(&mut s, "fk", &mut d, "fk").await;
    for (sql, expected) in [
        ("SELECT COUNT(*) FROM fk.c_cascade WHERE p_id IN (1, 6)", 4),
        ("SELECT COUNT(*) FROM fk.c_cascade WHERE p_id IN (5, 7)", 0),
        ("SELECT COUNT(*) FROM fk.gc WHERE c_id IN (1, 1001, 6, 1006)", 4),
        ("SELECT COUNT(*) FROM fk.c_upd WHERE p_code = 'k2'", 1),
        ("SELECT COUNT(*) FROM fk.c_null WHERE p_id = 3", 1),
    ] {
        let n: Option<u64> = d.query_first(sql).await.unwrap();
        assert_eq!(n, Some(expected), "{sql} on the target");
    }
}
