//! Selection and name mapping: the one place that decides which source objects a task moves and
//! what they are called on the target. [`load`] reads the source catalog the selection names and
//! hands it to [`resolve`], which does no I/O and is unit-tested.

use std::collections::BTreeMap;

use ferry_crds::{ConflictPolicy, DatabaseSelection, SyncTaskSpec};

use crate::db::catalog::{Column, Table};
use crate::error::{Error, Result};
use crate::sql::NameMap;

/// One column to copy: its source description and its target name.
#[derive(Clone, Debug)]
pub struct ColumnMap {
    pub source: Column,
    pub target: String,
}

/// One table to synchronize.
#[derive(Clone, Debug)]
pub struct TableMap {
    pub src_db: String,
    pub src_table: String,
    pub dst_db: String,
    pub dst_table: String,
    /// The selected columns in source order (generated ones included: the schema keeps them).
    pub columns: Vec<ColumnMap>,
    /// Whether the task selected a subset of the columns.
    pub column_subset: bool,
    pub filter: Option<String>,
    /// Source names of the key columns used to split and order the copy.
    pub key: Option<Vec<String>>,
    /// The source table has unique keys besides `key`.
    pub other_unique_keys: bool,
    pub rows_estimate: u64,
    /// The target table is merged with other tasks' rows (many-to-one).
    pub merge: Option<Merge>,
}

/// How a task writes a target table that other tasks write too (`merge: true`).
#[derive(Clone, Debug, PartialEq)]
pub struct Merge {
    /// What an insert does when the key is taken (`spec.conflictPolicy`).
    pub policy: ConflictPolicy,
    /// This task's id (`namespace/name`), to tell its records from the other tasks'.
    pub task: String,
    /// This task's source server (`host:port`), for conflict messages.
    pub source: String,
    /// The metadata database on the target, where every task records the tables it writes.
    pub metadata_database: String,
    /// The merged table on the target (database, table).
    pub target: (String, String),
}

impl TableMap {
    pub fn source_name(&self) -> String {
        format!("{}.{}", self.src_db, self.src_table)
    }
    pub fn target_name(&self) -> String {
        format!("{}.{}", self.dst_db, self.dst_table)
    }
    /// Columns the copier writes: generated columns are computed by the target.
    pub fn copy_columns(&self) -> impl Iterator<Item = &ColumnMap> {
        self.columns.iter().filter(|c| !c.source.generated)
    }
}

/// One database of the task.
#[derive(Clone, Debug)]
pub struct DatabaseMap {
    pub src: String,
    pub dst: String,
    /// Selected whole: views, routines and (later) every schema change come along.
    pub whole: bool,
    pub tables: Vec<TableMap>,
}

/// Resolves the spec's selection against the source's tables. `tables_of(db)` lists a source
/// database's base tables (None when it does not exist); `describe(db, table)` reads one.
pub fn resolve(spec: &SyncTaskSpec, tables_of: &BTreeMap<String, Vec<Table>>) -> Result<Vec<DatabaseMap>> {
    let mut out = Vec::new();
    let mut targets: BTreeMap<(String, String), String> = BTreeMap::new();
    for (i, sel) in spec.objects.iter().enumerate() {
        let field = format!("spec.objects[{i}]");
        let available = tables_of.get(&sel.database).ok_or_else(|| {
            Error::invalid(format!("{field}.database"), format!("database {} does not exist on the source", sel.database))
        })?;
        let dst = sel.rename.clone().unwrap_or_else(|| sel.database.clone());
        let tables = match &sel.tables {
            // gh-ost's changelog table is the tool's state, never data.
            None => available
                .iter()
                .filter(|t| !crate::sql::ddl::shadow_of(&t.name).is_some_and(|s| s.role == crate::sql::ddl::ShadowRole::GhostChangelog))
                .map(|t| whole_table(sel, &dst, t))
                .collect::<Vec<_>>(),
            Some(list) => {
                let mut maps = Vec::new();
                for (j, ts) in list.iter().enumerate() {
                    maps.push(selected_table(spec, sel, (&dst, available), ts, &format!("{field}.tables[{j}]"))?);
                }
                maps
            }
        };
        let mut tables = tables;
        if sel.merge {
            for t in &mut tables {
                t.merge = Some(merge_of(spec));
            }
        }
        for t in &tables {
            let key = (t.dst_db.clone(), t.dst_table.clone());
            if let Some(other) = targets.insert(key, t.source_name()) {
                return Err(Error::invalid(
                    field.clone(),
                    format!("{} and {} both map to target table {}", other, t.source_name(), t.target_name()),
                ));
            }
        }
        out.push(DatabaseMap { src: sel.database.clone(), dst, whole: sel.tables.is_none(), tables });
    }
    Ok(out)
}

