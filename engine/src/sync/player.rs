//! Incremental sync: reads the source's binlog from the checkpoint and applies every selected
//! change to the target, grouping whole source transactions into target transactions that move
//! the checkpoint with them. Survives lost connections on either side by resuming from the
//! committed checkpoint; a second engine for the task fences this one out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_crds::{Checkpoint, DdlErrorPolicy, IncrementalSyncStatus, Phase, SkippedSchemaChange, SyncTaskSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mysql_async::Value;
use mysql_async::prelude::*;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::db::flavor::{Flavor, Position};
use crate::db::{Server, Session, qt};
use crate::error::{Error, Result};
use crate::plan::mapping::{ColumnMap, TableMap};
use crate::plan::selection::{DmlKinds, LiveSelection, Selected};
use crate::source::binlog::{BinlogReader, Event, RowKind, StatementContext, TableMap as BinlogTable, statement_bytes};
use crate::sql::ddl::{DdlKind, parse_ddl, retain_objects, rewrite_alter_selected_columns, rewrite_ddl};
use crate::status::Reporter;
use crate::sync::applier::{ApplyColumn, ApplyTable, Cascade, Group, Lit, commit_batch};
use crate::target::meta::{APPLY_SLOTS, Meta, TableState, TaskLock, slot_of};

/// A group commits when it holds this many source row changes...
const GROUP_ROWS: u64 = 20_000;
/// ... or this much memory (a larger source transaction is written in parts, committed once).
const GROUP_BYTES: usize = 16 << 20;
/// ... or has waited this long; and at once when the binlog has nothing more right now.
const GROUP_AGE: Duration = Duration::from_millis(200);
const HEARTBEAT: Duration = Duration::from_secs(1);

pub struct Player {
    pub source: Server,
    pub target: Server,
    pub flavor: Flavor,
    pub target_flavor: Flavor,
    /// A signal's stop: drain, move every slot, return Interrupted.
    pub stop: crate::stop::Stop,
    /// The source's collations by id (name, character set), read when a statement needs them.
    pub collations: tokio::sync::OnceCell<HashMap<u16, (String, String)>>,
    pub meta: Arc<Meta>,
    pub server_id: u32,
    /// The task's spec: its selection, DDL and DML rules, and onDdlError.
    pub spec: SyncTaskSpec,
    /// Merged target tables (many-to-one), by target (database, table).
    pub merges: HashMap<(String, String), crate::plan::mapping::Merge>,
    pub reporter: Arc<Reporter>,
    pub owner: String,
    pub lock: Arc<TaskLock>,
    /// Apply lanes (target sessions) for changes of different tables.
    pub lanes: usize,
    /// The source's table layouts for row events that carry no column names.
    pub tracker: crate::target::tracker::SchemaTracker,
}

/// What the player knows between reconnects.
struct Progress {
    rows: u64,
    txns: u64,
    bytes: u64,
    merge_conflicts: u64,
    /// Since when, and the counts then (rows, transactions, bytes).
    window: (Instant, u64, u64, u64),
    /// Per second: rows, transactions, bytes.
    rates: (u64, u64, u64),
    last_status: Instant,
}

