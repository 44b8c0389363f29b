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

use mysql_async::Value;

use crate::codec::{Codec, SqlBytes, literal};
use crate::db::qt;
use crate::error::{Error, Result};
use crate::plan::mapping::Merge;

mod batch;
mod group;
mod statements;

pub use batch::{Batch, Statement, commit_batch, merge_conflict};
pub use group::Group;
use group::{Changes, Slot};
use statements::statements_of;

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
    /// Row filter, in the source's column names: evaluated on each row's source values (which
    /// [`ApplyTable::project`] keeps after the written columns), never on the target's columns,
    /// which may lack or rename what it names.
    pub filter: Option<String>,
    /// The source columns a filter may name, with where their values sit in the binlog row (the
    /// name quoted, the source's own).
    pub filter_columns: Vec<ApplyColumn>,
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
        let filter_values: Vec<Value> = self.filter_columns.iter().map(|c| row[c.binlog_index].clone()).collect();
        let mut out: Vec<Value> = self.columns.iter().map(|c| std::mem::replace(&mut row[c.binlog_index], Value::NULL)).collect();
        out.extend(filter_values);
        Ok(out)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ferry_crds::ConflictPolicy;

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
            filter_columns: Vec::new(),
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
