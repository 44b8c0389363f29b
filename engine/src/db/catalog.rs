//! What a server holds: databases, tables with their columns and keys, views, routines, triggers.
//! Read from information_schema for structure and from SHOW CREATE for DDL (which, unlike
//! information_schema.COLUMNS.COLUMN_DEFAULT, reads the same on MySQL and MariaDB).

use std::collections::BTreeMap;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use crate::db::{Server, q, qt};
use crate::error::{Error, Result};

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
    let sql = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME";
    read(server, conn, sql, (), "listing databases", || server.address.clone()).await
}

pub async fn base_tables(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    let sql = "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME";
    read(server, conn, sql, (db,), &format!("listing tables of {db}"), || format!("database {db}")).await
}

pub async fn views(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    let sql = "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME";
    read(server, conn, sql, (db,), &format!("listing views of {db}"), || format!("database {db}")).await
}

/// (kind, name): kind is FUNCTION or PROCEDURE.
pub async fn routines(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<(String, String)>> {
    let sql = "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? \
               AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') ORDER BY ROUTINE_TYPE, ROUTINE_NAME";
    read(server, conn, sql, (db,), &format!("listing routines of {db}"), || format!("database {db}")).await
}

/// (trigger, table)
pub async fn triggers(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<(String, String)>> {
    let sql = "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME";
    read(server, conn, sql, (db,), &format!("listing triggers of {db}"), || format!("database {db}")).await
}

/// The events of a database.
pub async fn events(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    let sql = "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME";
    read(server, conn, sql, (db,), &format!("listing events of {db}"), || format!("database {db}")).await
}

/// Runs a catalog query and reads its rows as `T` without the driver's panic on a value `T`
/// cannot hold: such a row is an error naming `object`.
async fn read<T: FromRow, P: Into<mysql_async::Params> + Send>(
    server: &Server,
    conn: &mut Conn,
    sql: &str,
    params: P,
    doing: &str,
    object: impl Fn() -> String,
) -> Result<Vec<T>> {
    let rows: Vec<Row> = conn.exec(sql, params).await.map_err(server.err(doing))?;
    convert(rows, object, doing)
}

/// (name, lower-case DATA_TYPE) of a table's columns in order; empty when there is no table.
pub async fn column_types(server: &Server, conn: &mut Conn, db: &str, name: &str) -> Result<Vec<(String, String)>> {
    let rows: Vec<(Option<String>, Option<String>)> = read(
        server,
        conn,
        "SELECT COLUMN_NAME, LOWER(DATA_TYPE) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
         ORDER BY ORDINAL_POSITION",
        (db, name),
        &format!("reading the columns of {}", qt(db, name)),
        || format!("{db}.{name}"),
    )
    .await?;
    rows.into_iter()
        .map(|(n, t)| match (n, t) {
            (Some(n), Some(t)) => Ok((n, t)),
            _ => Err(Error::object(format!("{db}.{name}"), "information_schema.COLUMNS lists a column without a name or type")),
        })
        .collect()
}

/// (table, column) of the JSON columns of `db` (MySQL's type; MariaDB's JSON is a LONGTEXT).
pub async fn json_columns(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<(String, String)>> {
    let sql = "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND DATA_TYPE = 'json'";
    read(server, conn, sql, (db,), &format!("reading the JSON columns of {}", q(db)), || db.to_string()).await
}

/// One table's structure (no columns when there is no such table), without a rows estimate.
pub async fn table(server: &Server, conn: &mut Conn, db: &str, name: &str) -> Result<Table> {
    let mut found = describe(server, conn, db, Some(name), Rows::NotNeeded).await?;
    Ok(take(&mut found, name).unwrap_or_else(|| Table {
        db: db.to_string(),
        name: name.to_string(),
        columns: Vec::new(),
        key: None,
        other_unique_keys: false,
        rows_estimate: 0,
    }))
}

/// Every table of `db` by name (one read of information_schema for the whole database), without
/// rows estimates.
pub async fn describe_database(server: &Server, conn: &mut Conn, db: &str) -> Result<BTreeMap<String, Table>> {
    describe(server, conn, db, None, Rows::NotNeeded).await
}

/// The column names, in order, of every table (and view) of `db`, by table name.
pub async fn column_names_of_database(server: &Server, conn: &mut Conn, db: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let sql = "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION";
    let rows: Vec<(String, Option<String>)> =
        read(server, conn, sql, (db,), &format!("reading the columns of {}", q(db)), || db.to_string()).await?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, column) in rows {
        let Some(column) = column else {
            return Err(Error::object(format!("{db}.{table}"), "information_schema.COLUMNS lists a column without a name"));
        };
        out.entry(table).or_default().push(column);
    }
    Ok(out)
}

/// The structure of every table of `db` named in `names`, in that order, read in three queries
/// for the whole database rather than three per table (ten thousand tables are read in seconds,
/// not minutes). A name the database lacks is an error naming it.
pub async fn tables(server: &Server, conn: &mut Conn, db: &str, names: &[&str]) -> Result<Vec<Table>> {
    let only = if names.len() == 1 { Some(names[0]) } else { None };
    let mut found = describe(server, conn, db, only, Rows::Estimated).await?;
    names
        .iter()
        .map(|n| take(&mut found, n).ok_or_else(|| Error::object(format!("{db}.{n}"), "the table is gone from the server")))
        .collect()
}

/// The entry named `name` (or so but for letter case) of a database's tables.
pub fn lookup<'a, T>(found: &'a BTreeMap<String, T>, name: &str) -> Option<&'a T> {
    found.get(name).or_else(|| found.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// The entry named `name`, or named so but for letter case (information_schema spells names as
/// the server stores them: lower case under lower_case_table_names).
fn take<T>(found: &mut BTreeMap<String, T>, name: &str) -> Option<T> {
    if let Some(t) = found.remove(name) {
        return Some(t);
    }
    let key = found.keys().find(|k| k.eq_ignore_ascii_case(name))?.clone();
    found.remove(&key)
}

/// Tables of `db` (only `only`, if given) by name, from information_schema.COLUMNS, STATISTICS
/// and TABLES. Views have columns too: they are left out.
/// Whether [`Table::rows_estimate`] is read: MySQL computes TABLE_ROWS of tables whose cached
/// statistics are missing or old by opening them, seconds for a thousand freshly loaded tables,
/// and only the copy's plan needs it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rows {
    Estimated,
    NotNeeded,
}

async fn describe(server: &Server, conn: &mut Conn, db: &str, only: Option<&str>, rows: Rows) -> Result<BTreeMap<String, Table>> {
    let doing = match only {
        Some(name) => format!("reading the structure of {}", qt(db, name)),
        None => format!("reading the structure of the tables of {}", q(db)),
    };
    let object = || only.map_or_else(|| db.to_string(), |name| format!("{db}.{name}"));
    // Bound as parameters either way; the one-table form lets the server open one table only.
    let (filter, params): (&str, Vec<&str>) = match only {
        Some(name) => ("TABLE_SCHEMA = ? AND TABLE_NAME = ?", vec![db, name]),
        None => ("TABLE_SCHEMA = ?", vec![db]),
    };
    let rows_column = if rows == Rows::Estimated { "TABLE_ROWS" } else { "NULL" };
    let sql = format!("SELECT TABLE_NAME, {rows_column} FROM information_schema.TABLES WHERE {filter} AND TABLE_TYPE <> 'VIEW'");
    let listed: Vec<(String, Option<u64>)> = read(server, conn, &sql, params.clone(), &doing, object).await?;
    let mut tables: BTreeMap<String, Table> = listed
        .into_iter()
        .map(|(name, rows)| {
            let t = Table {
                db: db.to_string(),
                name: name.clone(),
                columns: Vec::new(),
                key: None,
                other_unique_keys: false,
                rows_estimate: rows.unwrap_or(0),
            };
            (name, t)
        })
        .collect();
    if tables.is_empty() {
        return Ok(tables);
    }

    type ColumnRow = (String, Option<String>, Option<String>, String, String, Option<String>, Option<u32>, Option<String>);
    let sql = format!(
        "SELECT TABLE_NAME, COLUMN_NAME, LOWER(DATA_TYPE), COLUMN_TYPE, IS_NULLABLE, EXTRA, DATETIME_PRECISION, CHARACTER_SET_NAME \
         FROM information_schema.COLUMNS WHERE {filter} ORDER BY TABLE_NAME, ORDINAL_POSITION"
    );
    let cols: Vec<ColumnRow> = read(server, conn, &sql, params.clone(), &doing, object).await?;
    for (table, name, data_type, column_type, nullable, extra, fsp, charset) in cols {
        let Some(t) = tables.get_mut(&table) else { continue }; // a view's columns
        let ordinal = t.columns.len();
        let (Some(name), Some(data_type)) = (name, data_type) else {
            return Err(Error::object(
                format!("{db}.{table}"),
                format!("information_schema.COLUMNS gives column {} no name or no type", ordinal + 1),
            ));
        };
        let extra = extra.unwrap_or_default().to_ascii_uppercase();
        // MySQL 8 marks expression defaults DEFAULT_GENERATED: those are ordinary columns.
        let generated = extra.contains("VIRTUAL") || extra.contains("STORED") || extra.contains("PERSISTENT");
        t.columns.push(Column {
            name,
            data_type,
            column_type,
            nullable: nullable == "YES",
            generated,
            fsp: fsp.unwrap_or(0),
            charset,
            ordinal,
        });
    }

    // (table, index, non_unique, column, seq, sub_part); the column is NULL for a functional key
    // part (MySQL 8.0.13+, `INDEX ((LOWER(email)))`), which SHOW CREATE TABLE copies through.
    let sql = format!(
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SEQ_IN_INDEX, SUB_PART FROM information_schema.STATISTICS \
         WHERE {filter} ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
    );
    let stats: Vec<TableIndexPart> = read(server, conn, &sql, params, &doing, object).await?;
    let mut by_table: BTreeMap<String, Vec<IndexPart>> = BTreeMap::new();
    for (table, index, non_unique, column, seq, sub_part) in stats {
        by_table.entry(table).or_default().push((index, non_unique, column, seq, sub_part));
    }
    for (name, t) in tables.iter_mut() {
        let stats = by_table.remove(name).unwrap_or_default();
        t.key = choose_key(&t.columns, &stats);
        let unique_indexes: std::collections::BTreeSet<&String> =
            stats.iter().filter(|(_, non_unique, ..)| *non_unique == 0).map(|(index, ..)| index).collect();
        t.other_unique_keys = unique_indexes.len() > usize::from(t.key.is_some());
    }
    Ok(tables)
}

/// (table, then an [`IndexPart`]) as information_schema.STATISTICS lists them for a database.
type TableIndexPart = (String, String, i64, Option<String>, u32, Option<u32>);

/// (index, non_unique, column or None for an expression, seq_in_index, sub_part)
type IndexPart = (String, i64, Option<String>, u32, Option<u32>);

/// Rows as `T`, or an error naming `object` and the row (a NULL where a value was expected, a type
/// `T` cannot hold): never the driver's panic.
fn convert<T: FromRow>(rows: Vec<Row>, object: impl Fn() -> String, doing: &str) -> Result<Vec<T>> {
    rows.into_iter()
        .map(|row| {
            mysql_async::from_row_opt(row).map_err(|e| {
                let values: Vec<String> = e.0.unwrap_raw().into_iter().map(|v| v.map_or("?".into(), |v| v.as_sql(true))).collect();
                Error::object(object(), format!("{doing}: the server returned values ferry cannot read ({})", values.join(", ")))
            })
        })
        .collect()
}

fn choose_key(columns: &[Column], stats: &[IndexPart]) -> Option<Vec<String>> {
    // (index, columns, whole, any expression part). An expression key part (a functional index)
    // never makes a row key; it comes across with SHOW CREATE TABLE.
    let mut indexes: Vec<(String, Vec<String>, bool, bool)> = Vec::new();
    for (index, non_unique, column, _, sub_part) in stats {
        if *non_unique != 0 {
            continue;
        }
        let expression = column.is_none();
        let column = column.clone().unwrap_or_default();
        match indexes.iter_mut().find(|(n, ..)| n == index) {
            Some(entry) => {
                entry.1.push(column);
                entry.2 &= sub_part.is_none();
                entry.3 |= expression;
            }
            None => indexes.push((index.clone(), vec![column], sub_part.is_none(), expression)),
        }
    }
    indexes.retain(|(.., expression)| !expression);
    if let Some((_, cols, ..)) = indexes.iter().find(|(n, ..)| n == "PRIMARY") {
        return Some(cols.clone());
    }
    let not_null = |c: &String| columns.iter().any(|col| &col.name == c && !col.nullable && !col.generated);
    indexes
        .into_iter()
        .filter(|(_, cols, whole, _)| *whole && cols.iter().all(not_null))
        .min_by_key(|(_, cols, ..)| cols.len())
        .map(|(_, cols, ..)| cols)
}

pub async fn show_create_table(server: &Server, conn: &mut Conn, db: &str, name: &str) -> Result<String> {
    let sql = format!("SHOW CREATE TABLE {}", qt(db, name));
    let row = show_create(server, conn, &sql).await?;
    Ok(text_at(&row, 1).unwrap_or_default())
}

pub async fn show_create_database(server: &Server, conn: &mut Conn, db: &str) -> Result<String> {
    let sql = format!("SHOW CREATE DATABASE {}", q(db));
    let row = show_create(server, conn, &sql).await?;
    Ok(text_at(&row, 1).unwrap_or_default())
}

/// The session a view or routine was created in, as SHOW CREATE reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CreationContext {
    pub character_set_client: String,
    pub collation_connection: String,
    /// Routines only: the database's default collation when the routine was created.
    pub database_collation: Option<String>,
}

