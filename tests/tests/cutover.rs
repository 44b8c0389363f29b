//! Cutover and continuous verification, end to end on both flavours: `ferry cutover
//! --lock-source` under a write load ends with the source read-only, equal tables at once and the
//! deferred trigger created with its definer; a cutover that finds a difference switches nothing
//! and leaves the source writable; `spec.verification` and `spec.cutover.requested` run beside the
//! player of `ferry run` and report in its status.

use std::path::Path;
use std::time::Duration;

use ferry_crds::{CutoverStatus, Phase, VerificationStatus};
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC: Duration = Duration::from_secs(90);

/// `ferry cutover -f MANIFEST --output json [extra]`: exit code, cutover and verification.
async fn cutover(manifest: &Path, extra: &[&str]) -> (Option<i32>, CutoverStatus, Option<VerificationStatus>) {
    let mut cmd = ferry();
    cmd.args(["cutover", "--output", "json", "--wait-seconds", "60", "-f"]).arg(manifest).args(extra);
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run ferry cutover")).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("cutover printed no report ({e}):\nstdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    let status = serde_json::from_value(report["cutover"].clone()).unwrap();
    let verification = serde_json::from_value(report["verification"].clone()).unwrap();
    (out.status.code(), status, verification)
}

/// The application's user: every right on the workload's databases, none to write under
/// `read_only` (no SUPER, CONNECTION_ADMIN or READ_ONLY ADMIN).
const APP_USER: &str = "
    CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw-1';
    GRANT ALL ON wl.* TO 'app'@'%';
    GRANT ALL ON wl_unsynced.* TO 'app'@'%';
";

/// A table whose trigger the schema sync defers: its effect (the note) arrives as row values.
const STAMPED: &str = "
    CREATE TABLE wl.stamped (id INT PRIMARY KEY, v INT, note VARCHAR(40));
    CREATE DEFINER = 'app'@'%' TRIGGER wl.stamp BEFORE INSERT ON wl.stamped
      FOR EACH ROW SET NEW.note = CONCAT('stamped ', NEW.v);
    INSERT INTO wl.stamped (id, v) VALUES (1, 10), (2, 20);
    SET time_zone = '+05:00';
    CREATE DEFINER = 'app'@'%' EVENT wl.purge ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM wl.stamped WHERE v < 0;
";

async fn read_only(server: &TestServer) -> u64 {
    server.conn().await.query_first(format!("SELECT {} + 0", server.flavor().read_only_variable())).await.unwrap().unwrap()
}

