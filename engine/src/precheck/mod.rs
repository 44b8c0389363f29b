//! The precheck: before any data moves, check that the task can succeed and say what to change
//! when it cannot. `ferry precheck`, `ferry run` (on a fresh task) and the operator's precheck Job
//! all call [`precheck`].
//!
//! Read-only on the source. On the target it creates nothing but what `target-privileges` needs
//! to try (a scratch table, and its database when that does not exist yet), and removes it.
//! Every item has a stable kebab-case id (the name `spec.precheck.skip` takes) and a level:
//! an Error item that fails stops the task; a Warning item says what to expect.

use std::collections::{BTreeMap, BTreeSet};

use ferry_crds::{ExistingTables, PrecheckItem, PrecheckLevel, PrecheckResult, PrecheckStatus, SyncTaskSpec};
use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use mysql_async::prelude::*;
use mysql_async::{BinlogStreamRequest, Conn};
use tracing::debug;

use crate::db::catalog;
use crate::db::flavor::{Flavor, Kind};
use crate::db::{Role, Server, Session, lit, q, qt};
use crate::error::{Error, Result};
use crate::sync::copier::LoadPath;
use ferry_crds::manifest::Task;
pub use ferry_crds::validate::{ITEMS, LevelRule, level_for};

use PrecheckLevel::{Error as E, Warning as W};

/// A product and its release line (major.minor).
pub type Release = (Kind, (u16, u16));

/// The version pairs ferry's test suite runs (`make test`: every suite on MariaDB 10.11 and on
/// MySQL 9.7, and the cross-flavour suite both ways), source first. The `version-pair` item
/// calls these, and only these, tested: keep it in step with the servers the suite starts.
pub const TESTED_PAIRS: &[(Release, Release)] = &[
    ((Kind::MariaDb, (10, 11)), (Kind::MariaDb, (10, 11))),
    ((Kind::MySql, (9, 7)), (Kind::MySql, (9, 7))),
    ((Kind::MySql, (9, 7)), (Kind::MariaDb, (10, 11))),
    ((Kind::MariaDb, (10, 11)), (Kind::MySql, (9, 7))),
];

/// What the `version-pair` item says of a source and a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairVerdict {
    /// In [`TESTED_PAIRS`].
    Tested,
    /// Not run by the suite; `older_target`: the same product, the target's release line older.
    Untested { older_target: bool },
}

/// The `version-pair` verdict: by product and major.minor of each side (patch releases within a
/// tested line count as tested).
pub fn version_pair(source: &Flavor, target: &Flavor) -> PairVerdict {
    let (s, t) = ((source.kind, source.release()), (target.kind, target.release()));
    if TESTED_PAIRS.contains(&(s, t)) {
        return PairVerdict::Tested;
    }
    PairVerdict::Untested { older_target: source.kind == target.kind && target.release() < source.release() }
}

fn release_text((kind, (major, minor)): Release) -> String {
    format!("{} {major}.{minor}", kind.product())
}

fn release_pair(source: &Flavor, target: &Flavor) -> String {
    format!("{} -> {}", release_text((source.kind, source.release())), release_text((target.kind, target.release())))
}

/// "MariaDB 10.11 -> MariaDB 10.11, MySQL 9.7 -> MySQL 9.7, ..."
pub fn tested_pairs_text() -> String {
    TESTED_PAIRS.iter().map(|(s, t)| format!("{} -> {}", release_text(*s), release_text(*t))).collect::<Vec<_>>().join(", ")
}

/// The copy speed the retention estimate assumes when nothing could be measured: half of what
/// one table copied at on a 2-core machine (100k rows/s and more, same-machine servers), so that
/// a slow target still fits.
pub const ASSUMED_ROWS_PER_SECOND: u64 = 50_000;
/// The same in bytes of table data (data and indexes) per second.
pub const ASSUMED_BYTES_PER_SECOND: u64 = 20 << 20;
/// Retention must cover twice the estimate plus this, in seconds.
pub const RETENTION_MARGIN_SECONDS: u64 = 3600;

/// One selected table, resolved against the source.
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
    PrecheckStatus { items, passed, time: Some(Time(k8s_openapi::jiff::Timestamp::now())) }
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
        Error::Server { source, .. } => match source.as_ref() {
            mysql_async::Error::Server(s) => Some(s.code),
            _ => None,
        },
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