/// (create statement, the session it was created in)
pub async fn show_create_view(server: &Server, conn: &mut Conn, db: &str, name: &str) -> Result<(String, CreationContext)> {
    let sql = format!("SHOW CREATE VIEW {}", qt(db, name));
    let row = show_create(server, conn, &sql).await?;
    let context = CreationContext {
        character_set_client: text_at(&row, 2).unwrap_or_default(),
        collation_connection: text_at(&row, 3).unwrap_or_default(),
        database_collation: None,
    };
    Ok((text_at(&row, 1).unwrap_or_default(), context))
}

/// A stored routine's definition: SHOW CREATE FUNCTION / PROCEDURE.
#[derive(Clone, Debug, Default)]
pub struct RoutineDdl {
    pub sql_mode: String,
    /// Empty when the user may not see the body.
    pub create: String,
    pub context: CreationContext,
    /// An event's time zone, which its schedule's times are in (None for other objects).
    pub time_zone: Option<String>,
}

/// An event's CREATE and the session it was made in (`SHOW CREATE EVENT` puts its time zone
/// before the statement).
pub async fn show_create_event(server: &Server, conn: &mut Conn, db: &str, name: &str) -> Result<RoutineDdl> {
    let row = show_create(server, conn, &format!("SHOW CREATE EVENT {}", qt(db, name))).await?;
    Ok(RoutineDdl { time_zone: text_at(&row, 2), ..routine_ddl(&row, 3) })
}

