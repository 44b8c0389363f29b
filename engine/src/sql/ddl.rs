//! One DDL statement from the binlog (a QUERY event: default database + SQL text):
//! what it is, which objects it names, and the same statement with ferry's name mapping
//! applied, ready to run on the target. Pure code, no I/O.
//!
//! Everything works on the tokens of [`super::lexer`]: string literals and comments are
//! never changed (versioned comments `/*!50001 ... */` are code and are rewritten),
//! and a column that shares a table's name is only renamed as a column.
//!
//! Rewritten statements name every table, view and routine as `db`.`name` with the
//! target database, so they run on a target session whatever its default database.
//!
//!
//! The statement is walked with [`super::cursor::Cursor`] ([`parse`], [`alter`]); table
//! definitions with the walker schema sync uses too, [`super::table_def`]. What the
//! parser records is a list of [`site::Site`]s, the places the mapping changes, applied by
//! the functions below. gh-ost and pt-online-schema-change helpers: [`super::osc`].

mod alter;
mod parse;
mod site;
#[cfg(test)]
mod tests;

use std::fmt;

use super::RewriteError;
use super::edit::{Edits, qualified};
use super::lexer::quote_ident;
use super::names::NameMap;
use super::references::{rewrite_references_qualified, strip_definer};
use parse::Parsed;
use site::Site;

pub use super::osc::{Shadow, ShadowRole, is_osc_trigger, shadow_of};

/// A schema object: `db`.`name`. For a database itself, `name` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjName {
    pub db: String,
    pub name: String,
}

impl ObjName {
    pub fn new(db: impl Into<String>, name: impl Into<String>) -> Self {
        ObjName { db: db.into(), name: name.into() }
    }

    /// The database itself.
    pub fn database(db: impl Into<String>) -> Self {
        Self::new(db, "")
    }

    pub fn is_database(&self) -> bool {
        self.name.is_empty()
    }
}

impl fmt::Display for ObjName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() { f.write_str(&quote_ident(&self.db)) } else { f.write_str(&qualified(&self.db, &self.name)) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutineKind {
    Function,
    Procedure,
}

/// One clause of an ALTER TABLE. Column names are source names as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterClause {
    /// ADD [COLUMN] c ... (one per column of `ADD (c1 ..., c2 ...)`).
    AddColumn(String),
    /// CHANGE [COLUMN] from to ... (`from == to` when only the definition changes).
    ChangeColumn { from: String, to: String },
    /// MODIFY [COLUMN] c ...
    ModifyColumn(String),
    /// ALTER [COLUMN] c SET DEFAULT ... / DROP DEFAULT / SET [IN]VISIBLE.
    AlterColumn(String),
    /// DROP [COLUMN] c
    DropColumn(String),
    /// RENAME COLUMN from TO to
    RenameColumn { from: String, to: String },
    /// ADD INDEX/KEY/UNIQUE/PRIMARY KEY/FULLTEXT/SPATIAL/FOREIGN KEY/CHECK/PERIOD:
    /// the table's columns it uses.
    AddKey { columns: Vec<String> },
    /// DROP INDEX/KEY/PRIMARY KEY/FOREIGN KEY/CONSTRAINT/CHECK.
    DropKey,
    /// RENAME INDEX/KEY, ALTER INDEX/KEY (visibility).
    AlterKey,
    /// RENAME [TO|AS] name.
    Rename(ObjName),
    /// ORDER BY columns.
    OrderBy,
    /// Table options (ENGINE=, COMMENT=, CHARSET, ...), ALGORITHM=, LOCK=, FORCE,
    /// CONVERT TO CHARACTER SET, ENABLE/DISABLE KEYS, ...
    Options,
    /// PARTITION BY, ADD/DROP/REORGANIZE/EXCHANGE/... PARTITION, REMOVE PARTITIONING.
    Partitioning,
    /// Anything else that has no names to map (system versioning, periods, ...).
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterTable {
    pub table: ObjName,
    pub clauses: Vec<AlterClause>,
    /// Tables named besides `table`: FOREIGN KEY targets, EXCHANGE PARTITION tables.
    pub references: Vec<ObjName>,
}

impl AlterTable {
    /// The new name, for ALTER TABLE ... RENAME TO.
    pub fn rename_to(&self) -> Option<&ObjName> {
        self.clauses.iter().find_map(|c| match c {
            AlterClause::Rename(n) => Some(n),
            _ => None,
        })
    }

