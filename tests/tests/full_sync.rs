//! Initial schema and full data sync, end to end: `ferry run -f` against private MariaDB servers.

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_e2e::*;
use mysql_async::prelude::*;

fn status(state_dir: &Path, task: &str) -> ferry_crds::SyncTaskStatus {
    let text = std::fs::read_to_string(state_dir.join(format!("{task}.status.yaml"))).expect("status file");
    serde_saphyr::from_str(&text).expect("status parses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_byte_for_byte() {
    let (src, dst) = pair().await;
    // The keyed table is split and copied by key; the keyless twin is copied whole.
    src.exec(&format!("{}{}{}", types_ddl(), types_table_ddl("types.nk", false), types_insert("types.nk"))).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "types", &src, &dst, "  objects:\n  - database: types\n  incremental: false\n");
    assert_ok(&run_ferry(&m, dir.path()));

    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    let cols: Vec<String> = s
        .query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='types' AND TABLE_NAME='t' ORDER BY ORDINAL_POSITION")
        .await
        .unwrap();
    let mut differing = Vec::new();
    for c in &cols {
        let sql = format!("SELECT GROUP_CONCAT(IFNULL(HEX(`{c}`), 'NULL') ORDER BY id) FROM types.t");
        let a: Option<String> = s.query_first(&sql).await.unwrap();
        let b: Option<String> = d.query_first(&sql).await.unwrap();
        if a != b {
            differing.push(format!("{c}: {a:?} vs {b:?}"));
        }
    }
    assert!(differing.is_empty(), "columns differ:\n{}", differing.join("\n"));
    assert_same_table(&mut s, "types.t", &mut d, "types.t").await;
    assert_same_table(&mut s, "types.nk", &mut d, "types.nk").await;
    assert_same_values(&mut s, &mut d, "types", "nk").await;
    // Floats compared bit for bit through the binary protocol, beyond what their text form shows.
    let floats = "SELECT id, f, f2, dbl FROM types.t ORDER BY id";
    type Floats = (i32, Option<f32>, Option<f32>, Option<f64>);
    let read = |rows: Vec<Floats>| {
        rows.into_iter().map(|(id, f, f2, d)| (id, f.map(f32::to_bits), f2.map(f32::to_bits), d.map(f64::to_bits))).collect::<Vec<_>>()
    };
    let a = read(s.exec(floats, ()).await.unwrap());
    let b = read(d.exec(floats, ()).await.unwrap());
    assert_eq!(a, b);
    assert!(a.iter().any(|r| r.1 == Some(16777216f32.to_bits())), "the FLOAT edge value is in the data");
    // The table keeps its definition: charsets, generated and invisible columns, indexes, AUTO_INCREMENT.
    let (_, src_ddl): (String, String) = s.query_first("SHOW CREATE TABLE types.t").await.unwrap().unwrap();
    let (_, dst_ddl): (String, String) = d.query_first("SHOW CREATE TABLE types.t").await.unwrap().unwrap();
    assert_eq!(src_ddl, dst_ddl);
    let st = status(dir.path(), "types");
    assert_eq!(st.phase, Some(ferry_crds::Phase::Finished));
    let fs = st.full_sync.expect("fullSync in status");
    assert_eq!((fs.rows_done, fs.tables_done, fs.tables_total), (8, 2, 2));
    assert!(fs.bytes_per_second > 0, "{fs:?}");
    let cp = st.checkpoint.expect("checkpoint in status");
    assert!(cp.file.starts_with("mysql-bin") || cp.file.contains("bin"), "{cp:?}");
    assert!(cp.position > 0 && cp.gtid_set.is_some(), "{cp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_shapes_split_into_ranges_and_copy_in_parallel() {
    let (src, dst) = pair().await;
    src.exec(
        "CREATE DATABASE shapes; USE shapes;
         CREATE TABLE shapes.ints (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, v VARCHAR(32), KEY kv (v));
         CREATE TABLE shapes.strs (code VARCHAR(40) COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY, n INT);
         CREATE TABLE shapes.composite (a INT NOT NULL, b VARCHAR(20) NOT NULL, n INT, PRIMARY KEY (a, b));
         CREATE TABLE shapes.uniq (u INT NOT NULL, n INT, UNIQUE KEY (u));
         CREATE TABLE shapes.nokey (n INT, s VARCHAR(10));
         INSERT INTO shapes.ints 
           SELECT seq * 3 + 18446744073700000000, CONCAT('v', seq % 97) FROM seq_1_to_130000;
         INSERT INTO shapes.strs 
           SELECT CONCAT(CASE seq % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'B' ELSE 'ç' END, LPAD(seq, 7, '0')), seq FROM seq_1_to_120000;
         INSERT INTO shapes.composite 
           SELECT seq % 50, CONCAT('k', seq), seq FROM seq_1_to_110000;
         INSERT INTO shapes.uniq 
           SELECT CAST(seq AS SIGNED) - 30000, seq FROM seq_1_to_60000;
         INSERT INTO shapes.nokey 
           SELECT seq % 10, 'dup' FROM seq_1_to_70000;
         ANALYZE TABLE shapes.ints, shapes.strs, shapes.composite, shapes.uniq, shapes.nokey;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(
        dir.path(),
        "shapes",
        &src,
        &dst,
        "  objects:\n  - database: shapes\n  engine:\n    parallelism: 3\n    batchBytes: 65536\n    chunkRows: 50000\n  incremental: false\n",
    );
    assert_ok(&run_ferry(&m, dir.path()));
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_same_database(&mut s, "shapes", &mut d, "shapes").await;
    let st = status(dir.path(), "shapes").full_sync.unwrap();
    let chunks = |name: &str| st.tables.iter().find(|t| t.name == name).unwrap().chunks_total;
    assert!(chunks("shapes.ints") >= 2, "{st:?}");
    assert!(chunks("shapes.strs") >= 2, "{st:?}");
    assert!(chunks("shapes.composite") >= 2, "{st:?}");
    assert_eq!(chunks("shapes.nokey"), 1, "a table without a key is copied whole");
    // The deferred secondary index is back after the load.
    let idx: Option<String> = d
        .query_first(
            "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='shapes' AND TABLE_NAME='ints' AND INDEX_NAME='kv'",
        )
        .await
        .unwrap();
    assert_eq!(idx.as_deref(), Some("kv"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_functions_procedures_and_deferred_triggers() {
    let (src, dst) = pair().await;
    src.exec(
        "CREATE DATABASE app;
         CREATE TABLE app.orders (id INT PRIMARY KEY, total DECIMAL(10,2), status VARCHAR(10));
         CREATE TABLE app.audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT);
         INSERT INTO app.orders VALUES (1, 10.50, 'open'), (2, 99.99, 'paid'), (3, 5.00, 'paid');
         CREATE VIEW app.z_paid AS SELECT id, total FROM app.orders WHERE status = 'paid';
         CREATE VIEW app.a_paid_total AS SELECT SUM(total) AS s FROM app.z_paid;
         DELIMITER //
         CREATE FUNCTION app.with_tax(x DECIMAL(10,2)) RETURNS DECIMAL(10,2) DETERMINISTIC RETURN x * 1.2 //
         CREATE PROCEDURE app.close_order(IN oid INT) BEGIN UPDATE app.orders SET status = 'closed' WHERE id = oid; END //
         CREATE TRIGGER app.orders_audit AFTER INSERT ON app.orders FOR EACH ROW INSERT INTO app.audit (order_id) VALUES (NEW.id) //
         DELIMITER ;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "objs", &src, &dst, "  objects:\n  - database: app\n  incremental: false\n");
    assert_ok(&run_ferry(&m, dir.path()));
    let mut d = dst.conn().await;
    // a_paid_total reads z_paid: created after it although it sorts first.
    let total: Option<String> = d.query_first("SELECT CAST(s AS CHAR) FROM app.a_paid_total").await.unwrap();
    assert_eq!(total.as_deref(), Some("104.99"));
    let taxed: Option<String> = d.query_first("SELECT CAST(app.with_tax(10) AS CHAR)").await.unwrap();
    assert_eq!(taxed.as_deref(), Some("12.00"));
    d.query_drop("CALL app.close_order(1)").await.unwrap();
    let triggers: Vec<String> = d.query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'app'").await.unwrap();
    assert!(triggers.is_empty(), "triggers are deferred, found {triggers:?}");
    let sc = status(dir.path(), "objs").schema_sync.unwrap();
    assert_eq!((sc.tables, sc.views, sc.routines), (2, 2, 2));
    assert_eq!(sc.deferred_triggers, vec!["app.orders_audit".to_string()]);

    // The same database under another name: views and routines follow the mapping (the view on
    // the view, the procedure's UPDATE), string literals do not.
    let m = write_task(dir.path(), "renamed", &src, &dst, "  objects:\n  - database: app\n    rename: app_copy\n  incremental: false\n");
    assert_ok(&run_ferry(&m, dir.path()));
    let total: Option<String> = d.query_first("SELECT CAST(s AS CHAR) FROM app_copy.a_paid_total").await.unwrap();
    assert_eq!(total.as_deref(), Some("104.99"));
    let (_, view, _, _): (String, String, String, String) = d.query_first("SHOW CREATE VIEW app_copy.z_paid").await.unwrap().unwrap();
    assert!(view.contains("`app_copy`.`orders`") && !view.contains("`app`."), "{view}");
    assert!(view.contains("'paid'"), "{view}");
    d.query_drop("CALL app_copy.close_order(2)").await.unwrap();
    let closed: Option<String> = d.query_first("SELECT status FROM app_copy.orders WHERE id = 2").await.unwrap();
    assert_eq!(closed.as_deref(), Some("closed"), "the procedure writes the renamed database");
    let untouched: Option<String> = d.query_first("SELECT status FROM app.orders WHERE id = 2").await.unwrap();
    assert_eq!(untouched.as_deref(), Some("paid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_tables_intercept_refuses_and_ignore_keeps_target_rows() {
    let (src, dst) = pair().await;
    src.exec(
        "CREATE DATABASE shop;
         CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20), price INT);
         CREATE TABLE shop.other (id INT PRIMARY KEY);
         INSERT INTO shop.items VALUES (1, 'src-1', 10), (2, 'src-2', 20), (3, 'src-3', 30);
         INSERT INTO shop.other VALUES (1);",
    )
    .await;
    // The target has its own version: one colliding row, no price column, an extra nullable column.
    dst.exec(
        "CREATE DATABASE shop;
         CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20), note VARCHAR(20));
         INSERT INTO shop.items VALUES (2, 'target-2', 'mine');",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "intercept", &src, &dst, "  objects:\n  - database: shop\n  incremental: false\n");
    let out = run_ferry(&m, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shop.items") && err.contains("existingTables"), "{err}");
    let mut d = dst.conn().await;
    assert_eq!(count_rows(&mut d, "shop.items").await, 1, "nothing written after a refusal");
    let other: Vec<String> = d.query("SHOW TABLES FROM shop LIKE 'other'").await.unwrap();
    assert!(other.is_empty(), "a refusal comes before anything is created");
    let st = status(dir.path(), "intercept");
    assert_eq!(st.phase, Some(ferry_crds::Phase::Failed));
    assert!(st.message.unwrap().contains("shop.items"));

    let m =
        write_task(dir.path(), "ignore", &src, &dst, "  objects:\n  - database: shop\n  existingTables: Ignore\n  incremental: false\n");
    assert_ok(&run_ferry(&m, dir.path()));
    let rows: Vec<(i32, String, Option<String>)> = d.query("SELECT id, name, note FROM shop.items ORDER BY id").await.unwrap();
    assert_eq!(rows, vec![(1, "src-1".into(), None), (2, "target-2".into(), Some("mine".into())), (3, "src-3".into(), None)]);
    assert_eq!(count_rows(&mut d, "shop.other").await, 1);
    assert_eq!(status(dir.path(), "ignore").schema_sync.unwrap().kept_existing, vec!["shop.items".to_string()]);

    // Values the existing target table would change are an error naming the table, not a silent truncation.
    dst.exec("CREATE DATABASE narrow; CREATE TABLE narrow.items (id INT PRIMARY KEY, name VARCHAR(3));").await;
    let m = write_task(
        dir.path(),
        "narrow",
        &src,
        &dst,
        "  objects:\n  - database: shop\n    rename: narrow\n    tables:\n    - name: items\n  existingTables: Ignore\n  incremental: false\n",
    );
    let out = run_ferry(&m, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("narrow.items") && err.contains("name"), "{err}");
    assert_eq!(count_rows(&mut d, "narrow.items").await, 0, "the failed range was rolled back");

    // A target table the copy cannot fill is refused with the table and the column named.
    dst.exec("CREATE DATABASE strict_t; CREATE TABLE strict_t.items (id INT PRIMARY KEY, must INT NOT NULL);").await;
    let m = write_task(
        dir.path(),
        "unfillable",
        &src,
        &dst,
        "  objects:\n  - database: shop\n    rename: strict_t\n    tables:\n    - name: items\n  existingTables: Ignore\n  incremental: false\n",
    );
    let out = run_ferry(&m, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("strict_t.items") && err.contains("must"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_mapping_column_selection_and_row_filter() {
    let (src, dst) = pair().await;
    src.exec(
        "CREATE DATABASE crm;
         CREATE TABLE crm.customers (id INT PRIMARY KEY, name VARCHAR(40) DEFAULT 'name', region CHAR(2), secret VARCHAR(40),
           KEY by_region (region, name)) COMMENT 'customers: name, region';
         INSERT INTO crm.customers VALUES (1, 'Ann', 'eu', 's1'), (2, 'Bob', 'us', 's2'), (3, 'Cy', 'eu', 's3'), (4, 'Di', 'ap', 's4');
         CREATE TABLE crm.notes (id INT PRIMARY KEY, body TEXT);
         INSERT INTO crm.notes VALUES (1, 'hello');",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(
        dir.path(),
        "mapped",
        &src,
        &dst,
        "  objects:\n  - database: crm\n    rename: crm_eu\n    tables:\n    - name: customers\n      rename: clients\n      where: \"region = 'eu'\"\n      columns:\n      - name: id\n      - name: name\n        rename: full_name\n      - name: region\n  incremental: false\n",
    );
    assert_ok(&run_ferry(&m, dir.path()));
    let mut d = dst.conn().await;
    let rows: Vec<(i32, String, String)> = d.query("SELECT id, full_name, region FROM crm_eu.clients ORDER BY id").await.unwrap();
    assert_eq!(rows, vec![(1, "Ann".into(), "eu".into()), (3, "Cy".into(), "eu".into())]);
    let (_, ddl): (String, String) = d.query_first("SHOW CREATE TABLE crm_eu.clients").await.unwrap().unwrap();
    assert!(!ddl.contains("secret"), "unselected column left out: {ddl}");
    assert!(ddl.contains("DEFAULT 'name'"), "a string literal equal to a mapped name stays: {ddl}");
    assert!(ddl.contains("COMMENT='customers: name, region'"), "comments stay: {ddl}");
    assert!(ddl.contains("KEY `by_region` (`region`,`full_name`)"), "index follows the rename: {ddl}");
    let notes: Vec<String> = d.query("SHOW TABLES FROM crm_eu").await.unwrap();
    assert_eq!(notes, vec!["clients".to_string()], "only the selected table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_copy_resumes_from_completed_ranges_without_duplicates() {
    let (src, dst) = pair().await;
    src.exec(
        "CREATE DATABASE big; USE big;
         CREATE TABLE big.t (id INT PRIMARY KEY, pad VARCHAR(200));
         CREATE TABLE big.nokey (n INT, pad VARCHAR(200));
         CREATE TABLE big.unselected (n INT);
         INSERT INTO big.t 
           SELECT seq, REPEAT('x', 150) FROM seq_1_to_600000;
         INSERT INTO big.nokey 
           SELECT seq % 7, REPEAT('y', 150) FROM seq_1_to_100000;
         ANALYZE TABLE big.t, big.nokey;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(
        dir.path(),
        "resume",
        &src,
        &dst,
        "  objects:\n  - database: big\n    tables:\n    - name: t\n    - name: nokey\n  engine:\n    parallelism: 2\n    chunkRows: 50000\n  incremental: false\n",
    );
    let spawn = || ferry().args(["run", "--no-progress", "-f"]).arg(&m).arg("--state-dir").arg(dir.path()).spawn().unwrap();
    let mut d = dst.conn().await;
    // Waits until at least `n` ranges of big.t are committed, then returns them.
    async fn committed(d: &mut mysql_async::Conn, child: &mut std::process::Child, n: usize) -> Vec<(u32, u64)> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(Instant::now() < deadline, "no range was copied in time");
            assert!(child.try_wait().unwrap().is_none(), "ferry finished before it could be stopped");
            let done: Vec<(u32, u64)> = d
                .query("SELECT chunk, rows_copied FROM ferry_meta.copy_chunks WHERE src_table = 't' AND done = 1")
                .await
                .unwrap_or_default();
            if done.len() >= n {
                return done;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Ctrl-C: stops, says how to resume.
    let mut child = spawn();
    let done_before = committed(&mut d, &mut child, 2).await;
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let code = child.wait().unwrap();
    assert_eq!(code.code(), Some(1));
    let st = status(dir.path(), "resume");
    assert_eq!(st.phase, Some(ferry_crds::Phase::Failed));
    assert!(st.message.as_deref().unwrap_or("").contains("interrupted"), "{st:?}");

    // SIGKILL mid-table, in the resumed run.
    let mut child = spawn();
    committed(&mut d, &mut child, done_before.len() + 1).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let chunks_total: u64 = d.query_first("SELECT COUNT(*) FROM ferry_meta.copy_chunks WHERE src_table = 't'").await.unwrap().unwrap();
    assert!((done_before.len() as u64) < chunks_total, "killed mid-table: {} of {chunks_total} ranges done", done_before.len());
    let partial = count_rows(&mut d, "big.t").await;
    assert!(partial < 600_000, "killed before the end");

    // The source moves on: a re-run reads a newer snapshot.
    src.exec("INSERT INTO big.unselected VALUES (1), (2);").await;
    assert_ok(&run_ferry(&m, dir.path()));
    let mut s = src.conn().await;
    assert_same_table(&mut s, "big.t", &mut d, "big.t").await;
    assert_same_table(&mut s, "big.nokey", &mut d, "big.nokey").await;
    assert_eq!(duplicate_rows(&mut d, "big", "nokey").await, duplicate_rows(&mut s, "big", "nokey").await);
    // Ranges committed before the kill were not copied again: their records are unchanged.
    for (chunk, rows) in &done_before {
        let now: Option<u64> =
            d.exec_first("SELECT rows_copied FROM ferry_meta.copy_chunks WHERE src_table = 't' AND chunk = ?", (chunk,)).await.unwrap();
        assert_eq!(now, Some(*rows));
    }
    let positions: Vec<(String, u64)> =
        d.query("SELECT DISTINCT snapshot_file, snapshot_pos FROM ferry_meta.copy_chunks WHERE task = 'default/resume'").await.unwrap();
    assert!(positions.len() >= 2, "ranges from both runs keep their own snapshot positions: {positions:?}");
    let st = status(dir.path(), "resume");
    let cp = st.checkpoint.unwrap();
    assert!(cp.consistent_at.is_some(), "the checkpoint spans both snapshots: {cp:?}");
}

/// The target crashes (SIGKILL) in the middle of the copy and comes back: ferry does not exit,
/// it retries with backoff and resumes from the ranges the target committed, and the copy ends
/// exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_survives_a_target_crash_without_exiting() {
    let (src, mut dst) = pair().await;
    src.exec(
        "CREATE DATABASE big; USE big; CREATE TABLE big.t (id INT PRIMARY KEY, pad VARCHAR(200));
         INSERT INTO big.t SELECT seq, REPEAT('x', 150) FROM seq_1_to_400000; ANALYZE TABLE big.t;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(
        dir.path(),
        "crash",
        &src,
        &dst,
        "  objects:\n  - database: big\n  engine:\n    parallelism: 2\n    chunkRows: 20000\n  incremental: false\n",
    );
    let mut ferry = RunningFerry::start(&m, dir.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "no range was copied in time\n{}", ferry.describe());
        ferry.assert_running("before the target is killed");
        let mut d = dst.conn().await;
        let done: Option<u64> = d.query_first("SELECT COUNT(*) FROM ferry_meta.copy_chunks WHERE done = 1").await.unwrap_or_default();
        if done.unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dst.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    ferry.assert_running("with the target down");
    let st = status(dir.path(), "crash");
    assert_eq!(st.phase, Some(ferry_crds::Phase::Initializing), "{st:?}");
    dst.restart().await;

    let code = ferry.wait_exit(Duration::from_secs(180)).await;
    let code = code.unwrap_or_else(|| panic!("ferry did not finish after the target came back\n{}", ferry.describe()));
    assert!(code.success(), "ferry failed after the target came back: {code}\n{}", ferry.describe());
    let st = status(dir.path(), "crash");
    assert_eq!(st.phase, Some(ferry_crds::Phase::Finished), "{st:?}");
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_same_table(&mut s, "big.t", &mut d, "big.t").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_one_clear_line_and_writes_nothing_misleading() {
    let (src, dst) = pair().await;
    src.exec("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY);").await;
    let dir = tempfile::tempdir().unwrap();

    // A misspelt field: file, line and field named; exit 2; no state file.
    let m =
        write_task(dir.path(), "typo", &src, &dst, "  objects:\n  - database: shop\n  engine:\n    paralelism: 2\n  incremental: false\n");
    let out = run_ferry(&m, dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = std::fs::read_to_string(&m).unwrap().lines().position(|l| l.contains("paralelism")).unwrap() + 1;
    assert!(err.contains(&*m.to_string_lossy()) && err.contains("paralelism") && err.contains(&line.to_string()), "{err}");
    assert!(!dir.path().join("typo.status.yaml").exists());

    // A wrong password: one line naming the endpoint; the secret is nowhere.
    let m = write_task(dir.path(), "badpw", &src, &dst, "  objects:\n  - database: shop\n  incremental: false\n");
    let text = std::fs::read_to_string(&m).unwrap();
    let first = text.find(PASSWORD).unwrap();
    let text = format!("{}Wrong-Pass-9{}", &text[..first], &text[first + PASSWORD.len()..]);
    std::fs::write(&m, text).unwrap();
    let out = run_ferry(&m, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("source 127.0.0.1:{}", src.port())) && err.contains("Access denied"), "{err}");
    let st = std::fs::read_to_string(dir.path().join("badpw.status.yaml")).unwrap();
    assert!(st.contains("Failed") && !st.contains("Finished") && !st.contains("Wrong-Pass-9") && !st.contains(PASSWORD), "{st}");
    assert!(!err.contains("Wrong-Pass-9"));

    // Nobody listening: the endpoint is named.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let m = write_task(dir.path(), "down", &src, &dst, "  objects:\n  - database: shop\n  incremental: false\n");
    let text = std::fs::read_to_string(&m).unwrap().replace(&format!("port: {}", dst.port()), &format!("port: {free}"));
    std::fs::write(&m, text).unwrap();
    let out = run_ferry(&m, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("target 127.0.0.1:{free}")), "{err}");

    // A selected table that does not exist: the field is named, nothing is created on the target.
    let m = write_task(
        dir.path(),
        "missing",
        &src,
        &dst,
        "  objects:\n  - database: shop\n    tables:\n    - name: nope\n  incremental: false\n",
    );
    let out = run_ferry(&m, dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.objects[0].tables[0].name") && err.contains("shop.nope"), "{err}");
}

/// Many tables: created over several sessions at once, a kill in the middle of that is resumed
/// (tables half made are made again, none twice), small tables keep their indexes from the start
/// while a large one builds its own after the load, and the status lists a bounded number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tables_resume_a_schema_sync_killed_midway() {
    const TABLES: usize = 600;
    let (src, dst) = pair().await;
    let mut ddl = String::from("CREATE DATABASE many;");
    for i in 0..TABLES {
        ddl.push_str(&format!(
            "CREATE TABLE many.t{i} (id INT PRIMARY KEY, k INT NOT NULL, v VARCHAR(20), KEY k (k)); \
             INSERT INTO many.t{i} VALUES (1, {i}, 'a'), (2, {i}, NULL), (3, 0, 'c');"
        ));
    }
    ddl.push_str("CREATE TABLE many.big (id INT PRIMARY KEY, k INT NOT NULL, KEY k (k));");
    let rows: Vec<String> = (1..=12_000).map(|i| format!("({i}, {})", i % 77)).collect();
    ddl.push_str(&format!("INSERT INTO many.big VALUES {}; ANALYZE TABLE many.big;", rows.join(", ")));
    src.exec(&ddl).await;

    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "many", &src, &dst, "  objects:\n  - database: many\n  incremental: false\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    // Freeze the schema sync once a hundred tables are recorded (its workers wait on the record
    // of their next table), then kill ferry there.
    let mut d = dst.conn().await;
    let recorded = "SELECT COUNT(*) FROM ferry_meta.copy_tables";
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n: Option<u64> = d.query_first(recorded).await.ok().flatten();
        if n.unwrap_or(0) >= 100 {
            break;
        }
        assert!(Instant::now() < deadline && ferry.is_running(), "no table recorded: {}", ferry.describe());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.query_drop("LOCK TABLES ferry_meta.copy_tables WRITE").await.unwrap();
    let at_kill: u64 = d.query_first(recorded).await.unwrap().unwrap();
    assert!(ferry.kill());
    d.query_drop("UNLOCK TABLES").await.unwrap();
    assert!(at_kill < TABLES as u64, "the kill came after the schema sync ({at_kill} tables recorded)");

    assert_ok(&run_ferry(&m, dir.path()));
    let mut s = src.conn().await;
    assert_same_database(&mut s, "many", &mut d, "many").await;
    let total: u64 = d.query_first("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'many'").await.unwrap().unwrap();
    assert_eq!(total, TABLES as u64 + 1);
    // The large table's index waited for its rows; a small table had its index from the start.
    let deferred = |t: &str| format!("SELECT deferred_indexes FROM ferry_meta.copy_tables WHERE src_db = 'many' AND src_table = '{t}'");
    let big: Option<String> = d.query_first(deferred("big")).await.unwrap();
    assert!(big.as_deref().is_some_and(|j| j.contains("KEY")), "{big:?}");
    let small: Option<String> = d.query_first(deferred("t7")).await.unwrap();
    assert_eq!(small.as_deref(), Some("[]"));
    assert_eq!(show_create_table(&mut s, "many", "big").await, show_create_table(&mut d, "many", "big").await);
    let done: u64 = d.query_first("SELECT COUNT(*) FROM ferry_meta.copy_tables WHERE state = 'done'").await.unwrap().unwrap();
    assert_eq!(done, TABLES as u64 + 1);

    let full = status(dir.path(), "many").full_sync.unwrap();
    assert_eq!((full.tables_total, full.tables_done), (TABLES as u32 + 1, TABLES as u32 + 1));
    assert!(full.tables.len() <= 50, "the status lists {} tables", full.tables.len());
}
