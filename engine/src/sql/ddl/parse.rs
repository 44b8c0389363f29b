//! The DDL parser: what a statement is ([`DdlKind`]) and the [`Site`]s the mapping
//! changes. CREATE, DROP, RENAME and TRUNCATE here; ALTER in [`super::alter`].

use super::site::Site;
use super::{AlterClause, Ddl, DdlKind, ObjName, RoutineKind};
use crate::sql::RewriteError;
use crate::sql::cursor::{Chain, Cursor, Sql};
use crate::sql::lexer::quote_ident;
use crate::sql::references::{definer_clause, referenced_tables};
use crate::sql::table_def::{self, ItemKind, Ref};

/// A statement parsed: what it is, and what the rewrites need.
pub(super) struct Parsed<'a> {
    pub(super) q: Sql<'a>,
    pub(super) ddl: Ddl,
    /// Sites, with the index of the ALTER TABLE clause they belong to.
    pub(super) sites: Vec<(Option<usize>, Site)>,
    /// ALTER TABLE: sig ranges (inclusive) of the comma-separated items; DROP TABLE/VIEW
    /// and RENAME TABLE: of the objects / pairs.
    pub(super) spans: Vec<(usize, usize)>,
    /// For each ALTER TABLE clause, its index in `spans`.
    pub(super) clause_span: Vec<usize>,
    /// The statement goes whole through `rewrite_references_qualified`.
    pub(super) whole_references: bool,
    /// Why the statement cannot be rewritten, found while parsing.
    problem: Option<RewriteError>,
}

impl<'a> Parsed<'a> {
    pub(super) fn new(sql: &'a str, default_db: &str) -> Result<Self, RewriteError> {
        let q = Sql::new(sql)?;
        let mut p = Parser { q: &q, db: default_db.to_string(), clause: None, rec: Record::default() };
        let kind = p.statement()?;
        let Record { sites, spans, clause_span, whole_references, problem } = p.rec;
        Ok(Parsed { q, ddl: Ddl { kind }, sites, spans, clause_span, whole_references, problem })
    }

    /// Byte ranges of `spans`.
    pub(super) fn span_ranges(&self) -> Vec<std::ops::Range<usize>> {
        self.spans.iter().map(|&(f, l)| self.q.span(f).start..self.q.span(l).end).collect()
    }

    pub(super) fn check_rewritable(&self) -> Result<(), RewriteError> {
        if let DdlKind::Other { reason } = &self.ddl.kind {
            return Err(self.q.conflict(format!("not a schema change to replay: {reason}"), 0));
        }
        if let Some(e) = &self.problem {
            return Err(e.clone());
        }
        Ok(())
    }
}

/// What the parser records besides the statement's kind.
#[derive(Default)]
pub(super) struct Record {
    pub(super) sites: Vec<(Option<usize>, Site)>,
    pub(super) spans: Vec<(usize, usize)>,
    pub(super) clause_span: Vec<usize>,
    pub(super) whole_references: bool,
    pub(super) problem: Option<RewriteError>,
}

pub(super) struct Parser<'q, 'a> {
    pub(super) q: &'q Sql<'a>,
    /// The database of unqualified names.
    pub(super) db: String,
    /// The current ALTER TABLE clause.
    pub(super) clause: Option<usize>,
    pub(super) rec: Record,
}

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

/// Objects of CREATE/ALTER/DROP that ferry does not synchronize.
const UNSYNCED: &[&str] =
    &["event", "user", "role", "server", "tablespace", "logfile", "resource", "sequence", "package", "synonym", "spatial"];

pub(super) fn other(reason: impl Into<String>) -> Result<DdlKind, RewriteError> {
    Ok(DdlKind::Other { reason: reason.into() })
}

pub(super) fn routine_kind(kw: &str) -> RoutineKind {
    if kw == "function" { RoutineKind::Function } else { RoutineKind::Procedure }
}

/// Moves past one of `ALGORITHM = x`, `SQL SECURITY x`, `DEFINER = user` or a word of
/// `flags` (the options of CREATE/ALTER before the object kind); false when none is here.
pub(super) fn header_option(c: &mut Cursor, flags: &[&str]) -> Result<bool, RewriteError> {
    if c.optional_seq(&["ALGORITHM", "="]) || c.optional_seq(&["SQL", "SECURITY"]) {
        c.next();
        return Ok(true);
    }
    if c.is("DEFINER") {
        return if definer_clause(c) { Ok(true) } else { Err(c.err("DEFINER")) };
    }
    Ok(c.optional_any(flags))
}