pub async fn show_create_routine(server: &Server, conn: &mut Conn, db: &str, kind: &str, name: &str) -> Result<RoutineDdl> {
    let row = show_create(server, conn, &format!("SHOW CREATE {kind} {}", qt(db, name))).await?;
    Ok(routine_ddl(&row, 2))
}

/// A SHOW CREATE row of a stored object: sql_mode second, the CREATE at `create`, then the
/// session's character sets and the database collation.
fn routine_ddl(row: &Option<mysql_async::Row>, create: usize) -> RoutineDdl {
    RoutineDdl {
        sql_mode: text_at(row, 1).unwrap_or_default(),
        create: text_at(row, create).unwrap_or_default(),
        context: CreationContext {
            character_set_client: text_at(row, create + 1).unwrap_or_default(),
            collation_connection: text_at(row, create + 2).unwrap_or_default(),
            database_collation: text_at(row, create + 3),
        },
        time_zone: None,
    }
}

/// The row of a SHOW CREATE statement, read column by column (its shape differs between
/// statements, servers and object kinds: SHOW CREATE TABLE on a view has four columns).
async fn show_create(server: &Server, conn: &mut Conn, sql: &str) -> Result<Option<Row>> {
    conn.query_first(sql).await.map_err(server.err(sql.to_string()))
}

