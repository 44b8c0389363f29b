//! Schema changes during incremental sync, end to end: ferry replays the source's DDL on the
//! target for the objects the task selects, under the task's name mapping; follows renamed
//! tables; decodes every row event with the table's schema as it was at that binlog position;
//! keeps row filters and DML kinds; brings the target through gh-ost and pt-online-schema-change
//! migrations (their statement sequences scripted, under writes); and never drops a statement
//! silently: a DDL the target refuses fails the task (`onDdlError: Fail`) or is listed in
//! `status.schemaChanges.skipped` (`Skip`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferry_crds::Phase;
use ferry_e2e::*;
use mysql_async::Conn;
use mysql_async::prelude::*;

const SYNC_TIMEOUT: Duration = Duration::from_secs(60);
const CONVERGE: Duration = Duration::from_secs(60);

/// Writes the task and runs ferry until the task is Synchronizing.
async fn start_task(dir: &std::path::Path, name: &str, src: &TestServer, dst: &TestServer, tail: &str) -> RunningFerry {
    let m = write_task(dir, name, src, dst, tail);
    let mut ferry = RunningFerry::start(&m, dir);
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    ferry
}

// ---- polling -------------------------------------------------------------------------------------

/// Polls `check` until it returns Ok; panics with its last error (and ferry's stderr and status)
/// on timeout or when ferry exits.
async fn eventually<F, Fut>(ferry: &mut RunningFerry, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + CONVERGE;
    loop {
        let last = match check().await {
            Ok(()) => return,
            Err(e) => e,
        };
        if !ferry.is_running() {
            panic!("ferry exited while waiting for {what}; last check: {last}\n{}", ferry.describe());
        }
        if Instant::now() > deadline {
            panic!("no {what} after {CONVERGE:?}; last check: {last}\n{}", ferry.describe());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `sql` on a fresh connection (errors as text: a missing table is "not yet").
async fn query<T: FromRow + Send + 'static>(db: &TestServer, sql: &str) -> Result<Vec<T>, String> {
    let mut c = Conn::new(db.opts()).await.map_err(|e| format!("connect: {e}"))?;
    let r = c.query(sql).await.map_err(|e| format!("`{sql}`: {e}"));
    let _ = c.disconnect().await;
    r
}

/// Waits until `sql` on the target returns `expected`.
async fn wait_rows<T>(ferry: &mut RunningFerry, dst: &TestServer, sql: &str, expected: &[T])
where
    T: FromRow + PartialEq + std::fmt::Debug + Send + Clone + 'static,
{
    let what = format!("`{sql}` = {expected:?} on the target");
    eventually(ferry, &what, move || async move {
        let got: Vec<T> = query(dst, sql).await?;
        if got == expected { Ok(()) } else { Err(format!("got {got:?}")) }
    })
    .await
}

/// Waits until `sql` gives the same rows on the source (`src_sql`) and the target (`dst_sql`).
async fn wait_same_rows<T>(ferry: &mut RunningFerry, src: &TestServer, src_sql: &str, dst: &TestServer, dst_sql: &str)
where
    T: FromRow + PartialEq + std::fmt::Debug + Send + 'static,
{
    let what = format!("the target's `{dst_sql}` equal to the source's `{src_sql}`");
    eventually(ferry, &what, move || async move {
        let a: Vec<T> = query(src, src_sql).await?;
        let b: Vec<T> = query(dst, dst_sql).await?;
        if a == b { Ok(()) } else { Err(format!("source {a:?}\ntarget {b:?}")) }
    })
    .await
}

// ---- schema descriptions ---------------------------------------------------------------------------

/// `name TYPE [NOT] NULL` of every column of `db.table`, in order.
async fn columns(c: &mut Conn, db: &str, table: &str) -> Result<Vec<String>, String> {
    c.exec(
        "SELECT CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE, IF(IS_NULLABLE = 'YES', ' NULL', ' NOT NULL')) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        (db, table),
    )
    .await
    .map_err(|e| format!("columns of {db}.{table}: {e}"))
}

/// `name [unique] (col,col)` of every index of `db.table`, sorted by name (bytes: PRIMARY first).
async fn indexes(c: &mut Conn, db: &str, table: &str) -> Result<Vec<String>, String> {
    let mut v: Vec<String> = c
        .exec(
            "SELECT CONCAT(INDEX_NAME, IF(NON_UNIQUE = 0, ' unique', ''), ' (', \
           GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX), ')') \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
         GROUP BY INDEX_NAME, NON_UNIQUE ORDER BY INDEX_NAME",
            (db, table),
        )
        .await
        .map_err(|e| format!("indexes of {db}.{table}: {e}"))?;
    v.sort();
    Ok(v)
}

async fn list(c: &mut Conn, sql: &str, db: &str) -> Result<Vec<String>, String> {
    c.exec(sql, (db,)).await.map_err(|e| format!("{sql}: {e}"))
}

async fn tables_of(c: &mut Conn, db: &str) -> Result<Vec<String>, String> {
    list(
        c,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' \
         ORDER BY TABLE_NAME",
        db,
    )
    .await
}

async fn views_of(c: &mut Conn, db: &str) -> Result<Vec<String>, String> {
    list(c, "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME", db).await
}

async fn routines_of(c: &mut Conn, db: &str) -> Result<Vec<String>, String> {
    list(
        c,
        "SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? \
         ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        db,
    )
    .await
}

async fn triggers_of(c: &mut Conn, db: &str) -> Result<Vec<String>, String> {
    list(c, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME", db).await
}

async fn databases(c: &mut Conn) -> Vec<String> {
    c.query("SHOW DATABASES").await.unwrap()
}

/// Differences between `src_db` on the source and `dst_db` on the target: base tables, each
/// table's columns, indexes, row count and checksum. Empty when they are the same.
async fn db_diff(src: &TestServer, src_db: &str, dst: &TestServer, dst_db: &str) -> Result<Vec<String>, String> {
    let mut s = Conn::new(src.opts()).await.map_err(|e| e.to_string())?;
    let mut d = Conn::new(dst.opts()).await.map_err(|e| e.to_string())?;
    let st = tables_of(&mut s, src_db).await?;
    let dt = tables_of(&mut d, dst_db).await?;
    let mut diffs = Vec::new();
    if st != dt {
        diffs.push(format!("tables: source {src_db} {st:?}, target {dst_db} {dt:?}"));
    }
    for t in st.iter().filter(|t| dt.contains(t)) {
        diffs.extend(table_diff(&mut s, src_db, t, &mut d, dst_db, t).await?);
    }
    let _ = s.disconnect().await;
    let _ = d.disconnect().await;
    Ok(diffs)
}

/// Differences between one source table and one target table (columns, indexes, rows).
async fn table_diff(s: &mut Conn, sdb: &str, st: &str, d: &mut Conn, ddb: &str, dt: &str) -> Result<Vec<String>, String> {
    let mut diffs = Vec::new();
    let (sc, dc) = (columns(s, sdb, st).await?, columns(d, ddb, dt).await?);
    if sc != dc {
        diffs.push(format!("{sdb}.{st} vs {ddb}.{dt}: columns: source {sc:?}, target {dc:?}"));
        return Ok(diffs);
    }
    let (si, di) = (indexes(s, sdb, st).await?, indexes(d, ddb, dt).await?);
    if si != di {
        diffs.push(format!("{sdb}.{st} vs {ddb}.{dt}: indexes: source {si:?}, target {di:?}"));
    }
    let a = try_table_checksum(s, sdb, st).await?;
    let b = try_table_checksum(d, ddb, dt).await?;
    if a != b {
        diffs.push(format!("{sdb}.{st} vs {ddb}.{dt}: rows: source {a:?}, target {b:?}"));
    }
    Ok(diffs)
}

/// Waits until `src_db` on the source and `dst_db` on the target have the same tables, columns,
/// indexes and rows.
async fn wait_db_same(ferry: &mut RunningFerry, src: &TestServer, src_db: &str, dst: &TestServer, dst_db: &str) {
    let what = format!("source {src_db} and target {dst_db} alike (tables, columns, indexes, rows)");
    eventually(ferry, &what, move || async move {
        let diffs = db_diff(src, src_db, dst, dst_db).await?;
        if diffs.is_empty() { Ok(()) } else { Err(diffs.join("\n")) }
    })
    .await
}

/// Waits until one source table and one target table are alike (columns, indexes, rows).
async fn wait_table_same(ferry: &mut RunningFerry, src: &TestServer, src_table: &str, dst: &TestServer, dst_table: &str) {
    let what = format!("source {src_table} and target {dst_table} alike (columns, indexes, rows)");
    eventually(ferry, &what, move || async move {
        let (sdb, st) = src_table.split_once('.').unwrap();
        let (ddb, dt) = dst_table.split_once('.').unwrap();
        let mut s = Conn::new(src.opts()).await.map_err(|e| e.to_string())?;
        let mut d = Conn::new(dst.opts()).await.map_err(|e| e.to_string())?;
        let diffs = table_diff(&mut s, sdb, st, &mut d, ddb, dt).await?;
        if diffs.is_empty() { Ok(()) } else { Err(diffs.join("\n")) }
    })
    .await
}

/// Every `mysql-bin.NNNNNN:POS` in `text`.
fn positions_in(text: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("mysql-bin.") {
        let tail = &rest[i..];
        let file_len = "mysql-bin.".len() + tail["mysql-bin.".len()..].chars().take_while(|c| c.is_ascii_digit()).count();
        let file = &tail[..file_len];
        if let Some(after) = tail[file_len..].strip_prefix(':') {
            let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(p) = digits.parse() {
                out.push((file.to_string(), p));
            }
        }
        rest = &tail[file_len..];
    }
    out
}

/// Whether `text` names a binlog position between `from` and `to` (same file), inclusive.
fn names_position_between(text: &str, from: &(String, u64), to: &(String, u64)) -> bool {
    positions_in(text).iter().any(|(f, p)| *f == from.0 && *f == to.0 && (from.1..=to.1).contains(p))
}

fn schema_changes(st: &ferry_crds::SyncTaskStatus) -> ferry_crds::SchemaChangeStatus {
    st.schema_changes.clone().unwrap_or_default()
}

// ---- every statement kind, database-level selections ---------------------------------------------

/// The tables a statement-kinds database starts with (copied by the initial sync).
fn kinds_fixture(db: &str) -> String {
    format!(
        "CREATE DATABASE {db};
         CREATE TABLE {db}.orders (id INT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20) NOT NULL DEFAULT '');
         INSERT INTO {db}.orders VALUES (1, 2, 'one'), (2, 5, 'two'), (3, 9, 'three');
         CREATE TABLE {db}.old_t (id INT PRIMARY KEY, s VARCHAR(20));
         INSERT INTO {db}.old_t VALUES (1, 'x'), (2, 'y');\n"
    )
}

/// Every statement kind, run with `db` as the default database (names mostly unqualified, some
/// qualified), with row changes between them.
fn kinds_script(db: &str) -> String {
    format!(
        "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL);
         INSERT INTO customers VALUES (1, 'ann'), (2, 'bob');
         CREATE TABLE customers_like LIKE customers;
         INSERT INTO customers_like SELECT * FROM customers;
         ALTER TABLE customers_like RENAME TO customers_copy;
         INSERT INTO customers_copy VALUES (3, 'cy');
         ALTER TABLE orders ADD COLUMN customer_id INT NULL AFTER id, ADD KEY k_note (note);
         UPDATE orders SET customer_id = 1 WHERE id <= 2;
         ALTER TABLE {db}.orders MODIFY note VARCHAR(100) NOT NULL DEFAULT '';
         INSERT INTO orders VALUES (4, 2, 4, 'a longer note than twenty characters');
         CREATE INDEX k_qty ON orders (qty);
         CREATE UNIQUE INDEX uk_name ON {db}.customers (name);
         DROP INDEX k_note ON orders;
         CREATE VIEW v_orders AS SELECT id, qty FROM orders WHERE qty > 1;
         ALTER VIEW v_orders AS SELECT o.id, o.qty, c.name FROM orders o JOIN customers c ON c.id = o.customer_id;
         CREATE VIEW v_tmp AS SELECT 1 AS one;
         DROP VIEW v_tmp;
         CREATE FUNCTION total_qty() RETURNS INT READS SQL DATA RETURN (SELECT IFNULL(SUM(qty), 0) FROM orders);
         CREATE PROCEDURE bump(IN n INT) MODIFIES SQL DATA UPDATE {db}.orders SET qty = qty + n;
         CREATE FUNCTION f_tmp() RETURNS INT DETERMINISTIC RETURN 1;
         DROP FUNCTION f_tmp;
         CREATE PROCEDURE p_tmp() SELECT 1;
         DROP PROCEDURE p_tmp;
         CREATE TRIGGER trg_orders BEFORE INSERT ON orders FOR EACH ROW SET NEW.qty = NEW.qty + 1000;
         INSERT INTO orders (id, customer_id, qty, note) VALUES (10, 2, 1, 'via trigger');
         CALL bump(1);
         RENAME TABLE old_t TO renamed_t;
         INSERT INTO renamed_t VALUES (3, 'after rename');
         UPDATE renamed_t SET s = 'X' WHERE id = 1;
         CREATE TABLE scratch (id INT PRIMARY KEY, v INT);
         INSERT INTO scratch VALUES (1, 1), (2, 2);
         TRUNCATE TABLE scratch;
         INSERT INTO scratch VALUES (3, 3);
         CREATE TABLE doomed (id INT PRIMARY KEY);
         INSERT INTO doomed VALUES (1);
         DROP TABLE doomed;
         CREATE TABLE ctas AS SELECT id, qty FROM orders;
         UPDATE ctas SET qty = -qty WHERE id = 1;\n"
    )
}

/// Every statement kind on two whole databases in one task, one under another name and one
/// under its own: tables created mid-sync get their rows (CREATE TABLE, ... LIKE, ... AS SELECT),
/// ALTER/CREATE INDEX/DROP INDEX/RENAME/ALTER ... RENAME/TRUNCATE/DROP TABLE land with the
/// mapped database name, views and routines are created (and dropped) in the mapped database
/// and read from it, a trigger is not created (its effects arrive as rows), and DROP/CREATE
/// DATABASE follow; an unselected database created mid-sync stays away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_selection_replays_every_statement_kind_with_and_without_mapping() {
    let (src, dst) = pair().await;
    let dbs = [("mapped", "mapped_copy"), ("plain", "plain")];
    src.exec(&(kinds_fixture("mapped") + &kinds_fixture("plain"))).await;
    let dir = tempfile::tempdir().unwrap();
    let mut ferry =
        start_task(dir.path(), "kinds", &src, &dst, "  objects:\n  - database: mapped\n    rename: mapped_copy\n  - database: plain\n")
            .await;
    for (s, d) in dbs {
        wait_db_same(&mut ferry, &src, s, &dst, d).await;
    }

    for (s, _) in dbs {
        src.exec_in(Some(s), &kinds_script(s)).await;
    }
    for (s, d) in dbs {
        wait_db_same(&mut ferry, &src, s, &dst, d).await;
    }

    let (mut sc, mut dc) = (src.conn().await, dst.conn().await);
    for (s, d) in dbs {
        let tables = tables_of(&mut dc, d).await.unwrap();
        assert_eq!(tables, ["ctas", "customers", "customers_copy", "orders", "renamed_t", "scratch"], "{d}");
        assert_eq!(count_rows(&mut dc, &format!("{d}.scratch")).await, 1, "TRUNCATE replayed on {d}.scratch");
        let trig: Option<i32> = dc.query_first(format!("SELECT qty FROM {d}.orders WHERE id = 10")).await.unwrap();
        assert_eq!(trig, Some(1002), "the trigger's effect (+1000) and the procedure's (+1) arrived as rows");

        // Views: created, altered, dropped; reading the mapped database.
        assert_eq!(views_of(&mut dc, d).await.unwrap(), ["v_orders"], "{d}");
        let view_sql = |db: &str| format!("SELECT id, qty, name FROM {db}.v_orders ORDER BY id");
        let a: Vec<(i32, i32, String)> = sc.query(view_sql(s)).await.unwrap();
        let b: Vec<(i32, i32, String)> = dc.query(view_sql(d)).await.unwrap();
        assert_eq!(a, b, "view {d}.v_orders selects what the source's does (the ALTER VIEW form)");
        assert!(!a.is_empty());
        let def: String = dc
            .exec_first("SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'v_orders'", (d,))
            .await
            .unwrap()
            .unwrap();
        assert!(def.contains(&format!("`{d}`.")), "the view reads {d}: {def}");
        if s != d {
            assert!(!def.contains(&format!("`{s}`.")), "the view must not read the source's name {s}: {def}");
        }

        // Routines: created and dropped; the function reads the mapped database.
        assert_eq!(routines_of(&mut dc, d).await.unwrap(), ["FUNCTION total_qty", "PROCEDURE bump"], "{d}");
        let a: Option<i64> = sc.query_first(format!("SELECT {s}.total_qty()")).await.unwrap();
        let b: Option<i64> = dc.query_first(format!("SELECT {d}.total_qty()")).await.unwrap();
        assert_eq!(a, b, "{d}.total_qty()");
        let body: String = dc
            .exec_first(
                "SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = 'bump'",
                (d,),
            )
            .await
            .unwrap()
            .unwrap();
        let body = body.replace('`', "");
        assert!(body.contains(&format!("{d}.orders")), "the procedure writes {d}.orders: {body}");
        if s != d {
            assert!(!body.contains(&format!("{s}.orders")), "the procedure must not write {s}.orders: {body}");
        }

        // Triggers are never created by replay.
        assert_eq!(triggers_of(&mut sc, s).await.unwrap(), ["trg_orders"]);
        assert!(triggers_of(&mut dc, d).await.unwrap().is_empty(), "no trigger on the target's {d}");
    }
    assert!(!databases(&mut dc).await.contains(&"mapped".to_string()), "nothing under the source name of a mapped db");
    // 24 replayable statements per database (the trigger is not among them).
    let st = ferry
        .wait_for_status("status.schemaChanges.applied counting the statements", Duration::from_secs(10), |s| {
            schema_changes(s).applied >= 40
        })
        .await;
    let changes = schema_changes(&st);
    assert!(changes.skipped.is_empty(), "nothing skipped: {changes:?}");

    // DROP DATABASE, CREATE DATABASE and a table in it; a database nobody selected stays away.
    src.exec("DROP DATABASE mapped; DROP DATABASE plain;").await;
    let d = &dst;
    eventually(&mut ferry, "both databases dropped on the target", move || async move {
        let dbs: Vec<String> = query(d, "SHOW DATABASES").await?;
        if dbs.iter().any(|d| d == "mapped_copy" || d == "plain") { Err(format!("{dbs:?}")) } else { Ok(()) }
    })
    .await;
    let mut script =
        String::from("CREATE DATABASE unselected; CREATE TABLE unselected.t (id INT PRIMARY KEY); INSERT INTO unselected.t VALUES (1);\n");
    for (s, _) in dbs {
        script += &format!(
            "CREATE DATABASE {s}; CREATE TABLE {s}.reborn (id INT PRIMARY KEY, v VARCHAR(10));
             INSERT INTO {s}.reborn VALUES (1, 'a'), (2, 'b'); UPDATE {s}.reborn SET v = 'B' WHERE id = 2;\n"
        );
    }
    src.exec(&script).await;
    for (s, d) in dbs {
        wait_db_same(&mut ferry, &src, s, &dst, d).await;
    }
    assert_eq!(count_rows(&mut dc, "mapped_copy.reborn").await, 2);
    assert!(!databases(&mut dc).await.contains(&"unselected".to_string()), "an unselected database stays away");
    ferry.assert_running("at the end");
    assert_eq!(ferry.status().and_then(|s| s.phase), Some(Phase::Synchronizing));
}

// ---- table-level selections --------------------------------------------------------------------

/// Tables selected one by one (one under other names with a renamed column, one as is): only their
/// DDL is replayed, under the mapping; a column subset keeps out added columns; other tables'
/// DDL, new tables, views and routines of the database stay away; RENAME TABLE of a selected
/// table is followed (rows keep arriving under the new name) and reported in
/// `status.schemaChanges.followedRenames`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_selection_replays_only_selected_tables_and_follows_renames() {
    let (src, dst) = pair().await;
    src.exec(
        "CREATE DATABASE shop;
         CREATE TABLE shop.orders (id INT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20));
         INSERT INTO shop.orders VALUES (1, 1, 'a'), (2, 2, 'b');
         CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL);
         INSERT INTO shop.items VALUES (1, 'pen'), (2, 'ink');
         CREATE TABLE shop.other (id INT PRIMARY KEY);
         INSERT INTO shop.other VALUES (1);
         CREATE DATABASE store;
         CREATE TABLE store.goods (id INT PRIMARY KEY, name VARCHAR(20));
         INSERT INTO store.goods VALUES (1, 'cup'), (2, 'mug');
         CREATE TABLE store.misc (id INT PRIMARY KEY);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut ferry = start_task(
        dir.path(),
        "tables",
        &src,
        &dst,
        "  objects:
  - database: shop
    rename: shop2
    tables:
    - name: orders
      rename: purchases
      columns:
      - name: id
      - name: qty
        rename: quantity
      - name: note
    - name: items
  - database: store
    tables:
    - name: goods
",
    )
    .await;
    let mut dc = dst.conn().await;
    assert_eq!(tables_of(&mut dc, "shop2").await.unwrap(), ["items", "purchases"]);
    assert_eq!(tables_of(&mut dc, "store").await.unwrap(), ["goods"]);

    // Without any mapping: the selected table's DDL only.
    src.exec_in(
        Some("store"),
        "ALTER TABLE goods ADD COLUMN qty INT NOT NULL DEFAULT 1;
         CREATE INDEX k_name ON goods (name);
         INSERT INTO goods VALUES (3, 'bowl', 5);
         ALTER TABLE store.goods ADD KEY k_qty (qty), MODIFY name VARCHAR(40);
         DROP INDEX k_name ON goods;
         TRUNCATE TABLE goods;
         INSERT INTO goods VALUES (4, 'plate', 2), (5, 'a name longer than twenty', 3);
         ALTER TABLE misc ADD COLUMN z INT;
         CREATE TABLE goods_like LIKE goods;
         CREATE TABLE fresh (id INT PRIMARY KEY);
         INSERT INTO fresh VALUES (1);
         RENAME TABLE goods TO goods_v2;
         UPDATE goods_v2 SET qty = qty * 10;
         CREATE INDEX k_late ON goods_v2 (qty, name);
         INSERT INTO goods_v2 VALUES (6, 'after rename', 6);",
    )
    .await;
    wait_table_same(&mut ferry, &src, "store.goods_v2", &dst, "store.goods_v2").await;
    assert_eq!(tables_of(&mut dc, "store").await.unwrap(), ["goods_v2"], "no misc, goods_like or fresh");

    src.exec_in(
        Some("shop"),
        "ALTER TABLE orders MODIFY qty BIGINT NOT NULL DEFAULT 0;
         CREATE INDEX k_qty ON orders (qty);
         ALTER TABLE orders ADD COLUMN secret VARCHAR(10) NULL;
         INSERT INTO orders VALUES (3, 3000000000, 'c', 'hidden');
         ALTER TABLE shop.orders ADD KEY k_note_qty (note, qty);
         DROP INDEX k_qty ON orders;
         UPDATE orders SET qty = qty + 1, secret = 's' WHERE id = 1;
         ALTER TABLE items ADD COLUMN price DECIMAL(8,2) NOT NULL DEFAULT 0;
         INSERT INTO items VALUES (3, 'pad', 2.50);
         ALTER TABLE other ADD COLUMN z INT;
         INSERT INTO other VALUES (2, 2);
         CREATE TABLE newbie (id INT PRIMARY KEY);
         INSERT INTO newbie VALUES (1);
         CREATE VIEW v_items AS SELECT * FROM items;
         CREATE FUNCTION f_one() RETURNS INT DETERMINISTIC RETURN 1;
         TRUNCATE TABLE other;",
    )
    .await;
    let cols_sql = "SELECT CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE) FROM information_schema.COLUMNS \
                    WHERE TABLE_SCHEMA = 'shop2' AND TABLE_NAME = 'purchases' ORDER BY ORDINAL_POSITION";
    let ty = |t: &str| dst.flavor().int_display(t);
    wait_rows::<String>(&mut ferry, &dst, cols_sql, &[ty("id int(11)"), ty("quantity bigint(20)"), ty("note varchar(20)")]).await;
    wait_same_rows::<(i32, i64, Option<String>)>(
        &mut ferry,
        &src,
        "SELECT id, qty, note FROM shop.orders ORDER BY id",
        &dst,
        "SELECT id, quantity, note FROM shop2.purchases ORDER BY id",
    )
    .await;
    wait_table_same(&mut ferry, &src, "shop.items", &dst, "shop2.items").await;
    assert_eq!(
        indexes(&mut dc, "shop2", "purchases").await.unwrap(),
        ["PRIMARY unique (id)", "k_note_qty (note,quantity)"],
        "indexes of the renamed table, on the renamed column; the dropped one gone"
    );
    assert_eq!(tables_of(&mut dc, "shop2").await.unwrap(), ["items", "purchases"], "no other, no newbie");
    assert!(views_of(&mut dc, "shop2").await.unwrap().is_empty(), "views only for database-level selections");
    assert!(routines_of(&mut dc, "shop2").await.unwrap().is_empty(), "routines only for database-level selections");
    let dbs = databases(&mut dc).await;
    assert!(!dbs.contains(&"shop".to_string()), "nothing under the source name: {dbs:?}");

    // RENAME TABLE of a selected table: followed.
    src.exec_in(
        Some("shop"),
        "TRUNCATE TABLE items;
         INSERT INTO items VALUES (10, 'after truncate', 1.00);
         RENAME TABLE items TO items_v2;
         INSERT INTO items_v2 VALUES (11, 'after rename', 1.10);
         UPDATE items_v2 SET name = 'renamed row' WHERE id = 10;
         ALTER TABLE items_v2 ADD COLUMN tag VARCHAR(8) DEFAULT 'new';
         INSERT INTO items_v2 VALUES (12, 'tagged', 0, 't');
         RENAME TABLE other TO other2;
         INSERT INTO other2 VALUES (5, 5);",
    )
    .await;
    wait_table_same(&mut ferry, &src, "shop.items_v2", &dst, "shop2.items_v2").await;
    assert_eq!(tables_of(&mut dc, "shop2").await.unwrap(), ["items_v2", "purchases"]);
    let st = ferry
        .wait_for_status("the followed rename in status", Duration::from_secs(10), |s| {
            let renames = schema_changes(s).followed_renames;
            renames.iter().any(|r| r == "shop.items -> shop.items_v2") && renames.iter().any(|r| r == "store.goods -> store.goods_v2")
        })
        .await;
    let changes = schema_changes(&st);
    assert!(!changes.followed_renames.iter().any(|r| r.contains("other")), "an unselected table's rename is not followed: {changes:?}");
    assert!(changes.applied >= 12, "{changes:?}");

    // The followed table keeps being selected: DROP TABLE reaches the target too.
    src.exec("DROP TABLE shop.items_v2; INSERT INTO shop.orders VALUES (9, 9, 'last', NULL);").await;
    wait_rows::<String>(
        &mut ferry,
        &dst,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop2' ORDER BY 1",
        &["purchases".into()],
    )
    .await;
    wait_rows::<i32>(&mut ferry, &dst, "SELECT id FROM shop2.purchases WHERE id = 9", &[9]).await;
    ferry.assert_running("at the end");
}

