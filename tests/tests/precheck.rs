//! `ferry precheck`, end to end: each item against real private servers set up to fail it, one
//! well set up pair on which everything passes, the JSON output and the exit codes.
//!
//! Every test runs on the flavour of `$FERRY_TEST_FLAVOR` (MariaDB 10.11 or MySQL 9.7; `make test`
//! runs both). What differs between them (variable and statement names, privileges, what a
//! server can tell) is in the small helpers below; where an item is specific to one flavour, the
//! test says so and asserts what the other flavour does instead.

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

// ---- what differs between the flavours -------------------------------------------------------

/// The variable that makes a replica log what it applies.
fn replica_updates_variable(f: Flavor) -> &'static str {
    match f {
        Flavor::MariaDb => "log_slave_updates",
        Flavor::MySql => "log_replica_updates",
    }
}

/// Makes `db` a replica (not started) of the server on `port`.
fn change_source_sql(f: Flavor, port: u16) -> String {
    match f {
        Flavor::MariaDb => format!(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {port}, MASTER_USER = '{USER}', MASTER_PASSWORD = '{PASSWORD}';"
        ),
        Flavor::MySql => format!(
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST = '127.0.0.1', SOURCE_PORT = {port}, SOURCE_USER = '{USER}', SOURCE_PASSWORD = '{PASSWORD}';"
        ),
    }
}

/// The variable that compresses the binlog: MariaDB's compressed events (which ferry cannot
/// read), MySQL's compressed transactions (which it reads).
fn compression_variable(f: Flavor) -> &'static str {
    match f {
        Flavor::MariaDb => "log_bin_compress",
        Flavor::MySql => "binlog_transaction_compression",
    }
}

/// The privilege SHOW MASTER STATUS / SHOW BINARY LOG STATUS takes, as SHOW GRANTS names it.
fn binlog_monitor_privilege(f: Flavor) -> &'static str {
    match f {
        Flavor::MariaDb => "BINLOG MONITOR",
        Flavor::MySql => "REPLICATION CLIENT",
    }
}

/// `user` logs in with `role` active.
fn default_role_sql(f: Flavor, role: &str, user: &str) -> String {
    match f {
        Flavor::MariaDb => format!("SET DEFAULT ROLE {role} FOR {user};"),
        Flavor::MySql => format!("SET DEFAULT ROLE {role} TO {user};"),
    }
}

/// A user with a password; on MySQL a `caching_sha2_password` account (its default), which
/// ferry logs in with over a connection without TLS.
fn create_user_sql(f: Flavor, user: &str, password: &str) -> String {
    match f {
        Flavor::MariaDb => format!("CREATE USER {user} IDENTIFIED BY '{password}';"),
        Flavor::MySql => {
            format!("CREATE USER {user} IDENTIFIED WITH caching_sha2_password BY '{password}';")
        }
    }
}

/// Only MariaDB tells its free space over SQL (its `disks` plugin); MySQL has no way to.
async fn let_target_tell_free_space(dst: &TestServer) -> bool {
    match dst.flavor() {
        Flavor::MariaDb => {
            dst.exec("INSTALL SONAME 'disks';").await;
            true
        }
        Flavor::MySql => false,
    }
}

/// What the version-pair item calls the release line of a server of this flavour.
fn release(f: Flavor) -> &'static str {
    match f {
        Flavor::MariaDb => "MariaDB 10.11",
        Flavor::MySql => "MySQL 9.7",
    }
}

