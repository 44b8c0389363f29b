//! MySQL versus MariaDB: everything that differs between them lives here (version checks, how a
//! consistent snapshot and its binlog position are taken, GTID forms).

use std::cmp::Ordering;
use std::fmt;

use mysql_async::Conn;
use mysql_async::prelude::*;

use crate::db::Server;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    MySql,
    MariaDb,
}

impl Kind {
    /// The product's name as people write it.
    pub fn product(self) -> &'static str {
        match self {
            Kind::MySql => "MySQL",
            Kind::MariaDb => "MariaDB",
        }
    }
}

/// A server's product and version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flavor {
    pub kind: Kind,
    pub version: (u16, u16, u16),
    pub version_text: String,
}

/// How a cutover makes a source read-only (see [`Flavor::read_only_lock`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOnlyLock {
    /// The variable that says whether the server is read-only (`SELECT` it `+ 0`).
    pub variable: &'static str,
    /// Statements that make it read-only, on the session that holds the lock.
    pub lock: &'static [&'static str],
    /// Statements that end what that session holds (the server stays read-only).
    pub release: &'static [&'static str],
    /// The statement that makes it writable again.
    pub writable: &'static str,
}

impl Flavor {
    /// MySQL: `super_read_only`, which stops every user. MariaDB: `read_only`, with `FLUSH TABLES
    /// WITH READ LOCK` held by the session until released, since users with READ_ONLY ADMIN
    /// write under `read_only` alone.
    pub fn read_only_lock(&self) -> ReadOnlyLock {
        match self.kind {
            Kind::MySql => ReadOnlyLock {
                variable: "@@global.super_read_only",
                lock: &["SET GLOBAL super_read_only = ON"],
                release: &[],
                writable: "SET GLOBAL super_read_only = OFF, GLOBAL read_only = OFF",
            },
            Kind::MariaDb => ReadOnlyLock {
                variable: "@@global.read_only",
                lock: &["FLUSH TABLES WITH READ LOCK", "SET GLOBAL read_only = ON"],
                release: &["UNLOCK TABLES"],
                writable: "SET GLOBAL read_only = OFF",
            },
        }
    }
}

