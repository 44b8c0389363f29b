//! The ways rows reach the target, end to end, on the default flavour (`make test` runs them on
//! MariaDB and on MySQL): the full copy through `LOAD DATA LOCAL INFILE` where the target allows
//! it and through batched INSERTs where `local_infile` is OFF (MySQL's default, and what managed
//! targets enforce), byte for byte for every type, JSON included; a LOAD DATA the target refuses
//! in mid-copy; the conflict policies through the INSERT path; JSON values through the binlog.

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_crds::{Phase, PrecheckResult, SyncTaskStatus};
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC: Duration = Duration::from_secs(60);

/// `ferry -v run -f MANIFEST` (info logs: the copy names its path).
fn status(state_dir: &Path, task: &str) -> SyncTaskStatus {
    read_status(state_dir, task).unwrap_or_else(|| panic!("no status file for {task}"))
}

/// The precheck's `target-local-infile` item of a run: passed, its message.
#[track_caller]
fn load_path_item(st: &SyncTaskStatus) -> String {
    let report = st.precheck.as_ref().expect("the run's precheck in the status");
    let item = report.items.iter().find(|i| i.id == "target-local-infile").expect("a target-local-infile item");
    assert_eq!(item.result, PrecheckResult::Passed, "{item:#?}");
    item.message.clone()
}

/// A target without local_infile (its own default on MySQL, switched off on MariaDB).
fn no_infile_target() -> ServerOptions {
    ServerOptions::target().arg("--local-infile=OFF")
}

async fn global_local_infile(server: &TestServer) -> i64 {
    server.conn().await.query_first("SELECT @@GLOBAL.local_infile").await.unwrap().unwrap()
}

/// A keyed table of `rows` rows in `qualified` (`db.t`, the database created): latin1, utf8mb3
/// (whose literal introducer MySQL 8 warns about) and binary text with the characters LOAD DATA
/// and SQL literals escape, NULLs, a JSON document.
fn bulk_table(qualified: &str, rows: u32) -> String {
    let db = qualified.split('.').next().unwrap();
    format!(
        "CREATE DATABASE IF NOT EXISTS {db}; USE {db};
         CREATE TABLE {qualified} (id INT NOT NULL PRIMARY KEY, l1 VARCHAR(60) CHARACTER SET latin1, vb VARBINARY(40),
           n DECIMAL(20,6), j JSON, pad VARCHAR(200), u3 VARCHAR(30) CHARACTER SET utf8mb3);
         INSERT INTO {qualified}
           SELECT seq, CONCAT('café \\t\\n\\\\ \\' ', seq), CONCAT(x'005C', seq, x'0A2709'),
             IF(seq % 7 = 0, NULL, seq / 7), IF(seq % 5 = 0, NULL, CONCAT('{{\"n\": ', seq, ', \"s\": \"Zoë ', seq, '\"}}')),
             REPEAT('p', seq % 200), CONCAT('naïve ', seq)
           FROM seq_1_to_{rows};
         ANALYZE TABLE {qualified};"
    )
}

/// The every-type table (keyed and keyless) and a bulk table of 20,000 rows, copied in 4 chunks
/// by 2 workers in statements of at most 64 KiB, into `dst`. Returns ferry's log and status.
async fn copy_every_type(src: &TestServer, dst: &TestServer, dir: &Path, task: &str) -> (String, SyncTaskStatus) {
    src.exec(&format!("{}{}{}", types_ddl(), types_table_ddl("types.nk", false), types_insert("types.nk"))).await;
    src.exec(&bulk_table("bulk.t", 20_000)).await;
    let m = write_task(
        dir,
        task,
        src,
        dst,
        "  objects:\n  - database: types\n  - database: bulk\n  engine:\n    parallelism: 2\n    batchBytes: 65536\n    chunkRows: 5000\n  incremental: false\n",
    );
    let log = assert_ok(&run_ferry_with(&m, dir, &["-v"]));

    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_same_values(&mut s, &mut d, "types", "t").await;
    assert_same_values(&mut s, &mut d, "types", "nk").await;
    assert_same_table(&mut s, "types.t", &mut d, "types.t").await;
    assert_same_table(&mut s, "types.nk", &mut d, "types.nk").await;
    assert_same_table(&mut s, "bulk.t", &mut d, "bulk.t").await;
    // JSON as the target's JSON (MySQL) or its LONGTEXT (MariaDB) reads it back, byte for byte.
    let json = "SELECT id, HEX(j) FROM types.t ORDER BY id";
    let a: Vec<(i32, Option<String>)> = s.query(json).await.unwrap();
    let b: Vec<(i32, Option<String>)> = d.query(json).await.unwrap();
    assert_eq!(a, b);
    assert!(a.iter().filter(|(_, j)| j.is_some()).count() == 2, "two JSON values in the data: {a:?}");
    let (_, src_ddl): (String, String) = s.query_first("SHOW CREATE TABLE types.t").await.unwrap().unwrap();
    let (_, dst_ddl): (String, String) = d.query_first("SHOW CREATE TABLE types.t").await.unwrap().unwrap();
    assert_eq!(src_ddl, dst_ddl);

    let st = status(dir, task);
    assert_eq!(st.phase, Some(Phase::Finished));
    let fs = st.full_sync.clone().expect("fullSync in status");
    assert_eq!((fs.rows_done, fs.tables_done, fs.tables_total), (20_008, 3, 3), "{fs:?}");
    let bulk = fs.tables.iter().find(|t| t.name == "bulk.t").expect("bulk.t in the status");
    assert!(bulk.chunks_total >= 4, "{bulk:?}");
    (log, st)
}

/// (a) local_infile OFF on the target: the precheck says the copy takes batched INSERTs, and
/// every value of every type arrives exactly as through LOAD DATA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_through_batched_inserts_when_local_infile_is_off() {
    let (src, dst) = tokio::join!(TestServer::start(ServerOptions::source()), TestServer::start(no_infile_target()));
    assert_eq!(global_local_infile(&dst).await, 0, "the target refuses LOAD DATA LOCAL");
    let dir = tempfile::tempdir().unwrap();
    let (log, st) = copy_every_type(&src, &dst, dir.path(), "inserts").await;
    let msg = load_path_item(&st);
    assert!(msg.contains("batched INSERTs (local_infile is OFF on the target)"), "{msg}");
    assert!(log.contains("batched INSERTs"), "the copy names its path:\n{log}");
    // Chosen from the target's setting, not learnt from a refused LOAD DATA.
    assert!(!log.contains("refuses LOAD DATA"), "{log}");
}