impl<'q, 'a> Parser<'q, 'a> {
    pub(super) fn site(&mut self, site: Site) {
        self.rec.sites.push((self.clause, site));
    }

    pub(super) fn problem(&mut self, what: String, s: usize) {
        if self.rec.problem.is_none() {
            self.rec.problem = Some(self.q.conflict(what, s));
        }
    }

    /// The object named by the dotted name here: (name, chain).
    pub(super) fn obj(&self, c: &mut Cursor, what: &str) -> Result<(ObjName, Chain), RewriteError> {
        let chain = c.qualified_name().ok_or_else(|| c.err(what))?;
        Ok((self.obj_of(&chain, what)?, chain))
    }

    /// The object `chain` names: `name` in the current database, or `db`.`name`.
    fn obj_of(&self, chain: &Chain, what: &str) -> Result<ObjName, RewriteError> {
        let q = self.q;
        let o = match (&chain.parts[..], chain.star) {
            (&[t], false) => ObjName::new(self.db.clone(), q.name(t)),
            (&[d, t], false) => ObjName::new(q.name(d), q.name(t)),
            _ => return Err(q.parse_err(what, chain.parts[0])),
        };
        if o.db.is_empty() {
            let what = format!("{what} {} without a database and no default database", quote_ident(&o.name));
            return Err(q.conflict(what, chain.parts[0]));
        }
        Ok(o)
    }

    /// Runs `f` with `db` as the default database for unqualified names.
    pub(super) fn with_db<T>(&mut self, db: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = std::mem::replace(&mut self.db, db.to_string());
        let out = f(self);
        self.db = saved;
        out
    }

    /// A table name here, recorded for mapping.
    pub(super) fn table(&mut self, c: &mut Cursor) -> Result<ObjName, RewriteError> {
        let (o, chain) = self.obj(c, "table name")?;
        self.site(Site::Table(chain, o.clone()));
        Ok(o)
    }

    /// Moves past `WAIT n` / `NOWAIT` (MariaDB).
    pub(super) fn wait(c: &mut Cursor) {
        if !c.optional("NOWAIT") && c.optional("WAIT") {
            c.next();
        }
    }

    pub(super) fn db_name(&mut self, c: &mut Cursor) -> Result<String, RewriteError> {
        let s = c.expect_ident("database name")?;
        let db = self.q.name(s);
        self.site(Site::Db(s, db.clone()));
        Ok(db)
    }

    /// The tables a view/routine/trigger body uses.
    pub(super) fn reads(&self) -> Result<Vec<ObjName>, RewriteError> {
        let refs = referenced_tables(self.q.src, &self.db)?;
        Ok(refs.into_iter().map(|(d, t)| ObjName::new(d, t)).collect())
    }

    fn statement(&mut self) -> Result<DdlKind, RewriteError> {
        if self.q.len() == 0 {
            return other("empty statement or only comments");
        }
        let mut c = Cursor::statement(self.q);
        let w = self.q.lower_word(0);
        c.next();
        match w.as_str() {
            "create" => self.create(c),
            "alter" => self.alter(c),
            "drop" => self.drop(c),
            "rename" if c.is_any(&["TABLE", "TABLES"]) => self.rename_table(c),
            "rename" => other("RENAME USER: users are not synchronized"),
            "truncate" => {
                c.optional("TABLE");
                let table = self.table(&mut c)?;
                Ok(DdlKind::Truncate { table })
            }
            _ => match other_reason(&w) {
                Some(r) => other(r),
                None => Err(self.q.parse_err("statement", 0)),
            },
        }
    }

