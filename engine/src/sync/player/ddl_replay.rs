//! DDL replay: a schema change read from the binlog, checked against the live selection,
//! rewritten to the target's names, run in the session it ran in on the source, and followed by
//! the selection (renames) and ferry's records; what is not replayed is logged or listed in the
//! status.

use std::collections::HashMap;

use ferry_crds::{DdlErrorPolicy, SkippedSchemaChange};
use mysql_async::prelude::*;
use tracing::{info, warn};

use super::Player;
use crate::db::Session;
use crate::db::flavor::Position;
use crate::error::{Error, Result};
use crate::plan::selection::LiveSelection;
use crate::source::binlog::{StatementContext, statement_bytes};
use crate::sql::ddl::{Ddl, DdlKind, ObjName, parse_ddl, retain_objects, rewrite_alter_selected_columns, rewrite_ddl};
use crate::target::meta::TableState;

/// Each copied table's earliest copy snapshot.
pub(super) type Snapshots = std::collections::BTreeMap<(String, String), Position>;

/// What became of a schema change.
enum Replayed {
    /// Run on the target; renames of selected tables followed (for the status).
    Applied(Vec<String>),
    /// Not about the selected objects.
    NotSelected(String),
    /// About a selected object, deliberately not run (listed in the status).
    Withheld(String),
}

/// A schema change's outcome: Err(reason) when it cannot be replayed.
type Outcome = std::result::Result<Replayed, String>;

impl Player {
    /// Replays one schema change (every lane has committed what came before it). A statement
    /// that cannot be replayed fails the task or, under `onDdlError: Skip`, is listed in the status.
    pub(super) async fn schema_change(
        &self,
        conn: &mut mysql_async::Conn,
        selection: &mut LiveSelection,
        snapshots: &Snapshots,
        (db, sql, context): (&str, &str, &StatementContext),
        pos: &Position,
    ) -> Result<()> {
        let outcome = self.replay_ddl(conn, selection, snapshots, (db, sql, context), pos).await?;
        let statement = crate::db::short(sql).to_string();
        match outcome {
            Ok(Replayed::Applied(followed)) => {
                info!(%pos, statement = %statement, "schema change replayed");
                self.reporter.update(|s| {
                    let sc = s.schema_changes.get_or_insert_with(Default::default);
                    sc.applied += 1;
                    sc.followed_renames.extend(followed);
                });
            }
            Ok(Replayed::Withheld(reason)) => {
                warn!(%pos, statement = %statement, reason = %reason, "schema change withheld");
                self.record_skipped(pos, statement, reason);
            }
            Ok(Replayed::NotSelected(why)) => {
                // Never silent: whatever the binlog holds that the target does not get is logged.
                warn!(%pos, statement = %statement, reason = %why, "statement not replayed");
            }
            Err(reason) => match self.spec.on_ddl_error {
                DdlErrorPolicy::Fail => {
                    return Err(Error::SchemaChange { position: pos.to_string(), statement: sql.to_string(), reason });
                }
                DdlErrorPolicy::Skip => {
                    warn!(%pos, statement = %statement, reason = %reason, "schema change skipped (onDdlError: Skip)");
                    self.record_skipped(pos, statement, reason);
                }
            },
        }
        Ok(())
    }

    /// Lists a schema change the target did not get in the status (the last 50).
    fn record_skipped(&self, pos: &Position, statement: String, reason: String) {
        self.reporter.update(|s| {
            let sc = s.schema_changes.get_or_insert_with(Default::default);
            sc.skipped.push(SkippedSchemaChange { position: pos.to_string(), statement, reason });
            let excess = sc.skipped.len().saturating_sub(50);
            sc.skipped.drain(..excess);
        });
    }

