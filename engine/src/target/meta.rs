//! ferry's records on the target, next to the data they describe: which tables and objects this
//! task created, how each table was split, and which key ranges are copied (committed in the same
//! transaction as the range's rows, so a crash can neither lose nor repeat a range).

use std::collections::BTreeMap;

use mysql_async::prelude::*;
use mysql_async::{Conn, Value};
use serde::{Deserialize, Serialize};

use crate::db::flavor::Position;
use crate::db::{Server, Session, q};
use crate::error::{Error, Result};

/// The metadata tables, by name, in the task's metadata database.
pub struct Meta {
    pub db: String,
    pub task: String,
}

/// How far a table has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableState {
    /// ferry is about to create it (a crash may leave it created or not).
    Creating,
    /// Created by ferry, secondary indexes possibly deferred.
    Created,
    /// It existed before the task (existingTables: Ignore, or no schema sync).
    Existing,
    /// Rows copied and indexes built.
    Done,
}

impl TableState {
    fn as_str(self) -> &'static str {
        match self {
            TableState::Creating => "creating",
            TableState::Created => "created",
            TableState::Existing => "existing",
            TableState::Done => "done",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "creating" => TableState::Creating,
            "created" => TableState::Created,
            "existing" => TableState::Existing,
            "done" => TableState::Done,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct TableRecord {
    pub state: TableState,
    /// `ADD KEY ...` clauses to run after the rows are loaded.
    pub deferred_indexes: Vec<String>,
}

/// One key range of a table's copy. Bounds are source key values; None is open.
#[derive(Clone, Debug)]
pub struct Chunk {
    pub no: u32,
    pub lower: Option<Vec<Value>>,
    pub upper: Option<Vec<Value>>,
    pub done: bool,
    pub rows: u64,
}

impl Meta {
    pub fn new(db: &str, task: &str) -> Self {
        Meta { db: db.to_string(), task: task.to_string() }
    }

    fn t(&self, table: &str) -> String {
        format!("{}.{}", q(&self.db), q(table))
    }

    pub async fn ensure(&self, target: &Server) -> Result<()> {
        let charset = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
        let stmts = vec![
            format!("CREATE DATABASE IF NOT EXISTS {}", q(&self.db)),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(255) NOT NULL, src_db VARCHAR(64) NOT NULL, \
                 src_table VARCHAR(64) NOT NULL, dst_db VARCHAR(64) NOT NULL, dst_table VARCHAR(64) NOT NULL, \
                 state VARCHAR(16) NOT NULL, deferred_indexes LONGTEXT NULL, \
                 updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), \
                 PRIMARY KEY (task, src_db, src_table)) {charset}",
                self.t("copy_tables")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(255) NOT NULL, src_db VARCHAR(64) NOT NULL, \
                 src_table VARCHAR(64) NOT NULL, chunk INT UNSIGNED NOT NULL, lower_bound LONGTEXT NULL, \
                 upper_bound LONGTEXT NULL, done TINYINT NOT NULL DEFAULT 0, rows_copied BIGINT UNSIGNED NOT NULL DEFAULT 0, \
                 snapshot_file VARCHAR(512) NULL, snapshot_pos BIGINT UNSIGNED NULL, snapshot_gtid TEXT NULL, \
                 PRIMARY KEY (task, src_db, src_table, chunk)) {charset}",
                self.t("copy_chunks")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(255) NOT NULL PRIMARY KEY, \
                 binlog_file VARCHAR(512) NOT NULL, binlog_pos BIGINT UNSIGNED NOT NULL, gtid TEXT NULL, \
                 consistent_file VARCHAR(512) NULL, consistent_pos BIGINT UNSIGNED NULL, \
                 epoch BIGINT UNSIGNED NOT NULL DEFAULT 0, owner VARCHAR(255) NULL, \
                 source_time TIMESTAMP(6) NULL, \
                 updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)) {charset}",
                self.t("checkpoints")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(255) NOT NULL, kind VARCHAR(16) NOT NULL, \
                 dst_db VARCHAR(64) NOT NULL, name VARCHAR(64) NOT NULL, \
                 PRIMARY KEY (task, kind, dst_db, name)) {charset}",
                self.t("schema_objects")
            ),
            // Parallel apply: one row per slot (tables hash to slots, slots to lanes), each moved in
            // the same transaction as the changes of its slot.
            format!(
                "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(255) NOT NULL, slot SMALLINT UNSIGNED NOT NULL, \
                 binlog_file VARCHAR(512) NOT NULL, binlog_pos BIGINT UNSIGNED NOT NULL, gtid TEXT NULL, \
                 epoch BIGINT UNSIGNED NOT NULL DEFAULT 0, source_time TIMESTAMP(6) NULL, \
                 updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), \
                 PRIMARY KEY (task, slot)) {charset}",
                self.t("apply_slots")
            ),
            // Schema changes replayed: recorded before the statement runs, so that a replay after
            // a crash knows it may have run already (DDL commits by itself, apart from the checkpoint).
            format!(
                "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(255) NOT NULL, binlog_file VARCHAR(255) NOT NULL, \
                 binlog_pos BIGINT UNSIGNED NOT NULL, statement LONGTEXT NOT NULL, \
                 applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), \
                 PRIMARY KEY (task, binlog_file, binlog_pos)) {charset}",
                self.t("ddl_log")
            ),
            // Every task writing this target and its source server (`host:port`): what a merge
            // conflict names besides the other task.
            format!(
                "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(255) NOT NULL PRIMARY KEY, source VARCHAR(512) NOT NULL, \
                 updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)) {charset}",
                self.t("tasks")
            ),
            // Selected tables renamed on the source and followed: the spec keeps the old name.
            format!(
                "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(255) NOT NULL, src_db VARCHAR(64) NOT NULL, \
                 spec_table VARCHAR(64) NOT NULL, src_table VARCHAR(64) NOT NULL, \
                 PRIMARY KEY (task, src_db, spec_table)) {charset}",
                self.t("followed_renames")
            ),
        ];
        let mut conn = target.connect(Session::Control).await?;
        crate::db::lock_databases(target, &mut conn, &[&self.db]).await?;
        target.exec_each(&mut conn, &stmts).await?;
        crate::db::unlock_databases(&mut conn, &[&self.db]).await;
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// Records which source server this task reads (no credentials: host and port).
    pub async fn record_source(&self, target: &Server, source: &str) -> Result<()> {
        let sql = format!("INSERT INTO {} (task, source) VALUES (?, ?) ON DUPLICATE KEY UPDATE source = VALUES(source)", self.t("tasks"));
        let mut conn = target.connect(Session::Control).await?;
        conn.exec_drop(sql, (&self.task, source)).await.map_err(target.err("recording the task's source"))?;
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// Every table record of the task, by source `(db, table)`: one read for all of them.
    pub async fn table_records_by_name(&self, target: &Server, conn: &mut Conn) -> Result<BTreeMap<(String, String), TableRecord>> {
        let rows: Vec<(String, String, String, Option<String>)> = conn
            .exec(format!("SELECT src_db, src_table, state, deferred_indexes FROM {} WHERE task = ?", self.t("copy_tables")), (&self.task,))
            .await
            .map_err(target.err("reading ferry's table records"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(db, table, state, idx)| {
                let record = TableRecord {
                    state: TableState::parse(&state)?,
                    deferred_indexes: idx.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default(),
                };
                Some(((db, table), record))
            })
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn set_table(
        &self,
        target: &Server,
        conn: &mut Conn,
        src: (&str, &str),
        dst: (&str, &str),
        state: TableState,
        deferred_indexes: Option<&[String]>,
    ) -> Result<()> {
        let idx = deferred_indexes.map(|d| serde_json::to_string(d).expect("strings serialize"));
        conn.exec_drop(
            format!(
                "INSERT INTO {} (task, src_db, src_table, dst_db, dst_table, state, deferred_indexes) VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE dst_db = VALUES(dst_db), dst_table = VALUES(dst_table), state = VALUES(state), \
                 deferred_indexes = COALESCE(VALUES(deferred_indexes), deferred_indexes)",
                self.t("copy_tables")
            ),
            (&self.task, src.0, src.1, dst.0, dst.1, state.as_str(), idx),
        )
        .await
        .map_err(target.err("recording a table's state"))
    }

    pub async fn record_object(&self, target: &Server, conn: &mut Conn, kind: &str, dst_db: &str, name: &str) -> Result<()> {
        conn.exec_drop(
            format!("INSERT IGNORE INTO {} (task, kind, dst_db, name) VALUES (?, ?, ?, ?)", self.t("schema_objects")),
            (&self.task, kind, dst_db, name),
        )
        .await
        .map_err(target.err("recording a created object"))
    }

    pub async fn object_is_ours(&self, target: &Server, conn: &mut Conn, kind: &str, dst_db: &str, name: &str) -> Result<bool> {
        let n: Option<i64> = conn
            .exec_first(
                format!("SELECT COUNT(*) FROM {} WHERE task = ? AND kind = ? AND dst_db = ? AND name = ?", self.t("schema_objects")),
                (&self.task, kind, dst_db, name),
            )
            .await
            .map_err(target.err("reading ferry's object records"))?;
        Ok(n.unwrap_or(0) > 0)
    }

    /// The stored copy plans of the task, by source `(db, table)`: one read for every table.
    pub async fn all_chunks(&self, target: &Server, conn: &mut Conn) -> Result<BTreeMap<(String, String), Vec<Chunk>>> {
        type ChunkRow = (String, String, u32, Option<String>, Option<String>, i64, u64);
        let rows: Vec<ChunkRow> = conn
            .exec(
                format!(
                    "SELECT src_db, src_table, chunk, lower_bound, upper_bound, done, rows_copied FROM {} \
                     WHERE task = ? ORDER BY src_db, src_table, chunk",
                    self.t("copy_chunks")
                ),
                (&self.task,),
            )
            .await
            .map_err(target.err("reading the copy plans"))?;
        let mut plans: BTreeMap<(String, String), Vec<Chunk>> = BTreeMap::new();
        for (src_db, src_table, no, lo, hi, done, n) in rows {
            let bound = |s: Option<String>| -> Result<Option<Vec<Value>>> {
                s.map(|s| decode_bound(&s)).transpose().map_err(|m| {
                    Error::object(format!("{src_db}.{src_table}"), format!("unreadable copy plan in the metadata database: {m}"))
                })
            };
            let chunk = Chunk { no, lower: bound(lo)?, upper: bound(hi)?, done: done != 0, rows: n };
            plans.entry((src_db, src_table)).or_default().push(chunk);
        }
        Ok(plans)
    }

    /// Stores the copy plans of tables that have none, in one transaction of multi-row inserts.
    pub async fn save_plans(&self, target: &Server, conn: &mut Conn, plans: &[(&str, &str, &[Chunk])]) -> Result<()> {
        const ROWS_PER_INSERT: usize = 500;
        let err = || target.err("saving the copy plans");
        let rows: Vec<(&str, &str, &Chunk)> =
            plans.iter().flat_map(|(db, table, chunks)| chunks.iter().map(move |c| (*db, *table, c))).collect();
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = conn.start_transaction(shared_target_tx()).await.map_err(err())?;
        for batch in rows.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO {} (task, src_db, src_table, chunk, lower_bound, upper_bound) VALUES {}",
                self.t("copy_chunks"),
                vec!["(?, ?, ?, ?, ?, ?)"; batch.len()].join(", ")
            );
            let mut params: Vec<Value> = Vec::with_capacity(batch.len() * 6);
            for (db, table, c) in batch {
                params.extend([
                    Value::from(&self.task),
                    Value::from(*db),
                    Value::from(*table),
                    Value::from(c.no),
                    Value::from(c.lower.as_deref().map(encode_bound)),
                    Value::from(c.upper.as_deref().map(encode_bound)),
                ]);
            }
            tx.exec_drop(sql, params).await.map_err(err())?;
        }
        tx.commit().await.map_err(err())
    }

    /// The statement that marks a chunk copied; run inside the chunk's transaction.
    pub fn chunk_done_sql(&self) -> String {
        format!(
            "UPDATE {} SET done = 1, rows_copied = ?, snapshot_file = ?, snapshot_pos = ?, snapshot_gtid = ? \
             WHERE task = ? AND src_db = ? AND src_table = ? AND chunk = ? AND done = 0",
            self.t("copy_chunks")
        )
    }

    /// The snapshot positions the copied chunks were read at.
    pub async fn snapshot_positions(&self, target: &Server, conn: &mut Conn) -> Result<Vec<Position>> {
        let rows: Vec<(String, u64, Option<String>)> = conn
            .exec(
                format!(
                    "SELECT DISTINCT snapshot_file, snapshot_pos, snapshot_gtid FROM {} WHERE task = ? AND done = 1 AND snapshot_file IS NOT NULL",
                    self.t("copy_chunks")
                ),
                (&self.task,),
            )
            .await
            .map_err(target.err("reading snapshot positions"))?;
        Ok(rows.into_iter().map(|(file, pos, gtid)| Position { file, pos, gtid }).collect())
    }
}

