//! The raw events: their type codes, and [`BinlogReader::handle`], which reads each one (MariaDB's
//! own events, unknown to mysql_common, by hand) and drives the stream state with it.

use mysql_async::binlog::events::{Event as RawEvent, EventData, QueryEvent, StatusVarVal};
use mysql_common::binlog::consts::StatusVarKey;
use tracing::debug;

use super::events::Header;
use super::gtid::TrxGtid;
use super::reader::BinlogReader;
use super::{RowKind, StatementContext, statement_text};
use crate::error::Result;

impl BinlogReader {
    /// One raw event: decoded, then handed to the stream state (see `events`).
    pub(super) fn handle(&mut self, ev: RawEvent) -> Result<()> {
        let h = ev.header();
        let ty = h.event_type_raw();
        let flags = h.flags_raw();
        let at = Header { log_pos: h.log_pos(), flags, timestamp: h.timestamp() };
        if self.state.in_payload()
            && matches!(ty, T_GTID | T_ANONYMOUS_GTID | T_GTID_TAGGED | T_ROTATE | T_HEARTBEAT | T_HEARTBEAT_V2 | T_TRANSACTION_PAYLOAD)
        {
            // mysql_async hands out nothing when it cannot decompress a payload.
            return Err(self.err(
                "a compressed transaction (TRANSACTION_PAYLOAD event) could not be read: \
                 set binlog_transaction_compression=OFF on the source",
            ));
        }
        match ty {
            T_ROTATE => {
                let Some(EventData::RotateEvent(r)) = ev.read_data().map_err(|e| self.err(format!("ROTATE event: {e}")))? else {
                    return Err(self.err("unreadable ROTATE event"));
                };
                let mut name = r.name_raw();
                // The fake ROTATE comes before the FORMAT_DESCRIPTION, so its checksum was not
                // recognised and ends up in the name (mysql_async issue 189).
                if !self.state.seen_format_description() && name.len() > 4 && checksum_ok(&ev) {
                    name = &name[..name.len() - 4];
                }
                self.state.rotate(at, String::from_utf8_lossy(name).into_owned(), r.position());
            }
            T_FORMAT_DESCRIPTION => self.state.format_description(at),
            T_HEARTBEAT | T_HEARTBEAT_V2 => self.state.heartbeat(),
            T_QUERY => {
                let Some(EventData::QueryEvent(q)) = ev.read_data().map_err(|e| self.err(format!("QUERY event: {e}")))? else {
                    return Err(self.err("unreadable QUERY event"));
                };
                let (sql, bytes_as_chars) = statement_text(q.query_raw());
                let db = String::from_utf8_lossy(q.schema_raw()).into_owned();
                self.state.query(at, db, sql, statement_context(&q, bytes_as_chars)).map_err(|m| self.err(m))?;
            }
            // XA PREPARE ends the transaction's events; applied as committed (an XA ROLLBACK
            // after it is not undone).
            T_XID | T_XA_PREPARE => self.state.xid(at),
            T_TABLE_MAP => {
                self.state.advance(at);
                self.tables.map(&ev).map_err(|m| self.err(m))?;
            }
            T_WRITE_ROWS_V1 | T_UPDATE_ROWS_V1 | T_DELETE_ROWS_V1 | T_WRITE_ROWS | T_UPDATE_ROWS | T_DELETE_ROWS => {
                self.state.advance(at);
                if let Some(rows) = self.tables.rows(&ev, row_kind(ty)).map_err(|m| self.err(m))? {
                    self.state.rows(at.timestamp, rows);
                }
            }
            T_PARTIAL_UPDATE_ROWS => {
                let table = ev
                    .read_data()
                    .ok()
                    .flatten()
                    .and_then(|d| match d {
                        EventData::RowsEvent(r) => Some(r.table_id()),
                        _ => None,
                    })
                    .and_then(|id| self.tables.name(id))
                    .unwrap_or_else(|| "a table".into());
                return Err(self.err(format!(
                    "{table}: a partial JSON update (PARTIAL_UPDATE_ROWS_EVENT) cannot be applied: \
                     binlog_row_value_options must be empty on the source"
                )));
            }
            T_GTID | T_GTID_TAGGED => {
                let Some(EventData::GtidEvent(g)) = ev.read_data().map_err(|e| self.err(format!("GTID event: {e}")))? else {
                    return Err(self.err("unreadable GTID event"));
                };
                let gtid = TrxGtid::MySql { sid: g.sid(), tag: g.tag().map(|t| t.to_string()), gno: g.gno() };
                self.state.mysql_gtid(at, Some(gtid)).map_err(|m| self.err(m))?;
            }
            T_ANONYMOUS_GTID => self.state.mysql_gtid(at, None).map_err(|m| self.err(m))?,
            T_TRANSACTION_PAYLOAD => self.state.payload(at),
            T_MARIA_GTID => {
                let d = ev.data();
                if d.len() < 13 {
                    return Err(self.err("short MariaDB GTID event"));
                }
                let seq = u64::from_le_bytes(d[0..8].try_into().unwrap());
                let domain = u32::from_le_bytes(d[8..12].try_into().unwrap());
                let standalone = d[12] & MARIA_FL_STANDALONE != 0;
                let gtid = TrxGtid::MariaDb { domain, server: h.server_id(), seq };
                self.state.mariadb_gtid(at, gtid, standalone).map_err(|m| self.err(m))?;
            }
            T_INCIDENT => {
                return Err(self.err(
                    "the source logged an incident (changes may be missing from its binlog, e.g. after a \
                     failed write to it); the task needs a new initial sync",
                ));
            }
            T_MARIA_QUERY_COMPRESSED..=T_MARIA_DELETE_ROWS_COMPRESSED => {
                return Err(self.err(format!("compressed binlog event (type {ty}): set log_bin_compress=OFF on the source")));
            }
            T_BEGIN_LOAD_QUERY | T_EXECUTE_LOAD_QUERY | 6..=12 => {
                return Err(self.err("a statement-based LOAD DATA in the binlog: the source must log binlog_format=ROW"));
            }
            T_MARIA_GTID_LIST => self.state.gtid_list(at),
            // Known and nothing to do: stop, statement context (intvar, rand, user var), ignorable,
            // rows query, previous GTIDs, transaction context, view change, MariaDB annotate rows,
            // binlog checkpoint, start encryption.
            T_STOP | 5 | 13 | 14 | 28 | 29 | 35 | 36 | 37 | T_MARIA_ANNOTATE_ROWS..=T_MARIA_START_ENCRYPTION => self.state.advance(at),
            _ => {
                if flags & FLAG_IGNORABLE != 0 {
                    debug!(event_type = ty, "ignoring an ignorable binlog event");
                    self.state.advance(at);
                } else {
                    return Err(self.err(format!("unknown binlog event type {ty}")));
                }
            }
        }
        Ok(())
    }
}

