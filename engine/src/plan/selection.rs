//! What a task selects while it follows the binlog: the spec's objects, plus what schema changes
//! did to them since (tables created in whole databases, selected tables renamed on the source,
//! the shadow tables of online schema change tools). No I/O: the player asks, and tells it about
//! renames.

use ferry_crds::{DmlKind, SyncTaskSpec};

use crate::sql::NameMap;
use crate::sql::ddl::{ShadowRole, shadow_of};

/// Row change kinds a table replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmlKinds {
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
}

impl DmlKinds {
    pub const ALL: DmlKinds = DmlKinds { insert: true, update: true, delete: true };

    fn of(list: Option<&Vec<DmlKind>>, inherited: DmlKinds) -> DmlKinds {
        match list {
            None => inherited,
            Some(l) => DmlKinds {
                insert: l.contains(&DmlKind::Insert),
                update: l.contains(&DmlKind::Update),
                delete: l.contains(&DmlKind::Delete),
            },
        }
    }
}

/// A selected source table as the player applies it.
#[derive(Clone, Debug, PartialEq)]
pub struct Selected {
    pub src_db: String,
    pub src_table: String,
    pub dst_db: String,
    pub dst_table: String,
    pub ddl: bool,
    pub dml: DmlKinds,
    /// The selected columns (source name, target name) when the spec lists them.
    pub columns: Option<Vec<(String, String)>>,
    pub filter: Option<String>,
}

#[derive(Clone, Debug)]
struct TableRule {
    /// The table's name on the source now (after followed renames).
    current: String,
    /// The name the spec gave it.
    spec_name: String,
    dst: String,
    ddl: bool,
    dml: DmlKinds,
    columns: Option<Vec<(String, String)>>,
    filter: Option<String>,
}

#[derive(Clone, Debug)]
struct DbRule {
    src: String,
    dst: String,
    ddl: bool,
    dml: DmlKinds,
    /// None: the whole database.
    tables: Option<Vec<TableRule>>,
}

#[derive(Clone, Debug)]
pub struct LiveSelection {
    dbs: Vec<DbRule>,
}

