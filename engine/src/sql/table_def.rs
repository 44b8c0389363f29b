//! The table-definition walker: the grammar of a CREATE TABLE definition list, of the
//! column and key definitions of ALTER TABLE, and of partitioning expressions. Schema
//! sync ([`super::rewrite`], on SHOW CREATE TABLE output) and DDL replay
//! ([`super::ddl`], on statements from the binlog) both walk tables with it.
//!
//! It finds the names of a definition and reports each with its role, as a [`Ref`];
//! what a name becomes is up to the caller. The two callers differ in one policy only:
//! SHOW CREATE quotes every name, so schema sync takes any backquoted name in a column
//! definition for a column ([`Ref::Loose`] included), while DDL replay reads names
//! written by people and only looks inside the expressions the grammar delimits
//! ([`Ref::Expr`]: DEFAULT, generated column and CHECK expressions, functional key parts,
//! partitioning).
//!
//! ```text
//! definition  := column | [CONSTRAINT [name]] (PRIMARY | UNIQUE | KEY | INDEX | FULLTEXT
//!                | SPATIAL | PERIOD) ... (key_part, ...) ...
//!              | [CONSTRAINT [name]] FOREIGN KEY ... (key_part, ...) REFERENCES tbl [(key_part, ...)] ...
//!              | [CONSTRAINT [name]] CHECK (expr) ...
//! column      := name type [(args)] attribute*      -- (expr) after DEFAULT, AS, CHECK;
//!                                                   -- REFERENCES tbl [(cols)]; AFTER col
//! key_part    := name [(length)] [ASC | DESC] | (expr) [ASC | DESC]
//! ```

use super::RewriteError;
use super::cursor::{Chain, Cursor, Sql};
use super::lexer::TokenKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemKind {
    Column,
    Primary,
    Unique,
    /// Plain KEY / INDEX.
    Key,
    /// FULLTEXT / SPATIAL.
    Special,
    Foreign,
    Check,
    /// PERIOD FOR name (start, end).
    Period,
}

/// One element of a definition list: a column, an index or a constraint.
#[derive(Clone, Copy)]
pub(super) struct Item<'q, 'a> {
    pub(super) kind: ItemKind,
    /// The element's tokens, without the separating comma.
    pub(super) tokens: Cursor<'q, 'a>,
    /// At the word that gave the kind, after `CONSTRAINT [name]` (at the name for a column).
    head: Cursor<'q, 'a>,
}

/// A name in a definition, by role. Indices are sig indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ref {
    /// A column of the table: a column definition's name, a key part.
    Col(usize),
    /// A name in an expression the grammar delimits.
    Expr(ExprName),
    /// A name in a column definition outside such an expression: type and attribute
    /// words, names in a type's arguments or in an undelimited DEFAULT value
    /// (`DEFAULT nextval(`db`.`s`)`, as MariaDB prints it).
    Loose(ExprName),
    /// REFERENCES: the sig index after the keyword and the table named there, if any.
    ForeignTable { at: usize, table: Option<Chain> },
    /// A key part of REFERENCES: a column of the table of the ForeignTable before it.
    ForeignCol(usize),
    /// `AFTER col` (ALTER TABLE): the keyword and the column.
    After { kw: usize, col: usize },
}

/// A dotted name in an expression, with what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ExprName {
    pub(super) chain: Chain,
    /// Followed by `(`: a function.
    pub(super) called: bool,
    /// Followed by a string: a charset introducer (`_utf8mb4'x'`), a typed literal
    /// (`DATE '2024-01-01'`) or an operator (`LIKE 'a%'`), no name.
    pub(super) before_string: bool,
}

impl ExprName {
    fn new(q: &Sql, chain: Chain) -> Self {
        let called = q.punct(chain.end, "(");
        let before_string = q.tok(chain.end).is_some_and(|t| t.kind == TokenKind::String);
        ExprName { chain, called, before_string }
    }
}

/// The elements of the definition list `list` (the inside of its parentheses).
pub(super) fn items<'q, 'a>(list: Cursor<'q, 'a>) -> Result<Vec<Item<'q, 'a>>, RewriteError> {
    list.split_commas().into_iter().map(|c| if c.at_end() { Err(c.err("empty table element")) } else { Ok(item(c)) }).collect()
}

