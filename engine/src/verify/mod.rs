//! Verification: every selected table compared between source and target through the task's
//! mapping (renamed databases, tables and columns, the selected columns, the row filter; merged
//! tables by the rows this task owns), and, with `repair`, the differences written right.
//!
//! A keyed table is compared by key ranges of `chunk_rows` rows, walked on the source one at a
//! time (memory stays bounded whatever the table size): each server computes the range's row
//! count and the sum of its rows' hashes over the canonical text of the selected columns
//! ([`canon`]); ranges that differ are compared row by row. A table without a key is compared as a
//! multiset of row hashes (a duplicated or missing identical row shows).
//!
//! Verifying while the task replays the binlog: a first difference may be only lag. A range that
//! differs is compared again, row by row, in `rounds` rounds; each round reads the source rows,
//! then the source's binlog position (which is past that read), waits until the target has
//! applied up to it (the position ferry commits with the table's changes), then reads the target
//! rows and the source rows again. A row counts in a round only when its two source reads agree:
//! then the target, which has every change up to the first read and none after the second, must
//! hold exactly that row, so a change in flight never shows as a difference. A row is reported
//! only when it differs in every round. A difference that lasts
//! while the target keeps catching up is real; one that cannot be checked because the target does
//! not catch up within the wait is reported as unconfirmed, never as equal.
//!
//! Repair ([`repair`]) writes the source's current rows through the applier, under the lock of the
//! table's slot position, only when the target has not applied past the source read (so a repair
//! never overwrites a newer change), and deletes only rows proven extra.

pub mod canon;
mod compare;
mod multiset;
mod recent;
mod repair;

pub use recent::verify_changed;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferry_crds::manifest::Task;
use ferry_crds::{TableVerification, VerificationStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mysql_async::Conn;
use tracing::{Instrument, info, info_span};

use crate::db::flavor::{Flavor, Position};
use crate::db::{Server, Session};
use crate::error::{Error, Result};
use crate::plan::mapping::{self, TableMap};
use crate::target::meta::{Meta, slot_of};
use canon::Canon;

/// How a verification runs.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Rows per key range.
    pub chunk_rows: u64,
    /// At most this many source rows read per second (None: no limit).
    pub rows_per_second: Option<u64>,
    /// Row-level rounds a difference must survive.
    pub rounds: u32,
    /// How long a round waits for the target to apply up to the source's position.
    pub catch_up: Duration,
    /// Write the differences right.
    pub repair: bool,
    /// Keys listed per kind of difference and table.
    pub examples: usize,
    /// Tables compared side by side.
    pub parallelism: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            chunk_rows: 5_000,
            rows_per_second: None,
            rounds: 3,
            catch_up: Duration::from_secs(60),
            repair: false,
            examples: 5,
            parallelism: 2,
        }
    }
}

/// Progress for a bar: (tables done, tables, rows compared).
pub type OnProgress<'a> = &'a (dyn Fn(usize, usize, u64) + Send + Sync);

/// One table as verification sees it.
struct Plan {
    map: TableMap,
    /// (source name, target name, canonical form) of each compared column.
    columns: Vec<(String, String, Canon)>,
    /// Whether each compared column may hold NULL on the source (checksums mark NULLs only there).
    nullable: Vec<bool>,
    /// How the applier writes each compared column (repair).
    codecs: Vec<crate::codec::Codec>,
    /// (source name, target name) of the key columns.
    key: Option<Vec<(String, String)>>,
    /// Other tasks write the target table too: only this task's rows are compared, and none is
    /// ever extra.
    merged: bool,
}

impl Plan {
    fn of(map: &TableMap) -> Plan {
        let columns: Vec<(String, String, Canon)> =
            map.copy_columns().map(|c| (c.source.name.clone(), c.target.clone(), Canon::of(&c.source))).collect();
        let key = map.key.as_ref().map(|k| {
            k.iter()
                .map(|s| {
                    let dst = map.columns.iter().find(|c| &c.source.name == s).map_or_else(|| s.clone(), |c| c.target.clone());
                    (s.clone(), dst)
                })
                .collect()
        });
        let codecs = map.copy_columns().map(|c| crate::codec::Codec::of(&c.source)).collect();
        let nullable = map.copy_columns().map(|c| c.source.nullable).collect();
        Plan { merged: map.merge.is_some(), columns, nullable, codecs, key, map: map.clone() }
    }
}

