//! MySQL versus MariaDB: everything that differs between them lives here (version checks, how a
//! consistent snapshot and its binlog position are taken, GTID forms).

use std::cmp::Ordering;
use std::fmt;

use mysql_async::Conn;
use mysql_async::prelude::*;

use crate::db::Server;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    MySql,
    MariaDb,
}

/// A server's product and version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flavor {
    pub kind: Kind,
    pub version: (u16, u16, u16),
    pub version_text: String,
}

impl Flavor {
    pub async fn detect(server: &Server, conn: &mut Conn) -> Result<Flavor> {
        let text: String =
            conn.query_first("SELECT VERSION()").await.map_err(server.err("SELECT VERSION()"))?.unwrap_or_default();
        Ok(Self::from_version(&text))
    }

    pub fn from_version(text: &str) -> Flavor {
        let kind = if text.to_ascii_lowercase().contains("mariadb") { Kind::MariaDb } else { Kind::MySql };
        // MariaDB 10 used to report "5.5.5-10.x" to old clients.
        let core = text.strip_prefix("5.5.5-").unwrap_or(text);
        let mut parts = core.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        Flavor { kind, version, version_text: text.to_string() }
    }

    /// MariaDB reports the snapshot's binlog position per session, so every copy session can open
    /// its own snapshot without any lock. MySQL has no such thing: a brief global read lock lines
    /// the sessions up.
    pub fn snapshot_needs_global_lock(&self) -> bool {
        self.kind == Kind::MySql
    }

    /// Starts a consistent-snapshot transaction on `conn` and returns the binlog position it
    /// matches (None when the server has no binlog). On MySQL the caller holds the global read lock.
    pub async fn start_snapshot(&self, server: &Server, conn: &mut Conn, binlog: bool) -> Result<Option<Position>> {
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .map_err(server.err("starting a consistent snapshot"))?;
        if !binlog {
            return Ok(None);
        }
        if self.kind == Kind::MySql {
            // The caller holds the global read lock: the server's position is the snapshot's.
            return self.current_position(server, conn).await;
        }
        let rows: Vec<(String, String)> = conn
            .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
            .await
            .map_err(server.err("reading binlog_snapshot_file/position"))?;
        let get = |k: &str| rows.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
        let file = get("binlog_snapshot_file").unwrap_or_default();
        let pos: u64 = get("binlog_snapshot_position").and_then(|v| v.parse().ok()).unwrap_or(0);
        if file.is_empty() {
            return Ok(None);
        }
        let gtid = mariadb_gtid_at(server, conn, &file, pos).await?;
        Ok(Some(Position { file, pos, gtid }))
    }

    /// Whether the server writes a binlog at all.
    pub async fn binlog_enabled(server: &Server, conn: &mut Conn) -> Result<bool> {
        let on: Option<i64> = conn.query_first("SELECT @@log_bin").await.map_err(server.err("SELECT @@log_bin"))?;
        Ok(on == Some(1))
    }

    /// The source's current binlog position (a start for tasks without a data copy).
    pub async fn current_position(&self, source: &Server, conn: &mut Conn) -> Result<Option<Position>> {
        let stmt = if self.kind == Kind::MySql && self.version >= (8, 4, 0) {
            "SHOW BINARY LOG STATUS"
        } else {
            "SHOW MASTER STATUS"
        };
        let row: Option<mysql_async::Row> = conn.query_first(stmt).await.map_err(source.err(stmt))?;
        let Some(row) = row else { return Ok(None) };
        let file: String = row.get(0).unwrap_or_default();
        let pos: u64 = row.get(1).unwrap_or(0);
        let gtid = if self.kind == Kind::MariaDb {
            mariadb_gtid_at(source, conn, &file, pos).await?
        } else {
            // MySQL prints long GTID sets over several lines.
            row.get::<Option<String>, _>(4).flatten().filter(|g| !g.is_empty()).map(|g| g.replace('\n', ""))
        };
        Ok(Some(Position { file, pos, gtid }))
    }

