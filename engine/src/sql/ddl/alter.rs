//! ALTER statements: DATABASE, VIEW, FUNCTION/PROCEDURE, and ALTER TABLE clause by clause.

use super::parse::{Parser, header_option, other, routine_kind};
use super::site::Site;
use super::{AlterClause, AlterTable, DdlKind, ObjName};
use crate::sql::RewriteError;
use crate::sql::cursor::Cursor;
use crate::sql::lexer::TokenKind;
use crate::sql::table_def::{self, Ref};

/// What a clause adds to the ALTER TABLE being parsed.
struct Clauses<'t> {
    table: &'t ObjName,
    /// The clause before this item's (a list like `DROP PARTITION p1, p2` goes on).
    prev: Option<AlterClause>,
    out: Vec<AlterClause>,
    /// Tables named besides `table`.
    references: Vec<ObjName>,
}

impl<'q, 'a> Parser<'q, 'a> {
    pub(super) fn alter(&mut self, mut c: Cursor) -> Result<DdlKind, RewriteError> {
        while header_option(&mut c, &["ONLINE", "OFFLINE", "IGNORE"])? {}
        let at = c.pos();
        let kw = c.word();
        c.next();
        match kw.as_str() {
            "table" => self.alter_table(c),
            "database" | "schema" => self.alter_database(c, at),
            "view" => {
                let (view, _) = self.obj(&mut c, "view name")?;
                self.rec.whole_references = true;
                let reads = self.reads()?;
                Ok(DdlKind::AlterView { view, reads })
            }
            "function" | "procedure" => {
                let (name, chain) = self.obj(&mut c, "routine name")?;
                self.site(Site::Routine(chain, name.clone()));
                Ok(DdlKind::AlterRoutine { kind: routine_kind(&kw), name })
            }
            "event" | "user" | "role" | "server" | "tablespace" | "logfile" | "resource" | "sequence" | "instance" | "package" | "undo" => {
                other(format!("ALTER {} is not synchronized", kw.to_uppercase()))
            }
            _ => Err(self.q.parse_err("ALTER statement", at)),
        }
    }