    fn create(&mut self, mut c: Cursor) -> Result<DdlKind, RewriteError> {
        let (mut or_replace, mut temporary) = (false, false);
        loop {
            if c.optional_seq(&["OR", "REPLACE"]) {
                or_replace = true;
            } else if c.optional("TEMPORARY") {
                temporary = true;
            } else if !header_option(&mut c, &["AGGREGATE", "ONLINE", "OFFLINE", "UNIQUE", "FULLTEXT", "SPATIAL"])? {
                break;
            }
        }
        let at = c.pos();
        let kw = c.word();
        c.next();
        match kw.as_str() {
            "database" | "schema" => {
                let if_not_exists = c.optional_seq(&["IF", "NOT", "EXISTS"]);
                let db = self.db_name(&mut c)?;
                Ok(DdlKind::CreateDatabase { db, if_not_exists, or_replace })
            }
            "table" if temporary => other("temporary tables are not synchronized"),
            "table" => self.create_table(c, or_replace),
            "index" => self.create_index(c),
            "view" => {
                c.optional_seq(&["IF", "NOT", "EXISTS"]);
                let (view, _) = self.obj(&mut c, "view name")?;
                self.rec.whole_references = true;
                let reads = self.reads()?;
                Ok(DdlKind::CreateView { view, or_replace, reads })
            }
            "function" | "procedure" => self.create_routine(c, routine_kind(&kw), or_replace),
            "trigger" => self.create_trigger(c),
            w if UNSYNCED.contains(&w) => other(format!("CREATE {} is not synchronized", kw.to_uppercase())),
            _ => Err(self.q.parse_err("CREATE statement", at)),
        }
    }

    fn create_index(&mut self, mut c: Cursor) -> Result<DdlKind, RewriteError> {
        c.optional_seq(&["IF", "NOT", "EXISTS"]);
        let name = c.pos();
        if !c.is_ident() || c.until(|c| c.is("ON")).is_none() {
            return Err(self.q.parse_err("CREATE INDEX", name));
        }
        c.next();
        let table = self.table(&mut c)?;
        if !c.is("(") {
            return Err(c.err("index columns"));
        }
        let mut refs = Vec::new();
        if let Some(list) = c.balanced() {
            table_def::key_parts(list, Ref::Col, &mut refs);
        }
        let (columns, _) = self.record(refs, &table)?;
        Ok(DdlKind::CreateIndex { table, index: self.q.name(name), columns })
    }

    fn create_routine(&mut self, mut c: Cursor, kind: RoutineKind, or_replace: bool) -> Result<DdlKind, RewriteError> {
        c.optional_seq(&["IF", "NOT", "EXISTS"]);
        let (name, _) = self.obj(&mut c, "routine name")?;
        if kind == RoutineKind::Function && c.is("RETURNS") && c.back(2).is("SONAME") {
            return other("loadable (UDF) functions are not synchronized");
        }
        self.rec.whole_references = true;
        let reads = self.reads()?;
        Ok(DdlKind::CreateRoutine { kind, name, or_replace, reads })
    }

    fn create_trigger(&mut self, mut c: Cursor) -> Result<DdlKind, RewriteError> {
        c.optional_seq(&["IF", "NOT", "EXISTS"]);
        let (name, _) = self.obj(&mut c, "trigger name")?;
        // BEFORE|AFTER INSERT|UPDATE|DELETE ON tbl
        let Some(on) = c.limit(6).find(|c| c.is("ON")) else {
            return Err(c.err("trigger header"));
        };
        let mut c = c.from(on);
        c.next();
        // The trigger's table is in the trigger's database.
        let (table, _) = self.with_db(&name.db, |p| p.obj(&mut c, "trigger table"))?;
        self.rec.whole_references = true;
        let mut reads = self.reads()?;
        reads.retain(|r| r != &table);
        Ok(DdlKind::CreateTrigger { name, table, reads })
    }

    fn create_table(&mut self, mut c: Cursor, or_replace: bool) -> Result<DdlKind, RewriteError> {
        let if_not_exists = c.optional_seq(&["IF", "NOT", "EXISTS"]);
        let table = self.table(&mut c)?;
        let mut references = Vec::new();
        let like = if c.optional("LIKE") || c.optional_seq(&["(", "LIKE"]) { Some(self.table(&mut c)?) } else { None };
        if like.is_none() && c.is("(") && !c.is_at(1, "SELECT") {
            let at = c.pos();
            let list = c.balanced().ok_or_else(|| self.q.parse_err("unbalanced parentheses", at))?;
            for element in list.split_commas() {
                if element.at_end() {
                    return Err(element.err("empty table element"));
                }
                let (_, refs) = self.definition(element, &table)?;
                references.extend(refs);
            }
        }
        let as_select = like.is_none() && self.table_options(c, &table)?;
        Ok(DdlKind::CreateTable { table, if_not_exists, or_replace, like, as_select, references })
    }

