//! The initial full data sync. Each table is split into key ranges (chunks) once, the plan is kept
//! on the target, and `parallelism` workers copy pending chunks: each worker reads inside its own
//! consistent snapshot and streams rows into `LOAD DATA LOCAL INFILE` on the target, and a chunk's
//! rows commit in one target transaction with the record that the chunk is done. A crash loses at
//! most the chunks in flight, and none is ever applied twice.
//!
//! A target with `local_infile` OFF (MySQL's default, and what managed services often enforce)
//! gets the same rows through multi-row INSERTs instead (REPLACE / INSERT IGNORE for the same
//! conflict policies), each statement cut by bytes below the target's `max_allowed_packet`, its
//! values spelt as the applier's exact literals; the chunk's transaction and its record are the
//! same. The path is read from `@@GLOBAL.local_infile` when the copy starts, and a LOAD DATA the
//! target refuses all the same (errors 1148, 3948, 4166) switches every worker to INSERTs: that
//! chunk is copied again that way, never retried as LOAD DATA.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use mysql_async::prelude::*;
use mysql_async::{Conn, Value};
use tokio::sync::Mutex;
use tracing::{Instrument, debug, info, info_span};

use ferry_crds::ConflictPolicy;

use crate::codec::Codec;
use crate::db::catalog::Column;
use crate::db::flavor::{Flavor, Position};
use crate::db::{Server, Session, key_range, q, qt, short};
use crate::error::{Error, Result};
use crate::plan::mapping::TableMap;
use crate::sql::lexer::TokenKind;
use crate::status::TableCounter;
use crate::target::meta::{Chunk, Meta, TableState};
use crate::target::session::TargetSession;

mod insert;
mod load;
mod worker;

use insert::insert_head;
use load::load_sql;

/// Size of the pieces streamed into LOAD DATA.
const PIECE_BYTES: usize = 256 * 1024;

/// What an INSERT statement leaves of max_allowed_packet for the packet's own framing.
const PACKET_MARGIN: usize = 1024;

/// How the copy writes rows into the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadPath {
    /// `LOAD DATA LOCAL INFILE`, streamed: the target has local_infile ON.
    LoadData,
    /// Multi-row INSERT statements: the target has local_infile OFF.
    Inserts,
}

impl LoadPath {
    /// The path the target allows, by its `@@GLOBAL.local_infile`.
    pub async fn of_target(target: &Server, conn: &mut Conn) -> Result<LoadPath> {
        let sql = "SELECT @@GLOBAL.local_infile";
        let on: Option<i64> = crate::db::query_scalar(conn, sql).await.map_err(target.err(sql))?;
        Ok(if on == Some(1) { LoadPath::LoadData } else { LoadPath::Inserts })
    }

    /// For messages: `LOAD DATA LOCAL INFILE`, or `batched INSERTs (local_infile is OFF on the target)`.
    pub fn describe(self) -> &'static str {
        match self {
            LoadPath::LoadData => "LOAD DATA LOCAL INFILE",
            LoadPath::Inserts => "batched INSERTs (local_infile is OFF on the target)",
        }
    }
}

/// What a copied row does when its key is taken on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnTaken {
    /// Nothing special: the target has no such row (a table ferry created), or a taken key is a
    /// merge conflict under `conflictPolicy: Fail`.
    Plain,
    /// Keep the target's row (`existingTables: Ignore`, `conflictPolicy: Ignore`).
    Ignore,
    /// Replace it (`conflictPolicy: Overwrite`).
    Replace,
}

impl OnTaken {
    fn of(t: &TableCopy) -> OnTaken {
        match t.map.merge.as_ref().map(|m| m.policy) {
            Some(ConflictPolicy::Fail) => OnTaken::Plain,
            Some(ConflictPolicy::Ignore) => OnTaken::Ignore,
            Some(ConflictPolicy::Overwrite) => OnTaken::Replace,
            None if t.keep_existing_rows => OnTaken::Ignore,
            None => OnTaken::Plain,
        }
    }
}

