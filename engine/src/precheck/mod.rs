//! The precheck: before any data moves, check that the task can succeed and say what to change
//! when it cannot. `ferry precheck`, `ferry run` (on a fresh task) and the operator's precheck Job
//! all call [`precheck`].
//!
//! Read-only on the source. On the target it creates nothing but what `target-privileges` needs
//! to try (a scratch table, and its database when that does not exist yet), and removes it.
//! Every item has a stable kebab-case id (the name `spec.precheck.skip` takes) and a level:
//! an Error item that fails stops the task; a Warning item says what to expect.
//!
//! This file holds the run ([`precheck`]: the items in order, the report sorted as
//! [`ITEMS`] lists them) and the context every item shares (`Check`: the two sessions, the
//! selection, the recorded items). The items, by concern:
//!
//! - `servers`: source-connection, target-connection, source-version, target-version,
//!   version-pair (and the [`TESTED_PAIRS`]).
//! - `objects`: the selection resolved on the source (objects-exist), name-collisions,
//!   existing-tables.
//! - `tables`: what the selected tables bring along: primary-keys, merge-keys, foreign-keys,
//!   source-triggers.
//! - `binlog`: binlog-enabled, binlog-format, binlog-row-image, binlog-row-metadata,
//!   binlog-compression, server-id, cascade.
//! - `retention`: binlog-retention, from the copy time `estimate` reckons (a read sample of the
//!   source, the write sample the target trial takes).
//! - `privileges`: source-privileges and target-privileges (with the target trial), read from
//!   SHOW GRANTS (`grants`) and tried.
//! - `target`: target-local-infile, charsets, server-settings, target-free-space.

use std::collections::BTreeMap;

use ferry_crds::{PrecheckItem, PrecheckLevel, PrecheckResult, PrecheckStatus, SyncTaskSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mysql_async::Conn;
use mysql_async::prelude::*;

use crate::db::flavor::Flavor;
use crate::db::{Role, Server, Session, lit, qt};
use crate::error::{Error, Result};
use ferry_crds::manifest::Task;
pub use ferry_crds::validate::{ITEMS, LevelRule, level_for};

mod binlog;
mod estimate;
mod grants;
mod objects;
mod privileges;
mod retention;
mod servers;
mod tables;
mod target;

pub use estimate::{ASSUMED_BYTES_PER_SECOND, ASSUMED_ROWS_PER_SECOND, ReadSample, WriteSample, copy_estimate};
pub use grants::{Grant, has_privilege, parse_grant};
pub use retention::RETENTION_MARGIN_SECONDS;
pub use servers::{PairVerdict, Release, TESTED_PAIRS, tested_pairs_text, version_pair};

use PrecheckLevel::{Error as E, Warning as W};

/// One selected table, resolved against the source (see `objects`, whose `resolve` says why this
/// is not `plan::mapping`'s table).
#[derive(Clone, Debug)]
struct Sel {
    src_db: String,
    src_table: String,
    dst_db: String,
    dst_table: String,
    rows: u64,
    bytes: u64,
    /// Merged with other tasks' rows on the target (`merge: true`).
    merge: bool,
}

impl Sel {
    fn source_name(&self) -> String {
        format!("{}.{}", self.src_db, self.src_table)
    }
    fn target_name(&self) -> String {
        format!("{}.{}", self.dst_db, self.dst_table)
    }
}

/// A selected database that exists on the source.
#[derive(Clone, Debug)]
struct SelDb {
    src: String,
    dst: String,
    whole: bool,
}

/// What every item works with: the task, its servers, one control session on each (an item
/// takes a session out and puts it back; None where the server was not reachable), the selection
/// `objects` resolved, the copy-rate samples, and the items recorded so far.
struct Check<'a> {
    task: &'a Task,
    spec: &'a SyncTaskSpec,
    source: Server,
    target: Server,
    src: Option<Conn>,
    tgt: Option<Conn>,
    src_flavor: Option<Flavor>,
    tgt_flavor: Option<Flavor>,
    dbs: Vec<SelDb>,
    tables: Vec<Sel>,
    /// Reading rate of a sample of the largest selected table, once taken (items 4 and 5).
    read_sample: Option<Option<ReadSample>>,
    /// Writing rate measured by the target trial (item 5), for the retention estimate (item 4).
    target_write: Option<WriteSample>,
    items: Vec<PrecheckItem>,
}