const SHOP: &str = "CREATE DATABASE shop;
     CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2));
     CREATE TABLE shop.items (id INT PRIMARY KEY, order_id INT, name VARCHAR(20));
     INSERT INTO shop.orders VALUES (1, 9.5), (2, 3);
     INSERT INTO shop.items VALUES (1, 1, 'a');";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_passes_on_a_well_set_up_pair_and_nothing_is_left_behind() {
    let (src, dst) = pair().await;
    let f = src.flavor();
    src.exec(SHOP).await;
    // With the disks plugin a MariaDB target can tell its free space; a MySQL target cannot,
    // and that item is its one warning.
    let tells_free_space = let_target_tell_free_space(&dst).await;
    let before = databases(&dst).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "good", &src, &dst, "  objects:\n  - database: shop\n");
    let o = precheck(&m);
    let failed: Vec<_> =
        o.report.items.iter().filter(|i| i.result != Passed && (tells_free_space || i.id != "target-free-space")).collect();
    assert!(failed.is_empty(), "not passed: {failed:#?}");
    assert!(o.report.passed && o.code == Some(0) && o.report.time.is_some());
    assert_eq!(o.report.items.len(), 26, "{}", o.stdout);
    o.expect("merge-keys", Warning, Passed, &["no table is merged"]);
    if tells_free_space {
        o.expect("target-free-space", Error, Passed, &["MiB free"]);
    } else {
        o.expect("target-free-space", Warning, Failed, &["cannot tell its free space", "MySQL tells no free space over SQL"]);
    }
    o.expect("cascade", Error, Passed, &[&format!("{} is ON", replica_updates_variable(f))]);
    o.expect("version-pair", Warning, Passed, &["is a tested pair", &format!("{} -> {}", release(f), release(f))]);
    // The harness's MariaDB logs FULL row metadata, MySQL its default MINIMAL: neither is needed.
    o.expect("binlog-row-metadata", Error, Passed, &["not needed"]);
    o.expect("source-privileges", Error, Passed, &["has what the task needs"]);
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

/// `ferry precheck --state-dir` records its report as the operator records its Job's; a start of
/// the spec it checked goes straight to work, a start of another spec under that name does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_precheck_of_the_same_spec_is_not_run_again() {
    let (src, dst) = pair().await;
    src.exec(SHOP).await;
    let dir = tempfile::tempdir().unwrap();
    // A run of another spec under that name prechecks again (and this one fails: no such
    // database)...
    let spec = "  objects:\n  - database: shop\n  incremental: false\n";
    let record = |m: &Path| {
        let out = precheck_command(m).arg("--state-dir").arg(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        read_status(dir.path(), "prechecked").unwrap().precheck.expect("the report is recorded")
    };
    let recorded = record(&write_task(dir.path(), "prechecked", &src, &dst, spec));
    assert!(recorded.passed && recorded.spec_hash.is_some(), "{recorded:?}");
    let other = write_task(dir.path(), "prechecked", &src, &dst, "  objects:\n  - database: nosuchdb\n  incremental: false\n");
    let out = run_ferry(&other, dir.path());
    assert!(!out.status.success(), "a spec the recorded precheck did not check is prechecked");
    let again = read_status(dir.path(), "prechecked").unwrap().precheck.unwrap();
    assert!(!again.passed && again.spec_hash.is_some() && again.spec_hash != recorded.spec_hash, "{again:?}");
    // ... and a run of the spec it checked starts without: its status keeps that very report.
    let m3 = write_task(dir.path(), "prechecked", &src, &dst, spec);
    let recorded = record(&m3);
    let out = ferry().args(["run", "-v", "--no-progress", "-f"]).arg(&m3).arg("--state-dir").arg(dir.path()).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("the precheck passed for this spec already"), "{log}");
    let st = read_status(dir.path(), "prechecked").unwrap();
    assert_eq!(st.precheck.as_ref(), Some(&recorded), "not prechecked again");
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
    let m = write_task(
        dir.path(),
        "skiperr",
        &src,
        &dst,
        "  objects:\n  - database: shop\n  precheck:\n    skip: [primary-keys, binlog-format]\n",
    );
    let out = ferry().args(["precheck", "-f"]).arg(&m).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.precheck.skip[1]") && err.contains("binlog-format") && err.contains("cannot be skipped"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binlog_settings_retention_and_server_id() {
    let f = default_flavor();
    let compression = compression_variable(f);
    let bad = ServerOptions::source()
        .arg("--binlog-format=STATEMENT")
        .arg("--binlog-row-image=MINIMAL")
        .arg("--binlog-row-metadata=MINIMAL")
        .arg(format!("--{}=ON", compression.replace('_', "-")))
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
    o.expect("binlog-row-metadata", Error, Passed, &["MINIMAL", "by position", "not needed"]);
    match f {
        // MariaDB's compressed events go to every client compressed, and ferry cannot read them.
        Flavor::MariaDb => o.expect("binlog-compression", Error, Failed, &[compression, "SET GLOBAL log_bin_compress = OFF"]),
        // MySQL's compressed transactions (TRANSACTION_PAYLOAD) are read.
        Flavor::MySql => o.expect("binlog-compression", Error, Passed, &["binlog_transaction_compression is ON", "TRANSACTION_PAYLOAD"]),
    };
    o.expect("server-id", Error, Failed, &[&src.server_id().to_string(), "spec.engine.serverId"]);
    // binlog_expire_logs_seconds on both (MariaDB 10.6+ and MySQL 8.0+).
    o.expect("binlog-retention", Warning, Failed, &["600 s", "SET GLOBAL binlog_expire_logs_seconds = "]);

    // Row metadata is not needed on any setting: MariaDB's default NO_LOG, MySQL's default
    // MINIMAL (above) and FULL. The last round also lets the binlog never expire: on MySQL with
    // binlog_expire_logs_auto_purge OFF (whatever the seconds say), on MariaDB with 0 seconds.
    let settings: &[&str] = match f {
        Flavor::MariaDb => &["NO_LOG", "FULL"],
        Flavor::MySql => &["FULL"],
    };
    for (i, setting) in settings.iter().enumerate() {
        src.exec(&format!("SET GLOBAL binlog_row_metadata = '{setting}';")).await;
        if i + 1 == settings.len() {
            src.exec(match f {
                Flavor::MariaDb => "SET GLOBAL binlog_expire_logs_seconds = 0;",
                Flavor::MySql => "SET GLOBAL binlog_expire_logs_auto_purge = OFF;",
            })
            .await;
        }
        let o = precheck(&m);
        o.expect("binlog-row-metadata", Error, Passed, &[&format!("binlog_row_metadata is {setting}"), "not needed"]);
        if i + 1 == settings.len() {
            let why = if f == Flavor::MySql { "binlog_expire_logs_auto_purge is OFF" } else { "binlogs never expire" };
            o.expect("binlog-retention", Warning, Passed, &["binlogs never expire", why]);
        }
    }

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

