//! The LOAD DATA LOCAL path: the chunk's rows read from the snapshot and streamed to the target
//! in LOAD DATA's text format, each column's bytes in its own character set.

use bytes::Bytes;
use futures_util::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{Conn, Value};
use tokio::sync::mpsc;
use tracing::debug;

use crate::codec::{Codec, json_charset, load_text};
use crate::codes::LOAD_REFUSED;
use crate::db::{Server, q, qt, short};
use crate::error::Result;

use super::*;

impl Worker {
    /// The chunk's rows through LOAD DATA LOCAL, in the open transaction. Returns the merge
    /// conflicts met, or None when the target refused LOAD DATA itself (the snapshot session is
    /// back, ready for the chunk's second try).
    pub(super) async fn load_rows(&mut self, work: &Work, written: &mut u64) -> Result<Option<u64>> {
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
            self.tgt.conn().set_infile_handler(async move {
                Ok(tokio_stream_from(rx)
                    .map(move |b| {
                        counter.add_bytes(b.len() as u64);
                        Ok::<Bytes, std::io::Error>(b)
                    })
                    .boxed())
            });
            if let Err(e) = self.tgt.conn().query_drop(&work.shape.load).await {
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
            let affected = self.tgt.conn().affected_rows();
            let info = self.tgt.conn().info();
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
            self.tgt.conn().set_infile_handler(async { Ok(futures_util::stream::empty::<std::io::Result<Bytes>>().boxed()) });
        }
        let failed = self.join_reader(reader, write_err, &object()).await?;
        match failed {
            Some(e) => Err(e),
            None if refused => Ok(None),
            None => Ok(Some(conflicts)),
        }
    }
}

fn tokio_stream_from(rx: mpsc::Receiver<Bytes>) -> impl futures_util::Stream<Item = Bytes> + Send {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}

/// LOAD DATA for the chunk's rows: raw bytes (each column in its own character set), BIT values
/// as numbers through a variable, text into a JSON column (which takes no binary string) through
/// a variable in its character set.
pub(super) fn load_sql(t: &TableCopy, json: &[bool]) -> String {
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