/// The session a QUERY event's statement ran in, from its status variables.
fn statement_context(q: &QueryEvent<'_>, bytes_as_chars: bool) -> StatementContext {
    let vars = q.status_vars();
    let charset = vars.get_status_var(StatusVarKey::Charset).and_then(|v| match v.get_value() {
        Ok(StatusVarVal::Charset { charset_client, collation_connection, collation_server }) => {
            Some((charset_client, collation_connection, collation_server))
        }
        _ => None,
    });
    let sql_mode = vars.get_status_var(StatusVarKey::SqlMode).and_then(|v| match v.get_value() {
        Ok(StatusVarVal::SqlMode(m)) => Some(m.0),
        _ => None,
    });
    StatementContext { charset, sql_mode, bytes_as_chars }
}

fn row_kind(ty: u8) -> RowKind {
    match ty {
        T_WRITE_ROWS_V1 | T_WRITE_ROWS => RowKind::Insert,
        T_UPDATE_ROWS_V1 | T_UPDATE_ROWS => RowKind::Update,
        _ => RowKind::Delete,
    }
}

// ---- event type codes ---------------------------------------------------------------------------

const T_STOP: u8 = 3;
const T_QUERY: u8 = 2;
const T_ROTATE: u8 = 4;
const T_FORMAT_DESCRIPTION: u8 = 15;
const T_XID: u8 = 16;
const T_BEGIN_LOAD_QUERY: u8 = 17;
const T_EXECUTE_LOAD_QUERY: u8 = 18;
const T_TABLE_MAP: u8 = 19;
const T_WRITE_ROWS_V1: u8 = 23;
const T_UPDATE_ROWS_V1: u8 = 24;
const T_DELETE_ROWS_V1: u8 = 25;
const T_INCIDENT: u8 = 26;
const T_HEARTBEAT: u8 = 27;
const T_WRITE_ROWS: u8 = 30;
const T_UPDATE_ROWS: u8 = 31;
const T_DELETE_ROWS: u8 = 32;
const T_GTID: u8 = 33;
const T_ANONYMOUS_GTID: u8 = 34;
const T_XA_PREPARE: u8 = 38;
const T_PARTIAL_UPDATE_ROWS: u8 = 39;
const T_TRANSACTION_PAYLOAD: u8 = 40;
const T_HEARTBEAT_V2: u8 = 41;
const T_GTID_TAGGED: u8 = 42;
const T_MARIA_ANNOTATE_ROWS: u8 = 160;
const T_MARIA_GTID: u8 = 162;
const T_MARIA_GTID_LIST: u8 = 163;
const T_MARIA_START_ENCRYPTION: u8 = 164;
const T_MARIA_QUERY_COMPRESSED: u8 = 165;
const T_MARIA_DELETE_ROWS_COMPRESSED: u8 = 171;

const FLAG_IGNORABLE: u16 = 0x80;
const MARIA_FL_STANDALONE: u8 = 1;

/// Whether the event's last 4 data bytes are its CRC32 (header and the rest of the data).
fn checksum_ok(ev: &RawEvent) -> bool {
    let h = ev.header();
    let data = ev.data();
    if data.len() < 4 {
        return false;
    }
    let mut head = [0u8; 19];
    head[0..4].copy_from_slice(&h.timestamp().to_le_bytes());
    head[4] = h.event_type_raw();
    head[5..9].copy_from_slice(&h.server_id().to_le_bytes());
    head[9..13].copy_from_slice(&h.event_size().to_le_bytes());
    head[13..17].copy_from_slice(&h.log_pos().to_le_bytes());
    head[17..19].copy_from_slice(&h.flags_raw().to_le_bytes());
    let (body, sum) = data.split_at(data.len() - 4);
    let want = u32::from_le_bytes(sum.try_into().unwrap());
    crc32(&[&head, body]) == want
}

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    }

    #[test]
    fn row_kinds() {
        assert_eq!(row_kind(T_WRITE_ROWS_V1), RowKind::Insert);
        assert_eq!(row_kind(T_WRITE_ROWS), RowKind::Insert);
        assert_eq!(row_kind(T_UPDATE_ROWS_V1), RowKind::Update);
        assert_eq!(row_kind(T_UPDATE_ROWS), RowKind::Update);
        assert_eq!(row_kind(T_DELETE_ROWS_V1), RowKind::Delete);
        assert_eq!(row_kind(T_DELETE_ROWS), RowKind::Delete);
    }
}
