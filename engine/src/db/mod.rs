//! Connections to the task's two servers. Every error leaving here names the endpoint, never the
//! credentials.

pub mod catalog;
pub mod flavor;
pub mod retry;

pub use retry::Backoff;

use std::time::Duration;

use ferry_crds::{Endpoint, TlsMode};
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts};

use crate::error::{Error, Result};
use ferry_crds::manifest::Credentials;

/// Which side of the task a server is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Target => "target",
        }
    }
}

/// What a connection is for; decides its session settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    /// Catalog queries and DDL.
    Control,
    /// Reading rows byte for byte: results are sent in each column's own character set.
    RawRead,
    /// Writing rows: zero dates allowed, no FK checks, UTC.
    Write,
}

/// A server endpoint and how to open sessions on it.
#[derive(Clone)]
pub struct Server {
    pub role: Role,
    pub address: String,
    opts: Opts,
    tls_preferred: bool,
    /// Sessions may open whatever the server's settings (the precheck, which reports them).
    inspect_only: bool,
}

/// The sql_mode of ferry's write sessions: strict (bad data is an error, never a silent change),
/// zero dates and zero in dates allowed (they are data), explicit 0 in AUTO_INCREMENT kept.
pub const WRITE_SQL_MODE: &str = "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION";

/// A task's two servers, as its spec and Secrets name them.
pub fn servers(task: &ferry_crds::manifest::Task) -> (Server, Server) {
    (
        Server::new(Role::Source, &task.spec.source, &task.source_credentials, task.source_ca.as_deref()),
        Server::new(Role::Target, &task.spec.target, &task.target_credentials, task.target_ca.as_deref()),
    )
}

