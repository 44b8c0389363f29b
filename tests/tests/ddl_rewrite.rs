//! DDL rewritten by `ferry_engine::sql::ddl::rewrite_ddl` runs on MariaDB and builds the same
//! schema under the mapped names. The statements and their rewrites live in
//! engine/src/sql/testdata/ddl_e2e.txt; the engine's unit test `sql::ddl::tests::e2e_cases`
//! checks that the rewrites there are what `rewrite_ddl` produces.

use ferry_e2e::*;
use mysql_async::prelude::*;

const CASES: &str = include_str!("../../engine/src/sql/testdata/ddl_e2e.txt");

/// (default database, original statement, rewritten statement).
fn cases() -> Vec<(&'static str, &'static str, &'static str)> {
    let body = &CASES[CASES.find("db: ").unwrap()..];
    body.split("\n----\n")
        .map(|case| {
            let (db_line, rest) = case.split_once('\n').unwrap();
            let (orig, rewritten) = rest.split_once("\n=>").unwrap();
            (db_line.strip_prefix("db: ").unwrap(), orig, rewritten.trim_matches('\n'))
        })
        .collect()
}

fn script(sql: &str) -> String {
    format!("DELIMITER ;;\n{sql};;\nDELIMITER ;\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewritten_ddl_builds_the_same_schema_under_mapped_names() {
    if default_flavor() != Flavor::MariaDb {
        // The cases build on one another with MariaDB's own forms (ALTER ... ADD COLUMN IF NOT
        // EXISTS, sequences, system versioning); MySQL's forms are covered by ddl_sync and
        // schema_fidelity, which replay them through ferry.
        eprintln!("MariaDB only: the rewrite cases are MariaDB statements");
        return;
    }
    let server = TestServer::start(ServerOptions::target()).await;
    server.exec("CREATE DATABASE shop; CREATE DATABASE crm; CREATE DATABASE shop2; CREATE DATABASE crm2; CREATE DATABASE elsewhere").await;
    let cases = cases();
    assert!(cases.len() >= 15);
    for (db, orig, rewritten) in &cases {
        assert_ne!(orig, rewritten);
        server.exec_in(Some(db), &script(orig)).await;
        // The rewrite names every object with its database: any default database will do.
        server.exec_in(Some("elsewhere"), &script(rewritten)).await;
    }
    let mut c = server.conn().await;
    // Source and target schemas match once names are mapped.
    let to_target = |ddl: String| {
        ddl.replace("`qty`", "`quantity`")
            .replace("`note`", "`remark`")
            .replace("CREATE TABLE `orders`", "CREATE TABLE `purchases`")
            .replace("`crm`.", "`crm2`.")
    };
    for (src_db, src_t, dst_db, dst_t) in
        [("shop", "orders", "shop2", "purchases"), ("crm", "contacts", "crm2", "contacts"), ("shop", "t2", "shop2", "t2")]
    {
        let src = to_target(show_create_table(&mut c, src_db, src_t).await);
        let dst = show_create_table(&mut c, dst_db, dst_t).await;
        assert_eq!(src, dst, "{src_db}.{src_t} vs {dst_db}.{dst_t}");
    }
    let tables = |db: &'static str| {
        let sql = format!("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' ORDER BY TABLE_NAME");
        sql
    };
    let src: Vec<String> = c.query(tables("shop")).await.unwrap();
    let dst: Vec<String> = c.query(tables("shop2")).await.unwrap();
    assert_eq!(src, ["orders", "t2"]);
    assert_eq!(dst, ["purchases", "t2"]);
    let src: Vec<String> = c.query(tables("crm")).await.unwrap();
    let dst: Vec<String> = c.query(tables("crm2")).await.unwrap();
    assert_eq!(src, dst);
    let nothing: Vec<String> = c.query(tables("elsewhere")).await.unwrap();
    assert!(nothing.is_empty(), "{nothing:?}");
}
