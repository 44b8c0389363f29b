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
use crate::db::flavor::{Flavor, Position};
use crate::db::{Backoff, Server, Session};
use crate::error::{Error, Result};
use crate::plan::mapping;
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
                let wait = backoff.after(started.elapsed());
                warn!(error = %e, retry_in = ?wait, "resuming the task after a transient error");
                reporter.update(|s| s.message = Some(format!("retrying in {wait:?} after: {e}")));
                let mut stop = stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait() => return Err(Error::Interrupted),
                }
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
    // A fresh task is prechecked before anything moves. A task with records on the target resumes
    // without: it was checked when it started, its own tables would read as "existing", and what
    // matters on resume (the binlog position still on the source) the resume checks itself.
    if !crate::precheck::task_has_state(task).await? {
        reporter.set_phase(Phase::Prechecking, Some("precheck".into()));
        let report = crate::precheck::precheck(task).instrument(info_span!("precheck")).await;
        let passed = report.passed;
        let failures = crate::precheck::failures_line(&report);
        reporter.update(|s| s.precheck = Some(report));
        if !passed {
            return Err(Error::Precheck { failures });
        }
    }
    reporter.update(|s| s.message = Some("connecting".into()));
    let (source, target) = crate::db::servers(task);
    let (src_conn, tgt_conn) = tokio::join!(source.connect(Session::Control), target.connect(Session::Control));
    let (mut src, mut tgt) = (src_conn?, tgt_conn?);
    *connected = true;
    let flavor = Flavor::detect(&source, &mut src).await?;
    flavor.check_supported_source(&source)?;
    let target_flavor = Flavor::detect(&target, &mut tgt).await?;
    let binlog = Flavor::binlog_enabled(&source, &mut src).await?;
    info!(source = %flavor.version_text, binlog, "source connected");
    let settings = match spec.incremental {
        true => Some(flavor.check_binlog_settings(&source, &mut src, binlog).await?),
        false => None,
    };
    // A target with local_infile OFF is copied with INSERTs (see the copier): nothing to refuse.

    let meta = Arc::new(Meta::new(&spec.metadata_database, &task.id()));
    meta.ensure(&target).await?;
    let lock = Arc::new(TaskLock::acquire(&target, &meta).await?);
    meta.record_source(&target, &source.address).await?;

    // The source catalog of what the task selects.
    let existing: Vec<String> = catalog::databases(&source, &mut src).await?;
    let mut tables_of = BTreeMap::new();
    for sel in &spec.objects {
        if !existing.contains(&sel.database) {
            continue; // resolve() names the field
        }
        let all = catalog::base_tables(&source, &mut src, &sel.database).await?;
        let wanted: Vec<&String> = match &sel.tables {
            None => all.iter().collect(),
            Some(list) => all.iter().filter(|t| list.iter().any(|s| &s.name == *t)).collect(),
        };
        let mut described = Vec::new();
        for t in wanted {
            described.push(catalog::table(&source, &mut src, &sel.database, t).await?);
        }
        tables_of.insert(sel.database.clone(), described);
    }
    let mut dbs = mapping::resolve(spec, &tables_of)?;
    mapping::set_task(&mut dbs, &task.id());
    let renames = mapping::renames(&dbs);

    // A task whose incremental sync has started goes back to it, after the initial sync of the
    // tables its selection gained since it last ran (and forgetting the ones it lost).
    if spec.incremental && meta.checkpoint(&target, &mut tgt).await?.is_some() {
        let added = selection_changes(&source, &target, &meta, &mut src, &mut tgt, &existing, &dbs, spec.initial_sync.data).await?;
        let _ = src.disconnect().await;
        if !added.is_empty() {
            let copier = copier_for(task, &source, &target, &flavor, binlog, &meta);
            sync_added(spec, &copier, &mut tgt, &dbs, &renames, &added, &reporter).await?;
        }
        let _ = tgt.disconnect().await;
        return follow(task, &source, &target, (&flavor, &target_flavor), &meta, &lock, &dbs, reporter, stop, settings).await;
    }
    // Without a data copy, incremental sync starts where the source is now (or where the spec says),
    // taken before the schema sync so that nothing written meanwhile is missed.
    let start_without_copy = match (&spec.start_position, spec.incremental && !spec.initial_sync.data) {
        (_, false) => None,
        (Some(sp), true) => Some(start_position(sp)?),
        (None, true) => Some(
            flavor
                .current_position(&source, &mut src)
                .await?
                .ok_or_else(|| Error::invalid("spec.incremental", format!("the source {} writes no binlog", source.address)))?,
        ),
    };
    // Where the binlog starts if the copy finds no table to snapshot (databases selected whole
    // that are empty yet): what is created in them from now on is replayed.
    let start_if_nothing_copied = match spec.incremental && spec.initial_sync.data && binlog {
        true => flavor.current_position(&source, &mut src).await?,
        false => None,
    };
    let _ = src.disconnect().await;

    reporter.set_phase(Phase::Initializing, Some("schema sync".into()));
    reporter.flush()?;
    let mut schema_status = SchemaSyncStatus::default();
    let prepared = SchemaSync { spec, source: &source, target: &target, meta: &meta, renames: &renames }
        .run(&dbs, &mut schema_status)
        .instrument(info_span!("schema"))
        .await?;
    reporter.update(|s| s.schema_sync = Some(schema_status.clone()));
    reporter.flush()?;
    if settings.is_some_and(|s| !s.names_columns) {
        track_definitions(&source, &target, &meta, &task.id(), &mut tgt, &dbs).await?;
    }

    if spec.initial_sync.data {
        reporter.set_phase(Phase::Initializing, Some("full data sync".into()));
        let copier = copier_for(task, &source, &target, &flavor, binlog, &meta);
        copy_prepared(&copier, &mut tgt, prepared, Vec::new(), &reporter).await?;

        let positions = meta.snapshot_positions(&target, &mut tgt).await?;
        if let Some(cp) = checkpoint(&positions) {
            info!(file = %cp.file, position = cp.position, "full sync consistent from this binlog position");
            reporter.update(|s| s.checkpoint = Some(cp));
        }
        if spec.incremental {
            let first =
                positions.iter().min().or(start_if_nothing_copied.as_ref()).ok_or_else(|| {
                    Error::invalid("spec.incremental", format!("the source {} writes no binlog to follow", source.address))
                })?;
            let last = positions.iter().max().filter(|l| *l != first);
            meta.init_checkpoint(&target, &mut tgt, first, last).await?;
        }
    } else if let Some(start) = &start_without_copy {
        meta.init_checkpoint(&target, &mut tgt, start, None).await?;
    }
    let _ = tgt.disconnect().await;
    if spec.incremental {
        return follow(task, &source, &target, (&flavor, &target_flavor), &meta, &lock, &dbs, reporter, stop, settings).await;
    }

    let summary = summary(&reporter.status());
    reporter.set_phase(Phase::Finished, Some(summary));
    Ok(())
}

