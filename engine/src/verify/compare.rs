//! One table compared: key ranges by checksum, then row by row in rounds (see the module doc).

use std::collections::BTreeMap;

use ferry_crds::TableVerification;
use mysql_async::prelude::*;
use mysql_async::{Conn, Value};

use super::{Ctx, Plan, examples, table_report};
use crate::db::{Server, key_range, q, qt, short};
use crate::error::Result;

/// Which side a query reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Source,
    Target,
}

/// A key range: after `lo` (exclusive), up to `hi` (inclusive); None: open. With `keys`, only
/// the rows of those keys.
#[derive(Clone, Debug, Default)]
pub(super) struct Range {
    pub lo: Option<Vec<Value>>,
    pub hi: Option<Vec<Value>>,
    pub keys: Option<KeySet>,
}

/// Rows by key: (source name, target name) of each key column, and the keys' values.
#[derive(Clone, Debug, Default)]
pub(super) struct KeySet {
    pub columns: Vec<(String, String)>,
    pub keys: Vec<Vec<Value>>,
}

impl KeySet {
    /// `(a, b) IN ((?, ?), ...)` on one side, its parameters added to `params`.
    fn condition(&self, side: Side, params: &mut Vec<Value>) -> String {
        let names: Vec<String> = self.columns.iter().map(|(s, t)| q(if side == Side::Source { s } else { t })).collect();
        let one = if names.len() == 1 { "?".to_string() } else { format!("({})", vec!["?"; names.len()].join(", ")) };
        let lhs = if names.len() == 1 { names[0].clone() } else { format!("({})", names.join(", ")) };
        for k in &self.keys {
            params.extend(k.iter().cloned());
        }
        if self.keys.is_empty() {
            return "FALSE".into();
        }
        format!("{lhs} IN ({})", vec![one; self.keys.len()].join(", "))
    }
}

/// A row read for comparison: its key values, canonical values, and values as read.
pub(super) struct Row {
    pub key: Vec<Value>,
    pub canon: Vec<Vec<u8>>,
    pub values: Vec<Value>,
}

/// Rows by canonical key.
pub(super) type Rows = BTreeMap<Vec<u8>, Row>;

/// How a row differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    Missing,
    Extra,
    Different,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Missing => "missing",
            Kind::Extra => "extra",
            Kind::Different => "different",
        }
    }
}

/// Differing rows by canonical key: how they differ, and their key values.
pub(super) type DiffRows = BTreeMap<Vec<u8>, (Kind, Vec<Value>)>;

/// The rows of a range that differ in every round, with their key values; `unconfirmed`: the
/// target did not catch up in time, so what is left is neither proven nor disproven.
#[derive(Default)]
pub(super) struct Diff {
    pub rows: DiffRows,
    pub unconfirmed: bool,
}

impl Plan {
    pub(super) fn table(&self, side: Side) -> String {
        match side {
            Side::Source => qt(&self.map.src_db, &self.map.src_table),
            Side::Target => qt(&self.map.dst_db, &self.map.dst_table),
        }
    }

    pub(super) fn names(&self, side: Side) -> Vec<&str> {
        self.columns.iter().map(|(s, t, _)| if side == Side::Source { s.as_str() } else { t.as_str() }).collect()
    }

    pub(super) fn key_names(&self, side: Side) -> Vec<String> {
        self.key.iter().flatten().map(|(s, t)| if side == Side::Source { s.clone() } else { t.clone() }).collect()
    }

    /// The WHERE of a range on one side: the key range, and on the source the row filter.
    pub(super) fn condition(&self, side: Side, range: &Range, params: &mut Vec<Value>) -> String {
        let key = self.key_names(side);
        let mut conds = Vec::new();
        if let Some(lo) = &range.lo {
            conds.push(key_range(&key, lo, ">", ">", params));
        }
        if let Some(hi) = &range.hi {
            conds.push(key_range(&key, hi, "<=", "<", params));
        }
        if let Some(keys) = &range.keys {
            conds.push(keys.condition(side, params));
        }
        if let (Side::Source, Some(f)) = (side, &self.map.filter) {
            conds.push(format!("({f})"));
        }
        if conds.is_empty() { "TRUE".into() } else { conds.join(" AND ") }
    }

