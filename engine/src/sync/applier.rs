//! Writes source row changes to the target. Whole source transactions are grouped into one target
//! transaction that also moves the checkpoint, so the target never shows half a source transaction
//! and a crash can neither lose nor repeat one.
//!
//! Within a group, changes to a keyed table are folded by key into their net effect (deleted, or
//! its last row image) and written as one multi-row DELETE and one multi-row REPLACE: far fewer
//! statements than the source ran, and idempotent, so replaying an already-applied stretch of
//! binlog (after the full copy, whose snapshots are newer than where replay starts) converges to
//! the same rows. Tables without a key keep every change in order, one row at a time.
//!
//! A merged table (many-to-one: other tasks write it too) treats a key this group brings into
//! being (an insert, or an update moving a row onto it) by `spec.conflictPolicy`: Fail inserts
//! plainly, so that a row another task wrote there fails the task naming the key and that task;
//! Ignore keeps the row that is there; Overwrite upserts as for any other table. Such tables are
//! copied at one snapshot, whose position replay starts after, so a plain insert never meets the
//! task's own copied row.

use std::collections::HashMap;
use std::fmt::Write as _;

use std::sync::Arc;

use mysql_async::prelude::*;
use mysql_async::{Conn, Value};

use ferry_crds::ConflictPolicy;

use crate::codec::{Codec, SqlBytes, literal};
use crate::db::codes::{self, REFUSED_BY_KEYS};
use crate::db::{Server, qt, short};
use crate::error::{Error, Result};
use crate::plan::mapping::Merge;

/// Statements are cut at about this size (max_allowed_packet is 16 MiB or more everywhere).
const STATEMENT_BYTES: usize = 1 << 20;

/// The player still names the codec by its old name.
pub use crate::codec::Codec as Lit;

/// One target column the applier writes, and where its value sits in the binlog row.
#[derive(Clone, Debug)]
pub struct ApplyColumn {
    pub binlog_index: usize,
    /// Quoted target name.
    pub name: String,
    pub lit: Codec,
}

/// How one source table's changes are written.
#[derive(Debug)]
pub struct ApplyTable {
    /// `db.table` on the source, for messages.
    pub source: String,
    /// Quoted `db`.`table` on the target.
    pub target: String,
    pub columns: Vec<ApplyColumn>,
    /// Positions in `columns` of the key (primary, or unique NOT NULL); None: no key.
    pub key: Option<Vec<usize>>,
    /// Merged with other tasks' rows: how an insert meets a key that is taken.
    pub merge: Option<Merge>,
    /// Row filter (source column names; validated to be the target's too).
    pub filter: Option<String>,
    /// The key is the table's only unique index: a final image can only collide with the row of
    /// its own key, so an upsert is exact, cheaper than REPLACE, and keeps target-only columns.
    pub upsert: bool,
    /// One more than the largest `binlog_index`.
    pub binlog_width: usize,
    /// The target's foreign keys change other tables' rows when this table's rows go or change
    /// (None: they never do). Set where the player learns the target's foreign keys.
    pub cascade: Option<Cascade>,
}

/// What the target's foreign keys do to other tables when a row of a table changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cascade {
    /// Deleting a row changes rows that reference it (ON DELETE CASCADE, SET NULL, SET DEFAULT).
    pub on_delete: bool,
    /// Positions in `columns` that other tables reference with ON UPDATE CASCADE, SET NULL or
    /// SET DEFAULT: an update that changes one of them changes the rows that reference it.
    pub on_update: Vec<usize>,
}

impl ApplyTable {
    /// Whether the target's foreign keys would change other rows for this row change (images as
    /// the binlog has them): a delete, or an update of a referenced column (compared byte for
    /// byte, as InnoDB decides whether a referenced value changed).
    fn cascades(&self, before: Option<&[Value]>, after: Option<&[Value]>) -> bool {
        let Some(c) = &self.cascade else { return false };
        match (before, after) {
            (Some(_), None) => c.on_delete,
            (Some(b), Some(a)) => c.on_update.iter().any(|&i| {
                let j = self.columns[i].binlog_index;
                b.get(j) != a.get(j)
            }),
            _ => false,
        }
    }

    /// Rows must reach every column the table reads (the widest index is kept at construction,
    /// so the per-row check is one comparison).
    fn check_width(&self, row: &[Value]) -> Result<()> {
        if row.len() < self.binlog_width {
            return Err(Error::object(&self.source, format!("a binlog row has {} columns; {} expected", row.len(), self.binlog_width)));
        }
        Ok(())
    }

