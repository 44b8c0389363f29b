//! The source's table layouts at the binlog position being read: which column a row event's
//! value at position i belongs to.
//!
//! A row event names its columns only when the source logs them (`binlog_row_metadata=FULL`,
//! MySQL 8.0.1+ / MariaDB 10.5+). MySQL's default MINIMAL, MariaDB's default NO_LOG and every
//! MySQL 5.x log values by position alone, in the source table's column order *at the time the
//! row was written*. The target table cannot stand in for that order when the task selects some
//! columns, renames, or when the target's table differs, and the source's current catalog is
//! already further on. So ferry keeps its own copy of each selected source table's definition:
//! an empty "shadow" table on the target, created from the source's `SHOW CREATE TABLE` when the
//! table is synchronized and changed by every schema change the binlog holds for it, in binlog
//! order, whether or not the target table gets that change. The server interprets each DDL
//! exactly as the source did (ADD ... AFTER, CHANGE, DROP, RENAME COLUMN, CREATE ... LIKE), and
//! `information_schema.COLUMNS` of the shadow gives the order.
//!
//! Shadows live in one database per task and source database, named from the metadata
//! database and a hash (`ferry_meta_s0123456789ab`): names stay under MySQL's 64-character limit
//! and constraint names stay unique per database as on the source.

use mysql_async::Conn;
use mysql_async::prelude::*;
use tracing::{debug, warn};

use crate::db::{Server, fnv1a, q, qt};
use crate::error::{Error, Result};
use crate::sql::NameMap;
use crate::sql::ddl::{Ddl, DdlKind, ObjName, parse_ddl, rewrite_ddl};

use crate::codes::ALREADY_IN_SHADOW as ALREADY_APPLIED;

/// The shadow tables of one task.
#[derive(Clone, Debug)]
pub struct SchemaTracker {
    meta_db: String,
    task: String,
    /// The source logs no column names: a selected table created by the binlog gets a shadow
    /// from its CREATE (its rows arrive by position before any later definition exists).
    track_created: bool,
}

impl SchemaTracker {
    pub fn new(meta_db: &str, task: &str) -> Self {
        SchemaTracker { meta_db: meta_db.to_string(), task: task.to_string(), track_created: false }
    }

    /// Tracks the tables that the binlog creates and `follow`'s `wanted` selects, from their
    /// CREATE statement (for sources whose row events name no columns).
    pub fn tracking_created_tables(mut self, on: bool) -> Self {
        self.track_created = on;
        self
    }

    /// The database holding the shadows of source database `src_db`.
    pub fn shadow_db(&self, src_db: &str) -> String {
        let h = fnv1a(format!("{}\0{}", self.task, src_db).as_bytes());
        format!("{}_s{:012x}", self.meta_db, h & 0xffff_ffff_ffff)
    }

    /// (Re)creates the shadow of `src_db`.`table` from the source's `SHOW CREATE TABLE` text.
    pub async fn track(&self, target: &Server, conn: &mut Conn, src_db: &str, table: &str, create_sql: &str) -> Result<()> {
        self.create_shadow_db(target, conn, src_db).await?;
        self.track_in_shadow_db(target, conn, src_db, table, create_sql).await
    }

    /// Makes the database of `src_db`'s shadows, if missing.
    pub async fn create_shadow_db(&self, target: &Server, conn: &mut Conn, src_db: &str) -> Result<()> {
        target.exec_each(conn, &[format!("CREATE DATABASE IF NOT EXISTS {}", q(&self.shadow_db(src_db)))]).await
    }

    /// [`Self::track`] where the shadow database is known to exist.
    pub async fn track_in_shadow_db(&self, target: &Server, conn: &mut Conn, src_db: &str, table: &str, create_sql: &str) -> Result<()> {
        let shadow = self.shadow_db(src_db);
        let Some(sql) = shadow_create(create_sql, &shadow, table).or_else(|| self.shadow_statement(create_sql, src_db)) else {
            return Err(Error::object(
                format!("{src_db}.{table}"),
                "its definition cannot be tracked (ferry keeps a copy of it to map binlog columns)",
            ));
        };
        target.exec_each(conn, &[format!("DROP TABLE IF EXISTS {}", qt(&shadow, table)), sql]).await?;
        debug!(table = %format!("{src_db}.{table}"), "definition tracked");
        Ok(())
    }

