//! The places in a statement the name mapping changes, as the parser records them, and
//! how each is rewritten.

use super::ObjName;
use crate::sql::RewriteError;
use crate::sql::cursor::{Chain, Sql};
use crate::sql::edit::{Edits, qualified};
use crate::sql::lexer::quote_ident;
use crate::sql::names::NameMap;

/// A place in the statement the mapping changes. Indices are sig indices.
#[derive(Debug)]
pub(super) enum Site {
    /// A table or view name (chain): becomes `dst_db`.`dst_table`.
    Table(Chain, ObjName),
    /// A routine or trigger name: `dst_db`.`name`.
    Routine(Chain, ObjName),
    /// A database name.
    Db(usize, String),
    /// `ALTER DATABASE` without a name: the mapped name goes after this token.
    DbAfter(usize, String),
    /// A column of a table (any quoting, in a definition or key list).
    Column(usize, ObjName),
    /// An unquoted name in an expression: a column unless it is a keyword.
    BareColumn(usize, ObjName),
    /// `AFTER col`: the AFTER keyword and the column.
    AfterColumn(usize, usize, ObjName),
    /// `db`.`func`(: the database part.
    FuncDb(usize, String),
    /// Tokens to remove, sig range inclusive (with the whitespace before).
    Remove(usize, usize),
    /// Names in here (sig range inclusive) cannot be mapped: fail if one of them is a
    /// renamed column.
    Opaque(usize, usize, ObjName),
}

/// Words of expressions that may look like a column name when unquoted.
#[rustfmt::skip]
const EXPR_WORDS: &[&str] = &[
    "and", "or", "not", "xor", "null", "is", "in", "between", "like", "regexp", "rlike",
    "case", "when", "then", "else", "end", "div", "mod", "interval", "true", "false",
    "unknown", "binary", "collate", "escape", "distinct", "as", "using", "current_timestamp",
    "current_date", "current_time", "current_user", "localtime", "localtimestamp",
    "utc_timestamp", "utc_date", "utc_time", "microsecond", "second", "minute", "hour", "day",
    "week", "month", "quarter", "year", "second_microsecond", "minute_microsecond",
    "minute_second", "hour_microsecond", "hour_second", "hour_minute", "day_microsecond",
    "day_second", "day_minute", "day_hour", "year_month", "char", "signed", "unsigned",
    "integer", "int", "date", "datetime", "time", "timestamp", "decimal", "double", "float",
    "json", "nchar", "character", "set", "charset", "maxvalue", "both", "leading",
    "trailing", "from", "for", "separator", "default", "sysdate", "now", "value", "values",
];

impl Site {
    /// Adds the edits of this site with `map` applied.
    pub(super) fn apply(&self, q: &Sql, map: &NameMap, ed: &mut Edits) -> Result<(), RewriteError> {
        match self {
            Site::Table(c, o) => ed.replace(q.chain_span(c), qualified(map.db(&o.db), map.table(&o.db, &o.name))),
            Site::Routine(c, o) => ed.replace(q.chain_span(c), qualified(map.db(&o.db), &o.name)),
            Site::Db(s, db) => ed.rename(q, *s, map.db(db)),
            Site::DbAfter(s, db) => {
                let at = q.span(*s).end;
                ed.replace(at..at, format!(" {}", quote_ident(map.db(db))));
            }
            Site::Column(s, t) | Site::AfterColumn(_, s, t) => ed.rename(q, *s, map.column(&t.db, &t.name, &q.name(*s))),
            Site::BareColumn(s, t) => {
                let name = q.name(*s);
                let new = map.column(&t.db, &t.name, &name);
                if new != name {
                    if EXPR_WORDS.contains(&name.to_ascii_lowercase().as_str()) {
                        let what =
                            format!("unquoted {name} in an expression may be the renamed column {}.{} or a keyword", t, quote_ident(&name));
                        return Err(q.conflict(what, *s));
                    }
                    ed.rename(q, *s, new);
                }
            }
            Site::FuncDb(s, db) => ed.rename(q, *s, map.db(db)),
            Site::Remove(a, b) => ed.replace(q.removal(*a, *b), String::new()),
            Site::Opaque(first, last, t) => check_opaque(q, *first, *last, t, map)?,
        }
        Ok(())
    }
}

/// Fails when a name in sig tokens `first..=last` is a renamed column of `t`.
fn check_opaque(q: &Sql, first: usize, last: usize, t: &ObjName, map: &NameMap) -> Result<(), RewriteError> {
    let renamed = map.renamed_columns(&t.db, &t.name);
    if renamed.is_empty() {
        return Ok(());
    }
    for s in first..=last {
        let name = q.name(s);
        if q.is_ident(s) && renamed.iter().any(|(c, _)| name.eq_ignore_ascii_case(c)) {
            let what =
                format!("cannot tell whether {} in this clause is the renamed column {}.{}", quote_ident(&name), t, quote_ident(&name));
            return Err(q.conflict(what, s));
        }
    }
    Ok(())
}