fn item(id: &str, level: PrecheckLevel, result: PrecheckResult, message: impl Into<String>, remedy: impl Into<String>) -> PrecheckItem {
    PrecheckItem { id: id.into(), level, result, message: message.into(), remedy: remedy.into() }
}

impl Check<'_> {
    fn level(&self, id: &str) -> PrecheckLevel {
        level_for(id, self.spec).flatten().unwrap_or(E)
    }
    fn pass(&mut self, id: &str, message: impl Into<String>) {
        let l = self.level(id);
        self.items.push(item(id, l, PrecheckResult::Passed, message, ""));
    }
    fn fail(&mut self, id: &str, message: impl Into<String>, remedy: impl Into<String>) {
        let l = self.level(id);
        self.items.push(item(id, l, PrecheckResult::Failed, message, remedy));
    }
    fn skip(&mut self, id: &str, message: impl Into<String>) {
        let l = self.level(id);
        self.items.push(item(id, l, PrecheckResult::Skipped, message, ""));
    }
    fn unreachable(&mut self, ids: &[&str], role: Role) {
        for id in ids {
            self.skip(id, format!("not checked: the {} is not reachable (see {}-connection)", role.as_str(), role.as_str()));
        }
    }
    /// A server error while checking an item: the item cannot tell, so it fails with the error.
    fn broken(&mut self, id: &str, e: Error) {
        self.fail(id, format!("could not check: {e}"), "see the message; rerun the precheck once the server answers");
    }
}

/// Runs every item against the task's servers. Server errors become failed items; the function
/// itself fails only on what it cannot report (none today), so callers always get a report.
pub async fn precheck(task: &Task) -> PrecheckStatus {
    let spec = &task.spec;
    let (source, target) = crate::db::servers(task);
    // Sessions open on a target the engine would refuse (see `Server::inspect_only`): the report says why.
    let target = target.inspect_only();
    let mut c = Check {
        task,
        spec,
        source,
        target,
        src: None,
        tgt: None,
        src_flavor: None,
        tgt_flavor: None,
        dbs: Vec::new(),
        tables: Vec::new(),
        read_sample: None,
        target_write: None,
        items: Vec::new(),
    };
    c.connections().await;
    c.versions();
    c.objects().await;
    c.name_collisions().await;
    c.binlog().await;
    c.cascade().await;
    c.source_privileges().await;
    c.target_privileges().await;
    // After the target trial, which measures how fast the target takes rows.
    c.retention().await;
    c.local_infile().await;
    c.existing_tables().await;
    c.primary_keys().await;
    c.merge_keys().await;
    c.foreign_keys().await;
    c.triggers().await;
    c.charsets().await;
    c.server_settings().await;
    c.free_space().await;
    if let Some(s) = c.src.take() {
        let _ = s.disconnect().await;
    }
    if let Some(t) = c.tgt.take() {
        let _ = t.disconnect().await;
    }
    let mut items = c.items;
    items.sort_by_key(|i| ITEMS.iter().position(|(id, _)| *id == i.id).unwrap_or(usize::MAX));
    apply_skips(spec, &mut items);
    let passed = !items.iter().any(|i| i.level == E && i.result == PrecheckResult::Failed);
    PrecheckStatus {
        items,
        passed,
        time: Some(Time(k8s_openapi::jiff::Timestamp::now())),
        spec_hash: Some(ferry_crds::hash::precheck_spec_hash(spec)),
    }
}

/// A passed precheck stands in for a new one this long: the servers change too (binlog settings,
/// grants, free space), and a task started over long after its first start is checked again.
pub const PRECHECK_FRESH: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Whether `report` is a passed precheck of this spec (as far as the precheck reads it), run less
/// than [`PRECHECK_FRESH`] before `now`.
pub fn passed_for(report: Option<&PrecheckStatus>, spec: &SyncTaskSpec, now: Time) -> bool {
    let Some(r) = report else { return false };
    let fresh = r.time.as_ref().is_some_and(|t| {
        let age = now.0.as_second() - t.0.as_second();
        (0..PRECHECK_FRESH.as_secs() as i64).contains(&age)
    });
    fresh && r.passed && r.spec_hash.as_deref() == Some(ferry_crds::hash::precheck_spec_hash(spec).as_str())
}

