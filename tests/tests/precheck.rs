//! `ferry precheck`, end to end: each item against a real private MariaDB set up to fail it, one
//! well set up pair on which everything passes, the JSON output and the exit codes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_crds::{Phase, PrecheckItem, PrecheckLevel, PrecheckResult, PrecheckStatus};
use ferry_e2e::*;
use mysql_async::prelude::*;

struct Outcome {
    code: Option<i32>,
    report: PrecheckStatus,
    stdout: String,
}

/// `ferry precheck --output json -f MANIFEST`, to run.
fn precheck_command(manifest: &Path) -> std::process::Command {
    let mut c = ferry();
    c.args(["precheck", "--output", "json", "-f"]).arg(manifest);
    c
}

/// `ferry precheck -f MANIFEST --output json`, parsed.
fn precheck(manifest: &Path) -> Outcome {
    let out = precheck_command(manifest).output().expect("run ferry precheck");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: PrecheckStatus = serde_saphyr::from_str(&stdout).unwrap_or_else(|e| {
        panic!("precheck output is not the report ({e}):\nstdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    Outcome { code: out.status.code(), report, stdout }
}

impl Outcome {
    #[track_caller]
    fn item(&self, id: &str) -> &PrecheckItem {
        self.report.items.iter().find(|i| i.id == id).unwrap_or_else(|| panic!("no item {id} in\n{}", self.stdout))
    }

    /// Asserts the item's level and result, and that message + remedy contain every `needle`.
    #[track_caller]
    fn expect(&self, id: &str, level: PrecheckLevel, result: PrecheckResult, needles: &[&str]) -> &PrecheckItem {
        let i = self.item(id);
        assert_eq!((i.level, i.result), (level, result), "{id}: {i:#?}");
        let text = format!("{} {}", i.message, i.remedy);
        for n in needles {
            assert!(text.contains(n), "{id}: {n:?} missing in {text}");
        }
        i
    }
}

use PrecheckLevel::{Error, Warning};
use PrecheckResult::{Failed, Passed, Skipped};

/// Replaces the credentials in the source (`role` "source") or target Secret of a manifest.
fn set_credentials(manifest: &Path, role: &str, user: &str, password: &str) {
    let text = std::fs::read_to_string(manifest).unwrap();
    let start = text.find(&format!("-{role}\ntype: Opaque")).expect("the Secret");
    let old = format!("  username: '{USER}'\n  password: '{PASSWORD}'\n");
    let at = start + text[start..].find(&old).expect("the Secret's credentials");
    let new = format!("  username: '{user}'\n  password: '{password}'\n");
    std::fs::write(manifest, format!("{}{new}{}", &text[..at], &text[at + old.len()..])).unwrap();
}

async fn databases(db: &TestServer) -> Vec<String> {
    db.conn().await.query("SHOW DATABASES").await.unwrap()
}

const SHOP: &str = "CREATE DATABASE shop;
     CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2));
     CREATE TABLE shop.items (id INT PRIMARY KEY, order_id INT, name VARCHAR(20));
     INSERT INTO shop.orders VALUES (1, 9.5), (2, 3);
     INSERT INTO shop.items VALUES (1, 1, 'a');";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_passes_on_a_well_set_up_pair_and_nothing_is_left_behind() {
    let (src, dst) = pair().await;
    src.exec(SHOP).await;
    // With the disks plugin the target can tell its free space.
    dst.exec("INSTALL SONAME 'disks';").await;
    let before = databases(&dst).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "good", &src, &dst, "  objects:\n  - database: shop\n");
    let o = precheck(&m);
    let failed: Vec<_> = o.report.items.iter().filter(|i| i.result != Passed).collect();
    assert!(failed.is_empty(), "not passed: {failed:#?}");
    assert!(o.report.passed && o.code == Some(0) && o.report.time.is_some());
    assert_eq!(o.report.items.len(), 26, "{}", o.stdout);
    o.expect("merge-keys", Warning, Passed, &["no table is merged"]);
    o.expect("target-free-space", Error, Passed, &["MiB free"]);
    o.expect("cascade", Error, Passed, &["log_slave_updates is ON"]);
    // Nothing created on the target (the privilege trial removed its scratch tables and databases).
    assert_eq!(databases(&dst).await, before);
    assert!(!o.stdout.contains(PASSWORD), "secrets are never printed");

    // The table for people: every item, the verdict, exit 0.
    let out = ferry().args(["precheck", "-f"]).arg(&m).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("ITEM") && text.contains("binlog-format") && text.contains("precheck passed"), "{text}");

    // `ferry run` prechecks, records the result in the status and goes on.
    let m2 = write_task(dir.path(), "good-run", &src, &dst, "  objects:\n  - database: shop\n  incremental: false\n");
    let out = run_ferry(&m2, dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let st = read_status(dir.path(), "good-run").unwrap();
    assert!(st.precheck.as_ref().is_some_and(|p| p.passed), "{st:?}");
    assert_eq!(st.phase, Some(Phase::Finished));
}

