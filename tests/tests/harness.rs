//! Tests of the harness itself: servers, cleanup, manifests, checksums.

use ferry_e2e::*;
use mysql_async::prelude::*;

/// A server variable as text, booleans as "1"/"0".
async fn var(conn: &mut mysql_async::Conn, name: &str) -> String {
    let v = conn.query_first::<String, _>(format!("SELECT CAST(@@{name} AS CHAR)")).await.unwrap().unwrap();
    match v.as_str() {
        "ON" => "1".into(),
        "OFF" => "0".into(),
        _ => v,
    }
}

#[tokio::test]
async fn two_servers_start_with_the_right_settings_and_vanish_on_drop() {
    let (src, dst) = tokio::join!(TestServer::start(ServerOptions::source()), TestServer::start(ServerOptions::target()));
    assert_ne!(src.port(), dst.port());
    assert_ne!(src.server_id(), dst.server_id());
    assert_eq!(src.host(), "127.0.0.1");

    // The ferry user over TCP, from 127.0.0.1.
    let mut s = src.conn().await;
    assert_eq!(var(&mut s, "log_bin").await, "1");
    assert_eq!(var(&mut s, "binlog_format").await, "ROW");
    assert_eq!(var(&mut s, "binlog_row_image").await, "FULL");
    assert_eq!(var(&mut s, "log_slave_updates").await, "1");
    match src.flavor() {
        Flavor::MariaDb => {
            assert_eq!(var(&mut s, "binlog_row_metadata").await, "FULL");
            assert_eq!(var(&mut s, "log_bin_compress").await, "0");
        }
        // MySQL's defaults: MINIMAL row metadata; GTIDs on.
        Flavor::MySql => {
            assert_eq!(var(&mut s, "binlog_row_metadata").await, "MINIMAL");
            assert_eq!(var(&mut s, "gtid_mode").await, "1");
            let v: String = s.query_first("SELECT VERSION()").await.unwrap().unwrap();
            assert!(!v.to_ascii_lowercase().contains("mariadb"), "{v}");
        }
    }
    assert_eq!(src.flavor(), default_flavor());
    assert_eq!(var(&mut s, "server_id").await, src.server_id().to_string());
    let me: String = s.query_first("SELECT CURRENT_USER()").await.unwrap().unwrap();
    assert!(me.starts_with("ferry@"), "{me}");
    let grants: Vec<String> = s.query("SHOW GRANTS").await.unwrap();
    // MySQL lists ALL PRIVILEGES one by one, its dynamic privileges in a line of their own.
    let all = |g: &String| g.contains("ALL PRIVILEGES ON *.*") || g.contains("GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, RELOAD");
    assert!(grants.iter().any(|g| all(g) && g.contains("WITH GRANT OPTION")), "{grants:?}");
    let via_tcp: Option<String> =
        s.query_first("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()").await.unwrap();
    assert!(via_tcp.unwrap().starts_with("127.0.0.1:"), "not a TCP connection");
    s.disconnect().await.unwrap();

    let mut d = dst.conn().await;
    assert_eq!(var(&mut d, "log_bin").await, "0");
    d.disconnect().await.unwrap();

    let dirs = [src.datadir(), dst.datadir()];
    let pids = [src.pid().unwrap(), dst.pid().unwrap()];
    assert!(dirs.iter().all(|d| d.is_dir()));
    assert!(pids.iter().all(|p| !process_exited(*p)));
    drop(src);
    drop(dst);
    for d in &dirs {
        assert!(!d.exists(), "{} still exists", d.display());
    }
    for p in pids {
        assert!(process_exited(p), "server {p} still runs");
    }
}

#[test]
fn a_panicking_test_does_not_leak_its_server() {
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            let db = TestServer::start(ServerOptions::target()).await;
            tx.send((db.pid().unwrap(), db.datadir())).unwrap();
            panic!("on purpose");
        })
    })
    .join();
    assert!(outcome.is_err());
    let (pid, dir) = rx.recv().unwrap();
    assert!(process_exited(pid), "mariadbd {pid} survived the panic");
    assert!(!dir.exists(), "{} survived the panic", dir.display());
}