    /// The written columns of a binlog row, moved out of it (no copy of the values).
    fn project(&self, mut row: Vec<Value>) -> Result<Vec<Value>> {
        self.check_width(&row)?;
        Ok(self.columns.iter().map(|c| std::mem::replace(&mut row[c.binlog_index], Value::NULL)).collect())
    }

    /// `k1 = v1 AND ...` of a binlog row (`binlog` true) or of a projected one.
    fn key_text(&self, row: &[Value], key: &[usize], binlog: bool) -> SqlBytes {
        let mut s = SqlBytes::default();
        for (n, &i) in key.iter().enumerate() {
            if n > 0 {
                s.push_str(" AND ");
            }
            s.push_str(&self.columns[i].name);
            s.push_str(" = ");
            let v = if binlog { &row[self.columns[i].binlog_index] } else { &row[i] };
            literal(&mut s, &self.columns[i].lit, v);
        }
        s
    }
}

/// The net effect on one key within a group.
struct Slot {
    /// `k1 = v1 AND k2 = v2`: identifies the row, and is the key of the fold.
    key: SqlBytes,
    row: Option<Vec<Value>>,
    /// The key's first change in the group brought it into being (an insert, or an update
    /// moving a row onto it): on the source no row had it before.
    fresh: bool,
}

enum Changes {
    Keyed { slots: Vec<Slot>, index: HashMap<SqlBytes, usize> },
    Keyless(Vec<(Option<Vec<Value>>, Option<Vec<Value>>)>),
}

/// Changes waiting to be written, possibly spanning several source transactions.
///
/// Folding by table loses the order between tables, which only foreign keys care about. The
/// applier's session writes with `foreign_key_checks = 0`, so they check and cascade nothing,
/// except for a change whose cascade the source did not log (see `add_cascading`): that one must
/// meet the rows of the other tables exactly as the source had them at that point, so it ends
/// the folded part before it and is applied on its own, with the foreign keys on; folding goes
/// on after it.
#[derive(Default)]
pub struct Group {
    /// The part being folded.
    tables: Vec<(Arc<ApplyTable>, Changes)>,
    by_table: HashMap<*const ApplyTable, usize>,
    /// The parts before it, in source order.
    earlier: Vec<Part>,
    /// Rough memory held, to flush a very large transaction in parts.
    pub bytes: usize,
    /// Source row changes received.
    pub rows: u64,
    /// Bytes of row data in them (before and after images), for the status's byte rate.
    pub data_bytes: u64,
}

/// A stretch of a group, in source order.
enum Part {
    /// Changes folded by table and key.
    Folded(Vec<(Arc<ApplyTable>, Changes)>),
    /// Changes that the target's foreign keys cascade, one after the other.
    Cascading(Vec<Cascaded>),
}

/// A delete, or an update of referenced columns, that the target's foreign keys cascade.
struct Cascaded {
    table: Arc<ApplyTable>,
    /// Projected images (`ApplyTable::project`).
    before: Vec<Value>,
    after: Option<Vec<Value>>,
}

// The raw pointer only identifies an Arc'd table that `tables` keeps alive.
unsafe impl Send for Group {}

