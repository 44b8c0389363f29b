//! Incremental sync: reads the source's binlog from the checkpoint and applies every selected
//! change to the target, grouping whole source transactions into target transactions that move
//! the checkpoint with them. Survives lost connections on either side by resuming from the
//! committed checkpoint; a second engine for the task fences this one out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_crds::{Checkpoint, IncrementalSyncStatus, Phase};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mysql_async::prelude::*;
use mysql_async::Value;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::applier::{ApplyColumn, ApplyTable, Group, Lit, commit_batch};
use crate::binlog::{BinlogReader, Event, RowKind, TableMap as BinlogTable};
use crate::db::{Server, Session, qt};
use crate::error::{Error, Result};
use crate::flavor::{Flavor, Position};
use crate::mapping::{DatabaseMap, TableMap};
use crate::meta::{APPLY_SLOTS, Meta, TaskLock, slot_of};
use crate::status::Reporter;

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
    pub meta: Arc<Meta>,
    pub server_id: u32,
    pub tables: Vec<TableMap>,
    pub reporter: Arc<Reporter>,
    pub owner: String,
    pub lock: Arc<TaskLock>,
    /// Apply lanes (target sessions) for changes of different tables.
    pub lanes: usize,
}

/// What the player knows between reconnects.
struct Progress {
    rows: u64,
    txns: u64,
    window: (Instant, u64, u64),
    rates: (u64, u64),
    last_status: Instant,
}

impl Player {
    /// The tables a task selects, for the player.
    pub fn tables_of(dbs: &[DatabaseMap]) -> Vec<TableMap> {
        dbs.iter().flat_map(|d| d.tables.iter().cloned()).collect()
    }

