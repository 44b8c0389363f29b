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

use crate::applier::{ApplyColumn, ApplyTable, Batch, Group, Lit, commit_batch};
use crate::binlog::{BinlogReader, Event, RowKind, TableMap as BinlogTable};
use crate::db::{Server, Session, qt};
use crate::error::{Error, Result};
use crate::flavor::{Flavor, Position};
use crate::mapping::{DatabaseMap, TableMap};
use crate::meta::{Meta, TaskLock};
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
        info!(position = %cp.position, "reading the binlog");
        let reader = BinlogReader::open(&self.source, &self.flavor, self.server_id, &cp.position, HEARTBEAT).await?;
        // Decoding runs beside applying: the channel is the only hand-off.
        let (tx, mut rx) = mpsc::channel::<Result<(Event, Position)>>(2048);
        let feeder = tokio::spawn(feed(reader, tx));
        let _stop_feeder = AbortOnDrop(feeder);

        // Writing runs beside folding too: while the target applies one group, the next one fills.
        let (wtx, wrx) = mpsc::channel::<Write>(1);
        let (dtx, mut drx) = mpsc::unbounded_channel::<Result<Committed>>();
        let writer = tokio::spawn(write_groups(self.target.clone(), tgt, self.meta.checkpoint_sql(), wrx, dtx));
        let _stop_writer = AbortOnDrop(writer);
        let send = |msg: Write| {
            let wtx = wtx.clone();
            async move { wtx.send(msg).await.map_err(|_| Error::object("applier", "the target writer stopped")) }
        };

        let mut apply = ApplyCache::default();
        let mut group = Group::default();
        let mut open_tx = false;
        let mut group_started = Instant::now();
        let mut committed = cp.position.clone();
        // Position and source time of the last complete source transaction seen.
        let mut last_commit: Option<(Position, u32)> = None;
        let mut txns_in_group = 0u64;
        let mut prev = cp.position.clone();
        let mut txn_start = cp.position.clone();
        let mut caught_up = false;
        let mut in_txn = false;

        let mut last_cp_write = Instant::now();
        loop {
            // Wait no longer than the pending group may: it commits when the binlog goes quiet.
            // Only whole source transactions commit: never while one is half read.
            let pending = !in_txn && last_commit.is_some();
            let wait = if !pending {
                Duration::from_secs(3600)
            } else if open_tx {
                GROUP_AGE.saturating_sub(group_started.elapsed())
            } else {
                Duration::from_secs(1).saturating_sub(last_cp_write.elapsed())
            };
            let item = tokio::select! {
                biased;
                done = drx.recv() => {
                    match done {
                        Some(Ok(c)) => {
                            progress.rows += c.rows;
                            progress.txns += c.txns;
                            committed = c.pos;
                            caught_up = caught_up || rx.is_empty();
                            self.report(progress, &committed, c.ts, caught_up);
                            continue;
                        }
                        Some(Err(e)) => return Err(e),
                        None => return Err(Error::object("applier", "the target writer stopped")),
                    }
                }
                item = tokio::time::timeout(wait, rx.recv()) => match item {
                    Err(_) => None, // quiet: commit what is pending
                    Ok(None) => return Err(self.lost("the binlog reader stopped")),
                    Ok(Some(item)) => Some(item?),
                },
            };
            let mut commit_now = item.is_none() && !in_txn;
            if let Some((event, pos)) = item {
                match event {
                    Event::Begin { .. } => {
                        in_txn = true;
                        txn_start = prev.clone();
                        caught_up = false;
                    }
                    Event::Rows(r) => {
                        let Some(Applied { table, copied_at }) = self.apply_table(&mut apply, skip, &r.table)? else {
                            prev = pos;
                            continue;
                        };
                        if let Some(p) = &copied_at
                            && txn_start < *p
                        {
                            prev = pos;
                            continue; // already in this table's copy
                        }
                        if !open_tx {
                            open_tx = true;
                            group_started = Instant::now();
                        }
                        let kind = r.kind;
                        for (before, after) in r.rows {
                            let (b, a) = match kind {
                                RowKind::Insert => (None, after),
                                RowKind::Delete => (before, None),
                                RowKind::Update => (before, after),
                            };
                            group.add(&table, b, a)?;
                        }
                        if group.bytes > GROUP_BYTES {
                            // A very large source transaction: written in parts, committed once.
                            if send(Write::Part(std::mem::take(&mut group).seal())).await.is_err() {
                                return Err(writer_failure(&mut drx).await);
                            }
                        }
                    }
                    Event::Commit { timestamp } => {
                        in_txn = false;
                        last_commit = Some((pos.clone(), timestamp));
                        txns_in_group += 1;
                        commit_now = if open_tx {
                            group.rows >= GROUP_ROWS || group_started.elapsed() >= GROUP_AGE
                        } else {
                            // Transactions of unselected tables only move the checkpoint.
                            txns_in_group >= 10_000 || last_cp_write.elapsed() >= Duration::from_secs(1)
                        };
                    }
                    Event::Query { db, sql, timestamp, autocommit } => {
                        if autocommit {
                            in_txn = false;
                            // Schema changes arrive with their own issue; until then they are
                            // reported, never silently lost.
                            warn!(db = %db, statement = %crate::db::short(&sql), "schema change not applied by this version");
                            last_commit = Some((pos.clone(), timestamp));
                            txns_in_group += 1;
                            commit_now = true;
                        } else if is_statement_dml(&sql) {
                            return Err(Error::object(
                                format!("binlog {pos}"),
                                format!("a statement-based change ({}): the source must log binlog_format=ROW", crate::db::short(&sql)),
                            ));
                        }
                    }
                    Event::Heartbeat => {
                        caught_up = rx.is_empty();
                        commit_now = !in_txn;
                    }
                }
                prev = pos;
            }

            if commit_now && let Some((pos, ts)) = last_commit.take() {
                let params: Vec<Value> = vec![
                    pos.file.clone().into(),
                    pos.pos.into(),
                    pos.gtid.clone().into(),
                    (ts as i64).into(),
                    self.meta.task.clone().into(),
                    epoch.into(),
                ];
                let group = std::mem::take(&mut group);
                if send(Write::Commit { batch: group.seal(), params, pos, ts, txns: txns_in_group }).await.is_err() {
                    return Err(writer_failure(&mut drx).await);
                }
                open_tx = false;
                txns_in_group = 0;
                last_cp_write = Instant::now();
            } else if commit_now && caught_up {
                self.report(progress, &committed, 0, true);
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
}

/// The error that stopped the target writer (it reports it before it ends).
async fn writer_failure(done: &mut mpsc::UnboundedReceiver<Result<Committed>>) -> Error {
    while let Some(r) = done.recv().await {
        if let Err(e) = r {
            return e;
        }
    }
    Error::object("applier", "the target writer stopped")
}

/// What the target writer is handed, in source order.
enum Write {
    /// Part of a very large source transaction: applied inside the open target transaction.
    Part(Batch),
    /// Whole source transactions: applied, the checkpoint moved to `pos`, committed.
    Commit { batch: Batch, params: Vec<Value>, pos: Position, ts: u32, txns: u64 },
}

/// A committed group, reported back for status.
struct Committed {
    pos: Position,
    ts: u32,
    rows: u64,
    txns: u64,
}

/// Applies groups on the one target session, in order; stops at the first error.
async fn write_groups(
    target: Server,
    mut conn: mysql_async::Conn,
    checkpoint_sql: String,
    mut rx: mpsc::Receiver<Write>,
    done: mpsc::UnboundedSender<Result<Committed>>,
) {
    let mut open = false;
    let mut part_rows = 0;
    while let Some(msg) = rx.recv().await {
        let result = async {
            if !open {
                conn.query_drop("START TRANSACTION").await.map_err(target.err("START TRANSACTION"))?;
                open = true;
            }
            match msg {
                Write::Part(batch) => {
                    part_rows += batch.rows;
                    batch.apply(&target, &mut conn).await?;
                    Ok(None)
                }
                Write::Commit { batch, params, pos, ts, txns } => {
                    let rows = batch.rows + std::mem::take(&mut part_rows);
                    commit_batch(&target, &mut conn, batch, &checkpoint_sql, params).await?;
                    open = false;
                    Ok(Some(Committed { pos, ts, rows, txns }))
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

