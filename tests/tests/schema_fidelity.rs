//! Schema fidelity, end to end (issue 11): the target's objects are the source's, exactly.
//!
//! - Every schema form MySQL 8+/9 and MariaDB can hold syncs without a panic: functional and
//!   multi-valued indexes (information_schema.STATISTICS.COLUMN_NAME is NULL for them), expression
//!   DEFAULTs, invisible columns, generated columns, generated invisible primary keys, CHECK
//!   constraints, `/*!NNNNN ... */` versioned comments; the full copy and the binlog both, and
//!   every table's SHOW CREATE TABLE reads the same on both sides.
//! - Column character sets and collations: MySQL prints `COLLATE x` alone for a column that
//!   inherits a non-default collation from its table, and replaying that text makes the collation
//!   explicit (`CHARACTER SET utf8mb4 COLLATE x`); the target must print what the source prints.
//! - Views, procedures and functions keep their own `character_set_client`,
//!   `collation_connection` and (routines) database collation, also for non-ASCII text written
//!   under a latin1 client.
//!
//! Each test runs on the default flavour (`FERRY_TEST_FLAVOR`); MySQL-only forms are skipped on
//! MariaDB.

use std::time::Duration;

use ferry_crds::Phase;

use ferry_e2e::*;
use mysql_async::Conn;
use mysql_async::prelude::*;

const SYNC_TIMEOUT: Duration = Duration::from_secs(90);

/// SHOW CREATE DATABASE with the database's name replaced by `DB`.
async fn show_create_database(conn: &mut Conn, db: &str) -> String {
    let sql = format!("SHOW CREATE DATABASE {}", quote_ident(db));
    let (_, ddl): (String, String) = conn.query_first(sql).await.unwrap().unwrap();
    ddl.replace(&quote_ident(db), "`DB`")
}

/// Every base table of `src_db` has the same SHOW CREATE TABLE in `dst_db` and the same rows; the
/// databases' own SHOW CREATE DATABASE agree too (database name apart).
async fn assert_same_schema_and_rows(src: &mut Conn, src_db: &str, dst: &mut Conn, dst_db: &str) {
    let tables = base_tables(src, src_db).await;
    assert!(!tables.is_empty(), "{src_db} has tables");
    let mut differing = Vec::new();
    for t in &tables {
        let a = show_create_table(src, src_db, t).await;
        let b = show_create_table(dst, dst_db, t).await;
        if a != b {
            differing.push(format!("--- source {src_db}.{t}:\n{a}\n--- target {dst_db}.{t}:\n{b}"));
        }
    }
    assert!(differing.is_empty(), "SHOW CREATE TABLE differs:\n{}", differing.join("\n"));
    assert_eq!(show_create_database(src, src_db).await, show_create_database(dst, dst_db).await);
    assert_same_database(src, src_db, dst, dst_db).await;
}