impl Player {
    /// Runs until an error that a reconnect cannot cure.
    pub async fn run(&self) -> Result<()> {
        let mut tgt = self.target.connect(Session::Write).await?;
        let epoch = self.meta.claim(&self.target, &mut tgt, &self.owner).await?;
        let skip: HashMap<(String, String), Position> =
            self.meta.keyless_copy_positions(&self.target, &mut tgt).await?.into_iter().map(|(d, t, p)| ((d, t), p)).collect();
        let followed = self.meta.followed_renames(&self.target, &mut tgt).await?;
        let snapshots = self.meta.copy_snapshots(&self.target, &mut tgt).await?;
        let mut selection = LiveSelection::new(&self.spec, &followed);
        drop(tgt);
        self.reporter.set_phase(Phase::Synchronizing, Some("following the source's binlog".into()));
        let mut progress = Progress {
            rows: 0,
            txns: 0,
            bytes: 0,
            merge_conflicts: 0,
            window: (Instant::now(), 0, 0, 0),
            rates: (0, 0, 0),
            last_status: Instant::now() - Duration::from_secs(5),
        };
        let mut backoff = crate::db::Backoff::default();
        self.stop.set_draining(true);
        let result = loop {
            let started = Instant::now();
            match self.stream(epoch, &skip, &snapshots, &mut selection, &mut progress).await {
                Err(e) if e.is_transient() && !self.stop.requested() => {
                    let wait = backoff.after(started.elapsed());
                    warn!(error = %e, retry_in = ?wait, "connection lost; resuming from the checkpoint");
                    self.reporter.update(|s| s.message = Some(format!("retrying in {wait:?} after: {e}")));
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait() => break Err(Error::Interrupted),
                    }
                }
                other => break other,
            }
        };
        self.stop.set_draining(false);
        result
    }

    async fn stream(
        &self,
        epoch: u64,
        skip: &HashMap<(String, String), Position>,
        snapshots: &Snapshots,
        selection: &mut LiveSelection,
        progress: &mut Progress,
    ) -> Result<()> {
        self.lock.ensure().await?;
        let mut tgt = self.target.connect(Session::Write).await?;
        let cp = self
            .meta
            .checkpoint(&self.target, &mut tgt)
            .await?
            .ok_or_else(|| Error::object(&self.meta.task, "no checkpoint to resume from"))?;
        if cp.epoch != epoch {
            return Err(Error::Fenced);
        }
        // Replay from the lowest slot position meets changes that a faster lane applied already:
        // a transaction is skipped when its slot's position is past the transaction's start.
        let slot_done = if cp.slots.is_empty() { vec![cp.position.clone(); APPLY_SLOTS] } else { cp.slots.clone() };
        let replay_until = slot_done.iter().max().cloned().unwrap_or_else(|| cp.position.clone());
        info!(position = %cp.position, lanes = self.lanes, "reading the binlog");
        let reader = BinlogReader::resume(&self.source, &self.flavor, self.server_id, &cp.position, HEARTBEAT).await?;
        // Decoding runs beside applying: the channel is the only hand-off.
        let (tx, mut rx) = mpsc::channel::<Result<(Event, Position)>>(2048);
        let feeder = tokio::spawn(feed(reader, tx));
        let _stop_feeder = AbortOnDrop(feeder);

        // Each lane writes on its own target session while the next groups fill.
        let (dtx, drx) = mpsc::unbounded_channel::<Result<Committed>>();
        let mut lanes = Lanes {
            lanes: Vec::new(),
            owner: (0..APPLY_SLOTS).map(|s| s % self.lanes).collect(),
            parent: (0..APPLY_SLOTS).collect(),
            done: drx,
            _writers: Vec::new(),
            applied_ts: 0,
            epoch,
            task: self.meta.task.clone(),
            started_at: slot_done,
        };
        for lane in 0..self.lanes {
            let conn = if lane == 0 {
                std::mem::replace(&mut tgt, self.target.connect(Session::Write).await?)
            } else {
                self.target.connect(Session::Write).await?
            };
            let (wtx, wrx) = mpsc::channel::<Write>(1);
            let writer = LaneWriter { lane, target: self.target.clone(), meta: self.meta.clone() };
            lanes._writers.push(AbortOnDrop(tokio::spawn(writer.run(conn, wrx, dtx.clone()))));
            lanes.lanes.push(Lane {
                tx: wtx,
                group: Group::default(),
                txns: 0,
                parts: false,
                started: Instant::now(),
                in_flight: 0,
                durable: cp.position.clone(),
                sent: cp.position.clone(),
                sent_at: Instant::now(),
            });
        }
        drop(dtx);
        // Reads target tables' structure and runs schema changes, between lanes' commits.
        let mut ddl_conn = tgt;
        let lane_bytes = (GROUP_BYTES / self.lanes).max(4 << 20);

        let mut apply = ApplyCache::default();
        // End position and source time of the last complete source transaction seen.
        let mut last_end = cp.position.clone();
        let mut last_ts = 0u32;
        let mut prev = cp.position.clone();
        let mut txn_start = cp.position.clone();
        let mut caught_up = false;
        let mut in_txn = false;
        // The lane the open transaction's changes go to.
        let mut txn_lane: Option<usize> = None;
        // The slot the open transaction wrote first.
        let mut txn_slot: Option<usize> = None;
        let mut stop = self.stop.clone();
        let mut stopping = false;

        loop {
            if stopping && !in_txn {
                // Between source transactions: everything read is committed, every slot moved.
                lanes.maintain(&last_end, last_ts, true).await?;
                lanes.wait_idle(None, progress).await?;
                lanes.commit(0, &last_end, last_ts, true).await?;
                lanes.wait_idle(None, progress).await?;
                info!(position = %last_end, "stopped; every change read is applied and the checkpoint is there");
                self.report(progress, &last_end, lanes.applied_ts, caught_up);
                return Err(Error::Interrupted);
            }
            // Wait no longer than a pending group may: it commits when the binlog goes quiet.
            // Only whole source transactions commit: never while one is half read.
            let wait = if in_txn {
                Duration::from_secs(3600)
            } else if let Some(oldest) = lanes.oldest_pending() {
                GROUP_AGE.saturating_sub(oldest.elapsed())
            } else if lanes.behind(&last_end) {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(3600)
            };
            let item = tokio::select! {
                biased;
                _ = stop.wait(), if !stopping => {
                    stopping = true;
                    continue;
                }
                done = lanes.done.recv() => {
                    let c = done.ok_or_else(writer_stopped)??;
                    lanes.acked(c, progress);
                    caught_up = caught_up || rx.is_empty();
                    self.report(progress, &lanes.low_water(&last_end), lanes.applied_ts, caught_up);
                    continue;
                }
                item = tokio::time::timeout(wait, rx.recv()) => match item {
                    Err(_) => None, // quiet: commit what is pending
                    Ok(None) => return Err(self.lost("the binlog reader stopped")),
                    Ok(Some(item)) => Some(item?),
                },
            };
            let mut quiet = item.is_none();
            if let Some((event, pos)) = item {
                match event {
                    Event::Begin { .. } => {
                        in_txn = true;
                        txn_start = prev.clone();
                        txn_lane = None;
                        txn_slot = None;
                        caught_up = false;
                    }
                    Event::Rows(r) => {
                        // Replayed changes that a lane applied before a restart are skipped before
                        // anything is built for them: the tracked definition may be past them
                        // already (a schema change applied just before the crash).
                        if txn_start < replay_until && txn_start < lanes.started_at[slot_of(&r.table.db, &r.table.table)] {
                            prev = pos;
                            continue;
                        }
                        let Some(Applied { table, copied_at, slot, dml, cascades }) =
                            self.apply_table(&mut apply, skip, selection, &mut ddl_conn, &r.table).await?
                        else {
                            prev = pos;
                            continue;
                        };
                        let applied_before = |p: &Position| txn_start < *p;
                        if copied_at.as_ref().is_some_and(applied_before)
                            || (txn_start < replay_until && applied_before(&lanes.started_at[slot]))
                        {
                            prev = pos;
                            continue; // already on the target (in the table's copy, or by its lane)
                        }
                        // Changes whose foreign-key actions the source ran without logging them:
                        // the target's foreign keys redo them (unless they ran on it before).
                        let cascading = cascades.filter(|c| {
                            !r.no_foreign_key_checks()
                                && !self.flavor.cascades_logged(r.flags)
                                && !c.ran_before(&txn_start, &lanes.started_at, &replay_until)
                        });
                        let host = match txn_lane {
                            None => {
                                let lane = lanes.owner[slot];
                                txn_lane = Some(lane);
                                txn_slot = Some(slot);
                                lane
                            }
                            Some(h) => {
                                if lanes.owner[slot] != h {
                                    // The transaction spans lanes: its tables join for good, in the
                                    // lane it started in, once their lane has committed what it holds.
                                    let home = txn_slot.unwrap_or(slot);
                                    lanes.join(slot, home, &txn_start, last_ts, progress).await?;
                                }
                                h
                            }
                        };
                        if let Some(c) = &cascading {
                            // The tables the cascade reaches or checks join this lane for good:
                            // their changes before it must be on the target, those after it come after.
                            let home = txn_slot.unwrap_or(slot);
                            for &s in &c.slots {
                                if lanes.owner[s] != host {
                                    lanes.join(s, home, &txn_start, last_ts, progress).await?;
                                }
                            }
                        }
                        let l = &mut lanes.lanes[host];
                        if l.group.is_empty() && l.txns == 0 && !l.parts {
                            l.started = Instant::now();
                        }
                        let kind = r.kind;
                        let wanted = match kind {
                            RowKind::Insert => dml.insert,
                            RowKind::Update => dml.update,
                            RowKind::Delete => dml.delete,
                        };
                        if !wanted {
                            prev = pos;
                            continue; // the task does not replay this kind of change for the table
                        }
                        for (before, after) in r.rows {
                            let (b, a) = match kind {
                                RowKind::Insert => (None, after),
                                RowKind::Delete => (before, None),
                                RowKind::Update => (before, after),
                            };
                            if cascading.is_some() {
                                l.group.add_cascading(&table, b, a)?;
                            } else {
                                l.group.add(&table, b, a)?;
                            }
                        }
                        if l.group.bytes > lane_bytes {
                            // A very large source transaction: written in parts, committed once.
                            lanes.part(host).await?;
                        }
                    }
                    Event::Commit { timestamp } => {
                        in_txn = false;
                        last_end = pos.clone();
                        last_ts = timestamp;
                        if let Some(h) = txn_lane.take() {
                            lanes.lanes[h].txns += 1;
                        }
                        lanes.maintain(&last_end, last_ts, false).await?;
                    }
                    Event::Query { db, sql, timestamp, autocommit, context } => {
                        if autocommit {
                            in_txn = false;
                            // A schema change is a barrier: every lane's changes before it are
                            // on the target, then all slots move past it together.
                            lanes.maintain(&last_end, last_ts, true).await?;
                            lanes.wait_idle(None, progress).await?;
                            self.schema_change(&mut ddl_conn, selection, snapshots, (&db, &sql, &context), &pos).await?;
                            // Tables are described again: rows after this are decoded with the new schema.
                            apply = ApplyCache::default();
                            last_end = pos.clone();
                            last_ts = timestamp;
                            lanes.commit(0, &pos, timestamp, true).await?;
                            lanes.wait_idle(None, progress).await?;
                        } else if parse_ddl(&sql, &db).is_ok_and(|d| d.is_schema_change()) {
                            // CREATE TABLE ... SELECT logs its CREATE inside the transaction that
                            // carries the rows: the table must exist before them. Nothing else
                            // touches it yet, so no lane has to wait.
                            self.schema_change(&mut ddl_conn, selection, snapshots, (&db, &sql, &context), &pos).await?;
                            apply = ApplyCache::default();
                        } else if is_statement_dml(&sql) {
                            return Err(Error::object(
                                format!("binlog {pos}"),
                                format!("a statement-based change ({}): the source must log binlog_format=ROW", crate::db::short(&sql)),
                            ));
                        }
                    }
                    Event::Heartbeat => {
                        caught_up = rx.is_empty();
                        quiet = true;
                    }
                }
                prev = pos;
            }

            if quiet && !in_txn {
                lanes.maintain(&last_end, last_ts, true).await?;
                if caught_up && lanes.idle() {
                    self.report(progress, &last_end, 0, true);
                }
            }
        }
    }

    fn lost(&self, what: &str) -> Error {
        Error::Connect { role: "source", endpoint: self.source.address.clone(), message: what.into(), transient: true }
    }

    /// How a binlog table is applied: None when the task does not select it.
    /// One `ApplyTable` per table and column layout, whatever its binlog table id: a group tells
    /// tables apart by it, and the source hands out new ids for the same table (after FLUSH
    /// TABLES, ANALYZE, ...).
    /// Resolved once per binlog table id, with the table's copy position, so that nothing per
    /// rows event is looked up by name.
    async fn apply_table(
        &self,
        cache: &mut ApplyCache,
        skip: &HashMap<(String, String), Position>,
        selection: &LiveSelection,
        conn: &mut mysql_async::Conn,
        bt: &Arc<BinlogTable>,
    ) -> Result<Option<Applied>> {
        // Table ids are reused (after a source restart, in the next binlog file): an entry holds
        // for the table its TABLE_MAP names now, with that many columns. Checked without
        // allocating: this runs for every rows event.
        if let Some(e) = cache.by_id.get(&bt.id)
            && e.db == bt.db
            && e.table == bt.table
            && e.columns == bt.columns.len()
        {
            return Ok(e.applied.clone());
        }
        let built = match selection.table(&bt.db, &bt.table) {
            None => None,
            Some(sel) => {
                let map = self.target_table(conn, &sel).await?;
                let layout = self.source_layout(conn, &sel, bt).await?;
                let mut table = build_apply_table(&map, &layout, bt)?;
                let cascades = self.foreign_key_ties(cache, skip, selection, conn, &sel, &mut table).await?;
                let shape = format!("{}|{:?}", table.target, table.columns);
                Some(Applied {
                    table: cache.by_shape.entry(shape).or_insert_with(|| Arc::new(table)).clone(),
                    copied_at: skip.get(&(bt.db.clone(), bt.table.clone())).cloned(),
                    slot: slot_of(&bt.db, &bt.table),
                    dml: sel.dml,
                    cascades,
                })
            }
        };
        let entry = CachedTable { db: bt.db.clone(), table: bt.table.clone(), columns: bt.columns.len(), applied: built.clone() };
        cache.by_id.insert(bt.id, entry);
        Ok(built)
    }

    /// The source table's column names in binlog order at the position being read: the row
    /// event's own when the source logs them, else the tracked definition's (see
    /// [`crate::target::tracker`]). A table without one (tracked by an older ferry, or whose definition
    /// could not follow a schema change) is tracked from the source's definition now.
    async fn source_layout(&self, conn: &mut mysql_async::Conn, sel: &Selected, bt: &BinlogTable) -> Result<Vec<String>> {
        if bt.columns.iter().any(|b| b.name.is_some()) {
            return Ok(bt.columns.iter().map(|b| b.name.clone().unwrap_or_default()).collect());
        }
        if let Some(cols) = self.tracker.columns(&self.target, conn, &sel.src_db, &sel.src_table).await? {
            return Ok(cols);
        }
        let mut src = self.source.connect(Session::Control).await?;
        let create = crate::db::catalog::show_create_table(&self.source, &mut src, &sel.src_db, &sel.src_table).await;
        let _ = src.disconnect().await;
        let create = create?;
        info!(table = %format!("{}.{}", sel.src_db, sel.src_table), "row events name no columns: tracking the table's definition from the source now");
        self.tracker.track(&self.target, conn, &sel.src_db, &sel.src_table, &create).await?;
        self.tracker
            .columns(&self.target, conn, &sel.src_db, &sel.src_table)
            .await?
            .ok_or_else(|| Error::object(format!("{}.{}", sel.src_db, sel.src_table), "its tracked definition has no columns"))
    }

    /// A selected table as the target has it now, in source names: the target has replayed every
    /// schema change up to the binlog position being read, so this is the table's schema at that
    /// position (the source's own catalog may already be further on).
    async fn target_table(&self, conn: &mut mysql_async::Conn, sel: &Selected) -> Result<TableMap> {
        let t = crate::db::catalog::table(&self.target, conn, &sel.dst_db, &sel.dst_table).await?;
        if t.columns.is_empty() {
            return Err(Error::object(
                format!("{}.{}", sel.src_db, sel.src_table),
                format!("its target table {}.{} does not exist on the target", sel.dst_db, sel.dst_table),
            ));
        }
        let source_name = |dst: &str| -> String {
            sel.columns
                .as_ref()
                .and_then(|cs| cs.iter().find(|(_, d)| d.eq_ignore_ascii_case(dst)).map(|(s, _)| s.clone()))
                .unwrap_or_else(|| dst.to_string())
        };
        let columns = t
            .columns
            .iter()
            .map(|c| ColumnMap { source: crate::db::catalog::Column { name: source_name(&c.name), ..c.clone() }, target: c.name.clone() })
            .collect();
        Ok(TableMap {
            src_db: sel.src_db.clone(),
            src_table: sel.src_table.clone(),
            dst_db: sel.dst_db.clone(),
            dst_table: sel.dst_table.clone(),
            columns,
            column_subset: sel.columns.is_some(),
            filter: sel.filter.clone(),
            key: t.key.as_ref().map(|k| k.iter().map(|c| source_name(c)).collect()),
            other_unique_keys: t.other_unique_keys,
            rows_estimate: 0,
            merge: self.merges.get(&(sel.dst_db.clone(), sel.dst_table.clone())).cloned(),
        })
    }

    /// Replays one schema change (every lane has committed what came before it). A statement
    /// that cannot be replayed fails the task or, under `onDdlError: Skip`, is listed in the status.
    async fn schema_change(
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
    ) -> Result<std::result::Result<Replayed, String>> {
        let ddl = match parse_ddl(sql, db) {
            Ok(d) => d,
            Err(e) => return Ok(Err(format!("cannot parse it: {e}"))),
        };
        // The source's own layout follows every schema change, replayed to the target or not.
        let wanted = |o: &crate::sql::ddl::ObjName| selection.table(&o.db, &o.name).is_some();
        self.tracker.follow(&self.target, conn, &ddl, (sql, db), &wanted).await?;
        // A table copied after this statement was created from the source's definition, which
        // has it already.
        let copied_later = |o: &crate::sql::ddl::ObjName| snapshots.get(&(o.db.clone(), o.name.clone())).is_some_and(|p| pos < p);
        let written: Vec<&crate::sql::ddl::ObjName> = match &ddl.kind {
            DdlKind::CreateTable { table, .. } | DdlKind::Truncate { table } => vec![table],
            DdlKind::CreateIndex { table, .. } | DdlKind::DropIndex { table, .. } => vec![table],
            DdlKind::AlterTable(a) => vec![&a.table],
            DdlKind::RenameTable { pairs } => pairs.iter().map(|(_, to)| to).collect(),
            _ => Vec::new(),
        };
        if !written.is_empty() && written.iter().all(|o| copied_later(o)) {
            return Ok(Ok(Replayed::NotSelected("the table's copy was read after it: it has the change".into())));
        }
        let table_ddl = |sel: &LiveSelection, o: &crate::sql::ddl::ObjName| sel.table(&o.db, &o.name).is_some_and(|t| t.ddl);
        let whole_ddl = |sel: &LiveSelection, db: &str| sel.is_whole(db) && sel.database(db).is_some_and(|(_, ddl)| ddl);
        let not_selected = |why: &str| Ok(Ok(Replayed::NotSelected(why.to_string())));
        let mut subset: Option<Vec<String>> = None;
        match &ddl.kind {
            DdlKind::Other { reason } => return not_selected(reason),
            DdlKind::CreateTrigger { .. } | DdlKind::DropTrigger { .. } => {
                return not_selected("triggers are not replayed: their effects arrive as row changes");
            }
            DdlKind::CreateDatabase { db, .. } | DdlKind::DropDatabase { db, .. } | DdlKind::AlterDatabase { db } => {
                if !whole_ddl(selection, db) {
                    return not_selected("the database is not selected whole");
                }
            }
            DdlKind::CreateView { view: name, .. }
            | DdlKind::AlterView { view: name, .. }
            | DdlKind::CreateRoutine { name, .. }
            | DdlKind::AlterRoutine { name, .. }
            | DdlKind::DropRoutine { name, .. } => {
                if !whole_ddl(selection, &name.db) {
                    return not_selected("views and routines follow databases selected whole");
                }
            }
            DdlKind::DropView { views, .. } => {
                if !views.iter().any(|v| whole_ddl(selection, &v.db)) {
                    return not_selected("views follow databases selected whole");
                }
            }
            DdlKind::CreateTable { table, like, .. } => {
                if !table_ddl(selection, table) {
                    return not_selected("the table is not selected");
                }
                if let Some(l) = like
                    && selection.table(&l.db, &l.name).is_none()
                {
                    return Ok(Err(format!("CREATE TABLE ... LIKE {l}: the task does not synchronize {l}, so the target lacks it")));
                }
            }
            DdlKind::AlterTable(a) => {
                if !table_ddl(selection, &a.table) {
                    return not_selected("the table is not selected");
                }
                if let Some(sel) = selection.table(&a.table.db, &a.table.name) {
                    subset = sel.columns.map(|cs| cs.into_iter().map(|(s, _)| s).collect());
                }
            }
            DdlKind::Truncate { table } | DdlKind::CreateIndex { table, .. } | DdlKind::DropIndex { table, .. } => {
                if !table_ddl(selection, table) {
                    return not_selected("the table is not selected");
                }
            }
            DdlKind::DropTable { .. } | DdlKind::RenameTable { .. } => {}
        }
        // A merged target table holds other tasks' rows too: what would take those away is
        // withheld (and listed in the status); what another task writing it ran first already
        // is taken as applied.
        let merged = |o: &crate::sql::ddl::ObjName| {
            selection.table(&o.db, &o.name).is_some_and(|t| self.merges.contains_key(&(t.dst_db, t.dst_table)))
        };
        let withheld = match &ddl.kind {
            DdlKind::Truncate { table } if merged(table) => Some(format!("TRUNCATE of {table}")),
            DdlKind::DropTable { tables, .. } if tables.iter().any(merged) => Some("DROP TABLE".to_string()),
            DdlKind::RenameTable { pairs } if pairs.iter().any(|(from, _)| merged(from)) => Some("RENAME TABLE".to_string()),
            DdlKind::AlterTable(a) if merged(&a.table) && a.rename_to().is_some() => Some("ALTER TABLE ... RENAME".to_string()),
            _ => None,
        };
        if let Some(what) = withheld {
            return Ok(Ok(Replayed::Withheld(format!(
                "{what} not replayed: the target table is merged with rows of other tasks (merge: true), which it would take away too; \
                 do it on the target by hand if that is meant"
            ))));
        }
        let on_merged = match &ddl.kind {
            DdlKind::CreateTable { table, .. } | DdlKind::CreateIndex { table, .. } | DdlKind::DropIndex { table, .. } => merged(table),
            DdlKind::AlterTable(a) => merged(&a.table),
            _ => false,
        };
        // Only the selected objects of a multi-object DROP or RENAME.
        let kept = match retain_objects(sql, db, &|o| table_ddl(selection, o)) {
            Ok(Some(k)) => k,
            Ok(None) => return not_selected("no selected table in it"),
            Err(e) => return Ok(Err(format!("cannot rewrite it safely: {e}"))),
        };
        let names = selection.names();
        let rewritten = match &subset {
            Some(keep) => match rewrite_alter_selected_columns(&kept, db, &names, keep) {
                Ok(Some(r)) => r,
                Ok(None) => return not_selected("it changes only columns the task does not select"),
                Err(e) => return Ok(Err(format!("cannot rewrite it safely: {e}"))),
            },
            None => match rewrite_ddl(&kept, db, &names) {
                Ok(r) => r,
                Err(e) => return Ok(Err(format!("cannot rewrite it safely: {e}"))),
            },
        };

        let bytes = match statement_bytes(&rewritten, context) {
            Ok(b) => b,
            Err(e) => return Ok(Err(format!("cannot rewrite it safely: {e}"))),
        };
        let first = self.meta.record_ddl(&self.target, conn, pos, &rewritten).await?;
        // A database created here must not be dropped by another task's precheck trial that found
        // it missing a moment before (see `lock_databases`).
        let created_db = match &ddl.kind {
            DdlKind::CreateDatabase { db, .. } => Some(names.db(db).to_string()),
            _ => None,
        };
        if let Some(d) = &created_db {
            crate::db::lock_databases(&self.target, conn, &[d]).await?;
        }
        let ran = self.run_as_on_source(conn, context, bytes).await?;
        if let Some(d) = &created_db {
            crate::db::unlock_databases(conn, &[d]).await;
        }
        if let Err(e) = ran {
            match e {
                // Replayed after a crash that came between the statement and the checkpoint.
                mysql_async::Error::Server(ref se) if !first && ALREADY_APPLIED.contains(&se.code) => {
                    info!(%pos, code = se.code, "schema change found applied already");
                }
                // The same change on another source, replayed by the task that reads it.
                mysql_async::Error::Server(ref se) if on_merged && ALREADY_APPLIED.contains(&se.code) => {
                    info!(%pos, code = se.code, "schema change of a merged table found applied already (by another task writing it)");
                }
                mysql_async::Error::Server(se) => {
                    return Ok(Err(format!(
                        "the target refused `{}`: ERROR {} ({}): {}",
                        crate::db::short(&rewritten),
                        se.code,
                        se.state,
                        se.message
                    )));
                }
                other => return Err(self.target.err("replaying a schema change")(other)),
            }
        }

        // What the change did to the selection.
        let mut followed = Vec::new();
        let renames: Vec<(crate::sql::ddl::ObjName, crate::sql::ddl::ObjName)> = match &ddl.kind {
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
        Ok(Ok(Replayed::Applied(followed)))
    }
    fn report(&self, p: &mut Progress, cp: &Position, source_ts: u32, caught_up: bool) {
        let now = Instant::now();
        let (t0, r0, x0, b0) = p.window;
        let secs = now.duration_since(t0).as_secs_f64();
        if secs >= 2.0 {
            let per_s = |n: u64| (n as f64 / secs) as u64;
            p.rates = (per_s(p.rows - r0), per_s(p.txns - x0), per_s(p.bytes - b0));
            p.window = (now, p.rows, p.txns, p.bytes);
        }
        if now.duration_since(p.last_status) < Duration::from_millis(500) && !caught_up {
            return;
        }
        p.last_status = now;
        let unix_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let lag = if caught_up || source_ts == 0 { 0 } else { unix_now.saturating_sub(source_ts as u64) as i64 };
        let event_time = (source_ts > 0).then(|| k8s_openapi::jiff::Timestamp::from_second(source_ts as i64).ok().map(Time)).flatten();
        let (rows, txns, bytes, rates, merge_conflicts) = (p.rows, p.txns, p.bytes, p.rates, p.merge_conflicts);
        self.reporter.update(|s| {
            s.phase = Some(Phase::Synchronizing);
            s.message = Some("following the source's binlog".into());
            s.lag_seconds = Some(lag);
            let last_event_time = event_time.clone().or_else(|| s.incremental_sync.as_ref().and_then(|i| i.last_event_time.clone()));
            s.incremental_sync = Some(IncrementalSyncStatus {
                rows_applied: rows,
                transactions_applied: txns,
                rows_per_second: rates.0,
                transactions_per_second: rates.1,
                bytes_applied: bytes,
                bytes_per_second: rates.2,
                merge_conflicts,
                last_event_time,
            });
            s.checkpoint = Some(Checkpoint {
                file: cp.file.clone(),
                position: cp.pos,
                gtid_set: cp.gtid.clone(),
                consistent_at: None,
                time: Some(Time(k8s_openapi::jiff::Timestamp::now())),
            });
        });
        self.reporter.live_line(&format!("lag {lag}s  {} rows/s  {} txn/s  {} rows applied", rates.0, rates.1, rows));
    }
}