/// The incremental sync's position, as committed with the changes it covers.
#[derive(Clone, Debug)]
pub struct StoredCheckpoint {
    pub position: Position,
    /// Until here replay meets rows the full copy already holds (informational: keyed tables
    /// are applied idempotently, keyless ones skip by their own copy position).
    pub consistent_at: Option<Position>,
    pub epoch: u64,
    /// Each slot's position (empty before the first claim).
    pub slots: Vec<Position>,
}

/// Tables hash into this many slots; a lane applies the slots `slot % lanes == lane`. Fixed, so
/// that the slot positions stay valid when the number of lanes changes.
pub const APPLY_SLOTS: usize = 32;

/// Slots by table: stable across runs (the skip rule on replay depends on it).
pub fn slot_of(db: &str, table: &str) -> usize {
    let mut h: u32 = 0x811c9dc5;
    for b in db.bytes().chain([0]).chain(table.bytes()) {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    h as usize % APPLY_SLOTS
}

impl Meta {
    /// Where replay resumes: the lowest slot position (every change before it is applied), with
    /// each slot's own position for skipping what its lane applied beyond that.
    pub async fn checkpoint(&self, target: &Server, conn: &mut Conn) -> Result<Option<StoredCheckpoint>> {
        type CheckpointRow = (String, u64, Option<String>, Option<String>, Option<u64>, u64);
        let row: Option<CheckpointRow> = conn
            .exec_first(
                format!(
                    "SELECT binlog_file, binlog_pos, gtid, consistent_file, consistent_pos, epoch FROM {} WHERE task = ?",
                    self.t("checkpoints")
                ),
                (&self.task,),
            )
            .await
            .map_err(target.err("reading the checkpoint"))?;
        let Some((file, pos, gtid, cf, cp, epoch)) = row else { return Ok(None) };
        let slots: Vec<(u16, String, u64, Option<String>)> = conn
            .exec(
                format!("SELECT slot, binlog_file, binlog_pos, gtid FROM {} WHERE task = ? ORDER BY slot", self.t("apply_slots")),
                (&self.task,),
            )
            .await
            .map_err(target.err("reading the checkpoint"))?;
        let slots: Vec<Position> = if slots.len() == APPLY_SLOTS {
            slots.into_iter().map(|(_, file, pos, gtid)| Position { file, pos, gtid }).collect()
        } else {
            Vec::new()
        };
        let position = slots.iter().min().cloned().unwrap_or(Position { file, pos, gtid });
        Ok(Some(StoredCheckpoint {
            position,
            slots,
            consistent_at: cf.zip(cp).map(|(file, pos)| Position { file, pos, gtid: None }),
            epoch,
        }))
    }

    /// Records where incremental sync starts, unless a checkpoint exists already.
    pub async fn init_checkpoint(
        &self,
        target: &Server,
        conn: &mut Conn,
        start: &Position,
        consistent_at: Option<&Position>,
    ) -> Result<()> {
        conn.exec_drop(
            format!(
                "INSERT IGNORE INTO {} (task, binlog_file, binlog_pos, gtid, consistent_file, consistent_pos) VALUES (?, ?, ?, ?, ?, ?)",
                self.t("checkpoints")
            ),
            (&self.task, &start.file, start.pos, &start.gtid, consistent_at.map(|p| &p.file), consistent_at.map(|p| p.pos)),
        )
        .await
        .map_err(target.err("recording the start position"))
    }

    /// Takes the task over: every checkpoint update names the epoch, so an engine that started
    /// earlier can no longer commit (fencing). Creates the slot rows from the task's checkpoint
    /// the first time.
    pub async fn claim(&self, target: &Server, conn: &mut Conn, owner: &str) -> Result<u64> {
        let err = || target.err("claiming the task");
        let mut tx = conn.start_transaction(shared_target_tx()).await.map_err(err())?;
        // A plain UNION: MySQL and MariaDB spell table value constructors differently.
        let numbers = (0..APPLY_SLOTS).map(|s| format!("SELECT {s} AS slot")).collect::<Vec<_>>().join(" UNION ALL ");
        tx.exec_drop(
            format!(
                "INSERT IGNORE INTO {} (task, slot, binlog_file, binlog_pos, gtid) \
                 SELECT c.task, s.slot, c.binlog_file, c.binlog_pos, c.gtid FROM {} c \
                 JOIN ({numbers}) s WHERE c.task = ?",
                self.t("apply_slots"),
                self.t("checkpoints"),
            ),
            (&self.task,),
        )
        .await
        .map_err(err())?;
        tx.exec_drop(format!("UPDATE {} SET epoch = epoch + 1, owner = ? WHERE task = ?", self.t("checkpoints")), (owner, &self.task))
            .await
            .map_err(err())?;
        let epoch: Option<u64> =
            tx.exec_first(format!("SELECT epoch FROM {} WHERE task = ?", self.t("checkpoints")), (&self.task,)).await.map_err(err())?;
        let epoch = epoch.ok_or_else(|| Error::object(&self.task, "no checkpoint row to claim"))?;
        tx.exec_drop(format!("UPDATE {} SET epoch = ? WHERE task = ?", self.t("apply_slots")), (epoch, &self.task)).await.map_err(err())?;
        tx.commit().await.map_err(err())?;
        Ok(epoch)
    }

    /// One slot's position, its row locked until the transaction ends: the lane that owns the
    /// slot cannot commit meanwhile (a repair orders itself with the binlog replay by it). Params:
    /// task, slot.
    pub fn slot_position_for_update_sql(&self) -> String {
        format!("SELECT binlog_file, binlog_pos FROM {} WHERE task = ? AND slot = ? FOR UPDATE", self.t("apply_slots"))
    }

    /// Moves the positions of the given slots (a lane's, or all of them); params: file, pos,
    /// gtid, source unix time, task, epoch. Matches exactly `slots.len()` rows unless another
    /// engine claimed the task.
    pub fn slots_checkpoint_sql(&self, slots: &[usize]) -> String {
        let list = slots.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
        format!(
            "UPDATE {} SET binlog_file = ?, binlog_pos = ?, gtid = ?, source_time = FROM_UNIXTIME(?) \
             WHERE task = ? AND epoch = ? AND slot IN ({list})",
            self.t("apply_slots")
        )
    }

    /// Records a schema change about to run; false when it was recorded before (a replay after a
    /// crash: it may have run already).
    pub async fn record_ddl(&self, target: &Server, conn: &mut Conn, at: &Position, statement: &str) -> Result<bool> {
        conn.exec_drop(
            format!("INSERT IGNORE INTO {} (task, binlog_file, binlog_pos, statement) VALUES (?, ?, ?, ?)", self.t("ddl_log")),
            (&self.task, &at.file, at.pos, statement),
        )
        .await
        .map_err(target.err("recording a schema change"))?;
        Ok(conn.affected_rows() == 1)
    }

    /// Records that the selected table the spec calls `spec_table` is now `src_table` on the source.
    pub async fn record_rename(
        &self,
        target: &Server,
        conn: &mut Conn,
        src_db: &str,
        spec_table: &str,
        from: &str,
        src_table: &str,
    ) -> Result<()> {
        conn.exec_drop(
            format!(
                "INSERT INTO {} (task, src_db, spec_table, src_table) VALUES (?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE src_table = VALUES(src_table)",
                self.t("followed_renames")
            ),
            (&self.task, src_db, spec_table, src_table),
        )
        .await
        .map_err(target.err("recording a followed rename"))?;
        // The copy records follow too, so that the table is not taken for a new one.
        conn.exec_drop(
            format!("UPDATE IGNORE {} SET src_table = ? WHERE task = ? AND src_db = ? AND src_table = ?", self.t("copy_tables")),
            (src_table, &self.task, src_db, from),
        )
        .await
        .map_err(target.err("recording a followed rename"))
    }

    /// (source database, spec table name, current source table name) of followed renames.
    pub async fn followed_renames(&self, target: &Server, conn: &mut Conn) -> Result<Vec<(String, String, String)>> {
        conn.exec(format!("SELECT src_db, spec_table, src_table FROM {} WHERE task = ?", self.t("followed_renames")), (&self.task,))
            .await
            .map_err(target.err("reading followed renames"))
    }

    /// Tables copied without a key, and the snapshot position their copy was read at: replay
    /// skips their changes from before it (they cannot be applied twice harmlessly).
    pub async fn keyless_copy_positions(&self, target: &Server, conn: &mut Conn) -> Result<Vec<(String, String, Position)>> {
        let rows: Vec<(String, String, String, u64)> = conn
            .exec(
                format!(
                    "SELECT src_db, src_table, snapshot_file, snapshot_pos FROM {} WHERE task = ? AND done = 1 \
                     AND lower_bound IS NULL AND upper_bound IS NULL AND snapshot_file IS NOT NULL",
                    self.t("copy_chunks")
                ),
                (&self.task,),
            )
            .await
            .map_err(target.err("reading copy positions"))?;
        Ok(rows.into_iter().map(|(d, t, file, pos)| (d, t, Position { file, pos, gtid: None })).collect())
    }
}

/// A table this task has a record of.
#[derive(Clone, Debug)]
pub struct RecordedTable {
    pub src_db: String,
    pub src_table: String,
    /// None for a state this version does not know.
    pub state: Option<TableState>,
}

/// A table's copy plan in numbers.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyTotals {
    pub chunks: u32,
    pub chunks_done: u32,
    pub rows_copied: u64,
}

