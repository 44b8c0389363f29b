//! The `SyncTask` API (group `ferry.dev`, version `v1alpha1`): the one source of truth for the
//! manifest users write and the status ferry reports. The CRD YAML in this folder is generated from
//! these types (`make crds`); doc comments become the descriptions `kubectl explain` shows.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod hash;
pub mod manifest;
pub mod validate;

/// Where the operator mounts the task's Secrets in the engine pod and the engine reads them:
/// `source/{username,password}`, `target/{username,password}`, and `source-ca/ca.crt`,
/// `target-ca/ca.crt` with TLS CAs.
pub const SECRETS_DIR: &str = "/var/run/ferry";

/// Where the committed CRD lives, relative to the workspace root.
pub const CRD_FILE: &str = "crds/ferry.dev_synctasks.yaml";

/// A one-way synchronization from a MySQL-compatible source into a MySQL-compatible target:
/// initial schema sync, initial full data sync, then incremental sync from the source's binlog.
// KubeSchema (not JsonSchema) so that fields can carry CEL rules (`x-kubernetes-validations`).
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "SyncTask",
    namespaced,
    shortname = "st",
    status = "SyncTaskStatus",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Lag","type":"integer","jsonPath":".status.lagSeconds"}"#,
    printcolumn = r#"{"name":"Checkpoint","type":"string","jsonPath":".status.checkpoint.file"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = Rule::new("!has(self.startPosition) || has(self.startPosition.gtidSet) || (has(self.startPosition.file) && has(self.startPosition.position))").message("spec.startPosition: give file and position, or gtidSet"))]
pub struct SyncTaskSpec {
    /// The server ferry reads from: the snapshot for the initial sync and the binlog afterwards.
    /// Its host and port cannot change: the checkpoint is a position in this server's binlog.
    #[x_kube(validation = Rule::new("self.host == oldSelf.host && self.port == oldSelf.port").message("spec.source host and port are immutable: the checkpoint belongs to this server; create a new SyncTask"))]
    pub source: Endpoint,
    /// The server ferry writes to. Its host and port cannot change: ferry's metadata lives there.
    #[x_kube(validation = Rule::new("self.host == oldSelf.host && self.port == oldSelf.port").message("spec.target host and port are immutable: ferry's checkpoint lives on this server; create a new SyncTask"))]
    pub target: Endpoint,
    /// The databases (whole, or some of their tables) to synchronize, with optional name mapping.
    pub objects: Vec<DatabaseSelection>,
    /// What the initial synchronization copies before incremental sync starts.
    #[serde(default)]
    pub initial_sync: InitialSync,
    /// Keep the target in step with the source from the binlog after the initial sync. The task
    /// then runs until it is deleted or suspended.
    #[serde(default = "yes")]
    pub incremental: bool,
    /// Where incremental sync starts when there is no initial data sync (`initialSync.data:
    /// false`): a binlog file and position, or a GTID set. Ignored once a checkpoint exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_position: Option<StartPosition>,
    /// What to do when a table ferry would create already exists in the target.
    #[serde(default)]
    pub existing_tables: ExistingTables,
    /// What to do when a schema change cannot be replayed on the target.
    #[serde(default)]
    pub on_ddl_error: DdlErrorPolicy,
    /// Tuning and placement of the engine that moves the data.
    #[serde(default)]
    pub engine: EngineSpec,
    /// Database on the target where ferry keeps its checkpoints and copy progress, next to the data
    /// they describe, so that both commit in one transaction.
    #[serde(default = "default_metadata_database")]
    pub metadata_database: String,
    /// Stop moving data (the checkpoint is kept); set back to false to resume from it.
    #[serde(default)]
    pub suspend: bool,
    /// What happens when a row this task inserts into a merged table (`merge: true` on the table
    /// or its database) finds a row with the same key there already, written by another task.
    #[serde(default, skip_serializing_if = "ConflictPolicy::is_default")]
    pub conflict_policy: ConflictPolicy,
    /// The checks ferry runs before any data moves (`ferry precheck`), and which warnings to accept.
    #[serde(default, skip_serializing_if = "PrecheckSpec::is_empty")]
    pub precheck: PrecheckSpec,
    /// Verification while the binlog is followed: the target compared with the source through
    /// the task's mapping, table after table, at a bounded rate (off by default).
    #[serde(default, skip_serializing_if = "VerificationSpec::is_default")]
    pub verification: VerificationSpec,
    /// When the task is ready to switch the applications to the target, and the switch.
    #[serde(default, skip_serializing_if = "CutoverSpec::is_default")]
    pub cutover: CutoverSpec,
}

