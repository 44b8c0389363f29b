//! The initial schema sync: databases, tables (from SHOW CREATE TABLE, renamed and trimmed to the
//! selected columns), views in dependency order, functions and procedures. Triggers are deferred:
//! their effects already arrive as rows. Every object ferry creates is recorded on the target, so a
//! re-run knows its own tables from tables that were there before.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

use ferry_crds::{ExistingTables, SchemaSyncStatus, SyncTaskSpec};
use mysql_async::Conn;
use mysql_async::prelude::*;
use tracing::{info, warn};

use crate::codes;
use crate::db::catalog::{self, Column};
use crate::db::{Server, Session, lit, q, qt, short};
use crate::error::{Error, Result};
use crate::plan::mapping::{DatabaseMap, TableMap};
use crate::sql::rewrite;
use crate::target::meta::{Meta, TableState};

/// A table ready for the full copy.
pub struct PreparedTable {
    pub map: TableMap,
    pub state: TableState,
    /// (source column, target column) pairs the copy writes.
    pub columns: Vec<(Column, String)>,
    pub keep_existing_rows: bool,
    pub deferred_indexes: Vec<String>,
}

pub struct SchemaSync<'a> {
    pub spec: &'a SyncTaskSpec,
    pub source: &'a Server,
    pub target: &'a Server,
    pub meta: &'a Meta,
    pub renames: &'a rewrite::NameMap,
    /// The copy's sessions: tables are created over twice as many pairs of sessions at once.
    pub parallelism: usize,
}

/// A table with fewer rows than this (by the source's estimate) is created with all its indexes:
/// building a secondary index after the load pays off for large tables only, and an ALTER TABLE
/// per small table costs more than the rows themselves (ten thousand small tables: minutes).
pub const DEFER_INDEXES_ROWS: u64 = 10_000;

/// Whether a table's secondary indexes wait until its rows are loaded.
pub fn defers_indexes(copies_data: bool, rows_estimate: u64) -> bool {
    copies_data && rows_estimate >= DEFER_INDEXES_ROWS
}

enum Plan {
    Create,
    Ours(TableState, Vec<String>),
    Existing,
}

