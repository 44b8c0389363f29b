//! A copy worker: takes pending chunks one by one and copies each in one target transaction with
//! the record that it is done, inside the worker's own consistent snapshot of the source.

use std::sync::atomic::Ordering;

use mysql_async::Conn;
use mysql_async::prelude::*;
use tracing::{debug, warn};

use ferry_crds::ConflictPolicy;

use crate::codes;
use crate::error::{Error, Result};

use super::*;

impl Worker {
    pub(super) async fn run(mut self) -> Result<()> {
        loop {
            if self.failed.load(Ordering::SeqCst) {
                return Ok(());
            }
            let Some(work) = self.queue.lock().await.pop_front() else { break };
            let table = work.table.clone();
            let span = info_span!("chunk", table = %table.map.source_name(), chunk = work.chunk.no);
            let finished = self.copy_chunk(&work).instrument(span).await?;
            if work.remaining.fetch_sub(1, Ordering::SeqCst) == 1 && !finished {
                self.copier.finish_table(self.tgt.conn(), &table).await?;
            }
        }
        if let Some(mut src) = self.src.take() {
            let _ = src.query_drop("COMMIT").await;
            let _ = src.disconnect().await;
        }
        Ok(())
    }

    /// Copies one chunk in one target transaction; true when that transaction also marked the
    /// table done (its last chunk, and no index to build after).
    async fn copy_chunk(&mut self, work: &Work) -> Result<bool> {
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
            self.tgt.conn().query_drop(&sql).await.map_err(c.target.err(sql.clone()))?;
            self.unique_checks = Some(unique_checks);
        }
        loop {
            let inserts = c.inserts.load(Ordering::SeqCst);
            let tx = self.tgt.begin().await?;
            let mut written = 0u64;
            let outcome =
                if inserts { self.insert_rows(work, &mut written).await.map(Some) } else { self.load_rows(work, &mut written).await };
            let conflicts = match outcome {
                Ok(Some(conflicts)) => conflicts,
                Ok(None) => {
                    // The target refused LOAD DATA itself: nothing of the chunk is kept, and it
                    // goes again as INSERTs (as does every chunk after it, in every worker).
                    self.tgt.rollback(tx).await;
                    t.counter.add_rows_signed(-(written as i64));
                    if !c.inserts.swap(true, Ordering::SeqCst) {
                        warn!(server = %c.target.address, "the target refuses LOAD DATA LOCAL INFILE: copying with batched INSERTs");
                    }
                    continue;
                }
                Err(e) => {
                    self.tgt.rollback(tx).await;
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
                .conn()
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
            if self.tgt.conn().affected_rows() != 1 {
                self.tgt.rollback(tx).await;
                return Err(Error::object(
                    object(),
                    format!("already recorded as copied: another ferry engine is running task {}", c.meta.task),
                ));
            }
            // The table's only chunk left: its record says done in the same commit (one
            // transaction less per table; ten thousand small tables are mostly such commits).
            let finishes = t.deferred_indexes.is_empty() && work.remaining.load(Ordering::SeqCst) == 1;
            if finishes {
                let names = ((m.src_db.as_str(), m.src_table.as_str()), (m.dst_db.as_str(), m.dst_table.as_str()));
                c.meta.set_table(&c.target, self.tgt.conn(), names.0, names.1, TableState::Done, None).await?;
            }
            self.tgt.commit(tx, &object()).await?;
            t.counter.chunk_done();
            t.counter.add_merge_conflicts(conflicts);
            if finishes {
                t.counter.mark_complete();
            }
            debug!(rows = written, inserts, "chunk copied");
            return Ok(finishes);
        }
    }
}

impl Worker {
    /// After one statement of a chunk: its warnings checked, its `(loaded, met)` rows (inserted,
    /// and met a taken key) added to the chunk's and the table's counts.
    pub(super) async fn account(
        &mut self,
        t: &TableCopy,
        object: &str,
        on_taken: OnTaken,
        (loaded, met): (u64, u64),
        written: &mut u64,
        conflicts: &mut u64,
    ) -> Result<()> {
        if self.tgt.conn().get_warnings() > 0 {
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
    pub(super) async fn join_reader<E>(
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
    pub(super) async fn check_warnings(&mut self, t: &TableCopy, object: &str, kept: u64) -> Result<()> {
        let count = self.tgt.conn().get_warnings() as u64;
        // All the server kept (max_error_count of them): the accepted duplicates may come first.
        let warnings: Vec<(String, u32, String)> =
            self.tgt.conn().query("SHOW WARNINGS").await.map_err(self.copier.target.err("SHOW WARNINGS"))?;
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
                crate::sync::applier::merge_conflict(&self.copier.target, self.tgt.conn(), m, &t.map.source_name(), &key, detail).await
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