/// Column `i` of a row as text; None when missing or NULL.
fn text_at(row: &Option<Row>, i: usize) -> Option<String> {
    let row = row.as_ref()?;
    match row.as_ref(i)? {
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        mysql_async::Value::NULL => None,
        other => Some(other.as_sql(true)),
    }
}

/// Names of the base tables and views that exist in `db` on a server.
pub async fn existing_relations(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<String>> {
    let sql = "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?";
    read(server, conn, sql, (db,), &format!("listing tables of {db}"), || format!("database {db}")).await
}

/// A foreign key: `child`'s `columns` reference `parent`'s `referenced`, with its actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignKey {
    pub name: String,
    /// (database, table)
    pub child: (String, String),
    pub columns: Vec<String>,
    pub parent: (String, String),
    pub referenced: Vec<String>,
    /// ON DELETE and ON UPDATE, as information_schema spells them: CASCADE, SET NULL,
    /// SET DEFAULT, RESTRICT, NO ACTION.
    pub on_delete: String,
    pub on_update: String,
}

impl ForeignKey {
    /// Whether an action changes the child rows (rather than only refusing the parent's change).
    pub fn changes_children(rule: &str) -> bool {
        matches!(rule.to_ascii_uppercase().as_str(), "CASCADE" | "SET NULL" | "SET DEFAULT")
    }
}