impl SchemaSync<'_> {
    pub async fn run(&self, dbs: &[DatabaseMap], status: &mut SchemaSyncStatus) -> Result<Vec<PreparedTable>> {
        let mut src = self.source.connect(Session::Control).await?;
        let mut tgt = self.target.connect(Session::Write).await?;
        let with_schema = self.spec.initial_sync.schema;
        // Held from looking at the target until the tables exist (see `lock_databases`): two tasks
        // merging into one table start together, and only one of them creates it.
        let created: Vec<&str> = if with_schema { dbs.iter().map(|d| d.dst.as_str()).collect() } else { Vec::new() };
        crate::db::lock_databases(self.target, &mut tgt, &created).await?;
        // Decide every table first: a refusal must come before anything is created.
        let plans = self.plan_tables(&mut tgt, dbs).await?;
        for d in dbs.iter().filter(|_| with_schema) {
            self.create_database(&mut src, &mut tgt, d).await?;
        }
        let out = self.prepare_tables(&mut src, &mut tgt, plans, status).await?;
        crate::db::unlock_databases(&mut tgt, &created).await;

        if with_schema {
            for d in dbs.iter().filter(|d| d.whole) {
                status.views += self.create_views(&mut src, &mut tgt, d, self.renames).await?;
                status.routines += self.create_routines(&mut src, &mut tgt, d).await?;
            }
        }
        for d in dbs {
            let selected: BTreeSet<&str> = d.tables.iter().map(|t| t.src_table.as_str()).collect();
            for (trigger, table) in catalog::triggers(self.source, &mut src, &d.src).await? {
                if selected.contains(table.as_str()) {
                    status.deferred_triggers.push(format!("{}.{trigger}", d.src));
                }
            }
        }
        let _ = src.disconnect().await;
        let _ = tgt.disconnect().await;
        Ok(out)
    }

    /// What becomes of each table: created, found as ferry left it, or kept as the target has it;
    /// tables in the way under PrecheckAndIntercept refuse the run before anything is created.
    async fn plan_tables<'t>(&self, tgt: &mut Conn, dbs: &'t [DatabaseMap]) -> Result<Vec<(&'t TableMap, Plan)>> {
        let with_schema = self.spec.initial_sync.schema;
        let mut plans = Vec::new();
        let mut conflicts = Vec::new();
        let mut records = self.meta.table_records_by_name(self.target, tgt).await?;
        for d in dbs {
            let present: BTreeSet<String> = catalog::existing_relations(self.target, tgt, &d.dst).await?.into_iter().collect();
            for t in &d.tables {
                let record = records.remove(&(t.src_db.clone(), t.src_table.clone()));
                let exists = present.contains(&t.dst_table);
                let plan = match record {
                    Some(r) if r.state == TableState::Existing => Plan::Existing,
                    Some(r) if r.state == TableState::Creating && !exists => Plan::Create,
                    Some(r) => Plan::Ours(r.state, r.deferred_indexes),
                    None if exists => {
                        // A merged table is expected to be there (another task writing it created it).
                        if with_schema && self.spec.existing_tables == ExistingTables::PrecheckAndIntercept && t.merge.is_none() {
                            conflicts.push(t.target_name());
                        }
                        Plan::Existing
                    }
                    None if with_schema => Plan::Create,
                    None => {
                        return Err(Error::object(
                            t.target_name(),
                            "does not exist on the target, and spec.initialSync.schema is false: create it or enable the schema sync",
                        ));
                    }
                };
                plans.push((t, plan));
            }
        }
        if !conflicts.is_empty() {
            return Err(Error::invalid(
                "spec.existingTables",
                format!(
                    "PrecheckAndIntercept: {} already exist on the target {}; drop them, map the tables to other names, or set existingTables: Ignore",
                    conflicts.join(", "),
                    self.target.address
                ),
            ));
        }
        Ok(plans)
    }

    /// Carries out the tables' plans over `2 × parallelism` pairs of sessions (the first pair is the
    /// caller's), counting them in `status`; the prepared tables come back in the plans' order.
    async fn prepare_tables(
        &self,
        src: &mut Conn,
        tgt: &mut Conn,
        plans: Vec<(&TableMap, Plan)>,
        status: &mut SchemaSyncStatus,
    ) -> Result<Vec<PreparedTable>> {
        let total = plans.len();
        let queue = Mutex::new(plans.into_iter().enumerate().collect::<VecDeque<_>>());
        let done = Mutex::new(Vec::with_capacity(total));
        // A CREATE TABLE waits on the target's disk (the new file and the data dictionary are
        // synced) far more than it works: twice the copy's sessions keep the target busy.
        let extra = (self.parallelism * 2).clamp(1, total.max(1)) - 1;
        let mut pairs = Vec::with_capacity(extra);
        for _ in 0..extra {
            let (s, t) = tokio::join!(self.source.connect(Session::Control), self.target.connect(Session::Write));
            pairs.push((s?, t?));
        }
        let mut workers: Vec<_> = pairs.iter_mut().map(|(s, t)| Box::pin(self.prepare_queued(s, t, &queue, &done))).collect();
        workers.push(Box::pin(self.prepare_queued(src, tgt, &queue, &done)));
        futures_util::future::try_join_all(workers).await?;
        for (s, t) in pairs {
            let _ = tokio::join!(s.disconnect(), t.disconnect());
        }
        let mut done = done.into_inner().expect("done lock");
        done.sort_by_key(|(i, _)| *i);
        let mut out = Vec::with_capacity(total);
        for (_, p) in done {
            match p.state {
                TableState::Existing => status.kept_existing.push(p.map.target_name()),
                _ => status.tables += 1,
            }
            out.push(p);
        }
        Ok(out)
    }

    /// One worker of [`Self::prepare_tables`]: takes plans from `queue` until it is empty.
    async fn prepare_queued(
        &self,
        src: &mut Conn,
        tgt: &mut Conn,
        queue: &Mutex<VecDeque<(usize, (&TableMap, Plan))>>,
        done: &Mutex<Vec<(usize, PreparedTable)>>,
    ) -> Result<()> {
        loop {
            let next = queue.lock().expect("queue lock").pop_front();
            let Some((i, (t, plan))) = next else { return Ok(()) };
            let prepared = self.prepare_table(src, tgt, t, plan).await?;
            done.lock().expect("done lock").push((i, prepared));
        }
    }

    /// Carries out a table's plan.
    async fn prepare_table(&self, src: &mut Conn, tgt: &mut Conn, t: &TableMap, plan: Plan) -> Result<PreparedTable> {
        let ours = |state, deferred_indexes| PreparedTable {
            map: t.clone(),
            state,
            columns: copy_pairs(t),
            keep_existing_rows: false,
            deferred_indexes,
        };
        Ok(match plan {
            Plan::Create => {
                let deferred = self.create_table(src, tgt, t, self.renames).await?;
                ours(TableState::Created, deferred)
            }
            Plan::Ours(state, deferred) => ours(state, deferred),
            Plan::Existing => {
                let columns = self.common_columns(tgt, t).await?;
                let names = ((t.src_db.as_str(), t.src_table.as_str()), (t.dst_db.as_str(), t.dst_table.as_str()));
                self.meta.set_table(self.target, tgt, names.0, names.1, TableState::Existing, Some(&[])).await?;
                PreparedTable {
                    map: t.clone(),
                    state: TableState::Existing,
                    columns,
                    keep_existing_rows: true,
                    deferred_indexes: Vec::new(),
                }
            }
        })
    }

    async fn create_database(&self, src: &mut Conn, tgt: &mut Conn, d: &DatabaseMap) -> Result<()> {
        let row: Option<(String, String)> = src
            .exec_first(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (&d.src,),
            )
            .await
            .map_err(self.source.err(format!("reading database {}", d.src)))?;
        let mut sql = format!("CREATE DATABASE IF NOT EXISTS {}", q(&d.dst));
        if let Some((cs, coll)) = row {
            sql.push_str(&format!(" CHARACTER SET {cs} COLLATE {coll}"));
        }
        tgt.query_drop(&sql).await.map_err(self.target.err(short(&sql)))
    }

    /// Creates one table; returns the secondary indexes deferred until after the load.
    async fn create_table(&self, src: &mut Conn, tgt: &mut Conn, t: &TableMap, names: &rewrite::NameMap) -> Result<Vec<String>> {
        let ddl = catalog::show_create_table(self.source, src, &t.src_db, &t.src_table).await?;
        let bad = |e: rewrite::RewriteError| Error::object(t.source_name(), format!("cannot rewrite its CREATE TABLE: {e}"));
        let ddl = if t.column_subset {
            let keep: Vec<String> = t.columns.iter().map(|c| c.source.name.clone()).collect();
            rewrite::select_columns_create_table(&ddl, &keep).map_err(bad)?
        } else {
            ddl
        };
        let ddl = rewrite::rewrite_create_table(&ddl, &t.src_db, &t.src_table, names).map_err(bad)?;
        // MySQL prints an inherited collation as a lone COLLATE that would make it explicit.
        let ddl = rewrite::inherit_table_collation(&ddl);
        let (ddl, deferred) = if defers_indexes(self.spec.initial_sync.data, t.rows_estimate) {
            rewrite::split_secondary_indexes(&ddl)
        } else {
            (ddl, Vec::new())
        };
        let src_pair = (t.src_db.as_str(), t.src_table.as_str());
        let dst_pair = (t.dst_db.as_str(), t.dst_table.as_str());
        self.meta.set_table(self.target, tgt, src_pair, dst_pair, TableState::Creating, Some(&deferred)).await?;
        info!(table = %t.target_name(), "creating table");
        tgt.query_drop(&ddl).await.map_err(self.target.err(format!("creating {}: {}", t.target_name(), short(&ddl))))?;
        self.meta.set_table(self.target, tgt, src_pair, dst_pair, TableState::Created, None).await?;
        Ok(deferred)
    }

    /// For a table that was already on the target: the columns both sides have.
    async fn common_columns(&self, tgt: &mut Conn, t: &TableMap) -> Result<Vec<(Column, String)>> {
        let target = catalog::table(self.target, tgt, &t.dst_db, &t.dst_table).await?;
        let wanted = copy_pairs(t);
        let (common, missing): (Vec<_>, Vec<_>) = wanted.into_iter().partition(|(_, dst)| target.column(dst).is_some());
        // Target columns the copy cannot fill: NOT NULL, no default, not generated or AUTO_INCREMENT.
        let required: Vec<(Option<String>,)> = tgt
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                 AND IS_NULLABLE = 'NO' AND COLUMN_DEFAULT IS NULL AND EXTRA NOT LIKE '%auto_increment%' \
                 AND EXTRA NOT LIKE '%VIRTUAL%' AND EXTRA NOT LIKE '%STORED%' AND EXTRA NOT LIKE '%PERSISTENT%'",
                (&t.dst_db, &t.dst_table),
            )
            .await
            .map_err(self.target.err(format!("reading columns of {}", t.target_name())))?;
        let unfillable: Vec<String> =
            required.into_iter().filter_map(|(c,)| c).filter(|c| !common.iter().any(|(_, d)| d.eq_ignore_ascii_case(c))).collect();
        if common.is_empty() || !unfillable.is_empty() {
            let mut why = Vec::new();
            if common.is_empty() {
                why.push("no column in common with the source".to_string());
            }
            if !unfillable.is_empty() {
                why.push(format!("target columns {} are NOT NULL without a default and have no source column", unfillable.join(", ")));
            }
            return Err(Error::object(
                format!("{} (existing target table)", t.target_name()),
                format!("schemas differ from {}: {}", t.source_name(), why.join("; ")),
            ));
        }
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|(c, _)| c.name.clone()).collect();
            warn!(table = %t.target_name(), columns = %names.join(", "), "target table lacks source columns; copying the common columns");
        }
        Ok(common)
    }

    /// Creates the views of a database, retrying those whose dependencies come later.
    async fn create_views(&self, src: &mut Conn, tgt: &mut Conn, d: &DatabaseMap, names: &rewrite::NameMap) -> Result<u32> {
        let mut pending = Vec::new();
        let present: BTreeSet<String> = catalog::existing_relations(self.target, tgt, &d.dst).await?.into_iter().collect();
        for v in catalog::views(self.source, src, &d.src).await? {
            let ours = self.meta.object_is_ours(self.target, tgt, "VIEW", &d.dst, &v).await?;
            if present.contains(&v) && !ours {
                if self.spec.existing_tables == ExistingTables::PrecheckAndIntercept {
                    return Err(Error::invalid(
                        "spec.existingTables",
                        format!("PrecheckAndIntercept: view {}.{v} already exists on the target {}", d.dst, self.target.address),
                    ));
                }
                continue;
            }
            let (ddl, context) = catalog::show_create_view(self.source, src, &d.src, &v).await?;
            let ddl = rewrite::rewrite_references(&rewrite::strip_definer(&ddl), &d.src, names)
                .map_err(|e| Error::object(format!("{}.{v}", d.src), format!("cannot rewrite the view: {e}")))?;
            let ddl = or_replace(&ddl);
            pending.push((v, ddl, context));
        }
        tgt.query_drop(format!("USE {}", q(&d.dst))).await.map_err(self.target.err("USE"))?;
        let mut created = 0;
        while !pending.is_empty() {
            let before = pending.len();
            let mut next = Vec::new();
            let mut last_err = (String::new(), String::new());
            for (v, ddl, context) in pending.drain(..) {
                let object = format!("view {}.{v}", d.src);
                match self.create_as_created(tgt, &ddl, &context, &object).await? {
                    Ok(()) => {
                        self.meta.record_object(self.target, tgt, "VIEW", &d.dst, &v).await?;
                        created += 1;
                    }
                    // 1146: a table or view it reads is not created yet; try again after the others.
                    Err(mysql_async::Error::Server(e)) if e.code == codes::NO_SUCH_TABLE => {
                        last_err = (v.clone(), e.message.clone());
                        next.push((v, ddl, context));
                    }
                    Err(e) => return Err(self.target.err(format!("creating view {}.{v}", d.dst))(e)),
                }
            }
            if next.len() == before {
                let (v, m) = last_err;
                return Err(Error::object(format!("{}.{v}", d.dst), format!("cannot create the view: {m}")));
            }
            pending = next;
        }
        Ok(created)
    }

    async fn create_routines(&self, src: &mut Conn, tgt: &mut Conn, d: &DatabaseMap) -> Result<u32> {
        let mut created = 0;
        tgt.query_drop(format!("USE {}", q(&d.dst))).await.map_err(self.target.err("USE"))?;
        let existing: Vec<(String, String)> = tgt
            .exec("SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", (&d.dst,))
            .await
            .map_err(self.target.err("listing routines"))?;
        for (kind, name) in catalog::routines(self.source, src, &d.src).await? {
            let object = format!("{} {}.{name}", kind.to_lowercase(), d.src);
            let ours = self.meta.object_is_ours(self.target, tgt, &kind, &d.dst, &name).await?;
            if existing.iter().any(|(k, n)| k == &kind && n == &name) {
                if !ours {
                    if self.spec.existing_tables == ExistingTables::PrecheckAndIntercept {
                        return Err(Error::invalid(
                            "spec.existingTables",
                            format!("PrecheckAndIntercept: {object} already exists on the target {}", self.target.address),
                        ));
                    }
                    continue;
                }
                let drop = format!("DROP {kind} IF EXISTS {}", qt(&d.dst, &name));
                tgt.query_drop(&drop).await.map_err(self.target.err(drop.clone()))?;
            }
            let routine = catalog::show_create_routine(self.source, src, &d.src, &kind, &name).await?;
            self.create_stored(tgt, (&d.src, &d.dst), &routine, &object, false).await?;
            self.meta.record_object(self.target, tgt, &kind, &d.dst, &name).await?;
            created += 1;
        }
        Ok(created)
    }

    /// Creates a routine, trigger or event (`stored`, read with `SHOW CREATE`) in database `dst`
    /// as the source made it in `src`: names mapped, its sql_mode, its session's character set,
    /// the database collation it was made under; the definer dropped (routines) or kept
    /// (`keep_definer`: triggers and events created at cutover keep their original definers).
    pub(crate) async fn create_stored(
        &self,
        tgt: &mut Conn,
        (src, dst): (&str, &str),
        stored: &catalog::RoutineDdl,
        object: &str,
        keep_definer: bool,
    ) -> Result<()> {
        if stored.create.is_empty() {
            return Err(Error::object(object, "SHOW CREATE returned no body: the source user needs SELECT on mysql.proc or SHOW_ROUTINE"));
        }
        let text = if keep_definer { stored.create.clone() } else { rewrite::strip_definer(&stored.create) };
        let ddl = rewrite::rewrite_references(&text, src, self.renames)
            .map_err(|e| Error::object(object.to_string(), format!("cannot rewrite: {e}")))?;
        // A routine keeps the sql_mode it was created with, and the database collation (the
        // database's default then, which its parameters and variables take without a
        // COLLATE): as mysqldump does, the target database has it while the routine is made.
        let db_collation = stored.context.database_collation.as_deref().unwrap_or_default();
        let restore_db = self.switch_database_collation(tgt, dst, db_collation, object).await?;
        // Whatever fails in between, the database gets its own collation back.
        // An event's schedule is in its own time zone, as SHOW CREATE EVENT says.
        let (zone, zone_back) = match &stored.time_zone {
            Some(tz) => (format!(", time_zone = {}", lit(tz)), ", time_zone = '+00:00'"),
            None => (String::new(), ""),
        };
        let made = async {
            let set = format!("SET SESSION sql_mode = {}{zone}", lit(&stored.sql_mode));
            tgt.query_drop(&set).await.map_err(self.target.err(set.clone()))?;
            let res = self.create_as_created(tgt, &ddl, &stored.context, object).await;
            let back = format!("SET SESSION sql_mode = '{}'{zone_back}", crate::db::WRITE_SQL_MODE);
            tgt.query_drop(&back).await.map_err(self.target.err(back.clone()))?;
            res
        }
        .await;
        if let Some(restore) = restore_db {
            tgt.query_drop(&restore).await.map_err(self.target.err(restore.clone()))?;
        }
        made?.map_err(|e| {
            let hint = match &e {
                mysql_async::Error::Server(s) if s.code == codes::BINLOG_FUNCTION_CREATORS => {
                    " (the target writes a binlog: SET GLOBAL log_bin_trust_function_creators = 1, or grant SUPER)"
                }
                _ => "",
            };
            Error::object(object.to_string(), format!("cannot create it on the target {}: {e}{hint}", self.target.address))
        })
    }

    /// Runs a view's or routine's CREATE in the session it was made in on the source: its
    /// character_set_client and collation_connection (which the object records, and which give
    /// its string literals their character set and collation), as mysqldump does. The statement
    /// is sent in that character set, converted by the target itself, so non-ASCII text means what
    /// it meant on the source. The session's own settings are back afterwards. The outer error is
    /// ferry's (a setting it could not make or restore), the inner one the CREATE's own.
    pub(crate) async fn create_as_created(
        &self,
        tgt: &mut Conn,
        ddl: &str,
        context: &catalog::CreationContext,
        object: &str,
    ) -> Result<std::result::Result<(), mysql_async::Error>> {
        let (client, connection) = (context.character_set_client.as_str(), context.collation_connection.as_str());
        let (own_client, own_connection): (String, String) = tgt
            .query_first("SELECT @@SESSION.character_set_client, @@SESSION.collation_connection")
            .await
            .map_err(self.target.err("reading the session character set"))?
            .unwrap_or_default();
        let plain = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain(client)
            || !plain(connection)
            || (client.eq_ignore_ascii_case(&own_client) && connection.eq_ignore_ascii_case(&own_connection))
        {
            return Ok(tgt.query_drop(ddl).await);
        }
        let bytes: Vec<u8> = if ddl.is_ascii() || client.to_ascii_lowercase().starts_with("utf8") {
            ddl.as_bytes().to_vec()
        } else {
            let sql = format!("SELECT CAST(CONVERT(? USING {client}) AS BINARY)");
            match tgt.exec_first::<Vec<u8>, _, _>(&sql, (ddl,)).await {
                Ok(b) => b.unwrap_or_default(),
                Err(mysql_async::Error::Server(e)) if unknown_charset(e.code) => {
                    return Ok(self.create_with_session_charset(tgt, ddl, object, &e.message).await);
                }
                Err(e) => return Err(self.target.err(format!("converting {object} to {client}"))(e)),
            }
        };
        let set = format!("SET SESSION character_set_client = {client}, collation_connection = {connection}");
        match tgt.query_drop(&set).await {
            Ok(()) => {}
            Err(mysql_async::Error::Server(e)) if unknown_charset(e.code) => {
                return Ok(self.create_with_session_charset(tgt, ddl, object, &e.message).await);
            }
            Err(e) => return Err(self.target.err(set)(e)),
        }
        let res = tgt.query_drop(bytes).await;
        let restore = format!("SET SESSION character_set_client = {own_client}, collation_connection = {own_connection}");
        tgt.query_drop(&restore).await.map_err(self.target.err(restore.clone()))?;
        Ok(res)
    }

    /// The CREATE under ferry's own session character set, when the target lacks the object's.
    async fn create_with_session_charset(
        &self,
        tgt: &mut Conn,
        ddl: &str,
        object: &str,
        why: &str,
    ) -> std::result::Result<(), mysql_async::Error> {
        warn!(
            object,
            reason = why,
            "the target lacks the character set or collation the object was created with; creating it with ferry's session character set"
        );
        tgt.query_drop(ddl).await
    }

    /// Gives the target database `collation` as its default (when it has another), for a routine
    /// created while the source database had it; returns the ALTER DATABASE that restores it.
    async fn switch_database_collation(&self, tgt: &mut Conn, db: &str, collation: &str, object: &str) -> Result<Option<String>> {
        if collation.is_empty() || !collation.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Ok(None);
        }
        let now: Option<(String, String)> = tgt
            .exec_first(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (db,),
            )
            .await
            .map_err(self.target.err(format!("reading database {db}")))?;
        let Some((charset, current)) = now else { return Ok(None) };
        if current.eq_ignore_ascii_case(collation) {
            return Ok(None);
        }
        let switch = format!("ALTER DATABASE {} COLLATE {collation}", q(db));
        match tgt.query_drop(&switch).await {
            Ok(()) => Ok(Some(format!("ALTER DATABASE {} CHARACTER SET {charset} COLLATE {current}", q(db)))),
            Err(mysql_async::Error::Server(e)) if unknown_charset(e.code) => {
                warn!(object, collation, reason = %e.message, "the target lacks the database collation the routine was created with; creating it under the database's own");
                Ok(None)
            }
            Err(e) => Err(self.target.err(switch)(e)),
        }
    }
}

/// Unknown character set (1115) or collation (1273), or a collation of another character set
/// (1253): the target server does not have what the source's object was made with.
fn unknown_charset(code: u16) -> bool {
    codes::CHARSET_MISSING.contains(&code)
}

/// Ferry re-creates its own views on a re-run.
fn or_replace(ddl: &str) -> String {
    match ddl.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("CREATE ") && !ddl[7..].trim_start().to_ascii_uppercase().starts_with("OR REPLACE") => {
            format!("CREATE OR REPLACE {}", &ddl[7..])
        }
        _ => ddl.to_string(),
    }
}

/// (source column, target name) of the columns the copy writes.
pub fn copy_pairs(t: &TableMap) -> Vec<(Column, String)> {
    t.copy_columns().map(|c| (c.source.clone(), c.target.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_large_tables_defer_their_indexes() {
        assert!(!defers_indexes(true, 100), "a small table is created whole");
        assert!(!defers_indexes(true, DEFER_INDEXES_ROWS - 1));
        assert!(defers_indexes(true, DEFER_INDEXES_ROWS));
        assert!(!defers_indexes(false, 10_000_000), "nothing to load: nothing to defer");
    }
}