// ---- schema versions between row events ------------------------------------------------------------

/// Columns added, dropped, reordered, renamed and re-added with another type between row events of
/// one table: every row event is decoded with the schema of its binlog position, also when ferry
/// reads the events after the source's schema has moved on (it was stopped during the second half).
/// Once for a whole database, once for a selected table under other names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_added_dropped_and_reordered_between_row_events() {
    let (src, dst) = pair().await;
    let fixture = |db: &str| {
        format!(
            "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, a VARCHAR(10), b INT);
             INSERT INTO {db}.t VALUES (100, 'init', 0);\n"
        )
    };
    src.exec(&(fixture("evo") + &fixture("evo_sel"))).await;
    let dir = tempfile::tempdir().unwrap();
    let tail =
        "  objects:\n  - database: evo\n  - database: evo_sel\n    rename: evo_sel2\n    tables:\n    - name: t\n      rename: t_mapped\n";
    let mut ferry = start_task(dir.path(), "evo", &src, &dst, tail).await;

    // First half, with ferry following live (all in one go: ferry cannot look at the schema
    // between the statements).
    let live = "INSERT INTO t VALUES (1, 'a1', 10);
        ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7 AFTER id;
        INSERT INTO t (id, a, b, c) VALUES (2, 'a2', 20, 2);
        UPDATE t SET c = 11, a = 'a1u' WHERE id = 1;
        ALTER TABLE t DROP COLUMN a;
        INSERT INTO t (id, b, c) VALUES (3, 30, 3);
        UPDATE t SET b = b + 1 WHERE id = 2;
        ALTER TABLE t MODIFY b BIGINT FIRST;
        INSERT INTO t (b, id, c) VALUES (40, 4, 4);
        DELETE FROM t WHERE id = 1;
        ALTER TABLE t ADD COLUMN x VARCHAR(30) DEFAULT 'dflt';
        INSERT INTO t (id, b, c, x) VALUES (5, 50, 5, 'text in x');
        UPDATE t SET x = 'changed x' WHERE id = 2;
        ALTER TABLE t DROP COLUMN x;
        INSERT INTO t (id, b, c) VALUES (6, 60, 6);
        ALTER TABLE t ADD COLUMN x INT NULL;
        INSERT INTO t (id, b, c, x) VALUES (7, 70, 7, 77);
        UPDATE t SET x = -1 WHERE id = 5;\n";
    src.exec_in(Some("evo"), live).await;
    src.exec_in(Some("evo_sel"), live).await;
    ferry.wait_until_same(&src, &dst, &["evo"], CONVERGE).await;
    wait_table_same(&mut ferry, &src, "evo_sel.t", &dst, "evo_sel2.t_mapped").await;

    // Second half while ferry is stopped: when it reads these events, the source's tables
    // already have their final schema.
    ferry.interrupt(Duration::from_secs(15)).await;
    let offline = "ALTER TABLE t ADD COLUMN y TEXT AFTER b;
        INSERT INTO t (id, b, c, x, y) VALUES (8, 80, 8, 8, 'y8');
        UPDATE t SET y = 'y for 2' WHERE id = 2;
        ALTER TABLE t CHANGE b b_renamed BIGINT NOT NULL DEFAULT 0;
        INSERT INTO t (id, b_renamed, c, x, y) VALUES (9, 90, 9, 9, 'y9');
        UPDATE t SET b_renamed = b_renamed * 2 WHERE id IN (3, 4);
        ALTER TABLE t DROP COLUMN y, ADD COLUMN z DATETIME(3) NULL FIRST;
        INSERT INTO t (z, id, b_renamed, c, x) VALUES ('2024-05-06 07:08:09.123', 10, 100, 10, 10);
        DELETE FROM t WHERE id = 6;
        ALTER TABLE t MODIFY c INT NOT NULL DEFAULT 7 FIRST, DROP COLUMN x;
        INSERT INTO t (id, b_renamed, c) VALUES (11, 110, 11);
        UPDATE t SET c = c + 100, z = '2001-01-01' WHERE id >= 8;
        ALTER TABLE t ADD COLUMN x VARCHAR(5) NOT NULL DEFAULT 'new';
        INSERT INTO t (id, b_renamed, c, x) VALUES (12, 120, 12, 'xx');\n";
    src.exec_in(Some("evo"), offline).await;
    src.exec_in(Some("evo_sel"), offline).await;
    let mut ferry = RunningFerry::start(&dir.path().join("evo.yaml"), dir.path());
    ferry.wait_until_same(&src, &dst, &["evo"], CONVERGE).await;
    wait_table_same(&mut ferry, &src, "evo_sel.t", &dst, "evo_sel2.t_mapped").await;
    let mut dc = dst.conn().await;
    assert_eq!(
        columns(&mut dc, "evo", "t").await.unwrap(),
        ["c int(11) NOT NULL", "z datetime(3) NULL", "b_renamed bigint(20) NOT NULL", "id int(11) NOT NULL", "x varchar(5) NOT NULL"]
            .map(|t| dst.flavor().int_display(t))
    );
    assert_eq!(count_rows(&mut dc, "evo.t").await, 11);
    ferry.wait_for_phase(Phase::Synchronizing, Duration::from_secs(10)).await;
}