/// One table of a table-level selection (`field` names it in errors): renamed, filtered, its
/// columns chosen (in source order, the key among them).
fn selected_table(
    spec: &SyncTaskSpec,
    sel: &DatabaseSelection,
    (dst, available): (&str, &[Table]),
    ts: &ferry_crds::TableSelection,
    tf: &str,
) -> Result<TableMap> {
    let table = available
        .iter()
        .find(|t| t.name == ts.name)
        .ok_or_else(|| Error::invalid(format!("{tf}.name"), format!("table {}.{} does not exist on the source", sel.database, ts.name)))?;
    let mut m = whole_table(sel, dst, table);
    if ts.merge {
        m.merge = Some(merge_of(spec));
    }
    if let Some(r) = &ts.rename {
        m.dst_table = r.clone();
    }
    m.filter = ts.filter.clone();
    let Some(cols) = &ts.columns else { return Ok(m) };
    let mut chosen = Vec::new();
    for (k, c) in cols.iter().enumerate() {
        let column = table.column(&c.name).ok_or_else(|| {
            Error::invalid(format!("{tf}.columns[{k}].name"), format!("column {} does not exist in {}.{}", c.name, sel.database, ts.name))
        })?;
        chosen.push(ColumnMap { source: column.clone(), target: c.rename.clone().unwrap_or_else(|| column.name.clone()) });
    }
    // Keep source column order: the target table is built from the source's DDL.
    chosen.sort_by_key(|c| table.columns.iter().position(|s| s.name == c.source.name));
    for k in table.key.iter().flatten() {
        if !chosen.iter().any(|c| &c.source.name == k) {
            return Err(Error::invalid(
                format!("{tf}.columns"),
                format!("key column {k} of {}.{} must be selected: rows are matched by it", sel.database, ts.name),
            ));
        }
    }
    m.column_subset = chosen.len() != table.columns.len();
    m.columns = chosen;
    Ok(m)
}

/// Reads the source catalog of what the spec selects and resolves it: the source databases that
/// exist, and the task's databases and tables with their merge settings complete.
pub async fn load(
    spec: &SyncTaskSpec,
    source: &crate::db::Server,
    src: &mut mysql_async::Conn,
    task: &str,
) -> Result<(Vec<String>, Vec<DatabaseMap>)> {
    use crate::db::catalog;
    let existing: Vec<String> = catalog::databases(source, src).await?;
    let mut tables_of = BTreeMap::new();
    for sel in &spec.objects {
        if !existing.contains(&sel.database) {
            continue; // resolve() names the field
        }
        let all = catalog::base_tables(source, src, &sel.database).await?;
        let wanted: Vec<&str> = match &sel.tables {
            None => all.iter().map(String::as_str).collect(),
            Some(list) => all.iter().filter(|t| list.iter().any(|s| &s.name == *t)).map(String::as_str).collect(),
        };
        tables_of.insert(sel.database.clone(), catalog::tables(source, src, &sel.database, &wanted).await?);
    }
    let mut dbs = resolve(spec, &tables_of)?;
    set_task(&mut dbs, task);
    Ok((existing, dbs))
}

/// The merge settings of a task's merged tables (the task id is set by the caller, which knows it).
fn merge_of(spec: &SyncTaskSpec) -> Merge {
    Merge {
        policy: spec.conflict_policy,
        task: String::new(),
        source: format!("{}:{}", spec.source.host, spec.source.port),
        metadata_database: spec.metadata_database.clone(),
        target: Default::default(),
    }
}

/// Completes the merge settings of every merged table: the task id (which the spec does not
/// hold) and the final target names.
pub fn set_task(dbs: &mut [DatabaseMap], task: &str) {
    for t in dbs.iter_mut().flat_map(|d| d.tables.iter_mut()) {
        if let Some(m) = &mut t.merge {
            m.task = task.to_string();
            m.target = (t.dst_db.clone(), t.dst_table.clone());
        }
    }
}

