//! Schema sync's rewrites of CREATE TABLE as SHOW CREATE TABLE prints it on the source,
//! before it runs on the target: ferry's name mapping, the selected columns, secondary
//! indexes deferred past the bulk load, collations inherited from the table. Everything
//! works on tokens, so string literals, comments and `COMMENT '...'` texts are never
//! touched; only the tokens that change are replaced (renamed names re-quoted with
//! backquotes), the rest of the text is kept byte for byte.
//!
//! Input is expected as MariaDB/MySQL print it with `sql_quote_show_create=1` (the
//! default) and without ANSI_QUOTES: in CREATE TABLE column definitions only
//! backquoted names are taken as columns. The definitions are walked by
//! [`super::table_def`], the walker DDL replay uses too.
//!
//! Views, routines and triggers are in [`super::references`]; this module re-exports
//! them and [`NameMap`] under their old paths.

use std::collections::HashSet;

use super::cursor::{Chain, Cursor, Sql};
use super::edit::{Edits, qualified};
use super::lexer::quote_ident;
use super::table_def::{self, Item, ItemKind, Ref};

pub use super::RewriteError;
pub use super::names::NameMap;
pub use super::references::{referenced_tables, rewrite_references, rewrite_references_qualified, strip_definer};

/// A name of a CREATE TABLE, as schema sync maps it.
enum Name {
    /// A column of the table itself.
    Col(usize),
    /// A column of the table a FOREIGN KEY references (follows its ForeignTable).
    ForeignCol(usize),
    ForeignTable(Chain),
    /// `db`.`table` in an expression: MariaDB sequences, nextval(`db`.`s`).
    Table(Chain),
    /// `db`.`func`( in an expression.
    DbOf(Chain),
}

/// What the walker's refs mean in SHOW CREATE TABLE output: a backquoted single name
/// in a column definition or expression is a column; `db`.`x` is a table (sequence)
/// or, when called, a stored function.
fn names(q: &Sql, refs: Vec<Ref>) -> Vec<Name> {
    let mut out = Vec::new();
    for r in refs {
        match r {
            Ref::Col(s) => out.push(Name::Col(s)),
            Ref::After { col, .. } if q.is_quoted(col) => out.push(Name::Col(col)),
            Ref::After { .. } | Ref::ForeignTable { table: None, .. } => {}
            Ref::ForeignTable { table: Some(c), .. } => out.push(Name::ForeignTable(c)),
            Ref::ForeignCol(s) => out.push(Name::ForeignCol(s)),
            Ref::Expr(e) | Ref::Loose(e) => match (e.chain.parts.len(), e.chain.star) {
                (1, false) if !e.called && q.is_quoted(e.chain.parts[0]) => out.push(Name::Col(e.chain.parts[0])),
                (2, false) if e.called => out.push(Name::DbOf(e.chain)),
                (2, false) => out.push(Name::Table(e.chain)),
                _ => {}
            },
        }
    }
    out
}

/// `CREATE TABLE name (definitions) options`, as SHOW CREATE TABLE prints it.
struct CreateTable<'q, 'a> {
    q: &'q Sql<'a>,
    name: Chain,
    items: Vec<Item<'q, 'a>>,
    /// After the definition list: table options, partitioning.
    options: Cursor<'q, 'a>,
}

impl<'q, 'a> CreateTable<'q, 'a> {
    fn parse(q: &'q Sql<'a>) -> Result<Self, RewriteError> {
        let what = "CREATE TABLE statement";
        let mut c = Cursor::new(q);
        // CREATE [OR REPLACE] [TEMPORARY] TABLE: TABLE within the next four words.
        let table_kw = c.from(1).limit(4).find(|c| c.is("TABLE"));
        let (true, Some(table_kw)) = (c.is("CREATE"), table_kw) else {
            return Err(q.parse_err(what, 0));
        };
        c = c.from(table_kw);
        c.next();
        if c.optional("IF") {
            c.optional("NOT");
            c.next(); // EXISTS
        }
        if !c.is_ident() {
            return Err(c.err("table name"));
        }
        let name = c.qualified_name().ok_or_else(|| c.err("table name"))?;
        if !c.is("(") {
            return Err(c.err("CREATE TABLE without a definition list"));
        }
        let list = c.balanced().ok_or_else(|| c.err("unbalanced parentheses"))?;
        let items = table_def::items(list)?;
        Ok(CreateTable { q, name, items, options: c })
    }