// ---- DML kinds and ddl: false ------------------------------------------------------------------------

/// `dml` lists per database and per table (a table's list overrides its database's), and `ddl:
/// false` per database with a table that turns it back on: TRUNCATE and CREATE INDEX of a
/// ddl:false table are not replayed, CREATE TABLE in a ddl:false database is not either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dml_kinds_and_ddl_switches() {
    let (src, dst) = pair().await;
    let mut fixture = String::from("CREATE DATABASE kinds; CREATE DATABASE kinds_all;\n");
    for t in ["kinds.ins_only", "kinds.no_delete", "kinds.upd_del", "kinds.with_ddl", "kinds_all.t"] {
        fixture += &format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO {t} VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');\n"
        );
    }
    src.exec(&fixture).await;
    let dir = tempfile::tempdir().unwrap();
    let mut ferry = start_task(
        dir.path(),
        "dml",
        &src,
        &dst,
        "  objects:
  - database: kinds
    ddl: false
    dml: [Insert, Update]
    tables:
    - name: ins_only
      dml: [Insert]
    - name: no_delete
    - name: upd_del
      dml: [Update, Delete]
    - name: with_ddl
      ddl: true
      dml: [Insert, Update, Delete]
  - database: kinds_all
    ddl: false
",
    )
    .await;
    let mut script = String::new();
    for t in ["kinds.ins_only", "kinds.no_delete", "kinds.upd_del", "kinds.with_ddl", "kinds_all.t"] {
        script += &format!("INSERT INTO {t} VALUES (5, 'e'); UPDATE {t} SET v = 'upd' WHERE id = 1; DELETE FROM {t} WHERE id = 2;\n");
    }
    script += "CREATE INDEX k_v ON kinds.no_delete (v);
               CREATE INDEX k_v ON kinds.with_ddl (v);
               TRUNCATE TABLE kinds_all.t;
               INSERT INTO kinds_all.t VALUES (6, 'f');
               CREATE TABLE kinds_all.later (id INT PRIMARY KEY);
               INSERT INTO kinds.with_ddl VALUES (100, 'marker');\n";
    src.exec(&script).await;
    wait_rows::<i32>(&mut ferry, &dst, "SELECT id FROM kinds.with_ddl WHERE id = 100", &[100]).await;
    wait_rows::<i32>(&mut ferry, &dst, "SELECT id FROM kinds_all.t WHERE id = 6", &[6]).await;
    let rows = |t: &str| format!("SELECT id, v FROM {t} ORDER BY id");
    let r = |v: &[(i32, &str)]| v.iter().map(|(i, s)| (*i, s.to_string())).collect::<Vec<_>>();
    let mut dc = dst.conn().await;
    let got = |t: &'static str| {
        let sql = rows(t);
        let opts = dst.opts();
        async move {
            let mut c = Conn::new(opts).await.unwrap();
            c.query::<(i32, String), _>(sql).await.unwrap()
        }
    };
    assert_eq!(got("kinds.ins_only").await, r(&[(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]), "inserts only");
    assert_eq!(got("kinds.no_delete").await, r(&[(1, "upd"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]), "the database's list");
    assert_eq!(got("kinds.upd_del").await, r(&[(1, "upd"), (3, "c"), (4, "d")]), "updates and deletes only");
    assert_eq!(got("kinds.with_ddl").await, r(&[(1, "upd"), (3, "c"), (4, "d"), (5, "e"), (100, "marker")]), "all three");
    assert_eq!(
        got("kinds_all.t").await,
        r(&[(1, "upd"), (3, "c"), (4, "d"), (5, "e"), (6, "f")]),
        "all kinds by default; TRUNCATE not replayed (ddl: false)"
    );
    assert_eq!(indexes(&mut dc, "kinds", "no_delete").await.unwrap(), ["PRIMARY unique (id)"], "ddl: false");
    assert_eq!(indexes(&mut dc, "kinds", "with_ddl").await.unwrap(), ["PRIMARY unique (id)", "k_v (v)"], "ddl: true on the table");
    assert_eq!(tables_of(&mut dc, "kinds_all").await.unwrap(), ["t"], "CREATE TABLE not replayed (ddl: false)");
    ferry.assert_running("at the end");
}

// ---- row filters during incremental sync ------------------------------------------------------------

/// A row filter holds during incremental sync with pre-image semantics: an UPDATE that moves a
/// row out of the filter deletes it on the target, one that moves it in inserts it (whole), one
/// that stays out does nothing; also with a column subset under other names, a key change, and a
/// transaction that moves a row in and out again; and after ALTERs of the filtered table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_filter_moves_rows_in_and_out_with_pre_image_semantics() {
    let (src, dst) = pair().await;
    src.exec(
        "CREATE DATABASE flt;
         CREATE TABLE flt.acct (id INT PRIMARY KEY, region CHAR(2) NOT NULL, balance INT NOT NULL, memo VARCHAR(20));
         INSERT INTO flt.acct VALUES (1, 'eu', 10, 'm1'), (2, 'us', 20, 'm2'), (3, 'eu', 30, 'm3'), (4, 'us', 40, 'm4');",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut ferry = start_task(
        dir.path(),
        "filter",
        &src,
        &dst,
        "  objects:
  - database: flt
    rename: flt2
    tables:
    - name: acct
      where: \"region = 'eu'\"
      columns:
      - name: id
      - name: region
      - name: balance
        rename: amount
",
    )
    .await;
    let src_sql = "SELECT id, region, CAST(balance AS SIGNED) FROM flt.acct WHERE region = 'eu' ORDER BY id";
    let dst_sql = "SELECT id, region, CAST(amount AS SIGNED) FROM flt2.acct ORDER BY id";
    wait_same_rows::<(i32, String, i64)>(&mut ferry, &src, src_sql, &dst, dst_sql).await;

    src.exec(
        "UPDATE flt.acct SET region = 'us' WHERE id = 1;
         UPDATE flt.acct SET region = 'eu', balance = 42 WHERE id = 2;
         UPDATE flt.acct SET balance = balance + 1 WHERE id = 3;
         UPDATE flt.acct SET balance = 99, memo = 'out' WHERE id = 4;
         INSERT INTO flt.acct VALUES (5, 'eu', 50, NULL), (6, 'us', 60, NULL), (7, 'eu', 70, NULL);
         DELETE FROM flt.acct WHERE id IN (5, 6);
         UPDATE flt.acct SET id = 30 WHERE id = 3;
         BEGIN; UPDATE flt.acct SET region = 'eu' WHERE id = 4; UPDATE flt.acct SET balance = 7 WHERE id = 4;
           UPDATE flt.acct SET region = 'us' WHERE id = 4; COMMIT;
         BEGIN; UPDATE flt.acct SET region = 'us' WHERE id = 7; UPDATE flt.acct SET region = 'eu', balance = 71 WHERE id = 7; COMMIT;",
    )
    .await;
    wait_same_rows::<(i32, String, i64)>(&mut ferry, &src, src_sql, &dst, dst_sql).await;
    let mut dc = dst.conn().await;
    let ids: Vec<i32> = dc.query("SELECT id FROM flt2.acct ORDER BY id").await.unwrap();
    assert_eq!(ids, [2, 7, 30]);

    // After ALTERs of the filtered table: an added (unselected) column stays out, a selected
    // column's new type arrives, rows still move in and out.
    src.exec(
        "ALTER TABLE flt.acct ADD COLUMN note VARCHAR(10) NULL AFTER id;
         ALTER TABLE flt.acct MODIFY balance BIGINT NOT NULL;
         UPDATE flt.acct SET region = 'eu', note = 'in', balance = 5000000000 WHERE id = 4;
         UPDATE flt.acct SET region = 'us', note = 'out' WHERE id = 2;
         INSERT INTO flt.acct (id, note, region, balance) VALUES (8, 'n', 'eu', 8);",
    )
    .await;
    wait_same_rows::<(i32, String, i64)>(&mut ferry, &src, src_sql, &dst, dst_sql).await;
    assert_eq!(
        columns(&mut dc, "flt2", "acct").await.unwrap(),
        ["id int(11) NOT NULL", "region char(2) NOT NULL", "amount bigint(20) NOT NULL"].map(|t| dst.flavor().int_display(t)),
        "the column subset holds; the selected column's type follows"
    );
    ferry.assert_running("at the end");
}

