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

use bytes::Bytes;
use futures_util::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{Conn, Value};
use tokio::sync::{Mutex, mpsc};
use tracing::{Instrument, debug, info, info_span, warn};

use ferry_crds::ConflictPolicy;

use crate::codec::{Codec, SqlBytes, json_charset, literal, load_text};
use crate::db::catalog::Column;
use crate::db::codes::{self, LOAD_REFUSED};
use crate::db::flavor::{Flavor, Position};
use crate::db::{Server, Session, q, qt, short};
use crate::error::{Error, Result};
use crate::plan::mapping::TableMap;
use crate::status::TableCounter;
use crate::target::meta::{Chunk, Meta, TableState};

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
    /// Makes (or reloads) the chunk plan of a table. Returns its chunks, done ones included.
    pub async fn plan(&self, src: &mut Conn, tgt: &mut Conn, t: &TableMap) -> Result<Vec<Chunk>> {
        let existing = self.meta.chunks(&self.target, tgt, &t.src_db, &t.src_table).await?;
        if !existing.is_empty() {
            return Ok(existing);
        }
        let bounds = self.split(src, t).await?;
        let chunks: Vec<Chunk> = bounds
            .windows(2)
            .enumerate()
            .map(|(i, w)| Chunk { no: i as u32, lower: w[0].clone(), upper: w[1].clone(), done: false, rows: 0 })
            .collect();
        self.meta.save_plan(&self.target, tgt, &t.src_db, &t.src_table, &chunks).await?;
        Ok(chunks)
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
        for (table, chunks) in tables {
            let pending: Vec<Chunk> = chunks.into_iter().filter(|c| !c.done).collect();
            if pending.is_empty() {
                finish_now.push(table);
                continue;
            }
            let shape = Arc::new(Shape::of(&self.target, &mut tgt, &table).await?);
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
                tgt,
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
            let missing: Vec<&String> = t.deferred_indexes.iter().filter(|clause| !have.iter().any(|h| clause.contains(&q(h)))).collect();
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
    tgt: Conn,
    snapshot: Option<Position>,
    queue: Arc<Mutex<VecDeque<Work>>>,
    failed: Arc<AtomicBool>,
    /// The session's unique_checks, once set.
    unique_checks: Option<bool>,
}

impl Worker {
    async fn run(mut self) -> Result<()> {
        loop {
            if self.failed.load(Ordering::SeqCst) {
                return Ok(());
            }
            let Some(work) = self.queue.lock().await.pop_front() else { break };
            let table = work.table.clone();
            let span = info_span!("chunk", table = %table.map.source_name(), chunk = work.chunk.no);
            self.copy_chunk(&work).instrument(span).await?;
            if work.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.copier.finish_table(&mut self.tgt, &table).await?;
            }
        }
        if let Some(mut src) = self.src.take() {
            let _ = src.query_drop("COMMIT").await;
            let _ = src.disconnect().await;
        }
        Ok(())
    }

    async fn copy_chunk(&mut self, work: &Work) -> Result<()> {
        let t = &work.table;
        let m = &t.map;
        let c = self.copier.clone();
        let object = || format!("{} (chunk {})", m.source_name(), work.chunk.no);

        // Into a table ferry created, whose rows all come from unique source keys, InnoDB may
        // skip unique checks (and load an empty table in bulk); never into a table that was
        // already there, whose own rows the checks protect, nor into one other tasks fill too.
        let unique_checks = t.keep_existing_rows || m.merge.is_some();
        if self.unique_checks != Some(unique_checks) {
            let sql = format!("SET unique_checks = {}", u8::from(unique_checks));
            self.tgt.query_drop(&sql).await.map_err(c.target.err(sql.clone()))?;
            self.unique_checks = Some(unique_checks);
        }
        loop {
            let inserts = c.inserts.load(Ordering::SeqCst);
            self.tgt.query_drop("START TRANSACTION").await.map_err(c.target.err("START TRANSACTION"))?;
            let mut written = 0u64;
            let outcome =
                if inserts { self.insert_rows(work, &mut written).await.map(Some) } else { self.load_rows(work, &mut written).await };
            let conflicts = match outcome {
                Ok(Some(conflicts)) => conflicts,
                Ok(None) => {
                    // The target refused LOAD DATA itself: nothing of the chunk is kept, and it
                    // goes again as INSERTs (as does every chunk after it, in every worker).
                    let _ = self.tgt.query_drop("ROLLBACK").await;
                    t.counter.add_rows_signed(-(written as i64));
                    if !c.inserts.swap(true, Ordering::SeqCst) {
                        warn!(server = %c.target.address, "the target refuses LOAD DATA LOCAL INFILE: copying with batched INSERTs");
                    }
                    continue;
                }
                Err(e) => {
                    let _ = self.tgt.query_drop("ROLLBACK").await;
                    t.counter.add_rows_signed(-(written as i64));
                    return Err(e);
                }
            };
            if let Some(merge) = &m.merge
                && conflicts > 0
            {
                warn!(table = %m.target_name(), rows = conflicts, policy = ?merge.policy, "rows of a merged table met keys another task's rows hold");
            }
            let snap = self.snapshot.clone();
            self.tgt
                .exec_drop(
                    c.meta.chunk_done_sql(),
                    (
                        written,
                        snap.as_ref().map(|p| p.file.clone()),
                        snap.as_ref().map(|p| p.pos),
                        snap.as_ref().and_then(|p| p.gtid.clone()),
                        &c.meta.task,
                        &m.src_db,
                        &m.src_table,
                        work.chunk.no,
                    ),
                )
                .await
                .map_err(c.target.err("recording a copied chunk"))?;
            if self.tgt.affected_rows() != 1 {
                let _ = self.tgt.query_drop("ROLLBACK").await;
                return Err(Error::object(
                    object(),
                    format!("already recorded as copied: another ferry engine is running task {}", c.meta.task),
                ));
            }
            self.tgt.query_drop("COMMIT").await.map_err(c.target.err(format!("committing {}", object())))?;
            t.counter.chunk_done();
            t.counter.add_merge_conflicts(conflicts);
            debug!(rows = written, inserts, "chunk copied");
            return Ok(());
        }
    }

    /// The chunk's rows through LOAD DATA LOCAL, in the open transaction. Returns the merge
    /// conflicts met, or None when the target refused LOAD DATA itself (the snapshot session is
    /// back, ready for the chunk's second try).
    async fn load_rows(&mut self, work: &Work, written: &mut u64) -> Result<Option<u64>> {
        let t = &work.table;
        let m = &t.map;
        let (select, params) = select_sql(t, &work.chunk);
        let c = self.copier.clone();
        let object = || format!("{} (chunk {})", m.source_name(), work.chunk.no);
        let (batch_tx, mut batch_rx) = mpsc::channel::<mpsc::Receiver<Bytes>>(1);
        let encs: Vec<Codec> = t.columns.iter().map(|(col, _)| Codec::of(col)).collect();
        let batch_limit = c.batch_bytes as usize;

        // Read and write at once: the reader fills pieces while the target parses the last one.
        let mut src = self.src.take().expect("the snapshot session is back after every chunk");
        let source = c.source.clone();
        let reader = tokio::spawn(async move {
            let r = read_rows(&mut src, &source, &select, params, &encs, batch_limit, batch_tx).await;
            (src, r)
        });

        let on_taken = OnTaken::of(t);
        let mut write_err = None;
        let mut refused = false;
        let mut conflicts = 0u64;
        while let Some(rx) = batch_rx.recv().await {
            let counter = t.counter.clone();
            self.tgt.set_infile_handler(async move {
                Ok(tokio_stream_from(rx)
                    .map(move |b| {
                        counter.add_bytes(b.len() as u64);
                        Ok::<Bytes, std::io::Error>(b)
                    })
                    .boxed())
            });
            if let Err(e) = self.tgt.query_drop(&work.shape.load).await {
                if matches!(&e, mysql_async::Error::Server(s) if LOAD_REFUSED.contains(&s.code)) {
                    debug!(error = %e, "LOAD DATA LOCAL refused");
                    refused = true;
                } else {
                    write_err = Some(c.target.err(format!("loading {}", object()))(e));
                }
                break;
            }
            // "Records: n  Deleted: d  Skipped: s  Warnings: w". REPLACE counts a replaced row
            // twice in the affected rows (its delete and its insert); IGNORE skips a taken key.
            let affected = self.tgt.affected_rows();
            let info = self.tgt.info();
            let field = |name: &str| {
                info.split(name).nth(1).and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
            };
            let (loaded, met) = match on_taken {
                OnTaken::Replace => {
                    let deleted = field("Deleted:");
                    (affected.saturating_sub(deleted), deleted)
                }
                OnTaken::Ignore => (affected, field("Skipped:")),
                OnTaken::Plain => (affected, 0),
            };
            if let Err(e) = self.account(t, &object(), on_taken, (loaded, met), written, &mut conflicts).await {
                write_err = Some(e);
                break;
            }
        }
        drop(batch_rx);
        if refused {
            // The refused statement left its handler, holding the pieces' receiver: dropping it
            // lets the reader drain the snapshot's result and give the session back.
            self.tgt.set_infile_handler(async { Ok(futures_util::stream::empty::<std::io::Result<Bytes>>().boxed()) });
        }
        let failed = self.join_reader(reader, write_err, &object()).await?;
        match failed {
            Some(e) => Err(e),
            None if refused => Ok(None),
            None => Ok(Some(conflicts)),
        }
    }

    /// The chunk's rows as multi-row INSERTs (REPLACE, INSERT IGNORE by the table's policy), in
    /// the open transaction. Returns the merge conflicts met.
    async fn insert_rows(&mut self, work: &Work, written: &mut u64) -> Result<u64> {
        let t = &work.table;
        let m = &t.map;
        let (select, params) = select_sql(t, &work.chunk);
        let c = self.copier.clone();
        let object = || format!("{} (chunk {})", m.source_name(), work.chunk.no);
        let longest = c.max_packet.saturating_sub(PACKET_MARGIN);
        let builder = InsertBuilder::new(&work.shape.insert_head, (c.batch_bytes as usize).min(longest), longest);
        let (tx, mut rx) = mpsc::channel::<Insert>(2);

        // Read and write at once: the reader builds the next statement while the target runs one.
        let mut src = self.src.take().expect("the snapshot session is back after every chunk");
        let source = c.source.clone();
        let shape = work.shape.clone();
        let label = format!("{} -> {}", object(), m.target_name());
        let reader = tokio::spawn(async move {
            let r = read_inserts(&mut src, &source, &select, params, &shape.lits, builder, tx, &label).await;
            (src, r)
        });

        let on_taken = OnTaken::of(t);
        let mut write_err = None;
        let mut conflicts = 0u64;
        while let Some(stmt) = rx.recv().await {
            t.counter.add_bytes(stmt.sql.len() as u64);
            if let Err(e) = self.tgt.query_drop(&stmt.sql).await {
                let conflict = match (&e, &m.merge) {
                    (mysql_async::Error::Server(se), Some(merge))
                        if se.code == codes::DUPLICATE_KEY && merge.policy == ConflictPolicy::Fail =>
                    {
                        Some((merge.clone(), se.message.clone()))
                    }
                    _ => None,
                };
                write_err = Some(match conflict {
                    // A plain INSERT meets a row another task wrote: the conflict, named.
                    Some((merge, detail)) => {
                        let key = m.key.as_ref().map(|k| k.join(", ")).unwrap_or_default();
                        crate::sync::applier::merge_conflict(&c.target, &mut self.tgt, &merge, &m.source_name(), &key, &detail).await
                    }
                    None => c.target.err(format!("inserting {} into {}", object(), m.target_name()))(e),
                });
                break;
            }
            // INSERT IGNORE counts the rows it inserted; REPLACE a replaced row twice.
            let affected = self.tgt.affected_rows();
            let (loaded, met) = match on_taken {
                OnTaken::Replace => (stmt.rows, affected.saturating_sub(stmt.rows)),
                OnTaken::Ignore => (affected, stmt.rows.saturating_sub(affected)),
                OnTaken::Plain => (affected, 0),
            };
            if let Err(e) = self.account(t, &object(), on_taken, (loaded, met), written, &mut conflicts).await {
                write_err = Some(e);
                break;
            }
        }
        drop(rx);
        let failed = self.join_reader(reader, write_err, &object()).await?;
        match failed {
            Some(e) => Err(e),
            None => Ok(conflicts),
        }
    }

    /// After one statement of a chunk: its warnings checked, its `(loaded, met)` rows (inserted,
    /// and met a taken key) added to the chunk's and the table's counts.
    async fn account(
        &mut self,
        t: &TableCopy,
        object: &str,
        on_taken: OnTaken,
        (loaded, met): (u64, u64),
        written: &mut u64,
        conflicts: &mut u64,
    ) -> Result<()> {
        if self.tgt.get_warnings() > 0 {
            let kept = if on_taken == OnTaken::Ignore { met } else { 0 };
            self.check_warnings(t, object, kept).await?;
        }
        *written += loaded;
        t.counter.add_rows(loaded);
        if t.map.merge.is_some() {
            *conflicts += met;
        }
        Ok(())
    }

    /// The chunk's reader, once the writer is done: with a write error the worker ends with it and
    /// its snapshot session is not needed again, so the reader (which may wait forever on a batch
    /// the failed statement never took) is aborted; otherwise the session comes back and the
    /// reader's own error, if any, is the chunk's.
    async fn join_reader<E>(
        &mut self,
        reader: tokio::task::JoinHandle<(Conn, std::result::Result<E, Error>)>,
        write_err: Option<Error>,
        object: &str,
    ) -> Result<Option<Error>> {
        if let Some(e) = write_err {
            reader.abort();
            return Ok(Some(e));
        }
        let (src, read_result) = reader.await.map_err(|e| Error::object(object, format!("reader crashed: {e}")))?;
        self.src = Some(src);
        Ok(read_result.err())
    }

    /// Fails on warnings but the duplicate keys the table's settings accept: `kept` rows not
    /// written because the target kept its own.
    async fn check_warnings(&mut self, t: &TableCopy, object: &str, kept: u64) -> Result<()> {
        let count = self.tgt.get_warnings() as u64;
        // All the server kept (max_error_count of them): the accepted duplicates may come first.
        let warnings: Vec<(String, u32, String)> =
            self.tgt.query("SHOW WARNINGS").await.map_err(self.copier.target.err("SHOW WARNINGS"))?;
        // A kept target row on a key collision is what `existingTables: Ignore` asks for, and
        // `conflictPolicy: Ignore` for a merged table. Under Fail it is a conflict with the
        // task that wrote the row (LOAD DATA LOCAL skips duplicates with a warning).
        let policy = t.map.merge.as_ref().map(|m| m.policy);
        if let Some(m) = &t.map.merge
            && m.policy == ConflictPolicy::Fail
            && let Some((_, _, detail)) = warnings.iter().find(|(_, code, _)| *code == u32::from(codes::DUPLICATE_KEY))
        {
            let key = t.map.key.as_ref().map(|k| k.join(", ")).unwrap_or_default();
            return Err(
                crate::sync::applier::merge_conflict(&self.copier.target, &mut self.tgt, m, &t.map.source_name(), &key, detail).await
            );
        }
        let accept_duplicates = match policy {
            Some(p) => p == ConflictPolicy::Ignore,
            None => t.keep_existing_rows,
        };
        let real: Vec<_> =
            warnings.iter().filter(|(_, code, _)| !(accept_duplicates && *code == u32::from(codes::DUPLICATE_KEY))).take(20).collect();
        let text = if !real.is_empty() {
            real.iter().map(|(l, c, m)| format!("{l} {c}: {m}")).collect::<Vec<_>>().join("; ")
        } else if accept_duplicates && count > kept {
            format!("{} warnings besides the {kept} duplicate keys kept, beyond the ones the server lists", count - kept)
        } else {
            return Ok(());
        };
        Err(Error::object(
            format!("{object} -> {}", t.map.target_name()),
            format!("the target changed or refused values while loading: {text}"),
        ))
    }
}