    fn column_name(&self, it: &Item) -> Option<String> {
        (it.kind == ItemKind::Column).then(|| self.q.name(it.first()))
    }

    fn item_names(&self, it: &Item) -> Vec<Name> {
        names(self.q, it.refs())
    }

    /// Columns used by PARTITION BY / SUBPARTITION BY expressions.
    fn partition_names(&self) -> Vec<Name> {
        let mut refs = Vec::new();
        table_def::partition_exprs(self.options, &mut refs);
        names(self.q, refs)
    }

    /// Source bytes of an item, without surrounding whitespace and comma; a trailing
    /// versioned comment (`/*!80000 INVISIBLE */`) stays with it.
    fn text(&self, it: &Item) -> std::ops::Range<usize> {
        self.q.text_with_trailing(it.first(), it.last())
    }

    /// The statement with only the items for which `keep` is true.
    fn rebuild(&self, keep: &[bool]) -> String {
        let src = self.q.src;
        let texts: Vec<std::ops::Range<usize>> = self.items.iter().map(|it| self.text(it)).collect();
        let sep = match texts.get(1) {
            Some(second) => &src[texts[0].end..second.start],
            None => ",\n  ",
        };
        let kept: Vec<&str> = texts.iter().zip(keep).filter(|(_, k)| **k).map(|(t, _)| &src[t.clone()]).collect();
        let head = &src[..texts[0].start];
        let tail = &src[texts.last().unwrap().end..];
        format!("{head}{}{tail}", kept.join(sep))
    }
}

/// Rewrites SHOW CREATE TABLE output of `src_db`.`src_table` for the target: the table
/// name becomes `dst_db`.`dst_table` (qualified, so it does not depend on the session's
/// default database) and renamed columns are renamed everywhere they are referenced:
/// definitions, generated/default/CHECK expressions, key parts, FOREIGN KEY lists and
/// partitioning expressions. FOREIGN KEY targets are mapped through the map too
/// (an unqualified target is in the same database as the table).
pub fn rewrite_create_table(sql: &str, src_db: &str, src_table: &str, map: &NameMap) -> Result<String, RewriteError> {
    let q = Sql::new(sql)?;
    let ct = CreateTable::parse(&q)?;
    let parts = &ct.name.parts;
    let (got_db, got_table) = match parts.len() {
        1 => (src_db.to_string(), q.name(parts[0])),
        2 => (q.name(parts[0]), q.name(parts[1])),
        _ => return Err(q.parse_err("table name", parts[0])),
    };
    if got_db != src_db || got_table != src_table {
        let what = format!("statement creates {}, expected {}", qualified(&got_db, &got_table), qualified(src_db, src_table));
        return Err(q.conflict(what, parts[0]));
    }
    let dst_db = map.db(src_db);
    let mut ed = Edits::default();
    ed.replace(q.chain_span(&ct.name), qualified(dst_db, map.table(src_db, src_table)));

    let mut names: Vec<Name> = ct.items.iter().flat_map(|it| ct.item_names(it)).collect();
    names.extend(ct.partition_names());
    let mut ref_table = (src_db.to_string(), src_table.to_string());
    for n in names {
        match n {
            Name::Col(s) => ed.rename(&q, s, map.column(src_db, src_table, &q.name(s))),
            Name::ForeignCol(s) => ed.rename(&q, s, map.column(&ref_table.0, &ref_table.1, &q.name(s))),
            Name::ForeignTable(c) => ref_table = foreign_table(&q, &c, src_db, dst_db, map, &mut ed)?,
            Name::Table(c) => {
                let (d, t) = (q.name(c.parts[0]), q.name(c.parts[1]));
                ed.rename(&q, c.parts[0], map.db(&d));
                ed.rename(&q, c.parts[1], map.table(&d, &t));
            }
            Name::DbOf(c) => ed.rename(&q, c.parts[0], map.db(&q.name(c.parts[0]))),
        }
    }
    Ok(ed.apply(sql))
}