impl LiveSelection {
    /// The spec's selection, with the renames already followed (db, spec table name, current name).
    pub fn new(spec: &SyncTaskSpec, followed: &[(String, String, String)]) -> Self {
        let dbs = spec
            .objects
            .iter()
            .map(|d| {
                let dml = DmlKinds::of(d.dml.as_ref(), DmlKinds::ALL);
                DbRule {
                    src: d.database.clone(),
                    dst: d.rename.clone().unwrap_or_else(|| d.database.clone()),
                    ddl: d.ddl,
                    dml,
                    tables: d.tables.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| {
                                let current = followed
                                    .iter()
                                    .filter(|(db, from, _)| db == &d.database && from == &t.name)
                                    .map(|(_, _, to)| to.clone())
                                    .next_back()
                                    .unwrap_or_else(|| t.name.clone());
                                TableRule {
                                    current,
                                    spec_name: t.name.clone(),
                                    dst: t.rename.clone().unwrap_or_else(|| t.name.clone()),
                                    ddl: t.ddl.unwrap_or(d.ddl),
                                    dml: DmlKinds::of(t.dml.as_ref(), dml),
                                    columns: t.columns.as_ref().map(|cs| {
                                        cs.iter().map(|c| (c.name.clone(), c.rename.clone().unwrap_or_else(|| c.name.clone()))).collect()
                                    }),
                                    filter: t.filter.clone(),
                                }
                            })
                            .collect()
                    }),
                }
            })
            .collect();
        LiveSelection { dbs }
    }

    fn db(&self, db: &str) -> Option<&DbRule> {
        self.dbs.iter().find(|d| d.src == db)
    }

    /// The target database of a selected source database.
    pub fn database(&self, db: &str) -> Option<(&str, bool)> {
        self.db(db).map(|d| (d.dst.as_str(), d.ddl))
    }

    /// Whether the database is selected whole (views, routines and new tables come along).
    pub fn is_whole(&self, db: &str) -> bool {
        self.db(db).is_some_and(|d| d.tables.is_none())
    }

    /// How a source table is applied; None when the task does not select it.
    pub fn table(&self, db: &str, table: &str) -> Option<Selected> {
        let d = self.db(db)?;
        let selected = |t: &TableRule, name: &str, dst: &str| Selected {
            src_db: d.src.clone(),
            src_table: name.to_string(),
            dst_db: d.dst.clone(),
            dst_table: dst.to_string(),
            ddl: t.ddl,
            dml: t.dml,
            columns: t.columns.clone(),
            filter: t.filter.clone(),
        };
        let shadow = shadow_of(table);
        if shadow.as_ref().is_some_and(|s| s.role == ShadowRole::GhostChangelog) {
            return None; // gh-ost's heartbeat and state: never data
        }
        match &d.tables {
            None => Some(Selected {
                src_db: d.src.clone(),
                src_table: table.to_string(),
                dst_db: d.dst.clone(),
                dst_table: table.to_string(),
                ddl: d.ddl,
                dml: d.dml,
                columns: None,
                filter: None,
            }),
            Some(rules) => {
                if let Some(t) = rules.iter().find(|t| t.current == table) {
                    return Some(selected(t, table, &t.dst));
                }
                // A shadow table of a selected one takes its rules; on the target it keeps its own
                // name until the cut-over renames it over the selected table.
                let s = shadow?;
                let t = rules.iter().find(|t| t.current == s.base)?;
                Some(selected(t, table, table))
            }
        }
    }

    /// Follows `RENAME TABLE db.from TO db.to` of a table-level selection; returns a line for the
    /// status when a selected table moved (not for shadow tables).
    pub fn follow_rename(&mut self, db: &str, from: &str, to_db: &str, to: &str) -> Option<String> {
        // An online schema change moves the table aside at the cut-over and its new version in
        // under the same name: the selection stays with the name.
        if shadow_of(to).is_some_and(|s| s.base == from) {
            return None;
        }
        let d = self.dbs.iter_mut().find(|d| d.src == db)?;
        let rules = d.tables.as_mut()?;
        let t = rules.iter_mut().find(|t| t.current == from)?;
        if to_db != db {
            return None;
        }
        t.current = to.to_string();
        // A renamed table keeps its target name only when the spec mapped it; otherwise the
        // target follows the source's new name.
        if t.dst == from {
            t.dst = to.to_string();
        }
        Some(format!("{db}.{from} -> {db}.{to}"))
    }

    /// The spec name of a table-level selection now called `current` (for the rename records).
    pub fn spec_name(&self, db: &str, current: &str) -> Option<String> {
        self.db(db)?.tables.as_ref()?.iter().find(|t| t.current == current).map(|t| t.spec_name.clone())
    }

    /// The renames that DDL rewriting applies: databases, tables (as the target knows them now),
    /// columns.
    pub fn names(&self) -> NameMap {
        let mut n = NameMap::new();
        for d in &self.dbs {
            if d.dst != d.src {
                n.rename_db(&d.src, &d.dst);
            }
            for t in d.tables.iter().flatten() {
                if t.dst != t.current {
                    n.rename_table(&d.src, &t.current, &t.dst);
                }
                for (s, dst) in t.columns.iter().flatten() {
                    if s != dst {
                        n.rename_column(&d.src, &t.current, s, dst);
                        // The shadow tables of an online schema change carry the same columns.
                        for shadow in ["_{}_gho", "_{}_new", "_{}_del", "_{}_old"] {
                            n.rename_column(&d.src, &shadow.replace("{}", &t.current), s, dst);
                        }
                    }
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> SyncTaskSpec {
        let base = "source: {host: a, credentialsSecret: s}\ntarget: {host: b, credentialsSecret: t}\n";
        serde_saphyr::from_str(&format!("{base}{yaml}")).unwrap()
    }

    #[test]
    fn whole_databases_take_new_tables_and_table_lists_follow_renames() {
        let s = spec(
            "objects:\n- database: shop\n  rename: shop2\n- database: crm\n  dml: [Insert]\n  tables:\n  - name: users\n    rename: people\n  - name: notes\n",
        );
        let mut sel = LiveSelection::new(&s, &[]);
        let t = sel.table("shop", "created_later").unwrap();
        assert_eq!((t.dst_db.as_str(), t.dst_table.as_str()), ("shop2", "created_later"));
        assert!(sel.table("shop", "_orders_ghc").is_none(), "gh-ost's changelog is never data");
        assert!(sel.table("crm", "other").is_none());
        let u = sel.table("crm", "users").unwrap();
        assert_eq!(u.dst_table, "people");
        assert_eq!(u.dml, DmlKinds { insert: true, update: false, delete: false });
        // gh-ost's ghost table of a selected table is applied under its own name.
        assert_eq!(sel.table("crm", "_users_gho").unwrap().dst_table, "_users_gho");
        assert!(sel.table("crm", "_other_gho").is_none());

        assert_eq!(sel.follow_rename("crm", "notes", "crm", "memos").as_deref(), Some("crm.notes -> crm.memos"));
        assert!(sel.table("crm", "notes").is_none());
        assert_eq!(sel.table("crm", "memos").unwrap().dst_table, "memos");
        // A mapped name stays mapped after the source renames the table.
        sel.follow_rename("crm", "users", "crm", "members");
        assert_eq!(sel.table("crm", "members").unwrap().dst_table, "people");
        assert_eq!(sel.spec_name("crm", "members").as_deref(), Some("users"));

        // gh-ost's cut-over: the selection stays with the name.
        assert_eq!(sel.follow_rename("crm", "members", "crm", "_members_del"), None);
        assert_eq!(sel.table("crm", "members").unwrap().dst_table, "people");
        assert_eq!(sel.table("crm", "_members_del").unwrap().dst_table, "_members_del");

        let again = LiveSelection::new(&s, &[("crm".into(), "notes".into(), "memos".into())]);
        assert!(again.table("crm", "memos").is_some() && again.table("crm", "notes").is_none());
    }
}
