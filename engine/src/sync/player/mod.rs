//! Incremental sync: reads the source's binlog from the checkpoint and applies every selected
//! change to the target, grouping whole source transactions into target transactions that move
//! the checkpoint with them. Survives lost connections on either side by resuming from the
//! committed checkpoint; a second engine for the task fences this one out.
//!
//! The parts: `stream` (the stream's state, one method per binlog event, deciding what to do),
//! `lanes` (the lane scheduler: which lane applies which table, when groups commit, how far the
//! target is), both pure; `writer` (a target session per lane applying what it is sent),
//! `tables` (how a binlog table is applied), `ddl_replay` (schema changes). This file runs them:
//! the reader, the event loop that hands the state's decisions to the writers, the status.

mod ddl_replay;
mod lanes;
mod stream;
mod tables;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_crds::{Checkpoint, IncrementalSyncStatus, Phase, SyncTaskSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::sync::mpsc;
use tracing::info;

use self::ddl_replay::Snapshots;
use self::lanes::{Commit, Lanes};
use self::stream::{Query, Rows, RowsOf, Stream};
use self::tables::ApplyCache;
use self::writer::{AbortOnDrop, Committed, Writers};
use crate::db::flavor::{Flavor, Position};
use crate::db::{Server, Session};
use crate::error::{Error, Result};
use crate::plan::selection::LiveSelection;
use crate::source::binlog::{BinlogReader, Event, RowKind, RowsEvent, StatementContext};
use crate::status::Reporter;
use crate::target::meta::{Meta, TaskLock, slot_of};

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
    /// Where the keys of applied rows go for a later check (continuous verification); None: off.
    pub changed_keys: Option<Arc<crate::sync::changed_keys::ChangedKeys>>,
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
                // Resumed from the checkpoint: the stream's setup (catalog reads, selection
                // changes, the claim) is not redone, and its progress counts stay.
                Err(e) if e.is_transient() && !self.stop.requested() => {
                    if let Err(stopped) =
                        crate::db::retry::wait_before_retry(&mut backoff, started.elapsed(), &e, &self.reporter, &self.stop).await
                    {
                        break Err(stopped);
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
        info!(position = %cp.position, lanes = self.lanes, "reading the binlog");
        let reader = BinlogReader::resume(&self.source, &self.flavor, self.server_id, &cp.position, HEARTBEAT).await?;
        // Decoding runs beside applying: the channel is the only hand-off.
        let (tx, events) = mpsc::channel::<Result<(Event, Position)>>(2048);
        let feeder = AbortOnDrop(tokio::spawn(feed(reader, tx)));
        // Reads target tables' structure and runs schema changes, between lanes' commits.
        let ddl_conn = self.target.connect(Session::Write).await?;
        // Each lane writes on its own target session while the next groups fill.
        let mut sessions = vec![tgt];
        for _ in 1..self.lanes {
            sessions.push(self.target.connect(Session::Write).await?);
        }
        let streaming = Streaming {
            player: self,
            st: Stream::new(&cp.position),
            // Replay from the lowest slot position meets changes that a faster lane applied already.
            lanes: Lanes::new(self.lanes, &cp.position, &cp.slots, Instant::now()),
            writers: Writers::start(sessions, &self.target, &self.meta, epoch),
            events,
            _feeder: feeder,
            ddl_conn,
            apply: ApplyCache::default(),
            skip,
            snapshots,
            selection,
            progress,
        };
        streaming.run().await
    }

    fn lost(&self, what: &str) -> Error {
        Error::Connect { role: "source", endpoint: self.source.address.clone(), message: what.into(), transient: true }
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

/// One connection's run of the stream, from the checkpoint until an error or a stop: the stream
/// state and the lane scheduler, which decide, and the reader, the lane writers and the target
/// session their decisions go to.
struct Streaming<'a> {
    player: &'a Player,
    st: Stream,
    lanes: Lanes,
    writers: Writers,
    events: mpsc::Receiver<Result<(Event, Position)>>,
    _feeder: AbortOnDrop,
    /// Reads target tables' structure and runs schema changes, between lanes' commits.
    ddl_conn: mysql_async::Conn,
    apply: ApplyCache,
    /// Keyless tables' copy positions: their changes before are in the copy.
    skip: &'a HashMap<(String, String), Position>,
    snapshots: &'a Snapshots,
    selection: &'a mut LiveSelection,
    progress: &'a mut Progress,
}

impl Streaming<'_> {
    async fn run(mut self) -> Result<()> {
        let mut stop = self.player.stop.clone();
        loop {
            if let Some(commits) = self.st.drain(&mut self.lanes, Instant::now()) {
                return self.drain(commits).await;
            }
            let wait = self.st.wait(&self.lanes, Instant::now());
            let item = tokio::select! {
                biased;
                _ = stop.wait(), if !self.st.stopping() => {
                    self.st.stop();
                    continue;
                }
                done = self.writers.next() => {
                    self.acked(done?);
                    self.st.acked(self.events.is_empty());
                    let low_water = self.lanes.low_water(self.st.last_end());
                    self.player.report(self.progress, &low_water, self.lanes.applied_ts(), self.st.caught_up());
                    continue;
                }
                item = tokio::time::timeout(wait, self.events.recv()) => match item {
                    Err(_) => None, // quiet: commit what is pending
                    Ok(None) => return Err(self.player.lost("the binlog reader stopped")),
                    Ok(Some(item)) => Some(item?),
                },
            };
            match item {
                None => self.quiet().await?,
                Some((event, pos)) => self.event(event, &pos).await?,
            }
        }
    }

    async fn event(&mut self, event: Event, pos: &Position) -> Result<()> {
        match event {
            Event::Begin { .. } => self.st.begin(pos),
            Event::Rows(r) => self.rows(r, pos).await?,
            Event::Commit { timestamp } => {
                let due = self.st.commit(pos, timestamp, &mut self.lanes, Instant::now());
                self.send(due).await?;
            }
            Event::Query { db, sql, timestamp, autocommit, context } => {
                self.query((&db, &sql, &context), timestamp, autocommit, pos).await?;
            }
            Event::Heartbeat => {
                self.st.heartbeat(pos, self.events.is_empty());
                self.quiet().await?;
            }
        }
        Ok(())
    }

    async fn rows(&mut self, r: RowsEvent, pos: &Position) -> Result<()> {
        let applied = if self.st.replayed(&self.lanes, slot_of(&r.table.db, &r.table.table)) {
            None
        } else {
            self.player.apply_table(&mut self.apply, self.skip, self.selection, &mut self.ddl_conn, &r.table).await?
        };
        let unlogged_cascades = !r.no_foreign_key_checks() && !self.player.flavor.cascades_logged(r.flags);
        let of = applied.as_ref().map(|a| RowsOf {
            slot: a.slot,
            copied_at: a.copied_at.as_ref(),
            cascades: a.cascades.as_deref(),
            unlogged_cascades,
        });
        let decision = self.st.rows(pos, &mut self.lanes, of, Instant::now());
        let (Rows::Apply { lane, joins, cascading }, Some(applied)) = (decision, applied) else {
            return Ok(());
        };
        for join in joins {
            self.send(join.commit).await?;
            self.wait_idle(Some(join.from)).await?;
        }
        let group = self.lanes.group(lane, Instant::now());
        let kind = r.kind;
        let wanted = match kind {
            RowKind::Insert => applied.dml.insert,
            RowKind::Update => applied.dml.update,
            RowKind::Delete => applied.dml.delete,
        };
        if !wanted {
            return Ok(()); // the task does not replay this kind of change for the table
        }
        if let Some(keys) = &self.player.changed_keys {
            record_keys(keys, &applied.table, &r, Instant::now());
        }
        for (before, after) in r.rows {
            let (b, a) = match kind {
                RowKind::Insert => (None, after),
                RowKind::Delete => (before, None),
                RowKind::Update => (before, after),
            };
            if cascading {
                group.add_cascading(&applied.table, b, a)?;
            } else {
                group.add(&applied.table, b, a)?;
            }
        }
        if let Some(part) = self.lanes.part(lane) {
            // A very large source transaction: written in parts, committed once.
            self.writers.part(lane, part).await?;
        }
        Ok(())
    }

    async fn query(&mut self, stmt: (&str, &str, &StatementContext), ts: u32, autocommit: bool, pos: &Position) -> Result<()> {
        let (db, sql, _) = stmt;
        match self.st.query(pos, db, sql, autocommit, &mut self.lanes, Instant::now()) {
            Query::Barrier(before) => {
                self.send(before).await?;
                self.wait_idle(None).await?;
                self.schema_change(stmt, pos).await?;
                self.st.passed(pos, ts);
                let all = self.st.move_all(&mut self.lanes, Instant::now());
                self.send(all).await?;
                self.wait_idle(None).await
            }
            Query::InTransaction => self.schema_change(stmt, pos).await,
            Query::StatementDml => Err(Error::object(
                format!("binlog {pos}"),
                format!("a statement-based change ({}): the source must log binlog_format=ROW", crate::db::short(sql)),
            )),
            Query::Other => Ok(()),
        }
    }

    async fn schema_change(&mut self, stmt: (&str, &str, &StatementContext), pos: &Position) -> Result<()> {
        self.player.schema_change(&mut self.ddl_conn, self.selection, self.snapshots, stmt, pos).await?;
        // Tables are described again: rows after this are decoded with the new schema.
        self.apply = ApplyCache::default();
        Ok(())
    }

    /// The binlog has nothing more right now.
    async fn quiet(&mut self) -> Result<()> {
        let quiet = self.st.quiet(&mut self.lanes, Instant::now());
        self.send(quiet.commits).await?;
        if quiet.caught_up {
            self.player.report(self.progress, self.st.last_end(), 0, true);
        }
        Ok(())
    }

    /// A stop between source transactions: everything read is committed, every slot moved.
    async fn drain(&mut self, commits: Vec<Commit>) -> Result<()> {
        self.send(commits).await?;
        self.wait_idle(None).await?;
        let all = self.st.move_all(&mut self.lanes, Instant::now());
        self.send(all).await?;
        self.wait_idle(None).await?;
        let at = self.st.last_end().clone();
        info!(position = %at, "stopped; every change read is applied and the checkpoint is there");
        self.player.report(self.progress, &at, self.lanes.applied_ts(), self.st.caught_up());
        Err(Error::Interrupted)
    }

    async fn send(&self, commits: impl IntoIterator<Item = Commit>) -> Result<()> {
        for c in commits {
            self.writers.commit(c).await?;
        }
        Ok(())
    }

    /// Waits until the lane (every lane for None) has committed all it was sent.
    async fn wait_idle(&mut self, lane: Option<usize>) -> Result<()> {
        while self.lanes.in_flight(lane) {
            let c = self.writers.next().await?;
            self.acked(c);
        }
        Ok(())
    }

    fn acked(&mut self, c: Committed) {
        self.lanes.acked(c.lane, &c.pos, c.ts, c.all_slots);
        let p = &mut *self.progress;
        if p.rows == 0 && c.rows > 0 {
            // The start-up figure: how long a (re)start takes to be at work again.
            let ms = crate::status::PROCESS_START.elapsed().as_millis() as u64;
            info!(since_process_start_ms = ms, "first row change applied");
        }
        p.rows += c.rows;
        p.bytes += c.bytes;
        p.merge_conflicts += c.merge_conflicts;
        p.txns += c.txns;
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

/// Records the keys of a rows event's changes (the before image's too when an update moves a
/// row to another key). Tables without a key are left to the full passes.
fn record_keys(keys: &crate::sync::changed_keys::ChangedKeys, table: &crate::sync::applier::ApplyTable, r: &RowsEvent, now: Instant) {
    use crate::sync::changed_keys::{ChangedKey, ChangedTable};
    let Some(at) = &table.key else { return };
    let columns = at.iter().map(|&i| crate::db::unquote(&table.columns[i].name)).collect();
    let changed = Arc::new(ChangedTable { db: r.table.db.clone(), table: r.table.table.clone(), columns });
    let key_of = |image: &[mysql_async::Value]| -> Option<Vec<mysql_async::Value>> {
        at.iter().map(|&i| image.get(table.columns[i].binlog_index).cloned()).collect()
    };
    for (before, after) in &r.rows {
        let b = before.as_deref().and_then(key_of);
        let a = after.as_deref().and_then(key_of);
        let moved = b.is_some() && a.is_some() && b != a;
        for key in [a, if moved || after.is_none() { b } else { None }].into_iter().flatten() {
            keys.record(ChangedKey { table: changed.clone(), key }, now);
        }
    }
}
