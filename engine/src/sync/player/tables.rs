//! The tables the player applies: a binlog table resolved once per table id into the `ApplyTable`
//! its changes are written with (target names, columns matched by name to the binlog's, the key),
//! its copy position, its slot, and the tables the target's foreign keys tie it to.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::info;

use super::Player;
use super::lanes::Lanes;
use crate::db::catalog::Table;
use crate::db::flavor::Position;
use crate::db::{Session, qt};
use crate::error::{Error, Result};
use crate::plan::mapping::{ColumnMap, TableMap};
use crate::plan::selection::{DmlKinds, LiveSelection, Selected};
use crate::source::binlog::TableMap as BinlogTable;
use crate::sync::applier::{ApplyColumn, ApplyTable, Cascade, Lit};
use crate::target::meta::slot_of;

impl Player {
    /// How a binlog table is applied: None when the task does not select it.
    /// One `ApplyTable` per table and column layout, whatever its binlog table id: a group tells
    /// tables apart by it, and the source hands out new ids for the same table (after FLUSH
    /// TABLES, ANALYZE, ...).
    /// Resolved once per binlog table id, with the table's copy position, so that nothing per
    /// rows event is looked up by name.
    pub(super) async fn apply_table(
        &self,
        cache: &mut ApplyCache,
        skip: &HashMap<(String, String), Position>,
        selection: &LiveSelection,
        conn: &mut mysql_async::Conn,
        bt: &Arc<BinlogTable>,
    ) -> Result<Option<Applied>> {
        // Table ids are reused (after a source restart, in the next binlog file): an entry holds
        // for the table its TABLE_MAP names now, with that many columns. Checked without
        // allocating: this runs for every rows event.
        if let Some(e) = cache.by_id.get(&bt.id)
            && e.db == bt.db
            && e.table == bt.table
            && e.columns == bt.columns.len()
        {
            return Ok(e.applied.clone());
        }
        let built = match selection.table(&bt.db, &bt.table) {
            None => None,
            Some(sel) => {
                let map = self.target_table(cache, conn, &sel).await?;
                let layout = self.source_layout(cache, conn, &sel, bt).await?;
                let mut table = build_apply_table(&map, &layout, bt)?;
                let cascades = self.foreign_key_ties(cache, skip, selection, conn, &sel, &mut table).await?;
                let shape = format!("{}|{:?}", table.target, table.columns);
                Some(Applied {
                    table: cache.by_shape.entry(shape).or_insert_with(|| Arc::new(table)).clone(),
                    copied_at: skip.get(&(bt.db.clone(), bt.table.clone())).cloned(),
                    slot: slot_of(&bt.db, &bt.table),
                    dml: sel.dml,
                    cascades,
                })
            }
        };
        let entry = CachedTable { db: bt.db.clone(), table: bt.table.clone(), columns: bt.columns.len(), applied: built.clone() };
        cache.by_id.insert(bt.id, entry);
        Ok(built)
    }