impl Check<'_> {
    async fn connections(&mut self) {
        let (s, t) = tokio::join!(self.source.connect(Session::Control), self.target.connect(Session::Control));
        for (role, res) in [(Role::Source, s), (Role::Target, t)] {
            let id = format!("{}-connection", role.as_str());
            let (server, secret) = match role {
                Role::Source => (&self.source, &self.spec.source.credentials_secret),
                Role::Target => (&self.target, &self.spec.target.credentials_secret),
            };
            let address = server.address.clone();
            match res {
                Ok(mut conn) => {
                    let flavor = Flavor::detect(server, &mut conn).await;
                    match flavor {
                        Ok(f) => {
                            self.pass(&id, format!("connected to {address} ({})", f.version_text));
                            match role {
                                Role::Source => self.src_flavor = Some(f),
                                Role::Target => self.tgt_flavor = Some(f),
                            }
                            match role {
                                Role::Source => self.src = Some(conn),
                                Role::Target => self.tgt = Some(conn),
                            }
                        }
                        Err(e) => self.fail(&id, e.to_string(), "check that the endpoint is a MySQL-compatible server"),
                    }
                }
                Err(e) => {
                    let remedy = if matches!(&e, Error::Connect { message, .. } if message.contains("refused the connection")) {
                        format!(
                            "check the username and password in Secret {secret} and that the user may connect from this host (CREATE USER / GRANT ... TO 'user'@'host')"
                        )
                    } else {
                        format!(
                            "check spec.{}.host and spec.{}.port, and that {address} accepts connections from here",
                            role.as_str(),
                            role.as_str()
                        )
                    };
                    self.fail(&id, e.to_string(), remedy);
                }
            }
        }
    }

    fn versions(&mut self) {
        match self.src_flavor.clone() {
            None => self.unreachable(&["source-version"], Role::Source),
            Some(f) => match f.check_supported_source(&self.source) {
                Ok(()) => self.pass("source-version", format!("source {} is supported", f.version_text)),
                Err(e) => self.fail("source-version", e.to_string(), "use a source running MySQL 5.1-8.x or MariaDB 10 or later"),
            },
        }
        match self.tgt_flavor.clone() {
            None => self.unreachable(&["target-version"], Role::Target),
            Some(f) => {
                let ok = match f.kind {
                    Kind::MySql => f.version >= (5, 1, 0),
                    Kind::MariaDb => f.version >= (5, 1, 0),
                };
                if ok {
                    self.pass("target-version", format!("target {} is MySQL-compatible", f.version_text));
                } else {
                    self.fail(
                        "target-version",
                        format!("target version {:?} is not a MySQL 5.1+ or MariaDB server", f.version_text),
                        "use a MySQL 5.1+ or MariaDB target",
                    );
                }
            }
        }
        match (self.src_flavor.clone(), self.tgt_flavor.clone()) {
            (Some(s), Some(t)) => match version_pair(&s, &t) {
                PairVerdict::Tested => self.pass(
                    "version-pair",
                    format!("{} -> {} is a tested pair (ferry's test suite runs {})", s.version_text, t.version_text, release_pair(&s, &t)),
                ),
                PairVerdict::Untested { older_target } => {
                    let why = if older_target {
                        "the target is older than the source: DDL and collations may not exist there"
                    } else {
                        "ferry's test suite does not run it"
                    };
                    self.fail(
                        "version-pair",
                        format!(
                            "{} -> {} is an untested pair ({why}); the tested pairs are {}",
                            s.version_text,
                            t.version_text,
                            tested_pairs_text()
                        ),
                        "run a trial sync of a sample first, or accept with spec.precheck.skip: [version-pair]",
                    );
                }
            },
            _ => self.skip("version-pair", "not checked: a server is not reachable"),
        }
    }

    /// Item 15, and the selection every later item works on.
    async fn objects(&mut self) {
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&["objects-exist"], Role::Source);
        };
        let r = self.resolve(&mut src).await;
        self.src = Some(src);
        match r {
            Err(e) => self.broken("objects-exist", e),
            Ok(missing) if missing.is_empty() => {
                let n = self.tables.len();
                self.pass("objects-exist", format!("{} database(s), {n} table(s) selected, all on the source", self.dbs.len()))
            }
            Ok(missing) => {
                let remedy =
                    "correct the names in spec.objects (names are case-sensitive on most servers), or create the objects on the source"
                        .to_string();
                self.fail("objects-exist", missing.join("; "), remedy)
            }
        }
    }

    async fn resolve(&mut self, src: &mut Conn) -> Result<Vec<String>> {
        let source = self.source.clone();
        let existing = catalog::databases(&source, src).await?;
        let mut missing = Vec::new();
        for (i, sel) in self.spec.objects.iter().enumerate() {
            let field = format!("spec.objects[{i}]");
            if !existing.contains(&sel.database) {
                missing.push(format!("{field}.database: database {} does not exist on the source {}", sel.database, source.address));
                continue;
            }
            let dst = sel.rename.clone().unwrap_or_else(|| sel.database.clone());
            let rows: Vec<(String, Option<u64>, Option<u64>, Option<u64>)> = src
                .exec(
                    "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                    (&sel.database,),
                )
                .await
                .map_err(source.err(format!("listing tables of {}", sel.database)))?;
            let mk = |name: &str, rename: Option<&String>, merge: bool, r: &(String, Option<u64>, Option<u64>, Option<u64>)| Sel {
                src_db: sel.database.clone(),
                src_table: name.to_string(),
                dst_db: dst.clone(),
                dst_table: rename.cloned().unwrap_or_else(|| name.to_string()),
                rows: r.1.unwrap_or(0),
                bytes: r.2.unwrap_or(0) + r.3.unwrap_or(0),
                merge: merge || sel.merge,
            };
            match &sel.tables {
                None => self.tables.extend(rows.iter().map(|r| mk(&r.0, None, false, r))),
                Some(list) => {
                    for (j, ts) in list.iter().enumerate() {
                        match rows.iter().find(|r| r.0 == ts.name) {
                            Some(r) => self.tables.push(mk(&ts.name, ts.rename.as_ref(), ts.merge, r)),
                            None => missing.push(format!(
                                "{field}.tables[{j}].name: table {}.{} does not exist on the source {}",
                                sel.database, ts.name, source.address
                            )),
                        }
                    }
                }
            }
            self.dbs.push(SelDb { src: sel.database.clone(), dst, whole: sel.tables.is_none() });
        }
        Ok(missing)
    }

    /// Item 14: two source tables mapped to one target table (compared as the target compares
    /// names: without case when it runs with lower_case_table_names).
    async fn name_collisions(&mut self) {
        let mut fold = false;
        if let Some(mut tgt) = self.tgt.take() {
            let v: Option<u32> = tgt.query_first("SELECT @@lower_case_table_names").await.ok().flatten();
            fold = v.unwrap_or(0) != 0;
            self.tgt = Some(tgt);
        }
        if self.src.is_none() {
            return self.unreachable(&["name-collisions"], Role::Source);
        }
        let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut clashes = Vec::new();
        for t in &self.tables {
            let key = if fold { (t.dst_db.to_lowercase(), t.dst_table.to_lowercase()) } else { (t.dst_db.clone(), t.dst_table.clone()) };
            if let Some(other) = seen.insert(key, t.source_name()) {
                clashes.push(format!("{other} and {} both map to target table {}", t.source_name(), t.target_name()));
            }
        }
        if clashes.is_empty() {
            self.pass("name-collisions", format!("{} target table name(s), all distinct", seen.len()));
        } else {
            // Merging (merge: true) is between tasks, one per source; within one task every
            // source table keeps a target table of its own.
            let why = if fold { " (the target has lower_case_table_names set, so names differing only in case are one)" } else { "" };
            self.fail(
                "name-collisions",
                format!("{}{why}", clashes.join("; ")),
                "give one of them another name (spec.objects[].tables[].rename or spec.objects[].rename); to merge tables into one, write it from one task per source table with merge: true on the table mapping",
            );
        }
    }

    /// Item 3.
    async fn binlog(&mut self) {
        let ids = ["binlog-enabled", "binlog-format", "binlog-row-image", "binlog-row-metadata", "binlog-compression", "server-id"];
        if !self.spec.incremental {
            for id in ids {
                self.skip(id, "incremental: false: the binlog is not read");
            }
            return;
        }
        let (Some(mut src), Some(f)) = (self.src.take(), self.src_flavor.clone()) else {
            return self.unreachable(&ids, Role::Source);
        };
        let source = self.source.clone();
        let mut names = vec!["log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "server_id"];
        names.extend(f.binlog_compression_variable());
        let vars = global_vars(&source, &mut src, &names).await;
        self.src = Some(src);
        let vars = match vars {
            Ok(v) => v,
            Err(e) => {
                for id in ids {
                    self.broken(id, Error::invalid(source.address.clone(), e.to_string()));
                }
                return;
            }
        };
        let get = |k: &str| vars.get(k).map(|v| v.to_ascii_uppercase());
        let addr = &source.address;
        if is_on(vars.get("log_bin")) {
            self.pass("binlog-enabled", format!("log_bin is ON on {addr}"));
        } else {
            self.fail(
                "binlog-enabled",
                format!("the binary log is off on the source {addr}; incremental sync reads it"),
                "start the source with log_bin (e.g. log-bin=mysql-bin in the [mysqld] section) and restart it",
            );
        }
        match get("binlog_format").as_deref() {
            Some("ROW") => self.pass("binlog-format", "binlog_format is ROW"),
            other => self.fail(
                "binlog-format",
                format!("binlog_format is {} on {addr}; ferry reads row events only", other.unwrap_or("unset")),
                "SET GLOBAL binlog_format = 'ROW'; and binlog_format=ROW in the server's config (sessions opened before keep the old format)",
            ),
        }
        match get("binlog_row_image").as_deref() {
            None | Some("FULL") => self.pass("binlog-row-image", "binlog_row_image is FULL"),
            Some(v) => self.fail(
                "binlog-row-image",
                format!("binlog_row_image is {v} on {addr}; ferry needs every column of every changed row"),
                "SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image=FULL in the server's config",
            ),
        }
        // Not needed, whatever the setting: the columns of every row event are mapped through
        // ferry's tracked copy of each table's definition (see `tracker`) when the event does not
        // name them (MySQL's MINIMAL, MariaDB's NO_LOG, MySQL 5.x, which has no such variable).
        let tracked = "ferry maps row-event columns by position through its own copy of each table's definition, \
                       kept in step with the binlog's schema changes";
        match get("binlog_row_metadata").as_deref() {
            Some("FULL") => self
                .pass("binlog-row-metadata", format!("binlog_row_metadata is FULL: row events name their columns; not needed: {tracked}")),
            other => self.pass(
                "binlog-row-metadata",
                format!(
                    "binlog_row_metadata is {} on {}: row events name no columns; not needed: {tracked}",
                    other.unwrap_or("absent"),
                    f.version_text
                ),
            ),
        }
        match f.binlog_compression_variable() {
            None => self.pass("binlog-compression", format!("{} does not compress binlog events", f.version_text)),
            // MySQL 8.0.20+ compresses whole transactions into TRANSACTION_PAYLOAD events, which
            // the binlog reader unpacks (see `binlog`); MariaDB's compressed events it cannot read.
            Some(var) if f.kind == Kind::MySql => {
                let state = if is_on(vars.get(var)) { "ON: compressed transactions (TRANSACTION_PAYLOAD events) are read" } else { "OFF" };
                self.pass("binlog-compression", format!("{var} is {state}"));
            }
            Some(var) => {
                if !is_on(vars.get(var)) {
                    self.pass("binlog-compression", format!("{var} is OFF"));
                } else if f.kind == Kind::MySql {
                    // TRANSACTION_PAYLOAD events: the stream hands out their events decompressed.
                    self.pass("binlog-compression", format!("{var} is ON: compressed transactions are read"));
                } else {
                    self.fail(
                        "binlog-compression",
                        format!("{var} is ON on {addr}: MariaDB's compressed events are not supported"),
                        format!("SET GLOBAL {var} = OFF; and {var}=OFF in the server's config"),
                    );
                }
            }
        }
        let server_id: u64 = vars.get("server_id").and_then(|v| v.parse().ok()).unwrap_or(0);
        let replica_id = self.spec.engine.server_id.unwrap_or_else(|| crate::source::binlog::server_id_for(&self.task.id()));
        if server_id == 0 {
            self.fail(
                "server-id",
                format!("server_id is 0 on {addr}: a server without an id writes no usable binlog"),
                "SET GLOBAL server_id = <a unique number>; and server_id in the server's config",
            );
        } else if server_id == replica_id as u64 {
            self.fail(
                "server-id",
                format!("the source's server_id {server_id} equals the replica id ferry would use for this task"),
                "set spec.engine.serverId to a number no server in the replication topology uses",
            );
        } else {
            self.pass("server-id", format!("source server_id {server_id}, ferry's replica id {replica_id}"));
        }
    }

    /// Item 4: the binlog must outlive the full sync.
    async fn retention(&mut self) {
        let id = "binlog-retention";
        if !self.spec.incremental {
            return self.skip(id, "incremental: false: the binlog is not read");
        }
        let (Some(mut src), Some(f)) = (self.src.take(), self.src_flavor.clone()) else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let vars =
            global_vars(&source, &mut src, &["expire_logs_days", "binlog_expire_logs_seconds", "binlog_expire_logs_auto_purge"]).await;
        self.src = Some(src);
        let vars = match vars {
            Ok(v) => v,
            Err(e) => return self.broken(id, e),
        };
        let secs = vars.get("binlog_expire_logs_seconds").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let days = vars.get("expire_logs_days").and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // MySQL 8.0.29+: with binlog_expire_logs_auto_purge OFF nothing expires by itself.
        let auto_purge = vars.get("binlog_expire_logs_auto_purge").is_none_or(|v| is_on(Some(v)));
        let retention = if !auto_purge {
            0
        } else if secs > 0 {
            secs
        } else {
            (days * 86400.0) as u64
        };
        let rows: u64 = self.tables.iter().map(|t| t.rows).sum();
        let bytes: u64 = self.tables.iter().map(|t| t.bytes).sum();
        let read = if self.spec.initial_sync.data && rows > 0 { self.source_sample().await } else { None };
        let (estimate, how) = if !self.spec.initial_sync.data {
            (0, "initialSync.data: false: no rows are copied".to_string())
        } else if rows == 0 {
            (0, "the selected tables are empty".to_string())
        } else {
            copy_estimate(rows, bytes, read.as_ref(), self.target_write.as_ref())
        };
        let needed = estimate * 2 + RETENTION_MARGIN_SECONDS;
        let basis = format!(
            "estimated full sync {} ({rows} rows, {} MiB; {how}); needed at least twice that plus 1 h: {}",
            human(estimate),
            bytes >> 20,
            human(needed)
        );
        if retention == 0 {
            let how = if auto_purge { "" } else { " (binlog_expire_logs_auto_purge is OFF)" };
            return self.pass(id, format!("binlogs never expire on {}{how}; {basis}", source.address));
        }
        if retention >= needed {
            self.pass(id, format!("binlogs are kept {}; {basis}", human(retention)));
        } else {
            let remedy = if f.retention_in_seconds() {
                format!("SET GLOBAL binlog_expire_logs_seconds = {needed}; and the same in the server's config")
            } else {
                format!("SET GLOBAL expire_logs_days = {}; and the same in the server's config", needed.div_ceil(86400))
            };
            self.fail(
                id,
                format!(
                    "binlogs expire after {} on {}: shorter than the full sync may take, and a task that outlives its binlog has to start over; {basis}",
                    human(retention),
                    source.address
                ),
                remedy,
            );
        }
    }

    /// The source sample, read once: when the estimate of item 4 needs it (the binlog is read
    /// and rows are copied).
    async fn source_sample(&mut self) -> Option<ReadSample> {
        if !self.spec.incremental || !self.spec.initial_sync.data {
            return None;
        }
        if let Some(s) = &self.read_sample {
            return s.clone();
        }
        let sample = self.sample_source_read().await;
        self.read_sample = Some(sample.clone());
        sample
    }

    /// Reads the first rows of the largest selected table (at most `SAMPLE_MAX_ROWS` or about
    /// `SAMPLE_MAX_BYTES`): read-only, a bounded cost on the source.
    async fn sample_source_read(&mut self) -> Option<ReadSample> {
        let t = self.tables.iter().filter(|t| t.rows > 0).max_by_key(|t| t.rows)?.clone();
        let mut src = self.src.take()?;
        let limit = (SAMPLE_MAX_BYTES / (t.bytes / t.rows).max(1)).clamp(100, SAMPLE_MAX_ROWS);
        let sql = format!("SELECT * FROM {} LIMIT {limit}", qt(&t.src_db, &t.src_table));
        let started = std::time::Instant::now();
        let (mut rows, mut bytes) = (0u64, 0u64);
        let read = async {
            let mut result = src.query_iter(sql).await?;
            result
                .for_each(|row| {
                    rows += 1;
                    for i in 0..row.len() {
                        bytes += match row.as_ref(i) {
                            Some(mysql_async::Value::Bytes(b)) => b.len() as u64,
                            Some(mysql_async::Value::NULL) | None => 1,
                            Some(_) => 8,
                        };
                    }
                })
                .await
        }
        .await;
        let seconds = started.elapsed().as_secs_f64();
        self.src = Some(src);
        match read {
            Ok(()) if rows > 0 => Some(ReadSample { table: t.source_name(), rows, bytes, seconds }),
            Ok(()) => None,
            Err(e) => {
                debug!(error = %e, table = %t.source_name(), "sampling the source's read rate");
                None
            }
        }
    }

    /// Item 13: a source that is itself written by replication must log what it applies, or the
    /// changes never reach this task (cascade A -> B -> C, this task reading B).
    ///
    /// What B needs depends on who writes it. ferry applies as an ordinary client session, and a
    /// server with log_bin on records every client write in its binary log whatever
    /// log_slave_updates says: that option only covers the native replication SQL thread. So a
    /// source written by another ferry task needs log_bin (in ROW format, which `binlog-format`
    /// checks), and a native replica needs log_slave_updates (MySQL 8.0.26+: log_replica_updates)
    /// as well. Checked on MariaDB 10.11 and MySQL 9.7: tests/tests/topologies.rs runs A -> B -> C
    /// with B at log_slave_updates=OFF, and tests/tests/precheck.rs sees this item fail for a
    /// native replica with it OFF.
    async fn cascade(&mut self) {
        let id = "cascade";
        if !self.spec.incremental {
            return self.skip(id, "incremental: false: the binlog is not read");
        }
        let (Some(mut src), Some(f)) = (self.src.take(), self.src_flavor.clone()) else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let r = async {
            let mut ferry_metas = Vec::new();
            // ferry's metadata: a schema with its checkpoints and copy tables, holding a checkpoint.
            let metas: Vec<String> = src
                .query(
                    "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_NAME IN ('checkpoints', 'copy_chunks') \
                     GROUP BY TABLE_SCHEMA HAVING COUNT(*) = 2",
                )
                .await
                .map_err(source.err("looking for ferry metadata on the source"))?;
            for m in metas {
                let n: Option<u64> = src.query_first(format!("SELECT COUNT(*) FROM {}", qt(&m, "checkpoints"))).await.ok().flatten();
                if n.unwrap_or(0) > 0 {
                    ferry_metas.push(m);
                }
            }
            let stmt = f.replica_status_statement();
            let (replica, unknown) = match src.query::<mysql_async::Row, _>(stmt).await {
                Ok(rows) => (!rows.is_empty(), false),
                Err(_) => (false, true),
            };
            let var = f.replica_updates_variable();
            let vars = global_vars(&source, &mut src, &[var, "log_bin"]).await?;
            Ok::<_, Error>((ferry_metas, replica, unknown, var, is_on(vars.get(var)), is_on(vars.get("log_bin"))))
        }
        .await;
        self.src = Some(src);
        let (ferry_metas, replica, unknown, var, updates_on, log_bin) = match r {
            Ok(v) => v,
            Err(e) => return self.broken(id, e),
        };
        let addr = &source.address;
        let by_ferry = (!ferry_metas.is_empty())
            .then(|| format!("it is the target of another ferry task (checkpoints in {})", ferry_metas.join(", ")));
        let mut problems = Vec::new();
        let mut remedies = Vec::new();
        if let (Some(why), false) = (&by_ferry, log_bin) {
            problems.push(format!("{why}, and its binary log is off: what that task applies never reaches this one"));
            remedies
                .push("start the source with log_bin (and binlog_format=ROW); ferry's writes are then logged as any client's".to_string());
        }
        if replica && !updates_on {
            problems.push(format!("it is a replica, and {var} is OFF: what its replication thread applies would not reach its binlog"));
            remedies.push(format!("start the source with {var}=ON (and log_bin); it cannot be changed at runtime"));
        }
        if !problems.is_empty() {
            return self.fail(id, format!("the source {addr} is written by replication: {}", problems.join("; ")), remedies.join("; "));
        }
        let ferry_note = by_ferry
            .map(|why| format!("{why}; ferry writes there as a client, so its binary log records those changes whatever {var} says"));
        if updates_on {
            let note = ferry_note.map(|n| format!("; {n}")).unwrap_or_default();
            self.pass(id, format!("{var} is ON: the source logs what it applies{note}"));
        } else if let Some(note) = ferry_note {
            self.pass(id, format!("the source {addr}: {note}"));
        } else {
            let extra =
                if unknown { format!(" (could not run {}: replica state unknown)", f.replica_status_statement()) } else { String::new() };
            self.pass(id, format!("the source is not written by replication{extra}"));
        }
    }

    async fn current_user(server: &Server, conn: &mut Conn) -> String {
        let u: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.map_err(server.err("CURRENT_USER()")).ok().flatten();
        match u.as_deref().and_then(|u| u.rsplit_once('@')) {
            Some((user, host)) => format!("{}@{}", lit(user), lit(host)),
            None => "'user'@'host'".to_string(),
        }
    }

    /// Item 5, source side: the privileges of what the engine runs there, read from SHOW GRANTS
    /// (both MySQL 8+ and MariaDB list there the grants of the session's active roles as well) and,
    /// where trying changes nothing, tried:
    /// - SELECT on the selected tables (on the whole database when it is selected whole);
    /// - with the schema sync, a whole database brings its views (SHOW VIEW) and its stored
    ///   routines ([`Flavor::routine_read_privilege`]);
    /// - the copy's consistent snapshot ([`Flavor::snapshot_privileges`]: on MySQL RELOAD for
    ///   FLUSH TABLES WITH READ LOCK, and REPLICATION CLIENT for the position read under it);
    /// - incremental sync: the binlog position (REPLICATION CLIENT, on MariaDB 10.5+ BINLOG
    ///   MONITOR) and the binlog dump (REPLICATION SLAVE).
    ///
    /// A privilege counts as granted through any that covers it ([`Flavor::privileges_covering`]:
    /// SUPER, FLUSH_TABLES, ...); the remedy names the one to grant.
    async fn source_privileges(&mut self) {
        let id = "source-privileges";
        let (Some(mut src), Some(f)) = (self.src.take(), self.src_flavor.clone()) else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let user = Self::current_user(&source, &mut src).await;
        let grants = read_grants(&mut src).await;
        // (privilege, scope) pairs still missing, with what each is for.
        let mut missing: BTreeMap<(String, String), &str> = BTreeMap::new();
        let mut tried_fail: Vec<String> = Vec::new();
        let parsed = !grants.is_empty();
        let want = |missing: &mut BTreeMap<(String, String), &str>, p: &str, db: Option<&str>, table: Option<&str>, why: &'static str| {
            if parsed && !granted(&f, &grants, p, db, table) {
                missing.insert((p.to_string(), scope(db, table)), why);
            }
        };
        let schema = self.spec.initial_sync.schema;
        let (routine_priv, routine_db, routine_table) = f.routine_read_privilege();
        let routine_why = "reading the stored routines of whole databases";
        for d in self.dbs.iter().filter(|d| d.whole) {
            want(&mut missing, "SELECT", Some(&d.src), None, "reading the tables");
            if !schema {
                continue;
            }
            // A whole database brings its views and routines (those there now, and views created
            // later); a user may not even see those it lacks privileges on.
            want(&mut missing, "SHOW VIEW", Some(&d.src), None, "reading the views of whole databases");
            let views = catalog::views(&source, &mut src, &d.src).await.unwrap_or_default();
            if !views.is_empty() {
                let sql = format!("SHOW CREATE VIEW {}", qt(&d.src, &views[0]));
                if let Err(e) = src.query_drop(&sql).await.map_err(source.err(sql.clone()))
                    && denied(server_code(&e))
                {
                    // SHOW CREATE VIEW takes SELECT as well; the refusal names the one it lacked.
                    let (p, why) = if e.to_string().contains("SELECT command denied") {
                        ("SELECT", "reading the tables")
                    } else {
                        ("SHOW VIEW", "reading the views of whole databases")
                    };
                    missing.insert((p.into(), scope(Some(&d.src), None)), why);
                    tried_fail.push(e.to_string());
                }
            }
            want(&mut missing, routine_priv, routine_db, routine_table, routine_why);
            let routines = catalog::routines(&source, &mut src, &d.src).await.unwrap_or_default();
            if let Some((kind, name)) = routines.first() {
                let body = catalog::show_create_routine(&source, &mut src, &d.src, kind, name).await;
                let failed = match body {
                    Ok(r) if r.create.is_empty() => Some(format!("SHOW CREATE {kind} {}.{name} returned no body", d.src)),
                    Err(e) if denied(server_code(&e)) => Some(e.to_string()),
                    _ => None,
                };
                if let Some(t) = failed {
                    missing.insert((routine_priv.to_string(), scope(routine_db, routine_table)), routine_why);
                    tried_fail.push(t);
                }
            }
        }
        for t in self.tables.iter().take(500) {
            let whole = self.dbs.iter().any(|d| d.src == t.src_db && d.whole);
            if !whole {
                want(&mut missing, "SELECT", Some(&t.src_db), Some(&t.src_table), "reading the tables");
            }
            let sql = format!("SELECT * FROM {} LIMIT 0", qt(&t.src_db, &t.src_table));
            if let Err(e) = src.query_drop(&sql).await.map_err(source.err(sql.clone())) {
                if denied(server_code(&e)) {
                    let sc = if whole { scope(Some(&t.src_db), None) } else { scope(Some(&t.src_db), Some(&t.src_table)) };
                    missing.insert(("SELECT".into(), sc), "reading the tables");
                    tried_fail.push(e.to_string());
                }
            } else if parsed {
                // The server let it through (a role, a wildcard we read differently): it is there.
                missing.retain(|(p, s), _| !(p == "SELECT" && (*s == scope(Some(&t.src_db), Some(&t.src_table)))));
            }
        }
        let monitor = f.binlog_monitor_privilege();
        let mut needs_monitor = self.spec.incremental;
        if self.spec.initial_sync.data {
            // The engine reads the position under the snapshot's lock when the source has a binlog.
            let binlog = Flavor::binlog_enabled(&source, &mut src).await.unwrap_or(true);
            for p in f.snapshot_privileges(binlog) {
                if p == monitor {
                    needs_monitor = true;
                } else {
                    want(&mut missing, p, None, None, "FLUSH TABLES WITH READ LOCK, for the copy's consistent snapshot");
                }
            }
        }
        let mut pos = None;
        if needs_monitor {
            want(&mut missing, monitor, None, None, "reading the binlog position");
            let stmt = f.binlog_status_statement();
            match src.query_first::<mysql_async::Row, _>(stmt).await.map_err(source.err(stmt)) {
                Err(e) if denied(server_code(&e)) => {
                    missing.insert((monitor.to_string(), "*.*".into()), "reading the binlog position");
                    tried_fail.push(e.to_string());
                }
                Ok(Some(row)) => {
                    missing.remove(&(monitor.to_string(), "*.*".to_string()));
                    pos = Some((row.get::<String, _>(0).unwrap_or_default(), row.get::<u64, _>(1).unwrap_or(4)));
                }
                _ => {}
            }
        }
        if self.spec.incremental && parsed && !granted(&f, &grants, "REPLICATION SLAVE", None, None) {
            // SHOW GRANTS may not show everything (roles not active by default): ask the server.
            if try_binlog_dump(&source, pos).await != Some(true) {
                missing.insert(("REPLICATION SLAVE".into(), "*.*".into()), "reading the binlog as a replica does");
            }
        }
        self.src = Some(src);
        if missing.is_empty() {
            let how = if parsed { "SHOW GRANTS and trial reads" } else { "trial reads (SHOW GRANTS could not be read)" };
            return self.pass(id, format!("{user} has what the task needs on the source ({how})"));
        }
        let (list, remedy) = grant_statements(&missing.keys().cloned().collect(), &user);
        let mut msg = format!("{user} on the source {} lacks {list}", source.address);
        let mut whys: BTreeMap<&str, &str> = BTreeMap::new();
        for ((p, _), why) in &missing {
            whys.entry(p.as_str()).or_insert(why);
        }
        let whys: Vec<String> = whys.iter().map(|(p, why)| format!("{p}: {why}")).collect();
        if !whys.is_empty() {
            msg.push_str(&format!(" ({})", whys.join("; ")));
        }
        if let Some(t) = tried_fail.first() {
            msg.push_str(&format!(" (tried: {t})"));
        }
        self.fail(id, msg, remedy);
    }

    /// Item 5, target side: ALL on the target databases, on ferry's metadata database and, with
    /// incremental sync, on the databases of its copies of the source tables' definitions (see
    /// `tracker`), checked in SHOW GRANTS and by creating and dropping a scratch table in each.
    ///
    /// On MySQL 8.0.30+ with `sql_generate_invisible_primary_key` ON, every session of ferry's
    /// turns it off (see `db::Server`), which takes SESSION_VARIABLES_ADMIN: without it each table
    /// created without a primary key (the source's keyless tables, the definition copies) would
    /// get one more column, and the engine refuses to write. Required only then, and tried.
    async fn target_privileges(&mut self) {
        let id = "target-privileges";
        let Some(mut tgt) = self.tgt.take() else {
            return self.unreachable(&[id], Role::Target);
        };
        let target = self.target.clone();
        let user = Self::current_user(&target, &mut tgt).await;
        let grants = read_grants(&mut tgt).await;
        let parsed = !grants.is_empty();
        let mut dbs: Vec<String> = Vec::new();
        for d in &self.dbs {
            if !dbs.contains(&d.dst) {
                dbs.push(d.dst.clone());
            }
        }
        dbs.push(self.spec.metadata_database.clone());
        if self.spec.incremental {
            let tracker = crate::target::tracker::SchemaTracker::new(&self.spec.metadata_database, &self.task.id());
            for d in &self.dbs {
                let shadow = tracker.shadow_db(&d.src);
                if !dbs.contains(&shadow) {
                    dbs.push(shadow);
                }
            }
        }
        // The trial in ferry's own database also times writing rows the size of the source's.
        let payload = self.source_sample().await.map(|r| (r.bytes / r.rows).clamp(1, 1 << 20) as usize);
        let mut missing: BTreeSet<(String, String)> = BTreeSet::new();
        let mut tried_fail = Vec::new();
        for db in &dbs {
            if parsed {
                for p in TARGET_PRIVILEGES {
                    if !has_privilege(&grants, p, Some(db), None) {
                        missing.insert(("ALL PRIVILEGES".into(), scope(Some(db), None)));
                        break;
                    }
                }
            }
            let measure = match payload {
                Some(p) if *db == self.spec.metadata_database => Some(p),
                _ => None,
            };
            match try_create_drop(&target, &mut tgt, db, measure).await {
                Ok(Some(w)) => self.target_write = Some(w),
                Ok(None) => {}
                Err(e) => {
                    if denied(server_code(&e)) {
                        missing.insert(("ALL PRIVILEGES".into(), scope(Some(db), None)));
                    }
                    tried_fail.push(e.to_string());
                }
            }
        }
        let mut gipk_note = String::new();
        let gipk: Option<i64> =
            crate::db::query_scalar(&mut tgt, "SELECT @@GLOBAL.sql_generate_invisible_primary_key").await.ok().flatten();
        if gipk == Some(1) {
            let privilege = self.tgt_flavor.as_ref().map_or("SESSION_VARIABLES_ADMIN", |f| f.session_variables_privilege());
            let sql = "SET SESSION sql_generate_invisible_primary_key = OFF";
            match tgt.query_drop(sql).await.map_err(target.err(sql)) {
                Err(e) if denied(server_code(&e)) => {
                    missing.insert((privilege.to_string(), "*.*".into()));
                    gipk_note = format!(
                        "; sql_generate_invisible_primary_key is ON on the target and ferry turns it off in its sessions, \
                         else tables without a primary key get an extra column there ({privilege}, or SET GLOBAL sql_generate_invisible_primary_key = OFF)"
                    );
                    tried_fail.push(e.to_string());
                }
                _ => {
                    gipk_note = "; sql_generate_invisible_primary_key is ON on the target, and ferry may turn it off in its sessions".into()
                }
            }
        }
        self.tgt = Some(tgt);
        if missing.is_empty() && tried_fail.is_empty() {
            return self.pass(id, format!("{user} may create, write and drop in {}{gipk_note}", dbs.join(", ")));
        }
        let (list, remedy) = if missing.is_empty() {
            ("nothing in SHOW GRANTS, but a trial failed".to_string(), "see the message".to_string())
        } else {
            grant_statements(&missing, &user)
        };
        let mut msg = format!("{user} on the target {} lacks {list}{gipk_note}", target.address);
        if let Some(t) = tried_fail.first() {
            msg.push_str(&format!(" (tried: {t})"));
        }
        self.fail(id, msg, remedy);
    }

    /// How the copy will write rows: LOAD DATA LOCAL INFILE, or batched INSERTs where the target
    /// has local_infile OFF. Informational: both paths copy every row exactly.
    async fn local_infile(&mut self) {
        let id = "target-local-infile";
        if !self.spec.initial_sync.data {
            return self.skip(id, "initialSync.data: false: no rows are loaded");
        }
        let Some(mut tgt) = self.tgt.take() else {
            return self.unreachable(&[id], Role::Target);
        };
        let path = LoadPath::of_target(&self.target, &mut tgt).await;
        self.tgt = Some(tgt);
        match path {
            Ok(LoadPath::LoadData) => self.pass(id, format!("the copy writes rows with {}", LoadPath::LoadData.describe())),
            Ok(LoadPath::Inserts) => self.pass(
                id,
                format!(
                    "the copy writes rows with {} on {}: every value as exact as through LOAD DATA LOCAL INFILE, \
                     which copies some 20 to 40% faster (SET GLOBAL local_infile = 1 on the target to use it)",
                    LoadPath::Inserts.describe(),
                    self.target.address
                ),
            ),
            Err(e) => self.pass(
                id,
                format!(
                    "local_infile could not be read ({e}): the copy tries {} and turns to batched INSERTs if the target refuses it",
                    LoadPath::LoadData.describe()
                ),
            ),
        }
    }

    /// Item 7: same-name tables (and views of whole databases) on the target, after name mapping.
    /// Tables this task recorded as its own (a resumed task) do not count.
    async fn existing_tables(&mut self) {
        let id = "existing-tables";
        if !self.spec.initial_sync.schema {
            return self.skip(id, "initialSync.schema: false: the tables are expected to exist on the target");
        }
        let Some(mut tgt) = self.tgt.take() else {
            return self.unreachable(&[id], Role::Target);
        };
        if self.src.is_none() {
            self.tgt = Some(tgt);
            return self.unreachable(&[id], Role::Source);
        }
        let target = self.target.clone();
        let ours = own_tables(&mut tgt, &self.spec.metadata_database, &self.task.id()).await;
        let mut present: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut clashes = Vec::new();
        let mut err = None;
        for t in &self.tables {
            if !present.contains_key(&t.dst_db) {
                match catalog::existing_relations(&target, &mut tgt, &t.dst_db).await {
                    Ok(v) => {
                        present.insert(t.dst_db.clone(), v.into_iter().collect());
                    }
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            // A merged table is expected to be there: another task writing it created it.
            if present[&t.dst_db].contains(&t.dst_table)
                && !t.merge
                && !ours.contains(&(t.src_db.clone(), t.src_table.clone()))
                && !clashes.contains(&t.target_name())
            {
                clashes.push(t.target_name());
            }
        }
        // Views come along with whole databases.
        if err.is_none()
            && let Some(mut src) = self.src.take()
        {
            for d in self.dbs.iter().filter(|d| d.whole) {
                let views = catalog::views(&self.source, &mut src, &d.src).await.unwrap_or_default();
                if views.is_empty() {
                    continue;
                }
                let there: BTreeSet<String> =
                    catalog::existing_relations(&target, &mut tgt, &d.dst).await.unwrap_or_default().into_iter().collect();
                clashes.extend(views.iter().filter(|v| there.contains(*v)).map(|v| format!("{}.{v} (view)", d.dst)));
            }
            self.src = Some(src);
        }
        self.tgt = Some(tgt);
        if let Some(e) = err {
            return self.broken(id, e);
        }
        if clashes.is_empty() {
            return self.pass(id, format!("none of the {} target table(s) exists on the target yet", self.tables.len()));
        }
        let drops = clashes
            .iter()
            .filter(|c| !c.ends_with("(view)"))
            .filter_map(|c| c.split_once('.'))
            .map(|(d, t)| format!("DROP TABLE {};", qt(d, t)))
            .collect::<Vec<_>>()
            .join(" ");
        match self.spec.existing_tables {
            ExistingTables::PrecheckAndIntercept => self.fail(
                id,
                format!(
                    "existingTables: PrecheckAndIntercept and {} already exist on the target {}",
                    clashes.join(", "),
                    target.address
                ),
                format!("drop them ({drops}), map the tables to other names (rename in spec.objects), or set spec.existingTables: Ignore to keep and fill them"),
            ),
            ExistingTables::Ignore => self.fail(
                id,
                format!(
                    "{} already exist on the target {}; existingTables: Ignore keeps them: rows whose key is already there keep the target's values, and only the columns both sides share are copied",
                    clashes.join(", "),
                    target.address
                ),
                "nothing, if keeping them is intended; else drop them or accept with spec.precheck.skip: [existing-tables]",
            ),
        }
    }

    /// Item 6.
    async fn primary_keys(&mut self) {
        let id = "primary-keys";
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let mut keyless = Vec::new();
        let mut err = None;
        for t in &self.tables {
            match catalog::table(&source, &mut src, &t.src_db, &t.src_table).await {
                Ok(tab) if tab.key.is_none() => keyless.push(t.source_name()),
                Ok(_) => {}
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        self.src = Some(src);
        if let Some(e) = err {
            return self.broken(id, e);
        }
        if keyless.is_empty() {
            return self.pass(id, "every selected table has a primary key or a unique key on NOT NULL columns");
        }
        let remedy = keyless
            .iter()
            .filter_map(|n| n.split_once('.'))
            .map(|(d, t)| format!("ALTER TABLE {} ADD COLUMN ferry_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY;", qt(d, t)))
            .collect::<Vec<_>>()
            .join(" ");
        self.fail(
            id,
            format!(
                "{} have no primary key and no unique key on NOT NULL columns: ferry copies each in one piece (no parallel ranges, no resume inside it) and applies their changes by matching every column, one row at a time; identical rows are indistinguishable",
                keyless.join(", ")
            ),
            format!("add a key on the source if you can ({remedy}), or accept with spec.precheck.skip: [primary-keys]"),
        );
    }

    /// Many-to-one into one table: keys of merged tables must not collide across sources. Keys
    /// that AUTO_INCREMENT makes on every source alike (auto_increment_increment 1) do; keys of
    /// a source with its own offset under a larger increment do not, as long as every other
    /// source has another offset (which this task cannot see: each task's precheck checks its
    /// own source). A collision the precheck cannot foresee is handled by spec.conflictPolicy.
    async fn merge_keys(&mut self) {
        let id = "merge-keys";
        let merged: Vec<Sel> = self.tables.iter().filter(|t| t.merge).cloned().collect();
        if merged.is_empty() {
            return self.pass(id, "no table is merged with other tasks' rows");
        }
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let r = async {
            let vars = global_vars(&source, &mut src, &["auto_increment_increment", "auto_increment_offset"]).await?;
            let mut auto = Vec::new();
            let mut keyless = Vec::new();
            for t in &merged {
                let table = catalog::table(&source, &mut src, &t.src_db, &t.src_table).await?;
                let ai: Vec<String> = src
                    .exec(
                        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                         AND EXTRA LIKE '%auto_increment%'",
                        (&t.src_db, &t.src_table),
                    )
                    .await
                    .map_err(source.err(format!("reading the columns of {}", t.source_name())))?;
                match &table.key {
                    None => keyless.push(t.clone()),
                    Some(key) if ai.iter().any(|c| key.contains(c)) => auto.push((t.clone(), ai[0].clone())),
                    Some(_) => {}
                }
            }
            Ok::<_, Error>((vars, auto, keyless))
        }
        .await;
        self.src = Some(src);
        let (vars, auto, keyless) = match r {
            Ok(v) => v,
            Err(e) => return self.broken(id, e),
        };
        let num = |k: &str| vars.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(1);
        let (inc, off) = (num("auto_increment_increment"), num("auto_increment_offset"));
        let addr = &source.address;
        let policy = format!("{:?}", self.spec.conflict_policy);
        let names = |v: &[Sel]| v.iter().map(|t| format!("{} -> {}", t.source_name(), t.target_name())).collect::<Vec<_>>().join(", ");
        let auto_tables: Vec<Sel> = auto.iter().map(|(t, _)| t.clone()).collect();
        let mut problems = Vec::new();
        let mut remedies = Vec::new();
        if !auto.is_empty() && inc <= 1 {
            let cols = auto.iter().map(|(t, c)| format!("{}.{c}", t.source_name())).collect::<Vec<_>>().join(", ");
            problems.push(format!(
                "merged tables {} take their keys from AUTO_INCREMENT ({cols}) and the source {addr} has auto_increment_increment = 1: \
                 every source counts 1, 2, 3, ... and their rows collide on the target (spec.conflictPolicy {policy} decides what happens)",
                names(&auto_tables)
            ));
            remedies.push(
                "give every source merged into the table its own offset: SET GLOBAL auto_increment_increment = <number of sources>; \
                 SET GLOBAL auto_increment_offset = <1, 2, ... different on each source>; (and the same in each server's config), \
                 or make the key unique across sources (e.g. a source id column in the primary key)"
                    .to_string(),
            );
        }
        if !keyless.is_empty() {
            problems.push(format!(
                "merged tables {} have no key: rows of different sources cannot be told apart, a conflict cannot be seen, and a delete may remove another source's identical row",
                names(&keyless)
            ));
            remedies.push("add a primary key that is unique across sources".to_string());
        }
        if !problems.is_empty() {
            remedies.push(format!("or accept with spec.precheck.skip: [{id}]"));
            return self.fail(id, problems.join("; "), remedies.join("; "));
        }
        let note = if auto.is_empty() {
            "their keys come from the data, not from AUTO_INCREMENT: they must be unique across the sources merged into each table"
                .to_string()
        } else {
            format!(
                "AUTO_INCREMENT keys of {addr} are {off} modulo {inc} (auto_increment_offset {off}, auto_increment_increment {inc}); every other source merged into {} needs another offset",
                names(&auto_tables)
            )
        };
        self.pass(
            id,
            format!("{} merged table(s); {note}; a key taken all the same is handled by spec.conflictPolicy {policy}", merged.len()),
        )
    }

    /// Item 10.
    async fn foreign_keys(&mut self) {
        let id = "foreign-keys";
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let selected: BTreeSet<(String, String)> = self.tables.iter().map(|t| (t.src_db.clone(), t.src_table.clone())).collect();
        let mut orphans = Vec::new();
        let mut remedies = Vec::new();
        let mut err = None;
        for d in &self.dbs {
            let rows: std::result::Result<Vec<(String, String, String, String)>, _> = src
                .exec(
                    "SELECT TABLE_NAME, CONSTRAINT_NAME, UNIQUE_CONSTRAINT_SCHEMA, REFERENCED_TABLE_NAME \
                     FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? ORDER BY TABLE_NAME, CONSTRAINT_NAME",
                    (&d.src,),
                )
                .await;
            match rows {
                Ok(rows) => {
                    for (child, fk, pdb, parent) in rows {
                        if !selected.contains(&(d.src.clone(), child.clone())) || selected.contains(&(pdb.clone(), parent.clone())) {
                            continue;
                        }
                        orphans.push(format!("{}.{child} ({fk}) references {pdb}.{parent}", d.src));
                        let dst = self
                            .tables
                            .iter()
                            .find(|t| t.src_db == d.src && t.src_table == child)
                            .map(|t| (t.dst_db.clone(), t.dst_table.clone()));
                        if let Some((dd, dt)) = dst {
                            remedies.push(format!("ALTER TABLE {} DROP FOREIGN KEY {};", qt(&dd, &dt), q(&fk)));
                        }
                    }
                }
                Err(e) => {
                    err = Some(source.err("reading foreign keys")(e));
                    break;
                }
            }
        }
        self.src = Some(src);
        if let Some(e) = err {
            return self.broken(id, e);
        }
        if orphans.is_empty() {
            return self.pass(id, "every foreign key of a selected table references a selected table");
        }
        self.fail(
            id,
            format!(
                "{}, which is not selected: ferry writes with foreign_key_checks=0, so child rows arrive without their parents and the constraint does not hold on the target",
                orphans.join("; ")
            ),
            format!("select the parent tables too (spec.objects), or drop the constraints on the target after the schema sync ({})", remedies.join(" ")),
        );
    }

    /// Item 9.
    async fn triggers(&mut self) {
        let id = "source-triggers";
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let rows: std::result::Result<Vec<(String, String, String, String, String)>, _> = src
            .query(
                "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, ACTION_STATEMENT \
                 FROM information_schema.TRIGGERS ORDER BY TRIGGER_SCHEMA, TRIGGER_NAME",
            )
            .await;
        self.src = Some(src);
        let rows = match rows {
            Ok(r) => r,
            Err(e) => return self.broken(id, self.source.err("reading triggers")(e)),
        };
        let selected: BTreeSet<(String, String)> = self.tables.iter().map(|t| (t.src_db.clone(), t.src_table.clone())).collect();
        let mut found = Vec::new();
        for (tdb, name, edb, etable, body) in rows {
            let on_selected = selected.contains(&(edb.clone(), etable.clone()));
            let body_lc = body.to_lowercase();
            let writes: Vec<String> = self
                .tables
                .iter()
                .filter(|t| {
                    mentions(&body_lc, &t.src_table.to_lowercase()) && (t.src_db == tdb || mentions(&body_lc, &t.src_db.to_lowercase()))
                })
                .map(|t| t.source_name())
                .collect();
            if on_selected || !writes.is_empty() {
                let mut s = format!("{tdb}.{name} on {edb}.{etable}");
                if !writes.is_empty() {
                    s.push_str(&format!(" (mentions {})", writes.join(", ")));
                }
                found.push(s);
            }
        }
        if found.is_empty() {
            return self.pass(id, "no trigger on the source touches the selected tables");
        }
        self.fail(
            id,
            format!(
                "triggers touch the selected tables: {}. Their effects reach the target through the binlog as row changes, so ferry does not create triggers during the sync (they would apply twice)",
                found.join("; ")
            ),
            "nothing during the sync; create the triggers on the target at cut-over (status.schemaSync.deferredTriggers lists them), or accept with spec.precheck.skip: [source-triggers]",
        );
    }

    /// Item 11.
    async fn charsets(&mut self) {
        let id = "charsets";
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let Some(mut tgt) = self.tgt.take() else {
            self.src = Some(src);
            return self.unreachable(&[id], Role::Target);
        };
        let source = self.source.clone();
        let target = self.target.clone();
        let r = async {
            // collation -> (charset, first user)
            let mut used: BTreeMap<String, (String, String)> = BTreeMap::new();
            for d in &self.dbs {
                let row: Option<(String, String)> = src
                    .exec_first(
                        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                        (&d.src,),
                    )
                    .await
                    .map_err(source.err("reading database collations"))?;
                if let Some((cs, co)) = row {
                    used.entry(co).or_insert((cs, format!("database {}", d.src)));
                }
                let cols: Vec<(String, String, String, String)> = src
                    .exec(
                        "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS \
                         WHERE TABLE_SCHEMA = ? AND COLLATION_NAME IS NOT NULL AND CHARACTER_SET_NAME IS NOT NULL",
                        (&d.src,),
                    )
                    .await
                    .map_err(source.err("reading column collations"))?;
                let tabs: Vec<(String, Option<String>)> = src
                    .exec("SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", (&d.src,))
                    .await
                    .map_err(source.err("reading table collations"))?;
                let chosen = |t: &str| self.tables.iter().any(|s| s.src_db == d.src && s.src_table == t) || d.whole;
                for (t, co) in tabs {
                    if let Some(co) = co.filter(|_| chosen(&t)) {
                        let cs = co.split('_').next().unwrap_or_default().to_string();
                        used.entry(co).or_insert((cs, format!("table {}.{t}", d.src)));
                    }
                }
                for (t, c, cs, co) in cols {
                    if chosen(&t) {
                        used.entry(co).or_insert((cs, format!("column {}.{t}.{c}", d.src)));
                    }
                }
            }
            // MariaDB 10.10+ lists its UCA 14.0 collations without a character set.
            let have: Vec<(String, Option<String>)> = tgt
                .query("SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
                .await
                .map_err(target.err("reading the target's collations"))?;
            let have_co: BTreeSet<String> = have.iter().map(|(c, _)| c.to_lowercase()).collect();
            let have_cs: BTreeSet<String> = have.iter().filter_map(|(_, s)| s.as_ref().map(|s| s.to_lowercase())).collect();
            let missing: Vec<(String, String, String)> =
                used.into_iter().filter(|(co, _)| !have_co.contains(&co.to_lowercase())).map(|(co, (cs, who))| (co, cs, who)).collect();
            Ok::<_, Error>((missing, have_cs))
        }
        .await;
        self.src = Some(src);
        self.tgt = Some(tgt);
        let (missing, have_cs) = match r {
            Ok(v) => v,
            Err(e) => return self.broken(id, e),
        };
        if missing.is_empty() {
            return self.pass(id, "every character set and collation the selected objects use exists on the target");
        }
        let list = missing
            .iter()
            .map(|(co, cs, who)| {
                if have_cs.contains(&cs.to_lowercase()) {
                    format!("collation {co} (used by {who})")
                } else {
                    format!("character set {cs} / collation {co} (used by {who})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        self.fail(
            id,
            format!("the target {} lacks {list}", target.address),
            format!(
                "use a target server that has them, or change the objects on the source to a collation the target has (e.g. ALTER TABLE ... CONVERT TO CHARACTER SET {} COLLATE <a collation from SHOW COLLATION on the target>)",
                missing[0].1
            ),
        );
    }

    /// Item 12.
    async fn server_settings(&mut self) {
        let id = "server-settings";
        let (Some(mut src), Some(mut tgt)) = (self.src.take(), self.tgt.take()) else {
            return self.skip(id, "not checked: a server is not reachable");
        };
        let names = ["sql_mode", "time_zone", "system_time_zone", "lower_case_table_names", "explicit_defaults_for_timestamp"];
        let (s, t) = (global_vars(&self.source, &mut src, &names).await, global_vars(&self.target, &mut tgt, &names).await);
        self.src = Some(src);
        self.tgt = Some(tgt);
        let (s, t) = match (s, t) {
            (Ok(s), Ok(t)) => (s, t),
            (Err(e), _) | (_, Err(e)) => return self.broken(id, e),
        };
        let mut diffs = Vec::new();
        let mut remedies = Vec::new();
        let modes = |m: Option<&String>| -> BTreeSet<String> {
            m.map(|m| m.split(',').filter(|x| !x.is_empty()).map(|x| x.trim().to_uppercase()).collect()).unwrap_or_default()
        };
        let (sm, tm) = (modes(s.get("sql_mode")), modes(t.get("sql_mode")));
        if sm != tm {
            let only_s: Vec<_> = sm.difference(&tm).cloned().collect();
            let only_t: Vec<_> = tm.difference(&sm).cloned().collect();
            diffs.push(format!(
                "sql_mode differs (only on the source: {}; only on the target: {}): defaults, views and routines can behave differently",
                if only_s.is_empty() { "-".into() } else { only_s.join(",") },
                if only_t.is_empty() { "-".into() } else { only_t.join(",") }
            ));
            remedies.push(format!("SET GLOBAL sql_mode = {};", lit(s.get("sql_mode").map(String::as_str).unwrap_or(""))));
        }
        let tz = |v: &BTreeMap<String, String>| -> String {
            match v.get("time_zone").map(String::as_str) {
                Some("SYSTEM") | None => format!("SYSTEM ({})", v.get("system_time_zone").cloned().unwrap_or_default()),
                Some(z) => z.to_string(),
            }
        };
        if tz(&s) != tz(&t) {
            diffs.push(format!(
                "time_zone differs (source {}, target {}): NOW() and CURRENT_TIMESTAMP defaults, and TIMESTAMP values read in the server's zone, change meaning",
                tz(&s),
                tz(&t)
            ));
            let zone = s.get("time_zone").filter(|z| *z != "SYSTEM").or(s.get("system_time_zone")).cloned().unwrap_or_default();
            remedies.push(format!("SET GLOBAL time_zone = {};", lit(&zone)));
        }
        let (sl, tl) = (s.get("lower_case_table_names"), t.get("lower_case_table_names"));
        if sl != tl {
            diffs.push(format!(
                "lower_case_table_names differs (source {}, target {}): table names that differ only in case become one on the target, or change case",
                sl.map(String::as_str).unwrap_or("?"),
                tl.map(String::as_str).unwrap_or("?")
            ));
            remedies.push(format!(
                "start the target with lower_case_table_names={} (read-only at runtime; MySQL 8 only at initialization)",
                sl.map(String::as_str).unwrap_or("0")
            ));
        }
        let (se, te) = (s.get("explicit_defaults_for_timestamp"), t.get("explicit_defaults_for_timestamp"));
        if se.is_some() && te.is_some() && is_on(se) != is_on(te) {
            diffs.push(format!(
                "explicit_defaults_for_timestamp differs (source {}, target {}): TIMESTAMP columns created on the target get other defaults and nullability",
                se.unwrap(),
                te.unwrap()
            ));
            remedies.push(format!("SET GLOBAL explicit_defaults_for_timestamp = {};", if is_on(se) { "ON" } else { "OFF" }));
        }
        if diffs.is_empty() {
            self.pass(id, "sql_mode, time_zone, lower_case_table_names and explicit_defaults_for_timestamp agree");
        } else {
            remedies.push("(and the same in the target's config)".into());
            self.fail(id, diffs.join("; "), remedies.join(" "));
        }
    }

    /// Item 8.
    async fn free_space(&mut self) {
        let id = "target-free-space";
        if !self.spec.initial_sync.data {
            self.items.push(item(id, W, PrecheckResult::Skipped, "initialSync.data: false: no rows are copied", ""));
            return;
        }
        let Some(mut tgt) = self.tgt.take() else {
            self.items.push(item(id, E, PrecheckResult::Skipped, "not checked: the target is not reachable (see target-connection)", ""));
            return;
        };
        if self.src.is_none() {
            self.tgt = Some(tgt);
            self.items.push(item(id, E, PrecheckResult::Skipped, "not checked: the source is not reachable (see source-connection)", ""));
            return;
        }
        let needed: u64 = self.tables.iter().map(|t| t.bytes).sum();
        let datadir: Option<String> = tgt.query_first("SELECT @@datadir").await.ok().flatten();
        // MariaDB's `disks` plugin is the only way a server tells its free space over SQL.
        let disks: std::result::Result<Vec<(String, u64)>, _> = tgt.query("SELECT Path, Available FROM information_schema.DISKS").await;
        self.tgt = Some(tgt);
        let free = match (&datadir, disks) {
            (Some(dir), Ok(d)) => {
                d.into_iter().filter(|(p, _)| dir.starts_with(p.as_str())).max_by_key(|(p, _)| p.len()).map(|(_, kib)| kib * 1024)
            }
            _ => None,
        };
        let mib = |b: u64| b.div_ceil(1 << 20);
        match free {
            None => self.items.push(item(
                id,
                W,
                PrecheckResult::Failed,
                format!(
                    "the target {} cannot tell its free space over SQL; the selected data takes about {} MiB on the source (data and indexes)",
                    self.target.address,
                    mib(needed)
                ),
                match self.tgt_flavor.as_ref().map(|f| f.kind) {
                    Some(Kind::MySql) => "make sure the target's data folder has that much free (MySQL tells no free space over SQL); accept with spec.precheck.skip: [target-free-space]",
                    _ => "make sure the target's data folder has that much free, or on MariaDB INSTALL SONAME 'disks'; so the precheck can see it; accept with spec.precheck.skip: [target-free-space]",
                },
            )),
            Some(f) if f >= needed + needed / 5 => self.items.push(item(
                id,
                E,
                PrecheckResult::Passed,
                format!("{} MiB free on the target for about {} MiB of data", mib(f), mib(needed)),
                "",
            )),
            Some(f) => self.items.push(item(
                id,
                E,
                PrecheckResult::Failed,
                format!(
                    "{} MiB free on the target {}, the selected data takes about {} MiB (plus 20% headroom)",
                    mib(f),
                    self.target.address,
                    mib(needed)
                ),
                "free space on the target's data volume or grow it, or select less data",
            )),
        }
    }
}

/// Privileges ferry's target sessions use in its databases (what ALL covers).
const TARGET_PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "CREATE VIEW",
    "SHOW VIEW",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "TRIGGER",
    "REFERENCES",
];

/// Reading a sample of one selected table on the source, in one session.
#[derive(Clone, Debug)]
pub struct ReadSample {
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// Writing sample rows into the target trial's scratch table, in one session.
#[derive(Clone, Debug)]
pub struct WriteSample {
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// How long the copy of `rows` rows (`bytes` on disk) takes at the measured rates, in seconds,
/// with how it was reckoned. The copy reads and writes at once, so the slower side bounds it;
/// one session was measured, and the copy's parallel sessions only make it faster. Without a
/// source sample it falls back to the assumed rates (and says so).
pub fn copy_estimate(rows: u64, bytes: u64, read: Option<&ReadSample>, write: Option<&WriteSample>) -> (u64, String) {
    let Some(r) = read.filter(|r| r.rows > 0 && r.seconds > 0.0) else {
        let secs = (rows / ASSUMED_ROWS_PER_SECOND).max(bytes / ASSUMED_BYTES_PER_SECOND);
        return (
            secs,
            format!(
                "no rows could be sampled, so at an assumed {ASSUMED_ROWS_PER_SECOND} rows/s or {} MiB/s",
                ASSUMED_BYTES_PER_SECOND >> 20
            ),
        );
    };
    let read_rows_per_s = r.rows as f64 / r.seconds;
    let bytes_per_row = r.bytes as f64 / r.rows as f64;
    let read_secs = rows as f64 / read_rows_per_s;
    let mut how = format!("measured reading {}: {:.0} rows/s of {:.0} bytes", r.table, read_rows_per_s, bytes_per_row);
    let mut secs = read_secs;
    // The target was written rows of the sample's size: per-row costs count as they will.
    match write.filter(|w| w.seconds > 0.0 && w.rows > 0) {
        Some(w) => {
            let write_rows_per_s = w.rows as f64 / w.seconds;
            secs = secs.max(rows as f64 / write_rows_per_s);
            how.push_str(&format!(
                ", writing the target: {:.0} rows/s ({:.1} MiB/s)",
                write_rows_per_s,
                w.bytes as f64 / w.seconds / (1 << 20) as f64
            ));
        }
        None => how.push_str("; writing the target was not measured (see target-privileges)"),
    }
    how.push_str("; one session each");
    (secs.ceil() as u64, how)
}

/// How much of a table the source sample reads at most.
const SAMPLE_MAX_ROWS: u64 = 50_000;
const SAMPLE_MAX_BYTES: u64 = 16 << 20;
/// How much the target trial writes at most, and for how long.
const WRITE_SAMPLE_MAX_BYTES: u64 = 16 << 20;
const WRITE_SAMPLE_MAX_SECONDS: f64 = 1.0;

/// A row of `len` bytes as a hex literal, varied so that nothing compresses it away.
fn sample_payload(len: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let mut out = String::with_capacity(len * 2 + 3);
    out.push_str("X'");
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{:02x}", x as u8));
    }
    out.push('\'');
    out
}

fn human(secs: u64) -> String {
    if secs >= 86400 {
        format!("{:.1} d", secs as f64 / 86400.0)
    } else if secs >= 3600 {
        format!("{:.1} h", secs as f64 / 3600.0)
    } else {
        format!("{secs} s")
    }
}

/// Whether `name` occurs in `body` as a whole word (identifiers: letters, digits, `_`, `$`).
fn mentions(body: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    body.match_indices(name).any(|(i, _)| {
        let before = body[..i].chars().next_back();
        let after = body[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// The tables this task recorded on the target (a re-run's own tables are not "existing").
async fn own_tables(conn: &mut Conn, meta_db: &str, task: &str) -> BTreeSet<(String, String)> {
    let sql = format!("SELECT src_db, src_table FROM {} WHERE task = ?", qt(meta_db, "copy_tables"));
    conn.exec::<(String, String), _, _>(sql, (task,)).await.map(|v| v.into_iter().collect()).unwrap_or_default()
}

/// Creates and drops a scratch table in `db` (and `db` itself when it is not there yet).
/// Several tasks may share a target (many-to-one): the database lock keeps another precheck or
/// engine from creating the database, or dropping it, while this trial runs.
/// With `measure` (a row size in bytes), also times writing such rows into the scratch table.
async fn try_create_drop(target: &Server, conn: &mut Conn, db: &str, measure: Option<usize>) -> Result<Option<WriteSample>> {
    crate::db::lock_databases(target, conn, &[db]).await?;
    let result = create_drop_locked(target, conn, db, measure).await;
    crate::db::unlock_databases(conn, &[db]).await;
    result
}

async fn create_drop_locked(target: &Server, conn: &mut Conn, db: &str, measure: Option<usize>) -> Result<Option<WriteSample>> {
    let exists: Option<String> = conn
        .exec_first("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", (db,))
        .await
        .map_err(target.err("listing databases"))?;
    let scratch = qt(db, &format!("ferry_precheck_{}", std::process::id()));
    let mut steps = Vec::new();
    if exists.is_none() {
        steps.push(format!("CREATE DATABASE {}", q(db)));
    }
    steps.push(format!("CREATE TABLE {scratch} (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, v LONGBLOB NULL) ENGINE=InnoDB"));
    steps.push(format!("INSERT INTO {scratch} VALUES (1, NULL)"));
    steps.push(format!("ALTER TABLE {scratch} ADD KEY ferry_k (id)"));
    let mut result = Ok(None);
    for s in &steps {
        if let Err(e) = conn.query_drop(s).await {
            result = Err(target.err(s.clone())(e));
            break;
        }
    }
    if let (Ok(_), Some(row_bytes)) = (&result, measure) {
        result = time_writes(target, conn, &scratch, row_bytes).await.map(Some);
    }
    if result.is_ok() {
        let drop = format!("DROP TABLE {scratch}");
        if let Err(e) = conn.query_drop(&drop).await {
            result = Err(target.err(drop)(e));
        }
    }
    // Leave nothing behind, whatever step failed. A database this created goes only when empty:
    // a table in it is not ours to drop.
    let _ = conn.query_drop(format!("DROP TABLE IF EXISTS {scratch}")).await;
    if exists.is_none() {
        let tables: Option<u64> =
            conn.exec_first("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", (db,)).await.unwrap_or(None);
        if tables == Some(0) {
            let _ = conn.query_drop(format!("DROP DATABASE IF EXISTS {}", q(db))).await;
        }
    }
    result
}

/// Inserts rows of `row_bytes` into `scratch`, about 1 MiB per autocommitted statement, for up
/// to `WRITE_SAMPLE_MAX_SECONDS` or `WRITE_SAMPLE_MAX_BYTES`, kept out of the target's binlog
/// when the user may set sql_log_bin.
async fn time_writes(target: &Server, conn: &mut Conn, scratch: &str, row_bytes: usize) -> Result<WriteSample> {
    let per_statement = ((1usize << 20) / row_bytes).max(1);
    let values: Vec<String> = (0..per_statement).map(|i| format!("({})", sample_payload(row_bytes, i as u64 + 1))).collect();
    let insert = format!("INSERT INTO {scratch} (v) VALUES {}", values.join(","));
    drop(values);
    let statement_bytes = (per_statement * row_bytes) as u64;
    // Sample rows need not reach the target's binlog (and its replicas) where the user may say so.
    let unlogged = conn.query_drop("SET SESSION sql_log_bin = 0").await.is_ok();
    let started = std::time::Instant::now();
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut written = Ok(());
    while written.is_ok() && bytes < WRITE_SAMPLE_MAX_BYTES && started.elapsed().as_secs_f64() < WRITE_SAMPLE_MAX_SECONDS {
        written = conn.query_drop(&insert).await;
        rows += per_statement as u64;
        bytes += statement_bytes;
    }
    let seconds = started.elapsed().as_secs_f64();
    if unlogged {
        let _ = conn.query_drop("SET SESSION sql_log_bin = 1").await;
    }
    written.map_err(target.err(format!("INSERT INTO {scratch} (v) VALUES …")))?;
    Ok(WriteSample { rows, bytes, seconds })
}

/// Opens a non-blocking binlog dump (server id 0: it registers no replica and kicks none off)
/// and reads one event. Some(false): refused for lack of REPLICATION SLAVE.
async fn try_binlog_dump(source: &Server, pos: Option<(String, u64)>) -> Option<bool> {
    let conn = source.connect(Session::Control).await.ok()?;
    let (file, p) = pos.unwrap_or_default();
    let req = BinlogStreamRequest::new(0).with_non_blocking().with_filename(file.as_bytes()).with_pos(p.max(4));
    let mut stream = match conn.get_binlog_stream(req).await {
        Ok(s) => s,
        Err(mysql_async::Error::Server(e)) if denied(Some(e.code)) => return Some(false),
        Err(e) => {
            debug!(error = %e, "binlog dump trial");
            return None;
        }
    };
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next()).await;
    let r = match first {
        Ok(Some(Err(mysql_async::Error::Server(e)))) if denied(Some(e.code)) => Some(false),
        Ok(Some(Ok(_))) | Ok(None) => Some(true),
        other => {
            debug!(?other, "binlog dump trial");
            None
        }
    };
    let _ = stream.close().await;
    r
}

// ---- SHOW GRANTS ------------------------------------------------------------------------------

/// One `GRANT privileges ON db.table` line (roles' lines included: MariaDB lists the default
/// role's grants after the user's).
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    /// Upper case; `ALL PRIVILEGES` as `ALL`. Column-level grants are left out.
    pub privileges: Vec<String>,
    /// None for `*`.
    pub db: Option<String>,
    pub table: Option<String>,
}

async fn read_grants(conn: &mut Conn) -> Vec<Grant> {
    let lines: Vec<String> = conn.query("SHOW GRANTS").await.unwrap_or_default();
    lines.iter().filter_map(|l| parse_grant(l)).collect()
}

/// Parses one SHOW GRANTS line; None for role grants, PROXY and routine grants.
pub fn parse_grant(line: &str) -> Option<Grant> {
    let rest = line.trim().strip_prefix("GRANT ")?;
    // The privilege list ends at the first " ON " outside parentheses (column lists).
    let mut depth = 0;
    let bytes = rest.as_bytes();
    let mut on_at = None;
    for i in 0..bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth == 0 && rest[i..].starts_with(" ON ") => {
                on_at = Some(i);
                break;
            }
            _ => {}
        }
    }
    let on_at = on_at?;
    let privs_text = &rest[..on_at];
    let object = rest[on_at + 4..].trim_start();
    if object.starts_with("FUNCTION ") || object.starts_with("PROCEDURE ") || object.starts_with("PACKAGE ") {
        return None;
    }
    let (db, after) = ident_or_star(object)?;
    let after = after.strip_prefix('.')?;
    let (table, after) = ident_or_star(after)?;
    if !after.trim_start().starts_with("TO ") {
        return None;
    }
    let mut privileges = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for ch in privs_text.chars() {
        match ch {
            '(' => {
                depth += 1;
                cur.push(ch);
            }
            ')' => {
                depth -= 1;
                cur.push(ch);
            }
            ',' if depth == 0 => {
                privileges.push(std::mem::take(&mut cur));
            }
            _ => cur.push(ch),
        }
    }
    privileges.push(cur);
    let privileges = privileges
        .into_iter()
        .map(|p| p.trim().to_uppercase())
        .filter(|p| !p.contains('(') && !p.is_empty())
        .map(|p| if p == "ALL PRIVILEGES" { "ALL".to_string() } else { p })
        .collect();
    Some(Grant { privileges, db, table })
}

/// `*`, `` `name` `` or a bare name; returns the name (None for `*`) and the rest.
fn ident_or_star(s: &str) -> Option<(Option<String>, &str)> {
    if let Some(r) = s.strip_prefix('*') {
        return Some((None, r));
    }
    if let Some(r) = s.strip_prefix('`') {
        let mut name = String::new();
        let mut chars = r.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '`' {
                if matches!(chars.peek(), Some((_, '`'))) {
                    chars.next();
                    name.push('`');
                    continue;
                }
                return Some((Some(name), &r[i + 1..]));
            }
            name.push(c);
        }
        return None;
    }
    let end = s.find(|c: char| c == '.' || c.is_whitespace()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((Some(s[..end].to_string()), &s[end..]))
}

/// A GRANT's database name is a LIKE pattern (`%`, `_`, `\` escapes).
fn db_pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('%') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('_') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && go(&p[2..], &n[1..]),
            Some(c) => !n.is_empty() && n[0] == *c && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Whether `privilege` on `db`.`table` is granted as itself or through a privilege that covers
/// it on this server ([`Flavor::privileges_covering`]).
fn granted(f: &Flavor, grants: &[Grant], privilege: &str, db: Option<&str>, table: Option<&str>) -> bool {
    f.privileges_covering(privilege).iter().any(|p| has_privilege(grants, p, db, table))
}

/// Whether `privilege` on `db`.`table` (None: any/all) is granted, directly or through ALL, at the
/// global, database or table level.
pub fn has_privilege(grants: &[Grant], privilege: &str, db: Option<&str>, table: Option<&str>) -> bool {
    grants.iter().any(|g| {
        let covers = match (&g.db, &g.table, db, table) {
            (None, _, _, _) => true,
            (Some(_), _, None, _) => false,
            (Some(gd), None, Some(d), _) => db_pattern_matches(gd, d),
            (Some(gd), Some(gt), Some(d), Some(t)) => gd == d && gt == t,
            (Some(_), Some(_), Some(_), None) => false,
        };
        covers && g.privileges.iter().any(|p| p == "ALL" || p == privilege)
    })
}

fn scope(db: Option<&str>, table: Option<&str>) -> String {
    match (db, table) {
        (None, _) => "*.*".into(),
        (Some(d), None) => format!("{}.*", q(d)),
        (Some(d), Some(t)) => qt(d, t),
    }
}

/// "SELECT on `shop`.*, REPLICATION SLAVE on *.*" and the GRANT statements that fix it.
fn grant_statements(missing: &BTreeSet<(String, String)>, user: &str) -> (String, String) {
    let mut by_scope: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (p, s) in missing {
        by_scope.entry(s).or_default().push(p);
    }
    let list = by_scope.iter().map(|(s, ps)| format!("{} on {s}", ps.join(", "))).collect::<Vec<_>>().join(", ");
    let stmts = by_scope.iter().map(|(s, ps)| format!("GRANT {} ON {s} TO {user};", ps.join(", "))).collect::<Vec<_>>().join(" ");
    (list, stmts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grant_lines() {
        let g = parse_grant("GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*D8'").unwrap();
        assert_eq!(
            g,
            Grant { privileges: vec!["SELECT".into(), "REPLICATION SLAVE".into(), "BINLOG MONITOR".into()], db: None, table: None }
        );
        let g = parse_grant("GRANT ALL PRIVILEGES ON `sh_p%`.* TO `u`@`%` WITH GRANT OPTION").unwrap();
        assert_eq!((g.privileges, g.db, g.table), (vec!["ALL".to_string()], Some("sh_p%".to_string()), None));
        let g = parse_grant("GRANT SELECT (a, b), INSERT ON `shop`.`t` TO 'u'@'%'").unwrap();
        assert_eq!((g.privileges, g.table), (vec!["INSERT".to_string()], Some("t".to_string())));
        assert!(parse_grant("GRANT `r1` TO `u`@`%`").is_none());
        assert!(parse_grant("GRANT EXECUTE ON PROCEDURE `db`.`p` TO `u`@`%`").is_none());
        let g = parse_grant("GRANT SELECT ON shop.* TO `u`@`%`").unwrap();
        assert_eq!(g.db.as_deref(), Some("shop"));
    }

    #[test]
    fn privileges_cover_levels_and_patterns() {
        let grants: Vec<Grant> =
            ["GRANT SELECT ON `sh\\_p%`.* TO `u`@`%`", "GRANT INSERT ON `crm`.`t` TO `u`@`%`", "GRANT REPLICATION SLAVE ON *.* TO `u`@`%`"]
                .iter()
                .filter_map(|l| parse_grant(l))
                .collect();
        assert!(has_privilege(&grants, "SELECT", Some("sh_prod"), Some("x")));
        assert!(!has_privilege(&grants, "SELECT", Some("shXprod"), None), "an escaped _ is literal");
        assert!(has_privilege(&grants, "INSERT", Some("crm"), Some("t")));
        assert!(!has_privilege(&grants, "INSERT", Some("crm"), None));
        assert!(has_privilege(&grants, "REPLICATION SLAVE", None, None));
        assert!(!has_privilege(&grants, "SELECT", None, None));
    }

    #[test]
    fn version_pairs_are_tested_only_as_the_suite_runs_them() {
        let f = Flavor::from_version;
        let (maria, mysql) = (f("10.11.19-MariaDB-0+deb12u1-log"), f("9.7.4-2"));
        // The four pairs the suite runs, patch releases of the same lines included.
        for (s, t) in [(&maria, &maria), (&mysql, &mysql), (&mysql, &maria), (&maria, &mysql)] {
            assert_eq!(version_pair(s, t), PairVerdict::Tested, "{} -> {}", s.version_text, t.version_text);
        }
        assert_eq!(version_pair(&f("10.11.2-MariaDB"), &f("10.11.14-MariaDB-log")), PairVerdict::Tested);
        assert_eq!(version_pair(&f("9.7.0"), &f("5.5.5-10.11.6-MariaDB")), PairVerdict::Tested);
        // Anything else is untested, the suite's own flavours in other releases included.
        let untested = PairVerdict::Untested { older_target: false };
        assert_eq!(version_pair(&f("8.0.36"), &f("8.0.36")), untested);
        assert_eq!(version_pair(&f("5.7.44-log"), &mysql), untested);
        assert_eq!(version_pair(&maria, &f("11.8.2-MariaDB-log")), untested);
        assert_eq!(version_pair(&f("10.6.20-MariaDB"), &maria), untested);
        assert_eq!(version_pair(&f("8.0.36"), &maria), untested);
        assert_eq!(version_pair(&f("11.8.2-MariaDB"), &mysql), untested, "other products are never older");
        // The same product into an older line keeps its reason.
        let older = PairVerdict::Untested { older_target: true };
        assert_eq!(version_pair(&f("11.8.2-MariaDB-log"), &maria), older);
        assert_eq!(version_pair(&mysql, &f("8.0.36")), older);
        assert_eq!(version_pair(&mysql, &f("9.6.0")), older);
        assert_eq!(
            tested_pairs_text(),
            "MariaDB 10.11 -> MariaDB 10.11, MySQL 9.7 -> MySQL 9.7, MySQL 9.7 -> MariaDB 10.11, MariaDB 10.11 -> MySQL 9.7"
        );
    }

    #[test]
    fn mysql_dynamic_privileges_and_role_lines_parse() {
        let lines = [
            "GRANT USAGE ON *.* TO `lim`@`%`",
            "GRANT RELOAD, REPLICATION CLIENT ON *.* TO `lim`@`%`",
            "GRANT BACKUP_ADMIN,SESSION_VARIABLES_ADMIN ON *.* TO `lim`@`%`",
            "GRANT SELECT ON `shop`.* TO `lim`@`%`",
            "GRANT `r1`@`%` TO `lim`@`%`",
        ];
        let grants: Vec<Grant> = lines.iter().filter_map(|l| parse_grant(l)).collect();
        assert_eq!(grants.len(), 4, "the role line is no privilege grant: {grants:?}");
        assert_eq!(grants[2].privileges, vec!["BACKUP_ADMIN".to_string(), "SESSION_VARIABLES_ADMIN".to_string()]);
        let mysql = Flavor::from_version("9.7.4-2");
        assert!(granted(&mysql, &grants, "SESSION_VARIABLES_ADMIN", None, None));
        assert!(granted(&mysql, &grants, "RELOAD", None, None));
        assert!(!granted(&mysql, &grants, "SHOW_ROUTINE", None, None));
        assert!(!granted(&mysql, &grants, "REPLICATION SLAVE", None, None));
    }

    #[test]
    fn privileges_count_through_those_that_cover_them() {
        let parse = |ls: &[&str]| -> Vec<Grant> { ls.iter().filter_map(|l| parse_grant(l)).collect() };
        let mysql = Flavor::from_version("9.7.4-2");
        let maria = Flavor::from_version("10.11.19-MariaDB-log");
        let old_maria = Flavor::from_version("10.4.30-MariaDB");
        // MySQL: SUPER gives SHOW BINARY LOG STATUS and restricted session variables;
        // FLUSH_TABLES gives FLUSH TABLES WITH READ LOCK; global SELECT reads routines.
        let g = parse(&["GRANT SUPER, SELECT ON *.* TO `u`@`%`", "GRANT FLUSH_TABLES ON *.* TO `u`@`%`"]);
        for p in ["REPLICATION CLIENT", "SESSION_VARIABLES_ADMIN", "RELOAD", "SHOW_ROUTINE"] {
            assert!(granted(&mysql, &g, p, None, None), "{p}");
        }
        // MariaDB 10.5+ took the binlog's rights out of SUPER; its old name still counts.
        assert!(!granted(&maria, &g, "BINLOG MONITOR", None, None));
        assert!(granted(&old_maria, &g, "REPLICATION CLIENT", None, None));
        assert!(!granted(&maria, &g, "RELOAD", None, None), "FLUSH_TABLES is MySQL's");
        let g = parse(&["GRANT REPLICATION CLIENT ON *.* TO `u`@`%`"]);
        assert!(granted(&maria, &g, "BINLOG MONITOR", None, None));
        // Routines: SHOW_ROUTINE on MySQL 8.0.20+, SELECT on mysql.proc on MariaDB.
        assert_eq!(mysql.routine_read_privilege(), ("SHOW_ROUTINE", None, None));
        assert_eq!(maria.routine_read_privilege(), ("SELECT", Some("mysql"), Some("proc")));
        let g = parse(&["GRANT SELECT ON `mysql`.`proc` TO `u`@`%`"]);
        assert!(granted(&maria, &g, "SELECT", Some("mysql"), Some("proc")));
        // The snapshot: MySQL's brief global read lock, and the position read under it.
        assert_eq!(mysql.snapshot_privileges(true), vec!["RELOAD", "REPLICATION CLIENT"]);
        assert_eq!(mysql.snapshot_privileges(false), vec!["RELOAD"]);
        assert!(maria.snapshot_privileges(true).is_empty());
    }

    #[test]
    fn word_mentions() {
        assert!(mentions("insert into shop.orders values (1)", "orders"));
        assert!(!mentions("insert into shop.orders_v2 values (1)", "orders"));
    }

    #[test]
    fn copy_estimate_takes_the_slower_of_reading_and_writing() {
        let read = ReadSample { table: "shop.orders".into(), rows: 10_000, bytes: 10_000 * 1000, seconds: 0.5 };
        // 20k rows/s read: 1M rows take 50 s to read; writing at 100k rows/s takes 10 s.
        let fast = WriteSample { rows: 100_000, bytes: 100_000_000, seconds: 1.0 };
        let (secs, how) = copy_estimate(1_000_000, 0, Some(&read), Some(&fast));
        assert_eq!(secs, 50);
        assert!(
            how.contains("measured reading shop.orders: 20000 rows/s of 1000 bytes") && how.contains("100000 rows/s (95.4 MiB/s)"),
            "{how}"
        );
        // A target that takes 1k rows/s bounds it instead.
        let slow = WriteSample { rows: 2_000, bytes: 2_000_000, seconds: 2.0 };
        assert_eq!(copy_estimate(1_000_000, 0, Some(&read), Some(&slow)).0, 1000);
        // Unmeasured target: the read alone, said so.
        let (secs, how) = copy_estimate(1_000_000, 0, Some(&read), None);
        assert_eq!(secs, 50);
        assert!(how.contains("not measured"), "{how}");
        // Nothing sampled: the assumed rates.
        let (secs, how) = copy_estimate(1_000_000, 0, None, None);
        assert_eq!(secs, 1_000_000 / ASSUMED_ROWS_PER_SECOND);
        assert!(how.contains("assumed"), "{how}");
    }
}
