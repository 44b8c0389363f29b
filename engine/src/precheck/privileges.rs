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
use super::grants::{current_user, grant_statements, granted, has_privilege, read_grants, scope};
use super::{Check, denied, server_code};

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
        let source = self.source.clone();
        let user = current_user(&source, &mut src).await;
        let grants = read_grants(&mut src).await;
        // (privilege, scope) pairs still missing, with what each is for.
        let mut missing: BTreeMap<(String, String), &str> = BTreeMap::new();
        let mut tried_fail: Vec<String> = Vec::new();
        let parsed = !grants.is_empty();
        let want = |missing: &mut BTreeMap<(String, String), &str>, p: &str, db: Option<&str>, table: Option<&str>, why: &'static str| {
            if parsed && !granted(&f, &grants, p, db, table) {
                missing.insert((p.to_string(), scope(db, table)), why);
            }
        };
        let schema = self.spec.initial_sync.schema;
        let (routine_priv, routine_db, routine_table) = f.routine_read_privilege();
        let routine_why = "reading the stored routines of whole databases";
        for d in self.dbs.iter().filter(|d| d.whole) {
            want(&mut missing, "SELECT", Some(&d.src), None, "reading the tables");
            if !schema {
                continue;
            }
            // A whole database brings its views and routines (those there now, and views created
            // later); a user may not even see those it lacks privileges on.
            want(&mut missing, "SHOW VIEW", Some(&d.src), None, "reading the views of whole databases");
            let views = catalog::views(&source, &mut src, &d.src).await.unwrap_or_default();
            if !views.is_empty() {
                let sql = format!("SHOW CREATE VIEW {}", qt(&d.src, &views[0]));
                if let Err(e) = src.query_drop(&sql).await.map_err(source.err(sql.clone()))
                    && denied(server_code(&e))
                {
                    // SHOW CREATE VIEW takes SELECT as well; the refusal names the one it lacked.
                    let (p, why) = if e.to_string().contains("SELECT command denied") {
                        ("SELECT", "reading the tables")
                    } else {
                        ("SHOW VIEW", "reading the views of whole databases")
                    };
                    missing.insert((p.into(), scope(Some(&d.src), None)), why);
                    tried_fail.push(e.to_string());
                }
            }
            want(&mut missing, routine_priv, routine_db, routine_table, routine_why);
            let routines = catalog::routines(&source, &mut src, &d.src).await.unwrap_or_default();
            if let Some((kind, name)) = routines.first() {
                let body = catalog::show_create_routine(&source, &mut src, &d.src, kind, name).await;
                let failed = match body {
                    Ok(r) if r.create.is_empty() => Some(format!("SHOW CREATE {kind} {}.{name} returned no body", d.src)),
                    Err(e) if denied(server_code(&e)) => Some(e.to_string()),
                    _ => None,
                };
                if let Some(t) = failed {
                    missing.insert((routine_priv.to_string(), scope(routine_db, routine_table)), routine_why);
                    tried_fail.push(t);
                }
            }
        }
        for t in self.tables.iter().take(500) {
            let whole = self.dbs.iter().any(|d| d.src == t.src_db && d.whole);
            if !whole {
                want(&mut missing, "SELECT", Some(&t.src_db), Some(&t.src_table), "reading the tables");
            }
            let sql = format!("SELECT * FROM {} LIMIT 0", qt(&t.src_db, &t.src_table));
            if let Err(e) = src.query_drop(&sql).await.map_err(source.err(sql.clone())) {
                if denied(server_code(&e)) {
                    let sc = if whole { scope(Some(&t.src_db), None) } else { scope(Some(&t.src_db), Some(&t.src_table)) };
                    missing.insert(("SELECT".into(), sc), "reading the tables");
                    tried_fail.push(e.to_string());
                }
            } else if parsed {
                // The server let it through (a role, a wildcard we read differently): it is there.
                missing.retain(|(p, s), _| !(p == "SELECT" && (*s == scope(Some(&t.src_db), Some(&t.src_table)))));
            }
        }
        let monitor = f.binlog_monitor_privilege();
        let mut needs_monitor = self.spec.incremental;
        if self.spec.initial_sync.data {
            // The engine reads the position under the snapshot's lock when the source has a binlog.
            let binlog = Flavor::binlog_enabled(&source, &mut src).await.unwrap_or(true);
            for p in f.snapshot_privileges(binlog) {
                if p == monitor {
                    needs_monitor = true;
                } else {
                    want(&mut missing, p, None, None, "FLUSH TABLES WITH READ LOCK, for the copy's consistent snapshot");
                }
            }
        }
        let mut pos = None;
        if needs_monitor {
            want(&mut missing, monitor, None, None, "reading the binlog position");
            let stmt = f.binlog_status_statement();
            match src.query_first::<mysql_async::Row, _>(stmt).await.map_err(source.err(stmt)) {
                Err(e) if denied(server_code(&e)) => {
                    missing.insert((monitor.to_string(), "*.*".into()), "reading the binlog position");
                    tried_fail.push(e.to_string());
                }
                Ok(Some(row)) => {
                    missing.remove(&(monitor.to_string(), "*.*".to_string()));
                    pos = Some((row.get::<String, _>(0).unwrap_or_default(), row.get::<u64, _>(1).unwrap_or(4)));
                }
                _ => {}
            }
        }
        if self.spec.incremental && parsed && !granted(&f, &grants, "REPLICATION SLAVE", None, None) {
            // SHOW GRANTS may not show everything (roles not active by default): ask the server.
            if try_binlog_dump(&source, pos).await != Some(true) {
                missing.insert(("REPLICATION SLAVE".into(), "*.*".into()), "reading the binlog as a replica does");
            }
        }
        self.src = Some(src);
        if missing.is_empty() {
            let how = if parsed { "SHOW GRANTS and trial reads" } else { "trial reads (SHOW GRANTS could not be read)" };
            return self.pass(id, format!("{user} has what the task needs on the source ({how})"));
        }
        let (list, remedy) = grant_statements(&missing.keys().cloned().collect(), &user);
        let mut msg = format!("{user} on the source {} lacks {list}", source.address);
        let mut whys: BTreeMap<&str, &str> = BTreeMap::new();
        for ((p, _), why) in &missing {
            whys.entry(p.as_str()).or_insert(why);
        }
        let whys: Vec<String> = whys.iter().map(|(p, why)| format!("{p}: {why}")).collect();
        if !whys.is_empty() {
            msg.push_str(&format!(" ({})", whys.join("; ")));
        }
        if let Some(t) = tried_fail.first() {
            msg.push_str(&format!(" (tried: {t})"));
        }
        self.fail(id, msg, remedy);
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
        let parsed = !grants.is_empty();
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
        // The trial in ferry's own database also times writing rows the size of the source's.
        let payload = self.source_sample().await.map(|r| (r.bytes / r.rows).clamp(1, 1 << 20) as usize);
        let mut missing: BTreeSet<(String, String)> = BTreeSet::new();
        let mut tried_fail = Vec::new();
        for db in &dbs {
            if parsed {
                for p in TARGET_PRIVILEGES {
                    if !has_privilege(&grants, p, Some(db), None) {
                        missing.insert(("ALL PRIVILEGES".into(), scope(Some(db), None)));
                        break;
                    }
                }
            }
            let measure = match payload {
                Some(p) if *db == self.spec.metadata_database => Some(p),
                _ => None,
            };
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
        let mut gipk_note = String::new();
        let gipk: Option<i64> =
            crate::db::query_scalar(&mut tgt, "SELECT @@GLOBAL.sql_generate_invisible_primary_key").await.ok().flatten();
        if gipk == Some(1) {
            let privilege = self.tgt_flavor.as_ref().map_or("SESSION_VARIABLES_ADMIN", |f| f.session_variables_privilege());
            let sql = "SET SESSION sql_generate_invisible_primary_key = OFF";
            match tgt.query_drop(sql).await.map_err(target.err(sql)) {
                Err(e) if denied(server_code(&e)) => {
                    missing.insert((privilege.to_string(), "*.*".into()));
                    gipk_note = format!(
                        "; sql_generate_invisible_primary_key is ON on the target and ferry turns it off in its sessions, \
                         else tables without a primary key get an extra column there ({privilege}, or SET GLOBAL sql_generate_invisible_primary_key = OFF)"
                    );
                    tried_fail.push(e.to_string());
                }
                _ => {
                    gipk_note = "; sql_generate_invisible_primary_key is ON on the target, and ferry may turn it off in its sessions".into()
                }
            }
        }
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