/// Maps a FOREIGN KEY target (unqualified: in the table's database `src_db`); returns
/// its source (db, table).
fn foreign_table(q: &Sql, c: &Chain, src_db: &str, dst_db: &str, map: &NameMap, ed: &mut Edits) -> Result<(String, String), RewriteError> {
    let (rdb, rt) = match c.parts[..] {
        [t] => (src_db.to_string(), q.name(t)),
        [d, t] => (q.name(d), q.name(t)),
        _ => return Err(q.parse_err("FOREIGN KEY target", c.parts[0])),
    };
    let (ndb, nt) = (map.db(&rdb), map.table(&rdb, &rt));
    if c.parts.len() == 2 || ndb != dst_db {
        ed.replace(q.chain_span(c), qualified(ndb, nt));
    } else {
        ed.rename(q, c.parts[0], nt);
    }
    Ok((rdb, rt))
}

/// Keeps only the columns named in `keep` (case-insensitive) in a CREATE TABLE, and
/// drops every index or constraint that uses a dropped column. Fails when a kept
/// column's expression or the partitioning uses a dropped column, when a name in
/// `keep` is not a column, or when nothing would be left.
pub fn select_columns_create_table(sql: &str, keep: &[String]) -> Result<String, RewriteError> {
    let q = Sql::new(sql)?;
    let ct = CreateTable::parse(&q)?;
    let columns: Vec<String> = ct.items.iter().filter_map(|it| ct.column_name(it)).collect();
    let lower: HashSet<String> = columns.iter().map(|c| c.to_lowercase()).collect();
    let wanted: HashSet<String> = keep.iter().map(|c| c.to_lowercase()).collect();
    if let Some(missing) = keep.iter().find(|k| !lower.contains(&k.to_lowercase())) {
        let what = format!("column {} to keep is not in the table", quote_ident(missing));
        return Err(q.conflict(what, 0));
    }
    let dropped: HashSet<String> = lower.difference(&wanted).cloned().collect();
    if dropped.is_empty() {
        return Ok(sql.to_string());
    }
    if dropped.len() == lower.len() {
        return Err(q.conflict("no column would be left".into(), 0));
    }
    let is_dropped = |s: usize| dropped.contains(&q.name(s).to_lowercase());
    let dropped_col = |names: &[Name], skip: usize| {
        names.iter().find_map(|n| match n {
            Name::Col(s) if *s != skip && is_dropped(*s) => Some(*s),
            _ => None,
        })
    };
    let mut keep_item = Vec::with_capacity(ct.items.len());
    for it in &ct.items {
        let names = ct.item_names(it);
        let keep_it = if it.kind == ItemKind::Column {
            if !is_dropped(it.first())
                && let Some(s) = dropped_col(&names, it.first())
            {
                let what = format!("kept column {} uses dropped column {}", quote_ident(&q.name(it.first())), quote_ident(&q.name(s)));
                return Err(q.conflict(what, it.first()));
            }
            !is_dropped(it.first())
        } else {
            dropped_col(&names, usize::MAX).is_none()
        };
        keep_item.push(keep_it);
    }
    if let Some(s) = dropped_col(&ct.partition_names(), usize::MAX) {
        let what = format!("partitioning uses dropped column {}", quote_ident(&q.name(s)));
        return Err(q.conflict(what, s));
    }
    Ok(ct.rebuild(&keep_item))
}