/// The source's row events carry no column names: ferry keeps its own copy of each selected
/// table's definition to map them by position (see [`crate::target::tracker`]), taken here next to the
/// schema sync.
async fn track_definitions(
    source: &Server,
    target: &Server,
    meta: &Meta,
    task_id: &str,
    tgt: &mut Conn,
    dbs: &[mapping::DatabaseMap],
) -> Result<()> {
    let mut src = source.connect(Session::Control).await?;
    let tracker = SchemaTracker::new(&meta.db, task_id);
    for t in dbs.iter().flat_map(|d| &d.tables) {
        let create = catalog::show_create_table(source, &mut src, &t.src_db, &t.src_table).await?;
        tracker.track(target, tgt, &t.src_db, &t.src_table, &create).await?;
    }
    let _ = src.disconnect().await;
    info!(
        tables = dbs.iter().map(|d| d.tables.len()).sum::<usize>(),
        "row events name no columns on this source: table definitions tracked"
    );
    Ok(())
}

fn copier_for(task: &Task, source: &Server, target: &Server, flavor: &Flavor, binlog: bool, meta: &Arc<Meta>) -> Copier {
    let spec = &task.spec;
    Copier {
        source: source.clone(),
        target: target.clone(),
        flavor: flavor.clone(),
        binlog,
        meta: meta.clone(),
        parallelism: spec.engine.parallelism as usize,
        batch_bytes: spec.engine.batch_bytes,
        chunk_rows: spec.engine.chunk_rows,
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
    let mut work = Vec::new();
    let mut counters = before;
    for p in prepared {
        let counter = Arc::new(TableCounter::new(p.map.source_name(), p.map.rows_estimate));
        counters.push(counter.clone());
        let chunks = copier.plan(&mut plan_src, tgt, &p.map).await?;
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
#[allow(clippy::too_many_arguments)]
async fn selection_changes(
    source: &Server,
    target: &Server,
    meta: &Meta,
    src: &mut Conn,
    tgt: &mut Conn,
    source_dbs: &[String],
    dbs: &[mapping::DatabaseMap],
    with_data: bool,
) -> Result<Vec<mapping::DatabaseMap>> {
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
async fn sync_added(
    spec: &ferry_crds::SyncTaskSpec,
    copier: &Copier,
    tgt: &mut Conn,
    dbs: &[mapping::DatabaseMap],
    renames: &crate::sql::NameMap,
    added: &[mapping::DatabaseMap],
    reporter: &Reporter,
) -> Result<()> {
    let names: Vec<String> = added.iter().flat_map(|d| d.tables.iter().map(|t| t.source_name())).collect();
    info!(tables = %names.join(", "), "the selection gained tables: their initial sync runs before incremental sync resumes");
    reporter.set_phase(
        Phase::Initializing,
        Some(format!("initial sync of {} table(s) added to the selection; incremental sync resumes after", names.len())),
    );
    reporter.flush()?;
    let mut schema_status = reporter.status().schema_sync.unwrap_or_default();
    let prepared = SchemaSync { spec, source: &copier.source, target: &copier.target, meta: &copier.meta, renames }
        .run(added, &mut schema_status)
        .instrument(info_span!("schema", added = names.len()))
        .await?;
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

/// Incremental sync, until an error that retrying cannot cure.
async fn follow(
    task: &Task,
    source: &Server,
    target: &Server,
    (flavor, target_flavor): (&Flavor, &Flavor),
    meta: &Arc<Meta>,
    lock: &Arc<TaskLock>,
    dbs: &[mapping::DatabaseMap],
    reporter: Arc<Reporter>,
    stop: &Stop,
    settings: Option<crate::db::flavor::BinlogSettings>,
) -> Result<()> {
    let player = Player {
        stop: stop.clone(),
        lock: lock.clone(),
        source: source.clone(),
        target: target.clone(),
        flavor: flavor.clone(),
        target_flavor: target_flavor.clone(),
        collations: Default::default(),
        meta: meta.clone(),
        server_id: task.spec.engine.server_id.unwrap_or_else(|| crate::source::binlog::server_id_for(&task.id())),
        spec: task.spec.clone(),
        merges: dbs
            .iter()
            .flat_map(|d| &d.tables)
            .filter_map(|t| Some(((t.dst_db.clone(), t.dst_table.clone()), t.merge.clone()?)))
            .collect(),
        reporter,
        owner: format!("{}:{}", hostname(), std::process::id()),
        lanes: (task.spec.engine.parallelism as usize).clamp(1, crate::target::meta::APPLY_SLOTS),
        tracker: SchemaTracker::new(&meta.db, &task.id()).tracking_created_tables(settings.is_some_and(|s| !s.names_columns)),
    };
    player.run().instrument(info_span!("incremental")).await
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