impl Player {
    /// What the target's foreign keys cascade from a selected table (set in `table.cascade`), and
    /// when they do, the tables they tie it to: the rows that reference it (and, through the
    /// actions that change those, the rows that reference them, and so on), which a cascade
    /// changes or checks, and the tables it references, which an update checks.
    async fn foreign_key_ties(
        &self,
        cache: &mut ApplyCache,
        skip: &HashMap<(String, String), Position>,
        selection: &LiveSelection,
        conn: &mut mysql_async::Conn,
        sel: &Selected,
        table: &mut ApplyTable,
    ) -> Result<Option<Arc<Cascades>>> {
        let keys = match &cache.foreign_keys {
            Some(k) => k.clone(),
            None => {
                // The foreign keys of the target databases, read once until the next schema change.
                let mut dbs: Vec<String> =
                    self.spec.objects.iter().map(|o| o.rename.clone().unwrap_or_else(|| o.database.clone())).collect();
                dbs.sort();
                dbs.dedup();
                let mut all = Vec::new();
                for db in &dbs {
                    all.extend(crate::db::catalog::foreign_keys(&self.target, conn, db).await?);
                }
                let all = Arc::new(all);
                cache.foreign_keys = Some(all.clone());
                all
            }
        };
        let same = |a: &(String, String), db: &str, t: &str| a.0.eq_ignore_ascii_case(db) && a.1.eq_ignore_ascii_case(t);
        let changes = crate::db::catalog::ForeignKey::changes_children;
        let (db, name) = (sel.dst_db.as_str(), sel.dst_table.as_str());
        let referencing: Vec<&crate::db::catalog::ForeignKey> = keys.iter().filter(|k| same(&k.parent, db, name)).collect();
        let on_delete = referencing.iter().any(|k| changes(&k.on_delete));
        let mut on_update: Vec<usize> = referencing
            .iter()
            .filter(|k| changes(&k.on_update))
            .flat_map(|k| k.referenced.iter())
            .filter_map(|c| table.columns.iter().position(|a| a.name.eq_ignore_ascii_case(&crate::db::q(c))))
            .collect();
        on_update.sort_unstable();
        on_update.dedup();
        if !on_delete && on_update.is_empty() {
            return Ok(None);
        }
        table.cascade = Some(Cascade { on_delete, on_update });
        let mut tied: Vec<(String, String)> = keys.iter().filter(|k| same(&k.child, db, name)).map(|k| k.parent.clone()).collect();
        let mut queue = vec![(db.to_string(), name.to_string())];
        let mut seen = queue.clone();
        while let Some((d, t)) = queue.pop() {
            for k in keys.iter().filter(|k| same(&k.parent, &d, &t)) {
                tied.push(k.child.clone());
                if (changes(&k.on_delete) || changes(&k.on_update)) && !seen.iter().any(|s| same(s, &k.child.0, &k.child.1)) {
                    seen.push(k.child.clone());
                    queue.push(k.child.clone());
                }
            }
        }
        let mut slots = Vec::new();
        let mut copied_at: Option<Position> = None;
        for (d, t) in &tied {
            // A table the task does not write (or whose source name is not found) has no lane.
            let Some(src) = self.source_of(cache, selection, d, t) else { continue };
            slots.push(slot_of(&src.0, &src.1));
            // Of the tables the cascade changes (not those it only checks), the latest copy.
            if let Some(p) = skip.get(&src)
                && seen[1..].iter().any(|s| same(s, d, t))
            {
                copied_at = copied_at.max(Some(p.clone()));
            }
        }
        slots.sort_unstable();
        slots.dedup();
        Ok(Some(Arc::new(Cascades { slots, copied_at })))
    }

