//! A table without a key, compared as a multiset of row hashes: the two servers' hash counts are
//! merged in hash order as they stream (memory holds only the differences), in rounds as for keyed
//! ranges; a hash whose source count changes between the round's two source reads does not count.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use ferry_crds::TableVerification;
use mysql_async::Conn;
use mysql_async::prelude::*;

use super::compare::{Kind, Range, Side, checksum};
use super::{Ctx, Plan};
use crate::db::{Server, q, short};
use crate::error::Result;

/// Row hashes whose counts differ: hash → (kind, rows).
#[derive(Default)]
pub(super) struct HashDiff {
    pub rows: BTreeMap<String, (Kind, u64)>,
    pub unconfirmed: bool,
    /// Rows of differing hashes past [`MAX_HASHES`]: counted, not kept (memory stays bounded).
    pub overflow: u64,
}

/// Differing hashes kept per table; the rows of any more are reported as unconfirmed.
const MAX_HASHES: usize = 100_000;

pub(super) async fn table(
    ctx: &Ctx<'_>,
    (ctl, src, tgt): (&mut Conn, &mut Conn, &mut Conn),
    plan: &Plan,
    report: &mut TableVerification,
    kinds: &mut BTreeMap<&'static str, Vec<String>>,
) -> Result<()> {
    report.chunks = 1;
    let all = Range::default();
    let (count, sum) = checksum(&ctx.source, src, plan, Side::Source, &all).await?;
    ctx.throttle(count).await;
    report.rows_compared = count;
    if checksum(&ctx.target, tgt, plan, Side::Target, &all).await? == (count, sum) {
        return Ok(());
    }
    let mut diff = confirm(ctx, (ctl, src, tgt), plan).await?;
    if ctx.options.repair && !diff.rows.is_empty() && !diff.unconfirmed {
        report.repaired += super::repair::keyless(ctx, (ctl, src, tgt), plan, &diff).await?;
        diff = confirm(ctx, (ctl, src, tgt), plan).await?;
    }
    for (hash, (kind, n)) in &diff.rows {
        match (diff.unconfirmed, kind) {
            (true, _) => report.unconfirmed += n,
            (false, Kind::Missing) => report.missing += n,
            (false, Kind::Extra) => report.extra += n,
            (false, Kind::Different) => report.different += n,
        }
        let (conn, server, side) = match kind {
            Kind::Extra => (&mut *tgt, &ctx.target, Side::Target),
            _ => (&mut *src, &ctx.source, Side::Source),
        };
        let label = if diff.unconfirmed {
            "unconfirmed"
        } else if *kind == Kind::Extra {
            "extra"
        } else {
            "missing"
        };
        // Only the rows the report shows are read again.
        if kinds.get(label).is_none_or(|k| k.len() < ctx.options.examples) {
            let example = example_row(server, conn, plan, side, hash).await?;
            kinds.entry(label).or_default().push(format!("{n} x {example}"));
        }
    }
    report.unconfirmed += diff.overflow;
    if diff.unconfirmed && diff.rows.is_empty() && diff.overflow == 0 {
        report.unconfirmed += 1;
    }
    Ok(())
}

/// The table's hash counts that differ in every round: both sides streamed once in hash order
/// give the candidates; each round then reads the candidates' source counts, the source's
/// position, waits for the target to apply up to it, reads their target counts and their source
/// counts again (a count that moved between the two source reads was in flight).
pub(super) async fn confirm(ctx: &Ctx<'_>, (ctl, src, tgt): (&mut Conn, &mut Conn, &mut Conn), plan: &Plan) -> Result<HashDiff> {
    let (merged, overflow) = merged_counts(ctx, (src, tgt), plan).await?;
    let mut candidates: BTreeMap<String, (Kind, u64)> = merged.into_iter().map(|(h, (s, t))| (h, (kind_of(s, t), 0))).collect();
    for _ in 0..ctx.options.rounds.max(1) {
        if candidates.is_empty() {
            break;
        }
        let s1 = counts_of(&ctx.source, src, plan, Side::Source, candidates.keys()).await?;
        let at = ctx.source_position(ctl).await?;
        if !ctx.wait_applied(tgt, &plan.map, &at).await? {
            return Ok(HashDiff { rows: candidates, unconfirmed: true, overflow });
        }
        let t = counts_of(&ctx.target, tgt, plan, Side::Target, candidates.keys()).await?;
        let s2 = counts_of(&ctx.source, src, plan, Side::Source, candidates.keys()).await?;
        candidates = candidates
            .into_iter()
            .filter_map(|(h, (kind, n))| {
                let (a, b, c) = (s1.get(&h).copied().unwrap_or(0), t.get(&h).copied().unwrap_or(0), s2.get(&h).copied().unwrap_or(0));
                // Stable on the source, still different on the target, the same way.
                let found = (a == c && a != b).then(|| (kind_of(a, b), a.abs_diff(b)))?;
                let n = if n == 0 { found.1 } else { n.min(found.1) };
                (found.0 == kind).then_some((h, (kind, n)))
            })
            .collect();
    }
    Ok(HashDiff { rows: candidates, unconfirmed: false, overflow })
}