impl Meta {
    /// Every table this task has a record of.
    pub async fn table_records(&self, target: &Server, conn: &mut Conn) -> Result<Vec<RecordedTable>> {
        let rows: Vec<(String, String, String)> = conn
            .exec(
                format!("SELECT src_db, src_table, state FROM {} WHERE task = ? ORDER BY src_db, src_table", self.t("copy_tables")),
                (&self.task,),
            )
            .await
            .map_err(target.err("reading ferry's table records"))?;
        Ok(rows
            .into_iter()
            .map(|(src_db, src_table, state)| RecordedTable { src_db, src_table, state: TableState::parse(&state) })
            .collect())
    }

    /// Forgets a table the task no longer selects: its record and its copy plan (with the copy
    /// position replay skips by). Its target table stays; adding it back treats it as a table
    /// that was on the target before (spec.existingTables decides).
    pub async fn forget_table(&self, target: &Server, conn: &mut Conn, src_db: &str, src_table: &str) -> Result<()> {
        let err = || target.err("forgetting a table no longer selected");
        let mut tx = conn.start_transaction(shared_target_tx()).await.map_err(err())?;
        for t in ["copy_chunks", "copy_tables"] {
            tx.exec_drop(
                format!("DELETE FROM {} WHERE task = ? AND src_db = ? AND src_table = ?", self.t(t)),
                (&self.task, src_db, src_table),
            )
            .await
            .map_err(err())?;
        }
        tx.commit().await.map_err(err())
    }