    /// The source table the task writes to target table `db`.`table`, if it is one.
    fn source_of(&self, cache: &ApplyCache, selection: &LiveSelection, db: &str, table: &str) -> Option<(String, String)> {
        let target = qt(db, table);
        if let Some(e) = cache.by_id.values().find(|e| e.applied.as_ref().is_some_and(|a| a.table.target == target)) {
            return Some((e.db.clone(), e.table.clone()));
        }
        for o in &self.spec.objects {
            if !o.rename.as_deref().unwrap_or(&o.database).eq_ignore_ascii_case(db) {
                continue;
            }
            let mapped = o.tables.iter().flatten().filter(|t| t.rename.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(table)));
            for name in std::iter::once(table.to_string()).chain(mapped.map(|t| t.name.clone())) {
                if selection
                    .table(&o.database, &name)
                    .is_some_and(|s| s.dst_db.eq_ignore_ascii_case(db) && s.dst_table.eq_ignore_ascii_case(table))
                {
                    return Some((o.database.clone(), name));
                }
            }
        }
        None
    }
}

/// The tables a cascading table's foreign keys tie it to, for the player.
struct Cascades {
    /// Their apply slots: applied by the lane of the cascading change.
    slots: Vec<usize>,
    /// The latest copy position among them (tables copied whole at one snapshot).
    copied_at: Option<Position>,
}