/// Classifies one element: a backquoted first name is a column; otherwise the word
/// after `CONSTRAINT [name]` tells, and anything else is a column.
pub(super) fn item<'q, 'a>(tokens: Cursor<'q, 'a>) -> Item<'q, 'a> {
    if tokens.is_quoted() {
        return Item { kind: ItemKind::Column, tokens, head: tokens };
    }
    let mut head = tokens;
    if head.optional("CONSTRAINT") && !head.is_any(&["PRIMARY", "UNIQUE", "FOREIGN", "CHECK"]) {
        head.next(); // the constraint's name
    }
    let kind = match head.word().as_str() {
        "primary" => ItemKind::Primary,
        "unique" => ItemKind::Unique,
        "key" | "index" => ItemKind::Key,
        "fulltext" | "spatial" => ItemKind::Special,
        "foreign" => ItemKind::Foreign,
        "check" => ItemKind::Check,
        "period" => ItemKind::Period,
        _ => return Item { kind: ItemKind::Column, tokens, head: tokens },
    };
    Item { kind, tokens, head }
}

impl Item<'_, '_> {
    pub(super) fn first(&self) -> usize {
        self.tokens.pos()
    }

    pub(super) fn last(&self) -> usize {
        self.tokens.last()
    }

    /// The names of the element, in the order they appear.
    pub(super) fn refs(&self) -> Vec<Ref> {
        let mut out = Vec::new();
        match self.kind {
            ItemKind::Column => column_def(self.tokens, &mut out),
            ItemKind::Primary | ItemKind::Unique | ItemKind::Key | ItemKind::Special | ItemKind::Period => {
                first_key_parts(self.head, Ref::Col, &mut out)
            }
            ItemKind::Foreign => {
                first_key_parts(self.head, Ref::Col, &mut out);
                let mut c = self.head;
                if c.until(|c| c.is("REFERENCES")).is_some() {
                    c.next();
                    references(&mut c, &mut out);
                }
            }
            ItemKind::Check => {
                let mut c = self.head;
                c.next();
                if let Some(expr) = c.group() {
                    expr_names(expr, Ref::Expr, &mut out);
                }
            }
        }
        out
    }
}

/// A column definition from its name: the name (when it is one), then the names in
/// its type and attributes.
pub(super) fn column_def(mut c: Cursor, out: &mut Vec<Ref>) {
    match c.ident() {
        Some(name) => out.push(Ref::Col(name)),
        None => _ = c.next(),
    }
    while !c.at_end() {
        let delimited = c.follows("DEFAULT") || c.follows("AS") || c.follows("CHECK");
        if let Some(group) = c.group() {
            expr_names(group, if delimited { Ref::Expr } else { Ref::Loose }, out);
        } else if c.optional("REFERENCES") {
            references(&mut c, out);
        } else if c.is("AFTER") && c.peek_at(1).is_some_and(|t| t.is_ident()) {
            let kw = c.next().unwrap();
            out.push(Ref::After { kw, col: c.next().unwrap() });
        } else if let Some(chain) = c.qualified_name() {
            out.push(Ref::Loose(ExprName::new(c.sql(), chain)));
        } else {
            c.next();
        }
    }
}

/// After REFERENCES: the table and its key parts.
fn references(c: &mut Cursor, out: &mut Vec<Ref>) {
    let at = c.pos();
    let table = c.qualified_name();
    let named = table.is_some();
    out.push(Ref::ForeignTable { at, table });
    if named && let Some(list) = c.balanced() {
        key_parts(list, Ref::ForeignCol, out);
    }
}

/// The key parts of the first parenthesised list from `c` (none without one).
fn first_key_parts(mut c: Cursor, role: fn(usize) -> Ref, out: &mut Vec<Ref>) {
    if c.until(|c| c.is("(")).is_some()
        && let Some(list) = c.balanced()
    {
        key_parts(list, role, out);
    }
}