    /// After CREATE TABLE's definitions: partitioning, `... [AS] SELECT` (returned),
    /// MERGE tables, MySQL's trailing START TRANSACTION.
    fn table_options(&mut self, c: Cursor, table: &ObjName) -> Result<bool, RewriteError> {
        let mut refs = Vec::new();
        table_def::partition_exprs(c, &mut refs);
        self.record(refs, table)?;
        let mut depth = 0i32;
        let mut as_select = false;
        for n in c.indices() {
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
            let what =
                "CREATE TABLE ... SELECT cannot be replayed: the binlog should carry it as CREATE TABLE and rows (binlog_format=ROW)";
            self.problem(what.into(), c.pos());
        }
        let tail = c.back(2);
        if tail.is_seq(&["START", "TRANSACTION"]) {
            self.site(Site::Remove(tail.pos(), tail.last()));
        }
        Ok(as_select)
    }

    /// A create_definition (column, index, constraint) of `table`. Returns the clause
    /// and the tables it references.
    pub(super) fn definition(&mut self, element: Cursor, table: &ObjName) -> Result<(AlterClause, Vec<ObjName>), RewriteError> {
        let item = table_def::item(element);
        if item.kind == ItemKind::Column {
            let (name, refs) = self.column_def(element, table)?;
            return Ok((AlterClause::AddColumn(name), refs));
        }
        let (columns, refs) = self.record(item.refs(), table)?;
        Ok((AlterClause::AddKey { columns }, refs))
    }

    /// A column definition `name type attributes`: its name and the tables it references.
    pub(super) fn column_def(&mut self, c: Cursor, table: &ObjName) -> Result<(String, Vec<ObjName>), RewriteError> {
        if !c.is_ident() {
            return Err(c.err("column definition"));
        }
        let mut refs = Vec::new();
        table_def::column_def(c, &mut refs);
        let (_, targets) = self.record(refs, table)?;
        Ok((self.q.name(c.pos()), targets))
    }

    /// Records the sites of the walker's refs in a definition of `table`. Returns the
    /// columns of `table` named (key parts, expressions) and the REFERENCES targets.
    pub(super) fn record(&mut self, refs: Vec<Ref>, table: &ObjName) -> Result<(Vec<String>, Vec<ObjName>), RewriteError> {
        let (mut cols, mut targets) = (Vec::new(), Vec::new());
        for r in refs {
            match r {
                Ref::Col(s) => {
                    cols.push(self.q.name(s));
                    self.site(Site::Column(s, table.clone()));
                }
                Ref::Expr(e) => self.expr_name(e, table, &mut cols),
                // Type and attribute words: unquoted names in them are no columns.
                Ref::Loose(_) => {}
                Ref::ForeignTable { at, table: chain } => {
                    let chain = chain.ok_or_else(|| self.q.parse_err("table name", at))?;
                    // An unqualified target is in the same database as the table.
                    let target = self.with_db(&table.db, |p| p.obj_of(&chain, "table name"))?;
                    self.site(Site::Table(chain, target.clone()));
                    targets.push(target);
                }
                Ref::ForeignCol(s) => {
                    let target = targets.last().expect("key parts of REFERENCES follow its table").clone();
                    self.site(Site::Column(s, target));
                }
                Ref::After { kw, col } => self.site(Site::AfterColumn(kw, col, table.clone())),
            }
        }
        Ok((cols, targets))
    }

    /// A name in an expression of `table`: a column (quoted, bare, or `table`.`col`), a
    /// sequence `db`.`seq`, the database of `db`.`func`(); anything else cannot be mapped.
    fn expr_name(&mut self, e: table_def::ExprName, table: &ObjName, cols: &mut Vec<String>) {
        let q = self.q;
        let p = &e.chain.parts;
        match (p.len(), e.chain.star, e.called) {
            (1, false, false) if q.is_quoted(p[0]) => {
                cols.push(q.name(p[0]));
                self.site(Site::Column(p[0], table.clone()));
            }
            (1, false, false) if !e.before_string => {
                cols.push(q.name(p[0]));
                self.site(Site::BareColumn(p[0], table.clone()));
            }
            (2, false, true) => self.site(Site::FuncDb(p[0], q.name(p[0]))),
            (2, false, false) if q.name(p[0]) == table.name => {
                cols.push(q.name(p[1]));
                self.site(Site::Column(p[1], table.clone()));
            }
            (2, false, false) => {
                // db.seq as in nextval(db.seq)
                let o = ObjName::new(q.name(p[0]), q.name(p[1]));
                self.site(Site::Table(e.chain, o));
            }
            // A word before a string is no name: a charset introducer (`_utf8mb4'x'`, which
            // MySQL's SHOW CREATE TABLE writes in every string default and expression), a
            // typed literal (`DATE '2024-01-01'`, `X'00'`), or an operator (`LIKE 'a%'`).
            (1, false, false) => {}
            (1, _, true) => {}
            _ => self.problem("qualified name in an expression".into(), p[0]),
        }
    }