    /// The source table's column names in binlog order at the position being read: the row
    /// event's own when the source logs them, else the tracked definition's (see
    /// [`crate::target::tracker`]). A table without one (tracked by an older ferry, or whose definition
    /// could not follow a schema change) is tracked from the source's definition now.
    async fn source_layout(
        &self,
        cache: &mut ApplyCache,
        conn: &mut mysql_async::Conn,
        sel: &Selected,
        bt: &BinlogTable,
    ) -> Result<Vec<String>> {
        if bt.columns.iter().any(|b| b.name.is_some()) {
            return Ok(bt.columns.iter().map(|b| b.name.clone().unwrap_or_default()).collect());
        }
        let reads = cache.shadow_columns.entry(sel.src_db.clone()).or_default();
        let tracked = match reads.get(&sel.src_table) {
            (Some(found), _) => found,
            (None, false) => self.tracker.columns(&self.target, conn, &sel.src_db, &sel.src_table).await?,
            (None, true) => {
                let all = self.tracker.all_columns(&self.target, conn, &sel.src_db).await?;
                let found = crate::db::catalog::lookup(&all, &sel.src_table).cloned();
                reads.whole = Some(all);
                found
            }
        };
        if let Some(cols) = tracked.filter(|c| !c.is_empty()) {
            return Ok(cols);
        }
        let mut src = self.source.connect(Session::Control).await?;
        let create = crate::db::catalog::show_create_table(&self.source, &mut src, &sel.src_db, &sel.src_table).await;
        let _ = src.disconnect().await;
        let create = create?;
        info!(table = %format!("{}.{}", sel.src_db, sel.src_table), "row events name no columns: tracking the table's definition from the source now");
        self.tracker.track(&self.target, conn, &sel.src_db, &sel.src_table, &create).await?;
        let cols = self
            .tracker
            .columns(&self.target, conn, &sel.src_db, &sel.src_table)
            .await?
            .ok_or_else(|| Error::object(format!("{}.{}", sel.src_db, sel.src_table), "its tracked definition has no columns"))?;
        // A database read whole before has it now too: a new table id for the table must not
        // track it again (from a source definition that may be further on by then).
        if let Some(all) = cache.shadow_columns.get_mut(&sel.src_db).and_then(|r| r.whole.as_mut()) {
            all.insert(sel.src_table.clone(), cols.clone());
        }
        Ok(cols)
    }

    /// A selected table as the target has it now, in source names: the target has replayed every
    /// schema change up to the binlog position being read, so this is the table's schema at that
    /// position (the source's own catalog may already be further on).
    async fn target_table(&self, cache: &mut ApplyCache, conn: &mut mysql_async::Conn, sel: &Selected) -> Result<TableMap> {
        use crate::db::catalog;
        let reads = cache.target_tables.entry(sel.dst_db.clone()).or_default();
        let t = match reads.get(&sel.dst_table) {
            (Some(found), _) => found,
            (None, false) => Some(catalog::table(&self.target, conn, &sel.dst_db, &sel.dst_table).await?),
            (None, true) => {
                let all = catalog::describe_database(&self.target, conn, &sel.dst_db).await?;
                let found = catalog::lookup(&all, &sel.dst_table).cloned();
                reads.whole = Some(all);
                found
            }
        };
        let t = t.unwrap_or_else(|| Table {
            db: sel.dst_db.clone(),
            name: sel.dst_table.clone(),
            columns: Vec::new(),
            key: None,
            other_unique_keys: false,
            rows_estimate: 0,
        });
        if t.columns.is_empty() {
            return Err(Error::object(
                format!("{}.{}", sel.src_db, sel.src_table),
                format!("its target table {}.{} does not exist on the target", sel.dst_db, sel.dst_table),
            ));
        }
        let source_name = |dst: &str| -> String {
            sel.columns
                .as_ref()
                .and_then(|cs| cs.iter().find(|(_, d)| d.eq_ignore_ascii_case(dst)).map(|(s, _)| s.clone()))
                .unwrap_or_else(|| dst.to_string())
        };
        let columns = t
            .columns
            .iter()
            .map(|c| ColumnMap { source: crate::db::catalog::Column { name: source_name(&c.name), ..c.clone() }, target: c.name.clone() })
            .collect();
        Ok(TableMap {
            src_db: sel.src_db.clone(),
            src_table: sel.src_table.clone(),
            dst_db: sel.dst_db.clone(),
            dst_table: sel.dst_table.clone(),
            columns,
            column_subset: sel.columns.is_some(),
            filter: sel.filter.clone(),
            key: t.key.as_ref().map(|k| k.iter().map(|c| source_name(c)).collect()),
            other_unique_keys: t.other_unique_keys,
            rows_estimate: 0,
            merge: self.merges.get(&(sel.dst_db.clone(), sel.dst_table.clone())).cloned(),
        })
    }