impl Server {
    pub fn new(role: Role, ep: &Endpoint, creds: &Credentials, ca_pem: Option<&[u8]>) -> Self {
        let mode = ep.tls.as_ref().map(|t| t.mode).unwrap_or_default();
        let ssl = match mode {
            TlsMode::Disabled => None,
            TlsMode::Preferred | TlsMode::Required => {
                Some(SslOpts::default().with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true))
            }
            TlsMode::VerifyCa | TlsMode::VerifyIdentity => {
                let mut s = SslOpts::default();
                if let Some(pem) = ca_pem {
                    s = s.with_root_certs(vec![pem.to_vec().into()]).with_disable_built_in_roots(true);
                }
                Some(s.with_danger_skip_domain_validation(mode == TlsMode::VerifyCa))
            }
        };
        let opts = OptsBuilder::default()
            .ip_or_hostname(ep.host.clone())
            .tcp_port(ep.port)
            .user(Some(creds.username.clone()))
            .pass(Some(creds.password.clone()))
            .prefer_socket(false)
            .ssl_opts(ssl)
            .stmt_cache_size(64)
            .client_found_rows(true)
            .tcp_nodelay(true);
        Server {
            role,
            address: format!("{}:{}", ep.host, ep.port),
            opts: opts.into(),
            tls_preferred: mode == TlsMode::Preferred,
            inspect_only: false,
        }
    }

    /// The same server for the precheck: a target whose settings ferry's sessions refuse (see
    /// `gipk_settings`) still opens sessions, so that the precheck can say what to change.
    pub fn inspect_only(mut self) -> Self {
        self.inspect_only = true;
        self
    }

    /// Opens a session, retrying briefly on network errors (not on refused credentials): three
    /// tries by [`Backoff::connecting`]; what outlasts them is the caller's retry loop's.
    pub async fn connect(&self, session: Session) -> Result<Conn> {
        let mut backoff = Backoff::connecting();
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.connect_once(session).await {
                Ok(c) => return Ok(c),
                Err((e, retry)) if !retry || attempt == 3 => return Err(e),
                Err(_) => tokio::time::sleep(backoff.after(Duration::ZERO)).await,
            }
        }
    }

    async fn connect_once(&self, session: Session) -> std::result::Result<Conn, (Error, bool)> {
        let setup = session_setup(session);
        let opts = OptsBuilder::from_opts(self.opts.clone()).setup(setup.clone());
        let conn = match tokio::time::timeout(Duration::from_secs(20), Conn::new(opts)).await {
            Err(_) => return Err((self.connect_error("timed out after 20 s".into(), true), true)),
            Ok(Ok(c)) => c,
            Ok(Err(mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer))) if self.tls_preferred => {
                let plain = OptsBuilder::from_opts(self.opts.clone()).ssl_opts(None::<SslOpts>).setup(setup);
                Conn::new(plain).await.map_err(|e| self.classify(e))?
            }
            Ok(Err(e)) => return Err(self.classify(e)),
        };
        let mut conn = conn;
        if let Err(e) = self.gipk_settings(&mut conn).await {
            let _ = conn.disconnect().await;
            return Err((e, false));
        }
        Ok(conn)
    }

    /// MySQL 8.0.30+ generated invisible primary keys (`my_row_id`), once per session: shown in
    /// information_schema and SHOW CREATE TABLE (they are in the row images whatever the server
    /// shows, so column positions and copied definitions must include them), and never generated
    /// for the tables ferry creates (those are the source's, a source GIPK included). Servers
    /// without the variables (MariaDB, older MySQL) refuse with 1193, which is fine. Turning the
    /// second off takes SESSION_VARIABLES_ADMIN (or SYSTEM_VARIABLES_ADMIN, SUPER); a target
    /// where it is ON and stays ON is refused: its keyless tables, and ferry's copies of the
    /// source's definitions that map binlog columns, would get a column the source does not have.
    async fn gipk_settings(&self, conn: &mut Conn) -> Result<()> {
        let _ = conn.query_drop("SET SESSION show_gipk_in_create_table_and_information_schema = ON").await;
        if let Err(mysql_async::Error::Server(e)) = conn.query_drop("SET SESSION sql_generate_invisible_primary_key = OFF").await
            && e.code != crate::codes::UNKNOWN_SYSTEM_VARIABLE
            && self.role == Role::Target
            && !self.inspect_only
        {
            let on = query_scalar::<i64>(conn, "SELECT @@sql_generate_invisible_primary_key").await.unwrap_or(None);
            if on == Some(1) {
                let user = query_scalar::<String>(conn, "SELECT CURRENT_USER()").await.ok().flatten().unwrap_or_default();
                let user = user.rsplit_once('@').map_or("'user'@'host'".to_string(), |(u, h)| format!("{}@{}", lit(u), lit(h)));
                return Err(self.connect_error(
                    format!(
                        "sql_generate_invisible_primary_key is ON and ferry may not turn it off in its session ({}): tables without a primary key \
                         would get an extra column on the target; GRANT SESSION_VARIABLES_ADMIN ON *.* TO {user}; or SET GLOBAL sql_generate_invisible_primary_key = OFF",
                        e.message
                    ),
                    false,
                ));
            }
        }
        Ok(())
    }

    fn classify(&self, e: mysql_async::Error) -> (Error, bool) {
        match &e {
            mysql_async::Error::Server(s) => {
                // 1045 access denied, 1044/1049 no database: retrying will not help.
                let transient = crate::codes::TRANSIENT_AT_CONNECT.contains(&s.code);
                (self.connect_error(format!("server refused the connection: {} (error {})", s.message, s.code), transient), false)
            }
            mysql_async::Error::Io(io) => (self.connect_error(format!("cannot connect: {io}"), true), true),
            other => (self.connect_error(format!("cannot connect: {other}"), false), false),
        }
    }

    fn connect_error(&self, message: String, transient: bool) -> Error {
        Error::Connect { role: self.role.as_str(), endpoint: self.address.clone(), message, transient }
    }

    /// Wraps a server error with the endpoint and what ferry was doing.
    pub fn err(&self, context: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> Error + '_ {
        let context = context.into();
        move |source| Error::Server { role: self.role.as_str(), endpoint: self.address.clone(), context, source: Box::new(source) }
    }

    /// Runs statements in order on `conn`; an error names the statement.
    pub async fn exec_each(&self, conn: &mut Conn, statements: &[String]) -> Result<()> {
        for s in statements {
            conn.query_drop(s).await.map_err(self.err(short(s)))?;
        }
        Ok(())
    }
}