/// Continuous verification.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationSpec {
    /// Verify every selected table again and again while the binlog is followed.
    #[serde(default)]
    pub enabled: bool,
    /// Seconds between the end of one pass and the start of the next.
    #[serde(default = "default_verification_interval")]
    pub interval_seconds: u64,
    /// Source rows read per second at most (the load a pass puts on the source).
    #[serde(default = "default_verification_rate")]
    pub rows_per_second: u64,
    /// Write what differs right, as `ferry verify --repair` does.
    #[serde(default)]
    pub repair: bool,
    /// Rows the binlog changed are also checked row by row this many seconds after they were
    /// applied (0: only the passes). At most 100000 keys wait at a time; past that, rows are left
    /// to the next pass.
    #[serde(default = "default_recent_changes_delay")]
    pub recent_changes_delay_seconds: u64,
}

impl Default for VerificationSpec {
    fn default() -> Self {
        VerificationSpec {
            enabled: false,
            interval_seconds: default_verification_interval(),
            rows_per_second: default_verification_rate(),
            repair: false,
            recent_changes_delay_seconds: default_recent_changes_delay(),
        }
    }
}

fn default_recent_changes_delay() -> u64 {
    10
}

impl VerificationSpec {
    pub fn is_default(&self) -> bool {
        *self == VerificationSpec::default()
    }
}

fn default_verification_interval() -> u64 {
    3600
}

fn default_verification_rate() -> u64 {
    20_000
}

/// Cutover: readiness and the switch.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CutoverSpec {
    /// `CutoverReady` needs the lag at or under this many seconds.
    #[serde(default = "default_cutover_lag")]
    pub max_lag_seconds: u64,
    /// Schema changes skipped (`onDdlError: Skip`) or withheld (merged tables) are accepted:
    /// they do not hold `CutoverReady` back.
    #[serde(default)]
    pub accept_skipped_schema_changes: bool,
    /// Carry out the cutover: (with `lockSource`) make the source read-only, wait until the
    /// target has applied the source's final position, verify, create the deferred triggers;
    /// `status.cutover` reports it.
    #[serde(default)]
    pub requested: bool,
    /// Make the source read-only first (`super_read_only` on MySQL, `read_only` on MariaDB).
    #[serde(default)]
    pub lock_source: bool,
}

impl Default for CutoverSpec {
    fn default() -> Self {
        CutoverSpec { max_lag_seconds: default_cutover_lag(), accept_skipped_schema_changes: false, requested: false, lock_source: false }
    }
}

impl CutoverSpec {
    pub fn is_default(&self) -> bool {
        *self == CutoverSpec::default()
    }
}

fn default_cutover_lag() -> u64 {
    10
}

/// What an insert into a merged table does when a row with its key is there already
/// (many-to-one: the row came from another task's source).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConflictPolicy {
    /// The task fails, naming the table, the key and the task that wrote the row.
    #[default]
    Fail,
    /// This task's row replaces the row that is there.
    Overwrite,
    /// The row that is there is kept; this task's row is dropped.
    Ignore,
}

impl ConflictPolicy {
    pub fn is_default(&self) -> bool {
        *self == ConflictPolicy::Fail
    }
}

/// What the precheck may pass over.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrecheckSpec {
    /// Ids of warning-level precheck items to accept (e.g. `primary-keys`, `source-triggers`):
    /// they are reported as Skipped. Error-level items, which would lose data or stop the task,
    /// cannot be skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
}

impl PrecheckSpec {
    pub fn is_empty(&self) -> bool {
        self.skip.is_empty()
    }
}

