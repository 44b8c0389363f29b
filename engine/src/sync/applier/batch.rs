//! A sealed group run in one target transaction with the checkpoint it moves.

use std::sync::Arc;

use mysql_async::prelude::*;
use mysql_async::{Conn, Value};

use ferry_crds::ConflictPolicy;

use crate::codec::SqlBytes;
use crate::codes::{self, REFUSED_BY_KEYS};
use crate::db::{Server, short};
use crate::error::{Error, Result};
use crate::plan::mapping::Merge;

use super::*;
use crate::target::session::{TargetSession, Tx};

/// One statement of a batch, and the table it writes.
pub struct Statement {
    pub(super) table: Arc<ApplyTable>,
    pub(super) sql: SqlBytes,
    /// A keyless row change that must find its row.
    pub(super) must_match: bool,
    /// Rows of a merged table's insert of fresh keys (0 for any other statement).
    pub(super) fresh_rows: u64,
    /// Under conflictPolicy Ignore: counts the fresh keys already on the target.
    pub(super) taken: Option<SqlBytes>,
    /// A change the target's foreign keys cascade: run with `foreign_key_checks = 1`. Holds what
    /// runs instead, with them off, when the target refuses it (a restricting or missing
    /// reference, a taken key: the target is not where the source was, e.g. replaying over a
    /// newer copy).
    pub(super) cascade: Option<Vec<SqlBytes>>,
}

/// The statements of a sealed group.
#[derive(Default)]
pub struct Batch {
    pub(super) statements: Vec<Statement>,
    pub rows: u64,
    pub data_bytes: u64,
}

impl Batch {
    /// Runs the statements in the open target transaction. Returns how many inserted rows of
    /// merged tables met a key another writer's row held (handled by the conflict policy).
    pub async fn apply(self, target: &Server, conn: &mut Conn) -> Result<u64> {
        if !self.statements.iter().any(|s| s.cascade.is_some()) {
            return self.run(target, conn, &mut false).await;
        }
        let mut checks = false;
        let result = self.run(target, conn, &mut checks).await;
        // The session's setting back, whatever happened (a statement may have failed with them on).
        if checks || result.is_err() {
            let reset = fk_checks(target, conn, false).await;
            return result.and_then(|c| reset.map(|_| c));
        }
        result
    }

    /// `checks`: whether the session has `foreign_key_checks = 1` now.
    pub(super) async fn run(self, target: &Server, conn: &mut Conn, checks: &mut bool) -> Result<u64> {
        let mut conflicts = 0;
        for Statement { table, sql, must_match, fresh_rows, taken, cascade } in self.statements {
            if cascade.is_some() != *checks {
                fk_checks(target, conn, cascade.is_some()).await?;
                *checks = cascade.is_some();
            }
            let context = || format!("applying changes of {} to {}: {}", table.source, table.target, short(&sql.text()));
            if let Some(fallback) = cascade {
                match conn.query_drop(&sql.0).await {
                    Err(mysql_async::Error::Server(e)) if REFUSED_BY_KEYS.contains(&e.code) => {
                        tracing::warn!(
                            table = %table.target,
                            statement = %short(&sql.text()),
                            error = %e.message,
                            "the target refused a change with its foreign keys on; applied without them (what references the row is left as it is)"
                        );
                        fk_checks(target, conn, false).await?;
                        *checks = false;
                        for f in fallback {
                            conn.query_drop(&f.0).await.map_err(target.err(context()))?;
                        }
                    }
                    done => {
                        done.map_err(target.err(context()))?;
                        if must_match && conn.affected_rows() == 0 {
                            tracing::warn!(table = %table.target, statement = %short(&sql.text()), "no target row matched a source row change");
                        }
                    }
                }
                continue;
            }
            let kept = match &taken {
                Some(q) => conn
                    .query_first::<u64, _>(&q.0)
                    .await
                    .map_err(target.err(format!("counting taken keys of {}", table.target)))?
                    .unwrap_or(0),
                None => 0,
            };
            let done = conn.query_drop(&sql.0).await;
            if let (Err(mysql_async::Error::Server(e)), Some(m)) = (&done, &table.merge)
                && e.code == codes::DUPLICATE_KEY
                && fresh_rows > 0
                && m.policy == ConflictPolicy::Fail
            {
                let key = table.key.iter().flatten().map(|&i| table.columns[i].name.as_str()).collect::<Vec<_>>().join(", ");
                return Err(merge_conflict(target, conn, m, &table.source, &key, &e.message).await);
            }
            done.map_err(target.err(context()))?;
            if let Some(m) = &table.merge
                && fresh_rows > 0
            {
                // Ignore: the keys counted as taken just before. Overwrite: a replaced row counts
                // twice (1 for the delete or update, 1 for the insert).
                let affected = conn.affected_rows();
                let met = match m.policy {
                    ConflictPolicy::Ignore => kept,
                    _ => affected.saturating_sub(fresh_rows),
                };
                conflicts += met;
                if met > 0 {
                    tracing::warn!(
                        table = %table.target,
                        rows = met,
                        policy = ?m.policy,
                        "inserted keys of a merged table were taken by rows of another task"
                    );
                }
            }
            // A keyless row the source changed must be on the target; if it is not, the target
            // has diverged (written by someone else): say so rather than drift.
            if must_match && conn.affected_rows() == 0 {
                tracing::warn!(table = %table.target, statement = %short(&sql.text()), "no target row matched a source row change");
            }
        }
        Ok(conflicts)
    }
}

