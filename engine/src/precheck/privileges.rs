//! source-privileges and target-privileges: what SHOW GRANTS says (see `grants`), and trials
//! where trying changes nothing (reads on the source; on the target a scratch table created and
//! dropped, which also times writes for the estimate).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{BinlogStreamRequest, Conn};
use tracing::debug;

use crate::db::catalog;
use crate::db::flavor::Flavor;
use crate::db::{Role, Server, Session, q, qt};
use crate::error::Result;

use super::estimate::{WriteSample, time_writes};
use super::grants::{Grant, current_user, grant_statements, granted, has_privilege, read_grants, scope};
use super::{Check, SelDb, denied, server_code};

impl Check<'_> {
    /// Item 5, source side: the privileges of what the engine runs there, read from SHOW GRANTS
    /// (both MySQL 8+ and MariaDB list there the grants of the session's active roles as well) and,
    /// where trying changes nothing, tried:
    /// - SELECT on the selected tables (on the whole database when it is selected whole);
    /// - with the schema sync, a whole database brings its views (SHOW VIEW) and its stored
    ///   routines ([`Flavor::routine_read_privilege`]);
    /// - the copy's consistent snapshot ([`Flavor::snapshot_privileges`]: on MySQL RELOAD for
    ///   FLUSH TABLES WITH READ LOCK, and REPLICATION CLIENT for the position read under it);
    /// - incremental sync: the binlog position (REPLICATION CLIENT, on MariaDB 10.5+ BINLOG
    ///   MONITOR) and the binlog dump (REPLICATION SLAVE).
    ///
    /// A privilege counts as granted through any that covers it ([`Flavor::privileges_covering`]:
    /// SUPER, FLUSH_TABLES, ...); the remedy names the one to grant.
    pub(super) async fn source_privileges(&mut self) {
        let id = "source-privileges";
        let (Some(mut src), Some(f)) = (self.src.take(), self.src_flavor.clone()) else {
            return self.unreachable(&[id], Role::Source);
        };
        let user = current_user(&self.source, &mut src).await;
        let mut lacks = Lacking { flavor: &f, grants: read_grants(&mut src).await, missing: BTreeMap::new(), refused: Vec::new() };
        for d in self.dbs.iter().filter(|d| d.whole) {
            lacks.want("SELECT", Some(&d.src), None, READING_TABLES);
            if self.spec.initial_sync.schema {
                self.views_and_routines(&mut src, &mut lacks, d).await;
            }
        }
        self.table_reads(&mut src, &mut lacks).await;
        self.binlog_reads(&mut src, &mut lacks).await;
        self.src = Some(src);
        if lacks.missing.is_empty() {
            let how = if lacks.parsed() { "SHOW GRANTS and trial reads" } else { "trial reads (SHOW GRANTS could not be read)" };
            return self.pass(id, format!("{user} has what the task needs on the source ({how})"));
        }
        let (list, remedy) = grant_statements(&lacks.missing.keys().cloned().collect(), &user);
        let mut msg = format!("{user} on the source {} lacks {list}", self.source.address);
        let mut whys: BTreeMap<&str, &str> = BTreeMap::new();
        for ((p, _), why) in &lacks.missing {
            whys.entry(p.as_str()).or_insert(why);
        }
        let whys: Vec<String> = whys.iter().map(|(p, why)| format!("{p}: {why}")).collect();
        if !whys.is_empty() {
            msg.push_str(&format!(" ({})", whys.join("; ")));
        }
        if let Some(t) = lacks.refused.first() {
            msg.push_str(&format!(" (tried: {t})"));
        }
        self.fail(id, msg, remedy);
    }

    /// A whole database brings its views and routines (those there now, and views created
    /// later); a user may not even see those it lacks privileges on. Tried on the first of each.
    async fn views_and_routines(&self, src: &mut Conn, lacks: &mut Lacking<'_>, d: &SelDb) {
        let source = &self.source;
        lacks.want("SHOW VIEW", Some(&d.src), None, READING_VIEWS);
        let views = catalog::views(source, src, &d.src).await.unwrap_or_default();
        if !views.is_empty() {
            let sql = format!("SHOW CREATE VIEW {}", qt(&d.src, &views[0]));
            if let Err(e) = src.query_drop(&sql).await.map_err(source.err(sql.clone()))
                && denied(server_code(&e))
            {
                // SHOW CREATE VIEW takes SELECT as well; the refusal names the one it lacked.
                let (p, why) =
                    if e.to_string().contains("SELECT command denied") { ("SELECT", READING_TABLES) } else { ("SHOW VIEW", READING_VIEWS) };
                lacks.refused(p, scope(Some(&d.src), None), why, e.to_string());
            }
        }
        let (routine_priv, routine_db, routine_table) = lacks.flavor.routine_read_privilege();
        let routine_why = "reading the stored routines of whole databases";
        lacks.want(routine_priv, routine_db, routine_table, routine_why);
        let routines = catalog::routines(source, src, &d.src).await.unwrap_or_default();
        if let Some((kind, name)) = routines.first() {
            let body = catalog::show_create_routine(source, src, &d.src, kind, name).await;
            let failed = match body {
                Ok(r) if r.create.is_empty() => Some(format!("SHOW CREATE {kind} {}.{name} returned no body", d.src)),
                Err(e) if denied(server_code(&e)) => Some(e.to_string()),
                _ => None,
            };
            if let Some(t) = failed {
                lacks.refused(routine_priv, scope(routine_db, routine_table), routine_why, t);
            }
        }
    }

    /// SELECT on the selected tables (the first 500), in SHOW GRANTS and tried.
    async fn table_reads(&self, src: &mut Conn, lacks: &mut Lacking<'_>) {
        for t in self.tables.iter().take(500) {
            let whole = self.dbs.iter().any(|d| d.src == t.src_db && d.whole);
            if !whole {
                lacks.want("SELECT", Some(&t.src_db), Some(&t.src_table), READING_TABLES);
            }
            let sql = format!("SELECT * FROM {} LIMIT 0", qt(&t.src_db, &t.src_table));
            if let Err(e) = src.query_drop(&sql).await.map_err(self.source.err(sql.clone())) {
                if denied(server_code(&e)) {
                    let sc = if whole { scope(Some(&t.src_db), None) } else { scope(Some(&t.src_db), Some(&t.src_table)) };
                    lacks.refused("SELECT", sc, READING_TABLES, e.to_string());
                }
            } else if lacks.parsed() {
                // The server let it through (a role, a wildcard we read differently): it is there.
                lacks.missing.retain(|(p, s), _| !(p == "SELECT" && (*s == scope(Some(&t.src_db), Some(&t.src_table)))));
            }
        }
    }

    /// The copy's snapshot lock, the binlog position (tried) and, with incremental sync, the
    /// binlog dump (tried where SHOW GRANTS does not show it).
    async fn binlog_reads(&self, src: &mut Conn, lacks: &mut Lacking<'_>) {
        let (source, f) = (&self.source, lacks.flavor);
        let monitor = f.binlog_monitor_privilege();
        let mut needs_monitor = self.spec.incremental;
        if self.spec.initial_sync.data {
            // The engine reads the position under the snapshot's lock when the source has a binlog.
            let binlog = Flavor::binlog_enabled(source, src).await.unwrap_or(true);
            for p in f.snapshot_privileges(binlog) {
                if p == monitor {
                    needs_monitor = true;
                } else {
                    lacks.want(p, None, None, "FLUSH TABLES WITH READ LOCK, for the copy's consistent snapshot");
                }
            }
        }
        let mut pos = None;
        if needs_monitor {
            let why = "reading the binlog position";
            lacks.want(monitor, None, None, why);
            match f.current_file_position(source, src).await {
                Err(e) if denied(server_code(&e)) => lacks.refused(monitor, "*.*".into(), why, e.to_string()),
                Ok(Some(p)) => {
                    lacks.missing.remove(&(monitor.to_string(), "*.*".to_string()));
                    pos = Some((p.file, p.pos));
                }
                _ => {}
            }
        }
        if self.spec.incremental && lacks.parsed() && !granted(f, &lacks.grants, "REPLICATION SLAVE", None, None) {
            // SHOW GRANTS may not show everything (roles not active by default): ask the server.
            if try_binlog_dump(source, pos).await != Some(true) {
                lacks.missing.insert(("REPLICATION SLAVE".into(), "*.*".into()), "reading the binlog as a replica does");
            }
        }
    }

    /// Item 5, target side: ALL on the target databases, on ferry's metadata database and, with
    /// incremental sync, on the databases of its copies of the source tables' definitions (see
    /// `tracker`), checked in SHOW GRANTS and by creating and dropping a scratch table in each.
    ///
    /// On MySQL 8.0.30+ with `sql_generate_invisible_primary_key` ON, every session of ferry's
    /// turns it off (see `db::Server`), which takes SESSION_VARIABLES_ADMIN: without it each table
    /// created without a primary key (the source's keyless tables, the definition copies) would
    /// get one more column, and the engine refuses to write. Required only then, and tried.
    pub(super) async fn target_privileges(&mut self) {
        let id = "target-privileges";
        let Some(mut tgt) = self.tgt.take() else {
            return self.unreachable(&[id], Role::Target);
        };
        let target = self.target.clone();
        let user = current_user(&target, &mut tgt).await;
        let grants = read_grants(&mut tgt).await;
        let dbs = self.target_databases();
        // The trial in ferry's own database also times writing rows the size of the source's.
        let payload = self.source_sample().await.map(|r| (r.bytes / r.rows).clamp(1, 1 << 20) as usize);
        let mut missing: BTreeSet<(String, String)> = BTreeSet::new();
        let mut tried_fail = Vec::new();
        for db in &dbs {
            if !grants.is_empty() && TARGET_PRIVILEGES.iter().any(|p| !has_privilege(&grants, p, Some(db), None)) {
                missing.insert(("ALL PRIVILEGES".into(), scope(Some(db), None)));
            }
            let measure = payload.filter(|_| *db == self.spec.metadata_database);
            match try_create_drop(&target, &mut tgt, db, measure).await {
                Ok(Some(w)) => self.target_write = Some(w),
                Ok(None) => {}
                Err(e) => {
                    if denied(server_code(&e)) {
                        missing.insert(("ALL PRIVILEGES".into(), scope(Some(db), None)));
                    }
                    tried_fail.push(e.to_string());
                }
            }
        }
        let gipk_note = self.gipk_trial(&mut tgt, &mut missing, &mut tried_fail).await;
        self.tgt = Some(tgt);
        if missing.is_empty() && tried_fail.is_empty() {
            return self.pass(id, format!("{user} may create, write and drop in {}{gipk_note}", dbs.join(", ")));
        }
        let (list, remedy) = if missing.is_empty() {
            ("nothing in SHOW GRANTS, but a trial failed".to_string(), "see the message".to_string())
        } else {
            grant_statements(&missing, &user)
        };
        let mut msg = format!("{user} on the target {} lacks {list}{gipk_note}", target.address);
        if let Some(t) = tried_fail.first() {
            msg.push_str(&format!(" (tried: {t})"));
        }
        self.fail(id, msg, remedy);
    }

    /// The databases ferry writes on the target: the selected databases' targets, its metadata
    /// database and, with incremental sync, those of its table-definition copies.
    fn target_databases(&self) -> Vec<String> {
        let mut dbs: Vec<String> = Vec::new();
        for d in &self.dbs {
            if !dbs.contains(&d.dst) {
                dbs.push(d.dst.clone());
            }
        }
        dbs.push(self.spec.metadata_database.clone());
        if self.spec.incremental {
            let tracker = crate::target::tracker::SchemaTracker::new(&self.spec.metadata_database, &self.task.id());
            for d in &self.dbs {
                let shadow = tracker.shadow_db(&d.src);
                if !dbs.contains(&shadow) {
                    dbs.push(shadow);
                }
            }
        }
        dbs
    }

    /// With sql_generate_invisible_primary_key ON, tries turning it off in the session as ferry's
    /// sessions do; returns the note for the item's message.
    async fn gipk_trial(&self, tgt: &mut Conn, missing: &mut BTreeSet<(String, String)>, tried_fail: &mut Vec<String>) -> String {
        let gipk: Option<i64> = crate::db::query_scalar(tgt, "SELECT @@GLOBAL.sql_generate_invisible_primary_key").await.ok().flatten();
        if gipk != Some(1) {
            return String::new();
        }
        let privilege = self.tgt_flavor.as_ref().map_or("SESSION_VARIABLES_ADMIN", |f| f.session_variables_privilege());
        let sql = "SET SESSION sql_generate_invisible_primary_key = OFF";
        match tgt.query_drop(sql).await.map_err(self.target.err(sql)) {
            Err(e) if denied(server_code(&e)) => {
                missing.insert((privilege.to_string(), "*.*".into()));
                tried_fail.push(e.to_string());
                format!(
                    "; sql_generate_invisible_primary_key is ON on the target and ferry turns it off in its sessions, \
                     else tables without a primary key get an extra column there ({privilege}, or SET GLOBAL sql_generate_invisible_primary_key = OFF)"
                )
            }
            _ => "; sql_generate_invisible_primary_key is ON on the target, and ferry may turn it off in its sessions".into(),
        }
    }
}