/// MySQL 8+ forms: functional, unique functional and multi-valued indexes, expression defaults,
/// invisible columns (also a generated one), a generated invisible primary key, CHECK constraints
/// (one NOT ENFORCED), descending keys, DDL written with versioned comments, and MySQL's own
/// types: VECTOR (9.0+) and a geometry with an SRID under a spatial index.
const MYSQL_FORMS: &str = "
    CREATE TABLE forms.doc (
      id INT PRIMARY KEY,
      email VARCHAR(100) NOT NULL,
      tags JSON,
      INDEX ix_doc ((LOWER(email))),
      UNIQUE KEY ux_doc ((id * 2), email),
      INDEX ix_tags ((CAST(tags->'$.t' AS UNSIGNED ARRAY))),
      KEY k_desc (email DESC)
    );
    CREATE TABLE forms.mydefaults (
      id INT AUTO_INCREMENT PRIMARY KEY,
      u CHAR(36) DEFAULT (uuid()),
      bu BINARY(16) DEFAULT (UUID_TO_BIN(UUID())),
      due DATE DEFAULT (CURRENT_DATE + INTERVAL 1 DAY),
      j JSON DEFAULT (JSON_ARRAY()),
      t TEXT DEFAULT ('a text default'),
      n INT
    );
    SET SESSION sql_generate_invisible_primary_key = ON;
    CREATE TABLE forms.gipk (a VARCHAR(10), b INT, UNIQUE KEY ub ((b + 1)));
    SET SESSION sql_generate_invisible_primary_key = OFF;
    CREATE TABLE forms.versioned (
      id INT NOT NULL,
      hidden_note VARCHAR(20) /*!80023 INVISIBLE */,
      qty INT,
      PRIMARY KEY (id),
      CONSTRAINT qty_small CHECK (qty < 1000) /*!80016 NOT ENFORCED */
    ) /*!50100 PARTITION BY HASH (id) PARTITIONS 2 */;
    CREATE TABLE forms.mytypes (
      id INT PRIMARY KEY,
      v VECTOR(3),
      g POINT NOT NULL SRID 4326,
      SPATIAL INDEX sg (g)
    );
    INSERT INTO forms.mytypes VALUES (1, STRING_TO_VECTOR('[1.5, -2, 3e10]'), ST_GeomFromText('POINT(10 20)', 4326)),
      (2, NULL, ST_GeomFromText('POINT(-33.9 151.2)', 4326));
    INSERT INTO forms.doc VALUES (1, 'Ann@Example.com', '{\"t\": [1, 2]}'), (2, 'bob@example.com', '{\"t\": [3]}'), (3, 'cy@x', NULL);
    INSERT INTO forms.mydefaults (n) VALUES (1), (2), (3);
    INSERT INTO forms.gipk VALUES ('one', 1), ('two', 2), (NULL, NULL);
    INSERT INTO forms.versioned (id, hidden_note, qty) VALUES (1, 'h1', 5), (2, NULL, 5000), (3, 'h3', 7);
";

/// Forms both flavours have: expression defaults, invisible and generated columns, CHECKs.
const PORTABLE_FORMS: &str = "
    CREATE TABLE forms.defaults (
      id INT AUTO_INCREMENT PRIMARY KEY,
      u CHAR(36) DEFAULT (uuid()),
      due DATE DEFAULT (CURRENT_DATE + INTERVAL 1 DAY),
      ts DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      lbl VARCHAR(30) DEFAULT (CONCAT('n', 1 + 1)),
      n INT
    );
    CREATE TABLE forms.invisible (
      id INT PRIMARY KEY,
      secret VARCHAR(20) INVISIBLE,
      v INT,
      twice INT AS (v * 2) VIRTUAL INVISIBLE
    );
    CREATE TABLE forms.generated (
      id INT PRIMARY KEY,
      a INT,
      b INT AS (a + 1) STORED,
      c VARCHAR(20) AS (CONCAT('x', a)) VIRTUAL,
      KEY kc (c)
    );
    CREATE TABLE forms.checks (
      id INT PRIMARY KEY,
      qty INT,
      price DECIMAL(10,2),
      CONSTRAINT qty_pos CHECK (qty > 0),
      CHECK (price >= 0),
      CONSTRAINT both_ok CHECK (qty * price < 100000)
    );
    CREATE TABLE forms.nokey (a INT, b VARCHAR(10) INVISIBLE, c INT AS (a * 3) STORED);
    INSERT INTO forms.defaults (n) VALUES (1), (2), (3);
    INSERT INTO forms.invisible (id, secret, v) VALUES (1, 's1', 10), (2, NULL, 20), (3, 's3', NULL);
    INSERT INTO forms.generated (id, a) VALUES (1, 1), (2, NULL), (3, 3);
    INSERT INTO forms.checks VALUES (1, 1, 9.99), (2, 5, 0), (3, 7, NULL);
    INSERT INTO forms.nokey (a, b) VALUES (1, 'x'), (1, 'x'), (NULL, NULL);
";

/// Servers for the forms tests. With `gipk_settings` on MySQL, the source hides GIPKs from
/// information_schema and SHOW CREATE TABLE (they are still in its row images; the harness's own
/// comparisons of databases would then see them on one side only), and the target would give
/// every table without a primary key a GIPK of its own.
async fn forms_pair(gipk_settings: bool) -> (TestServer, TestServer) {
    let (mut source, mut target) = (ServerOptions::source(), ServerOptions::target());
    if gipk_settings && default_flavor() == Flavor::MySql {
        source = source.arg("--show-gipk-in-create-table-and-information-schema=OFF");
        target = target.arg("--sql-generate-invisible-primary-key=ON");
    }
    tokio::join!(TestServer::start(source), TestServer::start(target))
}