    /// What the target's foreign keys cascade from a selected table (set in `table.cascade`), and
    /// when they do, the tables they tie it to: the rows that reference it (and, through the
    /// actions that change those, the rows that reference them, and so on), which a cascade
    /// changes or checks, and the tables it references, which an update checks.
    async fn foreign_key_ties(
        &self,
        cache: &mut ApplyCache,
        skip: &HashMap<(String, String), Position>,
        selection: &LiveSelection,
        conn: &mut mysql_async::Conn,
        sel: &Selected,
        table: &mut ApplyTable,
    ) -> Result<Option<Arc<Cascades>>> {
        let keys = self.target_foreign_keys(cache, conn).await?;
        let same = |a: &(String, String), db: &str, t: &str| a.0.eq_ignore_ascii_case(db) && a.1.eq_ignore_ascii_case(t);
        let changes = crate::db::catalog::ForeignKey::changes_children;
        let (db, name) = (sel.dst_db.as_str(), sel.dst_table.as_str());
        let referencing: Vec<&crate::db::catalog::ForeignKey> = keys.iter().filter(|k| same(&k.parent, db, name)).collect();
        let on_delete = referencing.iter().any(|k| changes(&k.on_delete));
        let mut on_update: Vec<usize> = referencing
            .iter()
            .filter(|k| changes(&k.on_update))
            .flat_map(|k| k.referenced.iter())
            .filter_map(|c| table.columns.iter().position(|a| a.name.eq_ignore_ascii_case(&crate::db::q(c))))
            .collect();
        on_update.sort_unstable();
        on_update.dedup();
        if !on_delete && on_update.is_empty() {
            return Ok(None);
        }
        table.cascade = Some(Cascade { on_delete, on_update });
        let mut tied: Vec<(String, String)> = keys.iter().filter(|k| same(&k.child, db, name)).map(|k| k.parent.clone()).collect();
        let mut queue = vec![(db.to_string(), name.to_string())];
        let mut seen = queue.clone();
        while let Some((d, t)) = queue.pop() {
            for k in keys.iter().filter(|k| same(&k.parent, &d, &t)) {
                tied.push(k.child.clone());
                if (changes(&k.on_delete) || changes(&k.on_update)) && !seen.iter().any(|s| same(s, &k.child.0, &k.child.1)) {
                    seen.push(k.child.clone());
                    queue.push(k.child.clone());
                }
            }
        }
        let mut slots = Vec::new();
        let mut copied_at: Option<Position> = None;
        for (d, t) in &tied {
            // A table the task does not write (or whose source name is not found) has no lane.
            let Some(src) = self.source_of(cache, selection, d, t) else { continue };
            slots.push(slot_of(&src.0, &src.1));
            // Of the tables the cascade changes (not those it only checks), the latest copy.
            if let Some(p) = skip.get(&src)
                && seen[1..].iter().any(|s| same(s, d, t))
            {
                copied_at = copied_at.max(Some(p.clone()));
            }
        }
        slots.sort_unstable();
        slots.dedup();
        Ok(Some(Arc::new(Cascades { slots, copied_at })))
    }

    /// The foreign keys of the target databases, read once until the next schema change.
    async fn target_foreign_keys(
        &self,
        cache: &mut ApplyCache,
        conn: &mut mysql_async::Conn,
    ) -> Result<Arc<Vec<crate::db::catalog::ForeignKey>>> {
        if let Some(k) = &cache.foreign_keys {
            return Ok(k.clone());
        }
        let mut dbs: Vec<String> = self.spec.objects.iter().map(|o| o.rename.clone().unwrap_or_else(|| o.database.clone())).collect();
        dbs.sort();
        dbs.dedup();
        let mut all = Vec::new();
        for db in &dbs {
            all.extend(crate::db::catalog::foreign_keys(&self.target, conn, db).await?);
        }
        let all = Arc::new(all);
        cache.foreign_keys = Some(all.clone());
        Ok(all)
    }

