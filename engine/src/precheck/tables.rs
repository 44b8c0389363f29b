//! What the selected tables bring along: primary-keys, merge-keys (keys of tables merged with
//! other tasks' rows), foreign-keys to tables left out, source-triggers.

use std::collections::BTreeSet;

use mysql_async::Conn;
use mysql_async::prelude::*;

use crate::db::catalog;
use crate::db::{Role, Server, q, qt};
use crate::error::Result;

use super::{Check, Sel, global_vars};

impl Check<'_> {
    /// Item 6.
    pub(super) async fn primary_keys(&mut self) {
        let id = "primary-keys";
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let mut keyless = Vec::new();
        let mut err = None;
        // One database at a time: its tables' structure in one read.
        let mut by_db: std::collections::BTreeMap<&str, Vec<&Sel>> = Default::default();
        for t in &self.tables {
            by_db.entry(t.src_db.as_str()).or_default().push(t);
        }
        for (db, sels) in by_db {
            let names: Vec<&str> = sels.iter().map(|t| t.src_table.as_str()).collect();
            match catalog::tables(&source, &mut src, db, &names).await {
                Ok(tables) => keyless.extend(sels.iter().zip(tables).filter(|(_, tab)| tab.key.is_none()).map(|(t, _)| t.source_name())),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        self.src = Some(src);
        if let Some(e) = err {
            return self.broken(id, e);
        }
        if keyless.is_empty() {
            return self.pass(id, "every selected table has a primary key or a unique key on NOT NULL columns");
        }
        let remedy = keyless
            .iter()
            .filter_map(|n| n.split_once('.'))
            .map(|(d, t)| format!("ALTER TABLE {} ADD COLUMN ferry_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY;", qt(d, t)))
            .collect::<Vec<_>>()
            .join(" ");
        self.fail(
            id,
            format!(
                "{} have no primary key and no unique key on NOT NULL columns: ferry copies each in one piece (no parallel ranges, no resume inside it) and applies their changes by matching every column, one row at a time; identical rows are indistinguishable",
                keyless.join(", ")
            ),
            format!("add a key on the source if you can ({remedy}), or accept with spec.precheck.skip: [primary-keys]"),
        );
    }

    /// Many-to-one into one table: keys of merged tables must not collide across sources. Keys
    /// that AUTO_INCREMENT makes on every source alike (auto_increment_increment 1) do; keys of
    /// a source with its own offset under a larger increment do not, as long as every other
    /// source has another offset (which this task cannot see: each task's precheck checks its
    /// own source). A collision the precheck cannot foresee is handled by spec.conflictPolicy.
    pub(super) async fn merge_keys(&mut self) {
        let id = "merge-keys";
        let merged: Vec<Sel> = self.tables.iter().filter(|t| t.merge).cloned().collect();
        if merged.is_empty() {
            return self.pass(id, "no table is merged with other tasks' rows");
        }
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let r = MergedKeys::read(&self.source, &mut src, &merged).await;
        self.src = Some(src);
        let k = match r {
            Ok(v) => v,
            Err(e) => return self.broken(id, e),
        };
        let (inc, off) = (k.increment, k.offset);
        let addr = &self.source.address;
        let policy = format!("{:?}", self.spec.conflict_policy);
        let auto_tables: Vec<Sel> = k.auto.iter().map(|(t, _)| t.clone()).collect();
        let (problems, mut remedies) = k.problems(addr, &policy);
        if !problems.is_empty() {
            remedies.push(format!("or accept with spec.precheck.skip: [{id}]"));
            return self.fail(id, problems.join("; "), remedies.join("; "));
        }
        let note = if k.auto.is_empty() {
            "their keys come from the data, not from AUTO_INCREMENT: they must be unique across the sources merged into each table"
                .to_string()
        } else {
            format!(
                "AUTO_INCREMENT keys of {addr} are {off} modulo {inc} (auto_increment_offset {off}, auto_increment_increment {inc}); every other source merged into {} needs another offset",
                mapped_names(&auto_tables)
            )
        };
        self.pass(
            id,
            format!("{} merged table(s); {note}; a key taken all the same is handled by spec.conflictPolicy {policy}", merged.len()),
        )
    }

    /// Item 10.
    pub(super) async fn foreign_keys(&mut self) {
        let id = "foreign-keys";
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let selected: BTreeSet<(String, String)> = self.tables.iter().map(|t| (t.src_db.clone(), t.src_table.clone())).collect();
        let mut orphans = Vec::new();
        let mut remedies = Vec::new();
        let mut err = None;
        for d in &self.dbs {
            let rows: std::result::Result<Vec<(String, String, String, String)>, _> = src
                .exec(
                    "SELECT TABLE_NAME, CONSTRAINT_NAME, UNIQUE_CONSTRAINT_SCHEMA, REFERENCED_TABLE_NAME \
                     FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? ORDER BY TABLE_NAME, CONSTRAINT_NAME",
                    (&d.src,),
                )
                .await;
            match rows {
                Ok(rows) => {
                    for (child, fk, pdb, parent) in rows {
                        if !selected.contains(&(d.src.clone(), child.clone())) || selected.contains(&(pdb.clone(), parent.clone())) {
                            continue;
                        }
                        orphans.push(format!("{}.{child} ({fk}) references {pdb}.{parent}", d.src));
                        let dst = self
                            .tables
                            .iter()
                            .find(|t| t.src_db == d.src && t.src_table == child)
                            .map(|t| (t.dst_db.clone(), t.dst_table.clone()));
                        if let Some((dd, dt)) = dst {
                            remedies.push(format!("ALTER TABLE {} DROP FOREIGN KEY {};", qt(&dd, &dt), q(&fk)));
                        }
                    }
                }
                Err(e) => {
                    err = Some(source.err("reading foreign keys")(e));
                    break;
                }
            }
        }
        self.src = Some(src);
        if let Some(e) = err {
            return self.broken(id, e);
        }
        if orphans.is_empty() {
            return self.pass(id, "every foreign key of a selected table references a selected table");
        }
        self.fail(
            id,
            format!(
                "{}, which is not selected: ferry writes with foreign_key_checks=0, so child rows arrive without their parents and the constraint does not hold on the target",
                orphans.join("; ")
            ),
            format!("select the parent tables too (spec.objects), or drop the constraints on the target after the schema sync ({})", remedies.join(" ")),
        );
    }

    /// Item 9.
    pub(super) async fn triggers(&mut self) {
        let id = "source-triggers";
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let rows: std::result::Result<Vec<TriggerRow>, _> = src
            .query(
                "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, ACTION_STATEMENT \
                 FROM information_schema.TRIGGERS ORDER BY TRIGGER_SCHEMA, TRIGGER_NAME",
            )
            .await;
        self.src = Some(src);
        let rows = match rows {
            Ok(r) => r,
            Err(e) => return self.broken(id, self.source.err("reading triggers")(e)),
        };
        let selected: BTreeSet<(String, String)> = self.tables.iter().map(|t| (t.src_db.clone(), t.src_table.clone())).collect();
        let mut found = Vec::new();
        for (tdb, name, edb, etable, body) in rows {
            let on_selected = selected.contains(&(edb.clone(), etable.clone()));
            let body_lc = body.to_lowercase();
            let writes: Vec<String> = self
                .tables
                .iter()
                .filter(|t| {
                    mentions(&body_lc, &t.src_table.to_lowercase()) && (t.src_db == tdb || mentions(&body_lc, &t.src_db.to_lowercase()))
                })
                .map(|t| t.source_name())
                .collect();
            if on_selected || !writes.is_empty() {
                let mut s = format!("{tdb}.{name} on {edb}.{etable}");
                if !writes.is_empty() {
                    s.push_str(&format!(" (mentions {})", writes.join(", ")));
                }
                found.push(s);
            }
        }
        if found.is_empty() {
            return self.pass(id, "no trigger on the source touches the selected tables");
        }
        self.fail(
            id,
            format!(
                "triggers touch the selected tables: {}. Their effects reach the target through the binlog as row changes, so ferry does not create triggers during the sync (they would apply twice)",
                found.join("; ")
            ),
            "nothing during the sync; create the triggers on the target at cut-over (status.schemaSync.deferredTriggers lists them), or accept with spec.precheck.skip: [source-triggers]",
        );
    }
}

/// A trigger as information_schema.TRIGGERS lists it: its database, name, the table it is on
/// (database, table), and its body.
type TriggerRow = (String, String, String, String, String);

/// The keys of the merged tables, as the source makes them.
struct MergedKeys {
    /// auto_increment_increment and auto_increment_offset (1 when unread).
    increment: u64,
    offset: u64,
    /// Tables whose key takes an AUTO_INCREMENT column, with the column.
    auto: Vec<(Sel, String)>,
    /// Tables without a key.
    keyless: Vec<Sel>,
}

impl MergedKeys {
    async fn read(source: &Server, src: &mut Conn, merged: &[Sel]) -> Result<MergedKeys> {
        let vars = global_vars(source, src, &["auto_increment_increment", "auto_increment_offset"]).await?;
        let mut auto = Vec::new();
        let mut keyless = Vec::new();
        for t in merged {
            let table = catalog::table(source, src, &t.src_db, &t.src_table).await?;
            let ai: Vec<String> = src
                .exec(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                     AND EXTRA LIKE '%auto_increment%'",
                    (&t.src_db, &t.src_table),
                )
                .await
                .map_err(source.err(format!("reading the columns of {}", t.source_name())))?;
            match &table.key {
                None => keyless.push(t.clone()),
                Some(key) if ai.iter().any(|c| key.contains(c)) => auto.push((t.clone(), ai[0].clone())),
                Some(_) => {}
            }
        }
        let num = |k: &str| vars.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(1);
        Ok(MergedKeys { increment: num("auto_increment_increment"), offset: num("auto_increment_offset"), auto, keyless })
    }

    /// What makes keys collide across sources, and the remedies.
    fn problems(&self, addr: &str, policy: &str) -> (Vec<String>, Vec<String>) {
        let mut problems = Vec::new();
        let mut remedies = Vec::new();
        if !self.auto.is_empty() && self.increment <= 1 {
            let auto_tables: Vec<Sel> = self.auto.iter().map(|(t, _)| t.clone()).collect();
            let cols = self.auto.iter().map(|(t, c)| format!("{}.{c}", t.source_name())).collect::<Vec<_>>().join(", ");
            problems.push(format!(
                "merged tables {} take their keys from AUTO_INCREMENT ({cols}) and the source {addr} has auto_increment_increment = 1: \
                 every source counts 1, 2, 3, ... and their rows collide on the target (spec.conflictPolicy {policy} decides what happens)",
                mapped_names(&auto_tables)
            ));
            remedies.push(
                "give every source merged into the table its own offset: SET GLOBAL auto_increment_increment = <number of sources>; \
                 SET GLOBAL auto_increment_offset = <1, 2, ... different on each source>; (and the same in each server's config), \
                 or make the key unique across sources (e.g. a source id column in the primary key)"
                    .to_string(),
            );
        }
        if !self.keyless.is_empty() {
            problems.push(format!(
                "merged tables {} have no key: rows of different sources cannot be told apart, a conflict cannot be seen, and a delete may remove another source's identical row",
                mapped_names(&self.keyless)
            ));
            remedies.push("add a primary key that is unique across sources".to_string());
        }
        (problems, remedies)
    }
}

/// "shop.a -> all.a, shop.b -> all.b"
fn mapped_names(tables: &[Sel]) -> String {
    tables.iter().map(|t| format!("{} -> {}", t.source_name(), t.target_name())).collect::<Vec<_>>().join(", ")
}

/// Whether `name` occurs in `body` as a whole word (identifiers: letters, digits, `_`, `$`).
fn mentions(body: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    body.match_indices(name).any(|(i, _)| {
        let before = body[..i].chars().next_back();
        let after = body[i + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_mentions() {
        assert!(mentions("insert into shop.orders values (1)", "orders"));
        assert!(!mentions("insert into shop.orders_v2 values (1)", "orders"));
    }
}
