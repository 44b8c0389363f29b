//! DDL replay: parsing and rewriting binlog statements, and the e2e cases run on MariaDB.

use super::*;

/// shop -> shop2, orders -> purchases, qty -> quantity, note -> remark, crm -> crm2.
fn map() -> NameMap {
    crate::sql::names::fixtures::map(crate::sql::names::fixtures::DDL_REPLAY)
}

fn kind(sql: &str) -> DdlKind {
    parse_ddl(sql, "shop").unwrap_or_else(|e| panic!("{sql}: {e}")).kind
}

fn alter(sql: &str) -> AlterTable {
    match kind(sql) {
        DdlKind::AlterTable(a) => a,
        k => panic!("{sql}: {k:?}"),
    }
}

fn rw(sql: &str) -> String {
    rewrite_ddl(sql, "shop", &map()).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn plain(sql: &str) -> String {
    rewrite_ddl(sql, "shop", &NameMap::new()).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn err(sql: &str) -> String {
    match rewrite_ddl(sql, "shop", &map()) {
        Ok(out) => panic!("{sql}: expected an error, got {out}"),
        Err(e) => e.to_string(),
    }
}

fn o(db: &str, name: &str) -> ObjName {
    ObjName::new(db, name)
}

#[test]
fn databases() {
    assert_eq!(
        kind("CREATE DATABASE IF NOT EXISTS `shop` CHARACTER SET utf8mb4"),
        DdlKind::CreateDatabase { db: "shop".into(), if_not_exists: true, or_replace: false }
    );
    assert_eq!(
        rw("CREATE DATABASE IF NOT EXISTS `shop` CHARACTER SET utf8mb4"),
        "CREATE DATABASE IF NOT EXISTS `shop2` CHARACTER SET utf8mb4"
    );
    assert_eq!(rw("create or replace schema shop"), "create or replace schema `shop2`");
    assert_eq!(rw("DROP DATABASE IF EXISTS shop"), "DROP DATABASE IF EXISTS `shop2`");
    assert_eq!(kind("drop schema crm"), DdlKind::DropDatabase { db: "crm".into(), if_exists: false });
    assert_eq!(plain("DROP DATABASE shop"), "DROP DATABASE shop");
    assert_eq!(rw("ALTER DATABASE shop COLLATE utf8mb4_bin"), "ALTER DATABASE `shop2` COLLATE utf8mb4_bin");
    // Without a name: the default database, named explicitly.
    assert_eq!(kind("ALTER DATABASE CHARACTER SET latin1"), DdlKind::AlterDatabase { db: "shop".into() });
    assert_eq!(rw("ALTER DATABASE CHARACTER SET latin1"), "ALTER DATABASE `shop2` CHARACTER SET latin1");
    assert!(matches!(kind("ALTER DATABASE `#mysql50#a-b` UPGRADE DATA DIRECTORY NAME"), DdlKind::Other { .. }));
    assert_eq!(objects(&parse_ddl("drop database crm", "").unwrap()), vec![ObjName::database("crm")]);
}

#[test]
fn create_table() {
    let sql = "CREATE TABLE orders (id int PRIMARY KEY, qty int DEFAULT '1' COMMENT 'orders qty', note varchar(10) DEFAULT 'orders', `orders` int, KEY k (qty, note(3)), CONSTRAINT c CHECK (qty > 0)) ENGINE=InnoDB COMMENT='orders'";
    assert_eq!(
        rw(sql),
        "CREATE TABLE `shop2`.`purchases` (id int PRIMARY KEY, `quantity` int DEFAULT '1' COMMENT 'orders qty', `remark` varchar(10) DEFAULT 'orders', `orders` int, KEY k (`quantity`, `remark`(3)), CONSTRAINT c CHECK (`quantity` > 0)) ENGINE=InnoDB COMMENT='orders'"
    );
    assert_eq!(plain(sql), sql.replacen("TABLE orders", "TABLE `shop`.`orders`", 1), "without renames only the table is qualified");
    match kind(sql) {
        DdlKind::CreateTable { table, if_not_exists, like, as_select, .. } => {
            assert_eq!(table, o("shop", "orders"));
            assert!(!if_not_exists && like.is_none() && !as_select);
        }
        k => panic!("{k:?}"),
    }
    // Generated columns, defaults as expressions, foreign keys across databases, partitions.
    let sql = "CREATE OR REPLACE TABLE IF NOT EXISTS shop.orders (`id` int, `qty` int, total int AS (qty * 2) VIRTUAL, d date DEFAULT (curdate() + interval 1 hour), c int REFERENCES crm.contacts (id), FOREIGN KEY (id) REFERENCES orders (qty) ON DELETE CASCADE, CHECK (`note` <> 'qty')) PARTITION BY HASH (qty) PARTITIONS 2";
    assert_eq!(
        rw(sql),
        "CREATE OR REPLACE TABLE IF NOT EXISTS `shop2`.`purchases` (`id` int, `quantity` int, total int AS (`quantity` * 2) VIRTUAL, d date DEFAULT (curdate() + interval 1 hour), c int REFERENCES `crm2`.`contacts` (id), FOREIGN KEY (id) REFERENCES `shop2`.`purchases` (`quantity`) ON DELETE CASCADE, CHECK (`remark` <> 'qty')) PARTITION BY HASH (`quantity`) PARTITIONS 2"
    );
    let d = parse_ddl(sql, "x").unwrap();
    assert_eq!(objects(&d), vec![o("shop", "orders"), o("crm", "contacts")]);
    // A renamed column named like an interval unit, unquoted in an expression: ambiguous.
    let e = err("CREATE TABLE orders (day int, d date DEFAULT (curdate() + interval 1 day))");
    assert!(e.contains("unquoted day"), "{e}");
    assert_eq!(
        rw("CREATE TABLE orders (`day` int, d date DEFAULT (curdate() + interval 1 `day`))"),
        "CREATE TABLE `shop2`.`purchases` (`order_day` int, d date DEFAULT (curdate() + interval 1 `order_day`))"
    );
    // MySQL 8 atomic CTAS header; versioned comments are code.
    assert_eq!(
        rw("CREATE TABLE `orders` (`qty` int) /*!50100 PARTITION BY KEY (qty) */ START TRANSACTION"),
        "CREATE TABLE `shop2`.`purchases` (`quantity` int) /*!50100 PARTITION BY KEY (`quantity`) */"
    );
    // Names with spaces and backquotes.
    let mut m = map();
    m.rename_table("shop", "we`ird t", "odd` one");
    assert_eq!(
        rewrite_ddl("CREATE TABLE `we``ird t` (`c d` int, KEY (`c d`))", "shop", &m).unwrap(),
        "CREATE TABLE `shop2`.`odd`` one` (`c``d` int, KEY (`c``d`))"
    );
    // Temporary tables are skipped; CREATE TABLE ... SELECT cannot be replayed.
    assert!(matches!(kind("CREATE TEMPORARY TABLE orders (id int)"), DdlKind::Other { .. }));
    match kind("CREATE TABLE t2 AS SELECT * FROM orders") {
        DdlKind::CreateTable { as_select, .. } => assert!(as_select),
        k => panic!("{k:?}"),
    }
    assert!(err("CREATE TABLE t2 (id int) SELECT id FROM orders").contains("SELECT"));
    assert!(err("CREATE TABLE t2 (id int) ENGINE=MERGE UNION=(a,b)").contains("UNION"));
}

#[test]
fn create_table_like() {
    assert_eq!(
        kind("CREATE TABLE crm.t2 LIKE orders"),
        DdlKind::CreateTable {
            table: o("crm", "t2"),
            if_not_exists: false,
            or_replace: false,
            like: Some(o("shop", "orders")),
            as_select: false,
            references: vec![],
        }
    );
    assert_eq!(rw("CREATE TABLE crm.t2 LIKE orders"), "CREATE TABLE `crm2`.`t2` LIKE `shop2`.`purchases`");
    assert_eq!(rw("create table if not exists t2 (like crm.orders)"), "create table if not exists `shop2`.`t2` (like `crm2`.`orders`)");
    let d = parse_ddl("CREATE TABLE crm.t2 LIKE orders", "shop").unwrap();
    assert_eq!(d.objects(), vec![o("crm", "t2"), o("shop", "orders")]);
}

#[test]
fn alter_table_columns() {
    let sql = "ALTER TABLE orders ADD COLUMN IF NOT EXISTS x int DEFAULT 'orders' AFTER qty, CHANGE qty qty2 bigint, CHANGE COLUMN note note text FIRST, MODIFY `qty` int COMMENT 'qty', DROP COLUMN IF EXISTS note, RENAME COLUMN qty TO amount, ALTER COLUMN note SET DEFAULT 'note', ALTER note DROP DEFAULT";
    assert_eq!(
        rw(sql),
        "ALTER TABLE `shop2`.`purchases` ADD COLUMN IF NOT EXISTS x int DEFAULT 'orders' AFTER `quantity`, CHANGE `quantity` qty2 bigint, CHANGE COLUMN `remark` `remark` text FIRST, MODIFY `quantity` int COMMENT 'qty', DROP COLUMN IF EXISTS `remark`, RENAME COLUMN `quantity` TO amount, ALTER COLUMN `remark` SET DEFAULT 'note', ALTER `remark` DROP DEFAULT"
    );
    let a = alter(sql);
    assert_eq!(a.table, o("shop", "orders"));
    assert_eq!(a.added_columns(), vec!["x"]);
    assert_eq!(a.dropped_columns(), vec!["note"]);
    assert_eq!(a.renamed_columns(), vec![("qty", "qty2"), ("qty", "amount")]);
    assert!(a.only_columns_and_keys());
    assert_eq!(a.rename_to(), None);
    assert_eq!(
        a.clauses[..4],
        [
            AlterClause::AddColumn("x".into()),
            AlterClause::ChangeColumn { from: "qty".into(), to: "qty2".into() },
            AlterClause::ChangeColumn { from: "note".into(), to: "note".into() },
            AlterClause::ModifyColumn("qty".into()),
        ]
    );
    // Several columns at once, ALTER ONLINE / IGNORE, a column named like the table.
    assert_eq!(
        rw("ALTER ONLINE IGNORE TABLE `shop`.`orders` ADD (orders int, qty2 int AS (qty + 1)), DROP orders, algorithm=inplace, lock=none"),
        "ALTER ONLINE IGNORE TABLE `shop2`.`purchases` ADD (orders int, qty2 int AS (`quantity` + 1)), DROP orders, algorithm=inplace, lock=none"
    );
    // Without a mapping only the name is qualified.
    assert_eq!(plain("alter table orders add c int"), "alter table `shop`.`orders` add c int");
}

#[test]
fn alter_table_keys_and_options() {
    assert_eq!(
        rw(
            "ALTER TABLE orders ADD INDEX idx (qty, note(5) DESC), ADD UNIQUE KEY IF NOT EXISTS u (`note`), ADD CONSTRAINT fk FOREIGN KEY (qty) REFERENCES crm.contacts (id), ADD PRIMARY KEY (id), ADD CONSTRAINT chk CHECK (qty > 0), DROP INDEX idx, DROP PRIMARY KEY, DROP FOREIGN KEY fk, RENAME INDEX a TO b, ADD FULLTEXT (note), ADD INDEX ((qty + 1))"
        ),
        "ALTER TABLE `shop2`.`purchases` ADD INDEX idx (`quantity`, `remark`(5) DESC), ADD UNIQUE KEY IF NOT EXISTS u (`remark`), ADD CONSTRAINT fk FOREIGN KEY (`quantity`) REFERENCES `crm2`.`contacts` (id), ADD PRIMARY KEY (id), ADD CONSTRAINT chk CHECK (`quantity` > 0), DROP INDEX idx, DROP PRIMARY KEY, DROP FOREIGN KEY fk, RENAME INDEX a TO b, ADD FULLTEXT (`remark`), ADD INDEX ((`quantity` + 1))"
    );
    let a = alter("ALTER TABLE orders ADD KEY (qty, note), ENGINE=InnoDB COMMENT 'orders'");
    assert_eq!(a.clauses, vec![AlterClause::AddKey { columns: vec!["qty".into(), "note".into()] }, AlterClause::Options]);
    assert!(a.only_columns_and_keys());
    assert_eq!(
        rw("ALTER TABLE orders ENGINE=InnoDB COMMENT 'orders', ORDER BY qty, id DESC"),
        "ALTER TABLE `shop2`.`purchases` ENGINE=InnoDB COMMENT 'orders', ORDER BY `quantity`, id DESC"
    );
    // Options that name a renamed column cannot be rewritten blindly.
    let e = err("ALTER TABLE orders WITH SYSTEM VERSIONING qty");
    assert!(e.contains("`qty`"), "{e}");
    assert_eq!(plain("ALTER TABLE orders FORCE"), "ALTER TABLE `shop`.`orders` FORCE");
}

#[test]
fn alter_table_rename_and_partitions() {
    let sql = "ALTER TABLE orders RENAME TO crm.orders_old";
    assert_eq!(rw(sql), "ALTER TABLE `shop2`.`purchases` RENAME TO `crm2`.`orders_old`");
    let a = alter(sql);
    assert_eq!(a.rename_to(), Some(&o("crm", "orders_old")));
    assert!(!a.only_columns_and_keys());
    assert_eq!(parse_ddl(sql, "shop").unwrap().objects(), vec![o("shop", "orders"), o("crm", "orders_old")]);
    // An unqualified new name stays in the table's database.
    assert_eq!(
        rewrite_ddl("ALTER TABLE shop.orders RENAME orders2", "crm", &map()).unwrap(),
        "ALTER TABLE `shop2`.`purchases` RENAME `shop2`.`orders2`"
    );
    assert_eq!(
        rw("ALTER TABLE orders DROP PARTITION p1, p2, EXCHANGE PARTITION p3 WITH TABLE orders_arch"),
        "ALTER TABLE `shop2`.`purchases` DROP PARTITION p1, p2, EXCHANGE PARTITION p3 WITH TABLE `shop2`.`orders_arch`"
    );
    assert_eq!(
        rw("ALTER TABLE orders PARTITION BY RANGE (qty) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN MAXVALUE)"),
        "ALTER TABLE `shop2`.`purchases` PARTITION BY RANGE (`quantity`) (PARTITION p0 VALUES LESS THAN (10), PARTITION p1 VALUES LESS THAN MAXVALUE)"
    );
    assert_eq!(
        rw("ALTER TABLE orders ENGINE=InnoDB PARTITION BY KEY (note) PARTITIONS 3"),
        "ALTER TABLE `shop2`.`purchases` ENGINE=InnoDB PARTITION BY KEY (`remark`) PARTITIONS 3"
    );
    let a = alter("ALTER TABLE orders REMOVE PARTITIONING");
    assert_eq!(a.clauses, vec![AlterClause::Partitioning]);
}

#[test]
fn alter_selected_columns() {
    let keep = vec!["id".to_string(), "QTY".to_string()];
    let f = |sql: &str| rewrite_alter_selected_columns(sql, "shop", &map(), &keep).unwrap();
    assert_eq!(
        f(
            "ALTER TABLE orders ADD COLUMN x int AFTER qty, MODIFY qty bigint AFTER note, DROP COLUMN note, ADD INDEX (qty), ADD INDEX (qty, note), ALGORITHM=INPLACE"
        ),
        Some("ALTER TABLE `shop2`.`purchases` MODIFY `quantity` bigint, ADD INDEX (`quantity`), ALGORITHM=INPLACE".into())
    );
    assert_eq!(f("ALTER TABLE orders DROP COLUMN note, ALGORITHM=INPLACE, LOCK=NONE"), None);
    assert_eq!(f("ALTER TABLE orders ADD c int"), None);
    assert_eq!(
        f("ALTER TABLE orders CHANGE qty amount int, ENGINE=InnoDB"),
        Some("ALTER TABLE `shop2`.`purchases` CHANGE `quantity` amount int, ENGINE=InnoDB".into())
    );
    let e =
        rewrite_alter_selected_columns("ALTER TABLE orders MODIFY qty int AS (`note` + 1)", "shop", &map(), &keep).unwrap_err().to_string();
    assert!(e.contains("unselected column `note`"), "{e}");
    assert!(rewrite_alter_selected_columns("DROP TABLE orders", "shop", &map(), &keep).is_err());
}

#[test]
fn drop_rename_truncate() {
    let sql = "DROP TABLE IF EXISTS orders, crm.`x y`, `t``1` /* generated by server */";
    assert_eq!(kind(sql), DdlKind::DropTable { tables: vec![o("shop", "orders"), o("crm", "x y"), o("shop", "t`1")], if_exists: true });
    assert_eq!(rw(sql), "DROP TABLE IF EXISTS `shop2`.`purchases`, `crm2`.`x y`, `shop2`.`t``1` /* generated by server */");
    assert_eq!(rw("drop tables orders restrict"), "drop tables `shop2`.`purchases` restrict");
    assert!(matches!(kind("DROP TEMPORARY TABLE IF EXISTS orders"), DdlKind::Other { .. }));
    let sql = "RENAME TABLE orders TO orders_old, crm.a TO shop.a";
    assert_eq!(
        kind(sql),
        DdlKind::RenameTable { pairs: vec![(o("shop", "orders"), o("shop", "orders_old")), (o("crm", "a"), o("shop", "a"))] }
    );
    assert_eq!(rw(sql), "RENAME TABLE `shop2`.`purchases` TO `shop2`.`orders_old`, `crm2`.`a` TO `shop2`.`a`");
    assert_eq!(parse_ddl(sql, "shop").unwrap().objects().len(), 4);
    assert_eq!(rw("TRUNCATE TABLE orders"), "TRUNCATE TABLE `shop2`.`purchases`");
    assert_eq!(rw("truncate crm.t"), "truncate `crm2`.`t`");
    assert_eq!(kind("TRUNCATE orders"), DdlKind::Truncate { table: o("shop", "orders") });
    // Keep only selected objects.
    let sel = |n: &ObjName| n.db == "shop";
    assert_eq!(
        retain_objects("DROP TABLE IF EXISTS crm.a, orders, crm.b, c", "shop", &sel).unwrap(),
        Some("DROP TABLE IF EXISTS orders, c".into())
    );
    assert_eq!(retain_objects("DROP TABLE crm.a", "shop", &sel).unwrap(), None);
    assert_eq!(
        retain_objects("RENAME TABLE crm.a TO crm.b, crm.c TO orders", "shop", &sel).unwrap(),
        Some("RENAME TABLE crm.c TO orders".into())
    );
    assert_eq!(retain_objects("TRUNCATE x", "shop", &sel).unwrap(), Some("TRUNCATE x".into()));
}

#[test]
fn indexes() {
    let sql = "CREATE UNIQUE INDEX i1 ON orders (qty, note(4))";
    assert_eq!(
        kind(sql),
        DdlKind::CreateIndex { table: o("shop", "orders"), index: "i1".into(), columns: vec!["qty".into(), "note".into()] }
    );
    assert_eq!(rw(sql), "CREATE UNIQUE INDEX i1 ON `shop2`.`purchases` (`quantity`, `remark`(4))");
    assert_eq!(
        rw("create or replace index if not exists i2 using btree on crm.t (a) algorithm=inplace"),
        "create or replace index if not exists i2 using btree on `crm2`.`t` (a) algorithm=inplace"
    );
    assert_eq!(kind("DROP INDEX i1 ON orders"), DdlKind::DropIndex { table: o("shop", "orders"), index: "i1".into() });
    assert_eq!(rw("DROP INDEX IF EXISTS `i1` ON orders"), "DROP INDEX IF EXISTS `i1` ON `shop2`.`purchases`");
}

#[test]
fn views() {
    let sql = "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v1` AS select o.id, o.qty, 'orders' AS s from orders o join crm.c on c.id = o.id";
    assert_eq!(
        rw(sql),
        "CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `shop2`.`view_one` AS select o.id, o.`quantity`, 'orders' AS s from `shop2`.`purchases` o join `crm2`.c on c.id = o.id"
    );
    assert_eq!(
        kind(sql),
        DdlKind::CreateView { view: o("shop", "v1"), or_replace: false, reads: vec![o("shop", "orders"), o("crm", "c")] }
    );
    // A view in another database reads the session's default database.
    assert_eq!(
        rw("CREATE OR REPLACE VIEW crm.v AS SELECT id FROM orders"),
        "CREATE OR REPLACE VIEW `crm2`.`v` AS SELECT id FROM `shop2`.`purchases`"
    );
    assert_eq!(
        rw(
            "/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`u`@`%` SQL SECURITY DEFINER */ /*!50001 VIEW `v2` AS select `orders`.`qty` AS `qty` from `orders` */"
        ),
        "/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 SQL SECURITY DEFINER */ /*!50001 VIEW `shop2`.`v2` AS select `purchases`.`quantity` AS `qty` from `shop2`.`purchases` */"
    );
    assert_eq!(
        rw("ALTER DEFINER=root@localhost VIEW v1 AS SELECT 1 AS a FROM orders"),
        "ALTER VIEW `shop2`.`view_one` AS SELECT 1 AS a FROM `shop2`.`purchases`"
    );
    assert!(matches!(kind("ALTER VIEW v1 AS SELECT 1"), DdlKind::AlterView { .. }));
    assert_eq!(kind("DROP VIEW IF EXISTS v1, crm.v2"), DdlKind::DropView { views: vec![o("shop", "v1"), o("crm", "v2")], if_exists: true });
    assert_eq!(rw("DROP VIEW IF EXISTS v1, crm.v2 CASCADE"), "DROP VIEW IF EXISTS `shop2`.`view_one`, `crm2`.`v2` CASCADE");
    // An unqualified name that may be a renamed column of a table the view reads.
    assert!(err("CREATE VIEW v AS SELECT qty FROM orders").contains("`qty`"));
}

#[test]
fn routines_and_triggers() {
    let sql =
        "CREATE DEFINER=`root`@`localhost` PROCEDURE `p1`(IN x INT)\nBEGIN\n  UPDATE orders o SET o.qty = x WHERE o.note = 'orders';\nEND";
    assert_eq!(
        kind(sql),
        DdlKind::CreateRoutine { kind: RoutineKind::Procedure, name: o("shop", "p1"), or_replace: false, reads: vec![o("shop", "orders")] }
    );
    assert_eq!(
        rw(sql),
        "CREATE PROCEDURE `shop2`.`p1`(IN x INT)\nBEGIN\n  UPDATE `purchases` o SET o.`quantity` = x WHERE o.`remark` = 'orders';\nEND"
    );
    assert_eq!(
        rw("CREATE OR REPLACE FUNCTION crm.f() RETURNS int RETURN (SELECT COUNT(*) FROM t)"),
        "CREATE OR REPLACE FUNCTION `crm2`.`f`() RETURNS int RETURN (SELECT COUNT(*) FROM t)"
    );
    assert!(matches!(kind("CREATE FUNCTION metaphon RETURNS STRING SONAME 'udf.so'"), DdlKind::Other { .. }));
    assert_eq!(
        kind("DROP FUNCTION IF EXISTS crm.f"),
        DdlKind::DropRoutine { kind: RoutineKind::Function, name: o("crm", "f"), if_exists: true }
    );
    assert_eq!(rw("DROP PROCEDURE p1"), "DROP PROCEDURE `shop2`.`p1`");
    assert_eq!(rw("ALTER PROCEDURE p1 COMMENT 'p1'"), "ALTER PROCEDURE `shop2`.`p1` COMMENT 'p1'");
    let sql = "CREATE TRIGGER pt_osc_shop_orders_ins AFTER INSERT ON orders FOR EACH ROW REPLACE INTO `shop`.`_orders_new` (`id`, `qty`) VALUES (NEW.`id`, NEW.`qty`)";
    assert_eq!(
        kind(sql),
        DdlKind::CreateTrigger {
            name: o("shop", "pt_osc_shop_orders_ins"),
            table: o("shop", "orders"),
            reads: vec![o("shop", "_orders_new")]
        }
    );
    assert_eq!(
        rw(sql),
        "CREATE TRIGGER `shop2`.`pt_osc_shop_orders_ins` AFTER INSERT ON `shop2`.`purchases` FOR EACH ROW REPLACE INTO `shop2`.`_orders_new` (`id`, `qty`) VALUES (NEW.`id`, NEW.`quantity`)"
    );
    assert!(is_osc_trigger("pt_osc_shop_orders_ins"));
    assert!(!is_osc_trigger("orders_ins"));
    assert_eq!(
        kind("DROP TRIGGER IF EXISTS `shop`.`pt_osc_shop_orders_del`"),
        DdlKind::DropTrigger { name: o("shop", "pt_osc_shop_orders_del"), if_exists: true }
    );
    assert_eq!(rw("DROP TRIGGER t1"), "DROP TRIGGER `shop2`.`t1`");
}

#[test]
fn not_schema_changes() {
    for sql in [
        "GRANT SELECT ON shop.* TO 'u'@'%'",
        "REVOKE ALL ON *.* FROM u",
        "CREATE USER 'u'@'%' IDENTIFIED BY 'orders'",
        "DROP USER u",
        "ALTER USER u ACCOUNT LOCK",
        "RENAME USER a TO b",
        "SET PASSWORD FOR u = PASSWORD('x')",
        "FLUSH PRIVILEGES",
        "SAVEPOINT s1",
        "ROLLBACK TO SAVEPOINT s1",
        "ANALYZE TABLE orders",
        "OPTIMIZE TABLE orders",
        "CHECK TABLE orders",
        "REPAIR TABLE orders",
        "CREATE TEMPORARY TABLE tmp (a int)",
        "DROP TEMPORARY TABLE IF EXISTS tmp",
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM orders",
        "DROP EVENT e",
        "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (HOST 'h')",
        "INSTALL PLUGIN x SONAME 'x.so'",
        "SET @a = 1",
        "BEGIN",
        "COMMIT",
        "XA START 'x'",
        "# dummy event",
        "/* nothing */",
        "",
        "CREATE SEQUENCE s1",
        "INSERT INTO orders VALUES (1)",
        "/*!40101 SET NAMES utf8mb4 */",
    ] {
        let d = parse_ddl(sql, "shop").unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(!d.is_schema_change(), "{sql}: {d:?}");
        assert!(d.objects().is_empty(), "{sql}");
        assert!(rewrite_ddl(sql, "shop", &map()).is_err(), "{sql}");
    }
}

#[test]
fn errors() {
    for sql in ["CREATE GIBBERISH x", "ALTER TABLE", "DROP INDEX i", "RENAME TABLE a b", "FROB x", "CREATE TABLE t (a int"] {
        assert!(parse_ddl(sql, "shop").is_err(), "{sql}");
    }
    let e = parse_ddl("DROP TABLE t", "").unwrap_err().to_string();
    assert!(e.contains("no default database"), "{e}");
    assert!(parse_ddl("select 'unterminated", "shop").is_err());
    // Case does not matter for keywords.
    assert!(matches!(kind("dRoP tAbLe orders"), DdlKind::DropTable { .. }));
}

#[test]
fn string_literals_and_same_names() {
    // A table `qty` and a column `qty`; strings and comments equal to names.
    let mut m = map();
    m.rename_table("shop", "qty", "qty_table");
    let sql = "ALTER TABLE qty ADD COLUMN orders int DEFAULT 'qty' COMMENT 'orders' /* orders qty */";
    assert_eq!(
        rewrite_ddl(sql, "shop", &m).unwrap(),
        "ALTER TABLE `shop2`.`qty_table` ADD COLUMN orders int DEFAULT 'qty' COMMENT 'orders' /* orders qty */"
    );
    let sql = "CREATE TABLE orders (orders int DEFAULT 't1', qty int COMMENT \"qty\")";
    assert_eq!(
        rewrite_ddl(sql, "shop", &m).unwrap(),
        "CREATE TABLE `shop2`.`purchases` (orders int DEFAULT 't1', `quantity` int COMMENT \"qty\")"
    );
}

/// The e2e cases: (default db, original, rewritten); the file's header comment says
/// which mapping.
fn e2e_map() -> NameMap {
    let renames = [
        ("shop", "shop2"),
        ("crm", "crm2"),
        ("shop.orders", "purchases"),
        ("shop.v1", "view_one"),
        ("shop.orders.qty", "quantity"),
        ("shop.orders.note", "remark"),
    ];
    crate::sql::names::fixtures::map(&renames)
}

/// Checks the rewrites the e2e test runs on MariaDB (FERRY_BLESS=1 rewrites the file).
#[test]
fn e2e_cases() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/sql/testdata/ddl_e2e.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let (header, body) = text.split_at(text.find("db: ").unwrap());
    let mut blessed = header.to_string();
    let mut n = 0;
    for case in body.split("\n----\n") {
        let (db_line, rest) = case.split_once('\n').unwrap();
        let db = db_line.strip_prefix("db: ").unwrap();
        let (orig, expected) = rest.split_once("\n=>").unwrap();
        let expected = expected.trim_start_matches('\n').trim_end_matches('\n');
        let got = rewrite_ddl(orig, db, &e2e_map()).unwrap_or_else(|e| panic!("{orig}: {e}"));
        if std::env::var_os("FERRY_BLESS").is_none() {
            assert_eq!(got, expected, "case {n}");
        }
        if n > 0 {
            blessed.push_str("\n----\n");
        }
        blessed.push_str(&format!("db: {db}\n{orig}\n=>\n{got}"));
        n += 1;
    }
    assert!(n >= 15);
    if std::env::var_os("FERRY_BLESS").is_some() {
        std::fs::write(path, blessed + "\n").unwrap();
    }
}

/// MySQL 8+ SHOW CREATE TABLE forms (what the schema tracker and pt-osc replay): charset
/// introducers in defaults and expressions, functional and multi-valued key parts,
/// versioned comments, NOT ENFORCED checks.
#[test]
fn mysql_show_create_table_forms_rewrite() {
    let mut m = NameMap::new();
    m.rename_db("forms", "forms2");
    m.rename_column("forms", "doc", "email", "mail");
    let doc = "CREATE TABLE `doc` (
  `id` int NOT NULL,
  `email` varchar(100) NOT NULL,
  `tags` json DEFAULT NULL,
  `lbl` varchar(30) DEFAULT (concat(_utf8mb4'n',(1 + 1))),
  `due` date DEFAULT ((curdate() + interval 1 day)),
  `hidden` varchar(20) DEFAULT NULL /*!80023 INVISIBLE */,
  `c` varchar(20) GENERATED ALWAYS AS (concat(_utf8mb4'x',`email`)) VIRTUAL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ux_doc` (((`id` * 2)),`email`),
  KEY `ix_doc` ((lower(`email`))),
  KEY `ix_tags` ((cast(json_extract(`tags`,_utf8mb4'$.t') as unsigned array))),
  CONSTRAINT `mail_ok` CHECK ((`email` like _utf8mb4'%@%')) /*!80016 NOT ENFORCED */
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci";
    let want = doc.replace("CREATE TABLE `doc`", "CREATE TABLE `forms2`.`doc`").replace("`email`", "`mail`");
    assert_eq!(rewrite_ddl(doc, "forms", &m).unwrap(), want);
    assert_eq!(
        rw("ALTER TABLE orders ADD CONSTRAINT c CHECK (note LIKE 'a%' AND qty > 0 AND d > DATE '2020-01-01')"),
        "ALTER TABLE `shop2`.`purchases` ADD CONSTRAINT c CHECK (`remark` LIKE 'a%' AND `quantity` > 0 AND d > DATE '2020-01-01')"
    );
}