/// Many-to-one: several tasks' prechecks try their privileges on one target at once. Each
/// creates the missing databases, and drops them when empty, under a lock, so none sees another's
/// scratch database vanish under it, and nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prechecks_of_several_tasks_on_one_target_at_once() {
    let (src, dst) = pair().await;
    src.exec(SHOP).await;
    let before = databases(&dst).await;
    let dir = tempfile::tempdir().unwrap();
    let manifests: Vec<PathBuf> = (0..4)
        .map(|i| write_task(dir.path(), &format!("many{i}"), &src, &dst, "  objects:\n  - database: shop\n    rename: merged\n"))
        .collect();
    for round in 0..3 {
        let children: Vec<_> = manifests
            .iter()
            .map(|m| precheck_command(m).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap())
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let report: PrecheckStatus = serde_saphyr::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
            let item = report.items.iter().find(|i| i.id == "target-privileges").unwrap();
            assert_eq!(item.result, Passed, "round {round}: {item:#?}");
        }
        assert_eq!(databases(&dst).await, before, "round {round}: the trials left a database behind");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectivity_and_object_list_name_the_endpoint_and_the_field() {
    let (src, dst) = pair().await;
    src.exec(SHOP).await;
    let dir = tempfile::tempdir().unwrap();

    // Wrong source password, and nobody listening where the target should be.
    let m = write_task(dir.path(), "conn", &src, &dst, "  objects:\n  - database: shop\n");
    set_credentials(&m, "source", USER, "Wrong-Pass-7");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = std::fs::read_to_string(&m).unwrap().replace(&format!("port: {}", dst.port()), &format!("port: {free}"));
    std::fs::write(&m, text).unwrap();
    let o = precheck(&m);
    assert_eq!(o.code, Some(1));
    assert!(!o.report.passed);
    o.expect("source-connection", Error, Failed, &[&format!("127.0.0.1:{}", src.port()), "Access denied", "conn-source"]);
    o.expect("target-connection", Error, Failed, &[&format!("127.0.0.1:{free}"), "spec.target.port"]);
    o.expect("binlog-format", Error, Skipped, &["not reachable"]);
    assert!(!o.stdout.contains("Wrong-Pass-7") && !o.stdout.contains(PASSWORD), "secrets are never printed");

    // A database and a table that are not on the source.
    let m = write_task(
        dir.path(),
        "objs",
        &src,
        &dst,
        "  objects:\n  - database: shop\n    tables:\n    - name: orders\n    - name: nope\n  - database: gone\n",
    );
    let o = precheck(&m);
    assert_eq!(o.code, Some(1));
    o.expect("objects-exist", Error, Failed, &["spec.objects[0].tables[1].name", "shop.nope", "spec.objects[1].database", "gone"]);
    o.expect("source-connection", Error, Passed, &[]);

    // A bad manifest is exit 2, as for `ferry run`; so is skipping an error-level item.
    let m = write_task(dir.path(), "skiperr", &src, &dst, "  objects:\n  - database: shop\n  precheck:\n    skip: [primary-keys, binlog-format]\n");
    let out = ferry().args(["precheck", "-f"]).arg(&m).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.precheck.skip[1]") && err.contains("binlog-format") && err.contains("cannot be skipped"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binlog_settings_retention_and_server_id() {
    let bad = ServerOptions::source()
        .arg("--binlog-format=STATEMENT")
        .arg("--binlog-row-image=MINIMAL")
        .arg("--binlog-row-metadata=MINIMAL")
        .arg("--log-bin-compress=ON")
        .arg("--binlog-expire-logs-seconds=600");
    let (src, dst) = tokio::join!(TestServer::start(bad), TestServer::start(ServerOptions::target()));
    src.exec(SHOP).await;
    dst.exec(SHOP.replace("shop", "other").as_str()).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(
        dir.path(),
        "binlog",
        &src,
        &dst,
        &format!("  objects:\n  - database: shop\n  engine:\n    serverId: {}\n", src.server_id()),
    );
    let o = precheck(&m);
    assert_eq!(o.code, Some(1));
    o.expect("binlog-enabled", Error, Passed, &[]);
    o.expect("binlog-format", Error, Failed, &["STATEMENT", "SET GLOBAL binlog_format = 'ROW'"]);
    o.expect("binlog-row-image", Error, Failed, &["MINIMAL", "SET GLOBAL binlog_row_image = 'FULL'"]);
    // Not needed: the engine maps unnamed row-event columns through its tracked definitions.
    o.expect("binlog-row-metadata", Error, Passed, &["MINIMAL", "by position"]);
    o.expect("binlog-compression", Error, Failed, &["log_bin_compress", "SET GLOBAL log_bin_compress = OFF"]);
    o.expect("server-id", Error, Failed, &[&src.server_id().to_string(), "spec.engine.serverId"]);
    o.expect("binlog-retention", Warning, Failed, &["600 s", "SET GLOBAL binlog_expire_logs_seconds = "]);

    // Without incremental sync none of them matters.
    let m = write_task(dir.path(), "copyonly", &src, &dst, "  objects:\n  - database: shop\n  incremental: false\n");
    let o = precheck(&m);
    for id in ["binlog-format", "binlog-row-image", "binlog-compression", "server-id", "binlog-retention", "cascade"] {
        o.expect(id, o.item(id).level, Skipped, &["incremental: false"]);
    }
    assert!(o.report.passed, "{}", o.stdout);

    // A source without any binlog (the target server, read from).
    let m = write_task(dir.path(), "nobinlog", &dst, &src, "  objects:\n  - database: other\n");
    let o = precheck(&m);
    o.expect("binlog-enabled", Error, Failed, &["binary log is off", "log_bin"]);

    // `ferry run` refuses before moving anything, with the failing items in its one error line and
    // the whole report in the status.
    let out = run_ferry(&dir.path().join("binlog.yaml"), dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("precheck failed") && err.contains("binlog-format") && err.contains("SET GLOBAL binlog_format"), "{err}");
    let st = read_status(dir.path(), "binlog").unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    let report = st.precheck.expect("status.precheck");
    assert!(!report.passed);
    assert!(report.items.iter().any(|i| i.id == "binlog-format" && i.result == Failed));
    assert!(!databases(&dst).await.contains(&"shop".to_string()), "nothing created on the target");
    assert!(!databases(&dst).await.contains(&"ferry_meta".to_string()), "not even ferry's metadata");
}

