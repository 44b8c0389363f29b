//! The source side of incremental sync: a replica stream of the source's binlog, turned into a
//! clean sequence of decoded events (transaction boundaries, row changes with exact values,
//! statements) with the binlog position and GTID state after each one.
//!
//! The stream comes from mysql_async (`COM_BINLOG_DUMP`); rows are decoded here, straight from
//! the row images with a per-table plan built once per table map (identical table maps reuse it),
//! because the values must come out in one exact form for the applier and because decoding is on
//! the hot path. MariaDB's own events (GTID, GTID list, binlog checkpoint, annotate rows) are
//! unknown to mysql_common and decoded here.
//!
//! Values of decoded rows (the applier writes them as literals in a UTC session):
//! integers `Int`/`UInt` by the column's signedness; FLOAT `Float`, DOUBLE `Double`; DECIMAL exact
//! ASCII text in `Bytes` ("-12.340"); TIMESTAMP a UTC `Date` (zero: all zeros); DATE/DATETIME
//! `Date`, TIME `Time` (negative and beyond 24 h included); YEAR `Int` (0 for 0000); ENUM `UInt`
//! index (0 for the error value), SET `UInt` bitmask; BIT big-endian `Bytes`; strings and binaries
//! raw `Bytes` in the column's own character set, as the binlog has them (CHAR without its
//! trailing spaces, BINARY without its trailing zero bytes: the server pads them again); JSON text
//! `Bytes` (MariaDB: as stored; MySQL: its binary JSON printed by serde_json); geometry in the
//! server's internal format (SRID + WKB) `Bytes`; NULL `NULL`.
//!
//! MySQL's compressed transactions (TRANSACTION_PAYLOAD, binlog_transaction_compression=ON) are
//! handed out decompressed by mysql_async; their events carry no positions, so the transaction
//! ends at the payload's end. Tagged GTIDs (MySQL 8.4+) are tracked and resumed from.
//!
//! Limits: the row image must be FULL (else an error); without binlog_row_metadata=FULL columns
//! come unnamed (the player maps them through `tracker`); compressed MariaDB events
//! (log_bin_compress) and MySQL partial JSON updates are refused with the setting to change; an
//! XA transaction is delivered at XA PREPARE (a later XA ROLLBACK is not undone); binlog files
//! beyond 4 GiB (32-bit log_pos) are not handled. Tested against MariaDB 10.11 and MySQL 9.7
//! (`engine/tests/binlog.rs`).
//!
//! The parts: `reader` (the replica connection: open, resume, read, position, stream errors),
//! `raw` (each raw event decoded and handed to the state), `events` (the stream state machine:
//! transaction framing, savepoints, GTID state and position, with no I/O), `gtid` (both GTID
//! forms), `rows` (table maps and row values).

use std::sync::Arc;

use mysql_async::Value;

mod events;
mod gtid;
mod raw;
mod reader;
mod rows;

pub use gtid::{MySqlGtidSet, parse_mariadb_gtids};
pub use reader::{BinlogReader, resume_by_gtid, server_id_for};

// ---- the public stream --------------------------------------------------------------------------

/// One decoded change from the source's binlog.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A transaction starts (MariaDB GTID event / MySQL GTID + BEGIN query). `timestamp` is the
    /// event header's (seconds since epoch, source clock).
    Begin { gtid: Option<String>, timestamp: u32 },
    /// Row changes of one table.
    Rows(RowsEvent),
    /// A statement that is not BEGIN/COMMIT (DDL, or statements in STATEMENT format): default db
    /// and SQL text. DDL commits by itself: no Commit follows it, and `autocommit` is true when the
    /// statement is not inside a Begin..Commit. `context` is the session it ran in on the source.
    Query { db: String, sql: String, timestamp: u32, autocommit: bool, context: StatementContext },
    /// The transaction ends (XID event, or a COMMIT query for non-transactional engines).
    Commit { timestamp: u32 },
    /// The source is idle (sent every `heartbeat` while it has nothing to send).
    Heartbeat,
}

/// The session a statement ran in on the source, as its QUERY event records it: a replica runs the
/// statement in the same one, so that a view or routine keeps its character_set_client and
/// collation_connection, string literals mean what they meant, and a CREATE that the source's
/// sql_mode allowed is allowed again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatementContext {
    /// Collation ids, in the source's numbering, of character_set_client, collation_connection
    /// and collation_server.
    pub charset: Option<(u16, u16, u16)>,
    /// The sql_mode bitmask (the source flavour's bits).
    pub sql_mode: Option<u64>,
    /// The statement's bytes were not UTF-8 (a client character set such as latin1): `sql` holds
    /// each byte as the character of the same number, and [`statement_bytes`] gives them back.
    pub bytes_as_chars: bool,
}

/// The bytes to send for a statement read from the binlog (and perhaps rewritten since): its
/// original encoding, which the target reads in the statement's own character_set_client.
/// Err names a character that the original encoding cannot hold (a renamed identifier).
pub fn statement_bytes(sql: &str, context: &StatementContext) -> std::result::Result<Vec<u8>, String> {
    if !context.bytes_as_chars {
        return Ok(sql.as_bytes().to_vec());
    }
    sql.chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("{c:?} cannot be written in the statement's own character set")))
        .collect()
}

/// A statement's text for the rewriter: UTF-8 as it is, other bytes one character each.
fn statement_text(raw: &[u8]) -> (String, bool) {
    match std::str::from_utf8(raw) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (raw.iter().map(|&b| char::from(b)).collect(), true),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    Insert,
    Update,
    Delete,
}

/// The row changes of one binlog rows event.
#[derive(Clone, Debug, PartialEq)]
pub struct RowsEvent {
    pub table: Arc<TableMap>,
    pub kind: RowKind,
    /// before: Delete/Update; after: Insert/Update. Values in column order of the table map.
    pub rows: Vec<RowChange>,
    /// The event's flags as the source wrote them, unknown bits included (see
    /// [`RowsEvent::no_foreign_key_checks`] and `Flavor::cascades_logged`).
    pub flags: u16,
}

impl RowsEvent {
    /// The source session ran with `foreign_key_checks = 0` (NO_FOREIGN_KEY_CHECKS_F): its foreign
    /// keys neither checked nor cascaded these changes. MySQL also sets it on the row events of
    /// changes its SQL layer cascaded.
    pub fn no_foreign_key_checks(&self) -> bool {
        self.flags & mysql_common::binlog::consts::RowsEventFlags::NO_FOREIGN_KEY_CHECKS.bits() != 0
    }
}

/// One row change: (before image, after image).
pub type RowChange = (Option<Vec<Value>>, Option<Vec<Value>>);

/// A table as the binlog describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TableMap {
    pub id: u64,
    pub db: String,
    pub table: String,
    /// Per column: its name when the source logs it (binlog_row_metadata=FULL / MySQL 8), its
    /// binlog column type.
    pub columns: Vec<BinlogColumn>,
    /// Whether the source logged its numeric columns' signedness (MariaDB's NO_LOG does not:
    /// UNSIGNED values then decode as signed ones).
    pub signedness: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinlogColumn {
    pub name: Option<String>,
    pub kind: ColumnKind,
    pub unsigned: bool,
}

/// The family of a binlog column type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Int,
    Float,
    Double,
    Decimal,
    Timestamp,
    DateTime,
    Date,
    Time,
    Year,
    /// CHAR, VARCHAR, BINARY, VARBINARY.
    String,
    /// BLOB and TEXT of every size (MariaDB's JSON too).
    Blob,
    Bit,
    Enum,
    Set,
    /// MySQL's binary JSON.
    Json,
    Geometry,
    Other,
}
