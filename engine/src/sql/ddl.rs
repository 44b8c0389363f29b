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
//! # Online schema change tools
//!
//! [`shadow_of`] recognizes the helper tables of gh-ost and pt-online-schema-change.
//! Their cut-over sequences, as they appear in the binlog:
//!
//! - gh-ost: `CREATE TABLE _t_ghc ...` (changelog), `CREATE TABLE _t_gho LIKE t`,
//!   `ALTER TABLE _t_gho <the change>`, rows copied into `_t_gho`, then the atomic
//!   cut-over `RENAME TABLE t TO _t_del, _t_gho TO t`, later `DROP TABLE _t_del` and
//!   `DROP TABLE _t_ghc` (with `--timestamp-old-table` the old table is `_t_<YYYYMMDDhhmmss>_del`).
//! - pt-online-schema-change: `CREATE TABLE _t_new LIKE t` (SHOW CREATE text of `t`
//!   in fact), `ALTER TABLE _t_new <the change>`, triggers `pt_osc_<db>_<t>_ins|upd|del`
//!   on `t` that copy changes into `_t_new`, rows copied with INSERT ... SELECT, then
//!   `RENAME TABLE t TO _t_old, _t_new TO t`, `DROP TABLE IF EXISTS _t_old` and
//!   `DROP TRIGGER` of the three triggers. When `_t_new` exists already pt-osc adds
//!   leading underscores (`__t_new`).

use std::fmt;

use super::lexer::{TokenKind, quote_ident};
use super::rewrite::{
    Chain, Edits, NameMap, RewriteError, Sql, definer_clause, qualified, referenced_tables, rewrite_references_qualified, strip_definer,
};

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
    Ok(Parser::run(sql, default_db)?.ddl)
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
    let p = Parser::run(sql, default_db)?;
    p.check_rewritable()?;
    if p.whole_references {
        return rewrite_references_qualified(&strip_definer(sql), default_db, names);
    }
    let mut ed = Edits::default();
    for (_, site) in &p.sites {
        p.apply(site, names, &mut ed)?;
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
    let p = Parser::run(sql, default_db)?;
    p.check_rewritable()?;
    let DdlKind::AlterTable(alter) = &p.ddl.kind else {
        return Err(p.q.conflict("not an ALTER TABLE statement".into(), 0));
    };
    let kept_col = |c: &str| keep.iter().any(|k| k.eq_ignore_ascii_case(c));
    let mut keep_span = vec![true; p.spans.len()];
    for (i, clause) in alter.clauses.iter().enumerate() {
        let span = p.clause_span[i];
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
        keep_span[span] &= keep_it;
    }
    let table = &alter.table;
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
            Site::AfterColumn(kw, s, t) if t == table && !kept_col(&p.q.name(*s)) => {
                ed.replace(removal(&p.q, *kw, *s), String::new());
                continue;
            }
            Site::Column(s, t) | Site::BareColumn(s, t) if t == table => {
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
        p.apply(site, names, &mut ed)?;
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

/// Keeps only the objects `keep` accepts in a multi-object DROP TABLE, DROP VIEW or
/// RENAME TABLE (a rename pair is kept when either side is accepted), so the player
/// can run the part about selected objects. None when nothing is kept; other
/// statements come back unchanged. Run [`rewrite_ddl`] on the result.
pub fn retain_objects(sql: &str, default_db: &str, keep: &dyn Fn(&ObjName) -> bool) -> Result<Option<String>, RewriteError> {
    let p = Parser::run(sql, default_db)?;
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

/// What a helper table of an online schema change tool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowRole {
    /// gh-ost `_t_gho`: the new table being filled; renamed to `t` at cut-over.
    GhostTable,
    /// gh-ost `_t_ghc`: its changelog / heartbeat table.
    GhostChangelog,
    /// gh-ost `_t_del` (or `_t_<timestamp>_del`): the old `t` after cut-over.
    GhostOld,
    /// pt-online-schema-change `_t_new`: the new table; renamed to `t` at cut-over.
    PtoscNew,
    /// pt-online-schema-change `_t_old`: the old `t` after cut-over, dropped next.
    PtoscOld,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    /// The table being changed.
    pub base: String,
    pub role: ShadowRole,
}

impl Shadow {
    /// Whether the table holds the table's future rows (renamed over `base` at cut-over).
    pub fn is_new_table(&self) -> bool {
        matches!(self.role, ShadowRole::GhostTable | ShadowRole::PtoscNew)
    }
}

/// Recognizes gh-ost's `_<t>_gho`, `_<t>_ghc`, `_<t>_del`, `_<t>_<14 digits>_del` and
/// pt-online-schema-change's `_<t>_new`, `_<t>_old` (with more leading underscores when
/// the name was taken). A table literally named like that is taken for a shadow table.
pub fn shadow_of(table: &str) -> Option<Shadow> {
    let rest = table.strip_prefix('_')?;
    let (stem, suffix) = rest.rsplit_once('_')?;
    let role = match suffix {
        "gho" => ShadowRole::GhostTable,
        "ghc" => ShadowRole::GhostChangelog,
        "del" => ShadowRole::GhostOld,
        "new" => ShadowRole::PtoscNew,
        "old" => ShadowRole::PtoscOld,
        _ => return None,
    };
    let mut base = stem;
    match role {
        ShadowRole::GhostOld => {
            if let Some((b, ts)) = stem.rsplit_once('_')
                && ts.len() == 14
                && ts.bytes().all(|c| c.is_ascii_digit())
                && !b.is_empty()
            {
                base = b;
            }
        }
        ShadowRole::PtoscNew | ShadowRole::PtoscOld => base = stem.trim_start_matches('_'),
        _ => {}
    }
    (!base.is_empty()).then(|| Shadow { base: base.to_string(), role })
}

/// pt-online-schema-change's triggers: `pt_osc_<db>_<table>_ins|upd|del`.
pub fn is_osc_trigger(name: &str) -> bool {
    name.starts_with("pt_osc_") && (name.ends_with("_ins") || name.ends_with("_upd") || name.ends_with("_del"))
}

// ---------------------------------------------------------------------------
// Parsing

/// A place in the statement the mapping changes.
#[derive(Debug)]
enum Site {
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
    /// Names in here cannot be mapped: fail if one of them is a renamed column.
    Opaque(usize, usize, ObjName),
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Chain{:?}", self.parts)
    }
}

struct Parser<'a> {
    q: Sql<'a>,
    db: String,
    ddl: Ddl,
    /// Sites, with the index of the ALTER TABLE clause they belong to.
    sites: Vec<(Option<usize>, Site)>,
    /// The current ALTER TABLE clause.
    clause: Option<usize>,
    /// ALTER TABLE: sig ranges of the comma-separated items; DROP TABLE/VIEW and
    /// RENAME TABLE: of the objects / pairs.
    spans: Vec<(usize, usize)>,
    /// For each ALTER TABLE clause, its index in `spans`.
    clause_span: Vec<usize>,
    /// The statement goes whole through `rewrite_references_qualified`.
    whole_references: bool,
    /// Why the statement cannot be rewritten, found while parsing.
    problem: Option<RewriteError>,
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

/// First words of statements that are never schema changes of objects, and why.
fn other_reason(w: &str) -> Option<&'static str> {
    Some(match w {
        "grant" | "revoke" => "privileges are not synchronized",
        "set" => "SET is not a schema change",
        "flush" | "reset" | "purge" | "kill" | "shutdown" => "server administration",
        "savepoint" | "rollback" | "release" | "begin" | "commit" | "xa" | "start" => "transaction control",
        "analyze" | "optimize" | "check" | "repair" | "checksum" => "table maintenance",
        "install" | "uninstall" => "plugins are not synchronized",
        "insert" | "update" | "delete" | "replace" | "load" | "call" | "do" | "select" | "handler" | "with" | "values" | "table" => {
            "data statements are not schema changes"
        }
        "lock" | "unlock" | "use" | "prepare" | "execute" | "deallocate" | "show" | "explain" | "describe" | "desc" | "help" | "binlog"
        | "change" | "stop" | "cache" | "signal" | "resignal" | "get" | "backup" => "not a schema change",
        _ => return None,
    })
}