impl Cascades {
    /// The cascade of a change in the transaction starting at `txn_start` ran on the target
    /// already: a lane of an earlier run applied the transaction with the tables it ties (their
    /// slots are past it), or a copy read those tables after it (and skips their changes before).
    fn ran_before(&self, txn_start: &Position, slot_done: &[Position], replay_until: &Position) -> bool {
        self.copied_at.as_ref().is_some_and(|p| txn_start < p)
            || (txn_start < replay_until && self.slots.iter().any(|&s| *txn_start < slot_done[s]))
    }
}

#[derive(Default)]
struct ApplyCache {
    by_id: HashMap<u64, CachedTable>,
    by_shape: HashMap<String, Arc<ApplyTable>>,
    /// The target's foreign keys (read when a table is first resolved after a schema change).
    foreign_keys: Option<Arc<Vec<crate::db::catalog::ForeignKey>>>,
}

/// What a binlog table id stood for when it was resolved.
struct CachedTable {
    db: String,
    table: String,
    columns: usize,
    applied: Option<Applied>,
}

/// A selected table as the player applies it.
#[derive(Clone)]
struct Applied {
    table: Arc<ApplyTable>,
    /// Copied whole at this snapshot position: changes from before it are already there.
    copied_at: Option<Position>,
    /// Its apply slot (which lane applies it).
    slot: usize,
    /// The row change kinds the task replays for it.
    dml: DmlKinds,
    /// The target's foreign keys cascade its deletes or updates: the tables they tie it to.
    cascades: Option<Arc<Cascades>>,
}