/// A connection that sees GIPKs (MySQL; nothing to do on MariaDB).
async fn conn_seeing_gipks(server: &TestServer) -> Conn {
    let mut c = server.conn().await;
    if server.flavor() == Flavor::MySql {
        c.query_drop("SET SESSION show_gipk_in_create_table_and_information_schema = ON").await.unwrap();
    }
    c
}

fn forms_script(flavor: Flavor) -> String {
    let mut s = format!("CREATE DATABASE forms;\n{PORTABLE_FORMS}");
    if flavor == Flavor::MySql {
        s.push_str(MYSQL_FORMS);
    }
    s
}

/// (a) MySQL's schema forms through the full copy: no panic in the catalog read (exit 101 before
/// the fix, on the functional index), every table reproduced exactly, rows equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_schema_forms_copy_exactly() {
    if default_flavor() != Flavor::MySql {
        eprintln!("MySQL only: functional and multi-valued indexes, GIPK and /*!80016 forms do not exist on MariaDB");
        return;
    }
    let (src, dst) = forms_pair(true).await;
    src.exec(&forms_script(src.flavor())).await;
    let mut s = conn_seeing_gipks(&src).await;
    // The forms are what the test means them to be.
    let nulls: Vec<String> = s
        .query(
            "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'forms' AND COLUMN_NAME IS NULL ORDER BY 1",
        )
        .await
        .unwrap();
    assert_eq!(nulls, ["ix_doc", "ix_tags", "ub", "ux_doc"]);
    let gipk = show_create_table(&mut s, "forms", "gipk").await;
    assert!(gipk.contains("`my_row_id` bigint unsigned NOT NULL AUTO_INCREMENT /*!80023 INVISIBLE */"), "{gipk}");

    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "forms", &src, &dst, "  objects:\n  - database: forms\n  incremental: false\n");
    let out = run_ferry(&m, dir.path());
    assert_ne!(out.status.code(), Some(101), "ferry panicked:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_ok(&out);
    let mut d = dst.conn().await;
    assert_same_schema_and_rows(&mut s, "forms", &mut d, "forms").await;
    // The hidden parts came across as data, not as new defaults.
    for sql in [
        "SELECT GROUP_CONCAT(u, HEX(bu) ORDER BY id) FROM forms.mydefaults",
        "SELECT GROUP_CONCAT(my_row_id, a ORDER BY my_row_id) FROM forms.gipk",
        "SELECT GROUP_CONCAT(id, hidden_note ORDER BY id) FROM forms.versioned",
    ] {
        let a: Option<String> = s.query_first(sql).await.unwrap();
        let b: Option<String> = d.query_first(sql).await.unwrap();
        assert_eq!(a, b, "{sql}");
    }
}