    /// After `ALTER DATABASE` (the keyword at `kw`): a name, or options for the default database.
    fn alter_database(&mut self, mut c: Cursor, kw: usize) -> Result<DdlKind, RewriteError> {
        let option = ["DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "COMMENT", "READ", "ENCRYPTION"];
        let named = c.is_quoted() || c.peek().is_some_and(|t| t.kind == TokenKind::Ident) && !c.is_any(&option);
        if named && c.is_at(1, "UPGRADE") {
            return other("ALTER DATABASE ... UPGRADE DATA DIRECTORY NAME");
        }
        let db = if named {
            self.db_name(&mut c)?
        } else {
            if self.db.is_empty() {
                return Err(c.sql().conflict("ALTER DATABASE without a name and no default database".into(), c.pos()));
            }
            let db = self.db.clone();
            self.site(Site::DbAfter(kw, db.clone()));
            db
        };
        Ok(DdlKind::AlterDatabase { db })
    }

    fn alter_table(&mut self, mut c: Cursor) -> Result<DdlKind, RewriteError> {
        c.optional_seq(&["IF", "EXISTS"]);
        let table = self.table(&mut c)?;
        Self::wait(&mut c);
        let mut clauses = Clauses { table: &table, prev: None, out: Vec::new(), references: Vec::new() };
        if !c.at_end() {
            for item in c.split_commas() {
                if item.at_end() {
                    return Err(item.err("empty ALTER TABLE clause"));
                }
                let span = self.rec.spans.len();
                self.rec.spans.push((item.pos(), item.last()));
                clauses.prev = clauses.out.last().cloned();
                let before = clauses.out.len();
                self.clause = Some(before);
                self.alter_clause(item, &mut clauses)?;
                let mut refs = Vec::new();
                table_def::partition_exprs(item, &mut refs);
                self.record(refs, &table)?;
                self.rec.clause_span.resize(clauses.out.len(), span);
                if clauses.out.len() == before {
                    // A clause that added nothing (cannot happen) still needs a span.
                    clauses.out.push(AlterClause::Other(String::new()));
                    self.rec.clause_span.push(span);
                }
            }
        }
        self.clause = None;
        let Clauses { out, references, .. } = clauses;
        Ok(DdlKind::AlterTable(AlterTable { table, clauses: out, references }))
    }

    /// One comma-separated item of ALTER TABLE.
    fn alter_clause(&mut self, item: Cursor, cl: &mut Clauses) -> Result<(), RewriteError> {
        let mut c = item;
        let verb = c.word();
        c.next();
        let column_kw = c.is("COLUMN");
        match verb.as_str() {
            "add" => self.alter_add(c, column_kw, cl)?,
            "change" | "modify" => self.alter_change(c, verb == "change", cl)?,
            "alter" => self.alter_column(c, column_kw, cl)?,
            "drop" => self.alter_drop(c, column_kw, cl)?,
            "rename" => self.alter_rename(c, column_kw, cl)?,
            "order" if c.optional("BY") => {
                self.order_columns(c, cl.table);
                cl.out.push(AlterClause::OrderBy);
            }
            "convert" if c.is("TO") => cl.out.push(AlterClause::Options),
            "partition" | "coalesce" | "reorganize" | "exchange" | "analyze" | "check" | "optimize" | "rebuild" | "repair" | "truncate"
            | "remove" | "convert" => {
                self.partition_tables(item, cl)?;
                cl.out.push(AlterClause::Partitioning);
            }
            "discard" | "import" if c.is("PARTITION") => cl.out.push(AlterClause::Partitioning),
            _ => match cl.prev {
                // DROP PARTITION p1, p2 / ORDER BY a, b: the list goes on.
                Some(AlterClause::Partitioning) if item.is_ident() => {
                    self.partition_tables(item, cl)?;
                    cl.out.push(AlterClause::Partitioning);
                }
                Some(AlterClause::OrderBy) if item.is_ident() => {
                    self.order_columns(item, cl.table);
                    cl.out.push(AlterClause::OrderBy);
                }
                _ => self.alter_options(item, cl),
            },
        }
        Ok(())
    }

    /// `ADD [COLUMN] [IF NOT EXISTS] ...`: a column, several in parentheses, an index
    /// or a constraint, a partition, system versioning.
    fn alter_add(&mut self, mut c: Cursor, column_kw: bool, cl: &mut Clauses) -> Result<(), RewriteError> {
        c.optional("COLUMN");
        c.optional_seq(&["IF", "NOT", "EXISTS"]);
        let key_words = ["INDEX", "KEY", "UNIQUE", "FULLTEXT", "SPATIAL", "PRIMARY", "CONSTRAINT", "FOREIGN", "CHECK", "PERIOD"];
        if !column_kw && c.is_any(&key_words) {
            let (clause, refs) = self.definition(c, cl.table)?;
            cl.references.extend(refs);
            cl.out.push(clause);
        } else if !column_kw && c.is("PARTITION") {
            cl.out.push(AlterClause::Partitioning);
        } else if !column_kw && c.is("SYSTEM") {
            cl.out.push(AlterClause::Other("ADD SYSTEM VERSIONING".into()));
        } else if let Some(list) = c.group() {
            for element in list.split_commas() {
                let (clause, refs) = self.definition(element, cl.table)?;
                cl.references.extend(refs);
                cl.out.push(clause);
            }
        } else {
            let (name, refs) = self.column_def(c, cl.table)?;
            cl.references.extend(refs);
            cl.out.push(AlterClause::AddColumn(name));
        }
        Ok(())
    }

    /// `CHANGE [COLUMN] [IF EXISTS] old new definition` / `MODIFY [COLUMN] [IF EXISTS] definition`.
    fn alter_change(&mut self, mut c: Cursor, change: bool, cl: &mut Clauses) -> Result<(), RewriteError> {
        c.optional("COLUMN");
        c.optional_seq(&["IF", "EXISTS"]);
        if change {
            let s = c.expect_ident("column name")?;
            self.site(Site::Column(s, cl.table.clone()));
            let (to, refs) = self.column_def(c, cl.table)?;
            cl.references.extend(refs);
            cl.out.push(AlterClause::ChangeColumn { from: self.q.name(s), to });
        } else {
            let (name, refs) = self.column_def(c, cl.table)?;
            cl.references.extend(refs);
            cl.out.push(AlterClause::ModifyColumn(name));
        }
        Ok(())
    }

    /// `ALTER [COLUMN] [IF EXISTS] c SET DEFAULT ... / DROP DEFAULT / ...`, `ALTER INDEX`,
    /// `ALTER CONSTRAINT|CHECK`.
    fn alter_column(&mut self, mut c: Cursor, column_kw: bool, cl: &mut Clauses) -> Result<(), RewriteError> {
        if !column_kw && c.is_any(&["INDEX", "KEY"]) {
            cl.out.push(AlterClause::AlterKey);
            return Ok(());
        }
        if !column_kw && c.is_any(&["CONSTRAINT", "CHECK"]) {
            cl.out.push(AlterClause::Other("ALTER CONSTRAINT".into()));
            return Ok(());
        }
        c.optional("COLUMN");
        c.optional_seq(&["IF", "EXISTS"]);
        let s = c.expect_ident("column name")?;
        self.site(Site::Column(s, cl.table.clone()));
        if c.until(|c| c.is("(")).is_some()
            && let Some(expr) = c.group()
        {
            let mut refs = Vec::new();
            table_def::expr_names(expr, Ref::Expr, &mut refs);
            self.record(refs, cl.table)?;
        }
        cl.out.push(AlterClause::AlterColumn(self.q.name(s)));
        Ok(())
    }

    /// `DROP [COLUMN] [IF EXISTS] c`, or an index, constraint, partition, versioning.
    fn alter_drop(&mut self, mut c: Cursor, column_kw: bool, cl: &mut Clauses) -> Result<(), RewriteError> {
        if !column_kw {
            if c.is_any(&["INDEX", "KEY", "PRIMARY", "FOREIGN", "CONSTRAINT", "CHECK"]) {
                cl.out.push(AlterClause::DropKey);
                return Ok(());
            }
            if c.is("PARTITION") {
                cl.out.push(AlterClause::Partitioning);
                return Ok(());
            }
            if c.is_any(&["SYSTEM", "PERIOD"]) {
                cl.out.push(AlterClause::Other(format!("DROP {}", c.word().to_uppercase())));
                return Ok(());
            }
        }
        c.optional("COLUMN");
        c.optional_seq(&["IF", "EXISTS"]);
        let s = c.expect_ident("column name")?;
        cl.out.push(AlterClause::DropColumn(self.q.name(s)));
        self.site(Site::Column(s, cl.table.clone()));
        Ok(())
    }

    /// `RENAME COLUMN a TO b`, `RENAME INDEX|KEY ...`, `RENAME [TO|AS] name`.
    fn alter_rename(&mut self, mut c: Cursor, column_kw: bool, cl: &mut Clauses) -> Result<(), RewriteError> {
        if column_kw {
            c.next();
            let at = c.pos();
            let (Some(from), true, Some(to)) = (c.ident(), c.optional("TO"), c.ident()) else {
                return Err(self.q.parse_err("RENAME COLUMN", at));
            };
            self.site(Site::Column(from, cl.table.clone()));
            self.site(Site::Column(to, cl.table.clone()));
            cl.out.push(AlterClause::RenameColumn { from: self.q.name(from), to: self.q.name(to) });
        } else if c.is_any(&["INDEX", "KEY"]) {
            cl.out.push(AlterClause::AlterKey);
        } else {
            c.optional_any(&["TO", "AS"]);
            // An unqualified new name is in the table's database.
            let to = self.with_db(&cl.table.db, |p| p.table(&mut c))?;
            cl.out.push(AlterClause::Rename(to));
        }
        Ok(())
    }

    /// Anything else: table options, ALGORITHM=, LOCK=, FORCE, ... Names in them
    /// cannot be mapped (up to a PARTITION BY, walked on its own).
    fn alter_options(&mut self, item: Cursor, cl: &mut Clauses) {
        if item.find(|c| c.is("UNION")).is_some() {
            self.problem("UNION= table lists (MERGE tables) are not supported".into(), item.pos());
        }
        let partition_by = item.find(|c| c.is_any(&["PARTITION", "SUBPARTITION"]) && c.is_at(1, "BY"));
        let last = partition_by.map_or(item.last(), |b| b.saturating_sub(1));
        self.site(Site::Opaque(item.pos(), last, cl.table.clone()));
        cl.out.push(AlterClause::Options);
    }

    /// `ORDER BY` columns.
    fn order_columns(&mut self, mut c: Cursor, table: &ObjName) {
        while !c.at_end() {
            if c.optional_any(&["ASC", "DESC"]) {
                continue;
            }
            match c.qualified_name() {
                Some(chain) => self.site(Site::Column(*chain.parts.last().unwrap(), table.clone())),
                None => _ = c.next(),
            }
        }
    }

    /// `EXCHANGE PARTITION p WITH TABLE t`, `CONVERT PARTITION p TO TABLE t`,
    /// `CONVERT TABLE t TO PARTITION ...`: the tables, in the table's database.
    fn partition_tables(&mut self, item: Cursor, cl: &mut Clauses) -> Result<(), RewriteError> {
        for s in item.indices() {
            let mut c = item.from(s);
            if c.optional("TABLE") && c.is_ident() {
                let t = self.with_db(&cl.table.db, |p| p.table(&mut c))?;
                cl.references.push(t);
            }
        }
        Ok(())
    }
}
