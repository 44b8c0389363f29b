//! A group of source transactions folded into their net effect per table, and the order its
//! statements run in (changes the target's foreign keys cascade keep their place).

use std::collections::HashMap;
use std::sync::Arc;

use mysql_async::Value;

use crate::codec::SqlBytes;
use crate::error::Result;

use super::batch::image_sizes;
use super::statements::set_all;
use super::*;

/// The net effect on one key within a group.
pub(super) struct Slot {
    /// `k1 = v1 AND k2 = v2`: identifies the row, and is the key of the fold.
    pub(super) key: SqlBytes,
    pub(super) row: Option<Vec<Value>>,
    /// The key's first change in the group brought it into being (an insert, or an update
    /// moving a row onto it): on the source no row had it before.
    pub(super) fresh: bool,
}

/// One keyless row change: before and after images (None: no such image).
pub(super) type RowImages = (Option<Vec<Value>>, Option<Vec<Value>>);

pub(super) enum Changes {
    Keyed { slots: Vec<Slot>, index: HashMap<SqlBytes, usize> },
    Keyless(Vec<RowImages>),
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
    pub(super) tables: Vec<(Arc<ApplyTable>, Changes)>,
    /// Index in `tables` by the table's address (`Arc::as_ptr`; `tables` keeps it alive).
    pub(super) by_table: HashMap<usize, usize>,
    /// The parts before it, in source order.
    pub(super) earlier: Vec<Part>,
    /// Rough memory held, to flush a very large transaction in parts.
    pub bytes: usize,
    /// Source row changes received.
    pub rows: u64,
    /// Bytes of row data in them (before and after images), for the status's byte rate.
    pub data_bytes: u64,
}

/// A stretch of a group, in source order.
pub(super) enum Part {
    /// Changes folded by table and key.
    Folded(Vec<(Arc<ApplyTable>, Changes)>),
    /// Changes that the target's foreign keys cascade, one after the other.
    Cascading(Vec<Cascaded>),
}

/// A delete, or an update of referenced columns, that the target's foreign keys cascade.
pub(super) struct Cascaded {
    pub(super) table: Arc<ApplyTable>,
    /// Projected images (`ApplyTable::project`).
    pub(super) before: Vec<Value>,
    pub(super) after: Option<Vec<Value>>,
}

impl Group {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.earlier.is_empty()
    }

    pub(super) fn count(&mut self, before: &Option<Vec<Value>>, after: &Option<Vec<Value>>) {
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
    pub(super) fn fold(
        &mut self,
        table: &Arc<ApplyTable>,
        before: Option<Vec<Value>>,
        after: Option<Vec<Value>>,
        binlog: bool,
    ) -> Result<()> {
        let project = |r: Vec<Value>| if binlog { table.project(r) } else { Ok(r) };
        let idx = match self.by_table.get(&(Arc::as_ptr(table) as usize)) {
            Some(&i) => i,
            None => {
                let changes = match &table.key {
                    Some(_) => Changes::Keyed { slots: Vec::new(), index: HashMap::new() },
                    None => Changes::Keyless(Vec::new()),
                };
                self.tables.push((table.clone(), changes));
                self.by_table.insert(Arc::as_ptr(table) as usize, self.tables.len() - 1);
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
pub(super) fn cascading_statements(list: Vec<Cascaded>, out: &mut Vec<Statement>) {
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