pub(super) async fn fk_checks(target: &Server, conn: &mut Conn, on: bool) -> Result<()> {
    let sql = if on { "SET foreign_key_checks = 1" } else { "SET foreign_key_checks = 0" };
    conn.query_drop(sql).await.map_err(target.err(sql))
}

/// A row image's size in one pass: its data (strings and blobs by their length, other values as
/// 8 bytes), for the status, and roughly the memory it holds, to bound a group.
pub(super) fn image_sizes(r: &[Value]) -> (u64, usize) {
    r.iter().fold((0, 0), |(data, held), v| match v {
        Value::Bytes(b) => (data + b.len() as u64, held + b.len() + 24),
        _ => (data + 8, held + 24),
    })
}

/// The error of a conflict under `conflictPolicy: Fail`, naming the table, the key, this task
/// and its source, and the other tasks that write the table (from their records in the metadata
/// database they share on the target). `detail` is the server's duplicate-key message, which holds
/// the key's value.
pub async fn merge_conflict(target: &Server, conn: &mut Conn, m: &Merge, source_table: &str, key: &str, detail: &str) -> Error {
    let (db, table) = &m.target;
    let sql = format!(
        "SELECT c.task, c.src_db, c.src_table, t.source FROM {} c LEFT JOIN {} t ON t.task = c.task \
         WHERE c.dst_db = ? AND c.dst_table = ? AND c.task <> ? ORDER BY c.task",
        qt(&m.metadata_database, "copy_tables"),
        qt(&m.metadata_database, "tasks")
    );
    let others: Vec<(String, String, String, Option<String>)> = conn.exec(sql, (db, table, &m.task)).await.unwrap_or_default();
    let by = if others.is_empty() {
        "a writer other than a ferry task (no other task records this table)".to_string()
    } else {
        others
            .iter()
            .map(|(t, d, s, server)| match server {
                Some(server) => format!("task {t} (from its source {server}, table {d}.{s})"),
                None => format!("task {t} (from its source table {d}.{s})"),
            })
            .collect::<Vec<_>>()
            .join(" or ")
    };
    Error::object(
        format!("target {} table {db}.{table}", target.address),
        format!(
            "merge conflict: task {} inserts a row from {source_table} on {} whose key ({key}) is taken by a row written by {by}: {detail}; spec.conflictPolicy is Fail: remove or re-key one of the two rows and restart the task, or set conflictPolicy: Overwrite or Ignore",
            m.task, m.source
        ),
    )
}

/// Applies a group in one target transaction, moving the checkpoint with it. Returns the merge
/// conflicts met (see `Batch::apply`).
pub async fn commit_batch(
    session: &mut TargetSession,
    tx: Tx,
    batch: Batch,
    (checkpoint_sql, params): (&str, Vec<Value>),
    checkpoint_rows: u64,
) -> Result<u64> {
    let (target, conn) = session.parts();
    let conflicts = batch.apply(target, conn).await?;
    conn.exec_drop(checkpoint_sql, params).await.map_err(target.err("moving the checkpoint"))?;
    // Fewer rows than the lane's slots: another engine claimed the task (a new epoch).
    if conn.affected_rows() != checkpoint_rows {
        session.rollback(tx).await;
        return Err(Error::Fenced);
    }
    session.commit(tx, "applied changes").await?;
    Ok(conflicts)
}
