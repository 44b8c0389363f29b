//! One run of a task: connect, resolve the selection, schema sync, full copy, checkpoint. The
//! same function serves `ferry run` (local state file) and the operator's engine pod.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_crds::{Checkpoint, Phase, SchemaSyncStatus, SyncTaskStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mysql_async::Conn;
use tracing::{Instrument, info, info_span, warn};

use crate::db::catalog;
use crate::db::flavor::{BinlogSettings, Flavor, Position};
use crate::db::{Backoff, Server, Session};
use crate::error::{Error, Result};
use crate::plan::mapping;
use crate::sql::NameMap;
use crate::status::{Reporter, TableCounter};
pub use crate::stop::{Stop, StopHandle};
use crate::sync::copier::{Copier, TableCopy};
use crate::sync::player::Player;
use crate::sync::schema::{PreparedTable, SchemaSync};
use crate::target::meta::{Meta, TableState, TaskLock};
use crate::target::tracker::SchemaTracker;
use ferry_crds::manifest::Task;

/// Runs the task to its end (or first error), keeping `reporter` current. The caller records
/// a returned error as the Failed phase.
pub async fn run(task: &Task, reporter: Arc<Reporter>, stop: Stop) -> Result<()> {
    let span = info_span!("task", name = %task.id());
    retrying_transient(task, reporter, &stop).instrument(span).await
}

/// How long a stop waits for the player to commit what it read (a second signal stops at once).
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Runs the task until it ends or Ctrl-C / SIGTERM stops it. While the binlog is followed, the
/// first signal drains (see [`Stop`]) for at most [`DRAIN_LIMIT`]; otherwise, and on a second
/// signal, it stops at once: everything committed is kept either way (copied ranges, the
/// checkpoint with the changes it covers), and the same command resumes.
pub async fn run_until_signal(task: &Task, reporter: Arc<Reporter>) -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    let (handle, stop) = Stop::new();
    let running = run(task, reporter, stop);
    tokio::pin!(running);
    tokio::select! {
        r = &mut running => return r,
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    if !handle.request() {
        return Err(Error::Interrupted);
    }
    info!("stopping: committing what was read (a second signal stops at once)");
    tokio::select! {
        r = &mut running => r,
        _ = tokio::time::sleep(DRAIN_LIMIT) => Err(Error::Interrupted),
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted),
        _ = term.recv() => Err(Error::Interrupted),
    }
}

/// Runs the task again after an error that a reconnect can cure (a server restarting, a lost
/// connection, a deadlock with another task's metadata writes), with backoff. Every step
/// resumes from what the target holds: the copy plan's committed ranges, the checkpoint.
/// Until both servers have answered once, an unreachable one ends the run with its address
/// instead (a wrong host or port is the likelier cause; the operator's pod restarts anyway).
async fn retrying_transient(task: &Task, reporter: Arc<Reporter>, stop: &Stop) -> Result<()> {
    let mut backoff = Backoff::default();
    let mut connected = false;
    loop {
        let started = Instant::now();
        match run_inner(task, reporter.clone(), &mut connected, stop).await {
            Err(e) if e.is_transient() && connected => {
                crate::db::retry::wait_before_retry(&mut backoff, started.elapsed(), &e, &reporter, stop).await?;
            }
            other => return other,
        }
    }
}

async fn run_inner(task: &Task, reporter: Arc<Reporter>, connected: &mut bool, stop: &Stop) -> Result<()> {
    let spec = &task.spec;
    if spec.suspend {
        reporter.set_phase(Phase::Suspended, Some("spec.suspend is true; nothing runs until it is false".into()));
        return Ok(());
    }
    precheck_if_fresh(task, &reporter).await?;
    reporter.update(|s| s.message = Some("connecting".into()));
    let (source, target) = crate::db::servers(task);
    let (src_conn, tgt_conn) = tokio::join!(source.connect(Session::Control), target.connect(Session::Control));
    let (mut src, mut tgt) = (src_conn?, tgt_conn?);
    *connected = true;
    let run = Run::set_up(task, (source, target), (&mut src, &mut tgt), reporter, stop).await?;

    // A task whose incremental sync has started goes back to it, after the initial sync of the
    // tables its selection gained since it last ran (and forgetting the ones it lost).
    if spec.incremental && run.meta.checkpoint(&run.target, &mut tgt).await?.is_some() {
        let added = run.selection_changes(&mut src, &mut tgt).await?;
        let _ = src.disconnect().await;
        if !added.is_empty() {
            run.sync_added(&mut tgt, &added).await?;
        }
        let _ = tgt.disconnect().await;
        return run.follow().await;
    }
    let starts = run.start_positions(&mut src).await?;
    let _ = src.disconnect().await;
    run.initial_sync(&mut tgt, starts).await?;
    let _ = tgt.disconnect().await;
    if spec.incremental {
        return run.follow().await;
    }
    let summary = summary(&run.reporter.status());
    run.reporter.set_phase(Phase::Finished, Some(summary));
    Ok(())
}