/// (a) The schema forms of the flavour through the full copy and then the binlog: rows written
/// after the copy (defaults and generated values computed on the source, invisible columns set,
/// GIPK values assigned) arrive, and the tables still read the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_forms_copy_and_follow_the_binlog() {
    let (src, dst) = forms_pair(false).await;
    let flavor = src.flavor();
    src.exec(&forms_script(flavor)).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "forms", &src, &dst, "  objects:\n  - database: forms\n  incremental: true\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(ferry_crds::Phase::Synchronizing, SYNC_TIMEOUT).await;
    let mut script = String::from(
        "INSERT INTO forms.defaults (n) VALUES (4), (5);
         UPDATE forms.defaults SET n = n + 10 WHERE id = 1;
         DELETE FROM forms.defaults WHERE id = 2;
         INSERT INTO forms.invisible (id, secret, v) VALUES (4, 's4', 40);
         UPDATE forms.invisible SET secret = 'changed', v = v + 1 WHERE id = 1;
         DELETE FROM forms.invisible WHERE id = 2;
         INSERT INTO forms.generated (id, a) VALUES (4, 40);
         UPDATE forms.generated SET a = 30 WHERE id = 3;
         INSERT INTO forms.checks VALUES (4, 2, 2.5);
         UPDATE forms.checks SET qty = 8 WHERE id = 1;
         INSERT INTO forms.nokey (a, b) VALUES (9, 'nine');
         UPDATE forms.nokey SET b = 'y' WHERE a IS NULL;
         DELETE FROM forms.nokey WHERE a = 1 LIMIT 1;\n",
    );
    if flavor == Flavor::MySql {
        script.push_str(
            "INSERT INTO forms.doc VALUES (4, 'Dee@Example.com', '{\"t\": [4, 5]}');
             UPDATE forms.doc SET email = 'ANN@example.com', tags = '{\"t\": [9]}' WHERE id = 1;
             DELETE FROM forms.doc WHERE id = 2;
             INSERT INTO forms.mydefaults (n) VALUES (4);
             UPDATE forms.mydefaults SET j = JSON_ARRAY(1, 2) WHERE id = 1;
             INSERT INTO forms.gipk (a, b) VALUES ('four', 4), ('five', 5);
             UPDATE forms.gipk SET a = 'ONE' WHERE b = 1;
             DELETE FROM forms.gipk WHERE b = 2;
             INSERT INTO forms.versioned (id, hidden_note, qty) VALUES (4, 'h4', 4);
             UPDATE forms.versioned SET hidden_note = 'h2' WHERE id = 2;
             INSERT INTO forms.mytypes VALUES (3, STRING_TO_VECTOR('[0, 0.25, -1]'), ST_GeomFromText('POINT(1 1)', 4326));
             UPDATE forms.mytypes SET v = STRING_TO_VECTOR('[7, 8, 9]'), g = ST_GeomFromText('POINT(5 6)', 4326) WHERE id = 1;
             DELETE FROM forms.mytypes WHERE id = 2;\n",
        );
    }
    src.exec(&script).await;
    ferry.wait_until_same(&src, &dst, &["forms"], SYNC_TIMEOUT).await;
    let (mut s, mut d) = (src.conn().await, dst.conn().await);
    assert_same_schema_and_rows(&mut s, "forms", &mut d, "forms").await;
    ferry.assert_running("after the checks");
}

/// (a) The same forms created while ferry follows the binlog, then changed by the DDL forms
/// MySQL 8+ users write (RENAME COLUMN, ALGORITHM=INSTANT / INPLACE, functional indexes,
/// invisible columns, expression DEFAULTs, CHECK constraints, versioned comments, a GIPK table;
/// MariaDB: the ones it has), rows written between them: every statement is replayed (and
/// followed by ferry's own copy of the source definitions, since MySQL's row events name no
/// columns), and every table reads the same on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_forms_made_and_changed_through_the_binlog() {
    let (src, dst) = forms_pair(false).await;
    let flavor = src.flavor();
    src.exec("CREATE DATABASE forms;").await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "liveforms", &src, &dst, "  objects:\n  - database: forms\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC_TIMEOUT).await;
    let made = forms_script(flavor).replacen("CREATE DATABASE forms;", "", 1);
    src.exec(&made).await;
    let mut changes = String::from(
        "ALTER TABLE forms.defaults RENAME COLUMN lbl TO label;
         INSERT INTO forms.defaults (n, label) VALUES (9, 'renamed');
         INSERT INTO forms.checks VALUES (10, 3, 1.5);
         ALTER TABLE forms.defaults ADD COLUMN extra INT DEFAULT 7, ALGORITHM=INSTANT;
         INSERT INTO forms.defaults (n) VALUES (10);
         ALTER TABLE forms.generated ADD INDEX kb (b), ALGORITHM=INPLACE, LOCK=NONE;
         ALTER TABLE forms.checks ADD CONSTRAINT qty_lt_100 CHECK (qty < 100);
         ALTER TABLE forms.invisible ADD COLUMN inv2 INT INVISIBLE DEFAULT 3;
         INSERT INTO forms.invisible (id, secret, v, inv2) VALUES (10, 's10', 100, 30);
         UPDATE forms.invisible SET inv2 = 31 WHERE id = 1;
         ALTER TABLE forms.nokey ADD COLUMN d DATE DEFAULT (CURRENT_DATE);
         INSERT INTO forms.nokey (a, b) VALUES (10, 'ten');\n",
    );
    if flavor == Flavor::MySql {
        changes.push_str(
            "CREATE INDEX ix_up ON forms.doc ((UPPER(email)));
             ALTER TABLE forms.doc ADD COLUMN note VARCHAR(20) INVISIBLE, ALGORITHM=INSTANT;
             INSERT INTO forms.doc (id, email, tags, note) VALUES (10, 'X@y', NULL, 'n10');
             ALTER TABLE forms.doc ALTER COLUMN note SET VISIBLE;
             UPDATE forms.doc SET note = 'seen' WHERE id = 1;
             ALTER TABLE forms.mydefaults ALTER COLUMN n SET DEFAULT (40 + 2);
             INSERT INTO forms.mydefaults (u) VALUES ('fixed');
             /*!80016 ALTER TABLE forms.versioned ADD COLUMN v2 INT DEFAULT 2 */;
             INSERT INTO forms.versioned (id, hidden_note, qty, v2) VALUES (10, 'h10', 10, 20);
             ALTER TABLE forms.versioned DROP CHECK qty_small;
             SET SESSION sql_generate_invisible_primary_key = ON;
             CREATE TABLE forms.gipk_live (a VARCHAR(10));
             SET SESSION sql_generate_invisible_primary_key = OFF;
             INSERT INTO forms.gipk_live VALUES ('x'), ('y');
             UPDATE forms.gipk_live SET a = 'z' WHERE a = 'x';\n",
        );
    }
    src.exec(&changes).await;
    ferry.wait_until_same(&src, &dst, &["forms"], SYNC_TIMEOUT).await;
    let (mut s, mut d) = (conn_seeing_gipks(&src).await, conn_seeing_gipks(&dst).await);
    // The last change is in, then everything reads the same.
    let last = if flavor == Flavor::MySql {
        "SELECT COUNT(*) FROM forms.gipk_live WHERE a = 'z'"
    } else {
        "SELECT COUNT(*) FROM forms.nokey WHERE a = 10"
    };
    let deadline = std::time::Instant::now() + SYNC_TIMEOUT;
    while d.query_first::<u64, _>(last).await.ok().flatten() != Some(1) {
        assert!(std::time::Instant::now() < deadline, "`{last}` never held\n{}", ferry.describe());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_same_schema_and_rows(&mut s, "forms", &mut d, "forms").await;
    let st = ferry.status().unwrap();
    let sc = st.schema_changes.unwrap_or_default();
    assert!(sc.skipped.is_empty(), "{:?}", sc.skipped);
    ferry.assert_running("at the end");
}