/// Item 2 against servers that report other versions (MariaDB's `--version` sets what
/// `VERSION()` returns): a MySQL 5.0 source is refused; a target older than its source is an
/// untested pair, a warning that `spec.precheck.skip` may accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_refuse_old_sources_and_warn_on_untested_pairs() {
    let (old, newer, dst) = tokio::join!(
        TestServer::start(ServerOptions::source().arg("--version=5.0.96-log")),
        TestServer::start(ServerOptions::source().arg("--version=11.8.2-MariaDB-log")),
        TestServer::start(ServerOptions::target()),
    );
    let dir = tempfile::tempdir().unwrap();
    for src in [&old, &newer] {
        src.exec(SHOP).await;
    }
    let o = precheck(&write_task(dir.path(), "old", &old, &dst, "  objects:\n  - database: shop\n"));
    assert_eq!(o.code, Some(1));
    o.expect("source-version", Error, Failed, &["5.0.96-log", "not supported", "MySQL 5.1-8.x"]);
    o.expect("target-version", Error, Passed, &[]);

    let o = precheck(&write_task(dir.path(), "newer", &newer, &dst, "  objects:\n  - database: shop\n"));
    o.expect("source-version", Error, Passed, &["11.8.2-MariaDB-log"]);
    o.expect("version-pair", Warning, Failed, &["11.8.2-MariaDB-log", "target is older than the source", "spec.precheck.skip"]);
    assert!(o.report.passed, "a warning alone does not fail the precheck: {}", o.stdout);
    let o = precheck(&write_task(
        dir.path(),
        "accepted",
        &newer,
        &dst,
        "  objects:\n  - database: shop\n  precheck:\n    skip: [version-pair]\n",
    ));
    o.expect("version-pair", Warning, Skipped, &["accepted by spec.precheck.skip[0]"]);
}