#[tokio::test]
async fn stop_kill_and_restart_keep_the_data() {
    let mut db = TestServer::start(ServerOptions::source()).await;
    let port = db.port();
    db.exec("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY); INSERT INTO d.t VALUES (1),(2);").await;
    let pid = db.pid().unwrap();
    db.stop().await;
    assert!(process_exited(pid));
    assert!(!db.is_running());
    assert!(mysql_async::Conn::new(db.opts()).await.is_err());
    db.restart().await;
    assert_eq!(db.port(), port);
    assert!(db.is_running());
    db.exec("INSERT INTO d.t VALUES (3)").await;
    db.kill();
    db.restart().await;
    let mut c = db.conn().await;
    assert_eq!(count_rows(&mut c, "d.t").await, 3);
    assert_eq!(db.exec("SELECT @@log_bin").await.trim(), "1");
}

#[tokio::test]
async fn exec_runs_scripts_with_delimiters_and_reports_errors() {
    let db = TestServer::start(ServerOptions::target()).await;
    db.exec(
        "CREATE DATABASE d;\nUSE d;\nDELIMITER //\nCREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC\nBEGIN\n  RETURN x + 1;\nEND//\nDELIMITER ;\n",
    )
    .await;
    assert_eq!(db.exec_in(Some("d"), "SELECT f(41)").await.trim(), "42");
    let failed = tokio::spawn(async move { db.exec("SELECT * FROM nope.nope").await }).await;
    let msg = failed.unwrap_err().into_panic();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(msg.contains("nope"), "{msg}");
}

#[tokio::test]
async fn checksums_are_order_independent_and_byte_exact() {
    let (a, b) = tokio::join!(TestServer::start(ServerOptions::target()), TestServer::start(ServerOptions::target()));
    let schema = "CREATE DATABASE d; CREATE TABLE d.t (
        id INT, s VARCHAR(20) COLLATE utf8mb4_general_ci, b VARBINARY(8), n DECIMAL(10,2),
        f DOUBLE, ts TIMESTAMP(3) NULL, dt DATETIME(6), j JSON, e ENUM('x','y'), bits BIT(5),
        u BIGINT UNSIGNED, big LONGBLOB);";
    a.exec(schema).await;
    b.exec(schema).await;
    let rows = [
        "(1, 'héllo 😀', x'00ff', 1.50, 0.1, '2024-01-02 03:04:05.678', '2024-01-02 03:04:05.123456', '{\"k\": [1, 2]}', 'y', b'10101', 18446744073709551615, REPEAT('z', 100000))",
        "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "(3, '', '', 0, -0.5, '1970-01-01 00:00:01', '1000-01-01 00:00:00', 'null', 'x', b'0', 0, '')",
    ];
    a.exec(&format!("INSERT INTO d.t VALUES {}", rows.join(","))).await;
    let reversed: Vec<_> = rows.iter().rev().cloned().collect();
    b.exec(&format!("INSERT INTO d.t VALUES {}", reversed.join(","))).await;

    let (mut ca, mut cb) = (a.conn().await, b.conn().await);
    // Another insertion order, and a reader in another time zone: not a difference.
    cb.query_drop("SET time_zone = '+05:00'").await.unwrap();
    assert_same_table(&mut ca, "d.t", &mut cb, "d.t").await;
    assert_same_database(&mut ca, "d", &mut cb, "d").await;
    let (n, _) = table_checksum(&mut ca, "d", "t").await;
    assert_eq!(n, 3);

    // Each of these must be seen as a difference.
    let changes = [
        "UPDATE d.t SET s = 'HÉLLO 😀' WHERE id = 1", // equal under the collation, not in bytes
        "UPDATE d.t SET s = '' WHERE id = 2",         // NULL vs empty
        "UPDATE d.t SET n = 1.5 WHERE id = 3",        // 0.00 vs 1.50
        "UPDATE d.t SET big = CONCAT(REPEAT('z', 99999), 'y') WHERE id = 1", // late byte of a big value
        "UPDATE d.t SET bits = b'10100' WHERE id = 1",
        "UPDATE d.t SET dt = '2024-01-02 03:04:05.123457' WHERE id = 1",
        "UPDATE d.t SET u = 18446744073709551614 WHERE id = 1",
        "UPDATE d.t SET f = 0.1000001 WHERE id = 1",
    ];
    for change in changes {
        let before = table_checksum(&mut cb, "d", "t").await;
        b.exec(&format!("CREATE TABLE d.keep AS SELECT * FROM d.t; {change};")).await;
        let after = table_checksum(&mut cb, "d", "t").await;
        assert_ne!(before, after, "not detected: {change}");
        b.exec("DELETE FROM d.t; INSERT INTO d.t SELECT * FROM d.keep; DROP TABLE d.keep;").await;
        assert_eq!(table_checksum(&mut cb, "d", "t").await, before);
    }
}