/// Takes the plain secondary indexes (KEY/INDEX, not PRIMARY, UNIQUE, FULLTEXT,
/// SPATIAL) out of a CREATE TABLE so they can be built after the bulk load, returned
/// as `ADD KEY ...` clauses for one `ALTER TABLE t ADD KEY ..., ADD KEY ...`.
/// Leaves the statement alone when the table has a FOREIGN KEY (InnoDB needs those
/// indexes) or cannot be parsed; keeps the one index an AUTO_INCREMENT column needs.
pub fn split_secondary_indexes(sql: &str) -> (String, Vec<String>) {
    let unchanged = || (sql.to_string(), Vec::new());
    let Ok(q) = Sql::new(sql) else {
        return unchanged();
    };
    let Ok(ct) = CreateTable::parse(&q) else {
        return unchanged();
    };
    if ct.items.iter().any(|it| it.kind == ItemKind::Foreign) {
        return unchanged();
    }
    let first_col = |it: &Item| {
        ct.item_names(it).into_iter().find_map(|n| match n {
            Name::Col(s) => Some(q.name(s).to_lowercase()),
            _ => None,
        })
    };
    // InnoDB wants an AUTO_INCREMENT column to lead some index.
    let auto_inc = ct.items.iter().find(|it| it.kind == ItemKind::Column && it.tokens.find(|c| c.is("AUTO_INCREMENT")).is_some());
    let mut needs_key = auto_inc.map(|it| q.name(it.first()).to_lowercase()).filter(|ai| {
        !ct.items.iter().any(|it| matches!(it.kind, ItemKind::Primary | ItemKind::Unique) && first_col(it).as_ref() == Some(ai))
    });
    let mut keep = Vec::new();
    let mut deferred = Vec::new();
    for it in &ct.items {
        let mut defer = it.kind == ItemKind::Key;
        if defer && needs_key.is_some() && first_col(it) == needs_key {
            (defer, needs_key) = (false, None);
        }
        keep.push(!defer);
        if defer {
            deferred.push(format!("ADD {}", &sql[ct.text(it)]));
        }
    }
    if deferred.is_empty() {
        return unchanged();
    }
    (ct.rebuild(&keep), deferred)
}