    fn drop(&mut self, mut c: Cursor) -> Result<DdlKind, RewriteError> {
        let temporary = c.optional("TEMPORARY");
        let at = c.pos();
        let kw = c.word();
        c.next();
        match kw.as_str() {
            "table" | "tables" if temporary => other("temporary tables are not synchronized"),
            "table" | "tables" | "view" | "views" => {
                let if_exists = c.optional_seq(&["IF", "EXISTS"]);
                let objs = self.name_list(c, "table name")?;
                Ok(if kw.starts_with("table") {
                    DdlKind::DropTable { tables: objs, if_exists }
                } else {
                    DdlKind::DropView { views: objs, if_exists }
                })
            }
            "database" | "schema" => {
                let if_exists = c.optional_seq(&["IF", "EXISTS"]);
                let db = self.db_name(&mut c)?;
                Ok(DdlKind::DropDatabase { db, if_exists })
            }
            "index" => {
                c.optional_seq(&["IF", "EXISTS"]);
                c.optional_any(&["ONLINE", "OFFLINE"]);
                let index = c.pos();
                if !c.is_ident() || !c.is_at(1, "ON") {
                    return Err(c.err("DROP INDEX"));
                }
                c.next();
                c.next();
                let table = self.table(&mut c)?;
                Ok(DdlKind::DropIndex { table, index: self.q.name(index) })
            }
            "function" | "procedure" | "trigger" => {
                let if_exists = c.optional_seq(&["IF", "EXISTS"]);
                let what = if kw == "trigger" { "trigger name" } else { "routine name" };
                let (name, chain) = self.obj(&mut c, what)?;
                self.site(Site::Routine(chain, name.clone()));
                Ok(match kw.as_str() {
                    "trigger" => DdlKind::DropTrigger { name, if_exists },
                    _ => DdlKind::DropRoutine { kind: routine_kind(&kw), name, if_exists },
                })
            }
            w if UNSYNCED.contains(&w) || w == "prepare" => other(format!("DROP {} is not synchronized", kw.to_uppercase())),
            _ => Err(self.q.parse_err("DROP statement", at)),
        }
    }

    /// `a, db.b, ...` up to WAIT/NOWAIT/RESTRICT/CASCADE/FORCE or the end; records spans.
    fn name_list(&mut self, c: Cursor, what: &str) -> Result<Vec<ObjName>, RewriteError> {
        let list = match c.find(|c| c.is_any(&["WAIT", "NOWAIT", "RESTRICT", "CASCADE", "FORCE"])) {
            Some(stop) => c.upto(stop),
            None => c,
        };
        let mut out = Vec::new();
        for mut item in list.split_commas() {
            let first = item.pos();
            let (o, chain) = self.obj(&mut item, what)?;
            if !item.at_end() {
                return Err(item.err(what));
            }
            self.site(Site::Table(chain, o.clone()));
            self.rec.spans.push((first, item.last()));
            out.push(o);
        }
        Ok(out)
    }

    fn rename_table(&mut self, mut c: Cursor) -> Result<DdlKind, RewriteError> {
        c.next(); // TABLE or TABLES
        c.optional_seq(&["IF", "EXISTS"]);
        let mut pairs = Vec::new();
        for mut item in c.split_commas() {
            let first = item.pos();
            let from = self.table(&mut item)?;
            Self::wait(&mut item);
            item.expect("TO", "RENAME TABLE ... TO")?;
            let to = self.table(&mut item)?;
            if !item.at_end() {
                return Err(item.err("RENAME TABLE"));
            }
            self.rec.spans.push((first, item.last()));
            pairs.push((from, to));
        }
        Ok(DdlKind::RenameTable { pairs })
    }
}