impl<'a> Parser<'a> {
    fn run(sql: &'a str, default_db: &str) -> Result<Self, RewriteError> {
        let mut p = Parser {
            q: Sql::new(sql)?,
            db: default_db.to_string(),
            ddl: Ddl { kind: DdlKind::Other { reason: String::new() } },
            sites: Vec::new(),
            clause: None,
            spans: Vec::new(),
            clause_span: Vec::new(),
            whole_references: false,
            problem: None,
        };
        let kind = p.statement()?;
        p.ddl = Ddl { kind };
        Ok(p)
    }

    /// Byte ranges of `spans`.
    fn span_ranges(&self) -> Vec<std::ops::Range<usize>> {
        self.spans.iter().map(|&(f, l)| self.q.span(f).start..self.q.span(l).end).collect()
    }

    fn check_rewritable(&self) -> Result<(), RewriteError> {
        if let DdlKind::Other { reason } = &self.ddl.kind {
            return Err(self.q.conflict(format!("not a schema change to replay: {reason}"), 0));
        }
        if let Some(e) = &self.problem {
            return Err(e.clone());
        }
        Ok(())
    }

    fn other(reason: impl Into<String>) -> Result<DdlKind, RewriteError> {
        Ok(DdlKind::Other { reason: reason.into() })
    }

    fn site(&mut self, site: Site) {
        self.sites.push((self.clause, site));
    }

    fn problem(&mut self, what: String, s: usize) {
        if self.problem.is_none() {
            self.problem = Some(self.q.conflict(what, s));
        }
    }

    /// `IF EXISTS` at `s`: (found, next).
    fn if_exists(&self, s: usize) -> (bool, usize) {
        if self.q.word(s, "IF") && self.q.word(s + 1, "EXISTS") { (true, s + 2) } else { (false, s) }
    }

    fn if_not_exists(&self, s: usize) -> (bool, usize) {
        if self.q.word(s, "IF") && self.q.word(s + 1, "NOT") && self.q.word(s + 2, "EXISTS") { (true, s + 3) } else { (false, s) }
    }

    /// The object named by the chain at `s`: (name, chain).
    fn obj(&self, s: usize, what: &str) -> Result<(ObjName, Chain), RewriteError> {
        if !self.q.starts_chain(s) {
            return Err(self.q.parse_err(what, s));
        }
        let c = self.q.chain(s);
        let o = match (&c.parts[..], c.star) {
            (&[t], false) => ObjName::new(self.db.clone(), self.q.name(t)),
            (&[d, t], false) => ObjName::new(self.q.name(d), self.q.name(t)),
            _ => return Err(self.q.parse_err(what, s)),
        };
        if o.db.is_empty() {
            let what = format!("{what} {} without a database and no default database", quote_ident(&o.name));
            return Err(self.q.conflict(what, s));
        }
        Ok((o, c))
    }