/// (b) Per-column CHARACTER SET / COLLATE that differ from, or inherit a non-default collation
/// from, the table default, also under a renamed database: SHOW CREATE TABLE reads the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_charsets_and_collations_copy_exactly() {
    let (src, dst) = pair().await;
    src.exec(
        "CREATE DATABASE coll CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
         -- The charset's default collation for the table; columns differ from it.
         CREATE TABLE coll.differ (
           id INT PRIMARY KEY,
           a VARCHAR(20) COLLATE utf8mb4_unicode_ci,
           b VARCHAR(20) CHARACTER SET latin1,
           c VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
           d TEXT COLLATE utf8mb4_general_ci,
           e ENUM('x', 'y') CHARACTER SET ascii,
           f CHAR(3) CHARACTER SET utf8mb4,
           g VARCHAR(5) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'z' COMMENT 'COLLATE utf8mb4_bin',
           KEY ka (a)
         ) DEFAULT CHARSET=utf8mb4;
         -- A non-default table collation: inheriting columns print `COLLATE x` alone on MySQL.
         CREATE TABLE coll.inherit (
           id INT PRIMARY KEY,
           a VARCHAR(20),
           b TEXT,
           c VARCHAR(20) COLLATE utf8mb4_unicode_ci,
           d VARCHAR(20) CHARACTER SET utf8mb4,
           e VARCHAR(10) COLLATE utf8mb4_bin,
           f ENUM('p', 'q'),
           g SET('r', 's'),
           h VARCHAR(10) AS (CONCAT(a, 'x')) VIRTUAL,
           i VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_bin
         ) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
         -- latin1 table with a utf8mb4 column (MySQL prints its 0900 collation).
         CREATE TABLE coll.latin (id INT PRIMARY KEY, a VARCHAR(10), b VARCHAR(10) CHARACTER SET utf8mb4, c VARCHAR(10) COLLATE latin1_bin) DEFAULT CHARSET=latin1;
         -- The table default changed after its column was made.
         CREATE TABLE coll.changed (id INT PRIMARY KEY, a VARCHAR(10)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
         ALTER TABLE coll.changed DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
         -- No table default written: the database's.
         CREATE TABLE coll.from_db (id INT PRIMARY KEY, a VARCHAR(10), b VARCHAR(10) COLLATE utf8mb4_unicode_ci, c VARCHAR(10) COLLATE utf8mb4_bin);
         INSERT INTO coll.differ (id, a, b, c, d, e, f) VALUES (1, 'Ä', 'é', 'ß', '😀', 'x', 'abc');
         INSERT INTO coll.inherit (id, a, b, c, d, e, f, g, i) VALUES (1, 'ä', 'b', 'c', 'd', 'e', 'p', 'r,s', 'ï');
         INSERT INTO coll.latin VALUES (1, 'é', '😀', 'C');
         INSERT INTO coll.changed VALUES (1, 'a');
         INSERT INTO coll.from_db VALUES (1, 'a', 'b', 'c');",
    )
    .await;
    let mut s = src.conn().await;
    if src.flavor() == Flavor::MySql {
        // The case of issue 11: a lone COLLATE on the source.
        let ddl = show_create_table(&mut s, "coll", "inherit").await;
        assert!(ddl.contains("`a` varchar(20) COLLATE utf8mb4_unicode_ci DEFAULT NULL"), "{ddl}");
    }
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "coll", &src, &dst, "  objects:\n  - database: coll\n    rename: coll_copy\n  incremental: false\n");
    assert_ok(&run_ferry(&m, dir.path()));
    let mut d = dst.conn().await;
    assert_same_schema_and_rows(&mut s, "coll", &mut d, "coll_copy").await;
    // Sorting follows the column collations on the target too.
    let sql = |db: &str| {
        format!("SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' ORDER BY TABLE_NAME, ORDINAL_POSITION")
    };
    let a: Vec<Option<String>> = s.query(sql("coll")).await.unwrap();
    let b: Vec<Option<String>> = d.query(sql("coll_copy")).await.unwrap();
    assert_eq!(a, b);
}