/// (b) local_infile ON: LOAD DATA LOCAL INFILE, named by the precheck, exact for every type (JSON
/// into MySQL's JSON columns too, which take no binary string).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_through_load_data_when_local_infile_is_on() {
    let (src, dst) = pair().await;
    assert_eq!(global_local_infile(&dst).await, 1);
    let dir = tempfile::tempdir().unwrap();
    let (log, st) = copy_every_type(&src, &dst, dir.path(), "loaddata").await;
    let msg = load_path_item(&st);
    assert!(msg.contains("LOAD DATA LOCAL INFILE") && !msg.contains("INSERTs"), "{msg}");
    assert!(log.contains("LOAD DATA LOCAL INFILE") && !log.contains("batched INSERTs"), "{log}");
}

/// A target that stops taking LOAD DATA LOCAL in mid-copy: the refused chunk is copied again as
/// INSERTs, and so is every later one; nothing is retried as LOAD DATA, lost or copied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_load_data_turns_the_copy_to_inserts() {
    let (src, dst) = pair().await;
    const ROWS: u64 = 300_000;
    src.exec(&format!(
        "CREATE DATABASE big; USE big; CREATE TABLE big.t (id INT PRIMARY KEY, v VARCHAR(40));
         INSERT INTO big.t SELECT seq, CONCAT('v', seq) FROM seq_1_to_{ROWS}; ANALYZE TABLE big.t;"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(
        dir.path(),
        "refused",
        &src,
        &dst,
        "  objects:\n  - database: big\n  engine:\n    parallelism: 1\n    chunkRows: 5000\n  incremental: false\n",
    );
    let mut ferry = RunningFerry::start_with(&m, dir.path(), &["-v"]);
    let mut d = dst.conn().await;
    let deadline = Instant::now() + SYNC;
    let (done, total) = loop {
        assert!(Instant::now() < deadline, "no chunk copied in time\n{}", ferry.describe());
        let counts: Option<(u64, u64)> = d
            .query_first("SELECT CAST(IFNULL(SUM(done), 0) AS UNSIGNED), COUNT(*) FROM ferry_meta.copy_chunks WHERE src_table = 't'")
            .await
            .unwrap_or(None);
        if let Some((done, total)) = counts
            && done >= 1
        {
            break (done, total);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    d.query_drop("SET GLOBAL local_infile = 0").await.unwrap();
    assert!(done < total, "the copy went on past the switch ({done} of {total} chunks done)");
    let code = ferry.wait_exit(Duration::from_secs(180)).await.unwrap_or_else(|| panic!("ferry kept running\n{}", ferry.describe()));
    assert!(code.success(), "{}", ferry.describe());
    let log = ferry.stderr();
    assert_eq!(log.matches("refuses LOAD DATA LOCAL INFILE").count(), 1, "switched once:\n{log}");
    let mut s = src.conn().await;
    assert_same_table(&mut s, "big.t", &mut d, "big.t").await;
    let (rows, undone): (u64, u64) = d
        .query_first(
            "SELECT CAST(SUM(rows_copied) AS UNSIGNED), CAST(SUM(1 - done) AS UNSIGNED) FROM ferry_meta.copy_chunks WHERE src_table = 't'",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rows, undone), (ROWS, 0), "every chunk recorded once with its rows");
    assert_eq!(status(dir.path(), "refused").full_sync.map(|f| f.rows_done), Some(ROWS));
}

/// (d) The conflict policies through the INSERT path (and, for comparison, through LOAD DATA):
/// a merged table and an `existingTables: Ignore` table that the target holds rows of already,
/// 100 of them on source keys, spread over many statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_policies_through_inserts_and_load_data() {
    let (src, off, on) = tokio::join!(
        TestServer::start(ServerOptions::source()),
        TestServer::start(no_infile_target()),
        TestServer::start(ServerOptions::target())
    );
    let cases = [("po", "Overwrite"), ("pi", "Ignore"), ("pf", "Fail"), ("pe", "existingTables"), ("pn", "narrow")];
    let ddl =
        |db: &str| format!("CREATE DATABASE {db}; USE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(20), pad VARCHAR(200));");
    let mut script = String::new();
    let mut target_script = String::new();
    for (db, policy) in cases {
        script.push_str(&format!("{} INSERT INTO {db}.t SELECT seq, 'src', REPEAT('s', 150) FROM seq_1_to_3000;\n", ddl(db)));
        if policy == "narrow" {
            // A kept target table too narrow for the source's values (IGNORE must not truncate).
            target_script
                .push_str(&format!("CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(2), pad VARCHAR(200));\n"));
            continue;
        }
        // Every 30th key is taken, and 10 rows are the target's own.
        target_script.push_str(&format!(
            "{} INSERT INTO {db}.t SELECT seq * 30, 'tgt', 'kept' FROM seq_1_to_100;
             INSERT INTO {db}.t SELECT 5000 + seq, 'tgt-only', '' FROM seq_1_to_10;\n",
            ddl(db)
        ));
    }
    tokio::join!(src.exec(&script), off.exec(&target_script), on.exec(&target_script));
    let dir = tempfile::tempdir().unwrap();
    for (dst, path) in [(&off, "inserts"), (&on, "load")] {
        let mut t = dst.conn().await;
        let mut s = src.conn().await;
        for (db, policy) in cases {
            let spec = if policy == "existingTables" || policy == "narrow" {
                format!("  objects:\n  - database: {db}\n  existingTables: Ignore\n")
            } else {
                let p = if policy == "Fail" { String::new() } else { format!("  conflictPolicy: {policy}\n") };
                format!("  objects:\n  - database: {db}\n    merge: true\n{p}")
            };
            let task = format!("{db}-{path}");
            let m = write_task(dir.path(), &task, &src, dst, &format!("{spec}  engine:\n    batchBytes: 4096\n  incremental: false\n"));
            let out = run_ferry_with(&m, dir.path(), &["-v"]);
            let ctx = format!("{policy} through {path}");
            if policy == "Fail" {
                assert!(!out.status.success(), "{ctx}: a taken key fails the copy");
                let err = String::from_utf8_lossy(&out.stderr);
                for needle in ["merge conflict", "pf.t", "'30'", "conflictPolicy"] {
                    assert!(err.contains(needle), "{ctx}: {needle:?} missing in:\n{err}");
                }
                assert_eq!(count_rows(&mut t, "pf.t").await, 110, "{ctx}: nothing of the failed chunk stays");
                continue;
            }
            if policy == "narrow" {
                assert!(!out.status.success(), "{ctx}: values the target would cut fail the copy");
                let err = String::from_utf8_lossy(&out.stderr);
                for needle in ["pn.t", "changed or refused values", "'v'"] {
                    assert!(err.contains(needle), "{ctx}: {needle:?} missing in:\n{err}");
                }
                assert_eq!(count_rows(&mut t, "pn.t").await, 0, "{ctx}: the failed chunk was rolled back");
                continue;
            }
            let log = assert_ok(&out);
            assert_eq!(log.contains("batched INSERTs"), path == "inserts", "{ctx}:\n{log}");
            let table = format!("{db}.t");
            assert_eq!(count_rows(&mut t, &table).await, 3010, "{ctx}");
            let own = table_checksum_where(&mut t, db, "t", "id > 3000").await;
            assert_eq!(own.0, 10, "{ctx}: the target's own rows stay");
            let fs = status(dir.path(), &task).full_sync.unwrap();
            if policy == "Overwrite" {
                // Every source row, the taken keys replaced.
                let a = table_checksum_where(&mut s, db, "t", "TRUE").await;
                let b = table_checksum_where(&mut t, db, "t", "id <= 3000").await;
                assert_eq!(a, b, "{ctx}");
                assert_eq!((fs.rows_done, fs.merge_conflicts), (3000, 100), "{ctx}: {fs:?}");
            } else {
                // The taken keys keep the target's rows; the others are the source's.
                let a = table_checksum_where(&mut s, db, "t", "id % 30 <> 0").await;
                let b = table_checksum_where(&mut t, db, "t", "id <= 3000 AND id % 30 <> 0").await;
                assert_eq!(a, b, "{ctx}");
                let kept = table_checksum_where(&mut t, db, "t", "id <= 3000 AND v = 'tgt' AND pad = 'kept'").await;
                assert_eq!(kept.0, 100, "{ctx}");
                // Conflicts are counted for merged tables (another task's rows), not existing ones.
                let conflicts = if policy == "Ignore" { 100 } else { 0 };
                assert_eq!((fs.rows_done, fs.merge_conflicts), (2900, conflicts), "{ctx}: {fs:?}");
            }
        }
    }
}