/// Failed warnings named in `spec.precheck.skip` become Skipped. Error-level outcomes never do.
fn apply_skips(spec: &SyncTaskSpec, items: &mut [PrecheckItem]) {
    for it in items.iter_mut() {
        let Some(i) = spec.precheck.skip.iter().position(|s| *s == it.id) else {
            continue;
        };
        if it.level == W && it.result == PrecheckResult::Failed {
            it.result = PrecheckResult::Skipped;
            it.message = format!("accepted by spec.precheck.skip[{i}]: {}", it.message);
        }
    }
}

/// The failed error-level items on one line (see [`PrecheckStatus::failures_line`]).
pub fn failures_line(report: &PrecheckStatus) -> String {
    report.failures_line()
}

/// Whether the task has records on the target already (it ran before): `ferry run` then resumes
/// without a precheck, since its own tables would read as "existing" and the checks that matter
/// on resume (the binlog position still on the source) are made by the resume itself.
pub async fn task_has_state(task: &Task) -> Result<bool> {
    let spec = &task.spec;
    let target = crate::db::servers(task).1.inspect_only();
    let mut conn = target.connect(Session::Control).await?;
    let tables: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('checkpoints', 'copy_tables')",
            (&spec.metadata_database,),
        )
        .await
        .map_err(target.err("looking for ferry's metadata"))?;
    let mut found = false;
    for t in tables {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE task = ?", qt(&spec.metadata_database, &t));
        let n: Option<u64> = conn.exec_first(&sql, (task.id(),)).await.map_err(target.err(sql.clone()))?;
        found |= n.unwrap_or(0) > 0;
    }
    let _ = conn.disconnect().await;
    Ok(found)
}

/// Renders the report as a table for people.
pub fn render_table(report: &PrecheckStatus) -> String {
    let mut out = String::new();
    let w = report.items.iter().map(|i| i.id.len()).max().unwrap_or(4).max(4);
    out.push_str(&format!("{:<w$}  {:<7}  {:<7}  MESSAGE\n", "ITEM", "LEVEL", "RESULT"));
    for i in &report.items {
        let level = match i.level {
            E => "error",
            W => "warning",
        };
        let result = match i.result {
            PrecheckResult::Passed => "passed",
            PrecheckResult::Failed => "FAILED",
            PrecheckResult::Skipped => "skipped",
        };
        out.push_str(&format!("{:<w$}  {level:<7}  {result:<7}  {}\n", i.id, i.message));
        if !i.remedy.is_empty() && i.result == PrecheckResult::Failed {
            out.push_str(&format!("{:<w$}  {:<7}  {:<7}  remedy: {}\n", "", "", "", i.remedy));
        }
    }
    let errors = report.items.iter().filter(|i| i.level == E && i.result == PrecheckResult::Failed).count();
    let warnings = report.items.iter().filter(|i| i.level == W && i.result == PrecheckResult::Failed).count();
    out.push_str(&format!(
        "\n{}: {errors} error(s), {warnings} warning(s)\n",
        if report.passed { "precheck passed" } else { "precheck FAILED" }
    ));
    out
}

fn server_code(e: &Error) -> Option<u16> {
    match e {
        Error::Server { source, .. } => crate::codes::of(source),
        _ => None,
    }
}

/// Access denied of any kind: 1044 database, 1045 user, 1142 table, 1143 column, 1227 privilege.
fn denied(code: Option<u16>) -> bool {
    matches!(code, Some(1044 | 1045 | 1142 | 1143 | 1227 | 1370))
}

async fn global_vars(server: &Server, conn: &mut Conn, names: &[&str]) -> Result<BTreeMap<String, String>> {
    let list = names.iter().map(|n| lit(n)).collect::<Vec<_>>().join(", ");
    let sql = format!("SHOW GLOBAL VARIABLES WHERE Variable_name IN ({list})");
    let rows: Vec<(String, String)> = conn.query(&sql).await.map_err(server.err("reading server variables"))?;
    Ok(rows.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect())
}

fn is_on(v: Option<&String>) -> bool {
    v.is_some_and(|v| v.eq_ignore_ascii_case("ON") || v == "1")
}