/// Item 2: a source too old is refused, and the version pair is "tested" exactly for the pairs
/// the suite runs (MariaDB 10.11 and MySQL 9.7, each into itself and into the other), else a
/// warning that `spec.precheck.skip` may accept.
///
/// Other versions come from MariaDB servers that report them: MariaDB's `--version=TEXT` sets
/// what `VERSION()` returns, while mysqld's `--version` takes no argument (it prints its own and
/// exits). So on both flavours' runs the reported versions are MariaDB servers (one reporting
/// "8.0.36-log" reads as MySQL 8.0), and the flavour's own pairs are real servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_refuse_old_sources_and_warn_on_untested_pairs() {
    let f = default_flavor();
    let reporting = |version: &str| ServerOptions::target().flavor(Flavor::MariaDb).arg(format!("--version={version}"));
    // A release line of this flavour older than the one the suite runs.
    let older = match f {
        Flavor::MariaDb => "10.6.20-MariaDB-log",
        Flavor::MySql => "8.0.36-log",
    };
    let (src, dst, other, old, older_dst, newer_dst) = tokio::join!(
        TestServer::start(ServerOptions::source()),
        TestServer::start(ServerOptions::target()),
        TestServer::start(ServerOptions::target().flavor(f.other())),
        TestServer::start(ServerOptions::source().flavor(Flavor::MariaDb).arg("--version=5.0.96-log")),
        TestServer::start(reporting(older)),
        TestServer::start(reporting("11.8.2-MariaDB-log")),
    );
    let dir = tempfile::tempdir().unwrap();
    // A collation every target here has (MySQL's default utf8mb4_0900_ai_ci is not MariaDB's), so
    // that the version pair is the only thing a precheck finds.
    let shop = SHOP.replace("CREATE DATABASE shop;", "CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;");
    src.exec(&shop).await;
    old.exec(SHOP).await;
    let task =
        |name: &str, s: &TestServer, t: &TestServer| precheck(&write_task(dir.path(), name, s, t, "  objects:\n  - database: shop\n"));

    let o = task("old", &old, &dst);
    assert_eq!(o.code, Some(1));
    o.expect("source-version", Error, Failed, &["5.0.96-log", "not supported", "MySQL 5.1-8.x"]);
    o.expect("target-version", Error, Passed, &[]);

    // The pairs the suite runs: the flavour into itself and into the other one.
    for (name, t) in [("same", &dst), ("cross", &other)] {
        let o = task(name, &src, t);
        o.expect("source-version", Error, Passed, &[]);
        let pair = format!("{} -> {}", release(f), release(t.flavor()));
        o.expect("version-pair", Warning, Passed, &["is a tested pair", &pair]);
    }

    // Into an older release of the same product: untested, and why.
    let tested = format!("the tested pairs are {} -> {}", release(Flavor::MariaDb), release(Flavor::MariaDb));
    let o = task("older", &src, &older_dst);
    o.expect("target-version", Error, Passed, &[older]);
    o.expect("version-pair", Warning, Failed, &[older, "target is older than the source", &tested, "spec.precheck.skip"]);
    assert!(o.report.passed, "a warning alone does not fail the precheck: {}", o.stdout);
    // Into a release the suite does not run: untested, naming the pairs that are tested.
    let o = task("newer", &src, &newer_dst);
    o.expect("version-pair", Warning, Failed, &["11.8.2-MariaDB-log", "ferry's test suite does not run it", &tested]);
    assert!(o.report.passed, "a warning alone does not fail the precheck: {}", o.stdout);

    let o = precheck(&write_task(
        dir.path(),
        "accepted",
        &src,
        &older_dst,
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
/// Then the same table against a target whose disk is too small fails item 8 (on MariaDB, which
/// tells its free space; a MySQL target cannot, and the item says how much it needs instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_estimate_uses_measured_copy_rates_and_free_space_falls_short() {
    let f = default_flavor();
    // MySQL's information_schema shows table statistics cached for a day unless told otherwise.
    let source = match f {
        Flavor::MariaDb => ServerOptions::source(),
        Flavor::MySql => ServerOptions::source().arg("--information-schema-stats-expiry=0"),
    };
    // A target with a binlog of its own (as in a cascade), which the sample rows stay out of.
    let (mut src, dst) = tokio::join!(TestServer::start(source), TestServer::start(ServerOptions::source()));
    src.exec(
        "CREATE DATABASE big;
         CREATE TABLE big.narrow (id INT PRIMARY KEY);
         CREATE TABLE big.wide (id INT PRIMARY KEY, body LONGBLOB);
         INSERT INTO big.narrow SELECT seq FROM big.seq_1_to_50000;
         INSERT INTO big.wide SELECT seq, REPEAT(SHA2(seq, 256), 128) FROM big.seq_1_to_6000;
         ANALYZE TABLE big.narrow, big.wide;
         UPDATE mysql.innodb_table_stats SET n_rows = 100000000 WHERE database_name = 'big';",
    )
    .await;
    // Statistics are read from mysql.innodb_table_stats when a table is first opened.
    src.restart().await;
    let rows: u64 = src
        .conn()
        .await
        .query_first("SELECT MIN(TABLE_ROWS) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'big'")
        .await
        .unwrap()
        .unwrap();
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
    // tmpfs, half of it taken by the server's own files. MariaDB only: a MySQL target cannot
    // tell its free space over SQL, so the item is a warning naming the size to make room for.
    let wide = "  objects:\n  - database: big\n    tables:\n    - name: wide\n";
    if f == Flavor::MySql {
        let o = precheck(&write_task(dir.path(), "unknown", &src, &dst, wide));
        o.expect("target-free-space", Warning, Failed, &["cannot tell its free space", "MiB on the source", "MySQL tells no free space"]);
        return;
    }
    let small = TestServer::start(ServerOptions::target().small_disk(64)).await;
    assert!(let_target_tell_free_space(&small).await);
    let o = precheck(&write_task(dir.path(), "full", &src, &small, wide));
    o.expect("target-free-space", Error, Failed, &["MiB free on the target", "free space on the target's data volume"]);
    assert_eq!(o.code, Some(1));
    // The same data fits the ordinary target.
    let_target_tell_free_space(&dst).await;
    let o = precheck(&write_task(dir.path(), "fits", &src, &dst, wide));
    o.expect("target-free-space", Error, Passed, &["MiB free on the target"]);
}

/// The (privilege, scope) pairs of a remedy's GRANT statements ("GRANT A, B ON s TO u; ...").
fn granted_in(remedy: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for stmt in remedy.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let rest = stmt.strip_prefix("GRANT ").unwrap_or_else(|| panic!("not a GRANT: {stmt}"));
        let (privileges, rest) = rest.split_once(" ON ").unwrap();
        let (scope, _) = rest.split_once(" TO ").unwrap();
        out.extend(privileges.split(", ").map(|p| (p.to_string(), scope.to_string())));
    }
    out.sort();
    out
}