/// One table's copy: which columns go where, and its chunks.
pub struct TableCopy {
    pub map: TableMap,
    /// (source column, target column) pairs written.
    pub columns: Vec<(Column, String)>,
    /// Keep target rows on key collisions (`existingTables: Ignore` on a table that was there).
    pub keep_existing_rows: bool,
    pub deferred_indexes: Vec<String>,
    pub counter: Arc<TableCounter>,
}

pub struct Copier {
    pub source: Server,
    pub target: Server,
    pub flavor: Flavor,
    pub binlog: bool,
    pub meta: Arc<Meta>,
    pub parallelism: usize,
    pub batch_bytes: u64,
    /// Rows per key range (spec.engine.chunkRows).
    pub chunk_rows: u64,
}

struct Work {
    table: Arc<TableCopy>,
    /// How the table's rows are written, by the target's column types.
    shape: Arc<Shape>,
    chunk: Chunk,
    /// Chunks of this table still to copy; the worker that takes it to zero builds the indexes.
    remaining: Arc<AtomicU32>,
}

impl Copier {
    /// Makes (or reloads) the chunk plans of tables: their chunks, done ones included, in the
    /// tables' order. The stored plans are read at once and new ones saved at once.
    pub async fn plan(&self, src: &mut Conn, tgt: &mut Conn, tables: &[&TableMap]) -> Result<Vec<Vec<Chunk>>> {
        let mut stored = self.meta.all_chunks(&self.target, tgt).await?;
        let mut out = Vec::with_capacity(tables.len());
        let mut new = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            if let Some(existing) = stored.remove(&(t.src_db.clone(), t.src_table.clone())) {
                // A plan stored by an earlier run bounds ranges by that run's key.
                let width = t.key.as_ref().map_or(0, Vec::len);
                let fits = |b: &Option<Vec<Value>>| b.as_ref().is_none_or(|b| b.len() == width);
                if existing.iter().any(|c| !fits(&c.lower) || !fits(&c.upper)) {
                    return Err(Error::object(
                        t.source_name(),
                        format!(
                            "its copy plan on the target was made for another key than ({}): drop the table on the target and its rows in {}.copy_chunks, then run again",
                            t.key.as_ref().map(|k| k.join(", ")).unwrap_or_default(),
                            self.meta.db
                        ),
                    ));
                }
                out.push(existing);
                continue;
            }
            let bounds = self.split(src, t).await?;
            let chunks: Vec<Chunk> = bounds
                .windows(2)
                .enumerate()
                .map(|(i, w)| Chunk { no: i as u32, lower: w[0].clone(), upper: w[1].clone(), done: false, rows: 0 })
                .collect();
            new.push(i);
            out.push(chunks);
        }
        let to_save: Vec<(&str, &str, &[Chunk])> =
            new.iter().map(|&i| (tables[i].src_db.as_str(), tables[i].src_table.as_str(), out[i].as_slice())).collect();
        self.meta.save_plans(&self.target, tgt, &to_save).await?;
        Ok(out)
    }

    /// Boundaries: None, b1, ..., bn, None. Any boundaries cover the key space, so they need not
    /// come from the snapshot.
    async fn split(&self, src: &mut Conn, t: &TableMap) -> Result<Vec<Option<Vec<Value>>>> {
        let whole = vec![None, None];
        let Some(key) = &t.key else { return Ok(whole) };
        // A merged table under conflictPolicy Fail is copied at one snapshot: replay then starts
        // after it for this table (see the applier), so its plain inserts never meet rows of its
        // own copy, and a taken key is a real conflict.
        if t.merge.as_ref().is_some_and(|m| m.policy == ConflictPolicy::Fail) {
            return Ok(whole);
        }
        if t.rows_estimate <= self.chunk_rows {
            return Ok(whole);
        }
        let table = qt(&t.src_db, &t.src_table);
        let is_int = key.len() == 1
            && t.columns.iter().any(|c| {
                c.source.name == key[0] && matches!(c.source.data_type.as_str(), "tinyint" | "smallint" | "mediumint" | "int" | "bigint")
            });
        let mut bounds = vec![None];
        if is_int {
            let sql = format!("SELECT MIN({k}), MAX({k}) FROM {table}", k = q(&key[0]));
            let row: Option<(Value, Value)> = src.query_first(&sql).await.map_err(self.source.err(short(&sql)))?;
            let as_i128 = |v: &Value| match v {
                Value::Int(i) => Some(*i as i128),
                Value::UInt(u) => Some(*u as i128),
                Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
                _ => None,
            };
            let Some((lo, hi)) = row.and_then(|(a, b)| Some((as_i128(&a)?, as_i128(&b)?))) else { return Ok(whole) };
            let span = hi - lo + 1;
            let n = (t.rows_estimate.div_ceil(self.chunk_rows) as i128).min(span).max(1);
            let unsigned = t.columns.iter().any(|c| c.source.name == key[0] && c.source.column_type.contains("unsigned"));
            for i in 1..n {
                let b = lo + span * i / n;
                bounds.push(Some(vec![if unsigned { Value::UInt(b as u64) } else { Value::Int(b as i64) }]));
            }
        } else {
            // Walk the key in order and keep every chunk_rows-th value.
            let cols = key.iter().map(|k| q(k)).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT {cols} FROM {table} ORDER BY {cols}");
            let mut result = src.exec_iter(sql.as_str(), ()).await.map_err(self.source.err(short(&sql)))?;
            let mut n = 0u64;
            while let Some(row) = result.next().await.map_err(self.source.err(short(&sql)))? {
                n += 1;
                if n.is_multiple_of(self.chunk_rows) {
                    bounds.push(Some(row.unwrap()));
                }
            }
        }
        bounds.push(None);
        Ok(bounds)
    }

    /// Copies every pending chunk of `tables`, then builds deferred indexes and marks tables done.
    pub async fn run(&self, tables: Vec<(Arc<TableCopy>, Vec<Chunk>)>) -> Result<()> {
        let mut tgt = self.target.connect(Session::Write).await?;
        let mut queue = VecDeque::new();
        let mut finish_now = Vec::new();
        // The target's JSON columns by database (MySQL's JSON type; MariaDB's JSON is a LONGTEXT
        // and reads as one): one read per database, not per table.
        let mut json_columns: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
        for (table, chunks) in tables {
            let pending: Vec<Chunk> = chunks.into_iter().filter(|c| !c.done).collect();
            if pending.is_empty() {
                finish_now.push(table);
                continue;
            }
            let dst_db = &table.map.dst_db;
            if !json_columns.contains_key(dst_db) {
                json_columns.insert(dst_db.clone(), crate::db::catalog::json_columns(&self.target, &mut tgt, dst_db).await?);
            }
            let shape = Arc::new(Shape::of(&table, &json_columns[dst_db]));
            let remaining = Arc::new(AtomicU32::new(pending.len() as u32));
            for chunk in pending {
                queue.push_back(Work { table: table.clone(), shape: shape.clone(), chunk, remaining: remaining.clone() });
            }
        }
        for t in finish_now {
            self.finish_table(&mut tgt, &t).await?;
        }
        if queue.is_empty() {
            let _ = tgt.disconnect().await;
            return Ok(());
        }
        // Unreadable (a proxy hiding it): LOAD DATA is tried, and a refusal turns to INSERTs.
        let path = LoadPath::of_target(&self.target, &mut tgt).await.unwrap_or_else(|e| {
            debug!(error = %e, "local_infile unknown; trying LOAD DATA LOCAL");
            LoadPath::LoadData
        });
        // Unreadable: the server's default (what the INSERT path sizes its statements by).
        let max_packet: Option<u64> = crate::db::query_scalar(&mut tgt, "SELECT @@max_allowed_packet").await.unwrap_or(None);
        let _ = tgt.disconnect().await;
        let handles = Arc::new(CopierHandles {
            inserts: AtomicBool::new(path == LoadPath::Inserts),
            max_packet: max_packet.unwrap_or(16 << 20) as usize,
            ..self.handles()
        });
        let workers = self.parallelism.min(queue.len()).max(1);
        let sessions = self.open_snapshots(workers).await?;
        info!(workers, chunks = queue.len(), path = path.describe(), "copying");
        let queue = Arc::new(Mutex::new(queue));
        let failed = Arc::new(AtomicBool::new(false));
        let mut set = tokio::task::JoinSet::new();
        for (i, (src, pos)) in sessions.into_iter().enumerate() {
            let tgt = self.target.connect(Session::Write).await?;
            let worker = Worker {
                copier: handles.clone(),
                src: Some(src),
                tgt: TargetSession::wrap(self.target.clone(), tgt),
                snapshot: pos,
                queue: queue.clone(),
                failed: failed.clone(),
                unique_checks: None,
            };
            set.spawn(worker.run().instrument(info_span!("worker", n = i)));
        }
        let mut first_err = None;
        while let Some(res) = set.join_next().await {
            let res = res.unwrap_or_else(|e| Err(Error::object("copy worker", format!("crashed: {e}"))));
            if let Err(e) = res {
                failed.store(true, Ordering::SeqCst);
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn handles(&self) -> CopierHandles {
        CopierHandles {
            source: self.source.clone(),
            target: self.target.clone(),
            meta: self.meta.clone(),
            batch_bytes: self.batch_bytes,
            inserts: AtomicBool::new(false),
            max_packet: 16 << 20,
        }
    }

    /// Opens one snapshot session per worker. MariaDB gives each its own exact position without
    /// a lock; MySQL lines them up under a brief global read lock.
    async fn open_snapshots(&self, n: usize) -> Result<Vec<(Conn, Option<Position>)>> {
        let mut lock = None;
        if self.flavor.snapshot_needs_global_lock() {
            let mut c = self.source.connect(Session::Control).await?;
            c.query_drop("FLUSH TABLES WITH READ LOCK").await.map_err(self.source.err("FLUSH TABLES WITH READ LOCK"))?;
            lock = Some(c);
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut c = self.source.connect(Session::RawRead).await?;
            let pos = self.flavor.start_snapshot(&self.source, &mut c, self.binlog).await?;
            out.push((c, pos));
        }
        if let Some(mut c) = lock {
            c.query_drop("UNLOCK TABLES").await.map_err(self.source.err("UNLOCK TABLES"))?;
        }
        for (_, p) in &out {
            if let Some(p) = p {
                debug!(position = %p, "snapshot opened");
            }
        }
        Ok(out)
    }

    async fn finish_table(&self, tgt: &mut Conn, t: &TableCopy) -> Result<()> {
        self.handles().finish_table(tgt, t).await
    }
}

struct CopierHandles {
    source: Server,
    target: Server,
    meta: Arc<Meta>,
    batch_bytes: u64,
    /// Rows go in as INSERTs (local_infile is OFF, or a LOAD DATA was refused); shared by the workers.
    inserts: AtomicBool,
    /// The target's max_allowed_packet: no INSERT may be longer.
    max_packet: usize,
}

/// The deferred `ADD KEY name (...)` clauses whose index the target lacks (after a crash some
/// were built already), by the index's own name, not by any name in the clause.
fn missing_indexes<'a>(deferred: &'a [String], have: &[String]) -> Vec<&'a String> {
    let name = |clause: &str| -> Option<String> {
        let tokens = crate::sql::lexer::tokenize(clause).ok()?;
        let mut words = tokens.iter().filter(|t| !matches!(t.kind, TokenKind::Whitespace | TokenKind::Comment));
        words.find(|t| t.is_word("KEY") || t.is_word("INDEX"))?;
        words.next()?.ident_name().map(|n| n.into_owned())
    };
    deferred.iter().filter(|c| name(c).is_none_or(|n| !have.iter().any(|h| h.eq_ignore_ascii_case(&n)))).collect()
}