/// Key parts `a, b(10) DESC, (expr)`: the name of each (as `role`), or the names of
/// its expression.
pub(super) fn key_parts(list: Cursor, role: fn(usize) -> Ref, out: &mut Vec<Ref>) {
    for mut part in list.split_commas() {
        if let Some(s) = part.ident() {
            out.push(role(s));
        } else if let Some(expr) = part.balanced() {
            expr_names(expr, Ref::Expr, out);
        }
    }
}

/// Every dotted name from `c` to the end of its range, as `role`.
pub(super) fn expr_names(mut c: Cursor, role: fn(ExprName) -> Ref, out: &mut Vec<Ref>) {
    while !c.at_end() {
        match c.qualified_name() {
            Some(chain) => out.push(role(ExprName::new(c.sql(), chain))),
            None => _ = c.next(),
        }
    }
}

/// The names in the expressions of `PARTITION BY` / `SUBPARTITION BY` from `c` on:
/// the first parenthesised group after BY (`RANGE (expr)`, `KEY ALGORITHM=2 (a, b)`).
pub(super) fn partition_exprs(c: Cursor, out: &mut Vec<Ref>) {
    for s in c.indices() {
        let mut by = c.from(s);
        if by.is_any(&["PARTITION", "SUBPARTITION"]) && by.is_at(1, "BY") {
            by.next();
            if by.until(|c| c.is("(")).is_some()
                && let Some(expr) = by.group()
            {
                expr_names(expr, Ref::Expr, out);
            }
        }
    }
}

