//! The statements that bring the target to a group's net effect for one table.

use std::fmt::Write as _;

use mysql_async::Value;

use ferry_crds::ConflictPolicy;

use crate::codec::{SqlBytes, literal};

use super::*;

/// A statement of a group: its text, the rows it inserts under fresh keys of a merged table, and
/// (Ignore) the query counting the fresh keys another task's rows hold already.
pub(super) type Planned = (SqlBytes, u64, Option<SqlBytes>);

/// The statements that bring the target to the group's net effect for one table, each with the
/// number of rows it inserts under fresh keys of a merged table.
pub(super) fn statements_of(table: &ApplyTable, changes: Changes) -> Vec<Planned> {
    let mut out = Vec::new();
    match changes {
        Changes::Keyed { slots, .. } => {
            keyed_deletes(table, &slots, &mut out);
            let filtered = keyed_writes(table, &slots, &mut out);
            // Pre-image semantics of a row filter: a row whose last image fails the filter is not
            // (or no longer) selected.
            if !filtered.is_empty() {
                let mut d = SqlBytes::default();
                let _ = write!(d, "DELETE FROM {} WHERE ", table.target);
                d.push_sql(&filtered);
                out.push((d, 0, None));
            }
        }
        Changes::Keyless(ops) => keyless_statements(table, ops, &mut out),
    }
    out
}

/// Deletes first: a key is either deleted or has a final image, never both. Batches stay small
/// enough for the range optimizer to use the key rather than scan the table.
pub(super) fn keyed_deletes(table: &ApplyTable, slots: &[Slot], out: &mut Vec<Planned>) {
    let mut sql = SqlBytes::default();
    let mut in_batch = 0;
    let key_cols = table.key.as_deref().expect("keyed table");
    let single = (key_cols.len() == 1).then(|| &table.columns[key_cols[0]].name);
    for s in slots.iter().filter(|s| s.row.is_none()) {
        match single {
            // `k IN (v1, v2, ...)`; the slot's key text is `k = v`.
            Some(k) => {
                if sql.is_empty() {
                    let _ = write!(sql, "DELETE FROM {} WHERE {k} IN (", table.target);
                } else {
                    sql.push_str(", ");
                }
                sql.0.extend_from_slice(&s.key.0[k.len() + 3..]);
            }
            None => sql.push_or_key(format_args!("DELETE FROM {}", table.target), &s.key),
        }
        in_batch += 1;
        if sql.len() > STATEMENT_BYTES || in_batch >= 500 {
            if single.is_some() {
                sql.push(')');
            }
            out.push((std::mem::take(&mut sql), 0, None));
            in_batch = 0;
        }
    }
    if !sql.is_empty() {
        if single.is_some() {
            sql.push(')');
        }
        out.push((sql, 0, None));
    }
}