fn tokio_stream_from(rx: mpsc::Receiver<Bytes>) -> impl futures_util::Stream<Item = Bytes> + Send {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}

/// The chunk's SELECT: the columns in target order, within the key range and the row filter.
fn select_sql(t: &TableCopy, chunk: &Chunk) -> (String, Vec<Value>) {
    let m = &t.map;
    let cols = t.columns.iter().map(|(c, _)| q(&c.name)).collect::<Vec<_>>().join(", ");
    let mut conds = Vec::new();
    let mut params = Vec::new();
    if let (Some(key), Some(lo)) = (&m.key, &chunk.lower) {
        conds.push(range_condition(key, lo, ">=", ">", &mut params));
    }
    if let (Some(key), Some(hi)) = (&m.key, &chunk.upper) {
        conds.push(range_condition(key, hi, "<", "<", &mut params));
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

/// Lexicographic comparison of the key with a bound, spelled out so every server can use the
/// index range: (k1 > v1) OR (k1 = v1 AND k2 >= v2) ...
fn range_condition(key: &[String], bound: &[Value], last_op: &str, op: &str, params: &mut Vec<Value>) -> String {
    let mut ors = Vec::new();
    for i in 0..key.len() {
        let mut ands = Vec::new();
        for j in 0..i {
            ands.push(format!("{} = ?", q(&key[j])));
            params.push(bound[j].clone());
        }
        let o = if i + 1 == key.len() { last_op } else { op };
        ands.push(format!("{} {o} ?", q(&key[i])));
        params.push(bound[i].clone());
        ors.push(format!("({})", ands.join(" AND ")));
    }
    format!("({})", ors.join(" OR "))
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
    async fn of(target: &Server, tgt: &mut Conn, t: &TableCopy) -> Result<Shape> {
        let m = &t.map;
        let types = crate::db::catalog::column_types(target, tgt, &m.dst_db, &m.dst_table).await?;
        // MySQL's JSON type; MariaDB's JSON is a LONGTEXT and reads as one.
        let json: Vec<bool> =
            t.columns.iter().map(|(_, dst)| types.iter().any(|(n, ty)| n.eq_ignore_ascii_case(dst) && ty == "json")).collect();
        Ok(Shape {
            load: load_sql(t, &json),
            insert_head: insert_head(t),
            lits: t
                .columns
                .iter()
                .enumerate()
                .map(|(i, (c, _))| Codec::for_copy_insert(c, json.get(i).copied().unwrap_or(false)))
                .collect(),
        })
    }
}

/// LOAD DATA for the chunk's rows: raw bytes (each column in its own character set), BIT values
/// as numbers through a variable, text into a JSON column (which takes no binary string) through
/// a variable in its character set.
fn load_sql(t: &TableCopy, json: &[bool]) -> String {
    let m = &t.map;
    let mut cols = Vec::new();
    let mut sets = Vec::new();
    for (i, (c, dst)) in t.columns.iter().enumerate() {
        if Codec::of(c) == Codec::Bit {
            cols.push(format!("@b{i}"));
            sets.push(format!("{} = CAST(@b{i} AS UNSIGNED)", q(dst)));
        } else if json.get(i).copied().unwrap_or(false) {
            cols.push(format!("@j{i}"));
            sets.push(format!("{} = CONVERT(@j{i} USING {})", q(dst), json_charset(c.charset.as_deref())));
        } else {
            cols.push(q(dst));
        }
    }
    let mut sql = format!(
        "LOAD DATA LOCAL INFILE 'ferry' {}INTO TABLE {} CHARACTER SET binary \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
        match OnTaken::of(t) {
            // No modifier: with LOCAL a duplicate is skipped with a warning, which fails the copy.
            OnTaken::Plain => "",
            OnTaken::Ignore => "IGNORE ",
            OnTaken::Replace => "REPLACE ",
        },
        qt(&m.dst_db, &m.dst_table),
        cols.join(", ")
    );
    if !sets.is_empty() {
        sql.push_str(" SET ");
        sql.push_str(&sets.join(", "));
    }
    sql
}

/// `INSERT INTO t (c1, ...) VALUES `: plain (a taken key fails the statement, a merge conflict
/// under Fail), IGNORE or REPLACE as LOAD DATA does.
fn insert_head(t: &TableCopy) -> String {
    let verb = match OnTaken::of(t) {
        OnTaken::Plain => "INSERT",
        OnTaken::Ignore => "INSERT IGNORE",
        OnTaken::Replace => "REPLACE",
    };
    let cols = t.columns.iter().map(|(_, dst)| q(dst)).collect::<Vec<_>>().join(", ");
    format!("{verb} INTO {} ({cols}) VALUES ", qt(&t.map.dst_db, &t.map.dst_table))
}

/// One INSERT statement and how many rows it holds.
#[derive(Debug)]
struct Insert {
    sql: Vec<u8>,
    rows: u64,
}

/// Builds INSERT statements of rows, each at most `cap` bytes unless one row alone is larger; no
/// statement may exceed `longest` (the target's max_allowed_packet).
struct InsertBuilder {
    head: Vec<u8>,
    cap: usize,
    longest: usize,
    sql: Vec<u8>,
    rows: u64,
    row: SqlBytes,
}

impl InsertBuilder {
    fn new(head: &str, cap: usize, longest: usize) -> Self {
        let mut sql = Vec::with_capacity(cap.min(16 << 20) + 4096);
        sql.extend_from_slice(head.as_bytes());
        InsertBuilder { head: head.as_bytes().to_vec(), cap, longest, sql, rows: 0, row: SqlBytes::default() }
    }

    /// Adds a row; returns the statement it no longer fits in, if any. Err: the row alone makes
    /// a statement longer than `longest` (its length).
    fn push(&mut self, lits: &[Codec], values: &[Value]) -> std::result::Result<Option<Insert>, usize> {
        self.row.0.clear();
        self.row.0.push(b'(');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.row.0.extend_from_slice(b", ");
            }
            literal(&mut self.row, &lits[i], v);
        }
        self.row.0.push(b')');
        if self.head.len() + self.row.0.len() > self.longest {
            return Err(self.head.len() + self.row.0.len());
        }
        let mut full = None;
        if self.rows > 0 && self.sql.len() + 2 + self.row.0.len() > self.cap {
            full = self.take();
        }
        if self.rows > 0 {
            self.sql.extend_from_slice(b", ");
        }
        self.sql.extend_from_slice(&self.row.0);
        self.rows += 1;
        Ok(full)
    }

    /// The statement built so far (None when it holds no row), starting the next one.
    fn take(&mut self) -> Option<Insert> {
        if self.rows == 0 {
            return None;
        }
        let mut next = Vec::with_capacity(self.sql.capacity());
        next.extend_from_slice(&self.head);
        let sql = std::mem::replace(&mut self.sql, next);
        Some(Insert { sql, rows: std::mem::take(&mut self.rows) })
    }
}

