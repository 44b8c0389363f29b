//! Cutover: the moment the applications move to the target. With `lock_source` the source is made
//! read-only first, as its flavour allows ([`Flavor::read_only_lock`]). Then the source's final binlog position is read,
//! the target is waited for until every slot has applied up to it, the selected tables are
//! verified, and the triggers the schema sync deferred (their effects arrived as rows until now)
//! and the events of whole databases are created on the target with their original definers,
//! sql_mode and character sets. Each step can run again: an interrupted cutover is run again.

use std::time::{Duration, Instant};

use ferry_crds::manifest::Task;
use ferry_crds::{CutoverStatus, VerificationStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mysql_async::Conn;
use mysql_async::prelude::*;
use tracing::{info, warn};

use crate::db::flavor::{Flavor, Position};
use crate::db::{Server, Session, catalog};
use crate::error::{Error, Result};
use crate::plan::mapping;
use crate::target::meta::Meta;
use crate::verify::{VerifyOptions, verify};

/// How a cutover runs.
#[derive(Clone, Debug)]
pub struct CutoverOptions {
    /// Make the source read-only first.
    pub lock_source: bool,
    /// How long to wait for the target to apply up to the final position.
    pub catch_up: Duration,
}

/// What a cutover did: its status, and the verification it ran.
pub struct CutoverReport {
    pub status: CutoverStatus,
    pub verification: Option<VerificationStatus>,
}

/// Runs the cutover; `on_state` hears each step as it starts. A cutover that fails after
/// locking the source makes it writable again (nothing was switched; the applications go on).
pub async fn cutover(task: &Task, options: &CutoverOptions, on_state: &(dyn Fn(&CutoverStatus) + Send + Sync)) -> Result<CutoverReport> {
    let (source, _) = crate::db::servers(task);
    let mut src = source.connect(Session::Control).await?;
    let flavor = Flavor::detect(&source, &mut src).await?;
    let mut status = CutoverStatus::default();
    let mut locked = None;
    if options.lock_source {
        status.state = "Locking".into();
        on_state(&status);
        locked = Some(lock(&source, &flavor, &mut src).await?);
        status.source_locked = true;
    }
    let result = switch(task, options, (&source, &flavor, &mut src), &mut status, on_state).await;
    let failed = !matches!(&result, Ok(r) if r.status.state == "Done");
    if let Some(was_read_only) = locked {
        unlock(&source, &flavor, &mut src, failed && !was_read_only).await;
        if failed && !was_read_only {
            status.source_locked = false;
        }
    }
    let _ = src.disconnect().await;
    result.map(|mut r| {
        r.status.source_locked = status.source_locked;
        r
    })
}

/// The cutover after the lock: final position, catch-up, verification, triggers.
async fn switch(
    task: &Task,
    options: &CutoverOptions,
    (source, flavor, src): (&Server, &Flavor, &mut Conn),
    status: &mut CutoverStatus,
    on_state: &(dyn Fn(&CutoverStatus) + Send + Sync),
) -> Result<CutoverReport> {
    let (_, target) = crate::db::servers(task);
    let at = flavor
        .current_position(source, src)
        .await?
        .ok_or_else(|| Error::object(task.id(), format!("the source {} writes no binlog: nothing to cut over from", source.address)))?;
    status.final_position = Some(format!("{}:{}", at.file, at.pos));
    info!(position = %at, locked = options.lock_source, "cutover: the source's final position");
    let mut step = |state: &str| {
        status.state = state.into();
        on_state(status);
    };
    step("CatchingUp");
    wait_applied(&target, &Meta::new(&task.spec.metadata_database, &task.id()), &at, options.catch_up, task).await?;

    step("Verifying");
    // With the source locked one round proves it; otherwise rounds as for any verification.
    let rounds = if options.lock_source { 1 } else { 3 };
    let report = verify(task, &VerifyOptions { rounds, ..Default::default() }, &|_, _, _| {}).await?;
    if !report.passed {
        status.state = "Failed".into();
        status.message = Some(format!(
            "{} rows differ between source and target (see status.verification); nothing was switched{}: repair (ferry verify --repair) and run the cutover again",
            report.differences,
            if options.lock_source { " and the source is writable again" } else { "" }
        ));
        return Ok(CutoverReport { status: status.clone(), verification: Some(report) });
    }

    step("CreatingTriggers");
    status.triggers_created = create_deferred(task, (source, &target), src).await?;
    status.state = "Done".into();
    status.time = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    status.message = Some(match options.lock_source {
        true => format!("done: the source is read-only and the target holds everything up to {at}"),
        false => format!(
            "done without locking the source: the target held everything up to {at} then; writes to the source since are still being followed"
        ),
    });
    Ok(CutoverReport { status: status.clone(), verification: Some(report) })
}

/// Makes the source read-only ([`Flavor::read_only_lock`]); returns whether it was read-only
/// already. What the session holds stays held until [`unlock`].
async fn lock(source: &Server, flavor: &Flavor, src: &mut Conn) -> Result<bool> {
    let how = flavor.read_only_lock();
    let was: Option<u64> = src.query_first(format!("SELECT {} + 0", how.variable)).await.map_err(source.err("reading read_only"))?;
    for sql in how.lock {
        src.query_drop(*sql).await.map_err(|e| {
            Error::object(
                format!("source {}", source.address),
                format!("cannot make it read-only ({sql}): {e}; the user needs SUPER or SYSTEM_VARIABLES_ADMIN (and RELOAD on MariaDB)"),
            )
        })?;
    }
    Ok(was == Some(1))
}

/// Ends what the lock's session holds; with `writable`, makes the source writable again.
async fn unlock(source: &Server, flavor: &Flavor, src: &mut Conn, writable: bool) {
    let how = flavor.read_only_lock();
    let statements = how.release.iter().chain(writable.then_some(&how.writable));
    for sql in statements {
        if let Err(e) = src.query_drop(*sql).await {
            warn!(source = %source.address, error = %e, sql, "cannot release the source");
        }
    }
}

/// Waits until every slot of the task has applied up to `at`.
async fn wait_applied(target: &Server, meta: &Meta, at: &Position, limit: Duration, task: &Task) -> Result<()> {
    let mut tgt = target.connect(Session::Control).await?;
    let deadline = Instant::now() + limit;
    loop {
        let cp = meta.checkpoint(target, &mut tgt).await?;
        let behind = match &cp {
            Some(cp) if !cp.slots.is_empty() => cp.slots.iter().min().filter(|p| *p < at).cloned(),
            _ => return Err(Error::object(task.id(), "the task is not following the binlog (no checkpoint yet): nothing to cut over")),
        };
        let Some(behind) = behind else { break };
        if Instant::now() > deadline {
            return Err(Error::object(
                task.id(),
                format!(
                    "the target did not apply up to the source's final position {at} within {} s (it stands at {behind}): is the task running?",
                    limit.as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = tgt.disconnect().await;
    Ok(())
}

/// Creates on the target the triggers of the selected tables and the events of the databases
/// selected whole that it lacks; returns their names (`db.name`).
async fn create_deferred(task: &Task, (source, target): (&Server, &Server), src: &mut Conn) -> Result<Vec<String>> {
    let (_, dbs) = mapping::load(&task.spec, source, src, &task.id()).await?;
    let renames = mapping::renames(&dbs);
    let meta = Meta::new(&task.spec.metadata_database, &task.id());
    let schema = crate::sync::schema::SchemaSync { spec: &task.spec, source, target, meta: &meta, renames: &renames, parallelism: 1 };
    let mut tgt = target.connect(Session::Write).await?;
    let mut created = Vec::new();
    for d in &dbs {
        let present: Vec<(String, String)> = tgt
            .exec(
                "SELECT 'TRIGGER', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? \
                 UNION ALL SELECT 'EVENT', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?",
                (&d.dst, &d.dst),
            )
            .await
            .map_err(target.err("listing the target's triggers and events"))?;
        let has = |kind: &str, name: &str| present.iter().any(|(k, n)| k == kind && n == name);
        let selected: Vec<&str> = d.tables.iter().map(|t| t.src_table.as_str()).collect();
        let mut stored = Vec::new();
        for (name, table) in catalog::triggers(source, src, &d.src).await? {
            if selected.contains(&table.as_str()) && !has("TRIGGER", &name) {
                stored.push(("TRIGGER", name.clone(), catalog::show_create_routine(source, src, &d.src, "TRIGGER", &name).await?));
            }
        }
        if d.whole {
            for name in catalog::events(source, src, &d.src).await? {
                if !has("EVENT", &name) {
                    stored.push(("EVENT", name.clone(), catalog::show_create_event(source, src, &d.src, &name).await?));
                }
            }
        }
        if stored.is_empty() {
            continue;
        }
        tgt.query_drop(format!("USE {}", crate::db::q(&d.dst))).await.map_err(target.err("USE"))?;
        for (kind, name, ddl) in stored {
            let object = format!("{} {}.{name}", kind.to_lowercase(), d.src);
            schema.create_stored(&mut tgt, (&d.src, &d.dst), &ddl, &object, true).await?;
            info!(object = %object, "created at cutover");
            created.push(format!("{}.{name}", d.dst));
        }
    }
    let _ = tgt.disconnect().await;
    Ok(created)
}
