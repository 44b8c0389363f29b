//! The replica connection: opening and resuming the stream, reading it, where it is, and the
//! server errors on it turned into the ones the user needs.

use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use mysql_async::prelude::*;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn};
use tracing::info;

use super::Event;
use super::events::StreamState;
use super::gtid::{GtidState, MySqlGtidSet, parse_mariadb_gtids};
use super::rows::Tables;
use crate::db::flavor::{Flavor, Kind, Position};
use crate::db::{Server, Session, lit};
use crate::error::{Error, Result};

/// A replica stream of the source's binlog.
pub struct BinlogReader {
    stream: BinlogStream,
    source: Server,
    server_id: u32,
    /// Where the stream is, and the events decoded but not yet handed out.
    pub(super) state: StreamState,
    pub(super) tables: Tables,
    /// How long the stream may stay silent (no event, no heartbeat) before it counts as lost.
    idle_limit: Option<Duration>,
}

impl fmt::Debug for BinlogReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinlogReader")
            .field("source", &self.source.address)
            .field("server_id", &self.server_id)
            .field("position", &self.position())
            .finish()
    }
}

impl BinlogReader {
    /// Connects a replica stream to the source, starting at `start` (file + pos; MariaDB: also
    /// `start.gtid` alone when `start.file` is empty, via @slave_connect_state; MySQL: the GTID
    /// set alone via COM_BINLOG_DUMP_GTID), with replica `server_id`, heartbeats every
    /// `heartbeat` while the source is idle (zero: none).
    ///
    /// Waits for the stream's first event, so a purged position or missing privileges fail here.
    pub async fn open(source: &Server, flavor: &Flavor, server_id: u32, start: &Position, heartbeat: Duration) -> Result<BinlogReader> {
        Self::open_from(source, flavor, server_id, start, start.file.is_empty(), heartbeat).await
    }

    /// Resumes after a checkpoint: by GTID where [`resume_by_gtid`] says so (the server skips
    /// what the checkpoint's GTID set holds, wherever the binlog files went), else by file and
    /// position. Until the stream reaches its first transaction, [`position`](Self::position)
    /// reports the checkpoint.
    pub async fn resume(source: &Server, flavor: &Flavor, server_id: u32, at: &Position, heartbeat: Duration) -> Result<BinlogReader> {
        let has_gtid = at.gtid.as_deref().is_some_and(|g| !g.trim().is_empty());
        let mut by_gtid = at.file.is_empty();
        if has_gtid && !by_gtid {
            let mut conn = source.connect(Session::Control).await?;
            let gtid_mode_on = match flavor.kind {
                Kind::MySql => crate::db::query_scalar::<String>(&mut conn, "SELECT @@GLOBAL.gtid_mode")
                    .await
                    .map_err(source.err("reading gtid_mode"))?
                    .is_some_and(|m| m.eq_ignore_ascii_case("ON")),
                Kind::MariaDb => true,
            };
            let files: Vec<String> = conn
                .query_map("SHOW BINARY LOGS", |row: mysql_async::Row| row.get::<String, _>(0).unwrap_or_default())
                .await
                .map_err(source.err("SHOW BINARY LOGS"))?;
            let _ = conn.disconnect().await;
            by_gtid = resume_by_gtid(flavor.kind, gtid_mode_on, files.contains(&at.file));
        }
        if by_gtid && !at.file.is_empty() {
            info!(position = %at, "resuming the binlog by GTID");
        }
        Self::open_from(source, flavor, server_id, at, by_gtid, heartbeat).await
    }

    async fn open_from(
        source: &Server,
        flavor: &Flavor,
        server_id: u32,
        start: &Position,
        by_gtid: bool,
        heartbeat: Duration,
    ) -> Result<BinlogReader> {
        if by_gtid && start.gtid.as_deref().is_none_or(|g| g.trim().is_empty()) {
            return Err(start_error(source, start, "a binlog start needs a file name or a GTID position".into()));
        }
        let mut conn = source.connect(Session::Control).await?;
        let gtid = start_gtid_state(&mut conn, source, flavor.kind, start).await?;
        for s in &session_setup(flavor.kind, by_gtid, start, heartbeat) {
            conn.query_drop(s).await.map_err(source.err(s.clone()))?;
        }
        let request = stream_request(server_id, flavor.kind, start, by_gtid, &gtid).map_err(|m| start_error(source, start, m))?;
        let stream = conn.get_binlog_stream(request).await.map_err(|e| {
            classify_stream_error(source, server_id, &start.to_string(), "registering as a replica (the user needs REPLICATION SLAVE)", e)
        })?;

        let mut reader = BinlogReader {
            stream,
            source: source.clone(),
            server_id,
            state: StreamState::new(start, by_gtid, gtid),
            tables: Tables::default(),
            idle_limit: (!heartbeat.is_zero()).then(|| (heartbeat * 5).max(Duration::from_secs(30))),
        };
        // The first event (the fake ROTATE) or the server's refusal.
        if !reader.pull().await? {
            return Err(reader.err("the source closed the binlog stream at once"));
        }
        Ok(reader)
    }