/// Reads the chunk's rows and sends them as INSERT statements.
async fn read_inserts(
    src: &mut Conn,
    source: &Server,
    select: &str,
    params: Vec<Value>,
    lits: &[Codec],
    mut builder: InsertBuilder,
    out: mpsc::Sender<Insert>,
    object: &str,
) -> Result<u64> {
    let ctx = || format!("reading: {}", short(select));
    let stmt = src.prep(select).await.map_err(source.err(ctx()))?;
    let mut result = src.exec_iter(stmt, params).await.map_err(source.err(ctx()))?;
    let mut rows = 0u64;
    let mut writer_gone = false;
    while let Some(row) = result.next().await.map_err(source.err(ctx()))? {
        rows += 1;
        if writer_gone {
            continue; // drain the result so the session stays usable
        }
        let values = row.unwrap();
        match builder.push(lits, &values) {
            Ok(None) => {}
            Ok(Some(stmt)) => {
                if out.send(stmt).await.is_err() {
                    writer_gone = true;
                }
            }
            Err(len) => {
                return Err(Error::object(
                    object,
                    format!(
                        "a row makes an INSERT of {len} bytes, more than the target's max_allowed_packet ({} bytes) allows; \
                         raise max_allowed_packet on the target, or enable local_infile there (LOAD DATA streams rows of any size)",
                        builder.longest + PACKET_MARGIN
                    ),
                ));
            }
        }
    }
    if !writer_gone && let Some(stmt) = builder.take() {
        let _ = out.send(stmt).await;
    }
    Ok(rows)
}