// ---- online schema change tools -------------------------------------------------------------------

/// Writes to `db.t` (id, v) until stopped: inserts of fresh ids, updates and deletes of random ids.
/// While `mirror` is set, each change is applied to `db._t_gho` as gh-ost applies what it reads
/// from the binlog (REPLACE INTO / UPDATE / DELETE), under `gate` so that the tool's steps can
/// pause the writes.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<u64>,
}

impl Writer {
    fn start(src: &TestServer, db: &str, first_id: i64, mirror: Arc<tokio::sync::Mutex<bool>>, seed: u64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (opts, db, flag) = (src.opts(), db.to_string(), stop.clone());
        let handle = tokio::spawn(async move {
            let mut c = Conn::new(opts).await.unwrap();
            let mut rng = Rng::new(seed);
            let mut next = first_id;
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let gate = mirror.lock().await;
                let ghost = format!("`{db}`.`_t_gho`");
                match rng.below(10) {
                    0..=4 => {
                        let (id, v) = (next, rng.range(0, 1000));
                        next += 1;
                        c.query_drop(format!("INSERT INTO `{db}`.`t` (id, v) VALUES ({id}, {v})")).await.unwrap();
                        if *gate {
                            c.query_drop(format!("replace /* gh-ost {ghost} */ into {ghost} (`id`, `v`) values ({id}, {v})"))
                                .await
                                .unwrap();
                        }
                    }
                    5..=7 => {
                        let id = rng.range(1, next);
                        c.query_drop(format!("UPDATE `{db}`.`t` SET v = v + 1 WHERE id = {id}")).await.unwrap();
                        let now: Option<i64> = c.query_first(format!("SELECT v FROM `{db}`.`t` WHERE id = {id}")).await.unwrap();
                        if let (true, Some(v)) = (*gate, now) {
                            c.query_drop(format!("update /* gh-ost {ghost} */ {ghost} set `id`={id}, `v`={v} where ((`id` = {id}))"))
                                .await
                                .unwrap();
                        }
                    }
                    _ => {
                        let id = rng.range(1, next);
                        c.query_drop(format!("DELETE FROM `{db}`.`t` WHERE id = {id}")).await.unwrap();
                        if *gate && c.affected_rows() > 0 {
                            c.query_drop(format!("delete /* gh-ost {ghost} */ from {ghost} where ((`id` = {id}))")).await.unwrap();
                        }
                    }
                }
                drop(gate);
                n += 1;
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            let _ = c.disconnect().await;
            n
        });
        Writer { stop, handle }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.unwrap()
    }
}