    /// Per source table (db, table): the earliest snapshot its copied chunks were read at. A
    /// schema change of the table logged before it is already in the copy (the table was
    /// created from the source's definition after it): replay skips it, as it skips a keyless
    /// table's rows from before its copy. Covers tables copied after the checkpoint (added to
    /// the selection on a restart), whose CREATE TABLE may come later in the replay.
    pub async fn copy_snapshots(&self, target: &Server, conn: &mut Conn) -> Result<std::collections::BTreeMap<(String, String), Position>> {
        let rows: Vec<(String, String, String, u64, Option<String>)> = conn
            .exec(
                format!(
                    "SELECT src_db, src_table, snapshot_file, snapshot_pos, snapshot_gtid FROM {} \
                     WHERE task = ? AND done = 1 AND snapshot_file IS NOT NULL",
                    self.t("copy_chunks")
                ),
                (&self.task,),
            )
            .await
            .map_err(target.err("reading copy positions"))?;
        let mut out: std::collections::BTreeMap<(String, String), Position> = std::collections::BTreeMap::new();
        for (d, t, file, pos, gtid) in rows {
            let p = Position { file, pos, gtid };
            let e = out.entry((d, t)).or_insert_with(|| p.clone());
            if p < *e {
                *e = p;
            }
        }
        Ok(out)
    }