impl Group {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.earlier.is_empty()
    }

    fn count(&mut self, before: &Option<Vec<Value>>, after: &Option<Vec<Value>>) {
        self.rows += 1;
        for image in [before, after].into_iter().flatten() {
            let (data, held) = image_sizes(image);
            self.data_bytes += data;
            self.bytes += held;
        }
        self.bytes += 64;
    }

    /// Adds one row change (before image for updates and deletes, after image for inserts and
    /// updates, both as the binlog has them), in source order. Written with the target's foreign
    /// keys off.
    pub fn add(&mut self, table: &Arc<ApplyTable>, before: Option<Vec<Value>>, after: Option<Vec<Value>>) -> Result<()> {
        self.count(&before, &after);
        self.fold(table, before, after, true)
    }

    /// Adds a row change whose foreign-key actions the source ran without logging them (InnoDB's
    /// cascades): when the target's foreign keys cascade it too (`ApplyTable::cascade`), it is
    /// applied on its own, in source order with the changes around it, with
    /// `foreign_key_checks = 1`, so that the target changes the rows that reference it as the
    /// source did: a DELETE by key, a real UPDATE (never REPLACE, whose delete would cascade as a
    /// delete). Any other change is folded as by `add`.
    pub fn add_cascading(&mut self, table: &Arc<ApplyTable>, before: Option<Vec<Value>>, after: Option<Vec<Value>>) -> Result<()> {
        if !table.cascades(before.as_deref(), after.as_deref()) {
            return self.add(table, before, after);
        }
        self.count(&before, &after);
        let before = table.project(before.expect("a cascading change has a before image"))?;
        let after = after.map(|a| table.project(a)).transpose()?;
        if !self.tables.is_empty() {
            self.by_table.clear();
            self.earlier.push(Part::Folded(std::mem::take(&mut self.tables)));
        }
        // A row filter decides on the final image, after the statement: a row entering or leaving
        // the selection is written or removed like any other (with the foreign keys off: the
        // source kept what references a row that only leaves the selection).
        let refold = table.key.is_some() && table.filter.is_some() && after.is_some();
        let again = refold.then(|| (before.clone(), after.clone()));
        let change = Cascaded { table: table.clone(), before, after };
        match self.earlier.last_mut() {
            Some(Part::Cascading(list)) => list.push(change),
            _ => self.earlier.push(Part::Cascading(vec![change])),
        }
        if let Some((b, a)) = again {
            self.fold(table, Some(b), a, false)?;
        }
        Ok(())
    }

    /// Folds one change into the part being folded; `binlog`: the images are as the binlog has
    /// them (else projected already).
    fn fold(&mut self, table: &Arc<ApplyTable>, before: Option<Vec<Value>>, after: Option<Vec<Value>>, binlog: bool) -> Result<()> {
        let project = |r: Vec<Value>| if binlog { table.project(r) } else { Ok(r) };
        let idx = match self.by_table.get(&Arc::as_ptr(table)) {
            Some(&i) => i,
            None => {
                let changes = match &table.key {
                    Some(_) => Changes::Keyed { slots: Vec::new(), index: HashMap::new() },
                    None => Changes::Keyless(Vec::new()),
                };
                self.tables.push((table.clone(), changes));
                self.by_table.insert(Arc::as_ptr(table), self.tables.len() - 1);
                self.tables.len() - 1
            }
        };
        match &mut self.tables[idx].1 {
            Changes::Keyless(ops) => {
                let before = before.map(project).transpose()?;
                let after = after.map(project).transpose()?;
                ops.push((before, after));
            }
            Changes::Keyed { slots, index } => {
                let key_cols = table.key.as_deref().expect("keyed table");
                let mut put = |key: SqlBytes, row: Option<Vec<Value>>, fresh: bool| match index.get(&key) {
                    Some(&i) => slots[i].row = row,
                    None => {
                        index.insert(key.clone(), slots.len());
                        slots.push(Slot { key, row, fresh });
                    }
                };
                // Of the before image only the key matters.
                let bk = match &before {
                    Some(b) => {
                        if binlog {
                            table.check_width(b)?;
                        }
                        Some(table.key_text(b, key_cols, binlog))
                    }
                    None => None,
                };
                let after = after.map(project).transpose()?;
                let ak = after.as_ref().map(|a| table.key_text(a, key_cols, false));
                // An update that keeps its key only replaces the image; one that moves the key
                // (or a delete) removes the old row.
                let keeps_key = bk.is_some() && ak == bk;
                if let Some(bk) = bk
                    && !keeps_key
                {
                    put(bk, None, false);
                }
                if let (Some(ak), Some(a)) = (ak, after) {
                    put(ak, Some(a), !keeps_key);
                }
            }
        }
        Ok(())
    }

    /// Turns the group into the statements that apply it (built by the caller's task, so that
    /// the writer only has to send them).
    pub fn seal(self) -> Batch {
        let mut statements = Vec::new();
        for part in self.earlier.into_iter().chain([Part::Folded(self.tables)]) {
            match part {
                Part::Folded(tables) => {
                    for (table, changes) in tables {
                        let keyless = matches!(changes, Changes::Keyless(_));
                        for (sql, fresh_rows, taken) in statements_of(&table, changes) {
                            let must_match = keyless && !sql.0.starts_with(b"INSERT");
                            statements.push(Statement { table: table.clone(), must_match, fresh_rows, taken, sql, cascade: None });
                        }
                    }
                }
                Part::Cascading(list) => cascading_statements(list, &mut statements),
            }
        }
        Batch { statements, rows: self.rows, data_bytes: self.data_bytes }
    }
}