    /// Applies a schema change from the binlog to the shadows it concerns. Best effort: a
    /// statement the shadow cannot take drops the shadows it names (they are made again from the
    /// source when next needed), and says so.
    pub async fn follow(
        &self,
        target: &Server,
        conn: &mut Conn,
        ddl: &Ddl,
        (sql, default_db): (&str, &str),
        wanted: &dyn Fn(&ObjName) -> bool,
    ) -> Result<()> {
        if !matches!(
            ddl.kind,
            DdlKind::CreateTable { .. } | DdlKind::AlterTable(_) | DdlKind::DropTable { .. } | DdlKind::RenameTable { .. }
        ) {
            return Ok(());
        }
        let tables: Vec<ObjName> = ddl.objects().into_iter().filter(|o| !o.is_database()).collect();
        // Only where shadows are kept: a database with at least one shadow.
        let mut dbs: Vec<&str> = tables.iter().map(|o| o.db.as_str()).collect();
        dbs.sort_unstable();
        dbs.dedup();
        let mut any = self.track_created && matches!(&ddl.kind, DdlKind::CreateTable { table, .. } if wanted(table));
        for db in dbs {
            if any {
                break;
            }
            if self.has_shadow_db(target, conn, db).await? {
                any = true;
                break;
            }
        }
        if !any {
            return Ok(());
        }
        let Some(stmt) = self.shadow_statement(sql, default_db) else {
            return self.forget(target, conn, &tables, "cannot be rewritten for the shadow").await;
        };
        for o in &tables {
            let create = format!("CREATE DATABASE IF NOT EXISTS {}", q(&self.shadow_db(&o.db)));
            conn.query_drop(&create).await.map_err(target.err("creating a shadow database"))?;
        }
        match conn.query_drop(&stmt).await {
            Ok(()) => Ok(()),
            Err(mysql_async::Error::Server(e)) if ALREADY_APPLIED.contains(&e.code) => {
                debug!(statement = %crate::db::short(sql), error = %e.message, "shadow has the change already");
                Ok(())
            }
            Err(mysql_async::Error::Server(e)) => self.forget(target, conn, &tables, &e.message).await,
            Err(e) => Err(target.err("replaying a schema change on a shadow table")(e)),
        }
    }

    /// The shadow's columns in order (source names), None when there is no shadow.
    pub async fn columns(&self, target: &Server, conn: &mut Conn, src_db: &str, table: &str) -> Result<Option<Vec<String>>> {
        let cols = crate::db::catalog::column_types(target, conn, &self.shadow_db(src_db), table).await?;
        Ok((!cols.is_empty()).then(|| cols.into_iter().map(|(name, _)| name).collect()))
    }

    /// The tracked column orders of every shadow of `src_db`, by table.
    pub async fn all_columns(
        &self,
        target: &Server,
        conn: &mut Conn,
        src_db: &str,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
        crate::db::catalog::column_names_of_database(target, conn, &self.shadow_db(src_db)).await
    }

    async fn has_shadow_db(&self, target: &Server, conn: &mut Conn, src_db: &str) -> Result<bool> {
        let n: Option<u64> = conn
            .exec_first("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", (self.shadow_db(src_db),))
            .await
            .map_err(target.err("looking for shadow tables"))?;
        Ok(n.unwrap_or(0) > 0)
    }

    async fn forget(&self, target: &Server, conn: &mut Conn, tables: &[ObjName], why: &str) -> Result<()> {
        for o in tables {
            warn!(table = %format!("{}.{}", o.db, o.name), reason = %why, "the tracked definition cannot follow a schema change; it is read from the source again when needed");
            let drop = format!("DROP TABLE IF EXISTS {}", qt(&self.shadow_db(&o.db), &o.name));
            conn.query_drop(&drop).await.map_err(target.err("dropping a shadow table"))?;
        }
        Ok(())
    }

    /// `sql` with every database it names moved to its shadow database, or None when a name
    /// could stay outside the shadows (then it must not run at all).
    pub fn shadow_statement(&self, sql: &str, default_db: &str) -> Option<String> {
        let ddl = parse_ddl(sql, default_db).ok()?;
        let mut names = NameMap::new();
        let mut dbs: Vec<String> = ddl.objects().into_iter().map(|o| o.db).collect();
        dbs.push(default_db.to_string());
        dbs.sort();
        dbs.dedup();
        for d in dbs.iter().filter(|d| !d.is_empty()) {
            names.rename_db(d, &self.shadow_db(d));
        }
        let out = rewrite_ddl(&crate::sql::rewrite::strip_definer(sql), default_db, &names).ok()?;
        // Whatever it names now must be a shadow database.
        let check = parse_ddl(&out, "").ok()?;
        let inside = check.objects().iter().all(|o| o.db.starts_with(&format!("{}_s", self.meta_db)));
        inside.then_some(out)
    }
}