const READING_TABLES: &str = "reading the tables";
const READING_VIEWS: &str = "reading the views of whole databases";

/// What the source's user lacks, found so far.
struct Lacking<'f> {
    flavor: &'f Flavor,
    /// SHOW GRANTS, parsed; empty when it could not be read (then only trials count).
    grants: Vec<Grant>,
    /// (privilege, scope) pairs still missing, with what each is for.
    missing: BTreeMap<(String, String), &'static str>,
    /// What the server refused when tried.
    refused: Vec<String>,
}

impl Lacking<'_> {
    fn parsed(&self) -> bool {
        !self.grants.is_empty()
    }

    /// `privilege` on `db`.`table` is needed: missing unless SHOW GRANTS (where read) grants it
    /// or one that covers it.
    fn want(&mut self, privilege: &str, db: Option<&str>, table: Option<&str>, why: &'static str) {
        if self.parsed() && !granted(self.flavor, &self.grants, privilege, db, table) {
            self.missing.insert((privilege.to_string(), scope(db, table)), why);
        }
    }

    /// A trial the server refused: `privilege` on `scope` is missing, whatever SHOW GRANTS says.
    fn refused(&mut self, privilege: &str, scope: String, why: &'static str, error: String) {
        self.missing.insert((privilege.to_string(), scope), why);
        self.refused.push(error);
    }
}