/// Item 5 on both sides, as each flavour names its privileges (MySQL 8+ dynamic ones included):
/// a user lacking them is told each GRANT to run; granted as told (the global ones through a
/// default role), both items pass and a task runs with those users alone; without any one of
/// them, the item names exactly that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileges_name_the_missing_grants() {
    let (src, dst) = pair().await;
    let f = src.flavor();
    let lim = "'lim'@'%'";
    // A keyless table: on a MySQL target with sql_generate_invisible_primary_key ON it would get a
    // generated key column, unless ferry's sessions may turn that off.
    src.exec(&format!(
        "{SHOP}
         CREATE TABLE shop.notes (body VARCHAR(50));
         INSERT INTO shop.notes VALUES ('first');
         CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE total > 5;
         CREATE PROCEDURE shop.total_of(IN i INT) SELECT total FROM shop.orders WHERE id = i;
         {}
         GRANT SELECT ON shop.orders TO {lim};",
        create_user_sql(f, lim, "Lim-Pass-1")
    ))
    .await;
    dst.exec(&format!("{} GRANT ALL PRIVILEGES ON `shop`.* TO {lim};", create_user_sql(f, lim, "Lim-Pass-1"))).await;
    if f == Flavor::MySql {
        dst.exec("SET GLOBAL sql_generate_invisible_primary_key = ON;").await;
    }
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "grants", &src, &dst, "  objects:\n  - database: shop\n");
    set_credentials(&m, "source", "lim", "Lim-Pass-1");
    set_credentials(&m, "target", "lim", "Lim-Pass-1");
    let o = precheck(&m);
    assert_eq!(o.code, Some(1));
    let s = o.expect("source-privileges", Error, Failed, &[lim, "SELECT", "SHOW VIEW", "REPLICATION SLAVE", binlog_monitor_privilege(f)]);
    let source_remedy = s.remedy.clone();
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v: Vec<_> = list.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect();
        v.sort();
        v
    };
    let want = match f {
        // The routines of a whole database: SELECT on mysql.proc, else MariaDB hides them.
        Flavor::MariaDb => pairs(&[
            ("SELECT", "`shop`.*"),
            ("SHOW VIEW", "`shop`.*"),
            ("SELECT", "`mysql`.`proc`"),
            ("BINLOG MONITOR", "*.*"),
            ("REPLICATION SLAVE", "*.*"),
        ]),
        // MySQL 8+: SHOW_ROUTINE (dynamic) for routines; RELOAD for the copy's brief FLUSH TABLES
        // WITH READ LOCK; REPLICATION CLIENT (MySQL's name) for the binlog position.
        Flavor::MySql => pairs(&[
            ("SELECT", "`shop`.*"),
            ("SHOW VIEW", "`shop`.*"),
            ("SHOW_ROUTINE", "*.*"),
            ("RELOAD", "*.*"),
            ("REPLICATION CLIENT", "*.*"),
            ("REPLICATION SLAVE", "*.*"),
        ]),
    };
    assert_eq!(granted_in(&source_remedy), want, "{source_remedy}");
    assert!(source_remedy.contains("GRANT SELECT, SHOW VIEW ON `shop`.* TO 'lim'@'%';"), "{source_remedy}");
    if f == Flavor::MySql {
        assert!(s.message.contains("RELOAD: FLUSH TABLES WITH READ LOCK, for the copy's consistent snapshot"), "{}", s.message);
    }
    let t = o.expect("target-privileges", Error, Failed, &["ferry_meta"]);
    let target_remedy = t.remedy.clone();
    let target_grants = granted_in(&target_remedy);
    assert!(target_remedy.contains("GRANT ALL PRIVILEGES ON `ferry_meta`.* TO 'lim'@'%';"), "{target_remedy}");
    assert!(!target_remedy.contains("`shop`"), "ALL on shop is there: {target_remedy}");
    // ferry's copies of the source's table definitions (which map unnamed binlog columns) live
    // in a database of their own, ferry_meta_s<hash>.
    assert!(target_grants.iter().any(|(p, s)| p == "ALL PRIVILEGES" && s.starts_with("`ferry_meta_s")), "{target_remedy}");
    // MySQL only (MariaDB has no generated invisible primary keys): the target generates them,
    // and ferry's sessions must be allowed to turn that off.
    let gipk = ("SESSION_VARIABLES_ADMIN".to_string(), "*.*".to_string());
    assert_eq!(target_grants.contains(&gipk), f == Flavor::MySql, "{target_remedy}");
    assert_eq!(target_grants.len(), if f == Flavor::MySql { 3 } else { 2 }, "{target_remedy}");
    if f == Flavor::MySql {
        assert!(t.message.contains("sql_generate_invisible_primary_key is ON"), "{}", t.message);
    }
    // The trial created shop on the target (the user may) and removed it again.
    assert!(!databases(&dst).await.contains(&"shop".to_string()));

    // Granted as the remedies say, both pass; the source's global privileges through a role
    // that is the user's default (SHOW GRANTS lists what active roles give).
    let role = "ferry_source";
    let (global, rest): (Vec<&str>, Vec<&str>) = source_remedy.split_inclusive(';').map(str::trim).partition(|g| g.contains(" ON *.* TO "));
    let global = global.join(" ").replace(&format!("TO {lim};"), &format!("TO {role};"));
    src.exec(&format!("CREATE ROLE {role}; {global} GRANT {role} TO {lim}; {} {}", default_role_sql(f, role, lim), rest.join(" "))).await;
    dst.exec(&target_remedy).await;
    let o = precheck(&m);
    o.expect("source-privileges", Error, Passed, &[]);
    o.expect("target-privileges", Error, Passed, &[]);
    assert!(o.report.passed, "{}", o.stdout);

    // Without any one of them, the item names that one alone.
    for (server, id, grants) in [(&src, "source-privileges", &want), (&dst, "target-privileges", &target_grants)] {
        for (privilege, scope) in grants {
            let through_role = id == "source-privileges" && scope == "*.*";
            let to = if through_role { role } else { lim };
            server.exec(&format!("REVOKE {privilege} ON {scope} FROM {to};")).await;
            let o = precheck(&m);
            let i = o.expect(id, Error, Failed, &[privilege.as_str()]);
            assert_eq!(i.remedy, format!("GRANT {privilege} ON {scope} TO {lim};"), "{i:#?}");
            server.exec(&format!("GRANT {privilege} ON {scope} TO {to};")).await;
        }
    }

    // What the items require is what the engine needs: the whole task runs with these users,
    // its copy (the brief global lock on MySQL), views, routines and binlog included.
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, Duration::from_secs(120)).await;
    src.exec("INSERT INTO shop.orders VALUES (3, 7.25); INSERT INTO shop.notes VALUES ('second');").await;
    ferry.wait_until_same(&src, &dst, &["shop"], Duration::from_secs(60)).await;
    let (mut s_conn, mut d_conn) = (src.conn().await, dst.conn().await);
    let notes = show_create_table(&mut s_conn, "shop", "notes").await;
    assert_eq!(notes, show_create_table(&mut d_conn, "shop", "notes").await, "no generated key on the target");
    for (kind, name) in [("VIEW", "big_orders"), ("PROCEDURE", "total_of")] {
        let n: Option<u64> = d_conn
            .query_first(format!(
                "SELECT COUNT(*) FROM information_schema.{} WHERE {}_SCHEMA = 'shop' AND {}_NAME = '{name}'",
                if kind == "VIEW" { "VIEWS" } else { "ROUTINES" },
                if kind == "VIEW" { "TABLE" } else { "ROUTINE" },
                if kind == "VIEW" { "TABLE" } else { "ROUTINE" },
            ))
            .await
            .unwrap();
        assert_eq!(n, Some(1), "{kind} shop.{name} on the target");
    }
    ferry.kill();
    if f == Flavor::MariaDb {
        return;
    }
    // MySQL: a target that generates invisible primary keys, and a user who may no longer turn
    // that off: the resumed engine (no precheck on resume) refuses, naming the grant.
    dst.exec(&format!("REVOKE SESSION_VARIABLES_ADMIN ON *.* FROM {lim};")).await;
    let mut ferry = RunningFerry::start(&m, dir.path());
    let status = ferry.wait_exit(Duration::from_secs(60)).await.expect("the engine stops");
    assert!(!status.success());
    let err = ferry.stderr();
    assert!(
        err.contains("sql_generate_invisible_primary_key is ON") && err.contains("GRANT SESSION_VARIABLES_ADMIN ON *.* TO 'lim'@'%'"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_items_keys_existing_tables_foreign_keys_triggers_and_collisions() {
    let (src, dst) = pair().await;
    src.exec(&format!(
        "{SHOP}
         CREATE TABLE shop.log (msg VARCHAR(100), at DATETIME);
         CREATE TABLE shop.lines (id INT PRIMARY KEY, order_id INT, CONSTRAINT fk_order FOREIGN KEY (order_id) REFERENCES shop.orders (id)) ENGINE=InnoDB;
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

/// The character set of the test's extra collation: MariaDB's utf8mb3 (its Index.xml lists
/// utf8mb3's collations), MySQL's utf8mb4 (utf8mb3 is deprecated there).
fn extra_collation_charset(f: Flavor) -> &'static str {
    match f {
        Flavor::MariaDb => "utf8mb3",
        Flavor::MySql => "utf8mb4",
    }
}

/// A copy of the server's character set folder in `dir` with one more (UCA-tailored) collation,
/// `<charset>_ferry_test_ci`; returns the folder as the server sees it (MySQL runs in its root).
fn charsets_with_extra_collation(f: Flavor, dir: &Path) -> PathBuf {
    let (from, server_root) = match f {
        Flavor::MariaDb => (PathBuf::from("/usr/share/mysql/charsets"), PathBuf::from("/")),
        Flavor::MySql => (mysql_root().join("usr/share/mysql/charsets"), mysql_root()),
    };
    let to = dir.join("charsets");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(&from).expect("the server's charsets folder") {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    let index = to.join("Index.xml");
    let text = std::fs::read_to_string(&index).unwrap();
    let cs = extra_collation_charset(f);
    let collation =
        format!("  <collation name=\"{cs}_ferry_test_ci\" id=\"1800\">\n    <rules><reset>a</reset><i>b</i></rules>\n  </collation>\n");
    // Into the character set's element, or (MySQL lists no utf8mb4 there) an element of its own.
    let text = match text.find(&format!("<charset name=\"{cs}\">")) {
        Some(at) => {
            let end = at + text[at..].find("</charset>").unwrap();
            format!("{}{collation}{}", &text[..end], &text[end..])
        }
        None => {
            let end = text.rfind("</charsets>").expect("</charsets> in Index.xml");
            format!("{}<charset name=\"{cs}\">\n{collation}</charset>\n{}", &text[..end], &text[end..])
        }
    };
    std::fs::write(&index, text).unwrap();
    Path::new("/").join(to.strip_prefix(&server_root).expect("the copy where the server can read it"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collations_missing_on_the_target_and_free_space_unknown() {
    let f = default_flavor();
    // Where the server can read it: inside the root for MySQL.
    let dir = match f {
        Flavor::MariaDb => tempfile::tempdir().unwrap(),
        Flavor::MySql => tempfile::tempdir_in(mysql_root().join("srv/ferry")).unwrap(),
    };
    let charsets = charsets_with_extra_collation(f, dir.path());
    let source = ServerOptions::source().arg(format!("--character-sets-dir={}", charsets.display()));
    let (src, dst) = tokio::join!(TestServer::start(source), TestServer::start(ServerOptions::target()));
    let cs = extra_collation_charset(f);
    src.exec(&format!(
        "CREATE DATABASE intl CHARACTER SET {cs};
         CREATE TABLE intl.words (id INT PRIMARY KEY, w VARCHAR(20) CHARACTER SET {cs} COLLATE {cs}_ferry_test_ci);"
    ))
    .await;
    let m = write_task(dir.path(), "intl", &src, &dst, "  objects:\n  - database: intl\n");
    let o = precheck(&m);
    o.expect("charsets", Error, Failed, &[&format!("{cs}_ferry_test_ci"), "intl.words.w", &format!("CONVERT TO CHARACTER SET {cs}")]);
    // This target cannot tell its free space (MariaDB without its disks plugin, MySQL ever), which
    // is a warning; only on MariaDB is there something to install.
    let remedy = if f == Flavor::MariaDb { "INSTALL SONAME 'disks'" } else { "MySQL tells no free space over SQL" };
    o.expect("target-free-space", Warning, Failed, &["cannot tell", remedy]);
    assert_eq!(o.code, Some(1));
}

/// What a source written by replication needs (cascade A -> B -> C, the task reading B). ferry
/// writes to B as a client, and B's binary log records client writes whatever log_slave_updates
/// (MySQL 8.0.26+: log_replica_updates) says: B needs log_bin, not log_slave_updates (checked
/// here and in topologies.rs, where the changes reach C). A native replica does need it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cascade_needs_the_middle_server_to_log_what_it_applies() {
    let f = default_flavor();
    let updates = replica_updates_variable(f);
    let middle = ServerOptions::source().arg(format!("--{}=OFF", updates.replace('_', "-")));
    let (a, b, nolog) =
        tokio::join!(TestServer::start(ServerOptions::source()), TestServer::start(middle), TestServer::start(ServerOptions::target()));
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
    o.expect("cascade", Error, Passed, &["target of another ferry task", "ferry_meta", "as a client", updates]);
    // A target without a binary log cannot pass on what ferry applies there.
    let o = precheck(&write_task(dir.path(), "downstream-nolog", &nolog, &a, "  objects:\n  - database: shop\n"));
    o.expect("cascade", Error, Failed, &["target of another ferry task", "binary log is off", "log_bin"]);
    assert_eq!(o.code, Some(1));
    // B as a native replica of A too, with log_slave_updates off: what replication applies is lost.
    b.exec(&change_source_sql(f, a.port())).await;
    let o = precheck(&down);
    o.expect("cascade", Error, Failed, &["it is a replica", &format!("{updates} is OFF"), &format!("{updates}=ON")]);
    assert_eq!(o.code, Some(1));
    // Its own source (A) is not written by replication: nothing to say there.
    let o = precheck(&dir.path().join("upstream.yaml"));
    o.expect("cascade", Error, Passed, &[]);
}