/// The servers and what verification needs of the task's state.
struct Ctx<'a> {
    source: Server,
    target: Server,
    flavor: Flavor,
    meta: Meta,
    options: &'a VerifyOptions,
    /// The target follows the source's binlog: rounds wait for it (false: a copy, static).
    following: bool,
    /// Rows read since `started`, for the rate limit.
    read: std::sync::atomic::AtomicU64,
    started: Instant,
}

/// Verifies (and with `options.repair` repairs) every selected table.
pub async fn verify(task: &Task, options: &VerifyOptions, on_progress: OnProgress<'_>) -> Result<VerificationStatus> {
    let span = info_span!("verify", task = %task.id());
    run(task, options, on_progress).instrument(span).await
}

async fn run(task: &Task, options: &VerifyOptions, on_progress: OnProgress<'_>) -> Result<VerificationStatus> {
    let (ctx, plans, src) = open(task, options).await?;
    let _ = src.disconnect().await;
    // Tables side by side, each worker with its own sessions, taking the next table when done.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<TableVerification>>> = std::sync::Mutex::new(vec![None; plans.len()]);
    let (done, rows) = (std::sync::atomic::AtomicUsize::new(0), std::sync::atomic::AtomicU64::new(0));
    let worker = || async {
        let (mut ctl, mut src_read, mut tgt_read) = (
            ctx.source.connect(Session::Control).await?,
            ctx.source.connect(Session::RawRead).await?,
            ctx.target.connect(Session::RawRead).await?,
        );
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Some(plan) = plans.get(i) else { break };
            let table = compare::table(&ctx, (&mut ctl, &mut src_read, &mut tgt_read), plan)
                .instrument(info_span!("table", name = %plan.map.source_name()))
                .await?;
            let total = rows.fetch_add(table.rows_compared, std::sync::atomic::Ordering::SeqCst) + table.rows_compared;
            results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(table);
            on_progress(done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1, plans.len(), total);
        }
        for c in [ctl, src_read, tgt_read] {
            let _ = c.disconnect().await;
        }
        Ok::<_, Error>(())
    };
    let workers = options.parallelism.clamp(1, plans.len().max(1));
    futures_util::future::try_join_all((0..workers).map(|_| worker())).await?;
    let status = summary(results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect());
    info!(rows = status.rows_compared, differences = status.differences, "verification done");
    Ok(status)
}

/// The verification of these tables: their totals, passed when nothing differs, and when.
fn summary(tables: Vec<TableVerification>) -> VerificationStatus {
    let rows_compared = tables.iter().map(|t| t.rows_compared).sum();
    let differences: u64 = tables.iter().map(|t| t.missing + t.extra + t.different + t.unconfirmed).sum();
    VerificationStatus {
        time: Some(Time(k8s_openapi::jiff::Timestamp::now())),
        passed: differences == 0,
        rows_compared,
        differences,
        tables,
        ..Default::default()
    }
}

/// Connects, resolves the task's mapping and whether the target follows the source: the
/// context, a plan per selected table, and a control session on the source.
async fn open<'a>(task: &Task, options: &'a VerifyOptions) -> Result<(Ctx<'a>, Vec<Plan>, Conn)> {
    let (source, target) = crate::db::servers(task);
    let (src, tgt) = tokio::join!(source.connect(Session::Control), target.connect(Session::Control));
    let (mut src, mut tgt) = (src?, tgt?);
    let flavor = Flavor::detect(&source, &mut src).await?;
    let (_, dbs) = mapping::load(&task.spec, &source, &mut src, &task.id()).await?;
    let meta = Meta::new(&task.spec.metadata_database, &task.id());
    let following = task.spec.incremental && following(&target, &meta, &mut tgt, task).await?;
    let _ = tgt.disconnect().await;
    let ctx = Ctx { source, target, flavor, meta, options, following, read: Default::default(), started: Instant::now() };
    let plans: Vec<Plan> = dbs.iter().flat_map(|d| &d.tables).map(Plan::of).collect();
    Ok((ctx, plans, src))
}