    /// Per source table (db, table): its copy plan's chunks, the copied ones, and rows copied.
    pub async fn copy_totals(&self, target: &Server, conn: &mut Conn) -> Result<std::collections::BTreeMap<(String, String), CopyTotals>> {
        let rows: Vec<(String, String, u64, u64, u64)> = conn
            .exec(
                format!(
                    "SELECT src_db, src_table, CAST(COUNT(*) AS UNSIGNED), CAST(IFNULL(SUM(done), 0) AS UNSIGNED), \
                     CAST(IFNULL(SUM(rows_copied), 0) AS UNSIGNED) FROM {} WHERE task = ? GROUP BY src_db, src_table",
                    self.t("copy_chunks")
                ),
                (&self.task,),
            )
            .await
            .map_err(target.err("reading the copy plans"))?;
        Ok(rows
            .into_iter()
            .map(|(d, t, n, done, r)| ((d, t), CopyTotals { chunks: n as u32, chunks_done: done as u32, rows_copied: r }))
            .collect())
    }
}

/// One engine per task: a named lock on the target, held by a session of its own for as long
/// as the engine runs. The server frees it the moment that session ends (process killed, host
/// lost), so a restarted engine gets it back at once; a second engine started beside a live one
/// is refused. The checkpoint's epoch fences an engine that lost the lock without noticing.
pub struct TaskLock {
    name: String,
    task: String,
    target: Server,
    conn: tokio::sync::Mutex<Option<Conn>>,
}