impl Flavor {
    pub async fn detect(server: &Server, conn: &mut Conn) -> Result<Flavor> {
        let text: String = conn.query_first("SELECT VERSION()").await.map_err(server.err("SELECT VERSION()"))?.unwrap_or_default();
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

    /// The release line: major and minor version (`10.11`, `9.7`).
    pub fn release(&self) -> (u16, u16) {
        (self.version.0, self.version.1)
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
        let rows: Vec<(String, String)> =
            conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'").await.map_err(server.err("reading binlog_snapshot_file/position"))?;
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
        self.position_now(source, conn, true).await
    }

    /// As [`Flavor::current_position`], without MariaDB's GTID: `BINLOG_GTID_POS` reads the
    /// binlog file up to the position (a tenth of a second and more on a big file). Enough to
    /// compare with positions, which order by file and offset.
    pub async fn current_file_position(&self, source: &Server, conn: &mut Conn) -> Result<Option<Position>> {
        self.position_now(source, conn, false).await
    }

    async fn position_now(&self, source: &Server, conn: &mut Conn, with_gtid: bool) -> Result<Option<Position>> {
        let stmt = self.binlog_status_statement();
        let row: Option<mysql_async::Row> = conn.query_first(stmt).await.map_err(source.err(stmt))?;
        let Some(row) = row else { return Ok(None) };
        let file: String = row.get(0).unwrap_or_default();
        let pos: u64 = row.get(1).unwrap_or(0);
        let gtid = if !with_gtid {
            None
        } else if self.kind == Kind::MariaDb {
            mariadb_gtid_at(source, conn, &file, pos).await?
        } else {
            // MySQL prints long GTID sets over several lines.
            row.get::<Option<String>, _>(4).flatten().filter(|g| !g.is_empty()).map(|g| g.replace('\n', ""))
        };
        Ok(Some(Position { file, pos, gtid }))
    }

    /// What incremental sync needs from the source's binlog, or the fix.
    pub async fn check_binlog_settings(&self, server: &Server, conn: &mut Conn, binlog: bool) -> Result<BinlogSettings> {
        let fail =
            |message: String| Error::Connect { role: server.role.as_str(), endpoint: server.address.clone(), message, transient: false };
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

    /// Global privileges the copy's consistent snapshot needs besides SELECT, as the engine takes
    /// it (`copier::open_snapshots`, [`Flavor::start_snapshot`]): on MySQL, FLUSH TABLES WITH READ
    /// LOCK (RELOAD) and, when the source writes a binlog, the position read under that lock
    /// (SHOW BINARY LOG STATUS: REPLICATION CLIENT). MariaDB reads each session's snapshot
    /// position from its status, with no lock and no privilege.
    pub fn snapshot_privileges(&self, binlog: bool) -> Vec<&'static str> {
        match (self.snapshot_needs_global_lock(), binlog) {
            (false, _) => Vec::new(),
            (true, false) => vec!["RELOAD"],
            (true, true) => vec!["RELOAD", self.binlog_monitor_privilege()],
        }
    }

    /// The privilege (and where it is granted: database and table, None for `*`) that lets a user
    /// see stored routines and read their bodies, which the schema sync copies with whole
    /// databases (information_schema.ROUTINES and SHOW CREATE FUNCTION / PROCEDURE list and show
    /// only the routines a user may read: without it they are silently left out). MySQL 8.0.20+:
    /// SHOW_ROUTINE; MySQL 8.0 before: global SELECT; MySQL 5.x and MariaDB: SELECT on mysql.proc.
    pub fn routine_read_privilege(&self) -> (&'static str, Option<&'static str>, Option<&'static str>) {
        match self.kind {
            Kind::MySql if self.version >= (8, 0, 20) => ("SHOW_ROUTINE", None, None),
            Kind::MySql if self.version >= (8, 0, 0) => ("SELECT", None, None),
            _ => ("SELECT", Some("mysql"), Some("proc")),
        }
    }

    /// The privilege that lets a session turn `sql_generate_invisible_primary_key` off (MySQL
    /// 8.0.30+; `db::Server` does on every target session): a restricted session variable.
    pub fn session_variables_privilege(&self) -> &'static str {
        "SESSION_VARIABLES_ADMIN"
    }

    /// The privileges SHOW GRANTS may list that each give what `privilege` gives, `privilege`
    /// first: its other name, the dynamic privilege split out of it, or MySQL's SUPER. As the
    /// servers' own refusals name them (MySQL 9.7: "the RELOAD or FLUSH_TABLES privilege(s)",
    /// "the SUPER, REPLICATION CLIENT privilege(s)", "the SUPER, SYSTEM_VARIABLES_ADMIN or
    /// SESSION_VARIABLES_ADMIN privilege(s)"). MariaDB 10.5+ took SUPER's binlog and variable
    /// rights apart, and calls REPLICATION CLIENT BINLOG MONITOR.
    pub fn privileges_covering(&self, privilege: &str) -> Vec<String> {
        let mysql = self.kind == Kind::MySql;
        let old_super = mysql || self.version < (10, 5, 0);
        let also: &[&str] = match privilege {
            "REPLICATION CLIENT" | "BINLOG MONITOR" if old_super => &["REPLICATION CLIENT", "BINLOG MONITOR", "SUPER"],
            "REPLICATION CLIENT" | "BINLOG MONITOR" => &["BINLOG MONITOR", "REPLICATION CLIENT"],
            "RELOAD" if mysql => &["FLUSH_TABLES"],
            "SESSION_VARIABLES_ADMIN" => &["SYSTEM_VARIABLES_ADMIN", "SUPER"],
            "SHOW_ROUTINE" => &["SELECT"],
            _ => &[],
        };
        std::iter::once(privilege).chain(also.iter().copied().filter(|p| *p != privilege)).map(str::to_string).collect()
    }