impl CopierHandles {
    /// Builds the indexes deferred for the load, then marks the table done.
    async fn finish_table(&self, tgt: &mut Conn, t: &TableCopy) -> Result<()> {
        let m = &t.map;
        let dst = qt(&m.dst_db, &m.dst_table);
        if !t.deferred_indexes.is_empty() {
            // After a crash some may exist already: add only the missing ones.
            let have: Vec<String> = tgt
                .exec(
                    "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    (&m.dst_db, &m.dst_table),
                )
                .await
                .map_err(self.target.err("reading indexes"))?;
            let missing = missing_indexes(&t.deferred_indexes, &have);
            if !missing.is_empty() {
                let sql = format!(
                    "ALTER TABLE {dst} {}",
                    missing.iter().map(|c| format!("ADD {}", c.trim_start_matches("ADD ").trim())).collect::<Vec<_>>().join(", ")
                );
                info!(table = %m.target_name(), "building deferred indexes");
                tgt.query_drop(&sql).await.map_err(self.target.err(format!("building the indexes of {}", m.target_name())))?;
            }
        }
        let state = TableState::Done;
        self.meta.set_table(&self.target, tgt, (&m.src_db, &m.src_table), (&m.dst_db, &m.dst_table), state, None).await?;
        t.counter.mark_complete();
        Ok(())
    }
}