/// Privileges ferry's target sessions use in its databases (what ALL covers).
const TARGET_PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "CREATE VIEW",
    "SHOW VIEW",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "TRIGGER",
    "REFERENCES",
];

/// Creates and drops a scratch table in `db` (and `db` itself when it is not there yet).
/// Several tasks may share a target (many-to-one): the database lock keeps another precheck or
/// engine from creating the database, or dropping it, while this trial runs.
/// With `measure` (a row size in bytes), also times writing such rows into the scratch table.
async fn try_create_drop(target: &Server, conn: &mut Conn, db: &str, measure: Option<usize>) -> Result<Option<WriteSample>> {
    crate::db::lock_databases(target, conn, &[db]).await?;
    let result = create_drop_locked(target, conn, db, measure).await;
    crate::db::unlock_databases(conn, &[db]).await;
    result
}

async fn create_drop_locked(target: &Server, conn: &mut Conn, db: &str, measure: Option<usize>) -> Result<Option<WriteSample>> {
    let exists: Option<String> = conn
        .exec_first("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", (db,))
        .await
        .map_err(target.err("listing databases"))?;
    let scratch = qt(db, &format!("ferry_precheck_{}", std::process::id()));
    let mut steps = Vec::new();
    if exists.is_none() {
        steps.push(format!("CREATE DATABASE {}", q(db)));
    }
    steps.push(format!("CREATE TABLE {scratch} (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, v LONGBLOB NULL) ENGINE=InnoDB"));
    steps.push(format!("INSERT INTO {scratch} VALUES (1, NULL)"));
    steps.push(format!("ALTER TABLE {scratch} ADD KEY ferry_k (id)"));
    let mut result = Ok(None);
    for s in &steps {
        if let Err(e) = conn.query_drop(s).await {
            result = Err(target.err(s.clone())(e));
            break;
        }
    }
    if let (Ok(_), Some(row_bytes)) = (&result, measure) {
        result = time_writes(target, conn, &scratch, row_bytes).await.map(Some);
    }
    if result.is_ok() {
        let drop = format!("DROP TABLE {scratch}");
        if let Err(e) = conn.query_drop(&drop).await {
            result = Err(target.err(drop)(e));
        }
    }
    // Leave nothing behind, whatever step failed. A database this created goes only when empty:
    // a table in it is not ours to drop.
    let _ = conn.query_drop(format!("DROP TABLE IF EXISTS {scratch}")).await;
    if exists.is_none() {
        let tables: Option<u64> =
            conn.exec_first("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", (db,)).await.unwrap_or(None);
        if tables == Some(0) {
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS {}", q(db))).await;
        }
    }
    result
}

/// Opens a non-blocking binlog dump (server id 0: it registers no replica and kicks none off)
/// and reads one event. Some(false): refused for lack of REPLICATION SLAVE.
async fn try_binlog_dump(source: &Server, pos: Option<(String, u64)>) -> Option<bool> {
    let conn = source.connect(Session::Control).await.ok()?;
    let (file, p) = pos.unwrap_or_default();
    let req = BinlogStreamRequest::new(0).with_non_blocking().with_filename(file.as_bytes()).with_pos(p.max(4));
    let mut stream = match conn.get_binlog_stream(req).await {
        Ok(s) => s,
        Err(mysql_async::Error::Server(e)) if denied(Some(e.code)) => return Some(false),
        Err(e) => {
            debug!(error = %e, "binlog dump trial");
            return None;
        }
    };
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next()).await;
    let r = match first {
        Ok(Some(Err(mysql_async::Error::Server(e)))) if denied(Some(e.code)) => Some(false),
        Ok(Some(Ok(_))) | Ok(None) => Some(true),
        other => {
            debug!(?other, "binlog dump trial");
            None
        }
    };
    let _ = stream.close().await;
    r
}