    /// The variable that compresses binlog events, if the server has one (ferry reads MySQL's
    /// compressed transactions, not MariaDB's compressed events).
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

/// sql_mode bits as the binlog records them (QUERY events' Q_SQL_MODE): the two products share
/// bits 0 to 31 and differ above; MySQL 8.0 dropped some modes whose bits older sources still log.
/// (bit, MySQL's name, MariaDB's name, gone in MySQL 8.0+)
const SQL_MODE_BITS: &[(u32, Option<&str>, Option<&str>, bool)] = &[
    (0, Some("REAL_AS_FLOAT"), Some("REAL_AS_FLOAT"), false),
    (1, Some("PIPES_AS_CONCAT"), Some("PIPES_AS_CONCAT"), false),
    (2, Some("ANSI_QUOTES"), Some("ANSI_QUOTES"), false),
    (3, Some("IGNORE_SPACE"), Some("IGNORE_SPACE"), false),
    (4, None, Some("IGNORE_BAD_TABLE_OPTIONS"), false),
    (5, Some("ONLY_FULL_GROUP_BY"), Some("ONLY_FULL_GROUP_BY"), false),
    (6, Some("NO_UNSIGNED_SUBTRACTION"), Some("NO_UNSIGNED_SUBTRACTION"), false),
    (7, Some("NO_DIR_IN_CREATE"), Some("NO_DIR_IN_CREATE"), false),
    (8, Some("POSTGRESQL"), Some("POSTGRESQL"), true),
    (9, Some("ORACLE"), Some("ORACLE"), true),
    (10, Some("MSSQL"), Some("MSSQL"), true),
    (11, Some("DB2"), Some("DB2"), true),
    (12, Some("MAXDB"), Some("MAXDB"), true),
    (13, Some("NO_KEY_OPTIONS"), Some("NO_KEY_OPTIONS"), true),
    (14, Some("NO_TABLE_OPTIONS"), Some("NO_TABLE_OPTIONS"), true),
    (15, Some("NO_FIELD_OPTIONS"), Some("NO_FIELD_OPTIONS"), true),
    (16, Some("MYSQL323"), Some("MYSQL323"), true),
    (17, Some("MYSQL40"), Some("MYSQL40"), true),
    (18, Some("ANSI"), Some("ANSI"), false),
    (19, Some("NO_AUTO_VALUE_ON_ZERO"), Some("NO_AUTO_VALUE_ON_ZERO"), false),
    (20, Some("NO_BACKSLASH_ESCAPES"), Some("NO_BACKSLASH_ESCAPES"), false),
    (21, Some("STRICT_TRANS_TABLES"), Some("STRICT_TRANS_TABLES"), false),
    (22, Some("STRICT_ALL_TABLES"), Some("STRICT_ALL_TABLES"), false),
    (23, Some("NO_ZERO_IN_DATE"), Some("NO_ZERO_IN_DATE"), false),
    (24, Some("NO_ZERO_DATE"), Some("NO_ZERO_DATE"), false),
    (25, Some("ALLOW_INVALID_DATES"), Some("ALLOW_INVALID_DATES"), false),
    (26, Some("ERROR_FOR_DIVISION_BY_ZERO"), Some("ERROR_FOR_DIVISION_BY_ZERO"), false),
    (27, Some("TRADITIONAL"), Some("TRADITIONAL"), false),
    (28, Some("NO_AUTO_CREATE_USER"), Some("NO_AUTO_CREATE_USER"), true),
    (29, Some("HIGH_NOT_PRECEDENCE"), Some("HIGH_NOT_PRECEDENCE"), false),
    (30, Some("NO_ENGINE_SUBSTITUTION"), Some("NO_ENGINE_SUBSTITUTION"), false),
    (31, Some("PAD_CHAR_TO_FULL_LENGTH"), Some("PAD_CHAR_TO_FULL_LENGTH"), false),
];

/// Bits above 31, per product.
const SQL_MODE_HIGH_BITS: &[(Kind, u32, &str)] = &[
    (Kind::MySql, 32, "TIME_TRUNCATE_FRACTIONAL"),
    (Kind::MariaDb, 32, "EMPTY_STRING_IS_NULL"),
    (Kind::MariaDb, 33, "SIMULTANEOUS_ASSIGNMENT"),
    (Kind::MariaDb, 34, "TIME_ROUND_FRACTIONAL"),
];

impl Flavor {
    /// The sql_mode a source of this flavour logged as `bits`, spelled for `target`: the modes the
    /// target knows, in `SET sql_mode` form, and the ones it lacks (which it cannot be given).
    pub fn sql_mode_for(&self, bits: u64, target: &Flavor) -> (String, Vec<String>) {
        let mut names: Vec<&str> = Vec::new();
        let mut lacking = Vec::new();
        let target_mysql8 = target.kind == Kind::MySql && target.version >= (8, 0, 0);
        for &(bit, mysql, maria, gone_in_8) in SQL_MODE_BITS {
            if bits & (1u64 << bit) == 0 {
                continue;
            }
            let name = match self.kind {
                Kind::MySql => mysql,
                Kind::MariaDb => maria,
            };
            let Some(name) = name else { continue };
            let known = match target.kind {
                Kind::MySql => mysql == Some(name) && !(gone_in_8 && target_mysql8),
                Kind::MariaDb => maria == Some(name),
            };
            if known { names.push(name) } else { lacking.push(name.to_string()) }
        }
        for &(kind, bit, name) in SQL_MODE_HIGH_BITS {
            if kind != self.kind || bits & (1u64 << bit) == 0 {
                continue;
            }
            let known = SQL_MODE_HIGH_BITS.iter().any(|&(k, _, n)| k == target.kind && n == name)
                && !(name == "TIME_TRUNCATE_FRACTIONAL" && target.version < (8, 0, 0));
            if known { names.push(name) } else { lacking.push(name.to_string()) }
        }
        (names.join(","), lacking)
    }
}

/// MariaDB's GTID position at a binlog file and offset.
pub(crate) async fn mariadb_gtid_at(server: &Server, conn: &mut Conn, file: &str, pos: u64) -> Result<Option<String>> {
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
    fn sql_modes_are_spelled_for_the_target() {
        let mysql9 = Flavor::from_version("9.7.4-2");
        let mysql57 = Flavor::from_version("5.7.44-log");
        let maria = Flavor::from_version("10.11.19-MariaDB-0+deb12u1-log");
        // MySQL 8's default: ONLY_FULL_GROUP_BY, STRICT_TRANS_TABLES, NO_ZERO_IN_DATE,
        // NO_ZERO_DATE, ERROR_FOR_DIVISION_BY_ZERO, NO_ENGINE_SUBSTITUTION.
        let default8 = (1 << 5) | (1 << 21) | (1 << 23) | (1 << 24) | (1 << 26) | (1 << 30);
        let want = "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";
        assert_eq!(mysql9.sql_mode_for(default8, &mysql9), (want.to_string(), vec![]));
        assert_eq!(mysql9.sql_mode_for(default8, &maria), (want.to_string(), vec![]));
        // 5.7's NO_AUTO_CREATE_USER is gone in 8.0; bit 32 means different modes per product.
        let (names, lacking) = mysql57.sql_mode_for((1 << 21) | (1 << 28), &mysql9);
        assert_eq!((names.as_str(), lacking), ("STRICT_TRANS_TABLES", vec!["NO_AUTO_CREATE_USER".to_string()]));
        assert_eq!(mysql57.sql_mode_for(1 << 28, &mysql57).0, "NO_AUTO_CREATE_USER");
        assert_eq!(maria.sql_mode_for(1 << 32, &maria).0, "EMPTY_STRING_IS_NULL");
        assert_eq!(maria.sql_mode_for(1 << 32, &mysql9), (String::new(), vec!["EMPTY_STRING_IS_NULL".to_string()]));
        assert_eq!(mysql9.sql_mode_for(1 << 32, &mysql9).0, "TIME_TRUNCATE_FRACTIONAL");
        assert_eq!(maria.sql_mode_for(1 << 4, &maria).0, "IGNORE_BAD_TABLE_OPTIONS");
        assert_eq!(maria.sql_mode_for(1 << 4, &mysql9).1, vec!["IGNORE_BAD_TABLE_OPTIONS".to_string()]);
        assert_eq!(mysql9.sql_mode_for(0, &maria), (String::new(), vec![]));
    }

    #[test]
    fn positions_order_by_file_number_then_offset() {
        let p = |f: &str, pos| Position { file: f.into(), pos, gtid: None };
        assert!(p("bin.000002", 4) > p("bin.000001", 9000));
        assert!(p("bin.000010", 4) > p("bin.000009", 4));
        assert!(p("bin.000001", 500) > p("bin.000001", 400));
    }
}
