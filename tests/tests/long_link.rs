//! ferry over a long link: the source behind 30 ms ± 5 ms of added round trip (the harness's
//! delaying proxy; the seed's sources sit behind VPN gateways and leased lines). The precheck,
//! the full copy and the binlog all go through it, and the target converges to the source.

use std::time::Duration;

use ferry_crds::Phase;
use ferry_e2e::proxy::{DelayProxy, LinkDelay};
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_binlog_through_a_30_ms_link() {
    let (src, dst) = pair().await;
    Workload::create_tables(&src, "wl", 20_000).await;
    let proxy = DelayProxy::start(([127, 0, 0, 1], src.port()).into(), LinkDelay::ms(30, 5)).await.unwrap();

    // The link is there: a query through it takes its round trip.
    let mut via =
        mysql_async::Conn::new(mysql_async::OptsBuilder::from_opts(src.opts()).ip_or_hostname("127.0.0.1").tcp_port(proxy.port()))
            .await
            .unwrap();
    let started = std::time::Instant::now();
    via.query_drop("SELECT 1").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(25), "a query through the proxy took {:?}", started.elapsed());
    via.disconnect().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "link", &src, &dst, "  objects:\n  - database: wl\n");
    let text = std::fs::read_to_string(&m).unwrap();
    let source_port = format!("port: {}\n", src.port());
    assert_eq!(text.matches(&source_port).count(), 1, "{text}");
    std::fs::write(&m, text.replace(&source_port, &format!("port: {}\n", proxy.port()))).unwrap();

    let mut ferry = RunningFerry::start(&m, dir.path());
    let workload = Workload::start(&src, WorkloadOptions::new("wl", 7).connections(2).duration(Duration::from_secs(15))).await;
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    let report = workload.wait().await;
    assert!(report.committed > 100, "{report:?}");
    ferry.wait_until_same(&src, &dst, &["wl"], SYNC_TIMEOUT).await;
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    check_workload_invariants(&mut d, "wl").await.unwrap();
    // The keyless table holds duplicates on purpose: as many as the source, none applied twice.
    assert_eq!(duplicate_rows(&mut d, "wl", "nokey").await, duplicate_rows(&mut s, "wl", "nokey").await);
    assert!(ferry.status().and_then(|s| s.incremental_sync).is_some_and(|i| i.rows_applied > 0));
    drop(proxy);
}