/// The statements of changes the target's foreign keys cascade, in order. Deletes of one table
/// next to each other share a statement (their cascades do not depend on each other's order).
fn cascading_statements(list: Vec<Cascaded>, out: &mut Vec<Statement>) {
    let mut list = list.into_iter().peekable();
    while let Some(Cascaded { table, before, after }) = list.next() {
        let mut sql = SqlBytes::default();
        let mut fallback = Vec::new();
        match (&table.key, after) {
            (Some(key), None) => {
                // A run of this table's deletes shares statements (`k IN (...)`, as any delete);
                // refused, each runs again as it is, foreign keys off.
                let mut slots = vec![Slot { key: table.key_text(&before, key, false), row: None, fresh: false }];
                while list.peek().is_some_and(|c| Arc::ptr_eq(&c.table, &table) && c.after.is_none()) {
                    let next = list.next().expect("peeked");
                    slots.push(Slot { key: table.key_text(&next.before, key, false), row: None, fresh: false });
                }
                for (sql, ..) in statements_of(&table, Changes::Keyed { slots, index: HashMap::new() }) {
                    let cascade = Some(vec![sql.clone()]);
                    out.push(Statement { table: table.clone(), sql, must_match: false, fresh_rows: 0, taken: None, cascade });
                }
                continue;
            }
            (Some(key), Some(a)) => {
                let bk = table.key_text(&before, key, false);
                set_all(&mut sql, &table, &a);
                sql.push_sql(&bk);
                // Refused (the target is ahead of or apart from the source: a key taken, a
                // reference missing): the change as any other, foreign keys off.
                let ak = table.key_text(&a, key, false);
                let mut slots = Vec::new();
                if ak != bk {
                    slots.push(Slot { key: bk, row: None, fresh: false });
                }
                let fresh = slots.len() == 1;
                slots.push(Slot { key: ak, row: Some(a), fresh });
                fallback = statements_of(&table, Changes::Keyed { slots, index: HashMap::new() }).into_iter().map(|s| s.0).collect();
            }
            (None, after) => {
                // One keyless change is one statement (matching its whole row, LIMIT 1).
                let mut one = statements_of(&table, Changes::Keyless(vec![(Some(before), after)]));
                sql = one.pop().map(|s| s.0).unwrap_or_default();
                fallback.push(sql.clone());
            }
        }
        let must_match = table.key.is_none();
        out.push(Statement { table, sql, must_match, fresh_rows: 0, taken: None, cascade: Some(fallback) });
    }
}

