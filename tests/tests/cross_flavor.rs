//! MySQL into MariaDB and MariaDB into MySQL: every type through the copy and the binlog, and a
//! schema change, between servers of the two flavours. The flavours are pinned, whatever
//! `$FERRY_TEST_FLAVOR` says, so `make test` runs the suite once, in its MariaDB pass.

use std::time::Duration;

use ferry_crds::Phase;
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC_TIMEOUT: Duration = Duration::from_secs(90);

async fn types_both_ways(source: Flavor, target: Flavor) {
    let (src, dst) =
        tokio::join!(TestServer::start(ServerOptions::source().flavor(source)), TestServer::start(ServerOptions::target().flavor(target)));
    // The copy: the every-type table with its key, and a keyless twin.
    // MariaDB's TIME reaches 838:59:59.999999, MySQL's stops at 838:59:59: a value the target
    // cannot hold fails the copy naming the column (checked first); the rest of the test keeps
    // to the values both can hold.
    let mariadb_to_mysql = target == Flavor::MySql && source == Flavor::MariaDb;
    let fit = |sql: String| if mariadb_to_mysql { sql.replace("'838:59:59.999999'", "'838:59:59'") } else { sql };
    let fixture = format!("{}{}{}", types_ddl(), types_table_ddl("types.nk", false), types_insert("types.nk"));
    if mariadb_to_mysql {
        src.exec(&fixture).await;
        refused_time_fails_the_copy(&src, &dst).await;
        src.exec("DROP DATABASE types;").await;
    }
    src.exec(&fit(fixture)).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "cross", &src, &dst, "  objects:\n  - database: types\n  incremental: true\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;

    // The binlog: a table created live (schema change) and filled with every type, updates from
    // edge to edge and back, a column added, a delete.
    let cols = TYPES_WRITABLE_COLUMNS.join(", ");
    src.exec(&fit(format!(
        "{}{}UPDATE types.t SET vc = CONCAT(vc, '+'), j = JSON_OBJECT('k', id, 'nested', JSON_ARRAY(1, 'two', NULL)) WHERE id <= 2;
         ALTER TABLE types.live ADD COLUMN added VARCHAR(10) DEFAULT 'new';
         INSERT INTO types.live ({cols}) SELECT id + 10{} FROM types.t;
         DELETE FROM types.live WHERE id = 2;\n",
        types_table_ddl("types.live", true),
        types_insert("types.live"),
        TYPES_WRITABLE_COLUMNS[1..].iter().map(|c| format!(", {c}")).collect::<String>()
    )))
    .await;
    ferry.wait_until_same(&src, &dst, &["types"], SYNC_TIMEOUT).await;
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    for t in ["t", "nk", "live"] {
        assert_same_values(&mut s, &mut d, "types", t).await;
    }

    // A view and a routine made live, each replayed in its source session: MySQL's session
    // collation (utf8mb4_0900_ai_ci) does not exist on MariaDB 10.11, MariaDB's sql_mode holds
    // NO_AUTO_CREATE_USER, which MySQL 8+ lacks: the target gets what it can hold.
    src.exec("CREATE VIEW types.vv AS SELECT 'é' AS e, 'a' || 'b' AS o; CREATE PROCEDURE types.pp() SELECT 'ü' AS u;").await;
    let deadline = std::time::Instant::now() + SYNC_TIMEOUT;
    let view = "SELECT CONCAT(HEX(e), '/', o) FROM types.vv";
    let want: Option<String> = s.query_first(view).await.unwrap();
    loop {
        let got: Option<String> = d.query_first(view).await.ok().flatten();
        let routine: Option<String> =
            d.query_first("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'types'").await.unwrap();
        if got.is_some() && routine.as_deref() == Some("pp") {
            assert_eq!(got, want);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the view and the procedure never arrived\n{}", ferry.describe());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Verified across the flavours: every type compares equal (JSON as documents, floats by
    // their bits), the keyless twin as a multiset.
    let out = ferry_e2e::ferry().args(["verify", "--no-progress", "-f"]).arg(&m).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("the target holds what the source holds"), "{report}");
    ferry.assert_running("after the changes");
}

async fn refused_time_fails_the_copy(src: &TestServer, dst: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "refused", src, dst, "  objects:\n  - database: types\n  incremental: false\n");
    let out = run_ferry(&m, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("tm6") && err.contains("Out of range"), "{err}");
    dst.exec("DROP DATABASE types; DROP DATABASE IF EXISTS ferry_meta;").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_from_mysql_into_mariadb() {
    types_both_ways(Flavor::MySql, Flavor::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_from_mariadb_into_mysql() {
    types_both_ways(Flavor::MariaDb, Flavor::MySql).await;
}