/// Views, procedures and functions made under `SET NAMES utf8mb3` and `SET NAMES latin1`, some
/// while the database had another collation, some under a sql_mode of their own (PIPES_AS_CONCAT
/// makes `||` a concatenation in the view; the procedure records its mode). Run on a database
/// `rt` created with latin1.
const ROUTINES_AND_VIEWS: &str = "USE rt;
     CREATE TABLE rt.t (id INT PRIMARY KEY, name VARCHAR(20) CHARACTER SET utf8mb4);
     INSERT INTO rt.t VALUES (1, 'Ann'), (2, 'Bö');
     SET NAMES utf8mb3;
     CREATE VIEW rt.v3 AS SELECT id, CONCAT(name, '!') AS shout FROM rt.t;
     CREATE FUNCTION rt.f3(x INT) RETURNS VARCHAR(20) DETERMINISTIC RETURN CONCAT('n', x);
     DELIMITER //
     CREATE PROCEDURE rt.p3(IN k INT) BEGIN SELECT name FROM rt.t WHERE id = k; END //
     DELIMITER ;
     SET NAMES latin1;
     CREATE VIEW rt.vl AS SELECT 'café' AS w;
     CREATE FUNCTION rt.fl() RETURNS VARCHAR(20) CHARSET latin1 DETERMINISTIC RETURN 'naïve';
     SET NAMES utf8mb4;
     SET SESSION sql_mode = 'PIPES_AS_CONCAT,ALLOW_INVALID_DATES,NO_ENGINE_SUBSTITUTION';
     CREATE VIEW rt.vp AS SELECT 'a' || 'b' AS c;
     CREATE FUNCTION rt.fp() RETURNS VARCHAR(10) DETERMINISTIC RETURN 'x' || 'y';
     SET SESSION sql_mode = DEFAULT;
     ALTER DATABASE rt CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
     CREATE PROCEDURE rt.p4() SELECT 4;
     CREATE VIEW rt.v4 AS SELECT 'plain' AS p;";