/// A fresh task is prechecked before anything moves, unless the status holds a passed precheck
/// of this very spec from the last minutes (the operator's precheck Job, `ferry precheck
/// --state-dir`, or a run that stopped before writing anything): a start then goes straight to work. A task with records on the target
/// resumes without: it was checked when it started, its own tables would read as "existing", and
/// what matters on resume (the binlog position still on the source) the resume checks itself.
async fn precheck_if_fresh(task: &Task, reporter: &Reporter) -> Result<()> {
    if crate::precheck::passed_for(reporter.status().precheck.as_ref(), &task.spec, Time(k8s_openapi::jiff::Timestamp::now())) {
        info!("the precheck passed for this spec already: not run again");
        return Ok(());
    }
    if crate::precheck::task_has_state(task).await? {
        return Ok(());
    }
    reporter.set_phase(Phase::Prechecking, Some("precheck".into()));
    let report = crate::precheck::precheck(task).instrument(info_span!("precheck")).await;
    let (passed, failures) = (report.passed, report.failures_line());
    reporter.update(|s| s.precheck = Some(report));
    if !passed { Err(Error::Precheck { failures }) } else { Ok(()) }
}

/// What one run has learned once both servers answered: the servers and their flavours, the
/// resolved plan of what the task moves, ferry's records on the target and the task lock.
struct Run<'a> {
    task: &'a Task,
    source: Server,
    target: Server,
    flavor: Flavor,
    target_flavor: Flavor,
    /// The source writes a binlog.
    binlog: bool,
    /// What its binlog settings mean for the replay (incremental tasks).
    settings: Option<BinlogSettings>,
    meta: Arc<Meta>,
    lock: Arc<TaskLock>,
    /// The source databases that exist.
    existing: Vec<String>,
    dbs: Vec<mapping::DatabaseMap>,
    renames: NameMap,
    reporter: Arc<Reporter>,
    stop: &'a Stop,
}

/// Where incremental sync starts when no copy decides it.
struct Starts {
    /// Without a data copy: where the source is now (or where the spec says), taken before the
    /// schema sync so that nothing written meanwhile is missed.
    without_copy: Option<Position>,
    /// With a copy that finds no table to snapshot (databases selected whole that are empty
    /// yet): what is created in them from now on is replayed.
    if_nothing_copied: Option<Position>,
}