    /// Runs a replayed statement in the session it ran in on the source, as a replica does: its
    /// character_set_client, collation_connection, collation_server and sql_mode (so that a view
    /// or routine records them as the source's did, and string literals and zero dates mean what
    /// they meant there). What the target lacks (a collation, a mode) is left at ferry's own
    /// session setting, with a warning. The session is ferry's again afterwards. The outer error is
    /// a lost connection, the inner one the statement's own.
    async fn run_as_on_source(
        &self,
        conn: &mut mysql_async::Conn,
        context: &StatementContext,
        bytes: Vec<u8>,
    ) -> Result<std::result::Result<(), mysql_async::Error>> {
        let mut sets = Vec::new();
        if let Some((client, connection, server)) = context.charset {
            let names = self.source_collations().await?;
            let name = |id: u16| names.get(&id).filter(|(n, c)| plain_name(n) && plain_name(c));
            if let (Some((_, cs_client)), Some((coll_conn, _))) = (name(client), name(connection)) {
                sets.push(vec![
                    format!("character_set_client = {cs_client}, collation_connection = {coll_conn}"),
                    // The target lacks the collation: the character set, with its default collation there.
                    format!(
                        "character_set_client = {cs_client}, character_set_connection = {}",
                        name(connection).map_or("utf8mb4", |(_, c)| c.as_str())
                    ),
                ]);
            }
            if let Some((coll_server, _)) = name(server) {
                sets.push(vec![format!("collation_server = {coll_server}")]);
            }
        }
        if let Some(bits) = context.sql_mode {
            let (modes, lacking) = self.flavor.sql_mode_for(bits, &self.target_flavor);
            if !lacking.is_empty() {
                warn!(modes = %lacking.join(","), "the target lacks sql_mode(s) the statement ran with on the source; replaying without them");
            }
            sets.push(vec![format!("sql_mode = {}", crate::db::lit(&modes))]);
        }
        let mut changed = false;
        for choices in &sets {
            let mut refused = None;
            for set in choices {
                match conn.query_drop(format!("SET SESSION {set}")).await {
                    Ok(()) => {
                        changed = true;
                        refused = None;
                        break;
                    }
                    Err(mysql_async::Error::Server(e)) => refused = Some(e),
                    Err(e) => return Err(self.target.err("setting the statement's session")(e)),
                }
            }
            if let Some(e) = refused {
                warn!(setting = %choices[0], error = %e, "the target refused the source session's setting; replaying with ferry's own");
            }
        }
        let ran = conn.query_drop(bytes).await;
        if changed {
            let restore =
                format!("SET NAMES utf8mb4, SESSION collation_server = DEFAULT, SESSION sql_mode = '{}'", crate::db::WRITE_SQL_MODE);
            conn.query_drop(&restore).await.map_err(self.target.err("restoring ferry's session"))?;
        }
        Ok(ran)
    }

    /// The source's collations by id: what a QUERY event's character set ids name.
    async fn source_collations(&self) -> Result<&HashMap<u16, (String, String)>> {
        self.collations
            .get_or_try_init(|| async {
                let mut src = self.source.connect(Session::Control).await?;
                let rows: Vec<(u64, String, String)> = src
                    .query("SELECT ID, COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL")
                    .await
                    .map_err(self.source.err("reading the source's collations"))?;
                let _ = src.disconnect().await;
                Ok(rows.into_iter().filter_map(|(id, n, c)| Some((u16::try_from(id).ok()?, (n, c)))).collect())
            })
            .await
    }

    /// Ok(Err(reason)) when the statement cannot be replayed; Err for lost connections.
    async fn replay_ddl(
        &self,
        conn: &mut mysql_async::Conn,
        selection: &mut LiveSelection,
        snapshots: &Snapshots,
        (db, sql, context): (&str, &str, &StatementContext),
        pos: &Position,
    ) -> Result<Outcome> {
        let ddl = match parse_ddl(sql, db) {
            Ok(d) => d,
            Err(e) => return Ok(Err(format!("cannot parse it: {e}"))),
        };
        // The source's own layout follows every schema change, replayed to the target or not.
        let wanted = |o: &ObjName| selection.table(&o.db, &o.name).is_some();
        self.tracker.follow(&self.target, conn, &ddl, (sql, db), &wanted).await?;
        if copied_after(&ddl, snapshots, pos) {
            return Ok(Ok(Replayed::NotSelected("the table's copy was read after it: it has the change".into())));
        }
        let rewritten = match self.rewritten(&ddl, selection, (db, sql)) {
            Ok(r) => r,
            Err(outcome) => return Ok(outcome),
        };
        let bytes = match statement_bytes(&rewritten, context) {
            Ok(b) => b,
            Err(e) => return Ok(Err(format!("cannot rewrite it safely: {e}"))),
        };
        if let Err(reason) = self.run_replayed(conn, &ddl, selection, context, (&rewritten, bytes), pos).await? {
            return Ok(Err(reason));
        }
        let followed = self.follow(conn, &ddl, selection).await?;
        Ok(Ok(Replayed::Applied(followed)))
    }

    /// The statement as the target runs it: only its selected objects, in target names. Err: the
    /// outcome when it is not run.
    fn rewritten(&self, ddl: &Ddl, selection: &LiveSelection, (db, sql): (&str, &str)) -> std::result::Result<String, Outcome> {
        let subset = selected(ddl, selection)?;
        if let Some(what) = self.withheld(ddl, selection) {
            return Err(Ok(Replayed::Withheld(format!(
                "{what} not replayed: the target table is merged with rows of other tasks (merge: true), which it would take away too; \
                 do it on the target by hand if that is meant"
            ))));
        }
        let table_ddl = |o: &ObjName| selection.table(&o.db, &o.name).is_some_and(|t| t.ddl);
        let unsafe_rewrite = |e: String| Err(format!("cannot rewrite it safely: {e}"));
        // Only the selected objects of a multi-object DROP or RENAME.
        let kept = match retain_objects(sql, db, &table_ddl) {
            Ok(Some(k)) => k,
            Ok(None) => return Err(not_selected("no selected table in it")),
            Err(e) => return Err(unsafe_rewrite(e.to_string())),
        };
        let names = selection.names();
        match &subset {
            Some(keep) => match rewrite_alter_selected_columns(&kept, db, &names, keep) {
                Ok(Some(r)) => Ok(r),
                Ok(None) => Err(not_selected("it changes only columns the task does not select")),
                Err(e) => Err(unsafe_rewrite(e.to_string())),
            },
            None => rewrite_ddl(&kept, db, &names).map_err(|e| unsafe_rewrite(e.to_string())),
        }
    }

