//! What a server holds: databases, tables with their columns and keys, views, routines, triggers.
//! Read from information_schema for structure and from SHOW CREATE for DDL (which, unlike
//! information_schema.COLUMNS.COLUMN_DEFAULT, reads the same on MySQL and MariaDB).

use mysql_async::Conn;
use mysql_async::prelude::*;

use crate::db::{Server, q, qt};
use crate::error::Result;

/// A column as the copier needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    /// information_schema DATA_TYPE, lower case: `int`, `bit`, `datetime`, ...
    pub data_type: String,
    /// The full type: `int(10) unsigned`, `enum('a','b')`, ...
    pub column_type: String,
    pub nullable: bool,
    /// Virtual or stored generated column: never written, the target computes it.
    pub generated: bool,
    /// Fractional seconds digits of temporal types.
    pub fsp: u32,
    /// Character set of string columns (None for numbers, dates and binary strings' `binary`).
    pub charset: Option<String>,
    /// Position in the table (0-based): where the column's value sits in a binlog row.
    pub ordinal: usize,
}

/// A base table's structure.
#[derive(Clone, Debug)]
pub struct Table {
    pub db: String,
    pub name: String,
    pub columns: Vec<Column>,
    /// The primary key, else the narrowest unique key on NOT NULL columns without prefix parts.
    pub key: Option<Vec<String>>,
    /// Unique indexes besides `key`: a row image can collide on them with another row.
    pub other_unique_keys: bool,
    pub rows_estimate: u64,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

pub async fn databases(server: &Server, conn: &mut Conn) -> Result<Vec<String>> {
    conn.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
        .await
        .map_err(server.err("listing databases"))
}

pub async fn base_tables(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    conn.exec(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (db,),
    )
    .await
    .map_err(server.err(format!("listing tables of {db}")))
}

pub async fn views(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    conn.exec(
        "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
        (db,),
    )
    .await
    .map_err(server.err(format!("listing views of {db}")))
}

/// (kind, name): kind is FUNCTION or PROCEDURE.
pub async fn routines(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<(String, String)>> {
    conn.exec(
        "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? \
         AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        (db,),
    )
    .await
    .map_err(server.err(format!("listing routines of {db}")))
}

/// (trigger, table)
pub async fn triggers(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<(String, String)>> {
    conn.exec(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME",
        (db,),
    )
    .await
    .map_err(server.err(format!("listing triggers of {db}")))
}

pub async fn table(server: &Server, conn: &mut Conn, db: &str, name: &str) -> Result<Table> {
    let ctx = || format!("reading the structure of {}", qt(db, name));
    let cols: Vec<(String, String, String, String, String, Option<u32>, Option<String>)> = conn
        .exec(
            "SELECT COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, IS_NULLABLE, EXTRA, DATETIME_PRECISION, CHARACTER_SET_NAME \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, name),
        )
        .await
        .map_err(server.err(ctx()))?;
    let columns = cols
        .into_iter()
        .enumerate()
        .map(|(ordinal, (name, data_type, column_type, nullable, extra, fsp, charset))| {
            let extra = extra.to_ascii_uppercase();
            // MySQL 8 marks expression defaults DEFAULT_GENERATED: those are ordinary columns.
            let generated = extra.contains("VIRTUAL") || extra.contains("STORED") || extra.contains("PERSISTENT");
            Column { name, data_type, column_type, nullable: nullable == "YES", generated, fsp: fsp.unwrap_or(0), charset, ordinal }
        })
        .collect::<Vec<_>>();

    // (index, non_unique, column, seq, sub_part)
    let stats: Vec<(String, i64, String, u32, Option<u32>)> = conn
        .exec(
            "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SEQ_IN_INDEX, SUB_PART FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (db, name),
        )
        .await
        .map_err(server.err(ctx()))?;
    let key = choose_key(&columns, &stats);
    let unique_indexes: std::collections::BTreeSet<&String> =
        stats.iter().filter(|(_, non_unique, ..)| *non_unique == 0).map(|(index, ..)| index).collect();
    let other_unique_keys = unique_indexes.len() > usize::from(key.is_some());

    let rows_estimate: Option<Option<u64>> = conn
        .exec_first(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, name),
        )
        .await
        .map_err(server.err(ctx()))?;
    Ok(Table {
        db: db.to_string(),
        name: name.to_string(),
        columns,
        key,
        other_unique_keys,
        rows_estimate: rows_estimate.flatten().unwrap_or(0),
    })
}

fn choose_key(columns: &[Column], stats: &[(String, i64, String, u32, Option<u32>)]) -> Option<Vec<String>> {
    let mut indexes: Vec<(String, Vec<String>, bool)> = Vec::new();
    for (index, non_unique, column, _, sub_part) in stats {
        if *non_unique != 0 {
            continue;
        }
        match indexes.iter_mut().find(|(n, _, _)| n == index) {
            Some(entry) => {
                entry.1.push(column.clone());
                entry.2 &= sub_part.is_none();
            }
            None => indexes.push((index.clone(), vec![column.clone()], sub_part.is_none())),
        }
    }
    if let Some((_, cols, _)) = indexes.iter().find(|(n, _, _)| n == "PRIMARY") {
        return Some(cols.clone());
    }
    let not_null = |c: &String| columns.iter().any(|col| &col.name == c && !col.nullable && !col.generated);
    indexes
        .into_iter()
        .filter(|(_, cols, whole)| *whole && cols.iter().all(not_null))
        .min_by_key(|(_, cols, _)| cols.len())
        .map(|(_, cols, _)| cols)
}

pub async fn show_create_table(server: &Server, conn: &mut Conn, db: &str, name: &str) -> Result<String> {
    let sql = format!("SHOW CREATE TABLE {}", qt(db, name));
    let row: Option<(String, String)> = conn.query_first(&sql).await.map_err(server.err(sql.clone()))?;
    Ok(row.map(|r| r.1).unwrap_or_default())
}

pub async fn show_create_database(server: &Server, conn: &mut Conn, db: &str) -> Result<String> {
    let sql = format!("SHOW CREATE DATABASE {}", q(db));
    let row: Option<(String, String)> = conn.query_first(&sql).await.map_err(server.err(sql.clone()))?;
    Ok(row.map(|r| r.1).unwrap_or_default())
}

/// (create statement, character_set_client, collation_connection)
pub async fn show_create_view(server: &Server, conn: &mut Conn, db: &str, name: &str) -> Result<(String, String, String)> {
    let sql = format!("SHOW CREATE VIEW {}", qt(db, name));
    let row: Option<(String, String, String, String)> = conn.query_first(&sql).await.map_err(server.err(sql.clone()))?;
    Ok(row.map(|r| (r.1, r.2, r.3)).unwrap_or_default())
}

/// (sql_mode, create statement)
pub async fn show_create_routine(server: &Server, conn: &mut Conn, db: &str, kind: &str, name: &str) -> Result<(String, String)> {
    let sql = format!("SHOW CREATE {kind} {}", qt(db, name));
    let row: Option<mysql_async::Row> = conn.query_first(&sql).await.map_err(server.err(sql.clone()))?;
    let Some(row) = row else { return Ok((String::new(), String::new())) };
    let sql_mode: Option<String> = row.get(1);
    let create: Option<Option<String>> = row.get(2);
    Ok((sql_mode.unwrap_or_default(), create.flatten().unwrap_or_default()))
}

/// Names of the base tables and views that exist in `db` on a server.
pub async fn existing_relations(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    conn.exec("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", (db,))
        .await
        .map_err(server.err(format!("listing tables of {db}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, nullable: bool) -> Column {
        Column { name: name.into(), data_type: "int".into(), column_type: "int(11)".into(), nullable, generated: false, fsp: 0, charset: None, ordinal: 0 }
    }

    #[test]
    fn primary_key_wins_then_narrowest_not_null_unique() {
        let cols = vec![col("a", false), col("b", false), col("c", true)];
        let s = |i: &str, nu: i64, c: &str, sub: Option<u32>| (i.to_string(), nu, c.to_string(), 1, sub);
        assert_eq!(choose_key(&cols, &[s("u", 0, "a", None), s("PRIMARY", 0, "b", None)]), Some(vec!["b".into()]));
        assert_eq!(choose_key(&cols, &[s("u1", 0, "c", None), s("u2", 0, "a", None)]), Some(vec!["a".into()]));
        assert_eq!(choose_key(&cols, &[s("u", 0, "a", Some(4))]), None, "prefix keys are not exact");
        assert_eq!(choose_key(&cols, &[s("k", 1, "a", None)]), None);
    }
}
