//! `ferry verify`, end to end on both flavours: differences planted on the target (a missing row,
//! an extra row, a changed value in each type family, a duplicated and a lost keyless row, a row
//! the filter excludes) are each found with the right key and kind through a mapped, filtered,
//! column-selected task while it syncs; `--repair` fixes each and a second verify is clean;
//! verifications during a steady write load report no difference.

use std::path::Path;
use std::time::Duration;

use ferry_crds::{Phase, TableVerification, VerificationStatus};
use ferry_e2e::*;

const SYNC: Duration = Duration::from_secs(90);

/// `ferry verify -f MANIFEST --output json [extra]`: exit code and report.
fn verify(manifest: &Path, extra: &[&str]) -> (Option<i32>, VerificationStatus) {
    let out =
        ferry().args(["verify", "--output", "json", "--no-progress", "-f"]).arg(manifest).args(extra).output().expect("run ferry verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: VerificationStatus = serde_saphyr::from_str(&stdout)
        .unwrap_or_else(|e| panic!("verify printed no report ({e}):\nstdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), report)
}

fn table<'a>(r: &'a VerificationStatus, name: &str) -> &'a TableVerification {
    r.tables.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no table {name} in {r:#?}"))
}

const FIXTURE: &str = "
    CREATE DATABASE v;
    USE v;
    CREATE TABLE v.t (
      id INT PRIMARY KEY,
      j JSON NULL,
      b BIT(12) NULL,
      d DECIMAL(12,3) NULL,
      ts TIMESTAMP(6) NULL,
      s VARCHAR(40) CHARACTER SET utf8mb4 NULL,
      f DOUBLE NULL,
      dt DATETIME NULL
    );
    INSERT INTO v.t SELECT seq, JSON_OBJECT('k', seq, 'list', JSON_ARRAY(seq, 'x')), seq % 4096, seq / 7,
      '2024-03-01 10:00:00' + INTERVAL seq SECOND, CONCAT('row ', seq, ' ☃'), seq / 3, '2001-02-03 04:05:06' + INTERVAL seq DAY
      FROM seq_1_to_2500;
    CREATE TABLE v.nk (a INT, b VARCHAR(10));
    INSERT INTO v.nk VALUES (1, 'one'), (1, 'one'), (2, 'two'), (3, NULL);
    CREATE TABLE v.orders (id INT PRIMARY KEY, region CHAR(2), amount INT, note VARCHAR(20), holder VARCHAR(20));
    INSERT INTO v.orders SELECT seq, IF(seq % 2, 'eu', 'us'), seq * 10, 'n', CONCAT('h', seq) FROM seq_1_to_300;
";

/// The task: `v` into `w`, `t` as a whole, `nk`, and `orders` renamed, its columns selected and
/// renamed, and filtered.
const TAIL: &str = "  objects:
  - database: v
    rename: w
    tables:
    - name: t
    - name: nk
    - name: orders
      rename: eu_orders
      where: \"region = 'eu'\"
      columns:
      - name: id
      - name: amount
      - name: holder
        rename: h
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_differences_are_found_and_repaired() {
    let (src, dst) = pair().await;
    src.exec(FIXTURE).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "ver", &src, &dst, TAIL);
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;
    src.exec("UPDATE v.t SET s = 'changed by the binlog' WHERE id = 20; INSERT INTO v.nk VALUES (4, 'four');").await;
    ferry.wait_value(&dst, "SELECT COUNT(*) FROM w.nk WHERE a = 4", 1, SYNC).await;

    // Clean first, while the task runs.
    let (code, clean) = verify(&m, &["--chunk-rows", "500"]);
    assert_eq!(code, Some(0), "{clean:#?}");
    assert!(clean.passed && clean.rows_compared == 2500 + 5 + 150, "{clean:#?}");
    // 2500 rows in ranges of 500: five full ones and the empty one after the last key.
    assert_eq!(table(&clean, "v.t").chunks, 6);

    // Planted on the target, one per kind and type family.
    dst.exec(
        "DELETE FROM w.t WHERE id = 2;
         INSERT INTO w.t (id, s) VALUES (9999, 'only on the target');
         UPDATE w.t SET j = JSON_OBJECT('k', 0) WHERE id = 3;
         UPDATE w.t SET b = b ^ 1 WHERE id = 4;
         UPDATE w.t SET d = d + 0.001 WHERE id = 5;
         UPDATE w.t SET ts = ts + INTERVAL 1 SECOND WHERE id = 6;
         UPDATE w.t SET s = CONCAT(s, '!') WHERE id = 7;
         UPDATE w.t SET f = f * (1 + 1e-15) WHERE id = 8;
         UPDATE w.t SET dt = NULL WHERE id = 1600;
         INSERT INTO w.nk VALUES (2, 'two');
         DELETE FROM w.nk WHERE a = 1 LIMIT 1;
         INSERT INTO w.eu_orders VALUES (2, 20, 'h2');
         UPDATE w.eu_orders SET h = 'other' WHERE id = 3;",
    )
    .await;
    let (code, found) = verify(&m, &["--chunk-rows", "500"]);
    assert_eq!(code, Some(1), "{found:#?}");
    assert!(!found.passed);
    let t = table(&found, "v.t");
    assert_eq!((t.missing, t.extra, t.different, t.unconfirmed), (1, 1, 7, 0), "{t:#?}");
    // The first five keys of each kind, in key order.
    let listed: Vec<&str> = t.examples.iter().map(String::as_str).collect();
    assert_eq!(
        listed,
        ["different id=3", "different id=4", "different id=5", "different id=6", "different id=7", "extra id=9999", "missing id=2"],
        "{t:#?}"
    );
    let nk = table(&found, "v.nk");
    assert_eq!((nk.missing, nk.extra), (1, 1), "a lost duplicate and an added one: {nk:#?}");
    let orders = table(&found, "v.orders");
    assert_eq!(orders.target, "w.eu_orders");
    assert_eq!((orders.missing, orders.extra, orders.different), (0, 1, 1), "the filtered-out row is extra: {orders:#?}");
    assert!(orders.examples.iter().any(|x| x == "extra id=2") && orders.examples.iter().any(|x| x == "different id=3"), "{orders:#?}");
    assert_eq!(found.differences, 9 + 2 + 2);

    // Repaired through the applier, then clean; the task goes on.
    let (code, repaired) = verify(&m, &["--chunk-rows", "500", "--repair"]);
    assert_eq!(code, Some(0), "{repaired:#?}");
    assert_eq!(table(&repaired, "v.t").repaired, 9);
    assert_eq!(table(&repaired, "v.nk").repaired, 2);
    assert_eq!(table(&repaired, "v.orders").repaired, 2);
    let (code, again) = verify(&m, &[]);
    assert_eq!(code, Some(0), "{again:#?}");
    src.exec("UPDATE v.t SET s = 'after the repair' WHERE id = 7; INSERT INTO v.orders VALUES (301, 'eu', 3010, 'n', 'h301');").await;
    ferry.wait_value(&dst, "SELECT COUNT(*) FROM w.eu_orders WHERE id = 301", 1, SYNC).await;
    let (code, last) = verify(&m, &[]);
    assert_eq!(code, Some(0), "{last:#?}");
    ferry.assert_running("after the repair");
}

/// Verifications while a write load runs and the task follows it: every difference seen at first
/// is lag, and none is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_false_difference_under_a_write_load() {
    let (src, dst) = pair().await;
    Workload::create_tables(&src, "wl", 3000).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "load", &src, &dst, "  objects:\n  - database: wl\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;
    let load = Workload::start(
        &src,
        WorkloadOptions::new("wl", 11).connections(2).duration(Duration::from_secs(30)).pause(Duration::from_millis(2)),
    )
    .await;
    let mut runs = 0;
    while !load.is_finished() && runs < 4 {
        let (code, report) = verify(&m, &["--chunk-rows", "700", "--wait-seconds", "30"]);
        assert_eq!(code, Some(0), "a false difference under load:\n{report:#?}\n{}", ferry.describe());
        assert!(report.rows_compared > 3000);
        runs += 1;
    }
    assert!(runs >= 2, "verify ran {runs} times under the load");
    load.wait().await;
    ferry.wait_until_same(&src, &dst, &["wl"], SYNC).await;
    let (code, report) = verify(&m, &[]);
    assert_eq!(code, Some(0), "{report:#?}");
}

/// A task whose initial sync has not run cannot be verified: the error says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_before_its_initial_sync_is_refused_with_the_reason() {
    let (src, dst) = pair().await;
    src.exec("CREATE DATABASE v; CREATE TABLE v.t (id INT PRIMARY KEY);").await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "early", &src, &dst, "  objects:\n  - database: v\n");
    let out = ferry().args(["verify", "-f"]).arg(&m).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("initial sync is not finished") && err.contains(&format!("127.0.0.1:{}", dst.port())), "{err}");
}
