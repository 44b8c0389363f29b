//! Which column a row event's value belongs to. A source that logs column names
//! (`binlog_row_metadata=FULL`) is matched by name; one that does not (MySQL's default MINIMAL,
//! MariaDB's default NO_LOG) by position in ferry's tracked copy of the table's definition at that
//! binlog position. Both are run on each flavour, with column selection, a renamed column, a row
//! filter, columns added, dropped and moved between rows, and unsigned extremes.

use std::time::Duration;

use ferry_crds::Phase;
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC_TIMEOUT: Duration = Duration::from_secs(90);

/// The setting under which the flavour's row events name no columns.
fn unnamed_metadata(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::MariaDb => "--binlog-row-metadata=NO_LOG",
        Flavor::MySql => "--binlog-row-metadata=MINIMAL",
    }
}

/// Rows of the target as the selection should have them, read from the source.
const EXPECTED: &str = "SELECT id, region, holder, amount, CAST(big AS CHAR) FROM bank.acct WHERE region = 'eu' ORDER BY id";
const ACTUAL: &str = "SELECT id, region, h, amount, CAST(big AS CHAR) FROM bank.acct ORDER BY id";

type Row = (i64, String, String, i64, Option<String>);

async fn selection_follows_the_source_layout(metadata: &str) {
    let flavor = default_flavor();
    let (src, dst) = tokio::join!(TestServer::start(ServerOptions::source().arg(metadata)), TestServer::start(ServerOptions::target()));
    // The setting took: without names the test is about positions, with them about names.
    let names = src.exec("SELECT @@binlog_row_metadata").await;
    assert_eq!(names.trim(), metadata.trim_start_matches("--binlog-row-metadata="), "{flavor:?}");
    src.exec(
        "CREATE DATABASE bank;
         CREATE TABLE bank.acct (id INT PRIMARY KEY, region VARCHAR(8), holder VARCHAR(20), amount INT,
                                 note VARCHAR(20), big BIGINT UNSIGNED);
         INSERT INTO bank.acct VALUES (1, 'eu', 'ann', 10, 'n1', 1), (2, 'us', 'bob', 20, 'n2', 2);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(
        dir.path(),
        "cols",
        &src,
        &dst,
        "  objects:\n  - database: bank\n    tables:\n    - name: acct\n      columns:\n      - name: id\n      - name: region\n      \
         - name: holder\n        rename: h\n      - name: amount\n      - name: big\n      where: region = 'eu'\n  incremental: true\n",
    );
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;

    // Unselected columns sit before and between the selected ones; the filter column is not the
    // first. Then the layout changes between rows: a column added first, one dropped, one moved.
    src.exec(
        "INSERT INTO bank.acct VALUES (3, 'eu', 'cat', 30, 'n3', 18446744073709551615), (4, 'us', 'dan', 40, 'n4', 4);
         UPDATE bank.acct SET amount = amount + 1, note = 'x' WHERE id IN (1, 3);
         ALTER TABLE bank.acct ADD COLUMN extra INT FIRST;
         INSERT INTO bank.acct (id, region, holder, amount, note, big, extra) VALUES (5, 'eu', 'eve', 50, 'n5', 5, 99), (6, 'us', 'fay', 60, 'n6', 6, 98);
         UPDATE bank.acct SET region = 'eu' WHERE id = 4;
         ALTER TABLE bank.acct DROP COLUMN note;
         INSERT INTO bank.acct (id, region, holder, amount, big) VALUES (7, 'eu', 'gus', 70, 9223372036854775808);
         ALTER TABLE bank.acct MODIFY COLUMN amount INT AFTER extra;
         INSERT INTO bank.acct (id, region, holder, amount, big) VALUES (8, 'eu', 'hal', 80, 8);
         UPDATE bank.acct SET holder = 'ann2' WHERE id = 1;
         DELETE FROM bank.acct WHERE id = 3;",
    )
    .await;

    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    let expected: Vec<Row> = s.query(EXPECTED).await.unwrap();
    assert_eq!(expected.len(), 5, "{expected:?}");
    let deadline = std::time::Instant::now() + SYNC_TIMEOUT;
    loop {
        let got: Vec<Row> = d.query(ACTUAL).await.unwrap_or_default();
        if got == expected {
            break;
        }
        if !ferry.is_running() || std::time::Instant::now() > deadline {
            panic!("{flavor:?} with {metadata}: target rows {got:?}\nexpected {expected:?}\n{}", ferry.describe());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The unselected columns stay out; the new one too (the selection names the columns).
    let cols: Vec<String> = d
        .query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'bank' AND TABLE_NAME = 'acct' ORDER BY ORDINAL_POSITION")
        .await
        .unwrap();
    assert!(!cols.iter().any(|c| c == "note" || c == "extra"), "{cols:?}");
    ferry.assert_running("after the changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_columns_map_by_position_when_the_binlog_names_none() {
    selection_follows_the_source_layout(unnamed_metadata(default_flavor())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_columns_map_by_name_with_full_row_metadata() {
    selection_follows_the_source_layout("--binlog-row-metadata=FULL").await;
}

/// A whole table without names in its row events: every column's value lands in its own column
/// across a column added in the middle and one dropped, unsigned extremes included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_tables_follow_layout_changes_without_column_names() {
    let flavor = default_flavor();
    let (src, dst) =
        tokio::join!(TestServer::start(ServerOptions::source().arg(unnamed_metadata(flavor))), TestServer::start(ServerOptions::target()));
    assert_eq!(
        src.exec("SELECT @@binlog_row_metadata").await.trim(),
        unnamed_metadata(flavor).trim_start_matches("--binlog-row-metadata=")
    );
    src.exec(
        "CREATE DATABASE w; CREATE TABLE w.t (id INT PRIMARY KEY, a TINYINT UNSIGNED, b VARCHAR(10), c BIGINT UNSIGNED, d MEDIUMINT UNSIGNED);
         INSERT INTO w.t VALUES (1, 255, 'one', 18446744073709551615, 16777215);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "whole", &src, &dst, "  objects:\n  - database: w\n  incremental: true\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    src.exec(
        "INSERT INTO w.t VALUES (2, 254, 'two', 9223372036854775808, 8388608);
         ALTER TABLE w.t ADD COLUMN m INT AFTER a;
         INSERT INTO w.t VALUES (3, 128, 7, 'three', 18446744073709551614, 8388609);
         ALTER TABLE w.t DROP COLUMN b;
         INSERT INTO w.t VALUES (4, 200, 8, 1, 2);
         UPDATE w.t SET a = 255, c = 18446744073709551615 WHERE id = 2;",
    )
    .await;
    ferry.wait_until_same(&src, &dst, &["w"], SYNC_TIMEOUT).await;
}

/// The filter names a column the task does not copy (`region`) and one it renames (`holder` as
/// `h`): the target has neither under those names, so the filter is evaluated on each row's source
/// values, never on the target table's columns. Rows entering, staying in and leaving the
/// selection, on both kinds of row metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_on_columns_the_target_lacks() {
    for metadata in ["--binlog-row-metadata=FULL", unnamed_metadata(default_flavor())] {
        let (src, dst) = tokio::join!(TestServer::start(ServerOptions::source().arg(metadata)), TestServer::start(ServerOptions::target()));
        src.exec(
            "CREATE DATABASE bank;
             CREATE TABLE bank.acct (id INT PRIMARY KEY, region VARCHAR(8), holder VARCHAR(20), amount INT);
             CREATE TABLE bank.log (region VARCHAR(8), amount INT);
             INSERT INTO bank.acct VALUES (1, 'eu', 'ann', 10), (2, 'us', 'bob', 20), (3, 'eu', 'zed', 30);
             INSERT INTO bank.log VALUES ('eu', 1), ('us', 2);",
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let m = write_task(
            dir.path(),
            "unsel",
            &src,
            &dst,
            "  objects:\n  - database: bank\n    tables:\n    - name: acct\n      columns:\n      - name: id\n      - name: amount\n      \
             - name: holder\n        rename: h\n      where: region = 'eu' AND holder <> 'zed'\n    - name: log\n      columns:\n      - name: amount\n      \
             where: region = 'eu'\n",
        );
        let mut ferry = RunningFerry::start(&m, dir.path());
        ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
        src.exec(
            "INSERT INTO bank.acct VALUES (4, 'eu', 'dan', 40), (5, 'us', 'eve', 50);
             UPDATE bank.acct SET amount = amount + 1 WHERE id IN (1, 2);
             UPDATE bank.acct SET region = 'eu' WHERE id = 5;
             UPDATE bank.acct SET region = 'us' WHERE id = 4;
             UPDATE bank.acct SET holder = 'zed' WHERE id = 1;
             UPDATE bank.acct SET holder = 'amy' WHERE id = 3;
             INSERT INTO bank.log VALUES ('eu', 3), ('us', 4), ('eu', 5);
             DELETE FROM bank.log WHERE amount = 1;",
        )
        .await;
        let (mut s, mut d) = (src.conn().await, dst.conn().await);
        let want_acct: Vec<(i64, i64, String)> =
            s.query("SELECT id, amount, holder FROM bank.acct WHERE region = 'eu' AND holder <> 'zed' ORDER BY id").await.unwrap();
        let want_log: Vec<i64> = s.query("SELECT amount FROM bank.log WHERE region = 'eu' ORDER BY amount").await.unwrap();
        assert_eq!(want_acct.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 5], "{want_acct:?}");
        let deadline = std::time::Instant::now() + SYNC_TIMEOUT;
        loop {
            let acct: Vec<(i64, i64, String)> = d.query("SELECT id, amount, h FROM bank.acct ORDER BY id").await.unwrap_or_default();
            let log: Vec<i64> = d.query("SELECT amount FROM bank.log ORDER BY amount").await.unwrap_or_default();
            if acct == want_acct && log == want_log {
                break;
            }
            assert!(
                ferry.is_running() && std::time::Instant::now() < deadline,
                "{metadata}: target acct {acct:?} log {log:?}, expected {want_acct:?} {want_log:?}\n{}",
                ferry.describe()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ferry.assert_running(metadata);
    }
}