#[tokio::test]
async fn duplicates_are_counted() {
    let db = TestServer::start(ServerOptions::target()).await;
    db.exec(
        "CREATE DATABASE d; CREATE TABLE d.a (x INT, y TEXT); CREATE TABLE d.b LIKE d.a;
             INSERT INTO d.a VALUES (1,'p'),(1,'p'),(2,'q'),(2,'q');
             INSERT INTO d.b VALUES (3,'r'),(3,'r'),(3,'r'),(4,NULL),(4,NULL),(5,'s');",
    )
    .await;
    let mut c = db.conn().await;
    assert_eq!(duplicate_rows(&mut c, "d", "a").await, 2);
    assert_eq!(duplicate_rows(&mut c, "d", "b").await, 3);
    // A multiset: {A,A,B,B} and {A,B} differ although an XOR of row hashes would not see it.
    db.exec(
        "CREATE TABLE d.c LIKE d.a; INSERT INTO d.c VALUES (1,'p'),(2,'q'),(1,'p'),(2,'q');
             CREATE TABLE d.e LIKE d.a; INSERT INTO d.e VALUES (1,'p'),(1,'p'),(1,'p'),(1,'p');",
    )
    .await;
    assert_eq!(table_checksum(&mut c, "d", "a").await, table_checksum(&mut c, "d", "c").await);
    assert_ne!(table_checksum(&mut c, "d", "a").await, table_checksum(&mut c, "d", "e").await);
}

#[tokio::test]
async fn write_task_produces_a_valid_synctask() {
    let (src, dst) = tokio::join!(TestServer::start(ServerOptions::source()), TestServer::start(ServerOptions::target()));
    let dir = tempfile::tempdir().unwrap();
    let path =
        write_task(dir.path(), "t1", &src, &dst, "  objects:\n  - database: shop\n  incremental: false\n  engine:\n    parallelism: 2\n");
    let text = std::fs::read_to_string(&path).unwrap();
    let docs: Vec<&str> = text.split("\n---\n").collect();
    assert_eq!(docs.len(), 3, "{text}");
    assert!(docs[0].contains("name: t1-source") && docs[0].contains("password: 'ferry-Secret-1'"));
    let task: ferry_crds::SyncTask = serde_saphyr::from_str(docs[2]).expect("a SyncTask");
    assert_eq!(task.metadata.name.as_deref(), Some("t1"));
    assert_eq!(task.spec.source.port, src.port());
    assert_eq!(task.spec.target.port, dst.port());
    assert_eq!(task.spec.source.credentials_secret, "t1-source");
    assert_eq!(task.spec.target.tls.as_ref().unwrap().mode, ferry_crds::TlsMode::Disabled);
    assert_eq!(task.spec.objects[0].database, "shop");
    assert!(!task.spec.incremental);
    assert_eq!(task.spec.engine.parallelism, 2);
}