/// How a table's final images are written: the verb and tail of the rows of keys that existed
/// before the group, and (merged tables) of fresh keys, by the conflict policy.
pub(super) struct WriteForms {
    pub(super) verb: &'static str,
    pub(super) tail: Option<String>,
    pub(super) fresh: Option<(&'static str, Option<String>)>,
}

impl WriteForms {
    pub(super) fn of(table: &ApplyTable) -> WriteForms {
        // REPLACE, not INSERT .. ON DUPLICATE KEY UPDATE: a final image that collides on a
        // unique key with a row this group also changes must displace it, not merge into it.
        let tail = table.upsert.then(|| {
            let sets: Vec<String> = table.columns.iter().map(|c| format!("{0} = VALUES({0})", c.name)).collect();
            format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
        });
        let verb = if table.upsert { "INSERT" } else { "REPLACE" };
        // Fresh keys of a merged table, by the conflict policy, in statements of their own so
        // that their affected rows tell the conflicts met (Overwrite: written as any other row).
        let fresh = match table.merge.as_ref().map(|m| m.policy) {
            Some(ConflictPolicy::Fail) => Some(("INSERT", None)),
            Some(ConflictPolicy::Ignore) => {
                // A no-op update keeps the row that is there (unlike INSERT IGNORE, it does not
                // turn bad values into warnings).
                let k = &table.columns[table.key.as_deref().expect("keyed table")[0]].name;
                Some(("INSERT", Some(format!(" ON DUPLICATE KEY UPDATE {k} = {k}"))))
            }
            Some(ConflictPolicy::Overwrite) => Some((verb, tail.clone())),
            None => None,
        };
        WriteForms { verb, tail, fresh }
    }
}

/// The final images, in multi-row statements (a pass for keys that existed, one for fresh keys
/// of a merged table). Returns the written keys (`(k) OR (k)`) when the table has a row filter.
pub(super) fn keyed_writes(table: &ApplyTable, slots: &[Slot], out: &mut Vec<Planned>) -> SqlBytes {
    let forms = WriteForms::of(table);
    let ignore = table.merge.as_ref().is_some_and(|m| m.policy == ConflictPolicy::Ignore);
    let mut filter_keys = SqlBytes::default();
    for fresh_pass in [false, true] {
        let (verb, tail) = match (fresh_pass, &forms.fresh) {
            (false, _) => (forms.verb, forms.tail.clone()),
            (true, Some((v, t))) => (*v, t.clone()),
            (true, None) => continue,
        };
        let rows = slots.iter().filter(|s| s.row.is_some() && (forms.fresh.is_none() || s.fresh == fresh_pass));
        // Ignore: a kept row and an inserted one both count as affected (found rows), so the
        // keys already taken are counted before the insert.
        let count_taken = fresh_pass && ignore;
        write_pass(table, rows, (verb, tail.as_deref()), (fresh_pass, count_taken), &mut filter_keys, out);
    }
    filter_keys
}

/// One pass of [`keyed_writes`]: statements cut by bytes.
pub(super) fn write_pass<'a>(
    table: &ApplyTable,
    rows: impl Iterator<Item = &'a Slot>,
    (verb, tail): (&str, Option<&str>),
    (fresh_pass, count_taken): (bool, bool),
    filter_keys: &mut SqlBytes,
    out: &mut Vec<Planned>,
) {
    let cols = table.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let (mut sql, mut n, mut taken) = (SqlBytes::default(), 0u64, SqlBytes::default());
    let end = |sql: &mut SqlBytes, n: &mut u64, taken: &mut SqlBytes, out: &mut Vec<Planned>| {
        if let Some(t) = tail {
            sql.push_str(t);
        }
        let taken = count_taken.then(|| std::mem::take(taken));
        out.push((std::mem::take(sql), if fresh_pass { std::mem::take(n) } else { 0 }, taken));
        *n = 0;
    };
    for s in rows {
        let row = s.row.as_ref().expect("filtered");
        if sql.is_empty() {
            let _ = write!(sql, "{verb} INTO {} ({cols}) VALUES ", table.target);
        } else {
            sql.push_str(", ");
        }
        values(&mut sql, table, row);
        n += 1;
        if count_taken {
            taken.push_or_key(format_args!("SELECT COUNT(*) FROM {}", table.target), &s.key);
        }
        if table.filter.is_some() {
            // `(k = v AND (filter on the row's values) IS NOT TRUE) OR ...`
            if !filter_keys.is_empty() {
                filter_keys.push_str(" OR ");
            }
            filter_keys.push_str("((");
            filter_keys.push_sql(&s.key);
            filter_keys.push_str(") AND ");
            filter_keys.push_sql(&filter_on_values(table, row));
            filter_keys.push_str(" IS NOT TRUE)");
        }
        if sql.len() > STATEMENT_BYTES {
            end(&mut sql, &mut n, &mut taken, out);
        }
    }
    if !sql.is_empty() {
        end(&mut sql, &mut n, &mut taken, out);
    }
}