/// Each copied table's earliest copy snapshot.
type Snapshots = std::collections::BTreeMap<(String, String), Position>;

/// What became of a schema change.
enum Replayed {
    /// Run on the target; renames of selected tables followed (for the status).
    Applied(Vec<String>),
    /// Not about the selected objects.
    NotSelected(String),
    /// About a selected object, deliberately not run (listed in the status).
    Withheld(String),
}

/// Errors that mean a replayed schema change ran before: the table, column, index, view or
/// routine it creates is there, or the one it drops or renames is gone.
const ALREADY_APPLIED: [u16; 12] = [1007, 1008, 1050, 1051, 1054, 1060, 1061, 1091, 1146, 1304, 1305, 1360];

fn writer_stopped() -> Error {
    Error::object("applier", "a target writer stopped")
}

/// One apply lane: a writer task with its own target session, and the group it is filling.
struct Lane {
    tx: mpsc::Sender<Write>,
    group: Group,
    /// Source transactions folded into `group`.
    txns: u64,
    /// Parts of `group` were written into the lane's open target transaction.
    parts: bool,
    /// When `group` got its first change.
    started: Instant,
    /// Commits sent and not acknowledged yet.
    in_flight: u32,
    /// Covered by its last acknowledged commit.
    durable: Position,
    /// Covered by its last sent commit, and when that was sent.
    sent: Position,
    sent_at: Instant,
}