    /// The next event; Ok(None) if the server closed the stream cleanly. Cancel-safe: dropping
    /// the future loses nothing.
    pub async fn next(&mut self) -> Result<Option<Event>> {
        loop {
            if let Some(e) = self.state.pop() {
                return Ok(Some(e));
            }
            if !self.pull().await? {
                return Ok(None);
            }
        }
    }

    /// Position right after the last event returned by [`next`](Self::next), with the GTID state
    /// as of the last committed transaction (MariaDB: every domain, "d-s-n,d-s-n"; MySQL: the
    /// executed GTID set when the start had one). This is what a checkpoint stores after a Commit.
    /// A stream opened by GTID alone reports file "" (and its GTID state) until it reaches its
    /// first transaction.
    pub fn position(&self) -> Position {
        self.state.position()
    }

    /// Reads one raw event and handles it. False when the stream ended.
    async fn pull(&mut self) -> Result<bool> {
        let item = match self.idle_limit {
            None => self.stream.next().await,
            Some(limit) => match tokio::time::timeout(limit, self.stream.next()).await {
                Ok(item) => item,
                Err(_) => {
                    // An I/O error, so that callers treat it as a lost connection and reconnect.
                    let io = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no binlog event or heartbeat for {} s", limit.as_secs()),
                    );
                    return Err(Error::Server {
                        role: self.source.role.as_str(),
                        endpoint: self.source.address.clone(),
                        context: format!("reading the binlog at {}", self.position()),
                        source: Box::new(mysql_async::Error::Io(mysql_async::IoError::Io(io))),
                    });
                }
            },
        };
        match item {
            None => Ok(false),
            Some(Err(e)) => Err(classify_stream_error(&self.source, self.server_id, &self.position().to_string(), "reading the binlog", e)),
            Some(Ok(ev)) => {
                self.handle(ev)?;
                Ok(true)
            }
        }
    }

    /// An error of the stream at its position.
    pub(super) fn err(&self, message: impl Into<String>) -> Error {
        Error::Binlog {
            role: self.source.role.as_str(),
            endpoint: self.source.address.clone(),
            position: self.position().to_string(),
            message: message.into(),
        }
    }
}

/// The replica server id of a task: stable, and unlikely to collide with real servers.
pub fn server_id_for(task_id: &str) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in task_id.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x01000193);
    }
    1_000_000 + h % 2_000_000_000
}

/// Whether a resume goes by GTID rather than by file and position. MySQL with gtid_mode=ON:
/// always (auto-position, as its own replicas do: it survives purged and renamed files). MariaDB:
/// only when the checkpoint's file is gone from the source, since MariaDB's GTID resume refuses
/// binlogs whose sequence numbers of a domain are out of order (gtid_strict_mode off on the
/// source), which file/position replays as they are.
pub fn resume_by_gtid(kind: Kind, gtid_mode_on: bool, file_on_source: bool) -> bool {
    match kind {
        Kind::MySql => gtid_mode_on,
        Kind::MariaDb => !file_on_source,
    }
}

/// An error of a stream that has not started, at its start.
fn start_error(source: &Server, start: &Position, message: String) -> Error {
    Error::Binlog { role: source.role.as_str(), endpoint: source.address.clone(), position: start.to_string(), message }
}

/// The GTID state at the start: the start's own (MariaDB without one: the file position's, as the
/// server computes it); MySQL without one: not tracked.
async fn start_gtid_state(conn: &mut Conn, source: &Server, kind: Kind, start: &Position) -> Result<GtidState> {
    Ok(match kind {
        Kind::MariaDb => {
            let text = match &start.gtid {
                Some(g) => g.clone(),
                None => crate::db::flavor::mariadb_gtid_at(source, conn, &start.file, start.pos).await?.unwrap_or_default(),
            };
            GtidState::MariaDb(parse_mariadb_gtids(&text).map_err(|m| start_error(source, start, m))?)
        }
        Kind::MySql => GtidState::MySql(match &start.gtid {
            Some(g) if !g.trim().is_empty() => Some(MySqlGtidSet::parse(g).map_err(|m| start_error(source, start, m))?),
            _ => None,
        }),
    })
}

/// The session variables a replica sets before it asks for the stream.
fn session_setup(kind: Kind, by_gtid: bool, start: &Position, heartbeat: Duration) -> Vec<String> {
    let mut setup = Vec::new();
    if !heartbeat.is_zero() {
        let ns = heartbeat.as_nanos().min(u64::MAX as u128);
        setup.push(format!("SET @master_heartbeat_period = {ns}"));
        if kind == Kind::MySql {
            setup.push(format!("SET @source_heartbeat_period = {ns}"));
        }
    }
    if kind == Kind::MariaDb {
        // Without it MariaDB turns GTID events into BEGIN and ANNOTATE_ROWS into dummies.
        setup.push("SET @mariadb_slave_capability = 4".into());
        if by_gtid {
            setup.push(format!("SET @slave_connect_state = {}", lit(start.gtid.as_deref().unwrap_or(""))));
            setup.push("SET @slave_gtid_strict_mode = 1".into());
            setup.push("SET @slave_gtid_ignore_duplicates = 0".into());
        }
    }
    setup
}