fn default_metadata_database() -> String {
    "ferry_meta".to_string()
}

/// A source binlog position to start incremental sync from.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartPosition {
    /// Binlog file name, e.g. `mysql-bin.000042` (with `position`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Byte offset in `file` of the first event to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// A GTID set (MySQL `uuid:1-100`) or MariaDB GTID position (`0-1-100`) already applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid_set: Option<String>,
}

/// A MySQL-compatible server endpoint. Credentials come from a Secret, never inline.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    /// Host name or IP address of the server.
    pub host: String,
    /// TCP port of the server.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Name of a Secret in the task's namespace with the keys `username` and `password`.
    pub credentials_secret: String,
    /// Transport encryption to the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

fn default_port() -> u16 {
    3306
}

/// TLS settings for one endpoint.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tls {
    /// `disabled`: plain TCP. `preferred`: TLS when the server offers it. `required`: TLS, any
    /// certificate. `verify-ca`: TLS with a certificate signed by the CA. `verify-identity`: as
    /// verify-ca, and the certificate must name the host.
    #[serde(default)]
    pub mode: TlsMode,
    /// Name of a Secret holding the CA certificate (PEM) under the key `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<String>,
}

/// How a connection is encrypted.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain TCP.
    Disabled,
    /// TLS when the server offers it, plain TCP otherwise.
    #[default]
    Preferred,
    /// TLS; the server certificate is not checked.
    Required,
    /// TLS; the server certificate must be signed by the given CA.
    VerifyCa,
    /// TLS; the certificate must be signed by the CA and name the host.
    VerifyIdentity,
}

/// One source database: whole (every table, and later every schema change in it) or some tables.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseSelection {
    /// The database's name on the source.
    pub database: String,
    /// The database's name on the target (defaults to the source name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<String>,
    /// Tables to synchronize; when absent the whole database is selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<TableSelection>>,
    /// Every selected table of this database is merged with other tasks' rows in the target
    /// (many-to-one); see `tables[].merge`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge: bool,
    /// Replay schema changes (DDL) of the selected objects during incremental sync.
    #[serde(default = "yes")]
    pub ddl: bool,
    /// The row changes to replay (default all three). A table's own list overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dml: Option<Vec<DmlKind>>,
}

/// A kind of row change.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DmlKind {
    Insert,
    Update,
    Delete,
}

/// What happens when a schema change cannot be parsed, rewritten or applied on the target.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DdlErrorPolicy {
    /// The task fails with the statement, its binlog position and the reason.
    #[default]
    Fail,
    /// The statement is skipped, logged and listed in `status.schemaChanges.skipped`.
    Skip,
}

/// One source table, with optional name mapping, column selection and row filter.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableSelection {
    /// The table's name on the source.
    pub name: String,
    /// The table's name on the target (defaults to the source name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<String>,
    /// Columns to synchronize (default all). The primary key's columns must be among them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<ColumnSelection>>,
    /// A row filter: a SQL condition on source columns, e.g. `region = 'eu' AND id > 100`.
    /// Only rows matching it are synchronized.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The target table also receives rows from other tasks (many-to-one into one table). Every
    /// task writing it must declare it, or the operator refuses the newer task. Keys must not
    /// collide across sources (the precheck warns about AUTO_INCREMENT keys without offsets);
    /// a collision is handled by `spec.conflictPolicy`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge: bool,
    /// Replay this table's schema changes (default: the database's `ddl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ddl: Option<bool>,
    /// The row changes to replay for this table (default: the database's `dml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dml: Option<Vec<DmlKind>>,
}

/// One selected column, with optional name mapping.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColumnSelection {
    /// The column's name on the source.
    pub name: String,
    /// The column's name on the target (defaults to the source name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<String>,
}

/// What the initial synchronization copies.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitialSync {
    /// Create databases, tables, views, functions and procedures on the target.
    #[serde(default = "yes")]
    pub schema: bool,
    /// Copy the existing rows from a consistent snapshot of the source.
    #[serde(default = "yes")]
    pub data: bool,
}

impl Default for InitialSync {
    fn default() -> Self {
        Self { schema: true, data: true }
    }
}