/// How long a starting engine waits for the lock (a killed predecessor's session may linger).
const LOCK_WAIT_SECONDS: u32 = 5;

/// Metadata transactions run READ COMMITTED: tasks sharing a target write rows of their own in
/// the same tables, and REPEATABLE READ's gap locks on those tables' keys made one task's
/// DELETE-then-INSERT of its copy plan deadlock with another's.
fn shared_target_tx() -> mysql_async::TxOpts {
    let mut opts = mysql_async::TxOpts::default();
    opts.with_isolation_level(mysql_async::IsolationLevel::ReadCommitted);
    opts
}

impl TaskLock {
    pub async fn acquire(target: &Server, meta: &Meta) -> Result<TaskLock> {
        // Lock names are at most 64 characters: hash the task and its metadata database.
        let h = crate::db::fnv1a(&[meta.db.as_bytes(), &[0], meta.task.as_bytes()].concat());
        let lock = TaskLock {
            name: format!("ferry:{h:016x}"),
            task: meta.task.clone(),
            target: target.clone(),
            conn: tokio::sync::Mutex::new(None),
        };
        lock.ensure().await?;
        Ok(lock)
    }

    /// Checks the lock is still held, taking it again after a lost connection (a restarted
    /// target); fails when another engine holds it.
    pub async fn ensure(&self) -> Result<()> {
        let mut guard = self.conn.lock().await;
        if let Some(conn) = guard.as_mut() {
            let ours: std::result::Result<Option<Option<i64>>, _> =
                conn.exec_first("SELECT IS_USED_LOCK(?) = CONNECTION_ID()", (&self.name,)).await;
            match ours {
                Ok(Some(Some(1))) => return Ok(()),
                Ok(_) => {}
                Err(e) if !matches!(e, mysql_async::Error::Server(_)) => {}
                Err(e) => return Err(self.target.err("checking the task lock")(e)),
            }
            *guard = None;
        }
        let mut conn = self.target.connect(crate::db::Session::Control).await?;
        let got: Option<Option<i64>> = conn
            .exec_first("SELECT GET_LOCK(?, ?)", (&self.name, LOCK_WAIT_SECONDS))
            .await
            .map_err(self.target.err("taking the task lock"))?;
        if got.flatten() != Some(1) {
            let holder: Option<(u64, String)> = conn
                .exec_first("SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK(?)", (&self.name,))
                .await
                .map_err(self.target.err("reading the task lock's holder"))?;
            let holder = holder
                .map(|(id, host)| format!("session {id} from {host} holds lock {}", self.name))
                .unwrap_or_else(|| format!("lock {} is held", self.name));
            return Err(Error::TaskLocked { task: self.task.clone(), holder });
        }
        *guard = Some(conn);
        Ok(())
    }
}

