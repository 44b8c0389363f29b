//! Where incremental sync resumes on the source, end to end: by GTID after the source restarted
//! and the checkpoint's binlog file was purged (both flavours), by file and position on a MySQL
//! server with GTIDs off (MySQL's own default), and through MySQL's compressed transactions
//! (`binlog_transaction_compression=ON`) with a crash in between.

use std::time::{Duration, Instant};

use ferry_crds::Phase;
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC: Duration = Duration::from_secs(90);

/// Purges the source's binlog files older than the first one after `file`, retrying while the
/// server keeps them (a dump thread of a stopped ferry still reading, MariaDB's binlog checkpoint).
async fn purge_through(src: &TestServer, file: &str) {
    let mut c = src.conn().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs: Vec<String> = c.query_map("SHOW BINARY LOGS", |row: mysql_async::Row| row.get::<String, _>(0).unwrap()).await.unwrap();
        if logs.first().is_some_and(|oldest| oldest.as_str() > file) {
            return;
        }
        let next = logs.iter().find(|f| f.as_str() > file).expect("a binlog file after the checkpoint's");
        let _ = c.query_drop(format!("PURGE BINARY LOGS TO '{next}'")).await;
        assert!(Instant::now() < deadline, "the source kept {logs:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A task of one whole database, synchronized and stopped; returns the checkpoint's file.
async fn sync_then_stop(src: &TestServer, dst: &TestServer, dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    Workload::create_tables(src, "wl", 300).await;
    let m = write_task(dir, name, src, dst, "  objects:\n  - database: wl\n");
    let mut ferry = RunningFerry::start(&m, dir);
    ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;
    Workload::start(src, WorkloadOptions::new("wl", 1).transactions(150)).await.wait().await;
    ferry.wait_until_same(src, dst, &["wl"], SYNC).await;
    ferry.interrupt(Duration::from_secs(15)).await;
    let file = ferry.status().and_then(|s| s.checkpoint).expect("a checkpoint").file;
    (m, file)
}

/// The source restarts and purges the file ferry stopped in, every change after the checkpoint
/// still in later files: ferry resumes by GTID (MySQL: auto-position, as its own replicas do;
/// MariaDB: its GTID state, since the file is gone) and misses nothing, keyless tables included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_by_gtid_after_a_restart_and_a_purge_of_its_file() {
    let (mut src, dst) = pair().await;
    let dir = tempfile::tempdir().unwrap();
    let (m, stopped_in) = sync_then_stop(&src, &dst, dir.path(), "gtid").await;

    // Changes ferry has not seen land in newer files only; then its file goes.
    src.exec("FLUSH BINARY LOGS").await;
    Workload::start(&src, WorkloadOptions::new("wl", 2).transactions(100)).await.wait().await;
    src.restart().await;
    Workload::start(&src, WorkloadOptions::new("wl", 3).transactions(100)).await.wait().await;
    purge_through(&src, &stopped_in).await;

    let mut ferry = RunningFerry::start_with(&m, dir.path(), &["-v"]);
    ferry.wait_until_same(&src, &dst, &["wl"], SYNC).await;
    assert!(ferry.stderr().contains("resuming the binlog by GTID"), "{}", ferry.describe());
    // And it goes on from there, with exact positions again.
    Workload::start(&src, WorkloadOptions::new("wl", 4).duration(Duration::from_secs(3))).await.wait().await;
    ferry.wait_until_same(&src, &dst, &["wl"], SYNC).await;
    let cp = ferry
        .wait_for_status("a checkpoint in the newest file", SYNC, |s| {
            s.checkpoint.as_ref().is_some_and(|c| c.file.as_str() > stopped_in.as_str())
        })
        .await
        .checkpoint
        .unwrap();
    assert!(cp.gtid_set.as_deref().is_some_and(|g| !g.is_empty()), "{cp:?}");
    check_workload_invariants(&mut dst.conn().await, "wl").await.unwrap();
    ferry.assert_running("at the end");
}

/// MySQL with GTIDs off (its default): the checkpoint has no GTID set and ferry resumes by file
/// and position, across a restart of the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_without_gtids_resumes_by_file_and_position() {
    if default_flavor() != Flavor::MySql {
        println!("MySQL only: MariaDB always has GTIDs");
        return;
    }
    let no_gtids = ServerOptions::source().arg("--gtid-mode=OFF").arg("--enforce-gtid-consistency=OFF");
    let (mut src, dst) = tokio::join!(TestServer::start(no_gtids), TestServer::start(ServerOptions::target()));
    assert_eq!(src.gtid_position().await, "", "the case under test: no GTIDs");
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = sync_then_stop(&src, &dst, dir.path(), "nogtid").await;
    Workload::start(&src, WorkloadOptions::new("wl", 2).transactions(100)).await.wait().await;
    src.restart().await;
    Workload::start(&src, WorkloadOptions::new("wl", 3).transactions(100)).await.wait().await;

    let mut ferry = RunningFerry::start_with(&m, dir.path(), &["-v"]);
    ferry.wait_until_same(&src, &dst, &["wl"], SYNC).await;
    assert!(ferry.stderr().contains("reading the binlog") && !ferry.stderr().contains("by GTID"), "{}", ferry.describe());
    let cp = ferry.wait_for_status("a checkpoint", SYNC, |s| s.checkpoint.is_some()).await.checkpoint.unwrap();
    assert!(cp.gtid_set.is_none() && !cp.file.is_empty(), "{cp:?}");
    check_workload_invariants(&mut dst.conn().await, "wl").await.unwrap();
}

/// MySQL's compressed transactions (common on managed MySQL): the precheck lets them through,
/// the copy hands off to them, large ones included, and a crash in between loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_compressed_transactions_are_applied() {
    if default_flavor() != Flavor::MySql {
        println!("MySQL only: MariaDB's compressed events (log_bin_compress) are refused by the precheck");
        return;
    }
    let compressed = ServerOptions::source().arg("--binlog-transaction-compression=ON");
    let (src, dst) = tokio::join!(TestServer::start(compressed), TestServer::start(ServerOptions::target()));
    Workload::create_tables(&src, "wl", 2000).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "zip", &src, &dst, "  objects:\n  - database: wl\n");
    let load = Workload::start(
        &src,
        WorkloadOptions::new("wl", 5).connections(2).duration(Duration::from_secs(10)).bulk_after(Duration::from_secs(2)),
    )
    .await;
    let mut ferry = RunningFerry::start(&m, dir.path());
    let st = ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;
    let item = st.precheck.unwrap().items.into_iter().find(|i| i.id == "binlog-compression").unwrap();
    assert!(item.message.contains("compressed transactions") && item.message.contains("are read"), "{item:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(ferry.kill(), "ferry was running");
    let mut ferry = RunningFerry::start(&m, dir.path());
    let report = load.wait().await;
    assert!(report.committed > 0);
    ferry.wait_until_same(&src, &dst, &["wl"], SYNC).await;
    let mut c = src.conn().await;
    let files: Vec<String> = c.query_map("SHOW BINARY LOGS", |row: mysql_async::Row| row.get::<String, _>(0).unwrap()).await.unwrap();
    let mut payloads = 0;
    for f in files {
        let rows: Vec<mysql_async::Row> = c.query(format!("SHOW BINLOG EVENTS IN '{f}'")).await.unwrap();
        payloads += rows.iter().filter(|r| r.get::<String, _>(2).as_deref() == Some("Transaction_payload")).count();
    }
    assert!(payloads > 10, "the case under test: compressed transactions ({payloads})");
    check_workload_invariants(&mut dst.conn().await, "wl").await.unwrap();
}