/// The foreign keys of the tables of `db` (their parents may be anywhere). Both queries name
/// the database, which MariaDB's information_schema needs to read one database only.
pub async fn foreign_keys(server: &Server, conn: &mut Conn, db: &str) -> Result<Vec<ForeignKey>> {
    let ctx = || format!("reading the foreign keys of database {db}");
    let object = || format!("database {db}");
    let rules: Vec<(String, String, String, String, String, String)> = read(
        server,
        conn,
        "SELECT TABLE_NAME, CONSTRAINT_NAME, UNIQUE_CONSTRAINT_SCHEMA, REFERENCED_TABLE_NAME, UPDATE_RULE, DELETE_RULE \
         FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?",
        (db,),
        &ctx(),
        object,
    )
    .await?;
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<(String, String, String, Option<String>)> = read(
        server,
        conn,
        "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
        (db,),
        &ctx(),
        object,
    )
    .await?;
    Ok(rules
        .into_iter()
        .map(|(table, name, parent_db, parent, on_update, on_delete)| {
            let (columns, referenced) = parts
                .iter()
                .filter(|(t, n, ..)| *t == table && *n == name)
                .map(|(_, _, c, r)| (c.clone(), r.clone().unwrap_or_default()))
                .unzip();
            ForeignKey { name, child: (db.to_string(), table), columns, parent: (parent_db, parent), referenced, on_delete, on_update }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, nullable: bool) -> Column {
        Column {
            name: name.into(),
            data_type: "int".into(),
            column_type: "int(11)".into(),
            nullable,
            generated: false,
            fsp: 0,
            charset: None,
            ordinal: 0,
        }
    }

    #[test]
    fn primary_key_wins_then_narrowest_not_null_unique() {
        let cols = vec![col("a", false), col("b", false), col("c", true)];
        let s = |i: &str, nu: i64, c: &str, sub: Option<u32>| (i.to_string(), nu, Some(c.to_string()), 1, sub);
        assert_eq!(choose_key(&cols, &[s("u", 0, "a", None), s("PRIMARY", 0, "b", None)]), Some(vec!["b".into()]));
        assert_eq!(choose_key(&cols, &[s("u1", 0, "c", None), s("u2", 0, "a", None)]), Some(vec!["a".into()]));
        assert_eq!(choose_key(&cols, &[s("u", 0, "a", Some(4))]), None, "prefix keys are not exact");
        assert_eq!(choose_key(&cols, &[s("k", 1, "a", None)]), None);
    }

    #[test]
    fn expression_key_parts_never_make_the_row_key() {
        let cols = vec![col("a", false), col("b", false)];
        // MySQL: information_schema.STATISTICS.COLUMN_NAME is NULL for a functional key part.
        let part = |i: &str, c: Option<&str>, seq: u32| (i.to_string(), 0, c.map(String::from), seq, None);
        let unique_expr = [part("ux", None, 1)];
        assert_eq!(choose_key(&cols, &unique_expr), None);
        let mixed = [part("ux", Some("a"), 1), part("ux", None, 2), part("ub", Some("b"), 1), part("ub", Some("a"), 2)];
        assert_eq!(choose_key(&cols, &mixed), Some(vec!["b".into(), "a".into()]), "the unique key without expressions");
        let with_pk = [part("PRIMARY", Some("b"), 1), part("ux", None, 1)];
        assert_eq!(choose_key(&cols, &with_pk), Some(vec!["b".into()]));
    }

    #[test]
    fn unreadable_catalog_rows_are_errors_naming_the_object() {
        let row = |values: Vec<mysql_async::Value>| {
            let columns: Vec<mysql_async::Column> =
                (0..values.len()).map(|_| mysql_async::Column::new(mysql_async::consts::ColumnType::MYSQL_TYPE_VAR_STRING)).collect();
            mysql_common::row::new_row(values, columns.into())
        };
        let null = row(vec![mysql_async::Value::NULL, mysql_async::Value::from("x")]);
        let err = convert::<(String, String)>(vec![null], || "`db`.`t`".into(), "reading the structure of `db`.`t`").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("`db`.`t`: reading the structure") && msg.contains("NULL, 'x'"), "{msg}");
        let ok = row(vec![mysql_async::Value::NULL, mysql_async::Value::from("x")]);
        assert_eq!(convert::<(Option<String>, String)>(vec![ok], String::new, "").unwrap(), vec![(None, "x".to_string())]);
    }
}