impl<'a> Run<'a> {
    async fn set_up(
        task: &'a Task,
        (source, target): (Server, Server),
        (src, tgt): (&mut Conn, &mut Conn),
        reporter: Arc<Reporter>,
        stop: &'a Stop,
    ) -> Result<Run<'a>> {
        let spec = &task.spec;
        let flavor = Flavor::detect(&source, src).await?;
        flavor.check_supported_source(&source)?;
        let target_flavor = Flavor::detect(&target, tgt).await?;
        let binlog = Flavor::binlog_enabled(&source, src).await?;
        info!(source = %flavor.version_text, binlog, "source connected");
        let settings = match spec.incremental {
            true => Some(flavor.check_binlog_settings(&source, src, binlog).await?),
            false => None,
        };
        // A target with local_infile OFF is copied with INSERTs (see the copier): nothing to refuse.
        let meta = Arc::new(Meta::new(&spec.metadata_database, &task.id()));
        meta.ensure(&target).await?;
        let lock = Arc::new(TaskLock::acquire(&target, &meta).await?);
        meta.record_source(&target, &source.address).await?;
        let (existing, dbs) = mapping::load(spec, &source, src, &task.id()).await?;
        let renames = mapping::renames(&dbs);
        Ok(Run { task, source, target, flavor, target_flavor, binlog, settings, meta, lock, existing, dbs, renames, reporter, stop })
    }

    async fn start_positions(&self, src: &mut Conn) -> Result<Starts> {
        let spec = &self.task.spec;
        let no_binlog = || Error::invalid("spec.incremental", format!("the source {} writes no binlog", self.source.address));
        let without_copy = match (&spec.start_position, spec.incremental && !spec.initial_sync.data) {
            (_, false) => None,
            (Some(sp), true) => Some(start_position(sp)?),
            (None, true) => Some(self.flavor.current_position(&self.source, src).await?.ok_or_else(no_binlog)?),
        };
        let if_nothing_copied = match spec.incremental && spec.initial_sync.data && self.binlog {
            true => self.flavor.current_position(&self.source, src).await?,
            false => None,
        };
        Ok(Starts { without_copy, if_nothing_copied })
    }

    /// Schema sync, then the full copy with the checkpoint it leaves (or the start without one).
    async fn initial_sync(&self, tgt: &mut Conn, starts: Starts) -> Result<()> {
        let (spec, reporter) = (&self.task.spec, &self.reporter);
        reporter.set_phase(Phase::Initializing, Some("schema sync".into()));
        reporter.flush()?;
        let mut schema_status = SchemaSyncStatus::default();
        let prepared = self.schema_sync().run(&self.dbs, &mut schema_status).instrument(info_span!("schema")).await?;
        reporter.update(|s| s.schema_sync = Some(schema_status.clone()));
        reporter.flush()?;
        if self.settings.is_some_and(|s| !s.names_columns) {
            self.track_definitions(tgt).await?;
        }
        if !spec.initial_sync.data {
            if let Some(start) = &starts.without_copy {
                self.meta.init_checkpoint(&self.target, tgt, start, None).await?;
            }
            return Ok(());
        }
        reporter.set_phase(Phase::Initializing, Some("full data sync".into()));
        copy_prepared(&self.copier(), tgt, prepared, Vec::new(), reporter).await?;
        let positions = self.meta.snapshot_positions(&self.target, tgt).await?;
        if let Some(cp) = checkpoint(&positions) {
            info!(file = %cp.file, position = cp.position, "full sync consistent from this binlog position");
            reporter.update(|s| s.checkpoint = Some(cp));
        }
        if spec.incremental {
            let first = positions.iter().min().or(starts.if_nothing_copied.as_ref()).ok_or_else(|| {
                Error::invalid("spec.incremental", format!("the source {} writes no binlog to follow", self.source.address))
            })?;
            let last = positions.iter().max().filter(|l| *l != first);
            self.meta.init_checkpoint(&self.target, tgt, first, last).await?;
        }
        Ok(())
    }

    fn schema_sync(&self) -> SchemaSync<'_> {
        SchemaSync {
            spec: &self.task.spec,
            source: &self.source,
            target: &self.target,
            meta: &self.meta,
            renames: &self.renames,
            parallelism: self.task.spec.engine.parallelism as usize,
        }
    }

    fn copier(&self) -> Copier {
        let spec = &self.task.spec;
        Copier {
            source: self.source.clone(),
            target: self.target.clone(),
            flavor: self.flavor.clone(),
            binlog: self.binlog,
            meta: self.meta.clone(),
            parallelism: spec.engine.parallelism as usize,
            batch_bytes: spec.engine.batch_bytes,
            chunk_rows: spec.engine.chunk_rows,
        }
    }

    /// The source's row events carry no column names: ferry keeps its own copy of each selected
    /// table's definition to map them by position (see [`crate::target::tracker`]), taken here
    /// next to the schema sync.
    async fn track_definitions(&self, tgt: &mut Conn) -> Result<()> {
        let tracker = SchemaTracker::new(&self.meta.db, &self.task.id());
        // Each shadow database once, then the tables over several sessions at once (ten thousand
        // tables, one after the other, took most of a minute on MySQL).
        for d in &self.dbs {
            tracker.create_shadow_db(&self.target, tgt, &d.src).await?;
        }
        let queue = std::sync::Mutex::new(self.dbs.iter().flat_map(|d| &d.tables).collect::<std::collections::VecDeque<_>>());
        let sessions = (self.task.spec.engine.parallelism as usize * 2).max(1);
        let mut pairs = Vec::with_capacity(sessions);
        let tables = queue.lock().expect("queue lock").len();
        for _ in 0..sessions.min(tables) {
            let (s, t) = tokio::join!(self.source.connect(Session::Control), self.target.connect(Session::Control));
            pairs.push((s?, t?));
        }
        let workers = pairs.iter_mut().map(|(src, tgt)| {
            let (tracker, queue) = (&tracker, &queue);
            Box::pin(async move {
                loop {
                    let next = queue.lock().expect("queue lock").pop_front();
                    let Some(t) = next else { return Ok::<(), Error>(()) };
                    let create = catalog::show_create_table(&self.source, src, &t.src_db, &t.src_table).await?;
                    tracker.track_in_shadow_db(&self.target, tgt, &t.src_db, &t.src_table, &create).await?;
                }
            })
        });
        futures_util::future::try_join_all(workers).await?;
        for (s, t) in pairs {
            let _ = tokio::join!(s.disconnect(), t.disconnect());
        }
        info!(tables, "row events name no columns on this source: table definitions tracked");
        Ok(())
    }

    /// Incremental sync, until an error that retrying cannot cure.
    async fn follow(self) -> Result<()> {
        let task = self.task;
        let changed_keys = crate::task::beside_player::changed_keys(task);
        let player = Player {
            stop: self.stop.clone(),
            lock: self.lock.clone(),
            source: self.source.clone(),
            target: self.target.clone(),
            flavor: self.flavor.clone(),
            target_flavor: self.target_flavor.clone(),
            collations: Default::default(),
            meta: self.meta.clone(),
            server_id: task.spec.engine.server_id.unwrap_or_else(|| crate::source::binlog::server_id_for(&task.id())),
            spec: task.spec.clone(),
            merges: self
                .dbs
                .iter()
                .flat_map(|d| &d.tables)
                .filter_map(|t| Some(((t.dst_db.clone(), t.dst_table.clone()), t.merge.clone()?)))
                .collect(),
            reporter: self.reporter.clone(),
            owner: format!("{}:{}", hostname(), std::process::id()),
            lanes: (task.spec.engine.parallelism as usize).clamp(1, crate::target::meta::APPLY_SLOTS),
            tracker: SchemaTracker::new(&self.meta.db, &task.id()).tracking_created_tables(self.settings.is_some_and(|s| !s.names_columns)),
            changed_keys: changed_keys.clone(),
        };
        // Verification and a requested cutover run beside the player, and end with it.
        let play = player.run().instrument(info_span!("incremental"));
        let beside = crate::task::beside_player::run_beside_player(task, self.reporter.clone(), changed_keys);
        tokio::pin!(play, beside);
        let mut beside_done = false;
        loop {
            tokio::select! {
                r = &mut play => return r,
                _ = &mut beside, if !beside_done => beside_done = true,
            }
        }
    }
}