/// The table an online-schema-change test migrates: `db.t` (id, v) with 2000 rows.
/// The end of a scripted migration: the writer ran beside it, and the source has the new schema.
async fn migration_done(writer: Writer, c: &mut Conn, db: &str) {
    let writes = writer.stop().await;
    assert!(writes > 50, "the writer ran during the migration ({writes} writes)");
    let cols: Vec<String> = columns(c, db, "t").await.unwrap();
    // The migrated source is of the default flavour.
    let expected = ["id int(11) NOT NULL", "v int(11) NOT NULL", "c int(11) NOT NULL"].map(|t| default_flavor().int_display(t));
    assert_eq!(cols, expected, "the migration ran on the source");
}

fn osc_fixture(db: &str) -> String {
    format!(
        "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT NOT NULL PRIMARY KEY, v INT NOT NULL);
         INSERT INTO {db}.t SELECT seq, seq % 100 FROM {db}.seq_1_to_2000;\n"
    )
}

/// The shadow tables neither tool may leave behind on the target.
const SHADOWS: [&str; 5] = ["_t_gho", "_t_ghc", "_t_del", "_t_new", "_t_old"];

/// One gh-ost migration of `db.t` (ADD COLUMN c, ADD KEY on v), statement by statement as gh-ost
/// issues them: changelog and ghost tables, ALTER of the ghost, row copy in chunks while `writer`
/// writes to `t` and its changes are applied to the ghost, heartbeats into the changelog, the
/// atomic cut-over (sentry table `_t_del`, LOCK TABLES, a blocked RENAME in another session, DROP
/// of the sentry, UNLOCK), then the drops of the changelog and the old table.
async fn gh_ost_run(src: &TestServer, db: &str, seed: u64) {
    let q = |t: &str| format!("`{db}`.`{t}`");
    let (t, gho, ghc, del) = (q("t"), q("_t_gho"), q("_t_ghc"), q("_t_del"));
    let mirror = Arc::new(tokio::sync::Mutex::new(false));
    let writer = Writer::start(src, db, 3000, mirror.clone(), seed);
    let mut c = src.conn().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let heartbeat = format!(
        "insert /* gh-ost */ into {ghc} (id, hint, value) values (NULLIF(1, 0), 'heartbeat', DATE_FORMAT(NOW(6), '%Y-%m-%d %H:%i:%s.%f')) \
         on duplicate key update last_update=NOW(), value=VALUES(value)"
    );
    {
        let mut gate = mirror.lock().await;
        c.query_drop(format!(
            "create /* gh-ost */ table {ghc} (\n\t\t\tid bigint unsigned auto_increment,\n\t\t\tlast_update timestamp not null DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n\t\t\thint varchar(64) charset ascii not null,\n\t\t\tvalue varchar(4096) charset ascii not null,\n\t\t\tprimary key(id),\n\t\t\tunique key hint_uidx(hint)\n\t\t) auto_increment=256 comment='gh-ost changelog'"
        ))
        .await
        .unwrap();
        c.query_drop(format!("create /* gh-ost */ table {gho} like {t}")).await.unwrap();
        c.query_drop(format!("alter /* gh-ost */ table {gho} add column c int not null default 0, add key k_v (v)")).await.unwrap();
        c.query_drop(format!(
            "insert /* gh-ost */ into {ghc} (id, hint, value) values (NULLIF(2, 0), 'state', 'GhostTableMigrated') \
             on duplicate key update last_update=NOW(), value=VALUES(value)"
        ))
        .await
        .unwrap();
        *gate = true;
    }
    // The copy range is fixed when the copy starts; later rows come through the binlog.
    let max: i64 = c.query_first(format!("SELECT MAX(id) FROM {t}")).await.unwrap().unwrap();
    let mut lo = 0;
    while lo <= max {
        let hi = lo + 250;
        c.query_drop(format!(
            "insert /* gh-ost {t} */ ignore into {gho} (`id`, `v`) (select `id`, `v` from {t} force index (`PRIMARY`) \
             where (((`id` > {lo}) or ((`id` = {lo}))) and ((`id` < {hi}) or ((`id` = {hi})))) lock in share mode)"
        ))
        .await
        .unwrap();
        c.query_drop(&heartbeat).await.unwrap();
        lo = hi + 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Cut-over: writes pause (as under gh-ost's lock); the ghost has every change so far.
    {
        let mut gate = mirror.lock().await;
        c.query_drop(format!(
            "insert /* gh-ost */ into {ghc} (id, hint, value) values (NULLIF(0, 0), 'state', 'AllEventsUpToLockProcessed:1') \
             on duplicate key update last_update=NOW(), value=VALUES(value)"
        ))
        .await
        .unwrap();
        c.query_drop(format!(
            "create /* gh-ost */ table {del} (\n\t\t\tid int auto_increment primary key\n\t\t) engine=InnoDB comment='ghost-cut-over-sentry'"
        ))
        .await
        .unwrap();
        c.query_drop(format!("lock /* gh-ost */ tables {t} write, {del} write")).await.unwrap();
        let rename = format!("rename /* gh-ost */ table {t} to {del}, {gho} to {t}");
        let opts = src.opts();
        let renamer = tokio::spawn(async move {
            let mut r = Conn::new(opts).await.unwrap();
            r.query_drop(rename).await.unwrap();
        });
        // gh-ost waits until the RENAME is seen blocked on the lock.
        let mut p = src.conn().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: Option<u64> = p
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE CONCAT('rename /* gh-ost */ table ', ?, '%')",
                    (t.clone(),),
                )
                .await
                .unwrap();
            if waiting == Some(1) {
                break;
            }
            assert!(Instant::now() < deadline, "the cut-over RENAME never showed up blocked");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        c.query_drop(format!("drop /* gh-ost */ table if exists {del}")).await.unwrap();
        c.query_drop("unlock /* gh-ost */ tables").await.unwrap();
        renamer.await.unwrap();
        *gate = false;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.query_drop(format!("drop /* gh-ost */ table if exists {ghc}")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.query_drop(format!("drop /* gh-ost */ table if exists {del}")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    migration_done(writer, &mut c, db).await;
}

/// gh-ost's statement sequence under writes, on a whole database and on a selected table under
/// other names: the target's table ends with the new schema and every row, and no shadow table
/// is left on the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gh_ost_migration_under_writes() {
    let (src, dst) = pair().await;
    src.exec(
        &(osc_fixture("gh")
            + &osc_fixture("ghsel")
            + "CREATE TABLE gh.bystander (id INT PRIMARY KEY); INSERT INTO gh.bystander VALUES (1);"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut ferry = start_task(
        dir.path(),
        "ghost",
        &src,
        &dst,
        "  objects:\n  - database: gh\n  - database: ghsel\n    rename: ghsel_copy\n    tables:\n    - name: t\n      rename: t_copy\n",
    )
    .await;
    tokio::join!(gh_ost_run(&src, "gh", 1), gh_ost_run(&src, "ghsel", 2));
    ferry.wait_until_same(&src, &dst, &["gh"], CONVERGE).await;
    wait_table_same(&mut ferry, &src, "ghsel.t", &dst, "ghsel_copy.t_copy").await;
    let mut dc = dst.conn().await;
    assert_eq!(tables_of(&mut dc, "gh").await.unwrap(), ["bystander", "t"]);
    assert_eq!(tables_of(&mut dc, "ghsel_copy").await.unwrap(), ["t_copy"], "no shadow table of the selected table");
    for db in ["gh", "ghsel_copy", "ghsel"] {
        let left: Vec<String> = tables_of(&mut dc, db).await.unwrap().into_iter().filter(|t| SHADOWS.contains(&t.as_str())).collect();
        assert!(left.is_empty(), "{db}: {left:?}");
    }
    assert_eq!(indexes(&mut dc, "ghsel_copy", "t_copy").await.unwrap(), ["PRIMARY unique (id)", "k_v (v)"]);
    ferry.assert_running("at the end");
    // Writes after the cut-over keep arriving.
    src.exec("INSERT INTO gh.t (id, v, c) VALUES (99999, 1, 2); INSERT INTO ghsel.t (id, v, c) VALUES (99999, 1, 2);").await;
    ferry.wait_until_same(&src, &dst, &["gh"], CONVERGE).await;
    wait_table_same(&mut ferry, &src, "ghsel.t", &dst, "ghsel_copy.t_copy").await;
}

/// One pt-online-schema-change migration of `db.t` (ADD COLUMN c, ADD KEY on v), statement by
/// statement as pt-osc 3.x issues them: `_t_new` from SHOW CREATE TABLE, its ALTER, the three
/// triggers, the copy in nibbles (INSERT LOW_PRIORITY IGNORE ... SELECT ... LOCK IN SHARE MODE)
/// while the writer writes to `t` (the triggers copy its changes: both tables' rows in one
/// transaction), ANALYZE, the atomic RENAME, DROP of `_t_old` and of the triggers.
async fn pt_osc_run(src: &TestServer, db: &str, seed: u64) {
    let q = |t: &str| format!("`{db}`.`{t}`");
    let (t, new, old) = (q("t"), q("_t_new"), q("_t_old"));
    let writer = Writer::start(src, db, 3000, Arc::new(tokio::sync::Mutex::new(false)), seed);
    let mut c = src.conn().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, create): (String, String) = c.query_first(format!("SHOW CREATE TABLE {t}")).await.unwrap().unwrap();
    let create = create.replacen("CREATE TABLE `t`", &format!("CREATE TABLE {new}"), 1);
    c.query_drop(create).await.unwrap();
    c.query_drop(format!("ALTER TABLE {new} add column c int not null default 0, add key k_v (v)")).await.unwrap();
    let trig = |suffix: &str| format!("`{db}`.`pt_osc_{db}_t_{suffix}`");
    c.query_drop(format!(
        "CREATE TRIGGER {} AFTER DELETE ON {t} FOR EACH ROW BEGIN DECLARE CONTINUE HANDLER FOR 1146 begin end; \
         DELETE IGNORE FROM {new} WHERE {new}.`id` <=> OLD.`id`; END",
        trig("del")
    ))
    .await
    .unwrap();
    c.query_drop(format!(
        "CREATE TRIGGER {} AFTER UPDATE ON {t} FOR EACH ROW BEGIN DECLARE CONTINUE HANDLER FOR 1146 begin end; \
         DELETE IGNORE FROM {new} WHERE !(OLD.`id` <=> NEW.`id`) AND {new}.`id` <=> OLD.`id`; \
         REPLACE INTO {new} (`id`, `v`) VALUES (NEW.`id`, NEW.`v`); END",
        trig("upd")
    ))
    .await
    .unwrap();
    c.query_drop(format!(
        "CREATE TRIGGER {} AFTER INSERT ON {t} FOR EACH ROW BEGIN DECLARE CONTINUE HANDLER FOR 1146 begin end; \
         REPLACE INTO {new} (`id`, `v`) VALUES (NEW.`id`, NEW.`v`);END",
        trig("ins")
    ))
    .await
    .unwrap();
    let max: i64 = c.query_first(format!("SELECT MAX(id) FROM {t}")).await.unwrap().unwrap();
    let mut lo = 1;
    while lo <= max {
        let hi = lo + 249;
        c.query_drop(format!(
            "INSERT LOW_PRIORITY IGNORE INTO {new} (`id`, `v`) SELECT `id`, `v` FROM {t} FORCE INDEX(`PRIMARY`) \
             WHERE ((`id` >= '{lo}')) AND ((`id` <= '{hi}')) LOCK IN SHARE MODE /*pt-online-schema-change 4242 copy nibble*/"
        ))
        .await
        .unwrap();
        lo = hi + 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    c.query_drop(format!("ANALYZE TABLE {new} /* pt-online-schema-change */")).await.unwrap();
    c.query_drop(format!("RENAME TABLE {t} TO {old}, {new} TO {t}")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.query_drop(format!("DROP TABLE IF EXISTS {old}")).await.unwrap();
    for s in ["del", "upd", "ins"] {
        c.query_drop(format!("DROP TRIGGER IF EXISTS {}", trig(s))).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    migration_done(writer, &mut c, db).await;
}

/// pt-online-schema-change's statement sequence under writes, on a whole database and on a
/// selected table under other names: the target's table ends with the new schema and every row;
/// no shadow table and no pt-osc trigger is left on the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pt_online_schema_change_migration_under_writes() {
    let (src, dst) = pair().await;
    src.exec(&(osc_fixture("pt") + &osc_fixture("ptsel"))).await;
    let dir = tempfile::tempdir().unwrap();
    let mut ferry = start_task(
        dir.path(),
        "ptosc",
        &src,
        &dst,
        "  objects:\n  - database: pt\n  - database: ptsel\n    rename: ptsel_copy\n    tables:\n    - name: t\n      rename: t_copy\n",
    )
    .await;
    tokio::join!(pt_osc_run(&src, "pt", 3), pt_osc_run(&src, "ptsel", 4));
    ferry.wait_until_same(&src, &dst, &["pt"], CONVERGE).await;
    wait_table_same(&mut ferry, &src, "ptsel.t", &dst, "ptsel_copy.t_copy").await;
    let mut dc = dst.conn().await;
    assert_eq!(tables_of(&mut dc, "pt").await.unwrap(), ["t"]);
    assert_eq!(tables_of(&mut dc, "ptsel_copy").await.unwrap(), ["t_copy"]);
    for db in ["pt", "ptsel_copy", "ptsel"] {
        let left: Vec<String> = tables_of(&mut dc, db).await.unwrap().into_iter().filter(|t| SHADOWS.contains(&t.as_str())).collect();
        assert!(left.is_empty(), "{db}: {left:?}");
        assert!(triggers_of(&mut dc, db).await.unwrap().is_empty(), "no trigger on the target's {db}");
    }
    assert_eq!(indexes(&mut dc, "ptsel_copy", "t_copy").await.unwrap(), ["PRIMARY unique (id)", "k_v (v)"]);
    src.exec("INSERT INTO pt.t (id, v, c) VALUES (99999, 1, 2); INSERT INTO ptsel.t (id, v, c) VALUES (99999, 1, 2);").await;
    ferry.wait_until_same(&src, &dst, &["pt"], CONVERGE).await;
    wait_table_same(&mut ferry, &src, "ptsel.t", &dst, "ptsel_copy.t_copy").await;
}

// ---- a DDL the target refuses -----------------------------------------------------------------------

/// A DDL that fails on the target only (a unique key over values the target holds twice), with
/// one source and two targets: `onDdlError: Fail` (the default) sets the task to Failed with the
/// statement, its binlog position and the server's error, applies nothing after it, and fails
/// the same way again when restarted; `onDdlError: Skip` logs it, lists it in
/// `status.schemaChanges.skipped` with its position and keeps syncing (later DDL and rows
/// included). Before it, statements that are not schema changes of selected objects (GRANT,
/// CREATE USER, FLUSH, SAVEPOINT, ANALYZE, DDL of an unselected database) stop neither task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_ddl_fails_or_is_skipped_by_policy() {
    let (src, dst_fail, dst_skip) = tokio::join!(
        TestServer::start(ServerOptions::source()),
        TestServer::start(ServerOptions::target()),
        TestServer::start(ServerOptions::target())
    );
    src.exec("CREATE DATABASE e; CREATE TABLE e.t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO e.t VALUES (1, 'a'), (2, 'b');").await;
    let dir = tempfile::tempdir().unwrap();
    let mut fail = start_task(dir.path(), "ddl-fail", &src, &dst_fail, "  objects:\n  - database: e\n").await;
    let mut skip = start_task(dir.path(), "ddl-skip", &src, &dst_skip, "  objects:\n  - database: e\n  onDdlError: Skip\n").await;

    // Not schema changes of selected objects: nothing to replay, nothing to fail.
    src.exec(
        "GRANT SELECT ON e.* TO 'ferry'@'%';
         CREATE USER 'someone'@'%' IDENTIFIED BY 'pw-1';
         GRANT SELECT ON e.t TO 'someone'@'%';
         FLUSH PRIVILEGES;
         FLUSH TABLES;
         BEGIN; INSERT INTO e.t VALUES (3, 'c'); SAVEPOINT sp; INSERT INTO e.t VALUES (4, 'd'); ROLLBACK TO SAVEPOINT sp; COMMIT;
         ANALYZE TABLE e.t;
         CREATE DATABASE other; CREATE TABLE other.x (id INT PRIMARY KEY); INSERT INTO other.x VALUES (1); DROP TABLE other.x;
         DROP USER 'someone'@'%';
         INSERT INTO e.t VALUES (5, 'e');",
    )
    .await;
    for (ferry, dst) in [(&mut fail, &dst_fail), (&mut skip, &dst_skip)] {
        wait_rows::<i32>(ferry, dst, "SELECT id FROM e.t ORDER BY id", &[1, 2, 3, 5]).await;
        assert_eq!(ferry.status().and_then(|s| s.phase), Some(Phase::Synchronizing));
    }

    // The targets hold a row the source does not: 'a' twice there.
    for dst in [&dst_fail, &dst_skip] {
        dst.exec("INSERT INTO e.t VALUES (100, 'a');").await;
    }
    let before = src.binlog_position().await;
    src.exec("ALTER TABLE e.t ADD UNIQUE KEY uk_v (v);").await;
    let after = src.binlog_position().await;
    src.exec("INSERT INTO e.t VALUES (6, 'f'); ALTER TABLE e.t ADD COLUMN w INT DEFAULT 5; INSERT INTO e.t VALUES (7, 'g', 8);").await;

    // Fail: the task stops, saying what, where and why.
    let st = fail.wait_for_phase(Phase::Failed, SYNC_TIMEOUT).await;
    let msg = st.message.clone().unwrap_or_default();
    assert!(msg.contains("uk_v") && msg.to_uppercase().contains("UNIQUE"), "the message holds the statement: {msg}");
    assert!(names_position_between(&msg, &before, &after), "the message holds the position ({before:?}..{after:?}): {msg}");
    assert!(msg.contains("Duplicate entry") || msg.contains("1062"), "the message holds the server's error: {msg}");
    let mut df = dst_fail.conn().await;
    let ids: Vec<i32> = df.query("SELECT id FROM e.t ORDER BY id").await.unwrap();
    assert_eq!(ids, [1, 2, 3, 5, 100], "nothing after the failed statement was applied");
    if fail.wait_exit(Duration::from_secs(20)).await.is_none() {
        // An engine may stay up reporting Failed; it must not move on.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let ids: Vec<i32> = df.query("SELECT id FROM e.t ORDER BY id").await.unwrap();
        assert_eq!(ids, [1, 2, 3, 5, 100], "a Failed task applied more");
        fail.kill();
    }
    // Restarted, it fails again on the same statement: nothing is ever skipped silently.
    let mut again = RunningFerry::start(&dir.path().join("ddl-fail.yaml"), dir.path());
    let st = again.wait_for_phase(Phase::Failed, SYNC_TIMEOUT).await;
    let msg2 = st.message.unwrap_or_default();
    assert!(msg2.contains("uk_v") && names_position_between(&msg2, &before, &after), "{msg2}");
    again.kill();
    let ids: Vec<i32> = df.query("SELECT id FROM e.t ORDER BY id").await.unwrap();
    assert_eq!(ids, [1, 2, 3, 5, 100]);
    assert!(indexes(&mut df, "e", "t").await.unwrap() == ["PRIMARY unique (id)"]);

    // Skip: the task goes on; the statement is in the status with its position and the reason.
    wait_rows::<(i32, String, Option<i32>)>(
        &mut skip,
        &dst_skip,
        "SELECT id, v, w FROM e.t WHERE id BETWEEN 6 AND 99 ORDER BY id",
        &[(6, "f".into(), Some(5)), (7, "g".into(), Some(8))],
    )
    .await;
    let st = skip
        // The status file is written at most once a second, so the rows can be on the target
        // before the ADD COLUMN's count is in the file.
        .wait_for_status("the skipped statement and the ADD COLUMN in status", Duration::from_secs(10), |s| {
            let changes = schema_changes(s);
            changes.skipped.iter().any(|k| k.statement.contains("uk_v")) && changes.applied >= 1
        })
        .await;
    assert_eq!(st.phase, Some(Phase::Synchronizing));
    let changes = schema_changes(&st);
    let skipped = changes.skipped.iter().find(|k| k.statement.contains("uk_v")).unwrap();
    assert!(names_position_between(&skipped.position, &before, &after), "position {} not in {before:?}..{after:?}", skipped.position);
    assert!(skipped.reason.contains("Duplicate entry") || skipped.reason.contains("1062"), "the reason is the server's error: {skipped:?}");
    assert_eq!(changes.skipped.len(), 1, "only the failing statement is listed: {changes:?}");
    assert!(changes.applied >= 1, "the ADD COLUMN after it was applied: {changes:?}");
    let mut ds = dst_skip.conn().await;
    assert_eq!(indexes(&mut ds, "e", "t").await.unwrap(), ["PRIMARY unique (id)"], "the skipped key is not there");
    skip.assert_running("at the end");
}