/// (c) JSON values through the binlog into the target: inserts, updates (value to value, to and
/// from NULL) and deletes of documents with unicode, escapes, nesting and edge numbers, in a keyed
/// and a keyless table (whose changes find their row by its whole value); compared byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_through_the_binlog() {
    let (src, dst) = pair().await;
    src.exec(
        "CREATE DATABASE js CHARACTER SET utf8mb4;
         CREATE TABLE js.docs (id INT PRIMARY KEY, j JSON, note VARCHAR(20));
         CREATE TABLE js.nk (j JSON, n INT);
         INSERT INTO js.docs VALUES (1, '{\"copied\": true}', 'before');",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "json", &src, &dst, "  objects:\n  - database: js\n  incremental: true\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;

    let docs = [
        r#"{"name": "Zoë 😀 日本語", "esc": "quote \" backslash \\ tab \t nl \n nul-ish \u0001", "": "empty key"}"#,
        r#"{"a": {"b": {"c": [1, {"d": [true, false, null, {"e": {"f": "deep"}}]}]}}, "z": []}"#,
        r#"[0, -1, 1.5, -2.25e-10, 1e300, 9223372036854775807, -9223372036854775808, 18446744073709551615]"#,
        r#""just a string with 'quotes'""#,
        "null",
        "3.25",
        "true",
        "{}",
        "[]",
        r#"{"k1": "v", "k10": [{"x": 1}, {"x": 2}], "k2": {"nested \u00e9": "é"}}"#,
    ];
    let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut script = String::new();
    for (i, doc) in docs.iter().enumerate() {
        let id = i + 10;
        script.push_str(&format!("INSERT INTO js.docs VALUES ({id}, {}, 'ins');\n", quote(doc)));
        script.push_str(&format!("INSERT INTO js.nk VALUES ({}, {id}), ({}, {id});\n", quote(doc), quote(doc)));
    }
    script.push_str("INSERT INTO js.docs VALUES (100, NULL, 'sql null'); INSERT INTO js.nk VALUES (NULL, 100);\n");
    // Updates: document to document, to NULL, from NULL; the copied row; a keyless row by value.
    script.push_str(&format!(
        "UPDATE js.docs SET j = {} WHERE id = 10;
         UPDATE js.docs SET j = NULL WHERE id = 11;
         UPDATE js.docs SET j = {} WHERE id = 100;
         UPDATE js.docs SET j = {}, note = 'after' WHERE id = 1;
         UPDATE js.nk SET j = {} WHERE n = 11 LIMIT 1;
         UPDATE js.nk SET n = 1000 WHERE n = 12 LIMIT 1;
         UPDATE js.nk SET j = {} WHERE n = 100;
         DELETE FROM js.docs WHERE id = 12;
         DELETE FROM js.nk WHERE n = 10 LIMIT 1;
         DELETE FROM js.nk WHERE n = 19;\n",
        quote(r#"{"updated": "ünïcödé ✓", "list": [1, [2, [3, [4]]]]}"#),
        quote(r#"{"from": "sql null"}"#),
        quote(docs[1]),
        quote(r#"{"only one of two": "changed"}"#),
        quote(r#"["was null"]"#),
    ));
    src.exec(&script).await;
    ferry.wait_until_same(&src, &dst, &["js"], SYNC).await;

    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_same_table(&mut s, "js.docs", &mut d, "js.docs").await;
    assert_same_table(&mut s, "js.nk", &mut d, "js.nk").await;
    let keyed = "SELECT id, HEX(j), note FROM js.docs ORDER BY id";
    let a: Vec<(i32, Option<String>, Option<String>)> = s.query(keyed).await.unwrap();
    let b: Vec<(i32, Option<String>, Option<String>)> = d.query(keyed).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 11, "{a:?}");
    let keyless = "SELECT HEX(j), n FROM js.nk ORDER BY n, HEX(j)";
    let a: Vec<(Option<String>, Option<i32>)> = s.query(keyless).await.unwrap();
    let b: Vec<(Option<String>, Option<i32>)> = d.query(keyless).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 18, "{a:?}");
    ferry.assert_running("after the JSON changes");
}

/// TIMESTAMP values are instants: with the source at +05:30 and the target at -07:00 (and ferry's
/// own sessions in UTC), every TIMESTAMP names the same instant on both sides after the copy (both
/// load paths) and after the binlog, DATETIME/DATE/TIME keep their text, and the target's own
/// DEFAULT CURRENT_TIMESTAMP is never what a row gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_are_exact_between_servers_in_different_time_zones() {
    let (src, dst) = tokio::join!(
        TestServer::start(ServerOptions::source().arg("--default-time-zone=+05:30")),
        TestServer::start(ServerOptions::target().arg("--default-time-zone=-07:00"))
    );
    let table = "CREATE DATABASE tz; CREATE TABLE tz.t (
        id INT PRIMARY KEY,
        ts TIMESTAMP(6) NULL DEFAULT CURRENT_TIMESTAMP(6),
        ts0 TIMESTAMP NULL,
        dt DATETIME(6) NULL,
        d DATE NULL,
        tm TIME(3) NULL);";
    src.exec(&format!(
        "{table}
         INSERT INTO tz.t (id, ts0, dt, d, tm) VALUES (1, '1970-01-01 05:30:01', '2024-03-10 02:30:00', '2024-03-10', '-12:00:00.5');
         INSERT INTO tz.t VALUES (2, '2038-01-19 08:44:07.999999', '2000-02-29 23:59:59', '2000-02-29 23:59:59.123456', '2000-02-29', '838:59:59');
         INSERT INTO tz.t (id, ts, ts0) VALUES (3, NOW(6), UTC_TIMESTAMP());"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "tz", &src, &dst, "  objects:\n  - database: tz\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;
    src.exec(
        "INSERT INTO tz.t (id, ts0, dt) VALUES (4, NOW(), NOW());
         INSERT INTO tz.t (id) VALUES (5);
         UPDATE tz.t SET ts = '2001-01-01 00:00:00', ts0 = ts0 + INTERVAL 1 HOUR WHERE id = 1;
         INSERT INTO tz.t (id, ts) VALUES (6, '1999-12-31 23:59:59.5');",
    )
    .await;
    let values = "SELECT id, UNIX_TIMESTAMP(ts), UNIX_TIMESTAMP(ts0), CAST(ts AS CHAR), CAST(dt AS CHAR), CAST(d AS CHAR), CAST(tm AS CHAR) \
                  FROM tz.t ORDER BY id";
    type Row = (i32, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    for c in [&mut s, &mut d] {
        c.query_drop("SET time_zone = '+00:00'").await.unwrap();
    }
    let deadline = Instant::now() + SYNC;
    let want: Vec<Row> = s.query(values).await.unwrap();
    assert_eq!(want.len(), 6);
    loop {
        let got: Vec<Row> = d.query(values).await.unwrap();
        if got == want {
            break;
        }
        assert!(Instant::now() < deadline && ferry.is_running(), "source {want:#?}\ntarget {got:#?}\n{}", ferry.describe());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Seen from each server's own zone the instants read differently: the case under test.
    let local: Option<String> = src.conn().await.query_first("SELECT CAST(ts0 AS CHAR) FROM tz.t WHERE id = 2").await.unwrap();
    let there: Option<String> = dst.conn().await.query_first("SELECT CAST(ts0 AS CHAR) FROM tz.t WHERE id = 2").await.unwrap();
    assert_ne!(local, there);
    ferry.assert_running("at the end");
}