/// Key values as stored in the plan: typed, so they bind back exactly as read.
#[derive(Serialize, Deserialize)]
enum Bound {
    I(i64),
    U(u64),
    B(String),
    F(f32),
    D(f64),
    Dt(u16, u8, u8, u8, u8, u8, u32),
    T(bool, u32, u8, u8, u8, u32),
    N,
}

pub fn encode_bound(values: &[Value]) -> String {
    use base64::Engine as _;
    let b: Vec<Bound> = values
        .iter()
        .map(|v| match v {
            Value::NULL => Bound::N,
            Value::Int(i) => Bound::I(*i),
            Value::UInt(u) => Bound::U(*u),
            Value::Bytes(b) => Bound::B(base64::engine::general_purpose::STANDARD.encode(b)),
            Value::Float(f) => Bound::F(*f),
            Value::Double(d) => Bound::D(*d),
            Value::Date(y, m, d, h, mi, s, us) => Bound::Dt(*y, *m, *d, *h, *mi, *s, *us),
            Value::Time(n, d, h, m, s, us) => Bound::T(*n, *d, *h, *m, *s, *us),
        })
        .collect();
    serde_json::to_string(&b).expect("bounds serialize")
}

pub fn decode_bound(s: &str) -> std::result::Result<Vec<Value>, String> {
    use base64::Engine as _;
    let b: Vec<Bound> = serde_json::from_str(s).map_err(|e| e.to_string())?;
    b.into_iter()
        .map(|b| {
            Ok(match b {
                Bound::N => Value::NULL,
                Bound::I(i) => Value::Int(i),
                Bound::U(u) => Value::UInt(u),
                Bound::B(s) => Value::Bytes(base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| e.to_string())?),
                Bound::F(f) => Value::Float(f),
                Bound::D(d) => Value::Double(d),
                Bound::Dt(y, m, d, h, mi, s, us) => Value::Date(y, m, d, h, mi, s, us),
                Bound::T(n, d, h, m, s, us) => Value::Time(n, d, h, m, s, us),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_round_trip_exactly() {
        let v = vec![
            Value::Int(-5),
            Value::UInt(u64::MAX),
            Value::Bytes(b"a\tb\0\xff".to_vec()),
            Value::Date(2024, 2, 29, 23, 59, 59, 999_999),
            Value::Time(true, 34, 22, 59, 59, 1),
            Value::NULL,
        ];
        assert_eq!(decode_bound(&encode_bound(&v)).unwrap(), v);
    }
}