async fn read_rows(
    src: &mut Conn,
    source: &Server,
    select: &str,
    params: Vec<Value>,
    encs: &[Codec],
    batch_limit: usize,
    batches: mpsc::Sender<mpsc::Receiver<Bytes>>,
) -> Result<u64> {
    let ctx = || format!("reading: {}", short(select));
    let stmt = src.prep(select).await.map_err(source.err(ctx()))?;
    let mut result = src.exec_iter(stmt, params).await.map_err(source.err(ctx()))?;
    let (mut piece_tx, rx) = mpsc::channel::<Bytes>(4);
    if batches.send(rx).await.is_err() {
        return Ok(0);
    }
    let mut buf: Vec<u8> = Vec::with_capacity(PIECE_BYTES + 4096);
    let mut in_batch = 0usize;
    let mut rows = 0u64;
    let mut writer_gone = false;
    while let Some(row) = result.next().await.map_err(source.err(ctx()))? {
        rows += 1;
        if writer_gone {
            continue; // drain the result so the session stays usable
        }
        let values = row.unwrap();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                buf.push(b'\t');
            }
            load_text(&mut buf, &encs[i], v);
        }
        buf.push(b'\n');
        if buf.len() >= PIECE_BYTES {
            in_batch += buf.len();
            let piece = Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(PIECE_BYTES + 4096)));
            if piece_tx.send(piece).await.is_err() {
                writer_gone = true;
                continue;
            }
            if in_batch >= batch_limit {
                let (tx, rx) = mpsc::channel::<Bytes>(4);
                piece_tx = tx; // dropping the old sender ends that LOAD DATA
                in_batch = 0;
                if batches.send(rx).await.is_err() {
                    writer_gone = true;
                }
            }
        }
    }
    if !buf.is_empty() && !writer_gone {
        let _ = piece_tx.send(Bytes::from(buf)).await;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_are_cut_by_bytes_and_no_row_passes_the_packet_limit() {
        let head = "INSERT INTO `d`.`t` (`a`, `b`) VALUES ";
        let lits = [Codec::Number, Codec::Str("latin1".into())];
        let row = |i: i64, s: Option<&[u8]>| vec![Value::Int(i), s.map_or(Value::NULL, |s| Value::Bytes(s.to_vec()))];
        let text = |i: Insert| (String::from_utf8(i.sql).unwrap(), i.rows);
        // 38 bytes of head, 18 and 9 of rows, 2 of separator: 67.
        let mut b = InsertBuilder::new(head, 67, 80);
        assert!(b.push(&lits, &row(1, Some(b"x'y"))).unwrap().is_none());
        assert!(b.push(&lits, &row(2, None)).unwrap().is_none());
        let full = b.push(&lits, &row(3, Some(b""))).unwrap().expect("the third row does not fit");
        assert_eq!(text(full), (format!("{head}(1, _latin1'x\\'y'), (2, NULL)"), 2));
        // A row alone longer than the packet allows is refused, with the statement's length.
        assert_eq!(b.push(&lits, &row(4, Some(&[b'z'; 40]))).unwrap_err(), 38 + 54);
        // One alone beyond the cap but within the packet makes a statement of its own.
        let full = b.push(&lits, &row(5, Some(&[b'z'; 20]))).unwrap().expect("a row was waiting");
        assert_eq!(text(full), (format!("{head}(3, _latin1'')"), 1));
        assert_eq!(b.take().map(text), Some((format!("{head}(5, _latin1'{}')", "z".repeat(20)), 1)));
        assert!(b.take().is_none(), "nothing after the last statement");
    }

    #[test]
    fn json_text_keeps_its_character_set() {
        assert_eq!(json_charset(None), "utf8mb4", "MySQL's JSON text");
        assert_eq!(json_charset(Some("latin1")), "latin1", "a MariaDB JSON (a LONGTEXT) in its own");
        // MySQL 8 warns on the deprecated name; the bytes are utf8mb4 as they are.
        assert_eq!(json_charset(Some("utf8mb3")), "utf8mb4");
        assert_eq!(json_charset(Some("binary")), "utf8mb4");
        assert_eq!(json_charset(Some("x; DROP")), "utf8mb4");
    }

    #[test]
    fn composite_range_condition() {
        let mut p = Vec::new();
        let key = vec!["a".to_string(), "b".to_string()];
        let sql = range_condition(&key, &[Value::Int(1), Value::Int(2)], ">=", ">", &mut p);
        assert_eq!(sql, "((`a` > ?) OR (`a` = ? AND `b` >= ?))");
        assert_eq!(p, vec![Value::Int(1), Value::Int(1), Value::Int(2)]);
    }
}