impl Lane {
    fn pending(&self) -> bool {
        self.txns > 0 || self.parts || !self.group.is_empty()
    }
}

/// The lanes of one stream. Tables hash to slots and slots start spread over the lanes; a
/// transaction that writes slots of two lanes moves the second one's slots into the first lane,
/// for good. So one table's changes stay in one lane in source order, a transaction is applied
/// whole by one lane, and lanes never write the same rows (nor take InnoDB gap locks in each
/// other's key ranges): tables written together are applied together, independent ones side by
/// side. Each lane commits the positions of the slots it owns with its changes.
struct Lanes {
    lanes: Vec<Lane>,
    /// The lane of each slot. Slots that a transaction wrote together stay in one lane (union-find
    /// over slots, `parent`): they never split again, so no table moves back and forth.
    owner: Vec<usize>,
    parent: Vec<usize>,
    done: mpsc::UnboundedReceiver<Result<Committed>>,
    _writers: Vec<AbortOnDrop>,
    /// Source time of the newest change applied.
    applied_ts: u32,
    epoch: u64,
    task: String,
    /// Where each slot stood when this run started: a slot is never moved back behind it (a lane
    /// that starts behind a faster one's slot would otherwise store the slot at its own, earlier
    /// position, and a crash before it passes the slot again would replay the slot's changes).
    started_at: Vec<Position>,
}

impl Lanes {
    /// Sends lane `i`'s group as one target transaction that also moves the lane's slots (or
    /// every slot) to `at`; with an empty group, it only moves the slots.
    async fn commit(&mut self, i: usize, at: &Position, ts: u32, all_slots: bool) -> Result<()> {
        let l = &mut self.lanes[i];
        if !all_slots && !l.pending() && l.sent >= *at {
            return Ok(());
        }
        let params: Vec<Value> = vec![
            at.file.clone().into(),
            at.pos.into(),
            at.gtid.clone().into(),
            (ts as i64).into(),
            self.task.clone().into(),
            self.epoch.into(),
        ];
        let slots: Vec<usize> =
            (0..APPLY_SLOTS).filter(|&s| all_slots || self.owner[s] == i).filter(|&s| self.started_at[s] <= *at).collect();
        let l = &mut self.lanes[i];
        if slots.is_empty() && !l.pending() {
            return Ok(()); // a lane whose tables all joined others
        }
        let msg = Write::Commit { group: std::mem::take(&mut l.group), params, pos: at.clone(), ts, txns: l.txns, slots, all_slots };
        l.txns = 0;
        l.parts = false;
        l.in_flight += 1;
        l.sent = at.clone();
        l.sent_at = Instant::now();
        l.tx.send(msg).await.map_err(|_| writer_stopped())?;
        Ok(())
    }

    fn root(&mut self, mut s: usize) -> usize {
        while self.parent[s] != s {
            self.parent[s] = self.parent[self.parent[s]];
            s = self.parent[s];
        }
        s
    }

    /// Moves `slot` (with every slot joined to it) into the lane of `home`, after its lane has committed
    /// what it holds up to `at` (the start of the transaction that joins them).
    async fn join(&mut self, slot: usize, home: usize, at: &Position, ts: u32, progress: &mut Progress) -> Result<()> {
        let (from, to) = (self.owner[slot], self.owner[home]);
        self.commit(from, at, ts, false).await?;
        self.wait_idle(Some(from), progress).await?;
        let moved = self.root(slot);
        for s in 0..APPLY_SLOTS {
            if self.root(s) == moved {
                self.owner[s] = to;
            }
        }
        let into = self.root(home);
        self.parent[moved] = into;
        Ok(())
    }

    async fn part(&mut self, i: usize) -> Result<()> {
        let l = &mut self.lanes[i];
        l.parts = true;
        let group = std::mem::take(&mut l.group);
        l.tx.send(Write::Part(group)).await.map_err(|_| writer_stopped())
    }

    /// Commits what is due, up to `at` (the end of the last whole source transaction): groups
    /// that are big or old enough (every pending one when `all`), and, once a second, the
    /// positions of lanes that had nothing to apply, so that replay never starts far back.
    async fn maintain(&mut self, at: &Position, ts: u32, all: bool) -> Result<()> {
        for i in 0..self.lanes.len() {
            let l = &self.lanes[i];
            let due = if l.pending() {
                all || l.group.rows >= GROUP_ROWS || l.started.elapsed() >= GROUP_AGE
            } else {
                l.in_flight == 0 && l.sent < *at && l.sent_at.elapsed() >= Duration::from_secs(1)
            };
            if due {
                self.commit(i, at, ts, false).await?;
            }
        }
        Ok(())
    }

    /// Waits until the lane (every lane for None) has committed all it was sent.
    async fn wait_idle(&mut self, lane: Option<usize>, progress: &mut Progress) -> Result<()> {
        while self.lanes.iter().enumerate().any(|(i, l)| lane.is_none_or(|w| w == i) && l.in_flight > 0) {
            let c = self.done.recv().await.ok_or_else(writer_stopped)??;
            self.acked(c, progress);
        }
        Ok(())
    }