fn kind_of(source: u64, target: u64) -> Kind {
    if source > target { Kind::Missing } else { Kind::Extra }
}

/// `SELECT h, COUNT(*) ... GROUP BY h ORDER BY h` of one side.
fn counts_sql(plan: &Plan, side: Side, only: Option<usize>) -> String {
    let cond = match (side, &plan.map.filter) {
        (Side::Source, Some(f)) => format!("({f})"),
        _ => "TRUE".into(),
    };
    let only = match only {
        Some(n) => format!(" WHERE h IN ({})", vec!["?"; n].join(", ")),
        None => String::new(),
    };
    format!(
        "SELECT h, COUNT(*) FROM (SELECT {} AS h FROM {} WHERE {cond}) x{only} GROUP BY h ORDER BY h",
        plan.row_hash(side),
        plan.table(side)
    )
}

/// Both sides' hash counts merged in hash order as they stream: the first [`MAX_HASHES`] hashes
/// whose counts differ, with (source count, target count), and the rows by which the others differ.
async fn merged_counts(ctx: &Ctx<'_>, (src, tgt): (&mut Conn, &mut Conn), plan: &Plan) -> Result<(BTreeMap<String, (u64, u64)>, u64)> {
    let (ssql, tsql) = (counts_sql(plan, Side::Source, None), counts_sql(plan, Side::Target, None));
    let mut a = src.query_iter(ssql.as_str()).await.map_err(ctx.source.err(short(&ssql)))?;
    let mut b = tgt.query_iter(tsql.as_str()).await.map_err(ctx.target.err(short(&tsql)))?;
    let next = |r: Option<mysql_async::Row>| r.map(mysql_async::from_row::<(String, u64)>);
    let mut x = next(a.next().await.map_err(ctx.source.err(short(&ssql)))?);
    let mut y = next(b.next().await.map_err(ctx.target.err(short(&tsql)))?);
    let mut out = BTreeMap::new();
    let mut overflow = 0u64;
    let mut keep = |h: String, counts: (u64, u64)| {
        if out.len() < MAX_HASHES {
            out.insert(h, counts);
        } else {
            overflow += counts.0.abs_diff(counts.1);
        }
    };
    let mut rows = 0u64;
    loop {
        let order = match (&x, &y) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((h, _)), Some((g, _))) => h.as_bytes().cmp(g.as_bytes()),
        };
        match order {
            Ordering::Less => {
                let (h, n) = x.take().unwrap_or_default();
                rows += n;
                keep(h, (n, 0));
                x = next(a.next().await.map_err(ctx.source.err(short(&ssql)))?);
            }
            Ordering::Greater => {
                let (h, n) = y.take().unwrap_or_default();
                keep(h, (0, n));
                y = next(b.next().await.map_err(ctx.target.err(short(&tsql)))?);
            }
            Ordering::Equal => {
                let ((h, n), (_, m)) = (x.take().unwrap_or_default(), y.take().unwrap_or_default());
                rows += n;
                if n != m {
                    keep(h, (n, m));
                }
                x = next(a.next().await.map_err(ctx.source.err(short(&ssql)))?);
                y = next(b.next().await.map_err(ctx.target.err(short(&tsql)))?);
            }
        }
    }
    drop((a, b));
    ctx.throttle(rows).await;
    Ok((out, overflow))
}

/// One side's counts of the given hashes.
async fn counts_of<'h>(
    server: &Server,
    conn: &mut Conn,
    plan: &Plan,
    side: Side,
    hashes: impl Iterator<Item = &'h String>,
) -> Result<BTreeMap<String, u64>> {
    let hashes: Vec<&String> = hashes.collect();
    let mut out = BTreeMap::new();
    for batch in hashes.chunks(500) {
        let sql = counts_sql(plan, side, Some(batch.len()));
        let rows: Vec<(String, u64)> = conn.exec(&sql, batch.to_vec()).await.map_err(server.err(short(&sql)))?;
        out.extend(rows);
    }
    Ok(out)
}

/// One row of the given hash, as values for repair.
pub(super) async fn row_of(
    server: &Server,
    conn: &mut Conn,
    plan: &Plan,
    side: Side,
    hash: &str,
) -> Result<Option<Vec<mysql_async::Value>>> {
    let cols = plan.names(side).iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {cols} FROM {} WHERE {} = ? LIMIT 1", plan.table(side), plan.row_hash(side));
    let row: Option<mysql_async::Row> = conn.exec_first(&sql, (hash,)).await.map_err(server.err(short(&sql)))?;
    Ok(row.map(|r| r.unwrap()))
}

/// One row of the given hash as text for the report: `(a=1, b=x)`.
async fn example_row(server: &Server, conn: &mut Conn, plan: &Plan, side: Side, hash: &str) -> Result<String> {
    let names: Vec<String> = plan.columns.iter().map(|(s, _, _)| s.clone()).collect();
    Ok(match row_of(server, conn, plan, side, hash).await? {
        Some(values) => {
            let text = super::canon::key_text(&names, &values);
            if text.chars().count() > 120 { format!("{}…", text.chars().take(120).collect::<String>()) } else { text }
        }
        None => format!("a row of hash {}", &hash[..hash.len().min(12)]),
    })
}
