//! The INSERT path, for a target with local_infile OFF: the chunk's rows as multi-row INSERTs
//! (REPLACE, INSERT IGNORE by the table's policy), each cut by bytes below max_allowed_packet.

use mysql_async::prelude::*;
use mysql_async::{Conn, Value};
use tokio::sync::mpsc;

use ferry_crds::ConflictPolicy;

use crate::codec::{Codec, SqlBytes, literal};
use crate::codes;
use crate::db::{Server, q, qt, short};
use crate::error::{Error, Result};

use super::*;

impl Worker {
    /// The chunk's rows as multi-row INSERTs (REPLACE, INSERT IGNORE by the table's policy), in
    /// the open transaction. Returns the merge conflicts met.
    pub(super) async fn insert_rows(&mut self, work: &Work, written: &mut u64) -> Result<u64> {
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
            let r = read_inserts(&mut src, &source, (&select, params), &shape.lits, builder, tx, &label).await;
            (src, r)
        });

        let on_taken = OnTaken::of(t);
        let mut write_err = None;
        let mut conflicts = 0u64;
        while let Some(stmt) = rx.recv().await {
            t.counter.add_bytes(stmt.sql.len() as u64);
            if let Err(e) = self.tgt.conn().query_drop(&stmt.sql).await {
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
                        crate::sync::applier::merge_conflict(&c.target, self.tgt.conn(), &merge, &m.source_name(), &key, &detail).await
                    }
                    None => c.target.err(format!("inserting {} into {}", object(), m.target_name()))(e),
                });
                break;
            }
            // INSERT IGNORE counts the rows it inserted; REPLACE a replaced row twice.
            let affected = self.tgt.conn().affected_rows();
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
}

/// `INSERT INTO t (c1, ...) VALUES `: plain (a taken key fails the statement, a merge conflict
/// under Fail), IGNORE or REPLACE as LOAD DATA does.
pub(super) fn insert_head(t: &TableCopy) -> String {
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
pub(super) struct Insert {
    pub(super) sql: Vec<u8>,
    rows: u64,
}

/// Builds INSERT statements of rows, each at most `cap` bytes unless one row alone is larger; no
/// statement may exceed `longest` (the target's max_allowed_packet).
struct InsertBuilder {
    head: Vec<u8>,
    cap: usize,
    longest: usize,
    pub(super) sql: Vec<u8>,
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
    (select, params): (&str, Vec<Value>),
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
}
