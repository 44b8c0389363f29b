//! Repair: the source's current rows for the keys that differ, written through the applier in one
//! target transaction that holds the table's slot position locked (so the lane replaying the
//! table's binlog cannot commit meanwhile). It goes ahead only when that position is not past the
//! source's position read before the source rows were: the target then has no change newer than
//! the rows written, and the replay's later changes of those rows come after them, in binlog
//! order. A row is deleted only when it was proven extra and is still absent from the source.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::{Conn, Value};

use super::compare::{Diff, KeySet, Kind, Range, Side};
use super::multiset::{HashDiff, row_of};
use super::{Ctx, Plan};
use crate::db::flavor::Position;
use crate::db::{Session, q, qt};
use crate::error::{Error, Result};
use crate::sync::applier::{ApplyColumn, ApplyTable, Group};
use crate::target::meta::slot_of;
use crate::target::session::{TargetSession, Tx};

/// Tries before a repair gives up on a target that keeps applying past the source.
const ATTEMPTS: u32 = 20;

/// Repairs a keyed range's differences; returns the rows written or deleted.
pub(super) async fn keyed(ctx: &Ctx<'_>, (ctl, src): (&mut Conn, &mut Conn), plan: &Plan, diff: &Diff) -> Result<u64> {
    let table = apply_table(plan);
    // A merged table's rows of the same key may be another task's: only a missing row is
    // written, unless the task overwrites conflicts.
    let overwrite = plan.map.merge.as_ref().is_none_or(|m| m.policy == ferry_crds::ConflictPolicy::Overwrite);
    for _ in 0..ATTEMPTS {
        let at = ctx.source_position(ctl).await?;
        let keys: Vec<&Vec<Value>> = diff.rows.values().map(|(_, k)| k).collect();
        let now = rows_by_keys(ctx, src, plan, Side::Source, &keys).await?;
        let mut session = TargetSession::open(&ctx.target, Session::Write).await?;
        let Some(tx) = guard(ctx, &mut session, plan, false, &at).await? else { continue };
        let mut group = Group::default();
        let mut written = 0;
        for (k, (kind, _)) in &diff.rows {
            match (now.get(k), kind) {
                (Some(row), Kind::Missing) => group.add(&table, None, Some(row.values.clone()))?,
                (Some(row), Kind::Different) if overwrite => group.add(&table, None, Some(row.values.clone()))?,
                // Proven extra, and still absent from the source: the key is all a delete needs.
                (None, Kind::Extra) => group.add(&table, Some(key_image(plan, &diff.rows[k].1)), None)?,
                // Gone from the source since, or back there: the replay brings the target along.
                _ => continue,
            }
            written += 1;
        }
        apply(&mut session, tx, group).await?;
        session.close().await;
        return Ok(written);
    }
    Err(gave_up(plan))
}

/// Repairs a table without a key: missing rows inserted, extra rows deleted one by one, as many
/// as the counts differ. Only on a target that has applied exactly up to the source's position
/// (a pending replayed insert of an identical row would otherwise add one more).
pub(super) async fn keyless(
    ctx: &Ctx<'_>,
    (ctl, src, tgt): (&mut Conn, &mut Conn, &mut Conn),
    plan: &Plan,
    diff: &HashDiff,
) -> Result<u64> {
    let table = apply_table(plan);
    for _ in 0..ATTEMPTS {
        let at = ctx.source_position(ctl).await?;
        let mut images = Vec::new();
        for (hash, (kind, n)) in &diff.rows {
            let row = match kind {
                Kind::Extra => row_of(&ctx.target, tgt, plan, Side::Target, hash).await?,
                _ => row_of(&ctx.source, src, plan, Side::Source, hash).await?,
            };
            if let Some(row) = row {
                images.push((*kind, *n, row));
            }
        }
        let mut session = TargetSession::open(&ctx.target, Session::Write).await?;
        let Some(tx) = guard(ctx, &mut session, plan, true, &at).await? else { continue };
        let mut group = Group::default();
        let mut written = 0;
        for (kind, n, row) in images {
            for _ in 0..n {
                match kind {
                    Kind::Extra => group.add(&table, Some(row.clone()), None)?,
                    _ => group.add(&table, None, Some(row.clone()))?,
                }
                written += 1;
            }
        }
        apply(&mut session, tx, group).await?;
        session.close().await;
        return Ok(written);
    }
    Err(gave_up(plan))
}