fn yes() -> bool {
    true
}

/// What to do when a table ferry would create already exists in the target.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ExistingTables {
    /// Refuse to start while a same-name table exists in the target.
    #[default]
    PrecheckAndIntercept,
    /// Keep the existing table: rows whose primary key is already there keep the target's values,
    /// and when the schemas differ the columns both sides share are copied.
    Ignore,
}

/// Tuning and placement of the engine.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EngineSpec {
    /// Number of parallel copy connections to each server during the full sync.
    #[serde(default = "default_parallelism")]
    #[schemars(range(min = 1, max = 64))]
    pub parallelism: u32,
    /// Size in bytes of the batches written to the target.
    #[serde(default = "default_batch_bytes")]
    #[schemars(range(min = 4096, max = 268435456))]
    pub batch_bytes: u64,
    /// Rows per key range of the full copy: the unit of parallel copying and of what a crash
    /// makes ferry copy again. A table no larger than this is copied in one transaction, which
    /// lets the target load an empty table in bulk.
    #[serde(default = "default_chunk_rows")]
    #[schemars(range(min = 1000))]
    pub chunk_rows: u64,
    /// Container image of the engine (used by the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Compute resources of the engine pod (used by the operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The server id ferry uses as a replica of the source (default: derived from the task's
    /// namespace and name). Every task reading one source needs its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4294967295u32))]
    pub server_id: Option<u32>,
}

fn default_parallelism() -> u32 {
    4
}

fn default_batch_bytes() -> u64 {
    4 << 20
}

fn default_chunk_rows() -> u64 {
    500_000
}

impl Default for EngineSpec {
    fn default() -> Self {
        Self {
            parallelism: default_parallelism(),
            batch_bytes: default_batch_bytes(),
            chunk_rows: default_chunk_rows(),
            image: None,
            resources: None,
            server_id: None,
        }
    }
}

/// The observed state of a SyncTask.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncTaskStatus {
    /// Where the task is in its life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Standard conditions (Ready, Progressing, Degraded, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Objects created by the initial schema sync, and those deferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_sync: Option<SchemaSyncStatus>,
    /// Progress of the initial full data sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_sync: Option<FullSyncStatus>,
    /// The source position the target is consistent with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    /// Seconds the target is behind the source (incremental sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<i64>,
    /// Progress of the incremental sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_sync: Option<IncrementalSyncStatus>,
    /// A human-readable explanation of the phase, e.g. the error that stopped the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the engine pod reports about its own run (the operator derives `phase` from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineReport>,
    /// Names of the objects the operator created for this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<ChildrenStatus>,
    /// Schema changes replayed during incremental sync, and those skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_changes: Option<SchemaChangeStatus>,
    /// The result of the last precheck: every item, whether it passed, and what to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precheck: Option<PrecheckStatus>,
    /// The last verification pass (`spec.verification`, or the cutover's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationStatus>,
    /// The cutover, once requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutover: Option<CutoverStatus>,
}

/// Where a cutover stands.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CutoverStatus {
    /// `Locking`, `CatchingUp`, `Verifying`, `CreatingTriggers`, `Done`, or `Failed`.
    pub state: String,
    /// The source's binlog position the target holds everything up to (`file:position`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_position: Option<String>,
    /// The source was made read-only.
    #[serde(default)]
    pub source_locked: bool,
    /// Triggers created on the target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers_created: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}

/// What a verification found: the selected tables compared between source and target through
/// the task's mapping (`ferry verify`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationStatus {
    /// When the verification ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
    /// No table differs and every difference seen at first was only lag.
    pub passed: bool,
    /// Rows compared, all tables.
    pub rows_compared: u64,
    /// Rows that differ, all tables (missing, extra, different, unconfirmed).
    pub differences: u64,
    /// Per table: at most 50, those with the most differences first (the totals above cover
    /// every table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableVerification>,
    /// Why the last pass could not run (its tables are those of the pass before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The row-level check of rows the binlog changed lately (`recentChangesDelaySeconds`),
    /// since the last pass: its differences are counted in `differences` and `tables` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_changes: Option<RecentChangesCheck>,
}

