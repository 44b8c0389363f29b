//! [`NameMap`]: ferry's renames from source names to target names, as every rewrite
//! of the SQL front end applies them.

use std::collections::HashMap;

/// Renames from source names to target names. Database and table names match
/// exactly (case-sensitive, as on Linux); column names match case-insensitively.
/// Keys are always source names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameMap {
    dbs: HashMap<String, String>,
    tables: HashMap<(String, String), String>,
    /// Keyed by (db, table, lowercased column).
    columns: HashMap<(String, String, String), String>,
}

impl NameMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn rename_db(&mut self, src_db: &str, dst_db: &str) {
        self.dbs.insert(src_db.into(), dst_db.into());
    }

    pub fn rename_table(&mut self, src_db: &str, src_table: &str, dst_table: &str) {
        self.tables.insert((src_db.into(), src_table.into()), dst_table.into());
    }

    pub fn rename_column(&mut self, src_db: &str, src_table: &str, src_col: &str, dst_col: &str) {
        let key = (src_db.into(), src_table.into(), src_col.to_lowercase());
        self.columns.insert(key, dst_col.into());
    }

    /// Target name of a source database (itself when not renamed).
    pub fn db<'a>(&'a self, db: &'a str) -> &'a str {
        self.dbs.get(db).map_or(db, String::as_str)
    }

    /// Target name of a source table (or view, or sequence).
    pub fn table<'a>(&'a self, db: &str, table: &'a str) -> &'a str {
        // Avoid allocating a key tuple for the common no-rename case.
        if self.tables.is_empty() {
            return table;
        }
        self.tables.get(&(db.to_string(), table.to_string())).map_or(table, String::as_str)
    }

    /// Renamed columns of a source table: (lowercased source name, target name).
    pub fn renamed_columns(&self, db: &str, table: &str) -> Vec<(&str, &str)> {
        self.columns.iter().filter(|((d, t, _), _)| d == db && t == table).map(|((_, _, c), dst)| (c.as_str(), dst.as_str())).collect()
    }

    /// Target name of a source column.
    pub fn column<'a>(&'a self, db: &str, table: &str, column: &'a str) -> &'a str {
        if self.columns.is_empty() {
            return column;
        }
        let key = (db.to_string(), table.to_string(), column.to_lowercase());
        self.columns.get(&key).map_or(column, String::as_str)
    }
}

/// Maps for the SQL front end's tests, built from `(path, new name)` pairs: `db`, `db.table` or
/// `db.table.column`.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::NameMap;

    /// The schema sync tests' renames.
    pub const SCHEMA_SYNC: &[(&str, &str)] = &[
        ("shop", "shop2"),
        ("crm", "crm2"),
        ("shop.orders", "purchases"),
        ("shop.customers", "clients"),
        ("shop.v1", "view_one"),
        ("shop.orders.qty", "quantity"),
        ("shop.orders.WE`IRD", "we`ird2"),
        ("shop.customers.id", "cid"),
        ("shop.prange.grp", "group_id"),
        ("shop.events.ts", "tstamp"),
        ("shop.we`ird tbl.c d", "c`d"),
    ];

    /// The DDL replay tests' renames.
    pub const DDL_REPLAY: &[(&str, &str)] = &[
        ("shop", "shop2"),
        ("crm", "crm2"),
        ("shop.orders", "purchases"),
        ("shop.v1", "view_one"),
        ("shop.orders.qty", "quantity"),
        ("shop.orders.note", "remark"),
        ("shop.orders.day", "order_day"),
        ("shop.we`ird t.c d", "c`d"),
    ];

    pub fn map(renames: &[(&str, &str)]) -> NameMap {
        let mut m = NameMap::new();
        for (path, to) in renames {
            match path.splitn(3, '.').collect::<Vec<_>>()[..] {
                [db] => m.rename_db(db, to),
                [db, table] => m.rename_table(db, table, to),
                [db, table, column] => m.rename_column(db, table, column, to),
                _ => unreachable!("a path of one to three names"),
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> NameMap {
        fixtures::map(fixtures::SCHEMA_SYNC)
    }

    #[test]
    fn name_map_case_rules() {
        let m = map();
        assert_eq!(m.db("shop"), "shop2");
        assert_eq!(m.db("Shop"), "Shop", "database names are case-sensitive");
        assert_eq!(m.table("shop", "orders"), "purchases");
        assert_eq!(m.table("shop", "Orders"), "Orders", "table names are case-sensitive");
        assert_eq!(m.table("crm", "orders"), "orders");
        assert_eq!(m.column("shop", "orders", "QTY"), "quantity", "columns are not");
        assert_eq!(m.column("shop", "orders", "we`ird"), "we`ird2");
        assert_eq!(m.column("shop", "customers", "qty"), "qty");
        assert_eq!(NameMap::new().column("a", "b", "c"), "c");
    }
}