/// Plans and copies the prepared tables (resuming their plans), with `before` listed first in
/// the status as tables copied already.
async fn copy_prepared(
    copier: &Copier,
    tgt: &mut Conn,
    prepared: Vec<PreparedTable>,
    before: Vec<Arc<TableCounter>>,
    reporter: &Reporter,
) -> Result<()> {
    let mut plan_src = copier.source.connect(Session::Control).await?;
    let plans = copier.plan(&mut plan_src, tgt, &prepared.iter().map(|p| &p.map).collect::<Vec<_>>()).await?;
    let mut work = Vec::new();
    let mut counters = before;
    for (p, chunks) in prepared.into_iter().zip(plans) {
        let counter = Arc::new(TableCounter::new(p.map.source_name(), p.map.rows_estimate));
        counters.push(counter.clone());
        let done = chunks.iter().filter(|c| c.done).count() as u32;
        counter.set_plan(chunks.len() as u32, done, chunks.iter().map(|c| c.rows).sum());
        if p.state == TableState::Done {
            counter.mark_complete();
            continue;
        }
        let copy = TableCopy {
            map: p.map,
            columns: p.columns,
            keep_existing_rows: p.keep_existing_rows,
            deferred_indexes: p.deferred_indexes,
            counter,
        };
        work.push((Arc::new(copy), chunks));
    }
    let _ = plan_src.disconnect().await;
    reporter.start_copy(counters);
    copier.run(work).instrument(info_span!("full_sync")).await?;
    reporter.flush()
}