    /// Each row's checksum for a range's sum: CRC32 over its columns' bytes joined by NUL,
    /// followed by each column's NULL flag and each binary string's length (NUL is common in
    /// those; a character string holding NUL next to a column boundary is all it takes to make
    /// two rows share the text). 32 bits: a range that differs goes unnoticed once in 4 billion;
    /// CRC32 costs the servers a third of SHA2.
    pub(super) fn row_checksum(&self, side: Side) -> String {
        let names = self.names(side);
        let texts: Vec<String> = self.columns.iter().zip(&names).map(|((_, _, canon), n)| canon.checksum_sql(n)).collect();
        let mut marks: Vec<String> =
            names.iter().zip(&self.nullable).filter(|(_, nullable)| **nullable).map(|(n, _)| format!("ISNULL({})", q(n))).collect();
        for ((_, _, canon), n) in self.columns.iter().zip(&names) {
            if *canon == super::canon::Canon::Binary {
                marks.push(format!("IFNULL(OCTET_LENGTH({}), 0)", q(n)));
            }
        }
        // A binary separator on both products (MariaDB's CHAR(0) is a character string).
        if marks.is_empty() {
            return format!("CRC32(CONCAT_WS(CAST(CHAR(0) AS BINARY), {}))", texts.join(", "));
        }
        format!("CRC32(CONCAT_WS(CAST(CHAR(0) AS BINARY), {}, CONCAT({})))", texts.join(", "), marks.join(", "))
    }

    /// Each row's hash over the canonical text of its columns (NULL marked apart from any text).
    pub(super) fn row_hash(&self, side: Side) -> String {
        let parts: Vec<String> = self
            .columns
            .iter()
            .zip(self.names(side))
            .map(|((_, _, canon), name)| format!("ISNULL({}), IFNULL({}, '')", q(name), canon.sql(name)))
            .collect();
        format!("SHA2(CONCAT_WS('#', {}), 256)", parts.join(", "))
    }
}

/// Compares one table (and repairs it when asked).
pub(super) async fn table(ctx: &Ctx<'_>, (ctl, src, tgt): (&mut Conn, &mut Conn, &mut Conn), plan: &Plan) -> Result<TableVerification> {
    let mut report = table_report(plan);
    let mut kinds: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    if plan.key.is_none() {
        super::multiset::table(ctx, (ctl, src, tgt), plan, &mut report, &mut kinds).await?;
        report.examples = examples(&kinds, ctx.options.examples);
        return Ok(report);
    }
    let mut lo: Option<Vec<Value>> = None;
    let mut hi = next_bound(ctx, src, plan, &lo).await?;
    loop {
        let range = Range { lo: lo.clone(), hi: hi.clone(), keys: None };
        report.chunks += 1;
        // Both servers at once, and the next range's bound meanwhile; a merged table's target
        // holds other tasks' rows: row by row.
        let following = async {
            match &hi {
                Some(h) => next_bound(ctx, ctl, plan, &Some(h.clone())).await,
                None => Ok(None),
            }
        };
        let (source_sum, target_sum, following) = if plan.merged {
            let (s, f) = tokio::join!(checksum(&ctx.source, src, plan, Side::Source, &range), following);
            (s?, None, f?)
        } else {
            let (s, t, f) = tokio::join!(
                checksum(&ctx.source, src, plan, Side::Source, &range),
                checksum(&ctx.target, tgt, plan, Side::Target, &range),
                following
            );
            (s?, Some(t?), f?)
        };
        ctx.throttle(source_sum.0).await;
        report.rows_compared += source_sum.0;
        let equal = target_sum.as_ref() == Some(&source_sum);
        if !equal {
            settle(ctx, (ctl, src, tgt), plan, &range, (&mut report, &mut kinds)).await?;
        }
        match hi {
            None => break,
            Some(h) => (lo, hi) = (Some(h), following),
        }
    }
    report.examples = examples(&kinds, ctx.options.examples);
    Ok(report)
}