struct Worker {
    copier: Arc<CopierHandles>,
    /// The snapshot session; lent to the reader task while a chunk is read.
    src: Option<Conn>,
    tgt: TargetSession,
    snapshot: Option<Position>,
    queue: Arc<Mutex<VecDeque<Work>>>,
    failed: Arc<AtomicBool>,
    /// The session's unique_checks, once set.
    unique_checks: Option<bool>,
}

/// The chunk's SELECT: the columns in target order, within the key range and the row filter.
fn select_sql(t: &TableCopy, chunk: &Chunk) -> (String, Vec<Value>) {
    let m = &t.map;
    let cols = t.columns.iter().map(|(c, _)| q(&c.name)).collect::<Vec<_>>().join(", ");
    let mut conds = Vec::new();
    let mut params = Vec::new();
    if let (Some(key), Some(lo)) = (&m.key, &chunk.lower) {
        conds.push(key_range(key, lo, ">=", ">", &mut params));
    }
    if let (Some(key), Some(hi)) = (&m.key, &chunk.upper) {
        conds.push(key_range(key, hi, "<", "<", &mut params));
    }
    if let Some(f) = &m.filter {
        conds.push(format!("({f})"));
    }
    let mut sql = format!("SELECT {cols} FROM {}", qt(&m.src_db, &m.src_table));
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    (sql, params)
}