async fn trigger_definer(server: &TestServer) -> Option<String> {
    server
        .conn()
        .await
        .query_first("SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'wl' AND TRIGGER_NAME = 'stamp'")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutover_with_a_locked_source_under_a_write_load() {
    let (src, dst) = pair().await;
    Workload::create_tables(&src, "wl", 2000).await;
    src.exec(APP_USER).await;
    // The application's user on the target too (the trigger runs as it there).
    dst.exec("CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw-1'; GRANT ALL ON wl.* TO 'app'@'%';").await;
    src.exec(STAMPED).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "cut", &src, &dst, "  objects:\n  - database: wl\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    let status = ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;
    let deferred = status.schema_sync.map(|s| s.deferred_triggers).unwrap_or_default();
    assert_eq!(deferred, ["wl.stamp"], "the trigger waits for the cutover");
    assert_eq!(trigger_definer(&dst).await, None);

    let load = Workload::start(
        &src,
        WorkloadOptions::new("wl", 5).connections(2).login("app", "app-pw-1").until_read_only().pause(Duration::from_millis(1)),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, done, verification) = cutover(&m, &["--lock-source"]).await;
    assert_eq!(code, Some(0), "{done:#?}\n{verification:#?}\n{}", ferry.describe());
    assert_eq!(done.state, "Done");
    assert!(done.source_locked && done.final_position.is_some(), "{done:#?}");
    assert_eq!(done.triggers_created, ["wl.stamp", "wl.purge"], "the deferred trigger, and the event");
    assert!(verification.is_some_and(|v| v.passed && v.rows_compared > 2000));

    // The application can no longer write to the source, and the target has all it wrote.
    let report = tokio::time::timeout(Duration::from_secs(30), load.wait()).await.expect("the load ends at the lock");
    assert!(report.committed > 10 && report.aborted >= 1, "{report:?}");
    assert_eq!(read_only(&src).await, 1);
    let diffs = compare_databases(&src.opts(), &dst.opts(), &["wl"]).await.unwrap();
    assert!(diffs.is_empty(), "equal at the cutover, without waiting: {diffs:?}");

    // The trigger, with its definer, works on the target.
    assert_eq!(trigger_definer(&dst).await, trigger_definer(&src).await);
    dst.exec("INSERT INTO wl.stamped (id, v) VALUES (100, 7);").await;
    let note: Option<String> = dst.conn().await.query_first("SELECT note FROM wl.stamped WHERE id = 100").await.unwrap();
    assert_eq!(note.as_deref(), Some("stamped 7"));

    let event = "SELECT DEFINER, STATUS, TIME_ZONE FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'wl' AND EVENT_NAME = 'purge'";
    let on_target: Option<(String, String, String)> = dst.conn().await.query_first(event).await.unwrap();
    let keeps = Some(("app@%".to_string(), "DISABLED".to_string(), "+05:00".to_string()));
    assert_eq!(on_target, keeps, "the event keeps its definer, state and time zone (its schedule's times are in it)");

    // Run again (as after an interruption): done, nothing created twice.
    dst.exec("DELETE FROM wl.stamped WHERE id = 100;").await;
    let (code, again, _) = cutover(&m, &["--lock-source"]).await;
    assert_eq!((code, again.state.as_str()), (Some(0), "Done"), "{again:#?}");
    assert!(again.triggers_created.is_empty(), "{again:#?}");
    ferry.assert_running("after the cutover");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_that_finds_a_difference_switches_nothing() {
    let (src, dst) = pair().await;
    src.exec("CREATE DATABASE wl; CREATE TABLE wl.t (id INT PRIMARY KEY, v INT); INSERT INTO wl.t VALUES (1, 1), (2, 2);").await;
    src.exec("CREATE TRIGGER wl.keep BEFORE UPDATE ON wl.t FOR EACH ROW SET NEW.v = NEW.v;").await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "nocut", &src, &dst, "  objects:\n  - database: wl\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;
    dst.exec("UPDATE wl.t SET v = 99 WHERE id = 2;").await;

    let (code, failed, verification) = cutover(&m, &["--lock-source"]).await;
    assert_eq!(code, Some(1), "{failed:#?}");
    assert_eq!(failed.state, "Failed");
    assert!(!failed.source_locked, "the source is writable again: {failed:#?}");
    assert!(failed.message.as_deref().unwrap_or_default().contains("1 rows differ"), "{failed:#?}");
    let v = verification.unwrap();
    assert!(v.tables[0].examples.iter().any(|e| e == "different id=2"), "{v:#?}");
    assert_eq!(read_only(&src).await, 0);
    src.exec("INSERT INTO wl.t VALUES (3, 3);").await;
    assert!(
        dst.conn()
            .await
            .query_first::<String, _>("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'wl'")
            .await
            .unwrap()
            .is_none(),
        "no trigger created"
    );
    ferry.assert_running("after the refused cutover");
}

/// The operator's way (the spec, not the CLI): `ferry run` with continuous verification and a
/// requested cutover reports both in its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_passes_and_a_requested_cutover_run_beside_the_sync() {
    let (src, dst) = pair().await;
    src.exec("CREATE DATABASE wl; CREATE TABLE wl.t (id INT PRIMARY KEY, v INT); INSERT INTO wl.t VALUES (1, 1), (2, 2), (3, 3);").await;
    src.exec("CREATE TRIGGER wl.keep BEFORE UPDATE ON wl.t FOR EACH ROW SET NEW.v = NEW.v;").await;
    let dir = tempfile::tempdir().unwrap();
    let tail =
        "  objects:\n  - database: wl\n  verification:\n    enabled: true\n    intervalSeconds: 1\n  cutover:\n    requested: true\n";
    let m = write_task(dir.path(), "spec", &src, &dst, tail);
    let mut ferry = RunningFerry::start(&m, dir.path());
    let done = ferry
        .wait_for_status("a cutover done and a verification passed", SYNC, |s| {
            s.cutover.as_ref().is_some_and(|c| c.state == "Done") && s.verification.as_ref().is_some_and(|v| v.passed)
        })
        .await;
    let cut = done.cutover.unwrap();
    assert!(!cut.source_locked && cut.message.unwrap().contains("without locking the source"));
    assert_eq!(cut.triggers_created, ["wl.keep"]);
    assert_eq!(read_only(&src).await, 0);

    // A difference planted on the target shows in the next pass; the sync goes on.
    dst.exec("DELETE FROM wl.t WHERE id = 3;").await;
    let found = ferry
        .wait_for_status("the planted difference", SYNC, |s| s.verification.as_ref().is_some_and(|v| !v.passed && v.differences == 1))
        .await;
    let v = found.verification.unwrap();
    assert_eq!(v.tables[0].examples, ["missing id=3"], "{v:#?}");
    src.exec("INSERT INTO wl.t VALUES (4, 4);").await;
    ferry.wait_value(&dst, "SELECT COUNT(*) FROM wl.t WHERE id = 4", 1, SYNC).await;
    ferry.assert_running("while verifying");
}

/// Rows the binlog changes are checked row by row a few seconds after they are applied: under a
/// write load none is reported, and one changed on the target behind ferry's back shows without
/// waiting for the next pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_rows_are_checked_after_a_delay() {
    let (src, dst) = pair().await;
    Workload::create_tables(&src, "wl", 500).await;
    let dir = tempfile::tempdir().unwrap();
    let tail =
        "  objects:\n  - database: wl\n  verification:\n    enabled: true\n    intervalSeconds: 3600\n    recentChangesDelaySeconds: 2\n";
    let m = write_task(dir.path(), "recent", &src, &dst, tail);
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_status("the first pass", SYNC, |s| s.verification.as_ref().is_some_and(|v| v.passed)).await;

    let load = Workload::start(
        &src,
        WorkloadOptions::new("wl", 3).connections(2).duration(Duration::from_secs(8)).pause(Duration::from_millis(2)),
    )
    .await;
    let report = load.wait().await;
    assert!(report.committed > 50, "{report:?}");
    let checked = ferry
        .wait_for_status("the changed rows checked", SYNC, |s| {
            s.verification.as_ref().and_then(|v| v.recent_changes.as_ref()).is_some_and(|r| r.rows_checked >= 50)
        })
        .await;
    let v = checked.verification.unwrap();
    assert!(v.passed && v.recent_changes.as_ref().unwrap().differences == 0, "a false difference under load: {v:#?}");

    src.exec("INSERT INTO wl.pk_int (id, v, s) VALUES (900007, 1, 'new on the source');").await;
    ferry.wait_value(&dst, "SELECT COUNT(*) FROM wl.pk_int WHERE id = 900007", 1, SYNC).await;
    dst.exec("UPDATE wl.pk_int SET s = 'behind ferry''s back' WHERE id = 900007;").await;
    let found = ferry.wait_for_status("the changed row's difference", SYNC, |s| s.verification.as_ref().is_some_and(|v| !v.passed)).await;
    let v = found.verification.unwrap();
    let t = v.tables.iter().find(|t| t.name == "wl.pk_int").unwrap_or_else(|| panic!("{v:#?}"));
    assert_eq!((t.different, t.examples.as_slice()), (1, ["different id=900007".to_string()].as_slice()), "{v:#?}");
    assert_eq!(v.differences, 1);
    ferry.assert_running("while checking changed rows");
}