    /// What incremental sync needs from the source's binlog, or the fix.
    pub async fn check_binlog_settings(&self, server: &Server, conn: &mut Conn, binlog: bool) -> Result<BinlogSettings> {
        let fail = |message: String| Error::Connect {
            role: server.role.as_str(),
            endpoint: server.address.clone(),
            message,
            transient: false,
        };
        if !binlog {
            return Err(fail("the binary log is off; incremental sync needs it: start the server with log_bin".into()));
        }
        let vars: Vec<(String, String)> = conn
            .query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_format', 'binlog_row_image', 'binlog_row_metadata')")
            .await
            .map_err(server.err("reading binlog settings"))?;
        let get = |k: &str| vars.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.to_ascii_uppercase());
        if get("binlog_format").as_deref() != Some("ROW") {
            return Err(fail("binlog_format must be ROW: SET GLOBAL binlog_format = 'ROW' (and in the server's config)".into()));
        }
        if get("binlog_row_image").is_some_and(|v| v != "FULL") {
            return Err(fail("binlog_row_image must be FULL: SET GLOBAL binlog_row_image = 'FULL'".into()));
        }
        // Row events name their columns only with FULL (MySQL 8.0.1+, MariaDB 10.5+); otherwise
        // values come by position (MySQL's default MINIMAL, MariaDB's NO_LOG, every MySQL 5.x).
        Ok(BinlogSettings { names_columns: get("binlog_row_metadata").as_deref() == Some("FULL") })
    }

    pub fn check_supported_source(&self, server: &Server) -> Result<()> {
        let ok = match self.kind {
            Kind::MySql => self.version >= (5, 1, 0),
            Kind::MariaDb => self.version >= (10, 0, 0) || self.version.0 == 5,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Connect {
                role: server.role.as_str(),
                endpoint: server.address.clone(),
                message: format!("server version {} is not supported (MySQL 5.1-8.x, MariaDB 10+)", self.version_text),
                transient: false,
            })
        }
    }
}

/// What the precheck needs to know about a product: variable, statement and privilege names.
impl Flavor {
    /// How SHOW GRANTS names the privilege SHOW MASTER STATUS needs (MariaDB 10.5 renamed
    /// REPLICATION CLIENT to BINLOG MONITOR and accepts the old name in GRANT).
    pub fn binlog_monitor_privilege(&self) -> &'static str {
        if self.kind == Kind::MariaDb && self.version >= (10, 5, 0) { "BINLOG MONITOR" } else { "REPLICATION CLIENT" }
    }

    /// Global privileges the snapshot method needs besides SELECT: MySQL lines its sessions up
    /// under FLUSH TABLES WITH READ LOCK; MariaDB needs nothing more.
    pub fn snapshot_privileges(&self) -> &'static [&'static str] {
        if self.snapshot_needs_global_lock() { &["RELOAD"] } else { &[] }
    }

    /// The variable that compresses binlog events (which ferry cannot read), if the server has one.
    pub fn binlog_compression_variable(&self) -> Option<&'static str> {
        match self.kind {
            Kind::MariaDb if self.version >= (10, 2, 3) => Some("log_bin_compress"),
            Kind::MySql if self.version >= (8, 0, 20) => Some("binlog_transaction_compression"),
            _ => None,
        }
    }

    /// The variable that makes a replica write what it applies to its own binlog.
    pub fn replica_updates_variable(&self) -> &'static str {
        if self.kind == Kind::MySql && self.version >= (8, 0, 26) { "log_replica_updates" } else { "log_slave_updates" }
    }

    /// The statement listing a server's replication channels.
    pub fn replica_status_statement(&self) -> &'static str {
        match self.kind {
            Kind::MariaDb => "SHOW ALL SLAVES STATUS",
            Kind::MySql if self.version >= (8, 0, 22) => "SHOW REPLICA STATUS",
            Kind::MySql => "SHOW SLAVE STATUS",
        }
    }

    /// Whether binlog retention is set in seconds (binlog_expire_logs_seconds) rather than days.
    pub fn retention_in_seconds(&self) -> bool {
        match self.kind {
            Kind::MariaDb => self.version >= (10, 6, 1),
            Kind::MySql => self.version >= (8, 0, 1),
        }
    }

    /// The statement that shows the current binlog file and position.
    pub fn binlog_status_statement(&self) -> &'static str {
        if self.kind == Kind::MySql && self.version >= (8, 4, 0) { "SHOW BINARY LOG STATUS" } else { "SHOW MASTER STATUS" }
    }
}