    /// A merged target table holds other tasks' rows too: what would take those away is withheld
    /// (and listed in the status).
    fn withheld(&self, ddl: &Ddl, selection: &LiveSelection) -> Option<String> {
        let merged = |o: &ObjName| self.merged(selection, o);
        match &ddl.kind {
            DdlKind::Truncate { table } if merged(table) => Some(format!("TRUNCATE of {table}")),
            DdlKind::DropTable { tables, .. } if tables.iter().any(merged) => Some("DROP TABLE".to_string()),
            DdlKind::RenameTable { pairs } if pairs.iter().any(|(from, _)| merged(from)) => Some("RENAME TABLE".to_string()),
            DdlKind::AlterTable(a) if merged(&a.table) && a.rename_to().is_some() => Some("ALTER TABLE ... RENAME".to_string()),
            _ => None,
        }
    }

    /// The selected table `o` writes a merged target table.
    fn merged(&self, selection: &LiveSelection, o: &ObjName) -> bool {
        selection.table(&o.db, &o.name).is_some_and(|t| self.merges.contains_key(&(t.dst_db, t.dst_table)))
    }

    /// Records and runs the rewritten statement. Ok(Err(reason)) when the target refused it.
    async fn run_replayed(
        &self,
        conn: &mut mysql_async::Conn,
        ddl: &Ddl,
        selection: &LiveSelection,
        context: &StatementContext,
        (rewritten, bytes): (&str, Vec<u8>),
        pos: &Position,
    ) -> Result<std::result::Result<(), String>> {
        // What another task writing a merged table ran first already is taken as applied.
        let on_merged = match &ddl.kind {
            DdlKind::CreateTable { table, .. } | DdlKind::CreateIndex { table, .. } | DdlKind::DropIndex { table, .. } => {
                self.merged(selection, table)
            }
            DdlKind::AlterTable(a) => self.merged(selection, &a.table),
            _ => false,
        };
        let first = self.meta.record_ddl(&self.target, conn, pos, rewritten).await?;
        // A database created here must not be dropped by another task's precheck trial that found
        // it missing a moment before (see `lock_databases`).
        let created_db = match &ddl.kind {
            DdlKind::CreateDatabase { db, .. } => Some(selection.names().db(db).to_string()),
            _ => None,
        };
        if let Some(d) = &created_db {
            crate::db::lock_databases(&self.target, conn, &[d]).await?;
        }
        let ran = self.run_as_on_source(conn, context, bytes).await?;
        if let Some(d) = &created_db {
            crate::db::unlock_databases(conn, &[d]).await;
        }
        match ran {
            Ok(()) => {}
            // Replayed after a crash that came between the statement and the checkpoint.
            Err(mysql_async::Error::Server(ref se)) if !first && crate::codes::ALREADY_APPLIED.contains(&se.code) => {
                info!(%pos, code = se.code, "schema change found applied already");
            }
            // The same change on another source, replayed by the task that reads it.
            Err(mysql_async::Error::Server(ref se)) if on_merged && crate::codes::ALREADY_APPLIED.contains(&se.code) => {
                info!(%pos, code = se.code, "schema change of a merged table found applied already (by another task writing it)");
            }
            Err(mysql_async::Error::Server(se)) => {
                return Ok(Err(format!(
                    "the target refused `{}`: ERROR {} ({}): {}",
                    crate::db::short(rewritten),
                    se.code,
                    se.state,
                    se.message
                )));
            }
            Err(other) => return Err(self.target.err("replaying a schema change")(other)),
        }
        Ok(Ok(()))
    }