/// `UPDATE t SET c1 = v1, ... WHERE ` (every written column).
fn set_all(sql: &mut SqlBytes, table: &ApplyTable, row: &[Value]) {
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

/// One statement of a batch, and the table it writes.
pub struct Statement {
    table: Arc<ApplyTable>,
    sql: SqlBytes,
    /// A keyless row change that must find its row.
    must_match: bool,
    /// Rows of a merged table's insert of fresh keys (0 for any other statement).
    fresh_rows: u64,
    /// Under conflictPolicy Ignore: counts the fresh keys already on the target.
    taken: Option<SqlBytes>,
    /// A change the target's foreign keys cascade: run with `foreign_key_checks = 1`. Holds what
    /// runs instead, with them off, when the target refuses it (a restricting or missing
    /// reference, a taken key: the target is not where the source was, e.g. replaying over a
    /// newer copy).
    cascade: Option<Vec<SqlBytes>>,
}

/// The statements of a sealed group.
#[derive(Default)]
pub struct Batch {
    statements: Vec<Statement>,
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
    async fn run(self, target: &Server, conn: &mut Conn, checks: &mut bool) -> Result<u64> {
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

async fn fk_checks(target: &Server, conn: &mut Conn, on: bool) -> Result<()> {
    let sql = if on { "SET foreign_key_checks = 1" } else { "SET foreign_key_checks = 0" };
    conn.query_drop(sql).await.map_err(target.err(sql))
}

/// A row image's size in one pass: its data (strings and blobs by their length, other values as
/// 8 bytes), for the status, and roughly the memory it holds, to bound a group.
fn image_sizes(r: &[Value]) -> (u64, usize) {
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
            "merge conflict: task {} inserts a row from {source_table} on {} whose key ({key}) is taken by a row written by {by}: {detail};              spec.conflictPolicy is Fail: remove or re-key one of the two rows and restart the task, or set conflictPolicy: Overwrite or Ignore",
            m.task, m.source
        ),
    )
}

/// The statements that bring the target to the group's net effect for one table, each with the
/// number of rows it inserts under fresh keys of a merged table.
fn statements_of(table: &ApplyTable, changes: Changes) -> Vec<(SqlBytes, u64, Option<SqlBytes>)> {
    let mut out = Vec::new();
    match changes {
        Changes::Keyed { slots, .. } => {
            // Deletes first: a key is either deleted or has a final image, never both. Batches stay
            // small enough for the range optimizer to use the key rather than scan the table.
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
                out.push((std::mem::take(&mut sql), 0, None));
            }
            // REPLACE, not INSERT .. ON DUPLICATE KEY UPDATE: a final image that collides on a
            // unique key with a row this group also changes must displace it, not merge into it.
            let cols = table.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
            let upsert_tail = table.upsert.then(|| {
                let sets: Vec<String> = table.columns.iter().map(|c| format!("{0} = VALUES({0})", c.name)).collect();
                format!(" ON DUPLICATE KEY UPDATE {}", sets.join(", "))
            });
            let verb = if table.upsert { "INSERT" } else { "REPLACE" };
            // Fresh keys of a merged table, by the conflict policy, in statements of their own so
            // that their affected rows tell the conflicts met (Overwrite: written as any other row).
            let ignore = table.merge.as_ref().is_some_and(|m| m.policy == ConflictPolicy::Ignore);
            let fresh_write = match table.merge.as_ref().map(|m| m.policy) {
                Some(ConflictPolicy::Fail) => Some(("INSERT", None)),
                Some(ConflictPolicy::Ignore) => {
                    // A no-op update keeps the row that is there (unlike INSERT IGNORE, it does not
                    // turn bad values into warnings).
                    let k = &table.columns[key_cols[0]].name;
                    Some(("INSERT", Some(format!(" ON DUPLICATE KEY UPDATE {k} = {k}"))))
                }
                Some(ConflictPolicy::Overwrite) => Some((verb, upsert_tail.clone())),
                None => None,
            };
            let mut filter_keys = SqlBytes::default();
            for fresh_pass in [false, true] {
                let (verb, tail) = match (fresh_pass, &fresh_write) {
                    (false, _) => (verb, upsert_tail.clone()),
                    (true, Some((v, t))) => (*v, t.clone()),
                    (true, None) => continue,
                };
                let in_pass = |s: &&Slot| s.row.is_some() && (fresh_write.is_none() || s.fresh == fresh_pass);
                let mut n = 0u64;
                // Ignore: a kept row and an inserted one both count as affected (found rows), so
                // the keys already taken are counted before the insert.
                let count_taken = fresh_pass && ignore;
                let mut taken = SqlBytes::default();
                let end = |sql: &mut SqlBytes, n: &mut u64, taken: &mut SqlBytes, out: &mut Vec<(SqlBytes, u64, Option<SqlBytes>)>| {
                    if let Some(t) = &tail {
                        sql.push_str(t);
                    }
                    let taken = count_taken.then(|| std::mem::take(taken));
                    out.push((std::mem::take(sql), if fresh_pass { std::mem::take(n) } else { 0 }, taken));
                    *n = 0;
                };
                for s in slots.iter().filter(in_pass) {
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
                        if !filter_keys.is_empty() {
                            filter_keys.push_str(" OR ");
                        }
                        filter_keys.push('(');
                        filter_keys.push_sql(&s.key);
                        filter_keys.push(')');
                    }
                    if sql.len() > STATEMENT_BYTES {
                        end(&mut sql, &mut n, &mut taken, &mut out);
                    }
                }
                if !sql.is_empty() {
                    end(&mut sql, &mut n, &mut taken, &mut out);
                }
            }
            // Pre-image semantics of a row filter: a row whose last image fails the filter is not
            // (or no longer) selected.
            if let (Some(f), false) = (&table.filter, filter_keys.is_empty()) {
                let mut d = SqlBytes::default();
                let _ = write!(d, "DELETE FROM {} WHERE (", table.target);
                d.push_sql(&filter_keys);
                let _ = write!(d, ") AND (({f}) IS NOT TRUE)");
                out.push((d, 0, None));
            }
        }
        Changes::Keyless(ops) => {
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
    }
    out
}

fn values(sql: &mut SqlBytes, table: &ApplyTable, row: &[Value]) {
    sql.push('(');
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        literal(sql, &c.lit, &row[i]);
    }
    sql.push(')');
}

fn select_values(sql: &mut SqlBytes, table: &ApplyTable, row: &[Value]) {
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        literal(sql, &c.lit, &row[i]);
    }
}

/// `(SELECT (filter) FROM (SELECT v1 AS c1, ...) AS ferry_row)`: the filter evaluated on one row
/// image by the target itself, without rewriting the filter's text.
fn filter_on_values(table: &ApplyTable, row: &[Value]) -> SqlBytes {
    let f = table.filter.as_deref().unwrap_or("TRUE");
    let mut s = SqlBytes::default();
    let _ = write!(s, "(SELECT ({f}) FROM (SELECT ");
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        literal(&mut s, &c.lit, &row[i]);
        let _ = write!(s, " AS {}", c.name);
    }
    s.push_str(") AS ferry_row)");
    s
}