/// A table without a key: every change in order, rows matched whole, one at a time.
pub(super) fn keyless_statements(table: &ApplyTable, ops: Vec<super::group::RowImages>, out: &mut Vec<Planned>) {
    let cols = table.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let mut inserts = SqlBytes::default();
    for (before, after) in ops {
        match (before, after) {
            (None, Some(a)) => {
                if table.filter.is_some() {
                    // The row filter decides on the target, one row at a time.
                    let mut s = SqlBytes::default();
                    let _ = write!(s, "INSERT INTO {} ({cols}) SELECT ", table.target);
                    select_values(&mut s, table, &a);
                    s.push_str(" FROM DUAL WHERE ");
                    s.push_sql(&filter_on_values(table, &a));
                    s.push_str(" IS TRUE");
                    out.push((s, 0, None));
                    continue;
                }
                if inserts.is_empty() {
                    let _ = write!(inserts, "INSERT INTO {} ({cols}) VALUES ", table.target);
                } else {
                    inserts.push_str(", ");
                }
                values(&mut inserts, table, &a);
                if inserts.len() > STATEMENT_BYTES {
                    out.push((std::mem::take(&mut inserts), 0, None));
                }
            }
            (Some(b), after) => {
                if !inserts.is_empty() {
                    out.push((std::mem::take(&mut inserts), 0, None));
                }
                let mut s = SqlBytes::default();
                match &after {
                    None => {
                        let _ = write!(s, "DELETE FROM {} WHERE ", table.target);
                    }
                    Some(a) => set_all(&mut s, table, a),
                }
                whole_row_match(&mut s, table, &b);
                s.push_str(" LIMIT 1");
                out.push((s, 0, None));
            }
            (None, None) => {}
        }
    }
    if !inserts.is_empty() {
        out.push((inserts, 0, None));
    }
}

pub(super) fn values(sql: &mut SqlBytes, table: &ApplyTable, row: &[Value]) {
    sql.push('(');
    select_values(sql, table, row);
    sql.push(')');
}

pub(super) fn select_values(sql: &mut SqlBytes, table: &ApplyTable, row: &[Value]) {
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        literal(sql, &c.lit, &row[i]);
    }
}

/// `(SELECT (filter) FROM (SELECT v1 AS c1, ...) AS ferry_row)`: the filter evaluated on one row
/// image by the target itself, without rewriting the filter's text.
pub(super) fn filter_on_values(table: &ApplyTable, row: &[Value]) -> SqlBytes {
    let f = table.filter.as_deref().unwrap_or("TRUE");
    let mut s = SqlBytes::default();
    let _ = write!(s, "(SELECT ({f}) FROM (SELECT ");
    let at = table.columns.len();
    for (i, c) in table.filter_columns.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        literal(&mut s, &c.lit, row.get(at + i).unwrap_or(&Value::NULL));
        let _ = write!(s, " AS {}", c.name);
    }
    if table.filter_columns.is_empty() {
        s.push_str("1 AS ferry_none");
    }
    s.push_str(") AS ferry_row)");
    s
}

/// `c1 <=> v1 AND c2 <=> v2 ...`: NULL-safe, byte-exact match of a whole row.
pub(super) fn whole_row_match(sql: &mut SqlBytes, table: &ApplyTable, row: &[Value]) {
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        sql.push_str(&c.name);
        sql.push_str(" <=> ");
        literal(sql, &c.lit, &row[i]);
    }
}

/// `UPDATE t SET c1 = v1, ... WHERE ` (every written column).
pub(super) fn set_all(sql: &mut SqlBytes, table: &ApplyTable, row: &[Value]) {
    let _ = write!(sql, "UPDATE {} SET ", table.target);
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let _ = write!(sql, "{} = ", c.name);
        literal(sql, &c.lit, &row[i]);
    }
    sql.push_str(" WHERE ");
}