    /// The source table the task writes to target table `db`.`table`, if it is one.
    fn source_of(&self, cache: &ApplyCache, selection: &LiveSelection, db: &str, table: &str) -> Option<(String, String)> {
        let target = qt(db, table);
        if let Some(e) = cache.by_id.values().find(|e| e.applied.as_ref().is_some_and(|a| a.table.target == target)) {
            return Some((e.db.clone(), e.table.clone()));
        }
        for o in &self.spec.objects {
            if !o.rename.as_deref().unwrap_or(&o.database).eq_ignore_ascii_case(db) {
                continue;
            }
            let mapped = o.tables.iter().flatten().filter(|t| t.rename.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(table)));
            for name in std::iter::once(table.to_string()).chain(mapped.map(|t| t.name.clone())) {
                if selection
                    .table(&o.database, &name)
                    .is_some_and(|s| s.dst_db.eq_ignore_ascii_case(db) && s.dst_table.eq_ignore_ascii_case(table))
                {
                    return Some((o.database.clone(), name));
                }
            }
        }
        None
    }
}

/// The tables a cascading table's foreign keys tie it to, for the player.
pub(super) struct Cascades {
    /// Their apply slots: applied by the lane of the cascading change.
    pub slots: Vec<usize>,
    /// The latest copy position among them (tables copied whole at one snapshot).
    pub copied_at: Option<Position>,
}

impl Cascades {
    /// The cascade of a change in the transaction starting at `txn_start` ran on the target
    /// already: a lane of an earlier run applied the transaction with the tables it ties (their
    /// slots are past it), or a copy read those tables after it (and skips their changes before).
    pub fn ran_before(&self, txn_start: &Position, lanes: &Lanes) -> bool {
        self.copied_at.as_ref().is_some_and(|p| txn_start < p) || self.slots.iter().any(|&s| lanes.replayed(txn_start, s))
    }
}

/// The player's resolved tables, until the next schema change.
#[derive(Default)]
pub(super) struct ApplyCache {
    by_id: HashMap<u64, CachedTable>,
    by_shape: HashMap<String, Arc<ApplyTable>>,
    /// The target's foreign keys (read when a table is first resolved after a schema change).
    foreign_keys: Option<Arc<Vec<crate::db::catalog::ForeignKey>>>,
    /// Target table structures, by target database.
    target_tables: HashMap<String, DatabaseReads<Table>>,
    /// Tracked source column orders, by source database.
    shadow_columns: HashMap<String, DatabaseReads<Vec<String>>>,
}

/// After this many tables of one database are read one by one, the rest of it is read at once:
/// a task that writes thousands of tables resolves them in a few reads, not thousands of round
/// trips on the event loop (which showed as seconds of lag), while a task of a few tables in a
/// large database never reads all of it.
const READS_BEFORE_WHOLE_DATABASE: u32 = 8;

/// A database's catalog reads since the last schema change.
struct DatabaseReads<T> {
    one_by_one: u32,
    whole: Option<std::collections::BTreeMap<String, T>>,
}

impl<T> Default for DatabaseReads<T> {
    fn default() -> Self {
        DatabaseReads { one_by_one: 0, whole: None }
    }
}

impl<T: Clone> DatabaseReads<T> {
    /// The entry of `name` when the whole database was read (`Some(None)`: it has no such table),
    /// else None, counting a read one by one; `whole_next` when the next read should be whole.
    fn get(&mut self, name: &str) -> (Option<Option<T>>, bool) {
        if let Some(all) = &self.whole {
            return (Some(crate::db::catalog::lookup(all, name).cloned()), false);
        }
        self.one_by_one += 1;
        (None, self.one_by_one > READS_BEFORE_WHOLE_DATABASE)
    }
}