fn whole_table(sel: &DatabaseSelection, dst_db: &str, t: &Table) -> TableMap {
    TableMap {
        src_db: sel.database.clone(),
        src_table: t.name.clone(),
        dst_db: dst_db.to_string(),
        dst_table: t.name.clone(),
        columns: t.columns.iter().map(|c| ColumnMap { source: c.clone(), target: c.name.clone() }).collect(),
        column_subset: false,
        filter: None,
        key: t.key.clone(),
        other_unique_keys: t.other_unique_keys,
        rows_estimate: t.rows_estimate,
        merge: None,
    }
}

/// The renames of a resolved task, for rewriting DDL.
pub fn renames(dbs: &[DatabaseMap]) -> NameMap {
    let mut r = NameMap::new();
    for d in dbs {
        if d.dst != d.src {
            r.rename_db(&d.src, &d.dst);
        }
        for t in &d.tables {
            if t.dst_table != t.src_table {
                r.rename_table(&t.src_db, &t.src_table, &t.dst_table);
            }
            for c in t.columns.iter().filter(|c| c.target != c.source.name) {
                r.rename_column(&t.src_db, &t.src_table, &c.source.name, &c.target);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, cols: &[&str], key: &[&str]) -> Table {
        Table {
            db: "shop".into(),
            name: name.into(),
            columns: cols
                .iter()
                .map(|c| Column {
                    name: c.to_string(),
                    data_type: "int".into(),
                    column_type: "int(11)".into(),
                    nullable: false,
                    generated: false,
                    fsp: 0,
                    charset: None,
                    ordinal: 0,
                })
                .collect(),
            key: if key.is_empty() { None } else { Some(key.iter().map(|s| s.to_string()).collect()) },
            other_unique_keys: false,
            rows_estimate: 10,
        }
    }

    fn spec(objects: &str) -> SyncTaskSpec {
        let yaml = format!("source: {{host: a, credentialsSecret: s}}\ntarget: {{host: b, credentialsSecret: t}}\nobjects:\n{objects}");
        serde_saphyr::from_str(&yaml).unwrap()
    }

    fn catalog() -> BTreeMap<String, Vec<Table>> {
        BTreeMap::from([("shop".to_string(), vec![table("orders", &["id", "total", "note"], &["id"]), table("log", &["msg"], &[])])])
    }

    #[test]
    fn whole_database_with_rename() {
        let dbs = resolve(&spec("- database: shop\n  rename: shop2\n"), &catalog()).unwrap();
        assert_eq!(dbs[0].dst, "shop2");
        assert!(dbs[0].whole);
        assert_eq!(dbs[0].tables.len(), 2);
        assert!(dbs[0].tables.iter().all(|t| t.dst_db == "shop2"));
    }

    #[test]
    fn columns_and_renames() {
        let s = spec(
            "- database: shop\n  tables:\n  - name: orders\n    rename: o2\n    columns:\n    - name: total\n      rename: amount\n    - name: id\n",
        );
        let dbs = resolve(&s, &catalog()).unwrap();
        let t = &dbs[0].tables[0];
        assert_eq!(t.dst_table, "o2");
        assert!(t.column_subset);
        let names: Vec<_> = t.columns.iter().map(|c| (c.source.name.as_str(), c.target.as_str())).collect();
        assert_eq!(names, [("id", "id"), ("total", "amount")]);
        let r = renames(&dbs);
        assert_eq!(r.column("shop", "orders", "TOTAL"), "amount");
        assert_eq!(r.table("shop", "orders"), "o2");
    }

    #[test]
    fn errors_name_the_field() {
        let e = resolve(&spec("- database: nope\n"), &catalog()).unwrap_err().to_string();
        assert!(e.starts_with("spec.objects[0].database") && e.contains("nope"), "{e}");
        let e = resolve(&spec("- database: shop\n  tables:\n  - name: orders\n    columns:\n    - name: total\n"), &catalog())
            .unwrap_err()
            .to_string();
        assert!(e.contains("spec.objects[0].tables[0].columns") && e.contains("key column id"), "{e}");
        let e = resolve(&spec("- database: shop\n  tables:\n  - name: orders\n    columns:\n    - name: zz\n"), &catalog())
            .unwrap_err()
            .to_string();
        assert!(e.contains("columns[0].name") && e.contains("zz"), "{e}");
        let e = resolve(&spec("- database: shop\n  tables:\n  - name: orders\n    rename: log\n  - name: log\n"), &catalog())
            .unwrap_err()
            .to_string();
        assert!(e.contains("both map to target table shop.log"), "{e}");
    }
}