/// Whether the target follows the source: the task replays the binlog and its initial sync is
/// done (a checkpoint with slot positions). An incremental task still copying cannot be verified.
async fn following(target: &Server, meta: &Meta, tgt: &mut Conn, task: &Task) -> Result<bool> {
    let exists: Option<u64> = crate::db::query_scalar(
        tgt,
        &format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = 'checkpoints'",
            crate::db::lit(&meta.db)
        ),
    )
    .await
    .map_err(target.err("looking for the task's checkpoint"))?;
    let checkpoint = match exists {
        Some(n) if n > 0 => meta.checkpoint(target, tgt).await?,
        _ => None,
    };
    match checkpoint {
        Some(cp) if !cp.slots.is_empty() => Ok(true),
        Some(_) => Err(Error::object(
            task.id(),
            "the task has not started following the binlog yet (its engine has not run since the initial sync): start it, then verify",
        )),
        None => Err(Error::object(
            task.id(),
            format!("no checkpoint on the target {}: the task's initial sync is not finished; verify after it", target.address),
        )),
    }
}

impl Ctx<'_> {
    /// The source's binlog position now (None: no binlog, a static comparison).
    async fn source_position(&self, src: &mut Conn) -> Result<Option<Position>> {
        if !self.following {
            return Ok(None);
        }
        self.flavor.current_file_position(&self.source, src).await
    }

    /// Waits until the target has applied the table's changes up to `at`. False when it did not
    /// within the catch-up wait.
    async fn wait_applied(&self, tgt: &mut Conn, table: &TableMap, at: &Option<Position>) -> Result<bool> {
        let Some(at) = at else { return Ok(true) };
        let deadline = Instant::now() + self.options.catch_up;
        let slot = slot_of(&table.src_db, &table.src_table);
        loop {
            let applied = self.meta.checkpoint(&self.target, tgt).await?.and_then(|cp| cp.slots.get(slot).cloned());
            if applied.as_ref().is_some_and(|p| p >= at) {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Counts `rows` read from the source and sleeps when over the rate limit.
    async fn throttle(&self, rows: u64) {
        let Some(limit) = self.options.rows_per_second.filter(|l| *l > 0) else { return };
        let read = self.read.fetch_add(rows, std::sync::atomic::Ordering::SeqCst) + rows;
        let due = Duration::from_secs_f64(read as f64 / limit as f64);
        let spent = self.started.elapsed();
        if due > spent {
            tokio::time::sleep(due - spent).await;
        }
    }
}

/// The first `n` examples of each kind, in key order.
fn examples(kinds: &BTreeMap<&'static str, Vec<String>>, n: usize) -> Vec<String> {
    kinds.iter().flat_map(|(kind, keys)| keys.iter().take(n).map(move |k| format!("{kind} {k}"))).collect()
}

/// An empty report line for `plan`.
fn table_report(plan: &Plan) -> TableVerification {
    TableVerification { name: plan.map.source_name(), target: plan.map.target_name(), ..Default::default() }
}

/// The report for people: a line per table, then what differs.
pub fn render_table(report: &VerificationStatus) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40} {:>10} {:>8} {:>8} {:>9} {:>11} {:>8}",
        "TABLE", "ROWS", "MISSING", "EXTRA", "DIFFERENT", "UNCONFIRMED", "REPAIRED"
    );
    for t in &report.tables {
        let name = if t.name == t.target { t.name.clone() } else { format!("{} -> {}", t.name, t.target) };
        let _ = writeln!(
            out,
            "{name:<40} {:>10} {:>8} {:>8} {:>9} {:>11} {:>8}",
            t.rows_compared, t.missing, t.extra, t.different, t.unconfirmed, t.repaired
        );
        for e in &t.examples {
            let _ = writeln!(out, "    {e}");
        }
    }
    let verdict = if report.passed { "the target holds what the source holds" } else { "differences found" };
    let _ = writeln!(out, "{} rows compared, {} differing: {verdict}", report.rows_compared, report.differences);
    out
}