/// Makes a CREATE TABLE from MySQL's SHOW CREATE TABLE build a table whose SHOW CREATE TABLE
/// reads the same. MySQL 8+ prints a column's collation alone, `COLLATE x` without `CHARACTER
/// SET`, when the column inherits a non-default collation `x` from the table; replaying that
/// text makes the collation explicit, which MySQL then prints as `CHARACTER SET cs COLLATE x`.
/// Such a lone COLLATE right after a column's type, naming the table's own default collation, is
/// dropped: the column inherits it again. A lone COLLATE names the table's collation on MariaDB
/// too, which prints the same either way, so this changes no table on any server. Unchanged when
/// the statement cannot be parsed or the table has no `COLLATE=` option.
pub fn inherit_table_collation(sql: &str) -> String {
    let Ok(q) = Sql::new(sql) else {
        return sql.to_string();
    };
    let Ok(ct) = CreateTable::parse(&q) else {
        return sql.to_string();
    };
    // The table options, up to any partitioning.
    let options = match ct.options.find(|c| c.is("PARTITION")) {
        Some(partitioning) => ct.options.upto(partitioning),
        None => ct.options,
    };
    let mut c = options;
    let table_collation = c.until(|c| c.is("COLLATE")).map(|_| {
        c.next();
        c.optional("=");
        c.word()
    });
    let Some(table_collation) = table_collation.filter(|c| !c.is_empty()) else {
        return sql.to_string();
    };
    let mut ed = Edits::default();
    for it in ct.items.iter().filter(|it| it.kind == ItemKind::Column) {
        let Some(mut c) = table_def::after_data_type(it.tokens) else {
            continue;
        };
        let type_end = q.span(c.pos() - 1).end;
        if c.optional("COLLATE") && c.word() == table_collation {
            ed.replace(type_end..q.span(c.pos()).end, String::new());
        }
    }
    ed.apply(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real SHOW CREATE output from MariaDB 10.11 (see testdata/).
    const ORDERS: &str = include_str!("testdata/orders.sql");
    const CUSTOMERS: &str = include_str!("testdata/customers.sql");
    const EVENTS: &str = include_str!("testdata/events.sql");
    const PRANGE: &str = include_str!("testdata/prange.sql");
    const PLAIN: &str = include_str!("testdata/plain.sql");
    const SEQT: &str = include_str!("testdata/seqt.sql");
    const VERS: &str = include_str!("testdata/vers.sql");
    const AI: &str = include_str!("testdata/ai.sql");
    const WEIRD: &str = include_str!("testdata/weird.sql");
    const CONTACTS: &str = include_str!("testdata/contacts.sql");
    const SELFREF: &str = include_str!("testdata/selfref.sql");

    /// shop -> shop2, crm -> crm2, orders -> purchases, customers -> clients, a few columns.
    fn map() -> NameMap {
        crate::sql::names::fixtures::map(crate::sql::names::fixtures::SCHEMA_SYNC)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn conflict(r: Result<String, RewriteError>) -> String {
        match r {
            Err(RewriteError::Conflict { what, .. }) => what,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn create_table_full_mapping() {
        let out = rewrite_create_table(ORDERS, "shop", "orders", &map()).unwrap();
        let expected = ORDERS
            .replace("CREATE TABLE `orders`", "CREATE TABLE `shop2`.`purchases`")
            .replace("`qty` int(11)", "`quantity` int(11)")
            .replace("(`qty` * `price`)", "(`quantity` * `price`)")
            .replace("`we``ird` int", "`we``ird2` int")
            .replace("(`customer_id`,`we``ird`)", "(`customer_id`,`we``ird2`)")
            .replace("REFERENCES `customers` (`id`)", "REFERENCES `clients` (`cid`)")
            .replace("CHECK (`qty` > 0", "CHECK (`quantity` > 0");
        assert_eq!(out, expected);
        // What must not change: literals, comments, a column named like the table.
        assert!(out.contains("DEFAULT 'qty, price` and ''x'''"));
        assert!(out.contains("COMMENT 'qty of orders'"));
        assert!(out.contains("`note` <> 'qty'"));
        assert!(out.contains("`orders` int(11) DEFAULT NULL COMMENT 'column named like table'"));
        assert!(out.ends_with("COMMENT='orders: id, qty, price'"));
        assert!(out.contains("KEY `idx_cust` (`customer_id`,`created`)"), "composite key untouched");
    }

    #[test]
    fn create_table_without_renames_only_qualifies() {
        let out = rewrite_create_table(CUSTOMERS, "shop", "customers", &NameMap::new()).unwrap();
        assert_eq!(out, CUSTOMERS.replace("CREATE TABLE `customers`", "CREATE TABLE `shop`.`customers`"));
        let out = rewrite_create_table(CUSTOMERS, "shop", "customers", &map()).unwrap();
        assert!(out.starts_with("CREATE TABLE `shop2`.`clients` (\n  `cid` int(11) NOT NULL,"));
        assert!(out.contains("PRIMARY KEY (`cid`),\n  UNIQUE KEY `uk_email` (`email`)"));
        assert!(out.ends_with("COMMENT='customers table: name, email'"));
    }

    #[test]
    fn create_table_partitioning() {
        let out = rewrite_create_table(PRANGE, "shop", "prange", &map()).unwrap();
        assert!(out.contains("`group_id` int(11) NOT NULL"));
        assert!(out.contains("PRIMARY KEY (`id`,`group_id`)"));
        assert!(out.contains(" PARTITION BY RANGE (`group_id`)\n(PARTITION `p0` VALUES LESS THAN (10) COMMENT = 'grp part'"));
        let out = rewrite_create_table(EVENTS, "shop", "events", &map()).unwrap();
        assert!(out.contains("PARTITION BY RANGE (year(`tstamp`))"));
        assert!(out.contains("PRIMARY KEY (`id`,`tstamp`)"));
        assert!(out.contains("CHECK (json_valid(`v`))"));
        // MySQL prints partitioning inside a versioned comment.
        let mysql = "CREATE TABLE `prange` (\n  `id` int NOT NULL,\n  `grp` int NOT NULL,\n  PRIMARY KEY (`id`,`grp`)\n) ENGINE=InnoDB\n/*!50100 PARTITION BY RANGE (`grp`)\n(PARTITION p0 VALUES LESS THAN (10) ENGINE = InnoDB) */";
        let out = rewrite_create_table(mysql, "shop", "prange", &map()).unwrap();
        assert!(out.ends_with("/*!50100 PARTITION BY RANGE (`group_id`)\n(PARTITION p0 VALUES LESS THAN (10) ENGINE = InnoDB) */"));
    }

    #[test]
    fn create_table_foreign_keys() {
        // Qualified target in another database.
        let mut m = map();
        m.rename_column("crm", "contacts", "cust_id", "client_id");
        let out = rewrite_create_table(CONTACTS, "crm", "contacts", &m).unwrap();
        assert!(out.starts_with("CREATE TABLE `crm2`.`contacts` ("));
        assert!(out.contains("KEY `cust_id` (`client_id`)"), "index names stay");
        assert!(out.contains("CONSTRAINT `fk_c` FOREIGN KEY (`client_id`) REFERENCES `shop2`.`clients` (`cid`)"));
        // Self reference: the target table and its columns follow the table's own renames.
        m.rename_table("crm", "selfref", "nodes");
        m.rename_column("crm", "selfref", "id", "node_id");
        let out = rewrite_create_table(SELFREF, "crm", "selfref", &m).unwrap();
        assert!(out.starts_with("CREATE TABLE `crm2`.`nodes` (\n  `node_id` int(11) NOT NULL,"));
        assert!(out.contains("FOREIGN KEY (`parent`) REFERENCES `nodes` (`node_id`)"));
    }

    #[test]
    fn create_table_sequences_weird_names_and_keywords() {
        let out = rewrite_create_table(SEQT, "shop", "seqt", &map()).unwrap();
        assert!(out.contains("DEFAULT nextval(`shop2`.`s1`),"));
        assert!(out.contains("DEFAULT (nextval(`shop2`.`s1`) + 1),"));
        let out = rewrite_create_table(WEIRD, "shop", "we`ird tbl", &map()).unwrap();
        assert!(out.starts_with("CREATE TABLE `shop2`.`we``ird tbl` (\n  `a``b` int(11) NOT NULL,\n  `c``d` int(11)"));
        assert!(out.contains("KEY `k``1` (`c``d`)"));
        // A column named like its type: only the name changes.
        let mut m = NameMap::new();
        m.rename_column("shop", "vers", "date", "day");
        m.rename_column("shop", "vers", "s", "valid_from");
        let out = rewrite_create_table(VERS, "shop", "vers", &m).unwrap();
        assert!(out.contains("`day` date DEFAULT NULL,"));
        assert!(out.contains("PERIOD FOR SYSTEM_TIME (`valid_from`, `e`)"));
        assert!(out.contains("`select` int(11) DEFAULT NULL"));
    }

    #[test]
    fn create_table_errors() {
        let m = map();
        let e = conflict(rewrite_create_table(ORDERS, "shop", "customers", &m));
        assert!(e.contains("`shop`.`orders`"), "{e}");
        let e = rewrite_create_table("CREATE TABLE `t` LIKE `u`", "d", "t", &m).unwrap_err();
        assert!(matches!(e, RewriteError::Parse { .. }), "{e}");
        assert!(e.to_string().contains("LIKE"), "{e}");
        let e = rewrite_create_table("CREATE VIEW `v` AS select 1", "d", "v", &m).unwrap_err();
        assert!(matches!(e, RewriteError::Parse { .. }), "{e}");
        let e = rewrite_create_table("CREATE TABLE `t` (`a` int", "d", "t", &m).unwrap_err();
        assert!(e.to_string().contains("unbalanced"), "{e}");
        let e = rewrite_create_table("CREATE TABLE `t` (`a` int DEFAULT 'x)", "d", "t", &m).unwrap_err();
        assert!(matches!(e, RewriteError::Lex(_)), "{e}");
    }

    #[test]
    fn select_columns() {
        let keep = strings(&["ID", "customer_id", "qty", "price", "total", "created"]);
        let out = select_columns_create_table(ORDERS, &keep).unwrap();
        assert_eq!(
            out,
            "CREATE TABLE `orders` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) NOT NULL,
  `qty` int(11) NOT NULL DEFAULT 1 COMMENT 'qty of orders',
  `price` decimal(10,2) NOT NULL,
  `total` decimal(12,2) GENERATED ALWAYS AS (`qty` * `price`) STORED,
  `created` datetime DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  PRIMARY KEY (`id`),
  KEY `idx_cust` (`customer_id`,`created`),
  CONSTRAINT `fk_cust` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci COMMENT='orders: id, qty, price'"
        );
        // Dropping the last column and its indexes leaves no dangling comma.
        let out = select_columns_create_table(PLAIN, &strings(&["id", "a", "b"])).unwrap();
        assert!(out.contains("  KEY `kab` (`a`,`b` DESC)\n) ENGINE=InnoDB"), "{out}");
        let out = select_columns_create_table(PLAIN, &strings(&["id", "b", "c"])).unwrap();
        assert!(!out.contains("`ka`") && !out.contains("`kab`") && !out.contains("`a`"));
        // Keeping everything is a no-op; the FK only uses local columns for the decision.
        let all = strings(&["id", "cust_id"]);
        assert_eq!(select_columns_create_table(CONTACTS, &all).unwrap(), CONTACTS);
    }

    #[test]
    fn select_columns_refusals() {
        let e = conflict(select_columns_create_table(ORDERS, &strings(&["id", "qty", "total"])));
        assert!(e.contains("`total` uses dropped column `price`"), "{e}");
        let e = conflict(select_columns_create_table(PRANGE, &strings(&["id"])));
        assert!(e.contains("partitioning uses dropped column `grp`"), "{e}");
        let e = conflict(select_columns_create_table(PRANGE, &strings(&["id", "nope"])));
        assert!(e.contains("`nope` to keep is not in the table"), "{e}");
        let e = conflict(select_columns_create_table(PRANGE, &[]));
        assert!(e.contains("no column"), "{e}");
        // A name in a comment or a string is not a use of the column.
        let sql = "CREATE TABLE `t` (\n  `a` int,\n  `b` varchar(9) DEFAULT '`a`' COMMENT '`a`'\n)";
        assert_eq!(
            select_columns_create_table(sql, &strings(&["b"])).unwrap(),
            "CREATE TABLE `t` (\n  `b` varchar(9) DEFAULT '`a`' COMMENT '`a`'\n)"
        );
    }

    #[test]
    fn inherit_table_collation_drops_only_a_lone_collate_naming_the_table_default() {
        let mysql = "CREATE TABLE `t` (
  `id` int NOT NULL,
  `a` varchar(20) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `b` varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `c` text COLLATE utf8mb4_unicode_ci,
  `d` enum('x','COLLATE utf8mb4_unicode_ci') COLLATE utf8mb4_unicode_ci NOT NULL,
  `e` varchar(10) COLLATE utf8mb4_bin DEFAULT NULL,
  `f` varchar(10) GENERATED ALWAYS AS ((`a` collate utf8mb4_unicode_ci)) VIRTUAL,
  `g` varchar(5) DEFAULT 'z' COMMENT 'COLLATE utf8mb4_unicode_ci',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci";
        let want = mysql
            .replace("`a` varchar(20) COLLATE utf8mb4_unicode_ci DEFAULT", "`a` varchar(20) DEFAULT")
            .replace("`c` text COLLATE utf8mb4_unicode_ci,", "`c` text,")
            .replace("') COLLATE utf8mb4_unicode_ci NOT NULL", "') NOT NULL");
        assert_eq!(inherit_table_collation(mysql), want);
        // Already inheriting, no table collation written, partitioned, or not a CREATE TABLE.
        assert_eq!(inherit_table_collation(&want), want);
        let no_option = "CREATE TABLE `t` (\n  `a` varchar(2) COLLATE latin1_bin\n) ENGINE=InnoDB DEFAULT CHARSET=latin1";
        assert_eq!(inherit_table_collation(no_option), no_option);
        let partitioned = "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `a` char(2) COLLATE utf8mb4_bin\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin\n/*!50100 PARTITION BY HASH (`id`)\nPARTITIONS 2 */";
        assert_eq!(inherit_table_collation(partitioned), partitioned.replace("char(2) COLLATE utf8mb4_bin", "char(2)"));
        assert_eq!(inherit_table_collation("CREATE VIEW v AS SELECT 1"), "CREATE VIEW v AS SELECT 1");
    }

    #[test]
    fn split_indexes() {
        let (sql, keys) = split_secondary_indexes(PLAIN);
        assert_eq!(keys, ["ADD KEY `ka` (`a`)", "ADD KEY `kab` (`a`,`b` DESC)", "ADD KEY `kc` (`c`) COMMENT 'idx on c'"]);
        assert!(
            sql.ends_with(
                "  PRIMARY KEY (`id`),\n  UNIQUE KEY `ub` (`b`)\n) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci"
            )
        );
        // FOREIGN KEY tables keep their indexes.
        assert_eq!(split_secondary_indexes(ORDERS), (ORDERS.to_string(), vec![]));
        assert_eq!(split_secondary_indexes(CONTACTS), (CONTACTS.to_string(), vec![]));
        // No plain index: unchanged; FULLTEXT/UNIQUE stay.
        assert_eq!(split_secondary_indexes(CUSTOMERS), (CUSTOMERS.to_string(), vec![]));
        // The index an AUTO_INCREMENT column needs stays.
        let (sql, keys) = split_secondary_indexes(AI);
        assert_eq!(keys, ["ADD KEY `k2` (`a`)"]);
        assert!(sql.contains("PRIMARY KEY (`a`,`id`),\n  KEY `id` (`id`)\n)"));
        // Partitioned table, escaped names.
        let (sql, keys) = split_secondary_indexes(EVENTS);
        assert_eq!(keys, ["ADD KEY `k_v` (`id`)"]);
        assert!(sql.contains("PRIMARY KEY (`id`,`ts`)\n) ENGINE") && sql.contains("PARTITION BY RANGE"));
        assert_eq!(split_secondary_indexes(WEIRD).1, ["ADD KEY `k``1` (`c d`)"]);
        // A KEY between other items, and MySQL's versioned INVISIBLE.
        let sql = "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `a` int,\n  PRIMARY KEY (`id`),\n  KEY `ka` (`a`) /*!80000 INVISIBLE */,\n  CONSTRAINT `c` CHECK (`a` > 0)\n)";
        let (out, keys) = split_secondary_indexes(sql);
        assert_eq!(keys, ["ADD KEY `ka` (`a`) /*!80000 INVISIBLE */"]);
        assert_eq!(out, "CREATE TABLE `t` (\n  `id` int NOT NULL,\n  `a` int,\n  PRIMARY KEY (`id`),\n  CONSTRAINT `c` CHECK (`a` > 0)\n)");
        // Not understood: left alone.
        assert_eq!(split_secondary_indexes("CREATE TABLE `t` ("), ("CREATE TABLE `t` (".to_string(), vec![]));
    }
}