/// Bytes in a server's binary logs.
async fn binlog_bytes(db: &TestServer) -> u64 {
    let logs: Vec<mysql_async::Row> = db.conn().await.query("SHOW BINARY LOGS").await.unwrap();
    logs.iter().map(|r| r.get::<u64, _>(1).unwrap()).sum()
}

/// Seconds in the retention item's "estimated full sync 1.5 h" (see `human` in the engine).
fn estimated_seconds(message: &str) -> f64 {
    let rest = message.split("estimated full sync ").nth(1).unwrap_or_else(|| panic!("no estimate in {message}"));
    let mut words = rest.split_whitespace();
    let n: f64 = words.next().unwrap().parse().unwrap();
    match words.next().unwrap().trim_start_matches('(') {
        "s" => n,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        unit => panic!("unit {unit} in {message}"),
    }
}

/// Item 4 estimates the full sync from rates measured on both servers, not from a constant: a
/// table of wide rows takes longer per row to read and to write than one of narrow rows, and
/// the estimate says so. (The servers' statistics are made to claim 100M rows in each table.)
/// Then the same table against a target whose disk is too small fails item 8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_estimate_uses_measured_copy_rates_and_free_space_falls_short() {
    // A target with a binlog of its own (as in a cascade), which the sample rows stay out of.
    let (mut src, dst) = tokio::join!(TestServer::start(ServerOptions::source()), TestServer::start(ServerOptions::source()));
    src.exec(
        "CREATE DATABASE big;
         CREATE TABLE big.narrow (id INT PRIMARY KEY);
         CREATE TABLE big.wide (id INT PRIMARY KEY, body LONGBLOB);
         INSERT INTO big.narrow SELECT seq FROM big.seq_1_to_50000;
         INSERT INTO big.wide SELECT seq, REPEAT(MD5(seq), 256) FROM big.seq_1_to_6000;
         ANALYZE TABLE big.narrow, big.wide;
         UPDATE mysql.innodb_table_stats SET n_rows = 100000000 WHERE database_name = 'big';",
    )
    .await;
    // Statistics are read from mysql.innodb_table_stats when a table is first opened.
    src.restart().await;
    let rows: u64 = src.conn().await.query_first("SELECT MIN(TABLE_ROWS) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'big'").await.unwrap().unwrap();
    assert_eq!(rows, 100_000_000);
    let dir = tempfile::tempdir().unwrap();
    let mut estimates = Vec::new();
    for table in ["narrow", "wide"] {
        let m = write_task(dir.path(), table, &src, &dst, &format!("  objects:\n  - database: big\n    tables:\n    - name: {table}\n"));
        let binlog_before = binlog_bytes(&dst).await;
        let o = precheck(&m);
        let logged = binlog_bytes(&dst).await - binlog_before;
        assert!(logged < 64 << 10, "the sample rows reached the target's binlog: {logged} bytes");
        let item = o.item("binlog-retention");
        let msg = &item.message;
        assert!(msg.contains(&format!("measured reading big.{table}")) && msg.contains("writing the target"), "{msg}");
        assert!(msg.contains("100000000 rows"), "{msg}");
        estimates.push(estimated_seconds(msg));
        // The trial wrote its sample rows into a scratch table and removed it.
        assert!(!databases(&dst).await.contains(&"ferry_meta".to_string()));
    }
    // 8 KiB rows against 4-byte rows: per row, far slower to read and to write.
    assert!(estimates[1] > 3.0 * estimates[0], "estimates {estimates:?}");

    // Item 8: the wide table (about 48 MiB) against a target whose data folder is a 64 MiB
    // tmpfs, half of it taken by the server's own files.
    let small = TestServer::start(ServerOptions::target().small_disk(64)).await;
    small.exec("INSTALL SONAME 'disks';").await;
    let o = precheck(&write_task(dir.path(), "full", &src, &small, "  objects:\n  - database: big\n    tables:\n    - name: wide\n"));
    o.expect("target-free-space", Error, Failed, &["MiB free on the target", "free space on the target's data volume"]);
    assert_eq!(o.code, Some(1));
    // The same data fits the ordinary target.
    dst.exec("INSTALL SONAME 'disks';").await;
    let o = precheck(&write_task(dir.path(), "fits", &src, &dst, "  objects:\n  - database: big\n    tables:\n    - name: wide\n"));
    o.expect("target-free-space", Error, Passed, &["MiB free on the target"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileges_name_the_missing_grants() {
    let (src, dst) = pair().await;
    src.exec(&format!(
        "{SHOP}
         CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE total > 5;
         CREATE USER 'lim'@'%' IDENTIFIED BY 'Lim-Pass-1';
         GRANT SELECT ON shop.orders TO 'lim'@'%';"
    ))
    .await;
    dst.exec(
        "CREATE USER 'lim'@'%' IDENTIFIED BY 'Lim-Pass-1';
         GRANT ALL PRIVILEGES ON `shop`.* TO 'lim'@'%';",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "grants", &src, &dst, "  objects:\n  - database: shop\n");
    set_credentials(&m, "source", "lim", "Lim-Pass-1");
    set_credentials(&m, "target", "lim", "Lim-Pass-1");
    let o = precheck(&m);
    assert_eq!(o.code, Some(1));
    let s = o.expect("source-privileges", Error, Failed, &["'lim'@'%'", "SELECT", "SHOW VIEW", "REPLICATION SLAVE", "BINLOG MONITOR"]);
    assert!(s.remedy.contains("GRANT SELECT, SHOW VIEW ON `shop`.* TO 'lim'@'%';"), "{}", s.remedy);
    assert!(s.remedy.contains("GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO 'lim'@'%';"), "{}", s.remedy);
    let t = o.expect("target-privileges", Error, Failed, &["ferry_meta"]);
    assert!(t.remedy.contains("GRANT ALL PRIVILEGES ON `ferry_meta`.* TO 'lim'@'%';"), "{}", t.remedy);
    assert!(!t.remedy.contains("`shop`"), "ALL on shop is there: {}", t.remedy);
    // The trial created shop on the target (the user may) and removed it again.
    assert!(!databases(&dst).await.contains(&"shop".to_string()));

    // Granted as the remedies say, both pass.
    src.exec(&format!("{} {}", s.remedy, "FLUSH PRIVILEGES;")).await;
    dst.exec(&t.remedy).await;
    let o = precheck(&m);
    o.expect("source-privileges", Error, Passed, &[]);
    o.expect("target-privileges", Error, Passed, &[]);
    assert!(o.report.passed, "{}", o.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_items_keys_existing_tables_foreign_keys_triggers_and_collisions() {
    let (src, dst) = pair().await;
    src.exec(&format!(
        "{SHOP}
         CREATE TABLE shop.log (msg VARCHAR(100), at DATETIME);
         CREATE TABLE shop.lines (id INT PRIMARY KEY, order_id INT, FOREIGN KEY fk_order (order_id) REFERENCES shop.orders (id)) ENGINE=InnoDB;
         CREATE TRIGGER shop.audit AFTER INSERT ON shop.orders FOR EACH ROW INSERT INTO shop.log VALUES ('new order', NOW());
         CREATE DATABASE crm;
         CREATE TABLE crm.orders (id INT PRIMARY KEY);"
    ))
    .await;
    dst.exec("CREATE DATABASE shop_v2; CREATE TABLE shop_v2.orders (id INT PRIMARY KEY);").await;
    let dir = tempfile::tempdir().unwrap();
    // shop goes to shop_v2 (where orders already is); lines is selected without its parent orders.
    let tail = "  objects:\n  - database: shop\n    rename: shop_v2\n    tables:\n    - name: orders\n    - name: log\n  - database: crm\n    rename: shop_v2\n";
    let m = write_task(dir.path(), "schema", &src, &dst, tail);
    let o = precheck(&m);
    assert_eq!(o.code, Some(1));
    o.expect("primary-keys", Warning, Failed, &["shop.log", "ADD COLUMN"]);
    o.expect("existing-tables", Error, Failed, &["shop_v2.orders", "PrecheckAndIntercept", "DROP TABLE `shop_v2`.`orders`"]);
    o.expect("name-collisions", Error, Failed, &["shop.orders and crm.orders both map to target table shop_v2.orders"]);
    o.expect("source-triggers", Warning, Failed, &["shop.audit", "shop.log", "cut-over"]);
    o.expect("foreign-keys", Warning, Passed, &[]);

    // Under existingTables: Ignore the same table is a warning; the child without its parent is one too.
    let tail = "  objects:\n  - database: shop\n    rename: shop_v2\n    tables:\n    - name: lines\n    - name: orders\n  existingTables: Ignore\n";
    let m = write_task(dir.path(), "ignore", &src, &dst, tail);
    let o = precheck(&m);
    o.expect("existing-tables", Warning, Failed, &["shop_v2.orders", "Ignore keeps them"]);
    o.expect("name-collisions", Error, Passed, &[]);
    o.expect("foreign-keys", Warning, Passed, &[]);
    let tail = "  objects:\n  - database: shop\n    tables:\n    - name: lines\n";
    let m = write_task(dir.path(), "orphan", &src, &dst, tail);
    let o = precheck(&m);
    o.expect("foreign-keys", Warning, Failed, &["shop.lines (fk_order) references shop.orders", "DROP FOREIGN KEY `fk_order`"]);
    assert!(o.report.passed, "warnings only: {}", o.stdout);

    // Accepted warnings are reported as Skipped.
    let tail = "  objects:\n  - database: shop\n  precheck:\n    skip: [primary-keys, source-triggers, target-free-space]\n";
    let m = write_task(dir.path(), "accepted", &src, &dst, tail);
    let o = precheck(&m);
    o.expect("primary-keys", Warning, Skipped, &["spec.precheck.skip[0]", "shop.log"]);
    o.expect("source-triggers", Warning, Skipped, &["spec.precheck.skip[1]"]);
    o.expect("target-free-space", Warning, Skipped, &["cannot tell its free space"]);
    assert!(o.report.passed && o.code == Some(0), "{}", o.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_settings_and_case_folding_collisions() {
    let target = ServerOptions::target()
        .arg("--lower-case-table-names=1")
        .arg("--sql-mode=ANSI_QUOTES,STRICT_TRANS_TABLES")
        .arg("--explicit-defaults-for-timestamp=OFF")
        .arg("--default-time-zone=+03:00");
    let (src, dst) = tokio::join!(TestServer::start(ServerOptions::source()), TestServer::start(target));
    src.exec("CREATE DATABASE app; CREATE TABLE app.Users (id INT PRIMARY KEY); CREATE TABLE app.users (id INT PRIMARY KEY);").await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "settings", &src, &dst, "  objects:\n  - database: app\n");
    let o = precheck(&m);
    o.expect("name-collisions", Error, Failed, &["app.Users", "app.users", "both map to target table", "lower_case_table_names"]);
    o.expect(
        "server-settings",
        Warning,
        Failed,
        &[
            "sql_mode differs",
            "ANSI_QUOTES",
            "time_zone differs",
            "+03:00",
            "lower_case_table_names differs (source 0, target 1)",
            "explicit_defaults_for_timestamp differs",
            "SET GLOBAL explicit_defaults_for_timestamp = ON",
            "lower_case_table_names=0",
        ],
    );
    assert_eq!(o.code, Some(1));
}

/// A copy of the server's character set folder with one more (UCA-tailored) collation.
fn charsets_with_extra_collation(dir: &Path) -> PathBuf {
    let from = Path::new("/usr/share/mysql/charsets");
    let to = dir.join("charsets");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(from).expect("MariaDB's charsets folder") {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    let index = to.join("Index.xml");
    let text = std::fs::read_to_string(&index).unwrap();
    let at = text.find("<charset name=\"utf8mb3\">").expect("utf8mb3 in Index.xml");
    let end = at + text[at..].find("</charset>").unwrap();
    let extra = "  <collation name=\"utf8mb3_ferry_test_ci\" id=\"1800\">\n    <rules><reset>a</reset><i>b</i></rules>\n  </collation>\n";
    std::fs::write(&index, format!("{}{extra}{}", &text[..end], &text[end..])).unwrap();
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collations_missing_on_the_target_and_free_space_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let cs = charsets_with_extra_collation(dir.path());
    let source = ServerOptions::source().arg(format!("--character-sets-dir={}", cs.display()));
    let (src, dst) = tokio::join!(TestServer::start(source), TestServer::start(ServerOptions::target()));
    src.exec(
        "CREATE DATABASE intl;
         CREATE TABLE intl.words (id INT PRIMARY KEY, w VARCHAR(20) CHARACTER SET utf8mb3 COLLATE utf8mb3_ferry_test_ci);",
    )
    .await;
    let m = write_task(dir.path(), "intl", &src, &dst, "  objects:\n  - database: intl\n");
    let o = precheck(&m);
    o.expect("charsets", Error, Failed, &["utf8mb3_ferry_test_ci", "intl.words.w", "CONVERT TO CHARACTER SET utf8mb3"]);
    // This target has no disks plugin: it cannot tell its free space, which is a warning.
    o.expect("target-free-space", Warning, Failed, &["cannot tell", "INSTALL SONAME 'disks'"]);
    assert_eq!(o.code, Some(1));
}

/// What a source written by replication needs (cascade A -> B -> C, the task reading B). ferry
/// writes to B as a client, and B's binary log records client writes whatever log_slave_updates
/// says: B needs log_bin, not log_slave_updates (checked here and in topologies.rs, where the
/// changes reach C). A native replica does need log_slave_updates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascade_needs_the_middle_server_to_log_what_it_applies() {
    let middle = ServerOptions::source().arg("--log-slave-updates=OFF");
    let (a, b, nolog) = tokio::join!(
        TestServer::start(ServerOptions::source()),
        TestServer::start(middle),
        TestServer::start(ServerOptions::target())
    );
    a.exec(SHOP).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, target) in [("upstream", &b), ("upstream-nolog", &nolog)] {
        let up = write_task(dir.path(), name, &a, target, "  objects:\n  - database: shop\n");
        let mut ferry = RunningFerry::start(&up, dir.path());
        ferry.wait_for_phase(Phase::Synchronizing, Duration::from_secs(60)).await;
        ferry.kill();
    }

    // B: the target of a ferry task, log_bin on, log_slave_updates off: fine.
    let down = write_task(dir.path(), "downstream", &b, &a, "  objects:\n  - database: shop\n");
    let o = precheck(&down);
    o.expect("cascade", Error, Passed, &["target of another ferry task", "ferry_meta", "as a client", "log_slave_updates"]);
    // A target without a binary log cannot pass on what ferry applies there.
    let o = precheck(&write_task(dir.path(), "downstream-nolog", &nolog, &a, "  objects:\n  - database: shop\n"));
    o.expect("cascade", Error, Failed, &["target of another ferry task", "binary log is off", "log_bin"]);
    assert_eq!(o.code, Some(1));
    // B as a native replica of A too, with log_slave_updates off: what replication applies is lost.
    b.exec(&format!(
        "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = '{USER}', MASTER_PASSWORD = '{PASSWORD}';",
        a.port()
    ))
    .await;
    let o = precheck(&down);
    o.expect("cascade", Error, Failed, &["it is a replica", "log_slave_updates is OFF", "log_slave_updates=ON"]);
    assert_eq!(o.code, Some(1));
    // Its own source (A) is not written by replication: nothing to say there.
    let o = precheck(&dir.path().join("upstream.yaml"));
    o.expect("cascade", Error, Passed, &[]);
}