/// `SHOW CREATE TABLE` text (canonical: the unqualified name first, one definition a line) as
/// the shadow's CREATE: the name qualified with the shadow database, foreign keys left out (a
/// shadow must never hold a constraint on a real table).
fn shadow_create(create_sql: &str, shadow_db: &str, table: &str) -> Option<String> {
    let head = format!("CREATE TABLE {} (", q(table));
    let rest = create_sql.strip_prefix(&head)?;
    let mut lines: Vec<&str> = rest.lines().collect();
    lines.retain(|l| !(l.trim_start().starts_with("CONSTRAINT ") && l.contains(" FOREIGN KEY ")));
    // The definition before the closing line must not end with a comma.
    let close = lines.iter().rposition(|l| l.starts_with(')'))?;
    if close > 0 {
        let last = lines[close - 1].trim_end().trim_end_matches(',');
        let fixed = last.to_string();
        let mut out = format!("CREATE TABLE {} (", qt(shadow_db, table));
        for (i, l) in lines.iter().enumerate() {
            out.push_str(if i == close - 1 { &fixed } else { l });
            out.push('\n');
        }
        return Some(out);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> SchemaTracker {
        SchemaTracker::new("ferry_meta", "default/orders")
    }

    #[test]
    fn show_create_output_becomes_a_shadow_without_foreign_keys() {
        let create = "CREATE TABLE `c` (\n  `id` int NOT NULL,\n  `p` int DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `p` (`p`),\n  \
                      CONSTRAINT `c_ibfk_1` FOREIGN KEY (`p`) REFERENCES `other`.`p` (`id`) ON DELETE CASCADE\n) ENGINE=InnoDB";
        let s = shadow_create(create, "ferry_meta_s1", "c").unwrap();
        assert_eq!(
            s,
            "CREATE TABLE `ferry_meta_s1`.`c` (\n  `id` int NOT NULL,\n  `p` int DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  KEY `p` (`p`)\n) ENGINE=InnoDB\n"
        );
        assert_eq!(shadow_create("CREATE TABLE `x` (\n  `a` int\n)", "s", "other"), None);
    }

    #[test]
    fn shadow_databases_are_short_stable_and_per_task() {
        let a = t().shadow_db("shop");
        assert_eq!(a, t().shadow_db("shop"));
        assert!(a.starts_with("ferry_meta_s") && a.len() == "ferry_meta_s".len() + 12, "{a}");
        assert_ne!(a, t().shadow_db("shop2"));
        assert_ne!(a, SchemaTracker::new("ferry_meta", "default/other").shadow_db("shop"));
    }

    #[test]
    fn statements_move_into_the_shadow_database() {
        let tr = t();
        let s = tr.shadow_db("shop");
        let alter = tr.shadow_statement("ALTER TABLE t ADD COLUMN c INT AFTER a, DROP COLUMN b", "shop").unwrap();
        assert!(alter.contains(&format!("`{s}`")), "{alter}");
        assert!(alter.contains("AFTER a") && alter.contains("DROP COLUMN b"), "{alter}");
        let create = tr.shadow_statement("CREATE TABLE `shop`.`t` (id INT PRIMARY KEY, v TEXT)", "other").unwrap();
        assert!(create.contains(&format!("`{s}`.`t`")) || create.contains(&format!("{s}`.`t`")), "{create}");
        let rename = tr.shadow_statement("RENAME TABLE shop.a TO shop.b, x.c TO x.d", "").unwrap();
        assert!(rename.contains(&s) && rename.contains(&tr.shadow_db("x")), "{rename}");
        assert!(!rename.contains("shop.") && !rename.contains("`shop`"), "{rename}");
    }

    #[test]
    fn like_and_foreign_keys_point_at_shadows_too() {
        let tr = t();
        let like = tr.shadow_statement("CREATE TABLE t2 LIKE t1", "shop").unwrap();
        assert_eq!(like.matches(&tr.shadow_db("shop")).count(), 2, "{like}");
        let fk = tr.shadow_statement("ALTER TABLE c ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES other.p (id)", "shop").unwrap();
        assert!(fk.contains(&tr.shadow_db("other")) && fk.contains(&tr.shadow_db("shop")), "{fk}");
    }
}