    /// Runs until an error that a reconnect cannot cure.
    pub async fn run(&self) -> Result<()> {
        let mut tgt = self.target.connect(Session::Write).await?;
        let epoch = self.meta.claim(&self.target, &mut tgt, &self.owner).await?;
        let skip: HashMap<(String, String), Position> = self
            .meta
            .keyless_copy_positions(&self.target, &mut tgt)
            .await?
            .into_iter()
            .map(|(d, t, p)| ((d, t), p))
            .collect();
        drop(tgt);
        self.reporter.set_phase(Phase::Synchronizing, Some("following the source's binlog".into()));
        let mut progress = Progress {
            rows: 0,
            txns: 0,
            window: (Instant::now(), 0, 0),
            rates: (0, 0),
            last_status: Instant::now() - Duration::from_secs(5),
        };
        let mut backoff = Duration::from_millis(250);
        loop {
            let started = Instant::now();
            match self.stream(epoch, &skip, &mut progress).await {
                Err(e) if e.is_transient() => {
                    if started.elapsed() > Duration::from_secs(30) {
                        backoff = Duration::from_millis(250);
                    }
                    warn!(error = %e, retry_in = ?backoff, "connection lost; resuming from the checkpoint");
                    self.reporter.update(|s| s.message = Some(format!("retrying in {backoff:?} after: {e}")));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
    }

    async fn stream(&self, epoch: u64, skip: &HashMap<(String, String), Position>, progress: &mut Progress) -> Result<()> {
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
        let slot_done = if cp.slots.len() == APPLY_SLOTS { cp.slots.clone() } else { vec![cp.position.clone(); APPLY_SLOTS] };
        let replay_until = slot_done.iter().max().cloned().unwrap_or_else(|| cp.position.clone());
        info!(position = %cp.position, lanes = self.lanes, "reading the binlog");
        let reader = BinlogReader::open(&self.source, &self.flavor, self.server_id, &cp.position, HEARTBEAT).await?;
        // Decoding runs beside applying: the channel is the only hand-off.
        let (tx, mut rx) = mpsc::channel::<Result<(Event, Position)>>(2048);
        let feeder = tokio::spawn(feed(reader, tx));
        let _stop_feeder = AbortOnDrop(feeder);

        // Each lane writes on its own target session while the next groups fill.
        let (dtx, drx) = mpsc::unbounded_channel::<Result<Committed>>();
        let mut lanes = Lanes { lanes: Vec::new(), done: drx, _writers: Vec::new(), applied_ts: 0, epoch, task: self.meta.task.clone() };
        for lane in 0..self.lanes {
            let conn = if lane == 0 { std::mem::replace(&mut tgt, self.target.connect(Session::Write).await?) } else { self.target.connect(Session::Write).await? };
            let (wtx, wrx) = mpsc::channel::<Write>(1);
            let slots = (0..APPLY_SLOTS).filter(|s| s % self.lanes == lane).count() as u64;
            let writer = LaneWriter {
                lane,
                target: self.target.clone(),
                own_sql: self.meta.slots_checkpoint_sql(Some((lane, self.lanes))),
                own_slots: slots,
                all_sql: self.meta.slots_checkpoint_sql(None),
            };
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
        drop(tgt);
        let lane_bytes = (GROUP_BYTES / self.lanes).max(4 << 20);

        let mut apply = ApplyCache::default();
        // End position and source time of the last complete source transaction seen.
        let mut last_end = cp.position.clone();
        let mut last_ts = 0u32;
        let mut prev = cp.position.clone();
        let mut txn_start = cp.position.clone();
        let mut caught_up = false;
        let mut in_txn = false;
        // The lane the open transaction's changes go to, and whether it spans lanes.
        let mut txn_lane: Option<usize> = None;
        let mut spans = false;

        loop {
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
                        spans = false;
                        caught_up = false;
                    }
                    Event::Rows(r) => {
                        let Some(Applied { table, copied_at, slot }) = self.apply_table(&mut apply, skip, &r.table)? else {
                            prev = pos;
                            continue;
                        };
                        let applied_before = |p: &Position| txn_start < *p;
                        if copied_at.as_ref().is_some_and(applied_before)
                            || (txn_start < replay_until && applied_before(&slot_done[slot]))
                        {
                            prev = pos;
                            continue; // already on the target (in the table's copy, or by its lane)
                        }
                        let lane = slot % self.lanes;
                        let host = match txn_lane {
                            None => {
                                txn_lane = Some(lane);
                                lane
                            }
                            Some(h) if h == lane || spans => h,
                            Some(h) => {
                                // The transaction spans lanes: the lane it started in applies all
                                // of it, after every other lane has committed what came before.
                                spans = true;
                                for other in (0..self.lanes).filter(|&o| o != h) {
                                    lanes.commit(other, &txn_start, last_ts, false).await?;
                                }
                                lanes.wait_idle(Some(h), progress).await?;
                                h
                            }
                        };
                        let l = &mut lanes.lanes[host];
                        if l.group.is_empty() && l.txns == 0 && !l.parts {
                            l.started = Instant::now();
                        }
                        let kind = r.kind;
                        for (before, after) in r.rows {
                            let (b, a) = match kind {
                                RowKind::Insert => (None, after),
                                RowKind::Delete => (before, None),
                                RowKind::Update => (before, after),
                            };
                            l.group.add(&table, b, a)?;
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
                            if spans {
                                lanes.commit(h, &pos, timestamp, true).await?;
                                lanes.wait_idle(None, progress).await?;
                                spans = false;
                            }
                        }
                        lanes.maintain(&last_end, last_ts, false).await?;
                    }
                    Event::Query { db, sql, timestamp, autocommit } => {
                        if autocommit {
                            in_txn = false;
                            // A schema change is a barrier: every lane's changes before it are
                            // on the target, then all slots move past it together.
                            lanes.maintain(&last_end, last_ts, true).await?;
                            lanes.wait_idle(None, progress).await?;
                            // Schema changes arrive with their own issue; until then they are
                            // reported, never silently lost.
                            warn!(db = %db, statement = %crate::db::short(&sql), "schema change not applied by this version");
                            last_end = pos.clone();
                            last_ts = timestamp;
                            lanes.commit(0, &pos, timestamp, true).await?;
                            lanes.wait_idle(None, progress).await?;
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
    fn apply_table(
        &self,
        cache: &mut ApplyCache,
        skip: &HashMap<(String, String), Position>,
        bt: &Arc<BinlogTable>,
    ) -> Result<Option<Applied>> {
        if let Some(t) = cache.by_id.get(&bt.id) {
            return Ok(t.clone());
        }
        let built = match self.tables.iter().find(|t| t.src_db == bt.db && t.src_table == bt.table) {
            None => None,
            Some(t) => {
                let table = build_apply_table(t, bt)?;
                let shape = format!("{}|{:?}", table.target, table.columns);
                Some(Applied {
                    table: cache.by_shape.entry(shape).or_insert_with(|| Arc::new(table)).clone(),
                    copied_at: skip.get(&(bt.db.clone(), bt.table.clone())).cloned(),
                    slot: slot_of(&bt.db, &bt.table),
                })
            }
        };
        cache.by_id.insert(bt.id, built.clone());
        Ok(built)
    }

    fn report(&self, p: &mut Progress, cp: &Position, source_ts: u32, caught_up: bool) {
        let now = Instant::now();
        let (t0, r0, x0) = p.window;
        let secs = now.duration_since(t0).as_secs_f64();
        if secs >= 2.0 {
            p.rates = (((p.rows - r0) as f64 / secs) as u64, ((p.txns - x0) as f64 / secs) as u64);
            p.window = (now, p.rows, p.txns);
        }
        if now.duration_since(p.last_status) < Duration::from_millis(500) && !caught_up {
            return;
        }
        p.last_status = now;
        let unix_now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let lag = if caught_up || source_ts == 0 { 0 } else { unix_now.saturating_sub(source_ts as u64) as i64 };
        let event_time = (source_ts > 0)
            .then(|| k8s_openapi::jiff::Timestamp::from_second(source_ts as i64).ok().map(Time))
            .flatten();
        let (rows, txns, rates) = (p.rows, p.txns, p.rates);
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

#[derive(Default)]
struct ApplyCache {
    by_id: HashMap<u64, Option<Applied>>,
    by_shape: HashMap<String, Arc<ApplyTable>>,
}

/// A selected table as the player applies it.
#[derive(Clone)]
struct Applied {
    table: Arc<ApplyTable>,
    /// Copied whole at this snapshot position: changes from before it are already there.
    copied_at: Option<Position>,
    /// Its apply slot (which lane applies it).
    slot: usize,
}

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

/// The lanes of one stream. Tables hash to slots and slots to lanes, so one table's changes
/// stay in one lane in source order, and lanes never write the same rows (nor take InnoDB gap
/// locks in each other's key ranges). Each lane commits its slots' positions with its changes.
struct Lanes {
    lanes: Vec<Lane>,
    done: mpsc::UnboundedReceiver<Result<Committed>>,
    _writers: Vec<AbortOnDrop>,
    /// Source time of the newest change applied.
    applied_ts: u32,
    epoch: u64,
    task: String,
}

impl Lanes {
    /// Sends lane `i`'s group as one target transaction that also moves the lane's slots (or
    /// every slot) to `at`; with an empty group, it only moves the slots.
    async fn commit(&mut self, i: usize, at: &Position, ts: u32, all_slots: bool) -> Result<()> {
        let l = &mut self.lanes[i];
        if !all_slots && !l.pending() && l.sent >= *at {
            return Ok(());
        }
        let params: Vec<Value> =
            vec![at.file.clone().into(), at.pos.into(), at.gtid.clone().into(), (ts as i64).into(), self.task.clone().into(), self.epoch.into()];
        let msg = Write::Commit { group: std::mem::take(&mut l.group), params, pos: at.clone(), ts, txns: l.txns, all_slots };
        l.txns = 0;
        l.parts = false;
        l.in_flight += 1;
        l.sent = at.clone();
        l.sent_at = Instant::now();
        l.tx.send(msg).await.map_err(|_| writer_stopped())?;
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

    /// Waits until every lane (but `except`) has committed all it was sent.
    async fn wait_idle(&mut self, except: Option<usize>, progress: &mut Progress) -> Result<()> {
        while self.lanes.iter().enumerate().any(|(i, l)| Some(i) != except && l.in_flight > 0) {
            let c = self.done.recv().await.ok_or_else(writer_stopped)??;
            self.acked(c, progress);
        }
        Ok(())
    }

    fn acked(&mut self, c: Committed, progress: &mut Progress) {
        self.applied_ts = self.applied_ts.max(c.ts);
        progress.rows += c.rows;
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
        self.lanes
            .iter()
            .filter(|l| l.in_flight > 0 || l.pending())
            .map(|l| &l.durable)
            .min()
            .unwrap_or(last_end)
            .clone()
    }
}

/// What a lane's writer is handed, in source order.
enum Write {
    /// Part of a very large source transaction: applied inside the open target transaction.
    Part(Group),
    /// Whole source transactions: applied, the slots moved to `pos`, committed.
    Commit { group: Group, params: Vec<Value>, pos: Position, ts: u32, txns: u64, all_slots: bool },
}

/// A committed group, reported back for status.
struct Committed {
    lane: usize,
    pos: Position,
    ts: u32,
    rows: u64,
    txns: u64,
    all_slots: bool,
}

struct LaneWriter {
    lane: usize,
    target: Server,
    own_sql: String,
    own_slots: u64,
    all_sql: String,
}

impl LaneWriter {
    /// Applies the lane's groups on its session, in order; stops at the first error. Building
    /// the statements happens here too, so lanes build them in parallel.
    async fn run(self, mut conn: mysql_async::Conn, mut rx: mpsc::Receiver<Write>, done: mpsc::UnboundedSender<Result<Committed>>) {
        let target = &self.target;
        let mut open = false;
        let mut part_rows = 0;
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
                        batch.apply(target, &mut conn).await?;
                        Ok(None)
                    }
                    Write::Commit { group, params, pos, ts, txns, all_slots } => {
                        let batch = group.seal();
                        let rows = batch.rows + std::mem::take(&mut part_rows);
                        let (sql, expect) =
                            if all_slots { (&self.all_sql, APPLY_SLOTS as u64) } else { (&self.own_sql, self.own_slots) };
                        commit_batch(target, &mut conn, batch, sql, params, expect).await?;
                        open = false;
                        Ok(Some(Committed { lane: self.lane, pos, ts, rows, txns, all_slots }))
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

/// Statement-format DML inside a transaction cannot be applied as rows.
fn is_statement_dml(sql: &str) -> bool {
    let first = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("").to_ascii_uppercase();
    matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD")
}

/// Matches the binlog's columns to the task's: by name when the source logs names
/// (binlog_row_metadata=FULL), by position in the source table otherwise.
fn build_apply_table(t: &TableMap, bt: &BinlogTable) -> Result<ApplyTable> {
    let mut columns = Vec::new();
    for c in t.copy_columns() {
        let index = match bt.columns.iter().position(|b| b.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&c.source.name))) {
            Some(i) => i,
            None if bt.columns.iter().all(|b| b.name.is_none()) => c.source.ordinal,
            None => {
                return Err(Error::object(
                    t.source_name(),
                    format!("column {} is not in the binlog's row image; the table's schema changed (schema changes are not followed yet)", c.source.name),
                ));
            }
        };
        if index >= bt.columns.len() {
            return Err(Error::object(t.source_name(), format!("the binlog row has {} columns, fewer than the table", bt.columns.len())));
        }
        columns.push(ApplyColumn { binlog_index: index, name: crate::db::q(&c.target), lit: Lit::of(&c.source) });
    }
    let key = t.key.as_ref().map(|k| {
        k.iter()
            .filter_map(|name| t.copy_columns().position(|c| &c.source.name == name))
            .collect::<Vec<_>>()
    });
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
    })
}

/// The replica server id of a task: stable, and unlikely to collide with real servers.
pub fn server_id_for(task_id: &str) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in task_id.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    1_000_000 + h % 2_000_000_000
}