/// Opens the repair's transaction with the table's slot position locked, when the target is not
/// past `at` (exactly at it for `exact`); None (rolled back, after a short wait) otherwise.
async fn guard(ctx: &Ctx<'_>, session: &mut TargetSession, plan: &Plan, exact: bool, at: &Option<Position>) -> Result<Option<Tx>> {
    let tx = session.begin().await?;
    let Some(at) = at else { return Ok(Some(tx)) };
    let slot = slot_of(&plan.map.src_db, &plan.map.src_table) as u64;
    let sql = ctx.meta.slot_position_for_update_sql();
    let (server, conn) = session.parts();
    let row: Option<(String, u64)> =
        conn.exec_first(&sql, (&ctx.meta.task, slot)).await.map_err(server.err("locking the table's replay position"))?;
    let applied = row.map(|(file, pos)| Position { file, pos, gtid: None });
    // Positions compare by file and offset (the stored slot carries no GTID set).
    let fits = applied.as_ref().is_some_and(|p| if exact { p.cmp(at).is_eq() } else { p <= at });
    if fits {
        return Ok(Some(tx));
    }
    session.rollback(tx).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(None)
}

async fn apply(session: &mut TargetSession, tx: Tx, group: Group) -> Result<()> {
    let batch = group.seal();
    let (server, conn) = session.parts();
    batch.apply(server, conn).await?;
    session.commit(tx, "a repair").await
}

/// The table as the applier writes it: the compared columns in order, keyed as the plan is.
fn apply_table(plan: &Plan) -> Arc<ApplyTable> {
    let columns: Vec<ApplyColumn> = plan
        .columns
        .iter()
        .zip(&plan.codecs)
        .enumerate()
        .map(|(i, ((_, dst, _), codec))| ApplyColumn { binlog_index: i, name: q(dst), lit: codec.clone() })
        .collect();
    let key = plan.key.as_ref().map(|k| k.iter().filter_map(|(s, _)| plan.columns.iter().position(|(c, _, _)| c == s)).collect());
    Arc::new(ApplyTable {
        source: plan.map.source_name(),
        target: qt(&plan.map.dst_db, &plan.map.dst_table),
        binlog_width: columns.len(),
        columns,
        key,
        merge: None,
        filter: None,
        filter_columns: Vec::new(),
        upsert: false,
        cascade: None,
    })
}

/// A row image holding only the key's values (what a keyed delete reads).
fn key_image(plan: &Plan, key: &[Value]) -> Vec<Value> {
    let mut row = vec![Value::NULL; plan.columns.len()];
    for ((s, _), v) in plan.key.iter().flatten().zip(key) {
        if let Some(i) = plan.columns.iter().position(|(c, _, _)| c == s) {
            row[i] = v.clone();
        }
    }
    row
}

/// The rows of the given keys on one side (the source's through the row filter).
async fn rows_by_keys(ctx: &Ctx<'_>, conn: &mut Conn, plan: &Plan, side: Side, keys: &[&Vec<Value>]) -> Result<super::compare::Rows> {
    let server = if side == Side::Source { &ctx.source } else { &ctx.target };
    let mut out = BTreeMap::new();
    for batch in keys.chunks(200) {
        let keys = KeySet { columns: plan.key.clone().unwrap_or_default(), keys: batch.iter().map(|k| (*k).clone()).collect() };
        out.extend(super::compare::rows(server, conn, plan, side, &Range { keys: Some(keys), ..Default::default() }).await?);
    }
    Ok(out)
}

fn gave_up(plan: &Plan) -> Error {
    Error::object(
        plan.map.source_name(),
        "not repaired: the target kept applying changes past the source's position read for the repair; run verify --repair again",
    )
}