/// How one table's rows are written, by what its target columns are.
struct Shape {
    /// The LOAD DATA statement.
    load: String,
    /// `INSERT INTO t (c1, ...) VALUES ` (or REPLACE, INSERT IGNORE).
    insert_head: String,
    /// How each column's value is spelt in an INSERT.
    lits: Vec<Codec>,
}

impl Shape {
    /// `json`: (table, column) of the JSON columns of the table's target database.
    fn of(t: &TableCopy, json: &[(String, String)]) -> Shape {
        let m = &t.map;
        let json: Vec<bool> = t
            .columns
            .iter()
            .map(|(_, dst)| json.iter().any(|(table, n)| table.eq_ignore_ascii_case(&m.dst_table) && n.eq_ignore_ascii_case(dst)))
            .collect();
        Shape {
            load: load_sql(t, &json),
            insert_head: insert_head(t),
            lits: t
                .columns
                .iter()
                .enumerate()
                .map(|(i, (c, _))| Codec::for_copy_insert(c, json.get(i).copied().unwrap_or(false)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_indexes_are_missing_unless_built_under_their_own_name() {
        let deferred = vec!["ADD KEY `name_email` (`name`,`email`)".to_string(), "ADD INDEX k2 (`b`)".to_string()];
        // A unique key named after a column of a deferred index is not that index.
        let have = vec!["PRIMARY".to_string(), "email".to_string()];
        assert_eq!(missing_indexes(&deferred, &have), vec![&deferred[0], &deferred[1]]);
        let after_a_crash = vec!["PRIMARY".to_string(), "name_email".to_string()];
        assert_eq!(missing_indexes(&deferred, &after_a_crash), vec![&deferred[1]]);
        assert_eq!(missing_indexes(&deferred, &["K2".to_string(), "name_email".to_string()]), Vec::<&String>::new());
    }

    #[test]
    fn composite_key_range() {
        let mut p = Vec::new();
        let key = vec!["a".to_string(), "b".to_string()];
        let sql = key_range(&key, &[Value::Int(1), Value::Int(2)], ">=", ">", &mut p);
        assert_eq!(sql, "((`a` > ?) OR (`a` = ? AND `b` >= ?))");
        assert_eq!(p, vec![Value::Int(1), Value::Int(1), Value::Int(2)]);
    }
}