/// `c1 <=> v1 AND c2 <=> v2 ...`: NULL-safe, byte-exact match of a whole row.
fn whole_row_match(sql: &mut SqlBytes, table: &ApplyTable, row: &[Value]) {
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        sql.push_str(&c.name);
        sql.push_str(" <=> ");
        literal(sql, &c.lit, &row[i]);
    }
}

/// Applies a group in one target transaction, moving the checkpoint with it. Returns the merge
/// conflicts met (see `Batch::apply`).
pub async fn commit_batch(
    target: &Server,
    conn: &mut Conn,
    batch: Batch,
    checkpoint_sql: &str,
    params: Vec<Value>,
    checkpoint_rows: u64,
) -> Result<u64> {
    let conflicts = batch.apply(target, conn).await?;
    conn.exec_drop(checkpoint_sql, params).await.map_err(target.err("moving the checkpoint"))?;
    // Fewer rows than the lane's slots: another engine claimed the task (a new epoch).
    if conn.affected_rows() != checkpoint_rows {
        let _ = conn.query_drop("ROLLBACK").await;
        return Err(Error::Fenced);
    }
    conn.query_drop("COMMIT").await.map_err(target.err("committing applied changes"))?;
    Ok(conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(key: bool) -> Arc<ApplyTable> {
        Arc::new(ApplyTable {
            source: "s.t".into(),
            target: "`d`.`t`".into(),
            columns: vec![
                ApplyColumn { binlog_index: 0, name: "`id`".into(), lit: Codec::Number },
                ApplyColumn { binlog_index: 2, name: "`v`".into(), lit: Codec::Str("utf8mb4".into()) },
            ],
            key: key.then(|| vec![0]),
            filter: None,
            upsert: false,
            merge: None,
            binlog_width: 3,
            cascade: None,
        })
    }

    /// `d.t` as a parent: deleting a row cascades, and so does changing `v` (referenced).
    fn parent() -> Arc<ApplyTable> {
        let mut t = Arc::try_unwrap(table(true)).unwrap();
        t.cascade = Some(Cascade { on_delete: true, on_update: vec![1] });
        Arc::new(t)
    }

    fn child() -> Arc<ApplyTable> {
        let mut t = Arc::try_unwrap(table(true)).unwrap();
        t.target = "`d`.`c`".into();
        Arc::new(t)
    }

    /// (statement, run with foreign_key_checks = 1)
    fn ordered(g: Group) -> Vec<(String, bool)> {
        g.seal().statements.iter().map(|s| (s.sql.text(), s.cascade.is_some())).collect()
    }

    /// A change the target's foreign keys cascade ends the folded part before it and runs alone,
    /// with the keys on: the child inserted before the parent's delete is there when the delete
    /// cascades, the parent and child written after it are not touched by it.
    #[test]
    fn cascading_changes_keep_their_place_between_folded_ones() {
        let (p, c) = (parent(), child());
        let mut g = Group::default();
        g.add(&c, None, Some(row(10, "child of 1"))).unwrap();
        g.add_cascading(&p, Some(row(1, "a")), None).unwrap();
        g.add(&p, None, Some(row(1, "again"))).unwrap();
        g.add(&c, None, Some(row(11, "child of the new 1"))).unwrap();
        g.add_cascading(&p, Some(row(2, "b")), None).unwrap();
        g.add_cascading(&p, Some(row(3, "c")), None).unwrap(); // next to the last: one statement
        g.add_cascading(&p, Some(row(4, "d")), Some(row(4, "d2"))).unwrap(); // a referenced column
        g.add_cascading(&p, Some(row(5, "e")), Some(row(5, "e"))).unwrap(); // nothing referenced changes
        g.add_cascading(&c, Some(row(10, "x")), None).unwrap(); // c cascades nothing: folded
        assert_eq!(g.rows, 9);
        let r = |s: &str, on: bool| (s.to_string(), on);
        assert_eq!(
            ordered(g),
            vec![
                r("REPLACE INTO `d`.`c` (`id`, `v`) VALUES (10, _utf8mb4'child of 1')", false),
                r("DELETE FROM `d`.`t` WHERE `id` IN (1)", true),
                r("REPLACE INTO `d`.`t` (`id`, `v`) VALUES (1, _utf8mb4'again')", false),
                r("REPLACE INTO `d`.`c` (`id`, `v`) VALUES (11, _utf8mb4'child of the new 1')", false),
                r("DELETE FROM `d`.`t` WHERE `id` IN (2, 3)", true),
                r("UPDATE `d`.`t` SET `id` = 4, `v` = _utf8mb4'd2' WHERE `id` = 4", true),
                r("REPLACE INTO `d`.`t` (`id`, `v`) VALUES (5, _utf8mb4'e')", false),
                r("DELETE FROM `d`.`c` WHERE `id` IN (10)", false),
            ]
        );
    }

    /// What runs instead when the target refuses a cascading change: the change as any other.
    #[test]
    fn a_refused_cascading_change_falls_back_to_the_plain_one() {
        let p = parent();
        let mut g = Group::default();
        g.add_cascading(&p, Some(row(1, "a")), Some(row(7, "b"))).unwrap(); // the key moves
        g.add_cascading(&p, Some(row(2, "a")), None).unwrap();
        let b = g.seal();
        let fallback: Vec<Vec<String>> = b.statements.iter().map(|s| s.cascade.iter().flatten().map(|q| q.text()).collect()).collect();
        assert_eq!(b.statements[0].sql.text(), "UPDATE `d`.`t` SET `id` = 7, `v` = _utf8mb4'b' WHERE `id` = 1");
        assert_eq!(
            fallback,
            vec![
                vec![
                    "DELETE FROM `d`.`t` WHERE `id` IN (1)".to_string(),
                    "REPLACE INTO `d`.`t` (`id`, `v`) VALUES (7, _utf8mb4'b')".to_string()
                ],
                vec!["DELETE FROM `d`.`t` WHERE `id` IN (2)".to_string()],
            ]
        );
        // A keyless parent matches the whole row, one row.
        let mut t = Arc::try_unwrap(table(false)).unwrap();
        t.cascade = Some(Cascade { on_delete: true, on_update: vec![] });
        let t = Arc::new(t);
        let mut g = Group::default();
        g.add_cascading(&t, Some(row(1, "a")), None).unwrap();
        assert_eq!(ordered(g), vec![("DELETE FROM `d`.`t` WHERE `id` <=> 1 AND `v` <=> _utf8mb4'a' LIMIT 1".to_string(), true)]);
    }

    fn merged(policy: ConflictPolicy) -> Arc<ApplyTable> {
        let mut t = Arc::try_unwrap(table(true)).unwrap();
        t.upsert = true;
        t.merge = Some(Merge {
            policy,
            task: "ns/a".into(),
            source: "src:3306".into(),
            metadata_database: "ferry_meta".into(),
            target: ("d".into(), "t".into()),
        });
        Arc::new(t)
    }

    /// In a merged table only keys the group brings into being are inserted by the policy;
    /// changes of rows the source had before are written as for any table.
    #[test]
    fn merged_tables_insert_fresh_keys_by_the_conflict_policy() {
        let group = |t: &Arc<ApplyTable>| {
            let mut g = Group::default();
            g.add(t, None, Some(row(1, "new"))).unwrap(); // insert: fresh
            g.add(t, Some(row(2, "old")), Some(row(2, "upd"))).unwrap(); // update in place
            g.add(t, Some(row(3, "x")), Some(row(4, "x"))).unwrap(); // key moves onto 4: fresh
            g.add(t, Some(row(5, "x")), None).unwrap(); // deleted ...
            g.add(t, None, Some(row(5, "back"))).unwrap(); // ... and back: the source had 5
            g
        };
        let upsert = "ON DUPLICATE KEY UPDATE `id` = VALUES(`id`), `v` = VALUES(`v`)";
        let t = merged(ConflictPolicy::Fail);
        let b = group(&t).seal();
        let fresh: Vec<u64> = b.statements.iter().map(|s| s.fresh_rows).collect();
        assert_eq!(
            b.statements.iter().map(|s| s.sql.text()).collect::<Vec<_>>(),
            vec![
                "DELETE FROM `d`.`t` WHERE `id` IN (3)".to_string(),
                format!("INSERT INTO `d`.`t` (`id`, `v`) VALUES (2, _utf8mb4'upd'), (5, _utf8mb4'back') {upsert}"),
                "INSERT INTO `d`.`t` (`id`, `v`) VALUES (1, _utf8mb4'new'), (4, _utf8mb4'x')".to_string(),
            ]
        );
        assert_eq!(fresh, vec![0, 0, 2]);
        let t = merged(ConflictPolicy::Ignore);
        let b = group(&t).seal();
        assert_eq!(
            b.statements[2].sql.text(),
            "INSERT INTO `d`.`t` (`id`, `v`) VALUES (1, _utf8mb4'new'), (4, _utf8mb4'x') ON DUPLICATE KEY UPDATE `id` = `id`"
        );
        // The keys it may find taken are counted first; no other statement counts.
        let taken: Vec<Option<String>> = b.statements.iter().map(|s| s.taken.as_ref().map(|q| q.text())).collect();
        assert_eq!(taken, vec![None, None, Some("SELECT COUNT(*) FROM `d`.`t` WHERE (`id` = 1) OR (`id` = 4)".to_string())]);
        // Overwrite writes fresh keys as any other row, in a statement of their own (counted).
        let t = merged(ConflictPolicy::Overwrite);
        let b = group(&t).seal();
        assert_eq!(
            b.statements.iter().map(|s| s.sql.text()).collect::<Vec<_>>(),
            vec![
                "DELETE FROM `d`.`t` WHERE `id` IN (3)".to_string(),
                format!("INSERT INTO `d`.`t` (`id`, `v`) VALUES (2, _utf8mb4'upd'), (5, _utf8mb4'back') {upsert}"),
                format!("INSERT INTO `d`.`t` (`id`, `v`) VALUES (1, _utf8mb4'new'), (4, _utf8mb4'x') {upsert}"),
            ]
        );
        assert_eq!(b.statements.iter().map(|s| s.fresh_rows).collect::<Vec<_>>(), vec![0, 0, 2]);
    }

    fn row(id: i64, v: &str) -> Vec<Value> {
        vec![Value::Int(id), Value::Bytes(b"unselected".to_vec()), Value::Bytes(v.as_bytes().to_vec())]
    }

    fn texts(_t: &ApplyTable, g: Group) -> Vec<String> {
        g.seal().statements.iter().map(|s| s.sql.text()).collect()
    }

    #[test]
    fn keyed_changes_fold_to_their_net_effect() {
        let t = table(true);
        let mut g = Group::default();
        g.add(&t, None, Some(row(1, "a"))).unwrap();
        g.add(&t, Some(row(1, "a")), Some(row(1, "b"))).unwrap(); // same key: image replaced
        g.add(&t, Some(row(2, "x")), Some(row(3, "x"))).unwrap(); // key moves: 2 deleted
        g.add(&t, None, Some(row(4, "y"))).unwrap();
        g.add(&t, Some(row(4, "y")), None).unwrap(); // inserted then deleted
        g.add(&t, None, Some(row(2, "again"))).unwrap(); // 2 comes back
        assert_eq!(g.rows, 6);
        assert_eq!(
            texts(&t, g),
            vec![
                "DELETE FROM `d`.`t` WHERE `id` IN (4)".to_string(),
                "REPLACE INTO `d`.`t` (`id`, `v`) VALUES (1, _utf8mb4'b'), (2, _utf8mb4'again'), (3, _utf8mb4'x')".to_string(),
            ]
        );
    }

    #[test]
    fn a_key_that_is_the_only_unique_index_is_upserted() {
        let mut t = Arc::try_unwrap(table(true)).unwrap();
        t.upsert = true;
        let t = Arc::new(t);
        let mut g = Group::default();
        g.add(&t, Some(row(1, "a")), Some(row(1, "b"))).unwrap();
        assert_eq!(
            texts(&t, g),
            vec![
                "INSERT INTO `d`.`t` (`id`, `v`) VALUES (1, _utf8mb4'b') ON DUPLICATE KEY UPDATE `id` = VALUES(`id`), `v` = VALUES(`v`)"
                    .to_string()
            ]
        );
    }

    #[test]
    fn keyless_changes_keep_their_order_and_match_whole_rows() {
        let t = table(false);
        let mut g = Group::default();
        g.add(&t, None, Some(row(1, "a"))).unwrap();
        g.add(&t, None, Some(row(1, "a"))).unwrap();
        g.add(&t, Some(row(1, "a")), Some(row(1, "b"))).unwrap();
        g.add(&t, Some(row(1, "a")), None).unwrap();
        assert_eq!(
            texts(&t, g),
            vec![
                "INSERT INTO `d`.`t` (`id`, `v`) VALUES (1, _utf8mb4'a'), (1, _utf8mb4'a')".to_string(),
                "UPDATE `d`.`t` SET `id` = 1, `v` = _utf8mb4'b' WHERE `id` <=> 1 AND `v` <=> _utf8mb4'a' LIMIT 1".to_string(),
                "DELETE FROM `d`.`t` WHERE `id` <=> 1 AND `v` <=> _utf8mb4'a' LIMIT 1".to_string(),
            ]
        );
    }

    #[test]
    fn raw_bytes_stay_raw() {
        let mut s = SqlBytes::default();
        literal(&mut s, &Codec::Str("latin1".into()), &Value::Bytes(vec![b'c', 0xE9, 0, b'\'']));
        assert_eq!(s.0, [&b"_latin1'c"[..], &[0xE9], b"\\0\\''"].concat());
    }
}