/// On resume: what the selection gained and lost since the task last ran.
///
/// Lost: a recorded table the selection no longer names (but the source still has) stops being
/// applied (the player only applies the selected tables) and is forgotten; its target table and
/// rows stay. A recorded table gone from the source keeps its record: its DROP is in the binlog.
///
/// Gained: the selected tables without a finished initial sync by the task's own records (no
/// record, or a copy not done), never by what the target holds: a table that schema-change
/// replay created carries a record. Returned as databases holding only those tables; a database
/// new to the task keeps `whole` (its views and routines come along).
impl Run<'_> {
    async fn selection_changes(&self, src: &mut Conn, tgt: &mut Conn) -> Result<Vec<mapping::DatabaseMap>> {
        let (source, target, meta) = (&self.source, &self.target, &self.meta);
        let (source_dbs, dbs, with_data) = (&self.existing, &self.dbs, self.task.spec.initial_sync.data);
        let records = meta.table_records(target, tgt).await?;
        let selected: BTreeSet<(&str, &str)> =
            dbs.iter().flat_map(|d| d.tables.iter().map(|t| (t.src_db.as_str(), t.src_table.as_str()))).collect();
        let mut source_tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in &records {
            if selected.contains(&(r.src_db.as_str(), r.src_table.as_str())) || !source_dbs.contains(&r.src_db) {
                continue;
            }
            if !source_tables.contains_key(&r.src_db) {
                let tables = catalog::base_tables(source, src, &r.src_db).await?;
                source_tables.insert(r.src_db.clone(), tables.into_iter().collect());
            }
            if source_tables[&r.src_db].contains(&r.src_table) {
                warn!(
                    table = %format!("{}.{}", r.src_db, r.src_table),
                    "no longer selected: its changes are not applied from now on; its target table is kept as it is"
                );
                meta.forget_table(target, tgt, &r.src_db, &r.src_table).await?;
            }
        }

        let state_of: BTreeMap<(&str, &str), Option<TableState>> =
            records.iter().map(|r| ((r.src_db.as_str(), r.src_table.as_str()), r.state)).collect();
        let pending = |state: Option<Option<TableState>>| match state {
            None => true,
            Some(Some(TableState::Creating)) => true,
            Some(Some(TableState::Created | TableState::Existing)) => with_data,
            Some(Some(TableState::Done)) => false,
            // A state a newer version wrote: not ours to redo.
            Some(None) => false,
        };
        let mut added = Vec::new();
        for d in dbs {
            let tables: Vec<mapping::TableMap> =
                d.tables.iter().filter(|t| pending(state_of.get(&(t.src_db.as_str(), t.src_table.as_str())).copied())).cloned().collect();
            if tables.is_empty() {
                continue;
            }
            let new_db = !records.iter().any(|r| r.src_db == d.src);
            let mut only = d.clone();
            only.whole = d.whole && new_db;
            only.tables = tables;
            added.push(only);
        }
        Ok(added)
    }

    /// The initial sync of tables the selection gained while the task ran incrementally: schema
    /// sync and full copy of those tables only, before incremental sync resumes from its checkpoint.
    ///
    /// Before, not beside, the player: replay from the (older) checkpoint then passes over the copy,
    /// as after a first full sync: keyed rows are applied idempotently by key, and keyless tables
    /// skip the changes from before their copy's snapshot (their copy position is read when the
    /// player starts, so it must exist by then). Beside a running player, the player would write a
    /// new table's rows while its chunks load (a chunk would then overwrite newer rows, or collide
    /// with them) and would move the table's apply slot past changes its copy does not hold; both
    /// need the player to hold a table back until its copy is done.
    async fn sync_added(&self, tgt: &mut Conn, added: &[mapping::DatabaseMap]) -> Result<()> {
        let (spec, dbs, reporter, copier) = (&self.task.spec, &self.dbs, &self.reporter, &self.copier());
        let names: Vec<String> = added.iter().flat_map(|d| d.tables.iter().map(|t| t.source_name())).collect();
        info!(tables = %names.join(", "), "the selection gained tables: their initial sync runs before incremental sync resumes");
        reporter.set_phase(
            Phase::Initializing,
            Some(format!("initial sync of {} table(s) added to the selection; incremental sync resumes after", names.len())),
        );
        reporter.flush()?;
        let mut schema_status = reporter.status().schema_sync.unwrap_or_default();
        let prepared = self.schema_sync().run(added, &mut schema_status).instrument(info_span!("schema", added = names.len())).await?;
        reporter.update(|s| s.schema_sync = Some(schema_status.clone()));
        reporter.flush()?;
        if !spec.initial_sync.data {
            return Ok(());
        }
        // The tables copied before stay in the status's list, complete.
        let totals = copier.meta.copy_totals(&copier.target, tgt).await?;
        let new: BTreeSet<(&str, &str)> =
            added.iter().flat_map(|d| d.tables.iter().map(|t| (t.src_db.as_str(), t.src_table.as_str()))).collect();
        let mut before = Vec::new();
        for t in dbs.iter().flat_map(|d| &d.tables) {
            if new.contains(&(t.src_db.as_str(), t.src_table.as_str())) {
                continue;
            }
            let tot = totals.get(&(t.src_db.clone(), t.src_table.clone())).copied().unwrap_or_default();
            let counter = TableCounter::new(t.source_name(), tot.rows_copied);
            counter.set_plan(tot.chunks, tot.chunks_done, tot.rows_copied);
            counter.mark_complete();
            before.push(Arc::new(counter));
        }
        copy_prepared(copier, tgt, prepared, before, reporter).instrument(info_span!("added")).await
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

fn start_position(sp: &ferry_crds::StartPosition) -> Result<Position> {
    match (&sp.file, sp.position, &sp.gtid_set) {
        (Some(file), Some(pos), gtid) => Ok(Position { file: file.clone(), pos, gtid: gtid.clone() }),
        (None, None, Some(gtid)) => Ok(Position { file: String::new(), pos: 4, gtid: Some(gtid.clone()) }),
        _ => Err(Error::invalid("spec.startPosition", "give file and position, or gtidSet")),
    }
}

/// Where incremental sync must start (the earliest snapshot a chunk was read at) and until where
/// it replays idempotently (the latest).
fn checkpoint(positions: &[Position]) -> Option<Checkpoint> {
    let first = positions.iter().min()?;
    let last = positions.iter().max()?;
    Some(Checkpoint {
        file: first.file.clone(),
        position: first.pos,
        gtid_set: first.gtid.clone().filter(|g| !g.is_empty()),
        consistent_at: (last != first).then(|| format!("{}:{}", last.file, last.pos)),
        time: Some(Time(now())),
    })
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

fn summary(s: &SyncTaskStatus) -> String {
    let mut parts = Vec::new();
    if let Some(sc) = &s.schema_sync {
        parts.push(format!("{} tables, {} views, {} routines", sc.tables + sc.kept_existing.len() as u32, sc.views, sc.routines));
    }
    if let Some(f) = &s.full_sync {
        parts.push(format!("{} rows copied", f.rows_done));
    }
    if let Some(c) = &s.checkpoint {
        parts.push(format!("consistent at {}:{}", c.file, c.position));
    }
    format!("initial sync complete: {}", parts.join(", "))
}

/// The status a re-run starts from: the last one written, with a failure cleared (the run
/// decides the phase again).
pub fn resumed_status(mut s: SyncTaskStatus) -> SyncTaskStatus {
    if matches!(s.phase, Some(Phase::Failed) | Some(Phase::Finished) | None) {
        s.phase = Some(Phase::Pending);
    }
    s.message = Some("resuming".into());
    s
}

/// The status a fresh run starts from.
pub fn initial_status() -> SyncTaskStatus {
    SyncTaskStatus { phase: Some(Phase::Pending), ..Default::default() }
}