/// Foreign keys: whether the source's binlog holds the changes they cascade.
impl Flavor {
    /// Whether the changes a rows event's statement cascaded through foreign keys (ON DELETE /
    /// ON UPDATE CASCADE, SET NULL) are in the binlog as row events of their own. Only when MySQL
    /// 9's SQL layer handled the foreign keys (`innodb_native_foreign_keys=OFF`, its default):
    /// it marks every rows event it writes then with USE_SQL_FOREIGN_KEY_F (0x10) and logs the
    /// cascaded rows before the parent's. InnoDB's own cascades (MariaDB, MySQL 5.7/8.0, MySQL 9
    /// with `innodb_native_foreign_keys=ON`) are never logged: a replica's foreign keys must
    /// redo them. Read from each event rather than from the server's variable (read-only, but a
    /// restart may change it while older binlog is still to be read); MariaDB leaves the bit
    /// unused.
    pub fn cascades_logged(&self, rows_flags: u16) -> bool {
        self.kind == Kind::MySql && rows_flags & 0x0010 != 0
    }
}

/// MariaDB's GTID position at a binlog file and offset.
async fn mariadb_gtid_at(server: &Server, conn: &mut Conn, file: &str, pos: u64) -> Result<Option<String>> {
    let gtid: Option<Option<String>> =
        conn.exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file, pos)).await.map_err(server.err("BINLOG_GTID_POS"))?;
    Ok(gtid.flatten())
}

/// What the binlog's settings tell the engine beyond passing the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinlogSettings {
    /// Row events name their columns (`binlog_row_metadata=FULL`).
    pub names_columns: bool,
}

/// A position in the source's binlog, with the GTID state there when the source has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub file: String,
    pub pos: u64,
    pub gtid: Option<String>,
}

impl Position {
    /// Binlog files are numbered by their extension (mysql-bin.000012).
    fn file_seq(&self) -> u64 {
        self.file.rsplit('.').next().and_then(|n| n.parse().ok()).unwrap_or(0)
    }
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Position {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.file_seq(), &self.file, self.pos).cmp(&(other.file_seq(), &other.file, other.pos))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)?;
        if let Some(g) = &self.gtid {
            write!(f, " ({g})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_kinds() {
        let m = Flavor::from_version("10.11.19-MariaDB-0+deb12u1-log");
        assert_eq!((m.kind, m.version), (Kind::MariaDb, (10, 11, 19)));
        let o = Flavor::from_version("5.5.5-10.4.2-MariaDB");
        assert_eq!((o.kind, o.version), (Kind::MariaDb, (10, 4, 2)));
        let y = Flavor::from_version("8.0.36");
        assert_eq!((y.kind, y.version), (Kind::MySql, (8, 0, 36)));
        assert!(y.snapshot_needs_global_lock() && !m.snapshot_needs_global_lock());
    }

    #[test]
    fn cascades_are_logged_only_by_mysqls_sql_layer() {
        let mysql = Flavor::from_version("9.7.4-2");
        let maria = Flavor::from_version("10.11.19-MariaDB-0+deb12u1-log");
        // STMT_END_F | USE_SQL_FOREIGN_KEY_F, and with NO_FOREIGN_KEY_CHECKS_F (a cascaded row).
        assert!(mysql.cascades_logged(0x11) && mysql.cascades_logged(0x12));
        assert!(!mysql.cascades_logged(0x01) && !mysql.cascades_logged(0x03));
        assert!(!maria.cascades_logged(0x11));
    }

    #[test]
    fn positions_order_by_file_number_then_offset() {
        let p = |f: &str, pos| Position { file: f.into(), pos, gtid: None };
        assert!(p("bin.000002", 4) > p("bin.000001", 9000));
        assert!(p("bin.000010", 4) > p("bin.000009", 4));
        assert!(p("bin.000001", 500) > p("bin.000001", 400));
    }
}