/// Asserts that the target's routines and views of `rt` are the source's: character_set_client,
/// collation_connection, database collation, sql_mode, definitions and the values they give.
async fn assert_same_routines_and_views(s: &mut mysql_async::Conn, d: &mut mysql_async::Conn) {
    let routines = "SELECT ROUTINE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION, SQL_MODE, ROUTINE_DEFINITION \
                    FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'rt' ORDER BY ROUTINE_NAME";
    type Routine = (String, String, String, String, String, String);
    let a: Vec<Routine> = s.query(routines).await.unwrap();
    let b: Vec<Routine> = d.query(routines).await.unwrap();
    assert_eq!(a.len(), 5, "{a:?}");
    assert!(a.iter().any(|r| r.0 == "f3" && r.1 == "utf8mb3" && r.3 == "latin1_swedish_ci"), "{a:?}");
    assert!(a.iter().any(|r| r.0 == "p4" && r.1 == "utf8mb4" && r.3 == "utf8mb4_general_ci"), "{a:?}");
    assert!(a.iter().any(|r| r.0 == "fp" && r.4.contains("PIPES_AS_CONCAT")), "{a:?}");
    assert_eq!(a, b, "routines");

    let views = "SELECT TABLE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, VIEW_DEFINITION \
                 FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'rt' ORDER BY TABLE_NAME";
    let a: Vec<(String, String, String, String)> = s.query(views).await.unwrap();
    let b: Vec<(String, String, String, String)> = d.query(views).await.unwrap();
    assert_eq!(a.len(), 4, "{a:?}");
    assert!(a.iter().any(|r| r.0 == "vl" && r.1 == "latin1"), "{a:?}");
    assert_eq!(a, b, "views");

    // The same values out of them, byte for byte.
    for sql in [
        "SELECT HEX(w) FROM rt.vl",
        "SELECT HEX(rt.fl())",
        "SELECT HEX(rt.f3(7))",
        "SELECT HEX(GROUP_CONCAT(shout ORDER BY id)) FROM rt.v3",
        "SELECT c FROM rt.vp",
        "SELECT rt.fp()",
    ] {
        let x: Option<String> = s.query_first(sql).await.unwrap();
        let y: Option<String> = d.query_first(sql).await.unwrap();
        assert_eq!(x, y, "{sql}");
    }
    let concat: Option<String> = d.query_first("SELECT rt.fp()").await.unwrap();
    assert_eq!(concat.as_deref(), Some("xy"), "the function keeps PIPES_AS_CONCAT");
    // The database itself has the source's current collation again after the routines.
    let dbcoll = "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'rt'";
    let x: Option<String> = s.query_first(dbcoll).await.unwrap();
    let y: Option<String> = d.query_first(dbcoll).await.unwrap();
    assert_eq!((x.as_deref(), y.as_deref()), (Some("utf8mb4_general_ci"), Some("utf8mb4_general_ci")));
}

/// (c) Routines and views that exist when the task starts are created as the source made them
/// ([`ROUTINES_AND_VIEWS`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routines_and_views_keep_their_character_sets() {
    let (src, dst) = pair().await;
    src.exec(&format!("CREATE DATABASE rt CHARACTER SET latin1 COLLATE latin1_swedish_ci; {ROUTINES_AND_VIEWS}")).await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "rt", &src, &dst, "  objects:\n  - database: rt\n  incremental: false\n");
    assert_ok(&run_ferry(&m, dir.path()));
    assert_same_routines_and_views(&mut src.conn().await, &mut dst.conn().await).await;
}

/// (d) The same objects created while ferry follows the binlog: each statement is replayed in
/// the session it ran in on the source (its QUERY event's character set, collations and
/// sql_mode), its latin1 bytes sent as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routines_and_views_made_while_syncing_keep_their_session() {
    let (src, dst) = pair().await;
    src.exec("CREATE DATABASE rt CHARACTER SET latin1 COLLATE latin1_swedish_ci;").await;
    let dir = tempfile::tempdir().unwrap();
    let m = write_task(dir.path(), "rtlive", &src, &dst, "  objects:\n  - database: rt\n");
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, Duration::from_secs(60)).await;
    src.exec(ROUTINES_AND_VIEWS).await;
    ferry.wait_until_same(&src, &dst, &["rt"], Duration::from_secs(60)).await;
    // The last statement of the script, replayed in order after the others.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut d = dst.conn().await;
    while d.query_first::<String, _>("SELECT p FROM rt.v4").await.ok().flatten().is_none() {
        assert!(std::time::Instant::now() < deadline, "rt.v4 never arrived\n{}", ferry.describe());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_same_routines_and_views(&mut src.conn().await, &mut d).await;
    ferry.assert_running("at the end");
}