/// A column definition from its name, moved past the name, the type word and the
/// type's arguments (`varchar(20)`, `enum('a','b')`): at the first attribute. None
/// when the arguments are not closed.
pub(super) fn after_data_type<'q, 'a>(mut c: Cursor<'q, 'a>) -> Option<Cursor<'q, 'a>> {
    c.next();
    c.next();
    if c.is("(") {
        c.balanced()?;
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The items of `CREATE TABLE t (...)`, with their refs as text.
    fn walk(sql: &str) -> Vec<(ItemKind, Vec<String>)> {
        let q = Sql::new(sql).unwrap();
        let mut c = Cursor::new(&q);
        c.until(|c| c.is("("));
        let list = c.balanced().unwrap();
        let items = items(list).unwrap();
        items.iter().map(|it| (it.kind, it.refs().iter().map(|r| show(&q, r)).collect())).collect()
    }

    fn show(q: &Sql, r: &Ref) -> String {
        let chain = |e: &ExprName| {
            let names: Vec<String> = e.chain.parts.iter().map(|&s| q.name(s)).collect();
            let mut s = names.join(".");
            if e.chain.star {
                s.push_str(".*");
            }
            if e.called {
                s.push_str("()");
            }
            if e.before_string {
                s.push('\'');
            }
            s
        };
        match r {
            Ref::Col(s) => format!("col {}", q.name(*s)),
            Ref::Expr(e) => format!("expr {}", chain(e)),
            Ref::Loose(e) => format!("loose {}", chain(e)),
            Ref::ForeignTable { table: Some(c), .. } => {
                format!("table {}", c.parts.iter().map(|&s| q.name(s)).collect::<Vec<_>>().join("."))
            }
            Ref::ForeignTable { table: None, at } => format!("table? at {at}"),
            Ref::ForeignCol(s) => format!("fcol {}", q.name(*s)),
            Ref::After { col, .. } => format!("after {}", q.name(*col)),
        }
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn items_are_classified_after_constraint_names() {
        let kinds: Vec<ItemKind> = walk(
            "CREATE TABLE t (`primary` int, key_col int, PRIMARY KEY (a), CONSTRAINT `c` UNIQUE (a), CONSTRAINT UNIQUE (a), \
             CONSTRAINT c FOREIGN KEY (a) REFERENCES u (b), INDEX i (a), FULLTEXT (a), SPATIAL KEY (a), CHECK (a > 0), \
             CONSTRAINT c2 CHECK (a > 0), PERIOD FOR p (a, b), constraint_col int)",
        )
        .into_iter()
        .map(|(k, _)| k)
        .collect();
        use ItemKind::*;
        assert_eq!(kinds, [Column, Column, Primary, Unique, Unique, Foreign, Key, Special, Special, Check, Check, Period, Column]);
        let q = Sql::new("(a int, , b int)").unwrap();
        let e = items(Cursor::new(&q).balanced().unwrap()).err().unwrap();
        assert_eq!(e.to_string(), "cannot understand empty table element, near `, b int)`");
    }

    #[test]
    fn column_names_by_role() {
        let got = walk(
            "CREATE TABLE t (`c` decimal(10,2) NOT NULL DEFAULT (`a` + b) COMMENT 'x `y`', \
             d int AS (f(`a`, db.g(1), _utf8mb4'x', t.a, x.*)) CHECK (e > 0) DEFAULT nextval(`db`.`s`), \
             r int REFERENCES crm.u (k, (k2 + 1)) ON DELETE CASCADE, z int AFTER `c`)",
        );
        assert_eq!(
            got[0].1,
            strs(&["col c", "loose decimal()", "loose NOT", "loose NULL", "loose DEFAULT()", "expr a", "expr b", "loose COMMENT'"])
        );
        assert_eq!(
            got[1].1,
            strs(&[
                "col d",
                "loose int",
                "loose AS()",
                "expr f()",
                "expr a",
                "expr db.g()",
                "expr _utf8mb4'",
                "expr t.a",
                "expr x.*",
                "loose CHECK()",
                "expr e",
                "loose DEFAULT",
                "loose nextval()",
                "loose db.s",
            ])
        );
        assert_eq!(
            got[2].1,
            strs(&["col r", "loose int", "table crm.u", "fcol k", "expr k2", "loose ON", "loose DELETE", "loose CASCADE"])
        );
        assert_eq!(got[3].1, strs(&["col z", "loose int", "after c"]));
    }

    #[test]
    fn keys_and_constraints() {
        let got = walk(
            "CREATE TABLE t (KEY `k` USING BTREE (`a`(10) DESC, (lower(`b`)), `c`) COMMENT 'i', \
             CONSTRAINT `fk` FOREIGN KEY `ix` (`a`, `b`) REFERENCES `db`.`u` (`x`, `y`) ON DELETE CASCADE, \
             CONSTRAINT `chk` CHECK ((`a` > 0)) /*!80016 NOT ENFORCED */, PERIOD FOR `p` (`s`, `e`), \
             FOREIGN KEY (a) REFERENCES, CONSTRAINT `c` PRIMARY KEY (`id`))",
        );
        assert_eq!(got[0].1, strs(&["col a", "expr lower()", "expr b", "col c"]));
        assert_eq!(got[1].1, strs(&["col a", "col b", "table db.u", "fcol x", "fcol y"]), "the constraint and index names are no refs");
        assert_eq!(got[2].1, strs(&["expr a"]));
        assert_eq!(got[3].1, strs(&["col s", "col e"]));
        assert_eq!(got[4].1, strs(&["col a", "table? at 78"]));
        assert_eq!(got[5].1, strs(&["col id"]));
    }

    #[test]
    fn partitioning_and_data_types() {
        let q = Sql::new(
            "CREATE TABLE t (a int) PARTITION BY RANGE COLUMNS (`a`, b) SUBPARTITION BY KEY ALGORITHM=2 (`c`) \
             (PARTITION p0 VALUES LESS THAN (`x`))",
        )
        .unwrap();
        let mut out = Vec::new();
        partition_exprs(Cursor::new(&q), &mut out);
        assert_eq!(out.iter().map(|r| show(&q, r)).collect::<Vec<_>>(), strs(&["expr a", "expr b", "expr c"]));
        let q = Sql::new("`a` enum('x', ')') COLLATE latin1_bin, b int").unwrap();
        let c = after_data_type(Cursor::new(&q)).unwrap();
        assert!(c.is("COLLATE"));
        let q = Sql::new("a int NOT NULL").unwrap();
        assert!(after_data_type(Cursor::new(&q)).unwrap().is("NOT"));
        let q = Sql::new("a varchar(10").unwrap();
        assert!(after_data_type(Cursor::new(&q)).is_none());
    }
}