/// The COM_BINLOG_DUMP(_GTID) request: by file and position, or by GTID (MariaDB: the session's
/// @slave_connect_state says where; MySQL: the GTID set is sent).
fn stream_request<'a>(
    server_id: u32,
    kind: Kind,
    start: &'a Position,
    by_gtid: bool,
    gtid: &GtidState,
) -> std::result::Result<BinlogStreamRequest<'a>, String> {
    let sids: Vec<mysql_async::Sid<'static>> = match gtid {
        GtidState::MySql(Some(set)) if by_gtid => set.sids()?,
        _ => Vec::new(),
    };
    let file = if by_gtid { "" } else { start.file.as_str() };
    let mut request =
        BinlogStreamRequest::new(server_id).with_filename(file.as_bytes()).with_pos(if by_gtid { 4 } else { start.pos.max(4) });
    if by_gtid && kind == Kind::MySql {
        request = request.with_gtid().with_gtid_set(sids);
    }
    Ok(request)
}

/// Turns a server error on the binlog stream into the error the user needs.
fn classify_stream_error(source: &Server, server_id: u32, position: &str, context: &str, e: mysql_async::Error) -> Error {
    if let mysql_async::Error::Server(s) = &e {
        let msg = s.message.to_ascii_lowercase();
        if s.code == crate::codes::SAME_SERVER_ID_REPLICA || msg.contains("same server_uuid/server_id") || msg.contains("same server_id") {
            return Error::Binlog {
                role: source.role.as_str(),
                endpoint: source.address.clone(),
                position: position.to_string(),
                message: format!(
                    "another replica connected with the same server id {server_id} and took over the binlog \
                     stream (error {}: {}); every task (and every real replica) needs its own server id",
                    s.code, s.message
                ),
            };
        }
        if s.code == crate::codes::FATAL_BINLOG_READ && is_position_gone(&msg) {
            return Error::BinlogPurged {
                role: source.role.as_str(),
                endpoint: source.address.clone(),
                position: position.to_string(),
                message: format!("error {}: {}", s.code, s.message),
            };
        }
    }
    Error::Server {
        role: source.role.as_str(),
        endpoint: source.address.clone(),
        context: format!("{context} at {position}"),
        source: Box::new(e),
    }
}

/// Whether an error 1236 says the requested binlog position does not exist (any more).
fn is_position_gone(msg: &str) -> bool {
    if msg.contains("diverged") {
        return false;
    }
    [
        "could not find first log file",
        "purged",
        "not in the master's binlog",
        "not in the source's binlog",
        "could not find gtid state",
        "position > file size",
        "could not open log file",
        "could not find target log",
    ]
    .iter()
    .any(|p| msg.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purged_messages() {
        assert!(is_position_gone(&"Could not find first log file name in binary log index file".to_ascii_lowercase()));
        assert!(is_position_gone(
            &"Error: connecting slave requested to start from GTID 0-1-5, which is not in the master's binlog".to_ascii_lowercase()
        ));
        assert!(!is_position_gone(
            &"... which is not in the master's binlog. Since the master's binlog contains GTIDs with higher sequence numbers, it probably means that the slave has diverged"
                .to_ascii_lowercase()
        ));
    }

    #[test]
    fn resume_by_gtid_per_flavour() {
        assert!(resume_by_gtid(Kind::MySql, true, true));
        assert!(!resume_by_gtid(Kind::MySql, false, false));
        assert!(!resume_by_gtid(Kind::MariaDb, true, true));
        assert!(resume_by_gtid(Kind::MariaDb, true, false));
    }

    #[test]
    fn replica_session_setup() {
        let start = Position { file: String::new(), pos: 4, gtid: Some("0-1-5".into()) };
        assert_eq!(
            session_setup(Kind::MariaDb, true, &start, Duration::from_secs(1)),
            [
                "SET @master_heartbeat_period = 1000000000",
                "SET @mariadb_slave_capability = 4",
                "SET @slave_connect_state = '0-1-5'",
                "SET @slave_gtid_strict_mode = 1",
                "SET @slave_gtid_ignore_duplicates = 0",
            ]
        );
        assert_eq!(
            session_setup(Kind::MySql, true, &start, Duration::from_millis(500)),
            ["SET @master_heartbeat_period = 500000000", "SET @source_heartbeat_period = 500000000"]
        );
        assert!(session_setup(Kind::MySql, false, &start, Duration::ZERO).is_empty());
        assert_eq!(session_setup(Kind::MariaDb, false, &start, Duration::ZERO), ["SET @mariadb_slave_capability = 4"]);
    }

    #[test]
    fn server_ids_are_stable_and_above_real_ones() {
        // Across versions too: a task that comes back with another id looks like a new replica.
        assert_eq!(server_id_for("db/orders"), 1_148_930_461);
        assert_ne!(server_id_for("db/orders"), server_id_for("db/orders2"));
        for id in ["", "a", "ns/task", "x".repeat(300).as_str()] {
            assert!((1_000_000..2_001_000_000).contains(&server_id_for(id)));
        }
    }
}