/// What a binlog table id stood for when it was resolved.
struct CachedTable {
    db: String,
    table: String,
    columns: usize,
    applied: Option<Applied>,
}

/// A selected table as the player applies it.
#[derive(Clone)]
pub(super) struct Applied {
    pub table: Arc<ApplyTable>,
    /// Copied whole at this snapshot position: changes from before it are already there.
    pub copied_at: Option<Position>,
    /// Its apply slot (which lane applies it).
    pub slot: usize,
    /// The row change kinds the task replays for it.
    pub dml: DmlKinds,
    /// The target's foreign keys cascade its deletes or updates: the tables they tie it to.
    pub cascades: Option<Arc<Cascades>>,
}

/// Matches the binlog's columns to the task's by name in `layout`, the source table's columns in
/// binlog order at that position ([`Player::source_layout`]).
fn build_apply_table(t: &TableMap, layout: &[String], bt: &BinlogTable) -> Result<ApplyTable> {
    if layout.len() != bt.columns.len() {
        return Err(Error::object(
            t.source_name(),
            format!(
                "its row events have {} columns but its tracked definition has {} ({}): ferry cannot tell which value \
                 belongs to which column; set binlog_row_metadata=FULL on the source so that row events name them",
                bt.columns.len(),
                layout.len(),
                layout.join(", ")
            ),
        ));
    }
    let mut columns = Vec::new();
    let mut applied: Vec<&str> = Vec::new();
    for c in t.copy_columns() {
        // A target column the source row does not have (added on the target only, or its
        // schema change was skipped): left to its default.
        let Some(index) = layout.iter().position(|n| n.eq_ignore_ascii_case(&c.source.name)) else { continue };
        let lit = match bt.signedness {
            true => Lit::of(&c.source),
            false => Lit::unsigned_from_signed(&c.source).unwrap_or_else(|| Lit::of(&c.source)),
        };
        columns.push(ApplyColumn { binlog_index: index, name: crate::db::q(&c.target), lit });
        applied.push(&c.source.name);
    }
    let key = t.key.as_ref().map(|k| k.iter().filter_map(|name| applied.iter().position(|c| *c == name)).collect::<Vec<_>>());
    let key = key.filter(|k| Some(k.len()) == t.key.as_ref().map(|k| k.len()));
    // A filter may name any source column, copied or not, under its source name.
    let filter_columns: Vec<ApplyColumn> = match &t.filter {
        None => Vec::new(),
        Some(_) => layout
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let lit = t.columns.iter().find(|c| c.source.name.eq_ignore_ascii_case(name)).map_or(Lit::AnyText, |c| Lit::of(&c.source));
                ApplyColumn { binlog_index: i, name: crate::db::q(name), lit }
            })
            .collect(),
    };
    let binlog_width = columns.iter().chain(&filter_columns).map(|c| c.binlog_index + 1).max().unwrap_or(0);
    Ok(ApplyTable {
        binlog_width,
        source: t.source_name(),
        target: qt(&t.dst_db, &t.dst_table),
        columns,
        upsert: key.is_some() && !t.other_unique_keys,
        key,
        filter: t.filter.clone(),
        filter_columns,
        merge: t.merge.clone(),
        cascade: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few tables of a database are read one by one; past that the whole database is read
    /// once and answers the rest, letter case aside, and names it lacks.
    #[test]
    fn a_database_is_read_whole_after_a_few_tables() {
        let mut reads = DatabaseReads::<u32>::default();
        for _ in 0..READS_BEFORE_WHOLE_DATABASE {
            assert_eq!(reads.get("t"), (None, false));
        }
        assert_eq!(reads.get("t"), (None, true), "the next read is the whole database");
        reads.whole = Some([("Orders".to_string(), 7)].into_iter().collect());
        assert_eq!(reads.get("orders"), (Some(Some(7)), false));
        assert_eq!(reads.get("gone"), (Some(None), false));
    }
}