/// The checks of recently changed rows since the last verification pass.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentChangesCheck {
    /// When the last check ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
    /// Changed rows checked.
    pub rows_checked: u64,
    /// Of those, rows that differed.
    pub differences: u64,
    /// Changed rows not kept for a check (too many at once): the next pass compares them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

/// One table's verification.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableVerification {
    /// `db.table` on the source.
    pub name: String,
    /// `db.table` on the target.
    pub target: String,
    /// Key ranges compared (1 for a table without a key, compared as a multiset).
    pub chunks: u64,
    /// Source rows compared.
    pub rows_compared: u64,
    /// Rows of the source the target lacks.
    pub missing: u64,
    /// Rows of the target the source lacks (never counted for a merged table: other tasks' rows).
    pub extra: u64,
    /// Rows present on both sides with other values.
    pub different: u64,
    /// Key ranges that still differed when the target had not caught up within the wait:
    /// neither proven equal nor proven different.
    pub unconfirmed: u64,
    /// Rows written or deleted by `--repair`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repaired: u64,
    /// The first keys of each kind of difference (`missing id=5`, `different (a=1, b=2)`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Schema changes seen during incremental sync.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaChangeStatus {
    /// Statements replayed on the target.
    pub applied: u64,
    /// Statements not replayed under `onDdlError: Skip` (the latest 50), each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedSchemaChange>,
    /// Selected tables renamed on the source and followed under their new names (`db.old -> db.new`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followed_renames: Vec<String>,
}

/// A schema change that was not replayed.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedSchemaChange {
    /// Binlog position of the statement (`file:position`).
    pub position: String,
    /// The statement (shortened when long).
    pub statement: String,
    /// Why it was not replayed.
    pub reason: String,
}

/// The result of a precheck.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrecheckStatus {
    /// Every item checked, in a fixed order.
    #[serde(default)]
    pub items: Vec<PrecheckItem>,
    /// True when no error-level item failed.
    pub passed: bool,
    /// When the precheck ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
    /// The hash of the spec it checked (as far as the precheck reads it): an engine starting
    /// with the same spec after a passed precheck does not run it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
}

/// One precheck item's outcome.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrecheckItem {
    /// Stable kebab-case id, e.g. `binlog-format`: the name `spec.precheck.skip` takes.
    pub id: String,
    /// Error: a failure stops the task. Warning: the task can run; read the message.
    pub level: PrecheckLevel,
    /// Passed, Failed, or Skipped (not applicable, not checkable, or accepted in `spec.precheck.skip`).
    pub result: PrecheckResult,
    /// What was found, naming the server, object or setting.
    pub message: String,
    /// What to change when the item failed: the SQL to run or the server option to set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remedy: String,
}

/// How much a failed precheck item matters.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PrecheckLevel {
    /// The task cannot succeed (or would lose data) until it is fixed.
    Error,
    /// The task can run; the message says what to expect.
    Warning,
}

/// The outcome of one precheck item.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PrecheckResult {
    /// The check found nothing to change.
    Passed,
    /// The check found a problem; see the message and the remedy.
    Failed,
    /// Not applicable to this task, not checkable, or accepted in `spec.precheck.skip`.
    Skipped,
}

/// The engine's own view of its run, written by the engine pod (field manager `ferry-engine`).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EngineReport {
    /// The stage the engine is in (Pending, Initializing, Synchronizing, Finished, Failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// What the engine is doing, or the error that stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The spec generation the engine runs (read when it started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the engine last wrote its report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_time: Option<Time>,
}

/// Objects the operator created for a task (all owned by it, removed with it).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildrenStatus {
    /// The precheck Job of the current spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precheck_job: Option<String>,
    /// The engine StatefulSet (one replica; zero while suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// The phase of a SyncTask.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Accepted, nothing started yet.
    Pending,
    /// Checking that the task can succeed.
    Prechecking,
    /// The precheck found a problem; see the conditions and the message.
    PrecheckFailed,
    /// Initial schema and full data sync in progress.
    Initializing,
    /// Incremental sync from the binlog in progress.
    Synchronizing,
    /// Stopped by `spec.suspend`; the checkpoint is kept.
    Suspended,
    /// Stopped by an error; see the message.
    Failed,
    /// The initial sync completed and no incremental sync was asked for.
    Finished,
}