/// Several ferry processes may share a target (many-to-one, one task's precheck beside another's
/// engine). The precheck creates a missing database to try its privileges and drops it again
/// when empty; whoever creates a database and then tables in it holds this named lock meanwhile,
/// so that drop can never land between the two. Waits up to `DB_LOCK_WAIT_SECONDS`.
pub async fn lock_databases(server: &Server, conn: &mut Conn, dbs: &[&str]) -> Result<()> {
    for db in dbs {
        let got: Option<Option<i64>> = conn
            .exec_first("SELECT GET_LOCK(?, ?)", (database_lock_name(db), DB_LOCK_WAIT_SECONDS))
            .await
            .map_err(server.err(format!("taking the lock on creating database {db}")))?;
        if got.flatten() != Some(1) {
            return Err(Error::Object {
                object: format!("database {db} on the {} {}", server.role.as_str(), server.address),
                message: format!(
                    "another ferry process held the lock {} on creating it for {DB_LOCK_WAIT_SECONDS} s",
                    database_lock_name(db)
                ),
            });
        }
    }
    Ok(())
}

/// Releases what `lock_databases` took (a closed session releases them too).
pub async fn unlock_databases(conn: &mut Conn, dbs: &[&str]) {
    for db in dbs {
        let _ = conn.exec_drop("DO RELEASE_LOCK(?)", (database_lock_name(db),)).await;
    }
}

const DB_LOCK_WAIT_SECONDS: u32 = 120;

/// Lock names are at most 64 characters: a hash of the database name.
fn database_lock_name(db: &str) -> String {
    format!("ferry:db:{:016x}", fnv1a(db.as_bytes()))
}

/// FNV-1a, for short stable names derived from identifiers.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn session_setup(session: Session) -> Vec<String> {
    let mut s = vec!["SET NAMES utf8mb4".to_string(), "SET time_zone = '+00:00'".to_string()];
    match session {
        Session::Control => {}
        Session::RawRead => {
            s.push("SET character_set_results = NULL".into());
            s.push("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ".into());
        }
        Session::Write => {
            s.push(format!("SET sql_mode = '{WRITE_SQL_MODE}'"));
            // No gap locks: the copy's sessions write disjoint key ranges side by side.
            s.push("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".into());
            s.push("SET foreign_key_checks = 0".into());
            s.push("SET unique_checks = 1".into());
        }
    }
    // mysql_async runs setup commands last to first.
    s.reverse();
    s
}

/// The first column of the first row of `sql`, None when there is no row, the value is NULL or it
/// does not read as a `T` (a proxy answering `'ON'` for a number): never a panic on what a
/// server sends.
pub async fn query_scalar<T: mysql_async::prelude::FromValue>(
    conn: &mut Conn,
    sql: &str,
) -> std::result::Result<Option<T>, mysql_async::Error> {
    let row: Option<mysql_async::Row> = conn.query_first(sql).await?;
    Ok(row.and_then(|mut r| r.take_opt::<Option<T>, _>(0)).and_then(|v| v.ok()).flatten())
}

/// Lexicographic comparison of the key with a bound, spelled out so every server can use the
/// index range: (k1 > v1) OR (k1 = v1 AND k2 >= v2) ...
pub fn key_range(key: &[String], bound: &[mysql_async::Value], last_op: &str, op: &str, params: &mut Vec<mysql_async::Value>) -> String {
    let mut ors = Vec::new();
    for i in 0..key.len() {
        let mut ands = Vec::new();
        for j in 0..i {
            ands.push(format!("{} = ?", q(&key[j])));
            params.push(bound[j].clone());
        }
        let o = if i + 1 == key.len() { last_op } else { op };
        ands.push(format!("{} {o} ?", q(&key[i])));
        params.push(bound[i].clone());
        ors.push(format!("({})", ands.join(" AND ")));
    }
    format!("({})", ors.join(" OR "))
}

/// The first line of a statement, short enough for an error message.
pub fn short(sql: &str) -> String {
    let one: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 160 { format!("{}…", one.chars().take(160).collect::<String>()) } else { one }
}

/// The name a backtick-quoted identifier quotes (a name without backticks as is).
pub fn unquote(quoted: &str) -> String {
    match quoted.strip_prefix('`').and_then(|s| s.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`"),
        None => quoted.to_string(),
    }
}

/// Backtick-quotes an identifier.
pub fn q(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `db`.`table`
pub fn qt(db: &str, table: &str) -> String {
    format!("{}.{}", q(db), q(table))
}

/// Quotes a string literal for MySQL (backslash and quote escaped).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}
