//! The lane writers: one task per lane with its own target session, applying the lane's groups in
//! target transactions that move the lane's slots with them, in the order it is sent them.

use std::sync::Arc;

use mysql_async::Value;
use tokio::sync::mpsc;

use super::lanes::Commit;
use crate::db::Server;
use crate::db::flavor::Position;
use crate::error::{Error, Result};
use crate::sync::applier::{Group, commit_batch};
use crate::target::meta::Meta;
use crate::target::session::{TargetSession, Tx};

/// What a lane's writer is handed, in source order.
enum Write {
    /// Part of a very large source transaction: applied inside the open target transaction.
    Part(Group),
    /// Whole source transactions: applied, the slots moved, committed.
    Commit(Commit),
}

/// A committed group, reported back for status.
pub(super) struct Committed {
    pub lane: usize,
    pub pos: Position,
    pub ts: u32,
    pub rows: u64,
    /// Row data bytes of those rows.
    pub bytes: u64,
    pub merge_conflicts: u64,
    pub txns: u64,
    pub all_slots: bool,
}

/// The writers of one stream: where the lanes' work goes, and where their commits come back.
pub(super) struct Writers {
    tx: Vec<mpsc::Sender<Write>>,
    done: mpsc::UnboundedReceiver<Result<Committed>>,
    _tasks: Vec<AbortOnDrop>,
}

impl Writers {
    /// A writer per session (lane 0 on the first), for the task's fencing `epoch`.
    pub fn start(sessions: Vec<mysql_async::Conn>, target: &Server, meta: &Arc<Meta>, epoch: u64) -> Writers {
        let (dtx, done) = mpsc::unbounded_channel::<Result<Committed>>();
        let mut writers = Writers { tx: Vec::new(), done, _tasks: Vec::new() };
        for (lane, conn) in sessions.into_iter().enumerate() {
            let (wtx, wrx) = mpsc::channel::<Write>(1);
            let writer = LaneWriter { lane, meta: meta.clone(), epoch };
            let session = TargetSession::wrap(target.clone(), conn);
            writers._tasks.push(AbortOnDrop(tokio::spawn(writer.run(session, wrx, dtx.clone()))));
            writers.tx.push(wtx);
        }
        writers
    }

    /// Hands a commit to its lane's writer.
    pub async fn commit(&self, c: Commit) -> Result<()> {
        self.tx[c.lane].send(Write::Commit(c)).await.map_err(|_| writer_stopped())
    }

    /// Hands part of a very large transaction to `lane`'s writer.
    pub async fn part(&self, lane: usize, group: Group) -> Result<()> {
        self.tx[lane].send(Write::Part(group)).await.map_err(|_| writer_stopped())
    }

    /// The next commit a writer made (cancel-safe), or the error that stopped it.
    pub async fn next(&mut self) -> Result<Committed> {
        self.done.recv().await.ok_or_else(writer_stopped)?
    }
}

fn writer_stopped() -> Error {
    Error::object("applier", "a target writer stopped")
}

struct LaneWriter {
    lane: usize,
    meta: Arc<Meta>,
    /// The task's fencing epoch, checked by every commit.
    epoch: u64,
}

impl LaneWriter {
    /// Applies the lane's groups on its session, in order; stops at the first error. Building
    /// the statements happens here too, so lanes build them in parallel.
    async fn run(self, mut session: TargetSession, mut rx: mpsc::Receiver<Write>, done: mpsc::UnboundedSender<Result<Committed>>) {
        let mut open: Option<Tx> = None;
        let (mut part_rows, mut part_bytes, mut part_conflicts) = (0, 0, 0);
        while let Some(msg) = rx.recv().await {
            let result = async {
                let tx = match open.take() {
                    Some(tx) => tx,
                    None => session.begin().await?,
                };
                match msg {
                    Write::Part(group) => {
                        let batch = group.seal();
                        part_rows += batch.rows;
                        part_bytes += batch.data_bytes;
                        let (target, conn) = session.parts();
                        part_conflicts += batch.apply(target, conn).await?;
                        open = Some(tx);
                        Ok(None)
                    }
                    Write::Commit(Commit { group, at, ts, txns, slots, all_slots, .. }) => {
                        let batch = group.seal();
                        let rows = batch.rows + std::mem::take(&mut part_rows);
                        let bytes = batch.data_bytes + std::mem::take(&mut part_bytes);
                        let sql = self.meta.slots_checkpoint_sql(&slots);
                        let params = self.checkpoint_params(&at, ts);
                        let merge_conflicts = commit_batch(&mut session, tx, batch, (&sql, params), slots.len() as u64).await?
                            + std::mem::take(&mut part_conflicts);
                        Ok(Some(Committed { lane: self.lane, pos: at, ts, rows, bytes, merge_conflicts, txns, all_slots }))
                    }
                }
            }
            .await;
            match result {
                Ok(Some(c)) => {
                    let _ = done.send(Ok(c));
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = done.send(Err(e));
                    return;
                }
            }
        }
    }

    /// The parameters of the slots' checkpoint statement (`Meta::slots_checkpoint_sql`).
    fn checkpoint_params(&self, at: &Position, ts: u32) -> Vec<Value> {
        vec![
            at.file.clone().into(),
            at.pos.into(),
            at.gtid.clone().into(),
            (ts as i64).into(),
            self.meta.task.clone().into(),
            self.epoch.into(),
        ]
    }
}

/// A spawned task that ends with its owner.
pub(super) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