/// Compares a range that differs row by row, repairs it when asked (then compares it again), and
/// adds what differs to the table's report.
pub(super) async fn settle(
    ctx: &Ctx<'_>,
    (ctl, src, tgt): (&mut Conn, &mut Conn, &mut Conn),
    plan: &Plan,
    range: &Range,
    (report, kinds): (&mut TableVerification, &mut BTreeMap<&'static str, Vec<String>>),
) -> Result<()> {
    let mut diff = confirm(ctx, (ctl, src, tgt), plan, range).await?;
    if ctx.options.repair && !diff.rows.is_empty() && !diff.unconfirmed {
        report.repaired += super::repair::keyed(ctx, (ctl, src), plan, &diff).await?;
        diff = confirm(ctx, (ctl, src, tgt), plan, range).await?;
    }
    tally(report, kinds, plan, &diff);
    Ok(())
}

/// Keys kept per kind of difference and table, for the report's examples.
const MAX_LISTED: usize = 64;

/// Adds a range's confirmed differences to the table's report.
fn tally(report: &mut TableVerification, kinds: &mut BTreeMap<&'static str, Vec<String>>, plan: &Plan, diff: &Diff) {
    let names = plan.key_names(Side::Source);
    for (kind, key) in diff.rows.values() {
        match kind {
            Kind::Missing => report.missing += 1,
            Kind::Extra => report.extra += 1,
            Kind::Different => report.different += 1,
        }
        let label = if diff.unconfirmed { "unconfirmed" } else { kind.label() };
        // Keys come in key order and the report shows the first few: keep no more (memory).
        let listed = kinds.entry(label).or_default();
        if listed.len() < MAX_LISTED {
            listed.push(super::canon::key_text(&names, key));
        }
    }
    if diff.unconfirmed {
        // Not proven either way: counted apart (at least the range itself).
        let n = diff.rows.len().max(1) as u64;
        report.unconfirmed += n;
        for (kind, _) in diff.rows.values() {
            match kind {
                Kind::Missing => report.missing -= 1,
                Kind::Extra => report.extra -= 1,
                Kind::Different => report.different -= 1,
            }
        }
    }
}

/// The upper bound of the range after `lo`: the key of its `chunk_rows`-th row (None: the range
/// runs to the end).
async fn next_bound(ctx: &Ctx<'_>, src: &mut Conn, plan: &Plan, lo: &Option<Vec<Value>>) -> Result<Option<Vec<Value>>> {
    let key = plan.key_names(Side::Source);
    let cols = key.iter().map(|k| q(k)).collect::<Vec<_>>().join(", ");
    let mut params = Vec::new();
    let cond = match lo {
        Some(lo) => key_range(&key, lo, ">", ">", &mut params),
        None => "TRUE".into(),
    };
    let sql = format!(
        "SELECT {cols} FROM {} WHERE {cond} ORDER BY {cols} LIMIT 1 OFFSET {}",
        plan.table(Side::Source),
        ctx.options.chunk_rows.max(1) - 1
    );
    let row: Option<mysql_async::Row> = src.exec_first(&sql, params).await.map_err(ctx.source.err(short(&sql)))?;
    Ok(row.map(|r| r.unwrap()))
}

/// A range's row count and its rows' checksums combined: XOR for a keyed table (no two rows
/// alike, and an integer fold is cheaper than SUM's decimal), the exact sum for a table without
/// a key (where two copies of a row would cancel in an XOR).
pub(super) async fn checksum(server: &Server, conn: &mut Conn, plan: &Plan, side: Side, range: &Range) -> Result<(u64, String)> {
    let mut params = Vec::new();
    let cond = plan.condition(side, range, &mut params);
    let fold = if plan.key.is_some() { "BIT_XOR" } else { "SUM" };
    let sql =
        format!("SELECT COUNT(*), CAST(COALESCE({fold}({}), 0) AS CHAR) FROM {} WHERE {cond}", plan.row_checksum(side), plan.table(side));
    let row: Option<(u64, String)> = conn.exec_first(&sql, params).await.map_err(server.err(short(&sql)))?;
    Ok(row.unwrap_or_default())
}

/// A range's rows on one side, by canonical key.
pub(super) async fn rows(server: &Server, conn: &mut Conn, plan: &Plan, side: Side, range: &Range) -> Result<Rows> {
    let mut params = Vec::new();
    let cond = plan.condition(side, range, &mut params);
    let cols = plan.names(side).iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {cols} FROM {} WHERE {cond}", plan.table(side));
    let key_at: Vec<usize> = plan.key.iter().flatten().filter_map(|(s, _)| plan.columns.iter().position(|(c, _, _)| c == s)).collect();
    let mut out = Rows::new();
    let mut result = conn.exec_iter(sql.as_str(), params).await.map_err(server.err(short(&sql)))?;
    while let Some(row) = result.next().await.map_err(server.err(short(&sql)))? {
        let values = row.unwrap();
        let canon: Vec<Vec<u8>> = plan.columns.iter().zip(&values).map(|((_, _, c), v)| c.value(v)).collect();
        let key: Vec<Value> = key_at.iter().map(|&i| values[i].clone()).collect();
        out.insert(key_bytes(&key_at, &canon), Row { key, canon, values });
    }
    Ok(out)
}

/// The canonical key, each part length-prefixed (no two keys share it).
fn key_bytes(key_at: &[usize], canon: &[Vec<u8>]) -> Vec<u8> {
    let mut k = Vec::new();
    for &i in key_at {
        k.extend_from_slice(&(canon[i].len() as u32).to_le_bytes());
        k.extend_from_slice(&canon[i]);
    }
    k
}

/// The rows of a range that differ in every round (see the module doc): a round reads the
/// source, then the source's binlog position (past that read), waits for the target to apply up
/// to it, reads the target, then the source again; rows whose two source reads disagree were
/// changing and do not count in that round.
pub(super) async fn confirm(ctx: &Ctx<'_>, (ctl, src, tgt): (&mut Conn, &mut Conn, &mut Conn), plan: &Plan, range: &Range) -> Result<Diff> {
    let mut candidates: Option<DiffRows> = None;
    let mut range = range.clone();
    if range.keys.is_none() {
        // A range first narrows to the keys whose row checksums differ once the target has
        // caught up: a key and a number per row, a fraction of the rows' bytes.
        match suspects(ctx, (ctl, src, tgt), plan, &range).await? {
            None => return Ok(Diff { rows: DiffRows::new(), unconfirmed: true }),
            Some(keys) if keys.is_empty() => return Ok(Diff::default()),
            Some(keys) => range.keys = Some(KeySet { columns: plan.key.clone().unwrap_or_default(), keys }),
        }
    }
    for _ in 0..ctx.options.rounds.max(1) {
        let s1 = rows(&ctx.source, src, plan, Side::Source, &range).await?;
        let at = ctx.source_position(ctl).await?;
        if !ctx.wait_applied(tgt, &plan.map, &at).await? {
            return Ok(Diff { rows: candidates.unwrap_or_default(), unconfirmed: true });
        }
        let t = rows(&ctx.target, tgt, plan, Side::Target, &range).await?;
        let s2 = rows(&ctx.source, src, plan, Side::Source, &range).await?;
        ctx.throttle(2 * s1.len() as u64).await;
        let found = round(plan, &s1, &t, &s2);
        let next = match candidates {
            None => found,
            Some(before) => before.into_iter().filter(|(k, (kind, _))| found.get(k).is_some_and(|(f, _)| f == kind)).collect(),
        };
        let done = next.is_empty();
        // The next rounds read only the rows still in question.
        range.keys = Some(KeySet { columns: plan.key.clone().unwrap_or_default(), keys: next.values().map(|(_, k)| k.clone()).collect() });
        candidates = Some(next);
        if done {
            break;
        }
    }
    Ok(Diff { rows: candidates.unwrap_or_default(), unconfirmed: false })
}

/// The keys of a range whose rows' checksums differ between the source and the target once the
/// target has applied up to the source's position after the source read (None: it did not in
/// time). A row that differs for good always shows here (but for a CRC32 collision); rows
/// changing meanwhile may too, and the rounds sort them out.
async fn suspects(
    ctx: &Ctx<'_>,
    (ctl, src, tgt): (&mut Conn, &mut Conn, &mut Conn),
    plan: &Plan,
    range: &Range,
) -> Result<Option<Vec<Vec<Value>>>> {
    let source = row_sums(&ctx.source, src, plan, Side::Source, range).await?;
    ctx.throttle(source.len() as u64).await;
    let at = ctx.source_position(ctl).await?;
    if !ctx.wait_applied(tgt, &plan.map, &at).await? {
        return Ok(None);
    }
    let target = row_sums(&ctx.target, tgt, plan, Side::Target, range).await?;
    let mut keys: Vec<Vec<Value>> =
        source.iter().filter(|(k, (_, sum))| target.get(*k).map(|(_, t)| t) != Some(sum)).map(|(_, (key, _))| key.clone()).collect();
    keys.extend(target.into_iter().filter(|(k, _)| !source.contains_key(k)).map(|(_, (key, _))| key));
    Ok(Some(keys))
}

/// Each row's key and checksum in a range of one side, by canonical key.
async fn row_sums(
    server: &Server,
    conn: &mut Conn,
    plan: &Plan,
    side: Side,
    range: &Range,
) -> Result<BTreeMap<Vec<u8>, (Vec<Value>, u64)>> {
    let mut params = Vec::new();
    let cond = plan.condition(side, range, &mut params);
    let key = plan.key_names(side);
    let cols = key.iter().map(|k| q(k)).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {cols}, {} FROM {} WHERE {cond}", plan.row_checksum(side), plan.table(side));
    let canons: Vec<super::canon::Canon> =
        plan.key.iter().flatten().filter_map(|(s, _)| plan.columns.iter().find(|(c, _, _)| c == s).map(|(_, _, canon)| *canon)).collect();
    let mut out = BTreeMap::new();
    let mut result = conn.exec_iter(sql.as_str(), params).await.map_err(server.err(short(&sql)))?;
    while let Some(row) = result.next().await.map_err(server.err(short(&sql)))? {
        let mut values = row.unwrap();
        let sum = match values.pop() {
            Some(Value::Int(n)) => n as u64,
            Some(Value::UInt(n)) => n,
            Some(Value::Bytes(b)) => String::from_utf8_lossy(&b).parse().unwrap_or(u64::MAX),
            _ => u64::MAX,
        };
        let canon: Vec<Vec<u8>> = canons.iter().zip(&values).map(|(c, v)| c.value(v)).collect();
        let at: Vec<usize> = (0..canon.len()).collect();
        out.insert(key_bytes(&at, &canon), (values, sum));
    }
    Ok(out)
}

/// One round's differences: rows stable on the source that the target lacks or has otherwise,
/// and (not for a merged table) target rows absent from both source reads.
fn round(plan: &Plan, s1: &Rows, t: &Rows, s2: &Rows) -> DiffRows {
    let mut found = BTreeMap::new();
    for (k, a) in s1 {
        if s2.get(k).map(|b| &b.canon) != Some(&a.canon) {
            continue; // changing while read
        }
        match t.get(k) {
            None => {
                found.insert(k.clone(), (Kind::Missing, a.key.clone()));
            }
            Some(b) if b.canon != a.canon => {
                found.insert(k.clone(), (Kind::Different, a.key.clone()));
            }
            Some(_) => {}
        }
    }
    if !plan.merged {
        for (k, b) in t {
            if !s1.contains_key(k) && !s2.contains_key(k) {
                found.insert(k.clone(), (Kind::Extra, b.key.clone()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_set_selects_its_keys_by_each_side_s_names() {
        let one = KeySet { columns: vec![("id".into(), "id".into())], keys: vec![vec![Value::Int(1)], vec![Value::Int(5)]] };
        let mut params = Vec::new();
        assert_eq!(one.condition(Side::Target, &mut params), "`id` IN (?, ?)");
        assert_eq!(params, [Value::Int(1), Value::Int(5)]);
        let two = KeySet {
            columns: vec![("a".into(), "a2".into()), ("b".into(), "b".into())],
            keys: vec![vec![Value::Int(1), Value::from("x")]],
        };
        let mut params = Vec::new();
        assert_eq!(two.condition(Side::Source, &mut params), "(`a`, `b`) IN ((?, ?))");
        assert_eq!(two.condition(Side::Target, &mut Vec::new()), "(`a2`, `b`) IN ((?, ?))");
        assert_eq!(params.len(), 2);
        assert_eq!(KeySet::default().condition(Side::Source, &mut Vec::new()), "FALSE");
    }
}