    pub fn added_columns(&self) -> Vec<&str> {
        self.clauses
            .iter()
            .filter_map(|c| match c {
                AlterClause::AddColumn(n) => Some(n.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn dropped_columns(&self) -> Vec<&str> {
        self.clauses
            .iter()
            .filter_map(|c| match c {
                AlterClause::DropColumn(n) => Some(n.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Columns renamed by CHANGE or RENAME COLUMN: (old, new), old != new.
    pub fn renamed_columns(&self) -> Vec<(&str, &str)> {
        self.clauses
            .iter()
            .filter_map(|c| match c {
                AlterClause::ChangeColumn { from, to } | AlterClause::RenameColumn { from, to } if !from.eq_ignore_ascii_case(to) => {
                    Some((from.as_str(), to.as_str()))
                }
                _ => None,
            })
            .collect()
    }

    /// Whether every clause is about columns or indexes (or is ALGORITHM=/LOCK=-like
    /// table option), with no rename of the table and no partitioning change.
    pub fn only_columns_and_keys(&self) -> bool {
        use AlterClause::*;
        self.clauses.iter().all(|c| {
            matches!(
                c,
                AddColumn(_)
                    | ChangeColumn { .. }
                    | ModifyColumn(_)
                    | AlterColumn(_)
                    | DropColumn(_)
                    | RenameColumn { .. }
                    | AddKey { .. }
                    | DropKey
                    | AlterKey
                    | Options
            )
        })
    }
}

/// What a statement is. Names are source names, qualified with the statement's
/// default database when the statement left them unqualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdlKind {
    CreateDatabase {
        db: String,
        if_not_exists: bool,
        or_replace: bool,
    },
    DropDatabase {
        db: String,
        if_exists: bool,
    },
    AlterDatabase {
        db: String,
    },
    CreateTable {
        table: ObjName,
        if_not_exists: bool,
        or_replace: bool,
        /// CREATE TABLE t LIKE src.
        like: Option<ObjName>,
        /// CREATE TABLE ... [AS] SELECT: [`rewrite_ddl`] refuses it.
        as_select: bool,
        /// FOREIGN KEY targets.
        references: Vec<ObjName>,
    },
    AlterTable(AlterTable),
    DropTable {
        tables: Vec<ObjName>,
        if_exists: bool,
    },
    RenameTable {
        pairs: Vec<(ObjName, ObjName)>,
    },
    Truncate {
        table: ObjName,
    },
    CreateIndex {
        table: ObjName,
        index: String,
        columns: Vec<String>,
    },
    DropIndex {
        table: ObjName,
        index: String,
    },
    CreateView {
        view: ObjName,
        or_replace: bool,
        /// Tables and views the body reads.
        reads: Vec<ObjName>,
    },
    AlterView {
        view: ObjName,
        reads: Vec<ObjName>,
    },
    DropView {
        views: Vec<ObjName>,
        if_exists: bool,
    },
    CreateRoutine {
        kind: RoutineKind,
        name: ObjName,
        or_replace: bool,
        /// Tables the body uses.
        reads: Vec<ObjName>,
    },
    /// ALTER FUNCTION/PROCEDURE: characteristics (COMMENT, SQL SECURITY, ...).
    AlterRoutine {
        kind: RoutineKind,
        name: ObjName,
    },
    DropRoutine {
        kind: RoutineKind,
        name: ObjName,
        if_exists: bool,
    },
    CreateTrigger {
        name: ObjName,
        table: ObjName,
        /// Tables the body uses (besides `table`).
        reads: Vec<ObjName>,
    },
    /// DROP TRIGGER does not name the table.
    DropTrigger {
        name: ObjName,
        if_exists: bool,
    },
    /// Not a schema change of a database object ferry synchronizes: skip it, saying why.
    Other {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ddl {
    pub kind: DdlKind,
}

impl Ddl {
    /// Whether the statement changes a database object (is not [`DdlKind::Other`]).
    pub fn is_schema_change(&self) -> bool {
        !matches!(self.kind, DdlKind::Other { .. })
    }

    /// See [`objects`].
    pub fn objects(&self) -> Vec<ObjName> {
        objects(self)
    }
}

/// Every table, view, routine, trigger or database the statement names (written or
/// read), for deciding whether it concerns the task's selection: both sides of a
/// RENAME, the LIKE source, FOREIGN KEY targets, the tables a view or routine body uses.
/// A database is an [`ObjName`] with an empty name; objects also list their database
/// implicitly through `db`.
pub fn objects(ddl: &Ddl) -> Vec<ObjName> {
    use DdlKind::*;
    let mut out = Vec::new();
    match &ddl.kind {
        CreateDatabase { db, .. } | DropDatabase { db, .. } | AlterDatabase { db } => out.push(ObjName::database(db.clone())),
        CreateTable { table, like, references, .. } => {
            out.push(table.clone());
            out.extend(like.iter().cloned());
            out.extend(references.iter().cloned());
        }
        AlterTable(a) => {
            out.push(a.table.clone());
            out.extend(a.rename_to().cloned());
            out.extend(a.references.iter().cloned());
        }
        DropTable { tables, .. } => out.extend(tables.iter().cloned()),
        RenameTable { pairs } => {
            for (a, b) in pairs {
                out.push(a.clone());
                out.push(b.clone());
            }
        }
        Truncate { table } | CreateIndex { table, .. } | DropIndex { table, .. } => out.push(table.clone()),
        CreateView { view, reads, .. } | AlterView { view, reads } => {
            out.push(view.clone());
            out.extend(reads.iter().cloned());
        }
        DropView { views, .. } => out.extend(views.iter().cloned()),
        CreateRoutine { name, reads, .. } => {
            out.push(name.clone());
            out.extend(reads.iter().cloned());
        }
        AlterRoutine { name, .. } | DropRoutine { name, .. } | DropTrigger { name, .. } => out.push(name.clone()),
        CreateTrigger { name, table, reads } => {
            out.push(name.clone());
            out.push(table.clone());
            out.extend(reads.iter().cloned());
        }
        Other { .. } => {}
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|o| seen.insert(o.clone()));
    out
}

/// Classifies one statement. `default_db` is the QUERY event's database ("" when none).
/// Fails when the statement is a schema change this module does not understand, or
/// names an object without a database and there is no default database.
pub fn parse_ddl(sql: &str, default_db: &str) -> Result<Ddl, RewriteError> {
    Ok(Parsed::new(sql, default_db)?.ddl)
}

/// The statement with `names` applied, to run on the target: database, table, view and
/// column names are mapped wherever they are identifiers, every table/view/routine name
/// is qualified with its target database. DEFINER clauses are removed (the object is
/// created by ferry's target user, as in the initial copy); a trailing
/// `START TRANSACTION` (MySQL 8's atomic CREATE TABLE ... SELECT) is removed.
///
/// Fails for [`DdlKind::Other`] statements, CREATE TABLE ... SELECT, and whenever a
/// name cannot be mapped safely (an unquoted name in an expression that may be a renamed
/// column or a keyword, an unqualified name in a routine body that is a renamed column).
pub fn rewrite_ddl(sql: &str, default_db: &str, names: &NameMap) -> Result<String, RewriteError> {
    let p = Parsed::new(sql, default_db)?;
    p.check_rewritable()?;
    if p.whole_references {
        return rewrite_references_qualified(&strip_definer(sql), default_db, names);
    }
    let mut ed = Edits::default();
    for (_, site) in &p.sites {
        site.apply(&p.q, names, &mut ed)?;
    }
    Ok(ed.apply(sql))
}

/// For a table of which the task selects only some columns (`keep`, source names,
/// case-insensitive), where the target table has only those: rewrites an ALTER TABLE
/// as [`rewrite_ddl`] does, without the clauses about other columns (ADD, CHANGE,
/// MODIFY, ALTER, DROP, RENAME COLUMN of an unselected column, indexes and constraints
/// using one, ORDER BY) and without `AFTER col` when `col` is not selected. Returns
/// None when nothing is left to run. Fails when a kept clause uses an unselected column
/// in an expression, and for statements other than ALTER TABLE.
///
/// New columns (ADD COLUMN) are never in `keep`, so they are left out: the selection
/// names the columns the task moves. DROP INDEX clauses are kept; the index may be
/// missing on the target if it used an unselected column.
pub fn rewrite_alter_selected_columns(
    sql: &str,
    default_db: &str,
    names: &NameMap,
    keep: &[String],
) -> Result<Option<String>, RewriteError> {
    let p = Parsed::new(sql, default_db)?;
    p.check_rewritable()?;
    let DdlKind::AlterTable(alter) = &p.ddl.kind else {
        return Err(p.q.conflict("not an ALTER TABLE statement".into(), 0));
    };
    let kept_col = |c: &str| keep.iter().any(|k| k.eq_ignore_ascii_case(c));
    let keep_span = kept_clauses(&p, alter, &kept_col);
    let meaningful = |i: usize| {
        let (first, _) = p.spans[i];
        !(p.q.word(first, "ALGORITHM") || p.q.word(first, "LOCK"))
    };
    if !(0..p.spans.len()).any(|i| keep_span[i] && meaningful(i)) {
        return Ok(None);
    }
    let mut ed = Edits::default();
    for (clause, site) in &p.sites {
        if let Some(c) = clause
            && !keep_span[p.clause_span[*c]]
        {
            continue;
        }
        // A kept clause may only use selected columns of the table.
        match site {
            Site::AfterColumn(kw, s, t) if *t == alter.table && !kept_col(&p.q.name(*s)) => {
                ed.replace(p.q.removal(*kw, *s), String::new());
                continue;
            }
            Site::Column(s, t) | Site::BareColumn(s, t) if *t == alter.table => {
                let name = p.q.name(*s);
                let new_name = matches!(clause.map(|c| &alter.clauses[c]),
                    Some(AlterClause::ChangeColumn { to, .. } | AlterClause::RenameColumn { to, .. })
                        if to.eq_ignore_ascii_case(&name));
                let bare_other = matches!(site, Site::BareColumn(..)) && !kept_col(&name);
                if !kept_col(&name) && !new_name && !bare_other {
                    let what = format!("kept clause uses unselected column {}", quote_ident(&name));
                    return Err(p.q.conflict(what, *s));
                }
            }
            _ => {}
        }
        site.apply(&p.q, names, &mut ed)?;
    }
    // Rebuild: head, kept clauses, tail.
    let src = p.q.src;
    let text = |r: std::ops::Range<usize>| ed.apply_in(src, r);
    let spans = p.span_ranges();
    let head = text(0..spans[0].start);
    let tail = text(spans.last().unwrap().end..src.len());
    let kept: Vec<String> = spans.iter().zip(&keep_span).filter(|(_, k)| **k).map(|(r, _)| text(r.clone())).collect();
    Ok(Some(format!("{head}{}{tail}", kept.join(", "))))
}

/// For each comma-separated item of an ALTER TABLE, whether to keep it: whether all
/// its clauses are about selected columns.
fn kept_clauses(p: &Parsed, alter: &AlterTable, kept_col: &dyn Fn(&str) -> bool) -> Vec<bool> {
    let mut keep_span = vec![true; p.spans.len()];
    for (i, clause) in alter.clauses.iter().enumerate() {
        let keep_it = match clause {
            AlterClause::AddColumn(c)
            | AlterClause::ModifyColumn(c)
            | AlterClause::AlterColumn(c)
            | AlterClause::DropColumn(c)
            | AlterClause::ChangeColumn { from: c, .. }
            | AlterClause::RenameColumn { from: c, .. } => kept_col(c),
            AlterClause::AddKey { columns } => columns.iter().all(|c| kept_col(c)),
            AlterClause::OrderBy => false,
            _ => true,
        };
        keep_span[p.clause_span[i]] &= keep_it;
    }
    keep_span
}

/// Keeps only the objects `keep` accepts in a multi-object DROP TABLE, DROP VIEW or
/// RENAME TABLE (a rename pair is kept when either side is accepted), so the player
/// can run the part about selected objects. None when nothing is kept; other
/// statements come back unchanged. Run [`rewrite_ddl`] on the result.
pub fn retain_objects(sql: &str, default_db: &str, keep: &dyn Fn(&ObjName) -> bool) -> Result<Option<String>, RewriteError> {
    let p = Parsed::new(sql, default_db)?;
    let flags: Vec<bool> = match &p.ddl.kind {
        DdlKind::DropTable { tables, .. } => tables.iter().map(keep).collect(),
        DdlKind::DropView { views, .. } => views.iter().map(keep).collect(),
        DdlKind::RenameTable { pairs } => pairs.iter().map(|(a, b)| keep(a) || keep(b)).collect(),
        _ => return Ok(Some(sql.to_string())),
    };
    if !flags.iter().any(|k| *k) {
        return Ok(None);
    }
    if flags.iter().all(|k| *k) {
        return Ok(Some(sql.to_string()));
    }
    let src = p.q.src;
    let spans = p.span_ranges();
    let kept: Vec<&str> = spans.iter().zip(&flags).filter(|(_, k)| **k).map(|(r, _)| &src[r.clone()]).collect();
    Ok(Some(format!("{}{}{}", &src[..spans[0].start], kept.join(", "), &src[spans.last().unwrap().end..])))
}