    /// Runs `f` with `db` as the default database for unqualified names.
    fn with_db<T>(&mut self, db: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.db, db.to_string());
        let out = f(self);
        self.db = saved;
        out
    }

    /// A table name at `s`, recorded for mapping; returns it and the next index.
    fn table(&mut self, s: usize) -> Result<(ObjName, usize), RewriteError> {
        let (o, c) = self.obj(s, "table name")?;
        let end = c.end;
        self.site(Site::Table(c, o.clone()));
        Ok((o, end))
    }

    /// Skips `WAIT n` / `NOWAIT` (MariaDB).
    fn wait(&self, s: usize) -> usize {
        if self.q.word(s, "NOWAIT") {
            s + 1
        } else if self.q.word(s, "WAIT") {
            s + 2
        } else {
            s
        }
    }

    /// Index after a statement's last significant token, ignoring a final `;`.
    fn end(&self) -> usize {
        let mut n = self.q.len();
        while n > 0 && self.q.punct(n - 1, ";") {
            n -= 1;
        }
        n
    }

    fn statement(&mut self) -> Result<DdlKind, RewriteError> {
        if self.q.len() == 0 {
            return Self::other("empty statement or only comments");
        }
        let w = self.q.lower_word(0);
        match w.as_str() {
            "create" => self.create(),
            "alter" => self.alter(),
            "drop" => self.drop(),
            "rename" if self.q.word(1, "TABLE") || self.q.word(1, "TABLES") => self.rename_table(),
            "rename" => Self::other("RENAME USER: users are not synchronized"),
            "truncate" => {
                let s = if self.q.word(1, "TABLE") { 2 } else { 1 };
                let (table, _) = self.table(s)?;
                Ok(DdlKind::Truncate { table })
            }
            _ => match other_reason(&w) {
                Some(r) => Self::other(r),
                None => Err(self.q.parse_err("statement", 0)),
            },
        }
    }

    fn create(&mut self) -> Result<DdlKind, RewriteError> {
        let q = &self.q;
        let (mut s, mut or_replace, mut temporary) = (1, false, false);
        loop {
            match q.lower_word(s).as_str() {
                "or" if q.word(s + 1, "REPLACE") => {
                    or_replace = true;
                    s += 2;
                }
                "temporary" => {
                    temporary = true;
                    s += 1;
                }
                "algorithm" if q.punct(s + 1, "=") => s += 3,
                "sql" if q.word(s + 1, "SECURITY") => s += 3,
                "definer" => s = definer_clause(q, s).ok_or_else(|| q.parse_err("DEFINER", s))?,
                "aggregate" | "online" | "offline" | "unique" | "fulltext" | "spatial" => s += 1,
                _ => break,
            }
        }
        let kw = q.lower_word(s);
        s += 1;
        match kw.as_str() {
            "database" | "schema" => {
                let (if_not_exists, s) = self.if_not_exists(s);
                let db = self.db_name(s)?;
                Ok(DdlKind::CreateDatabase { db, if_not_exists, or_replace })
            }
            "table" if temporary => Self::other("temporary tables are not synchronized"),
            "table" => self.create_table(s, or_replace),
            "index" => {
                let (_, s) = self.if_not_exists(s);
                let index = self.q.name(s);
                let on = (s..self.q.len()).find(|&n| self.q.word(n, "ON"));
                let Some(on) = on.filter(|_| self.q.is_ident(s)) else {
                    return Err(self.q.parse_err("CREATE INDEX", s));
                };
                let (table, end) = self.table(on + 1)?;
                let columns = match self.q.punct(end, "(") {
                    true => self.key_parts(end, &table),
                    false => return Err(self.q.parse_err("index columns", end)),
                };
                Ok(DdlKind::CreateIndex { table, index, columns })
            }
            "view" => {
                let (_, s) = self.if_not_exists(s);
                let (view, _) = self.obj(s, "view name")?;
                self.whole_references = true;
                let reads = self.reads()?;
                Ok(DdlKind::CreateView { view, or_replace, reads })
            }
            "function" | "procedure" => {
                let kind = routine_kind(&kw);
                let (_, s) = self.if_not_exists(s);
                let (name, c) = self.obj(s, "routine name")?;
                let n = self.end();
                let udf = kind == RoutineKind::Function && self.q.word(c.end, "RETURNS") && n >= 2 && self.q.word(n - 2, "SONAME");
                if udf {
                    return Self::other("loadable (UDF) functions are not synchronized");
                }
                self.whole_references = true;
                let reads = self.reads()?;
                Ok(DdlKind::CreateRoutine { kind, name, or_replace, reads })
            }
            "trigger" => {
                let (_, s) = self.if_not_exists(s);
                let (name, c) = self.obj(s, "trigger name")?;
                let on = (c.end..self.q.len().min(c.end + 6)).find(|&n| self.q.word(n, "ON"));
                let Some(on) = on else {
                    return Err(self.q.parse_err("trigger header", c.end));
                };
                // The trigger's table is in the trigger's database.
                let (table, _) = self.with_db(&name.db, |p| p.obj(on + 1, "trigger table"))?;
                self.whole_references = true;
                let mut reads = self.reads()?;
                reads.retain(|r| r != &table);
                Ok(DdlKind::CreateTrigger { name, table, reads })
            }
            "event" | "user" | "role" | "server" | "tablespace" | "logfile" | "resource" | "sequence" | "package" | "synonym"
            | "spatial" => Self::other(format!("CREATE {} is not synchronized", kw.to_uppercase())),
            _ => Err(self.q.parse_err("CREATE statement", s - 1)),
        }
    }

    /// The tables a view/routine/trigger body uses.
    fn reads(&self) -> Result<Vec<ObjName>, RewriteError> {
        let refs = referenced_tables(self.q.src, &self.db)?;
        Ok(refs.into_iter().map(|(d, t)| ObjName::new(d, t)).collect())
    }

    fn db_name(&mut self, s: usize) -> Result<String, RewriteError> {
        if !self.q.is_ident(s) {
            return Err(self.q.parse_err("database name", s));
        }
        let db = self.q.name(s);
        self.site(Site::Db(s, db.clone()));
        Ok(db)
    }

    fn create_table(&mut self, s: usize, or_replace: bool) -> Result<DdlKind, RewriteError> {
        let (if_not_exists, s) = self.if_not_exists(s);
        let (table, mut s) = self.table(s)?;
        let mut like = None;
        let mut as_select = false;
        let mut references = Vec::new();
        let q_like = |q: &Sql, s: usize| q.word(s, "LIKE");
        if q_like(&self.q, s) {
            like = Some(self.table(s + 1)?.0);
        } else if self.q.punct(s, "(") && q_like(&self.q, s + 1) {
            like = Some(self.table(s + 2)?.0);
        } else if self.q.punct(s, "(") && !self.q.word(s + 1, "SELECT") {
            let close = self.q.close_of(s).ok_or_else(|| self.q.parse_err("unbalanced parentheses", s))?;
            for (first, last) in self.q.split_commas(s + 1, close) {
                if first > last {
                    return Err(self.q.parse_err("empty table element", first));
                }
                let (_, refs) = self.definition(first, last, &table)?;
                references.extend(refs);
            }
            s = close + 1;
        }
        if like.is_none() {
            let end = self.end();
            self.partition_exprs(s, end, &table);
            let mut depth = 0i32;
            for n in s..end {
                if self.q.punct(n, "(") {
                    depth += 1;
                } else if self.q.punct(n, ")") {
                    depth -= 1;
                }
                let w = self.q.lower_word(n);
                if depth <= 1 && matches!(w.as_str(), "select" | "with" | "values" | "table") || depth == 0 && w == "as" {
                    as_select = true;
                    break;
                }
                if depth == 0 && w == "union" {
                    self.problem("UNION= table lists (MERGE tables) are not supported".into(), n);
                }
            }
            if as_select {
                self.problem(
                    "CREATE TABLE ... SELECT cannot be replayed: the binlog should carry it as CREATE TABLE and rows (binlog_format=ROW)"
                        .into(),
                    s,
                );
            }
            if end >= 2 && self.q.word(end - 2, "START") && self.q.word(end - 1, "TRANSACTION") {
                self.site(Site::Remove(end - 2, end - 1));
            }
        }
        Ok(DdlKind::CreateTable { table, if_not_exists, or_replace, like, as_select, references })
    }

    /// A create_definition (column, index, constraint) in `first..=last` of `table`.
    /// Returns the clause and the tables it references.
    fn definition(&mut self, first: usize, last: usize, table: &ObjName) -> Result<(AlterClause, Vec<ObjName>), RewriteError> {
        let q = &self.q;
        let mut s = first;
        let quoted = q.tok(s).is_some_and(|t| t.kind == TokenKind::QuotedIdent);
        if !quoted && q.word(s, "CONSTRAINT") {
            s += 1;
            if !["PRIMARY", "UNIQUE", "FOREIGN", "CHECK"].iter().any(|k| q.word(s, k)) {
                s += 1; // the constraint's name
            }
        }
        let w = if quoted { String::new() } else { q.lower_word(s) };
        match w.as_str() {
            "primary" | "unique" | "key" | "index" | "fulltext" | "spatial" | "period" => {
                let columns = self.first_key_parts(s, last, table);
                Ok((AlterClause::AddKey { columns }, Vec::new()))
            }
            "foreign" => {
                let columns = self.first_key_parts(s, last, table);
                let refs = (s..=last).find(|&n| self.q.word(n, "REFERENCES"));
                let mut out = Vec::new();
                if let Some(r) = refs {
                    out.push(self.references(r, table)?);
                }
                Ok((AlterClause::AddKey { columns }, out))
            }
            "check" => {
                let mut columns = Vec::new();
                if self.q.punct(s + 1, "(") {
                    columns = self.expr(s + 1, table);
                }
                Ok((AlterClause::AddKey { columns }, Vec::new()))
            }
            _ => {
                let (name, refs) = self.column_def(first, last, table)?;
                Ok((AlterClause::AddColumn(name), refs))
            }
        }
    }

    /// `REFERENCES tbl (cols)` at `r`: maps the table and its columns.
    fn references(&mut self, r: usize, table: &ObjName) -> Result<ObjName, RewriteError> {
        // An unqualified target is in the same database as the table.
        let (target, end) = self.with_db(&table.db, |p| p.table(r + 1))?;
        if self.q.punct(end, "(") {
            self.key_parts(end, &target);
        }
        Ok(target)
    }

    /// A column definition `name type attributes` in `first..=last`.
    fn column_def(&mut self, first: usize, last: usize, table: &ObjName) -> Result<(String, Vec<ObjName>), RewriteError> {
        if !self.q.is_ident(first) {
            return Err(self.q.parse_err("column definition", first));
        }
        let name = self.q.name(first);
        self.site(Site::Column(first, table.clone()));
        let mut refs = Vec::new();
        let mut s = first + 1;
        while s <= last {
            if self.q.punct(s, "(") {
                let close = self.q.close_of(s).unwrap_or(last);
                if ["DEFAULT", "AS", "CHECK"].iter().any(|k| self.q.word(s - 1, k)) {
                    self.expr(s, table);
                }
                s = close + 1;
            } else if self.q.word(s, "REFERENCES") {
                refs.push(self.references(s, table)?);
                s += 2;
                while s <= last && !self.q.punct(s, "(") && !self.q.word(s, "ON") {
                    s += 1;
                }
            } else if self.q.word(s, "AFTER") && self.q.is_ident(s + 1) {
                self.site(Site::AfterColumn(s, s + 1, table.clone()));
                s += 2;
            } else {
                s += 1;
            }
        }
        Ok((name, refs))
    }

    /// Key parts `(a, b(10) DESC, (expr))` at `open`: maps them, returns the columns.
    fn key_parts(&mut self, open: usize, table: &ObjName) -> Vec<String> {
        let Some(close) = self.q.close_of(open) else {
            return Vec::new();
        };
        let mut cols = Vec::new();
        for (first, last) in self.q.split_commas(open + 1, close) {
            if self.q.is_ident(first) && first <= last {
                cols.push(self.q.name(first));
                self.site(Site::Column(first, table.clone()));
            } else if self.q.punct(first, "(") {
                cols.extend(self.expr(first, table));
            }
        }
        cols
    }

    /// The key parts of the first `(` in `from..=last` (none without one).
    fn first_key_parts(&mut self, from: usize, last: usize, table: &ObjName) -> Vec<String> {
        match (from..=last).find(|&n| self.q.punct(n, "(")) {
            Some(open) => self.key_parts(open, table),
            None => Vec::new(),
        }
    }

    /// Names in the expression in parentheses at `open`; returns the columns found.
    fn expr(&mut self, open: usize, table: &ObjName) -> Vec<String> {
        let close = self.q.close_of(open).unwrap_or(self.q.len());
        let mut cols = Vec::new();
        let mut s = open + 1;
        while s < close {
            if !self.q.starts_chain(s) {
                s += 1;
                continue;
            }
            let c = self.q.chain(s);
            let called = self.q.punct(c.end, "(");
            let next_is_string = self.q.tok(c.end).is_some_and(|t| t.kind == TokenKind::String);
            let quoted = self.q.tok(s).is_some_and(|t| t.kind == TokenKind::QuotedIdent);
            s = c.end;
            match (c.parts.len(), c.star, called) {
                (1, false, false) if quoted => {
                    cols.push(self.q.name(c.parts[0]));
                    self.site(Site::Column(c.parts[0], table.clone()));
                }
                (1, false, false) if !next_is_string => {
                    cols.push(self.q.name(c.parts[0]));
                    self.site(Site::BareColumn(c.parts[0], table.clone()));
                }
                (2, false, true) => {
                    let d = self.q.name(c.parts[0]);
                    self.site(Site::FuncDb(c.parts[0], d));
                }
                (2, false, false) if self.q.name(c.parts[0]) == table.name => {
                    cols.push(self.q.name(c.parts[1]));
                    self.site(Site::Column(c.parts[1], table.clone()));
                }
                (2, false, false) => {
                    // db.seq as in nextval(db.seq)
                    let o = ObjName::new(self.q.name(c.parts[0]), self.q.name(c.parts[1]));
                    self.site(Site::Table(c, o));
                }
                // A word before a string is no name: a charset introducer (`_utf8mb4'x'`, which
                // MySQL's SHOW CREATE TABLE writes in every string default and expression), a
                // typed literal (`DATE '2024-01-01'`, `X'00'`), or an operator (`LIKE 'a%'`).
                (1, false, false) => {}
                (1, _, true) => {}
                _ => self.problem("qualified name in an expression".into(), c.parts[0]),
            }
        }
        cols
    }

    /// Columns in `PARTITION BY` / `SUBPARTITION BY` expressions within `from..to`.
    fn partition_exprs(&mut self, from: usize, to: usize, table: &ObjName) {
        for s in from..to {
            if (self.q.word(s, "PARTITION") || self.q.word(s, "SUBPARTITION"))
                && self.q.word(s + 1, "BY")
                && let Some(open) = (s + 2..to).find(|&n| self.q.punct(n, "("))
            {
                self.expr(open, table);
            }
        }
    }

    fn alter(&mut self) -> Result<DdlKind, RewriteError> {
        let q = &self.q;
        let mut s = 1;
        loop {
            match q.lower_word(s).as_str() {
                "online" | "offline" | "ignore" => s += 1,
                "algorithm" if q.punct(s + 1, "=") => s += 3,
                "sql" if q.word(s + 1, "SECURITY") => s += 3,
                "definer" => s = definer_clause(q, s).ok_or_else(|| q.parse_err("DEFINER", s))?,
                _ => break,
            }
        }
        let kw = q.lower_word(s);
        s += 1;
        match kw.as_str() {
            "table" => self.alter_table(s),
            "database" | "schema" => {
                let named = self.q.tok(s).is_some_and(|t| {
                    t.kind == TokenKind::QuotedIdent
                        || t.kind == TokenKind::Ident
                            && !["default", "character", "charset", "collate", "comment", "read", "encryption"]
                                .contains(&t.text.to_ascii_lowercase().as_str())
                });
                if named && self.q.word(s + 1, "UPGRADE") {
                    return Self::other("ALTER DATABASE ... UPGRADE DATA DIRECTORY NAME");
                }
                let db = if named {
                    self.db_name(s)?
                } else {
                    if self.db.is_empty() {
                        return Err(self.q.conflict("ALTER DATABASE without a name and no default database".into(), s));
                    }
                    let db = self.db.clone();
                    self.site(Site::DbAfter(s - 1, db.clone()));
                    db
                };
                Ok(DdlKind::AlterDatabase { db })
            }
            "view" => {
                let (view, _) = self.obj(s, "view name")?;
                self.whole_references = true;
                let reads = self.reads()?;
                Ok(DdlKind::AlterView { view, reads })
            }
            "function" | "procedure" => {
                let (name, c) = self.obj(s, "routine name")?;
                self.site(Site::Routine(c, name.clone()));
                Ok(DdlKind::AlterRoutine { kind: routine_kind(&kw), name })
            }
            "event" | "user" | "role" | "server" | "tablespace" | "logfile" | "resource" | "sequence" | "instance" | "package" | "undo" => {
                Self::other(format!("ALTER {} is not synchronized", kw.to_uppercase()))
            }
            _ => Err(self.q.parse_err("ALTER statement", s - 1)),
        }
    }

    fn alter_table(&mut self, s: usize) -> Result<DdlKind, RewriteError> {
        let (_, s) = self.if_exists(s);
        let (table, s) = self.table(s)?;
        let s = self.wait(s);
        let end = self.end();
        let mut clauses = Vec::new();
        let mut references = Vec::new();
        if s < end {
            for (first, last) in self.q.split_commas(s, end) {
                if first > last {
                    return Err(self.q.parse_err("empty ALTER TABLE clause", first));
                }
                let span = self.spans.len();
                self.spans.push((first, last));
                let prev = clauses.last().cloned();
                let before = clauses.len();
                self.clause = Some(before);
                self.alter_clause(first, last, &table, prev, &mut clauses, &mut references)?;
                self.partition_exprs(first, last + 1, &table);
                self.clause_span.resize(clauses.len(), span);
                if clauses.len() == before {
                    // A clause that added nothing (cannot happen) still needs a span.
                    clauses.push(AlterClause::Other(String::new()));
                    self.clause_span.push(span);
                }
            }
        }
        self.clause = None;
        Ok(DdlKind::AlterTable(AlterTable { table, clauses, references }))
    }

    fn alter_clause(
        &mut self,
        first: usize,
        last: usize,
        table: &ObjName,
        prev: Option<AlterClause>,
        out: &mut Vec<AlterClause>,
        references: &mut Vec<ObjName>,
    ) -> Result<(), RewriteError> {
        let q = &self.q;
        let verb = q.lower_word(first);
        let mut s = first + 1;
        let column_kw = q.word(s, "COLUMN");
        match verb.as_str() {
            "add" => {
                if column_kw {
                    s += 1;
                }
                let (_, n) = self.if_not_exists(s);
                s = n;
                let w = self.q.lower_word(s);
                if !column_kw
                    && matches!(
                        w.as_str(),
                        "index" | "key" | "unique" | "fulltext" | "spatial" | "primary" | "constraint" | "foreign" | "check" | "period"
                    )
                {
                    let (clause, refs) = self.definition(s, last, table)?;
                    references.extend(refs);
                    out.push(clause);
                } else if !column_kw && w == "partition" {
                    out.push(AlterClause::Partitioning);
                } else if !column_kw && w == "system" {
                    out.push(AlterClause::Other("ADD SYSTEM VERSIONING".into()));
                } else if self.q.punct(s, "(") {
                    let close = self.q.close_of(s).unwrap_or(last);
                    for (f, l) in self.q.split_commas(s + 1, close) {
                        let (clause, refs) = self.definition(f, l, table)?;
                        references.extend(refs);
                        out.push(clause);
                    }
                } else {
                    let (name, refs) = self.column_def(s, last, table)?;
                    references.extend(refs);
                    out.push(AlterClause::AddColumn(name));
                }
            }
            "change" | "modify" => {
                if column_kw {
                    s += 1;
                }
                let (_, n) = self.if_exists(s);
                s = n;
                if verb == "change" {
                    if !self.q.is_ident(s) {
                        return Err(self.q.parse_err("column name", s));
                    }
                    let from = self.q.name(s);
                    self.site(Site::Column(s, table.clone()));
                    let (to, refs) = self.column_def(s + 1, last, table)?;
                    references.extend(refs);
                    out.push(AlterClause::ChangeColumn { from, to });
                } else {
                    let (name, refs) = self.column_def(s, last, table)?;
                    references.extend(refs);
                    out.push(AlterClause::ModifyColumn(name));
                }
            }
            "alter" => {
                let w = self.q.lower_word(s);
                if !column_kw && matches!(w.as_str(), "index" | "key") {
                    out.push(AlterClause::AlterKey);
                } else if !column_kw && matches!(w.as_str(), "constraint" | "check") {
                    out.push(AlterClause::Other("ALTER CONSTRAINT".into()));
                } else {
                    if column_kw {
                        s += 1;
                    }
                    let (_, n) = self.if_exists(s);
                    s = n;
                    if !self.q.is_ident(s) {
                        return Err(self.q.parse_err("column name", s));
                    }
                    let name = self.q.name(s);
                    self.site(Site::Column(s, table.clone()));
                    if let Some(open) = (s + 1..=last).find(|&n| self.q.punct(n, "(")) {
                        self.expr(open, table);
                    }
                    out.push(AlterClause::AlterColumn(name));
                }
            }
            "drop" => {
                let w = self.q.lower_word(s);
                if !column_kw && matches!(w.as_str(), "index" | "key" | "primary" | "foreign" | "constraint" | "check") {
                    out.push(AlterClause::DropKey);
                } else if !column_kw && w == "partition" {
                    out.push(AlterClause::Partitioning);
                } else if !column_kw && matches!(w.as_str(), "system" | "period") {
                    out.push(AlterClause::Other(format!("DROP {}", w.to_uppercase())));
                } else {
                    if column_kw {
                        s += 1;
                    }
                    let (_, n) = self.if_exists(s);
                    s = n;
                    if !self.q.is_ident(s) {
                        return Err(self.q.parse_err("column name", s));
                    }
                    out.push(AlterClause::DropColumn(self.q.name(s)));
                    self.site(Site::Column(s, table.clone()));
                }
            }
            "rename" => {
                if column_kw {
                    s += 1;
                    if !(self.q.is_ident(s) && self.q.word(s + 1, "TO") && self.q.is_ident(s + 2)) {
                        return Err(self.q.parse_err("RENAME COLUMN", s));
                    }
                    let (from, to) = (self.q.name(s), self.q.name(s + 2));
                    self.site(Site::Column(s, table.clone()));
                    self.site(Site::Column(s + 2, table.clone()));
                    out.push(AlterClause::RenameColumn { from, to });
                } else if self.q.word(s, "INDEX") || self.q.word(s, "KEY") {
                    out.push(AlterClause::AlterKey);
                } else {
                    if self.q.word(s, "TO") || self.q.word(s, "AS") {
                        s += 1;
                    }
                    // An unqualified new name is in the table's database.
                    let (to, _) = self.with_db(&table.db, |p| p.table(s))?;
                    out.push(AlterClause::Rename(to));
                }
            }
            "order" if self.q.word(s, "BY") => {
                self.order_columns(s + 1, last, table);
                out.push(AlterClause::OrderBy);
            }
            "convert" if self.q.word(s, "TO") => out.push(AlterClause::Options),
            "partition" | "coalesce" | "reorganize" | "exchange" | "analyze" | "check" | "optimize" | "rebuild" | "repair" | "truncate"
            | "remove" | "convert" => {
                self.partition_tables(first, last, table, references)?;
                out.push(AlterClause::Partitioning);
            }
            "discard" | "import" if self.q.word(s, "PARTITION") => out.push(AlterClause::Partitioning),
            _ => match prev {
                // DROP PARTITION p1, p2 / ORDER BY a, b: the list goes on.
                Some(AlterClause::Partitioning) if self.q.is_ident(first) => {
                    self.partition_tables(first, last, table, references)?;
                    out.push(AlterClause::Partitioning);
                }
                Some(AlterClause::OrderBy) if self.q.is_ident(first) => {
                    self.order_columns(first, last, table);
                    out.push(AlterClause::OrderBy);
                }
                _ => {
                    if (first..=last).any(|n| self.q.word(n, "UNION")) {
                        self.problem("UNION= table lists (MERGE tables) are not supported".into(), first);
                    }
                    if let Some(b) = (first..=last)
                        .find(|&n| (self.q.word(n, "PARTITION") || self.q.word(n, "SUBPARTITION")) && self.q.word(n + 1, "BY"))
                    {
                        self.site(Site::Opaque(first, b.saturating_sub(1), table.clone()));
                    } else {
                        self.site(Site::Opaque(first, last, table.clone()));
                    }
                    out.push(AlterClause::Options);
                }
            },
        }
        Ok(())
    }

    fn order_columns(&mut self, from: usize, last: usize, table: &ObjName) {
        for s in from..=last {
            if self.q.starts_chain(s) && !self.q.word(s, "ASC") && !self.q.word(s, "DESC") {
                let c = self.q.chain(s);
                let col = *c.parts.last().unwrap();
                self.site(Site::Column(col, table.clone()));
            }
        }
    }

    /// `EXCHANGE PARTITION p WITH TABLE t`, `CONVERT PARTITION p TO TABLE t`,
    /// `CONVERT TABLE t TO PARTITION ...`: the tables, in the table's database.
    fn partition_tables(&mut self, first: usize, last: usize, table: &ObjName, references: &mut Vec<ObjName>) -> Result<(), RewriteError> {
        for s in first..=last {
            if self.q.word(s, "TABLE") && self.q.starts_chain(s + 1) {
                let (t, _) = self.with_db(&table.db, |p| p.table(s + 1))?;
                references.push(t);
            }
        }
        Ok(())
    }

    fn drop(&mut self) -> Result<DdlKind, RewriteError> {
        let mut s = 1;
        let temporary = self.q.word(s, "TEMPORARY");
        if temporary {
            s += 1;
        }
        let kw = self.q.lower_word(s);
        s += 1;
        match kw.as_str() {
            "table" | "tables" if temporary => Self::other("temporary tables are not synchronized"),
            "table" | "tables" | "view" | "views" => {
                let (if_exists, s) = self.if_exists(s);
                let objs = self.name_list(s, "table name")?;
                Ok(if kw.starts_with("table") {
                    DdlKind::DropTable { tables: objs, if_exists }
                } else {
                    DdlKind::DropView { views: objs, if_exists }
                })
            }
            "database" | "schema" => {
                let (if_exists, s) = self.if_exists(s);
                let db = self.db_name(s)?;
                Ok(DdlKind::DropDatabase { db, if_exists })
            }
            "index" => {
                let (_, mut s) = self.if_exists(s);
                if self.q.word(s, "ONLINE") || self.q.word(s, "OFFLINE") {
                    s += 1;
                }
                if !self.q.is_ident(s) || !self.q.word(s + 1, "ON") {
                    return Err(self.q.parse_err("DROP INDEX", s));
                }
                let index = self.q.name(s);
                let (table, _) = self.table(s + 2)?;
                Ok(DdlKind::DropIndex { table, index })
            }
            "function" | "procedure" => {
                let (if_exists, s) = self.if_exists(s);
                let (name, c) = self.obj(s, "routine name")?;
                self.site(Site::Routine(c, name.clone()));
                Ok(DdlKind::DropRoutine { kind: routine_kind(&kw), name, if_exists })
            }
            "trigger" => {
                let (if_exists, s) = self.if_exists(s);
                let (name, c) = self.obj(s, "trigger name")?;
                self.site(Site::Routine(c, name.clone()));
                Ok(DdlKind::DropTrigger { name, if_exists })
            }
            "event" | "user" | "role" | "server" | "tablespace" | "logfile" | "resource" | "sequence" | "package" | "prepare"
            | "spatial" | "synonym" => Self::other(format!("DROP {} is not synchronized", kw.to_uppercase())),
            _ => Err(self.q.parse_err("DROP statement", s - 1)),
        }
    }

    /// `a, db.b, ...` up to WAIT/NOWAIT/RESTRICT/CASCADE or the end; records spans.
    fn name_list(&mut self, s: usize, what: &str) -> Result<Vec<ObjName>, RewriteError> {
        let mut end = self.end();
        if let Some(stop) = (s..end).find(|&n| ["WAIT", "NOWAIT", "RESTRICT", "CASCADE", "FORCE"].iter().any(|k| self.q.word(n, k))) {
            end = stop;
        }
        let mut out = Vec::new();
        for (first, last) in self.q.split_commas(s, end) {
            let (o, c) = self.obj(first, what)?;
            if c.end != last + 1 {
                return Err(self.q.parse_err(what, c.end));
            }
            self.site(Site::Table(c, o.clone()));
            self.spans.push((first, last));
            out.push(o);
        }
        Ok(out)
    }

    fn rename_table(&mut self) -> Result<DdlKind, RewriteError> {
        let (_, s) = self.if_exists(2);
        let mut pairs = Vec::new();
        for (first, last) in self.q.split_commas(s, self.end()) {
            let (from, n) = self.table(first)?;
            let n = self.wait(n);
            if !self.q.word(n, "TO") {
                return Err(self.q.parse_err("RENAME TABLE ... TO", n));
            }
            let (to, n) = self.table(n + 1)?;
            if n != last + 1 {
                return Err(self.q.parse_err("RENAME TABLE", n));
            }
            self.spans.push((first, last));
            pairs.push((from, to));
        }
        Ok(DdlKind::RenameTable { pairs })
    }

    // -----------------------------------------------------------------------
    // Rewriting

    fn apply(&self, site: &Site, map: &NameMap, ed: &mut Edits) -> Result<(), RewriteError> {
        let q = &self.q;
        match site {
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
            Site::Remove(a, b) => ed.replace(removal(q, *a, *b), String::new()),
            Site::Opaque(first, last, t) => {
                let renamed = map.renamed_columns(&t.db, &t.name);
                if renamed.is_empty() {
                    return Ok(());
                }
                for s in *first..=*last {
                    let name = q.name(s);
                    if q.is_ident(s) && renamed.iter().any(|(c, _)| name.eq_ignore_ascii_case(c)) {
                        let what = format!(
                            "cannot tell whether {} in this clause is the renamed column {}.{}",
                            quote_ident(&name),
                            t,
                            quote_ident(&name)
                        );
                        return Err(q.conflict(what, s));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Bytes of sig tokens `first..=last` and the whitespace before them, up to the
/// previous token (code or comment): what to cut to remove them.
fn removal(q: &Sql, first: usize, last: usize) -> std::ops::Range<usize> {
    let mut raw = q.sig[first];
    while raw > 0 && q.toks[raw - 1].kind == TokenKind::Whitespace {
        raw -= 1;
    }
    q.toks[raw].span.start..q.span(last).end
}

fn routine_kind(kw: &str) -> RoutineKind {
    if kw == "function" { RoutineKind::Function } else { RoutineKind::Procedure }
}

impl Edits {
    /// `src[range]` with the edits inside it applied (edits crossing it are ignored).
    fn apply_in(&self, src: &str, range: std::ops::Range<usize>) -> String {
        let mut edits: Vec<&(std::ops::Range<usize>, String)> =
            self.0.iter().filter(|(r, _)| r.start >= range.start && r.end <= range.end).collect();
        edits.sort_by_key(|(r, _)| (r.start, r.end));
        edits.dedup_by(|a, b| a.0 == b.0);
        let mut out = String::new();
        let mut at = range.start;
        for (r, text) in edits {
            if r.start < at {
                continue;
            }
            out.push_str(&src[at..r.start]);
            out.push_str(text);
            at = r.end;
        }
        out.push_str(&src[at..range.end]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// shop -> shop2, orders -> purchases, qty -> quantity, note -> remark, crm -> crm2.
    fn map() -> NameMap {
        let mut m = NameMap::new();
        m.rename_db("shop", "shop2");
        m.rename_db("crm", "crm2");
        m.rename_table("shop", "orders", "purchases");
        m.rename_table("shop", "v1", "view_one");
        m.rename_column("shop", "orders", "qty", "quantity");
        m.rename_column("shop", "orders", "note", "remark");
        m.rename_column("shop", "orders", "day", "order_day");
        m.rename_column("shop", "we`ird t", "c d", "c`d");
        m
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
            rw(
                "ALTER ONLINE IGNORE TABLE `shop`.`orders` ADD (orders int, qty2 int AS (qty + 1)), DROP orders, algorithm=inplace, lock=none"
            ),
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
        let e = rewrite_alter_selected_columns("ALTER TABLE orders MODIFY qty int AS (`note` + 1)", "shop", &map(), &keep)
            .unwrap_err()
            .to_string();
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
        assert_eq!(
            kind("DROP VIEW IF EXISTS v1, crm.v2"),
            DdlKind::DropView { views: vec![o("shop", "v1"), o("crm", "v2")], if_exists: true }
        );
        assert_eq!(rw("DROP VIEW IF EXISTS v1, crm.v2 CASCADE"), "DROP VIEW IF EXISTS `shop2`.`view_one`, `crm2`.`v2` CASCADE");
        // An unqualified name that may be a renamed column of a table the view reads.
        assert!(err("CREATE VIEW v AS SELECT qty FROM orders").contains("`qty`"));
    }

    #[test]
    fn routines_and_triggers() {
        let sql = "CREATE DEFINER=`root`@`localhost` PROCEDURE `p1`(IN x INT)\nBEGIN\n  UPDATE orders o SET o.qty = x WHERE o.note = 'orders';\nEND";
        assert_eq!(
            kind(sql),
            DdlKind::CreateRoutine {
                kind: RoutineKind::Procedure,
                name: o("shop", "p1"),
                or_replace: false,
                reads: vec![o("shop", "orders")]
            }
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

    #[test]
    fn shadows() {
        use ShadowRole::*;
        for (table, want) in [
            ("_orders_gho", Some(("orders", GhostTable))),
            ("_orders_ghc", Some(("orders", GhostChangelog))),
            ("_orders_del", Some(("orders", GhostOld))),
            ("_orders_20260928120000_del", Some(("orders", GhostOld))),
            ("_orders_new", Some(("orders", PtoscNew))),
            ("__orders_new", Some(("orders", PtoscNew))),
            ("_orders_old", Some(("orders", PtoscOld))),
            ("_my_table_gho", Some(("my_table", GhostTable))),
            ("orders_new", None),
            ("_orders", None),
            ("_gho", None),
            ("__gho", None),
        ] {
            let got = shadow_of(table).map(|s| (s.base, s.role));
            let want = want.map(|(base, role)| (base.to_string(), role));
            assert_eq!(got, want, "{table}");
        }
        assert!(shadow_of("_t_gho").unwrap().is_new_table());
        // The gh-ost cut-over, mapped.
        let cut = "RENAME TABLE `shop`.`orders` TO `shop`.`_orders_del`, `shop`.`_orders_gho` TO `shop`.`orders`";
        assert_eq!(rw(cut), "RENAME TABLE `shop2`.`purchases` TO `shop2`.`_orders_del`, `shop2`.`_orders_gho` TO `shop2`.`purchases`");
    }

    /// The e2e cases: (default db, original, rewritten); the file's header comment says
    /// which mapping.
    fn e2e_map() -> NameMap {
        let mut m = NameMap::new();
        m.rename_db("shop", "shop2");
        m.rename_db("crm", "crm2");
        m.rename_table("shop", "orders", "purchases");
        m.rename_table("shop", "v1", "view_one");
        m.rename_column("shop", "orders", "qty", "quantity");
        m.rename_column("shop", "orders", "note", "remark");
        m
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
}