/// Objects the initial schema sync handled.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaSyncStatus {
    /// Tables created on the target (`db.table`, target names).
    #[serde(default)]
    pub tables: u32,
    /// Views created on the target.
    #[serde(default)]
    pub views: u32,
    /// Functions and procedures created on the target.
    #[serde(default)]
    pub routines: u32,
    /// Tables that already existed on the target and were kept (`existingTables: Ignore`); past
    /// 50, the last line says how many more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_existing: Vec<String>,
    /// Triggers not created during sync (their effects arrive through the binlog);
    /// create them on the target at cut-over. Past 50, the last line says how many more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred_triggers: Vec<String>,
}

/// Progress of the full data sync.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FullSyncStatus {
    /// Rows copied so far, all tables.
    pub rows_done: u64,
    /// Rows estimated from table statistics, all tables.
    pub rows_estimated: u64,
    /// Percent done by rows (0-100).
    pub percent: f64,
    /// Tables completely copied.
    pub tables_done: u32,
    /// Tables selected.
    pub tables_total: u32,
    /// Rows per second over the copy so far.
    #[serde(default)]
    pub rows_per_second: u64,
    /// Bytes loaded into the target per second over the copy so far.
    #[serde(default)]
    pub bytes_per_second: u64,
    /// Rows of merged tables not copied, or copied over another task's row, because their key
    /// was taken (`spec.conflictPolicy` Ignore or Overwrite).
    #[serde(default)]
    pub merge_conflicts: u64,
    /// Per-table progress: at most 50 tables, those being copied first, then those still to come
    /// (the counts above cover every table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<TableProgress>,
}

/// Progress of one table's copy.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableProgress {
    /// `db.table` on the source.
    pub name: String,
    /// Rows copied.
    pub rows_done: u64,
    /// Rows estimated from table statistics.
    pub rows_estimated: u64,
    /// Percent done (0-100); 100 once the table is complete, whatever the estimate said.
    pub percent: f64,
    /// Key ranges the table was split into, and how many are complete.
    pub chunks_done: u32,
    /// Key ranges in all.
    pub chunks_total: u32,
}

/// Progress of the incremental sync from the binlog.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncrementalSyncStatus {
    /// Row changes applied to the target since the incremental sync started.
    pub rows_applied: u64,
    /// Source transactions applied since the incremental sync started.
    pub transactions_applied: u64,
    /// Row changes applied per second, over the last few seconds.
    pub rows_per_second: u64,
    /// Source transactions applied per second, over the last few seconds.
    pub transactions_per_second: u64,
    /// Bytes of row data (before and after images) applied since the incremental sync started.
    #[serde(default)]
    pub bytes_applied: u64,
    /// Bytes of row data applied per second, over the last few seconds.
    #[serde(default)]
    pub bytes_per_second: u64,
    /// Rows inserted into merged tables whose key another writer's row already held, resolved
    /// by `spec.conflictPolicy` (Overwrite or Ignore; Fail stops the task instead).
    #[serde(default)]
    pub merge_conflicts: u64,
    /// When the last applied source transaction was committed on the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<Time>,
}

/// A source binlog position.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Binlog file name.
    pub file: String,
    /// Byte offset in the binlog file.
    pub position: u64,
    /// The GTID set (MySQL) or GTID position (MariaDB) at this point, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid_set: Option<String>,
    /// Until this position incremental sync replays idempotently, because parts of the full
    /// copy were read from snapshots taken up to here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent_at: Option<String>,
    /// When the checkpoint was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}

/// The CRD as YAML, exactly as committed in [`CRD_FILE`].
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let crd = SyncTask::crd();
    let body = serde_saphyr::to_string(&crd).expect("a CRD always serializes");
    format!("# Generated from crds/src/lib.rs by `make crds`; do not edit.\n---\n{body}")
}