    fn acked(&mut self, c: Committed, progress: &mut Progress) {
        self.applied_ts = self.applied_ts.max(c.ts);
        progress.rows += c.rows;
        progress.bytes += c.bytes;
        progress.merge_conflicts += c.merge_conflicts;
        progress.txns += c.txns;
        if c.all_slots {
            for l in &mut self.lanes {
                l.durable = l.durable.clone().max(c.pos.clone());
            }
        } else {
            self.lanes[c.lane].durable = c.pos.clone();
        }
        self.lanes[c.lane].in_flight -= 1;
    }

    fn idle(&self) -> bool {
        self.lanes.iter().all(|l| l.in_flight == 0 && !l.pending())
    }

    fn oldest_pending(&self) -> Option<Instant> {
        self.lanes.iter().filter(|l| l.pending()).map(|l| l.started).min()
    }

    fn behind(&self, at: &Position) -> bool {
        self.lanes.iter().any(|l| l.sent < *at)
    }

    /// Everything before this position is on the target.
    fn low_water(&self, last_end: &Position) -> Position {
        self.lanes.iter().filter(|l| l.in_flight > 0 || l.pending()).map(|l| &l.durable).min().unwrap_or(last_end).clone()
    }
}

/// What a lane's writer is handed, in source order.
enum Write {
    /// Part of a very large source transaction: applied inside the open target transaction.
    Part(Group),
    /// Whole source transactions: applied, the slots moved to `pos`, committed.
    Commit { group: Group, params: Vec<Value>, pos: Position, ts: u32, txns: u64, slots: Vec<usize>, all_slots: bool },
}

/// A committed group, reported back for status.
struct Committed {
    lane: usize,
    pos: Position,
    ts: u32,
    rows: u64,
    /// Row data bytes of those rows.
    bytes: u64,
    merge_conflicts: u64,
    txns: u64,
    all_slots: bool,
}

struct LaneWriter {
    lane: usize,
    target: Server,
    meta: Arc<Meta>,
}

impl LaneWriter {
    /// Applies the lane's groups on its session, in order; stops at the first error. Building
    /// the statements happens here too, so lanes build them in parallel.
    async fn run(self, mut conn: mysql_async::Conn, mut rx: mpsc::Receiver<Write>, done: mpsc::UnboundedSender<Result<Committed>>) {
        let target = &self.target;
        let mut open = false;
        let (mut part_rows, mut part_bytes, mut part_conflicts) = (0, 0, 0);
        while let Some(msg) = rx.recv().await {
            let result = async {
                if !open {
                    conn.query_drop("START TRANSACTION").await.map_err(target.err("START TRANSACTION"))?;
                    open = true;
                }
                match msg {
                    Write::Part(group) => {
                        let batch = group.seal();
                        part_rows += batch.rows;
                        part_bytes += batch.data_bytes;
                        part_conflicts += batch.apply(target, &mut conn).await?;
                        Ok(None)
                    }
                    Write::Commit { group, params, pos, ts, txns, slots, all_slots } => {
                        let batch = group.seal();
                        let rows = batch.rows + std::mem::take(&mut part_rows);
                        let bytes = batch.data_bytes + std::mem::take(&mut part_bytes);
                        let sql = self.meta.slots_checkpoint_sql(&slots);
                        let merge_conflicts = commit_batch(target, &mut conn, batch, &sql, params, slots.len() as u64).await?
                            + std::mem::take(&mut part_conflicts);
                        open = false;
                        Ok(Some(Committed { lane: self.lane, pos, ts, rows, bytes, merge_conflicts, txns, all_slots }))
                    }
                }
            }
            .await;
            match result {
                Ok(Some(c)) => {
                    let _ = done.send(Ok(c));
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = done.send(Err(e));
                    return;
                }
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn feed(mut reader: BinlogReader, tx: mpsc::Sender<Result<(Event, Position)>>) {
    loop {
        let item = match reader.next().await {
            Ok(Some(ev)) => Ok((ev, reader.position())),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return;
        }
    }
}

/// A collation or character set name that can stand unquoted in a SET.
fn plain_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Statement-format DML inside a transaction cannot be applied as rows.
fn is_statement_dml(sql: &str) -> bool {
    let first = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("").to_ascii_uppercase();
    matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD")
}

/// Matches the binlog's columns to the task's by name in `layout`, the source table's columns in
/// binlog order at that position ([`Player::source_layout`]).
fn build_apply_table(t: &TableMap, layout: &[String], bt: &BinlogTable) -> Result<ApplyTable> {
    if layout.len() != bt.columns.len() {
        return Err(Error::object(
            t.source_name(),
            format!(
                "its row events have {} columns but its tracked definition has {} ({}): ferry cannot tell which value \
                 belongs to which column; set binlog_row_metadata=FULL on the source so that row events name them",
                bt.columns.len(),
                layout.len(),
                layout.join(", ")
            ),
        ));
    }
    let mut columns = Vec::new();
    let mut applied: Vec<&str> = Vec::new();
    for c in t.copy_columns() {
        // A target column the source row does not have (added on the target only, or its
        // schema change was skipped): left to its default.
        let Some(index) = layout.iter().position(|n| n.eq_ignore_ascii_case(&c.source.name)) else { continue };
        let lit = match bt.signedness {
            true => Lit::of(&c.source),
            false => Lit::unsigned_from_signed(&c.source).unwrap_or_else(|| Lit::of(&c.source)),
        };
        columns.push(ApplyColumn { binlog_index: index, name: crate::db::q(&c.target), lit });
        applied.push(&c.source.name);
    }
    let key = t.key.as_ref().map(|k| k.iter().filter_map(|name| applied.iter().position(|c| *c == name)).collect::<Vec<_>>());
    let key = key.filter(|k| Some(k.len()) == t.key.as_ref().map(|k| k.len()));
    let binlog_width = columns.iter().map(|c| c.binlog_index + 1).max().unwrap_or(0);
    Ok(ApplyTable {
        binlog_width,
        source: t.source_name(),
        target: qt(&t.dst_db, &t.dst_table),
        columns,
        upsert: key.is_some() && !t.other_unique_keys,
        key,
        filter: t.filter.clone(),
        merge: t.merge.clone(),
        cascade: None,
    })
}