    /// What the change did to the selection: renames of selected tables followed (the lines for
    /// the status), a table created by replay recorded as one to follow, never to copy.
    async fn follow(&self, conn: &mut mysql_async::Conn, ddl: &Ddl, selection: &mut LiveSelection) -> Result<Vec<String>> {
        let mut followed = Vec::new();
        let renames: Vec<(ObjName, ObjName)> = match &ddl.kind {
            DdlKind::RenameTable { pairs } => pairs.clone(),
            DdlKind::AlterTable(a) => a.rename_to().map(|to| vec![(a.table.clone(), to.clone())]).unwrap_or_default(),
            _ => Vec::new(),
        };
        for (from, to) in renames {
            let spec_name = selection.spec_name(&from.db, &from.name);
            if let Some(line) = selection.follow_rename(&from.db, &from.name, &to.db, &to.name) {
                if let Some(spec_name) = spec_name {
                    self.meta.record_rename(&self.target, conn, &from.db, &spec_name, &from.name, &to.name).await?;
                }
                followed.push(line);
            }
        }
        if let DdlKind::CreateTable { table, .. } = &ddl.kind
            && let Some(sel) = selection.table(&table.db, &table.name)
        {
            // Created by replay, rows to follow from the binlog: never a table to copy.
            self.meta
                .set_table(&self.target, conn, (&table.db, &table.name), (&sel.dst_db, &sel.dst_table), TableState::Done, None)
                .await?;
        }
        Ok(followed)
    }
}

/// A table copied after this statement was created from the source's definition, which has it
/// already: true when every table the statement writes was.
fn copied_after(ddl: &Ddl, snapshots: &Snapshots, pos: &Position) -> bool {
    let copied_later = |o: &ObjName| snapshots.get(&(o.db.clone(), o.name.clone())).is_some_and(|p| pos < p);
    let written: Vec<&ObjName> = match &ddl.kind {
        DdlKind::CreateTable { table, .. } | DdlKind::Truncate { table } => vec![table],
        DdlKind::CreateIndex { table, .. } | DdlKind::DropIndex { table, .. } => vec![table],
        DdlKind::AlterTable(a) => vec![&a.table],
        DdlKind::RenameTable { pairs } => pairs.iter().map(|(_, to)| to).collect(),
        _ => Vec::new(),
    };
    !written.is_empty() && written.iter().all(|o| copied_later(o))
}

fn not_selected(why: &str) -> Outcome {
    Ok(Replayed::NotSelected(why.to_string()))
}

/// Whether the selection takes the statement: Ok with the selected columns of an ALTER TABLE of
/// a table selected by columns (None: all), Err with the outcome when it is not replayed.
fn selected(ddl: &Ddl, selection: &LiveSelection) -> std::result::Result<Option<Vec<String>>, Outcome> {
    let table_ddl = |o: &ObjName| selection.table(&o.db, &o.name).is_some_and(|t| t.ddl);
    let whole_ddl = |db: &str| selection.is_whole(db) && selection.database(db).is_some_and(|(_, ddl)| ddl);
    let table = |o: &ObjName| if table_ddl(o) { Ok(None) } else { Err(not_selected("the table is not selected")) };
    match &ddl.kind {
        DdlKind::Other { reason } => Err(not_selected(reason)),
        DdlKind::CreateTrigger { .. } | DdlKind::DropTrigger { .. } => {
            Err(not_selected("triggers are not replayed: their effects arrive as row changes"))
        }
        DdlKind::CreateDatabase { db, .. } | DdlKind::DropDatabase { db, .. } | DdlKind::AlterDatabase { db } => {
            if whole_ddl(db) {
                Ok(None)
            } else {
                Err(not_selected("the database is not selected whole"))
            }
        }
        DdlKind::CreateView { view: name, .. }
        | DdlKind::AlterView { view: name, .. }
        | DdlKind::CreateRoutine { name, .. }
        | DdlKind::AlterRoutine { name, .. }
        | DdlKind::DropRoutine { name, .. } => {
            if whole_ddl(&name.db) {
                Ok(None)
            } else {
                Err(not_selected("views and routines follow databases selected whole"))
            }
        }
        DdlKind::DropView { views, .. } => {
            if views.iter().any(|v| whole_ddl(&v.db)) {
                Ok(None)
            } else {
                Err(not_selected("views follow databases selected whole"))
            }
        }
        DdlKind::CreateTable { table: t, like, .. } => {
            table(t)?;
            match like {
                Some(l) if selection.table(&l.db, &l.name).is_none() => {
                    Err(Err(format!("CREATE TABLE ... LIKE {l}: the task does not synchronize {l}, so the target lacks it")))
                }
                _ => Ok(None),
            }
        }
        DdlKind::AlterTable(a) => {
            table(&a.table)?;
            Ok(selection.table(&a.table.db, &a.table.name).and_then(|sel| sel.columns.map(|cs| cs.into_iter().map(|(s, _)| s).collect())))
        }
        DdlKind::Truncate { table: t } | DdlKind::CreateIndex { table: t, .. } | DdlKind::DropIndex { table: t, .. } => table(t),
        DdlKind::DropTable { .. } | DdlKind::RenameTable { .. } => Ok(None),
    }
}

/// A collation or character set name that can stand unquoted in a SET.
fn plain_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
