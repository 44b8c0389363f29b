//! The stream's state machine: from the events of the binlog, in order, the clean sequence the
//! reader hands out (Begin, Rows, Query, Commit, Heartbeat) and the position after each one.
//!
//! The rules, each a method below and each with a test:
//! - A transaction is BEGIN (or XA START) .. XID / COMMIT; MySQL announces it by a GTID event
//!   before its BEGIN, MariaDB starts it with its GTID event. Rows outside one start one.
//! - A MariaDB GTID flagged standalone has no terminating COMMIT/XID: its group ends at the next
//!   GTID or at a statement that commits by itself.
//! - A statement outside a transaction (DDL) commits by itself: it joins the GTID state at once.
//! - After a SAVEPOINT the events are held back until the Commit (ROLLBACK TO drops those after
//!   its savepoint, RELEASE SAVEPOINT of the first one lets them through).
//! - XA PREPARE ends the transaction's events (applied as committed); XA COMMIT / XA ROLLBACK
//!   only move the GTID state.
//! - The events of a TRANSACTION_PAYLOAD carry no positions: the transaction ends at the payload's
//!   end.
//! - The position never moves backwards, and artificial events do not move it.
//! - A stream started by GTID reports the checkpoint it resumed until it reaches its first
//!   transaction (or a real ROTATE, or MariaDB's fake GTID_LIST that marks the place).
//!
//! No I/O here: the reader decodes each raw event and calls the method of its kind; tests feed
//! sequences directly.

use std::collections::VecDeque;

use tracing::warn;

use super::gtid::{GtidState, TrxGtid};
use super::{Event, RowsEvent, StatementContext};
use crate::db::flavor::Position;

/// The event header flag of events the server made up for the stream (fake ROTATE, GTID_LIST).
const FLAG_ARTIFICIAL: u16 = 0x20;

/// What the state machine needs of an event's header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Header {
    /// The end of the event in its binlog file (0: none, as inside a TRANSACTION_PAYLOAD).
    pub log_pos: u32,
    pub flags: u16,
    /// Seconds since epoch, source clock.
    pub timestamp: u32,
}

/// Where the stream is and what it has decoded but not yet handed out.
#[derive(Debug)]
pub(super) struct StreamState {
    /// Where the stream is: the file of the last ROTATE, the end of the last event.
    file: String,
    pos: u64,
    /// False while a stream started by GTID has not reached its first transaction: the server
    /// skips to the GTID inside the file, so file:pos are not known yet.
    exact: bool,
    /// What a stream started by GTID reports until it is exact: the checkpoint it resumed
    /// ("", 4 when it started from a GTID alone).
    resumed_at: (String, u64),
    gtid: GtidState,
    /// `gtid` as text, refreshed when it changes (position() is called after every event).
    gtid_text: Option<String>,
    /// The GTID of the transaction being read (or about to start).
    trx_gtid: Option<TrxGtid>,
    /// Inside Begin..Commit.
    in_trx: bool,
    /// The transaction in progress has no terminating COMMIT/XID (MariaDB FL_STANDALONE).
    standalone: bool,
    seen_fde: bool,
    /// End of the MySQL TRANSACTION_PAYLOAD event whose inner events are being read.
    payload_end: Option<u64>,
    queue: VecDeque<Event>,
    /// After a SAVEPOINT inside a transaction: the events since, held back until the Commit
    /// because a ROLLBACK TO may still drop them (MariaDB logs both when a transaction that
    /// also changed a non-transactional table rolls back to a savepoint).
    held: Vec<Event>,
    /// Savepoints of the transaction: name and where it starts in `held`.
    savepoints: Vec<(String, usize)>,
}

impl StreamState {
    /// The state of a stream started at `start`, by GTID or by file and position, with the GTID
    /// state `gtid` of the start.
    pub(super) fn new(start: &Position, by_gtid: bool, gtid: GtidState) -> StreamState {
        StreamState {
            file: start.file.clone(),
            pos: if by_gtid { 4 } else { start.pos },
            exact: !by_gtid,
            resumed_at: if by_gtid { (start.file.clone(), start.pos) } else { (String::new(), 4) },
            gtid_text: gtid.text(),
            gtid,
            trx_gtid: None,
            in_trx: false,
            standalone: false,
            seen_fde: false,
            payload_end: None,
            queue: VecDeque::new(),
            held: Vec::new(),
            savepoints: Vec::new(),
        }
    }

    /// See [`BinlogReader::position`](super::BinlogReader::position).
    pub(super) fn position(&self) -> Position {
        if self.exact {
            Position { file: self.file.clone(), pos: self.pos, gtid: self.gtid_text.clone() }
        } else {
            Position { file: self.resumed_at.0.clone(), pos: self.resumed_at.1, gtid: self.gtid_text.clone() }
        }
    }

    /// The next event to hand out.
    pub(super) fn pop(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    /// Inside a TRANSACTION_PAYLOAD's events.
    pub(super) fn in_payload(&self) -> bool {
        self.payload_end.is_some()
    }

    /// A FORMAT_DESCRIPTION came (until then the fake ROTATE's checksum is not recognised).
    pub(super) fn seen_format_description(&self) -> bool {
        self.seen_fde
    }

    /// Moves the position to the end of a real event.
    pub(super) fn advance(&mut self, h: Header) {
        if h.flags & FLAG_ARTIFICIAL != 0 || h.log_pos == 0 || self.payload_end.is_some() {
            return;
        }
        // Never backwards: the FORMAT_DESCRIPTION replayed at the start of a stream carries the
        // position of its own place at the head of the file.
        if h.log_pos as u64 > self.pos {
            self.pos = h.log_pos as u64;
        }
    }

    /// A ROTATE to `file` at `position` (the fake one at the start of a stream included).
    pub(super) fn rotate(&mut self, h: Header, file: String, position: u64) {
        let artificial = h.flags & FLAG_ARTIFICIAL != 0 || h.log_pos == 0;
        if file == self.file {
            self.pos = self.pos.max(position);
        } else {
            self.file = file;
            self.pos = position;
        }
        if !artificial {
            // A real rotate: the next file starts at its head, exactly.
            self.exact = true;
        }
    }

    pub(super) fn format_description(&mut self, h: Header) {
        self.seen_fde = true;
        self.advance(h);
    }

    pub(super) fn heartbeat(&mut self) {
        self.queue.push_back(Event::Heartbeat);
    }

    /// MariaDB's GTID_LIST: the fake one of a stream opened by GTID marks the place in the file
    /// where the stream resumes; otherwise nothing to do.
    pub(super) fn gtid_list(&mut self, h: Header) {
        if h.flags & FLAG_ARTIFICIAL != 0 && !self.exact && h.log_pos != 0 {
            self.pos = h.log_pos as u64;
            self.exact = true;
        } else {
            self.advance(h);
        }
    }

    /// MySQL's GTID event (`None`: ANONYMOUS_GTID): announces a transaction, whose BEGIN (or one
    /// statement) follows.
    pub(super) fn mysql_gtid(&mut self, h: Header, gtid: Option<TrxGtid>) -> Result<(), String> {
        self.advance(h);
        self.start_group(gtid, false, h.timestamp, false)
    }

    /// MariaDB's GTID event: a transaction starts, or (`standalone`) a group without COMMIT.
    pub(super) fn mariadb_gtid(&mut self, h: Header, gtid: TrxGtid, standalone: bool) -> Result<(), String> {
        self.advance(h);
        self.start_group(Some(gtid), standalone, h.timestamp, true)
    }

    /// MySQL's TRANSACTION_PAYLOAD: its events follow, the transaction ends at its end.
    pub(super) fn payload(&mut self, h: Header) {
        // mysql_async decompresses the payload and hands out its events next; they carry no
        // positions of their own.
        self.payload_end = (h.log_pos != 0).then_some(h.log_pos as u64);
    }

    /// An XID event (or MySQL's XA_PREPARE event: it ends the transaction's events, applied as
    /// committed; an XA ROLLBACK after it is not undone).
    pub(super) fn xid(&mut self, h: Header) {
        self.advance(h);
        self.commit(h.timestamp);
    }

    /// The row changes of a rows event (whose position the reader has moved to already, before
    /// decoding it).
    pub(super) fn rows(&mut self, timestamp: u32, rows: RowsEvent) {
        if !self.in_trx {
            self.begin(timestamp);
        }
        self.emit(Event::Rows(rows));
    }

    /// A QUERY event: transaction control, savepoints, or a statement.
    pub(super) fn query(&mut self, h: Header, db: String, sql: String, context: StatementContext) -> Result<(), String> {
        self.advance(h);
        let ts = h.timestamp;
        match statement_head(&sql).as_str() {
            "BEGIN" | "START TRANSACTION" | "XA START" => self.begin(ts),
            "COMMIT" | "XA PREPARE" => self.commit(ts),
            // In ROW format the servers log non-transactional changes as groups of their own that
            // end in COMMIT; a group ending in ROLLBACK holds changes that stayed all the same.
            "ROLLBACK" => {
                warn!(gtid = ?self.trx_gtid.as_ref().map(|g| g.to_string()), "a binlog transaction ends in ROLLBACK; its row changes are applied as committed");
                self.commit(ts)
            }
            "SAVEPOINT" if self.in_trx => self.savepoint(savepoint_name(&sql)),
            "ROLLBACK TO" if self.in_trx => self.rollback_to(savepoint_name(&sql))?,
            "RELEASE SAVEPOINT" if self.in_trx => self.release_savepoint(savepoint_name(&sql)),
            "SAVEPOINT" | "ROLLBACK TO" | "RELEASE SAVEPOINT" | "XA END" => {}
            "XA COMMIT" | "XA ROLLBACK" => {
                // The prepared part was delivered at XA PREPARE; this group only moves the GTID.
                self.begin(ts);
                self.commit(ts);
            }
            _ => self.statement(db, sql, ts, context),
        }
        Ok(())
    }

    /// A statement that is not transaction control: part of the transaction in progress, or one
    /// that commits by itself.
    fn statement(&mut self, db: String, sql: String, ts: u32, context: StatementContext) {
        if self.in_trx && !self.standalone {
            self.emit(Event::Query { db, sql, timestamp: ts, autocommit: false, context });
            return;
        }
        if self.in_trx {
            // A standalone group that started with rows: they end here.
            self.commit(ts);
        }
        // A statement that commits by itself (DDL): the state includes it as soon as the caller
        // sees it.
        self.finish_gtid();
        self.standalone = false;
        self.queue.push_back(Event::Query { db, sql, timestamp: ts, autocommit: true, context });
    }

    fn savepoint(&mut self, name: String) {
        // A savepoint set again moves.
        self.savepoints.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.savepoints.push((name, self.held.len()));
    }

    fn rollback_to(&mut self, name: String) -> Result<(), String> {
        let Some(k) = self.savepoints.iter().rposition(|(n, _)| n.eq_ignore_ascii_case(&name)) else {
            return Err(format!("ROLLBACK TO savepoint {name} that the transaction never set"));
        };
        self.held.truncate(self.savepoints[k].1);
        self.savepoints.truncate(k + 1);
        Ok(())
    }

    fn release_savepoint(&mut self, name: String) {
        if let Some(k) = self.savepoints.iter().rposition(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            // Its events stay; it can no longer be rolled back to.
            if k == 0 {
                self.queue.extend(self.held.drain(..));
                self.savepoints.clear();
            } else {
                self.savepoints.truncate(k);
            }
        }
    }

    /// A GTID event: a transaction starts (MariaDB, not standalone) or is announced (MySQL: BEGIN
    /// follows; standalone: its one statement follows).
    fn start_group(&mut self, gtid: Option<TrxGtid>, standalone: bool, ts: u32, mariadb: bool) -> Result<(), String> {
        if self.in_trx {
            if self.standalone {
                self.commit(ts);
            } else {
                return Err("a new transaction starts before the previous one committed (the source's binlog \
                     holds an incomplete transaction)"
                    .into());
            }
        }
        self.exact = true;
        self.trx_gtid = gtid;
        self.standalone = standalone;
        if mariadb && !standalone {
            self.begin(ts);
        }
        Ok(())
    }

    fn begin(&mut self, ts: u32) {
        if !self.in_trx {
            self.in_trx = true;
            let gtid = self.trx_gtid.as_ref().map(|g| g.to_string());
            self.queue.push_back(Event::Begin { gtid, timestamp: ts });
        }
    }

    /// The transaction ends: its GTID joins the state, the Commit is queued.
    fn commit(&mut self, ts: u32) {
        if !self.in_trx {
            self.begin(ts);
        }
        if let Some(end) = self.payload_end.take() {
            self.pos = self.pos.max(end);
        }
        self.finish_gtid();
        self.in_trx = false;
        self.standalone = false;
        self.savepoints.clear();
        self.queue.extend(self.held.drain(..));
        self.queue.push_back(Event::Commit { timestamp: ts });
    }

    /// Queues an event of the transaction in progress (held back after a savepoint).
    fn emit(&mut self, e: Event) {
        if self.savepoints.is_empty() {
            self.queue.push_back(e);
        } else {
            self.held.push(e);
        }
    }

    fn finish_gtid(&mut self) {
        if let Some(g) = self.trx_gtid.take() {
            self.gtid.add(&g);
            self.gtid_text = self.gtid.text();
        }
    }
}

/// The first words of a statement, upper case, comments and extra spaces skipped: "BEGIN",
/// "XA START", "ROLLBACK TO", "SAVEPOINT", ... (only what the reader needs to tell apart).
fn statement_head(sql: &str) -> String {
    let mut s = sql.trim_start();
    // Leading /* ... */ comments (not the executable /*! ones, which are part of the statement).
    while let Some(rest) = s.strip_prefix("/*") {
        if rest.starts_with('!') {
            break;
        }
        match rest.find("*/") {
            Some(i) => s = rest[i + 2..].trim_start(),
            None => break,
        }
    }
    let mut words = s.split(|c: char| c.is_whitespace() || c == ';').filter(|w| !w.is_empty());
    let first = words.next().unwrap_or("").to_ascii_uppercase();
    match first.as_str() {
        "XA" | "START" | "RELEASE" => {
            let second = words.next().unwrap_or("").to_ascii_uppercase();
            format!("{first} {second}")
        }
        "ROLLBACK" => match words.next().map(|w| w.to_ascii_uppercase()) {
            Some(w) if w == "TO" => "ROLLBACK TO".into(),
            Some(w) if w == "WORK" => match words.next().map(|w| w.to_ascii_uppercase()) {
                Some(t) if t == "TO" => "ROLLBACK TO".into(),
                _ => "ROLLBACK".into(),
            },
            _ => "ROLLBACK".into(),
        },
        _ => first,
    }
}

/// The savepoint a SAVEPOINT / ROLLBACK [WORK] TO [SAVEPOINT] / RELEASE SAVEPOINT statement names.
fn savepoint_name(sql: &str) -> String {
    let s = sql.trim();
    let mut rest = s;
    for kw in ["SAVEPOINT", "ROLLBACK", "WORK", "TO", "RELEASE", "SAVEPOINT"] {
        let t = rest.trim_start();
        // By bytes: the name may not be ASCII, and a cut inside a character would panic.
        if t.as_bytes().get(..kw.len()).is_some_and(|p| p.eq_ignore_ascii_case(kw.as_bytes()))
            && t[kw.len()..].starts_with(|c: char| c.is_whitespace() || c == '`')
        {
            rest = &t[kw.len()..];
        }
    }
    let rest = rest.trim().trim_end_matches(';').trim();
    if let Some(q) = rest.strip_prefix('`') {
        let mut name = String::new();
        let mut chars = q.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '`' {
                if chars.peek() == Some(&'`') {
                    chars.next();
                    name.push('`');
                } else {
                    break;
                }
            } else {
                name.push(c);
            }
        }
        name
    } else {
        rest.split_whitespace().next().unwrap_or("").to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mysql_async::Value;

    use super::*;
    use crate::source::binlog::gtid::{MySqlGtidSet, parse_mariadb_gtids};
    use crate::source::binlog::{RowKind, TableMap};

    const UUID: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const SID: [u8; 16] = [0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62];
    const TS: u32 = 1_700_000_000;

    fn at(log_pos: u32) -> Header {
        Header { log_pos, flags: 0, timestamp: TS }
    }

    fn artificial(log_pos: u32) -> Header {
        Header { log_pos, flags: FLAG_ARTIFICIAL, timestamp: 0 }
    }

    fn pos(file: &str, pos: u64, gtid: &str) -> Position {
        Position { file: file.into(), pos, gtid: Some(gtid.into()) }
    }

    fn mysql_set(text: &str) -> GtidState {
        GtidState::MySql(Some(MySqlGtidSet::parse(text).unwrap()))
    }

    fn mariadb_pos(text: &str) -> GtidState {
        GtidState::MariaDb(parse_mariadb_gtids(text).unwrap())
    }

    /// A MySQL stream opened at file:pos with the executed set `uuid:1-4`.
    fn mysql() -> StreamState {
        StreamState::new(&pos("b.000001", 100, &mysql_gtids(4)), false, mysql_set(&mysql_gtids(4)))
    }

    fn mysql_gtids(last: u64) -> String {
        format!("{UUID}:1-{last}")
    }

    /// A MariaDB stream opened at file:pos with the position 0-1-9.
    fn mariadb() -> StreamState {
        StreamState::new(&pos("m.000001", 100, "0-1-9"), false, mariadb_pos("0-1-9"))
    }

    fn my(gno: u64) -> TrxGtid {
        TrxGtid::MySql { sid: SID, tag: None, gno }
    }

    fn maria(seq: u64) -> TrxGtid {
        TrxGtid::MariaDb { domain: 0, server: 1, seq }
    }

    fn query(s: &mut StreamState, log_pos: u32, sql: &str) {
        s.query(at(log_pos), "db".into(), sql.into(), StatementContext::default()).unwrap();
    }

    /// A rows event (one inserted row of value `n`), as the reader hands it over.
    fn rows(s: &mut StreamState, log_pos: u32, n: i64) {
        s.advance(at(log_pos));
        let table = Arc::new(TableMap { id: 7, db: "db".into(), table: "t".into(), columns: Vec::new(), signedness: true });
        s.rows(TS, RowsEvent { table, kind: RowKind::Insert, rows: vec![(None, Some(vec![Value::Int(n)]))], flags: 0 });
    }

    /// The queued events, as short text.
    fn events(s: &mut StreamState) -> Vec<String> {
        std::iter::from_fn(|| s.pop())
            .map(|e| match e {
                Event::Begin { gtid: Some(g), .. } => format!("BEGIN {g}"),
                Event::Begin { gtid: None, .. } => "BEGIN".into(),
                Event::Rows(r) => match r.rows[0].1.as_deref() {
                    Some([Value::Int(n)]) => format!("rows {n}"),
                    other => panic!("unexpected rows {other:?}"),
                },
                Event::Query { sql, autocommit: true, .. } => format!("{sql} (autocommit)"),
                Event::Query { sql, .. } => sql,
                Event::Commit { .. } => "COMMIT".into(),
                Event::Heartbeat => "heartbeat".into(),
            })
            .collect()
    }

    #[test]
    fn mysql_transaction_is_gtid_begin_rows_xid() {
        let mut s = mysql();
        s.mysql_gtid(at(200), Some(my(5))).unwrap();
        assert!(events(&mut s).is_empty(), "a MySQL GTID only announces the transaction");
        query(&mut s, 300, "BEGIN");
        rows(&mut s, 400, 1);
        assert_eq!(events(&mut s), [format!("BEGIN {UUID}:5"), "rows 1".into()]);
        // The GTID joins the state at the commit, not before.
        assert_eq!(s.position(), pos("b.000001", 400, &mysql_gtids(4)));
        s.xid(at(500));
        assert_eq!(events(&mut s), ["COMMIT"]);
        assert_eq!(s.position(), pos("b.000001", 500, &mysql_gtids(5)));
    }

    #[test]
    fn mariadb_gtid_begins_a_transaction_and_xid_ends_it() {
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), false).unwrap();
        assert_eq!(s.pop(), Some(Event::Begin { gtid: Some("0-1-10".into()), timestamp: TS }));
        query(&mut s, 250, "BEGIN");
        rows(&mut s, 300, 1);
        assert_eq!(s.position(), pos("m.000001", 300, "0-1-9"));
        s.xid(at(400));
        assert_eq!(events(&mut s), ["rows 1", "COMMIT"]);
        assert_eq!(s.position(), pos("m.000001", 400, "0-1-10"));
    }

    #[test]
    fn a_transaction_starting_before_the_last_one_committed_is_an_error() {
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), false).unwrap();
        rows(&mut s, 300, 1);
        assert!(s.mariadb_gtid(at(400), maria(11), false).unwrap_err().contains("incomplete transaction"));

        let mut s = mysql();
        s.mysql_gtid(at(200), Some(my(5))).unwrap();
        query(&mut s, 300, "BEGIN");
        assert!(s.mysql_gtid(at(400), Some(my(6))).is_err());
        assert!(s.mysql_gtid(at(400), None).is_err());
    }

    #[test]
    fn a_standalone_group_ends_at_the_next_gtid() {
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), true).unwrap();
        assert!(events(&mut s).is_empty(), "a standalone group begins with its first change");
        rows(&mut s, 300, 1);
        rows(&mut s, 350, 2);
        assert_eq!(events(&mut s), ["BEGIN 0-1-10", "rows 1", "rows 2"]);
        assert_eq!(s.position().gtid.as_deref(), Some("0-1-9"));
        s.mariadb_gtid(at(400), maria(11), false).unwrap();
        assert_eq!(events(&mut s), ["COMMIT", "BEGIN 0-1-11"]);
        assert_eq!(s.position(), pos("m.000001", 400, "0-1-10"));
    }

    #[test]
    fn ddl_commits_by_itself() {
        // MariaDB: a standalone GTID and its statement.
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), true).unwrap();
        query(&mut s, 300, "CREATE TABLE t (a int)");
        assert_eq!(events(&mut s), ["CREATE TABLE t (a int) (autocommit)"]);
        assert_eq!(s.position(), pos("m.000001", 300, "0-1-10"), "the state includes a DDL as soon as it is handed out");
        // A standalone group that began with rows ends at its statement.
        s.mariadb_gtid(at(400), maria(11), true).unwrap();
        rows(&mut s, 500, 1);
        query(&mut s, 600, "ALTER TABLE t ADD b int");
        assert_eq!(events(&mut s), ["BEGIN 0-1-11", "rows 1", "COMMIT", "ALTER TABLE t ADD b int (autocommit)"]);
        assert_eq!(s.position(), pos("m.000001", 600, "0-1-11"));
        // Nothing is left open: the next transaction starts cleanly.
        s.mariadb_gtid(at(700), maria(12), false).unwrap();
        assert_eq!(events(&mut s), ["BEGIN 0-1-12"]);

        // MySQL: a GTID and its statement.
        let mut s = mysql();
        s.mysql_gtid(at(200), Some(my(5))).unwrap();
        query(&mut s, 300, "/* c */ DROP TABLE t");
        assert_eq!(events(&mut s), ["/* c */ DROP TABLE t (autocommit)"]);
        assert_eq!(s.position(), pos("b.000001", 300, &mysql_gtids(5)));
        s.mysql_gtid(at(400), Some(my(6))).unwrap();
        assert!(events(&mut s).is_empty());
    }

    #[test]
    fn a_statement_inside_a_transaction_stays_in_it() {
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), false).unwrap();
        query(&mut s, 300, "INSERT INTO t VALUES (1)");
        assert_eq!(events(&mut s), ["BEGIN 0-1-10", "INSERT INTO t VALUES (1)"]);
        assert_eq!(s.position().gtid.as_deref(), Some("0-1-9"));
        query(&mut s, 400, "COMMIT");
        assert_eq!(events(&mut s), ["COMMIT"]);
        assert_eq!(s.position(), pos("m.000001", 400, "0-1-10"));
    }

    #[test]
    fn a_group_ending_in_rollback_is_applied_as_committed() {
        let mut s = mysql();
        s.mysql_gtid(at(200), Some(my(5))).unwrap();
        query(&mut s, 300, "BEGIN");
        rows(&mut s, 400, 1);
        query(&mut s, 500, "ROLLBACK");
        assert_eq!(events(&mut s), [format!("BEGIN {UUID}:5"), "rows 1".into(), "COMMIT".into()]);
        assert_eq!(s.position(), pos("b.000001", 500, &mysql_gtids(5)));
    }

    #[test]
    fn events_after_a_savepoint_wait_for_the_commit() {
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), false).unwrap();
        rows(&mut s, 300, 1);
        query(&mut s, 400, "SAVEPOINT `a`");
        rows(&mut s, 500, 2);
        query(&mut s, 550, "INSERT INTO t VALUES (3)");
        assert_eq!(events(&mut s), ["BEGIN 0-1-10", "rows 1"]);
        assert_eq!(s.position().pos, 550, "held events still move the position");
        query(&mut s, 600, "COMMIT");
        assert_eq!(events(&mut s), ["rows 2", "INSERT INTO t VALUES (3)", "COMMIT"]);
        // The savepoint ended with its transaction.
        s.mariadb_gtid(at(700), maria(11), false).unwrap();
        rows(&mut s, 800, 4);
        assert_eq!(events(&mut s), ["BEGIN 0-1-11", "rows 4"]);
    }

    #[test]
    fn rollback_to_drops_the_events_after_its_savepoint() {
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), false).unwrap();
        rows(&mut s, 300, 1);
        query(&mut s, 310, "SAVEPOINT a");
        rows(&mut s, 320, 2);
        query(&mut s, 330, "SAVEPOINT b");
        rows(&mut s, 340, 3);
        query(&mut s, 350, "ROLLBACK TO b");
        rows(&mut s, 360, 4);
        query(&mut s, 370, "COMMIT");
        assert_eq!(events(&mut s), ["BEGIN 0-1-10", "rows 1", "rows 2", "rows 4", "COMMIT"]);

        s.mariadb_gtid(at(400), maria(11), false).unwrap();
        query(&mut s, 410, "SAVEPOINT `a`");
        rows(&mut s, 420, 5);
        query(&mut s, 430, "SAVEPOINT `b`");
        rows(&mut s, 440, 6);
        query(&mut s, 450, "ROLLBACK WORK TO SAVEPOINT `a`");
        rows(&mut s, 460, 7);
        // A savepoint rolled back to stays; the later ones are gone.
        query(&mut s, 470, "ROLLBACK TO a");
        assert!(s.query(at(475), "db".into(), "ROLLBACK TO b".into(), StatementContext::default()).unwrap_err().contains("never set"));
        rows(&mut s, 480, 8);
        query(&mut s, 490, "COMMIT");
        assert_eq!(events(&mut s), ["BEGIN 0-1-11", "rows 8", "COMMIT"]);
        assert_eq!(s.position(), pos("m.000001", 490, "0-1-11"));
    }

    #[test]
    fn a_savepoint_set_again_moves() {
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), false).unwrap();
        query(&mut s, 300, "SAVEPOINT a");
        rows(&mut s, 400, 1);
        query(&mut s, 500, "SAVEPOINT A");
        rows(&mut s, 600, 2);
        query(&mut s, 700, "ROLLBACK TO a");
        query(&mut s, 800, "COMMIT");
        assert_eq!(events(&mut s), ["BEGIN 0-1-10", "rows 1", "COMMIT"]);
    }

    #[test]
    fn release_of_the_first_savepoint_lets_its_events_through() {
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), false).unwrap();
        query(&mut s, 300, "SAVEPOINT a");
        rows(&mut s, 400, 1);
        query(&mut s, 500, "SAVEPOINT b");
        rows(&mut s, 600, 2);
        query(&mut s, 700, "RELEASE SAVEPOINT b");
        assert_eq!(events(&mut s), ["BEGIN 0-1-10"], "a is still set: a ROLLBACK TO a may drop them");
        query(&mut s, 800, "RELEASE SAVEPOINT a");
        assert_eq!(events(&mut s), ["rows 1", "rows 2"]);
        rows(&mut s, 900, 3);
        assert_eq!(events(&mut s), ["rows 3"]);
        assert!(s.query(at(950), "db".into(), "ROLLBACK TO a".into(), StatementContext::default()).is_err());
    }

    #[test]
    fn savepoints_outside_a_transaction_are_ignored() {
        let mut s = mariadb();
        query(&mut s, 200, "SAVEPOINT a");
        query(&mut s, 300, "ROLLBACK TO SAVEPOINT a");
        query(&mut s, 400, "RELEASE SAVEPOINT a");
        assert!(events(&mut s).is_empty());
        assert_eq!(s.position(), pos("m.000001", 400, "0-1-9"));
    }

    #[test]
    fn xa_prepare_delivers_the_transaction_and_xa_commit_moves_the_gtid() {
        // MySQL: XA_PREPARE is an event of its own; XA COMMIT a group of its own.
        let mut s = mysql();
        s.mysql_gtid(at(200), Some(my(5))).unwrap();
        query(&mut s, 300, "XA START X'01',X'',1");
        rows(&mut s, 400, 1);
        query(&mut s, 450, "XA END X'01',X'',1");
        s.xid(at(500));
        assert_eq!(events(&mut s), [format!("BEGIN {UUID}:5"), "rows 1".into(), "COMMIT".into()]);
        assert_eq!(s.position(), pos("b.000001", 500, &mysql_gtids(5)));
        s.mysql_gtid(at(600), Some(my(6))).unwrap();
        query(&mut s, 700, "XA COMMIT X'01',X'',1");
        assert_eq!(events(&mut s), [format!("BEGIN {UUID}:6"), "COMMIT".into()]);
        assert_eq!(s.position(), pos("b.000001", 700, &mysql_gtids(6)));

        // MariaDB: XA PREPARE is a statement; XA ROLLBACK a standalone group.
        let mut s = mariadb();
        s.mariadb_gtid(at(200), maria(10), false).unwrap();
        query(&mut s, 250, "XA START X'01'");
        rows(&mut s, 300, 1);
        query(&mut s, 350, "XA END X'01'");
        query(&mut s, 400, "XA PREPARE X'01'");
        assert_eq!(events(&mut s), ["BEGIN 0-1-10", "rows 1", "COMMIT"]);
        s.mariadb_gtid(at(500), maria(11), true).unwrap();
        query(&mut s, 600, "XA ROLLBACK X'01'");
        assert_eq!(events(&mut s), ["BEGIN 0-1-11", "COMMIT"]);
        assert_eq!(s.position(), pos("m.000001", 600, "0-1-11"));
    }

    #[test]
    fn a_compressed_transaction_ends_at_the_payload_end() {
        let mut s = mysql();
        s.mysql_gtid(at(200), Some(my(5))).unwrap();
        s.payload(at(5000));
        assert!(s.in_payload());
        // The inner events carry no positions (and any they carry do not count).
        query(&mut s, 0, "BEGIN");
        rows(&mut s, 0, 1);
        rows(&mut s, 300, 2);
        assert_eq!(s.position().pos, 200);
        s.xid(at(0));
        assert!(!s.in_payload());
        assert_eq!(events(&mut s), [format!("BEGIN {UUID}:5"), "rows 1".into(), "rows 2".into(), "COMMIT".into()]);
        assert_eq!(s.position(), pos("b.000001", 5000, &mysql_gtids(5)));
        // After it, events move the position again.
        s.mysql_gtid(at(5100), Some(my(6))).unwrap();
        assert_eq!(s.position().pos, 5100);
    }

    #[test]
    fn the_position_never_moves_backwards() {
        let mut s = StreamState::new(&pos("b.000002", 1000, &mysql_gtids(4)), false, mysql_set(&mysql_gtids(4)));
        // The FORMAT_DESCRIPTION replayed at the start carries its place at the head of the file.
        s.format_description(at(126));
        s.advance(at(900));
        s.advance(artificial(2000));
        s.advance(at(0));
        assert_eq!(s.position().pos, 1000);
        // The fake ROTATE of the file the stream is in.
        s.rotate(artificial(0), "b.000002".into(), 4);
        assert_eq!(s.position().pos, 1000);
        s.heartbeat();
        assert_eq!(events(&mut s), ["heartbeat"]);
        assert_eq!(s.position(), pos("b.000002", 1000, &mysql_gtids(4)));
        s.advance(at(1200));
        assert_eq!(s.position().pos, 1200);
        // A real ROTATE: the next file from its head.
        s.rotate(at(1300), "b.000003".into(), 4);
        assert_eq!(s.position(), pos("b.000003", 4, &mysql_gtids(4)));
    }

    #[test]
    fn a_gtid_start_reports_its_checkpoint_until_the_first_transaction() {
        // Resumed by GTID after a checkpoint at b.000003:777: the server skips to the GTID
        // somewhere in the file it names.
        let checkpoint = pos("b.000003", 777, &mysql_gtids(4));
        let mut s = StreamState::new(&checkpoint, true, mysql_set(&mysql_gtids(4)));
        assert_eq!(s.position(), checkpoint);
        s.rotate(artificial(0), "b.000005".into(), 4);
        s.format_description(at(126));
        s.advance(at(197));
        s.heartbeat();
        assert_eq!(s.position(), checkpoint);
        s.mysql_gtid(at(300), Some(my(5))).unwrap();
        assert_eq!(s.position(), pos("b.000005", 300, &mysql_gtids(4)));

        // From a GTID alone: no file until then.
        let mut s = StreamState::new(&pos("", 4, "0-1-9"), true, mariadb_pos("0-1-9"));
        s.rotate(artificial(0), "m.000002".into(), 4);
        s.format_description(at(256));
        assert_eq!(s.position(), pos("", 4, "0-1-9"));
        s.mariadb_gtid(at(400), maria(10), true).unwrap();
        assert_eq!(s.position(), pos("m.000002", 400, "0-1-9"));

        // A real ROTATE makes it exact as well.
        let mut s = StreamState::new(&checkpoint, true, mysql_set(&mysql_gtids(4)));
        s.rotate(at(1000), "b.000004".into(), 4);
        assert_eq!(s.position(), pos("b.000004", 4, &mysql_gtids(4)));
    }

    #[test]
    fn mariadb_fake_gtid_list_marks_where_a_gtid_start_resumes() {
        let mut s = StreamState::new(&pos("", 4, "0-1-9"), true, mariadb_pos("0-1-9"));
        s.rotate(artificial(0), "m.000002".into(), 4);
        s.format_description(at(256));
        // A real GTID_LIST (at the head of every file) is no mark.
        s.gtid_list(at(300));
        assert_eq!(s.position(), pos("", 4, "0-1-9"));
        s.gtid_list(artificial(4000));
        assert_eq!(s.position(), pos("m.000002", 4000, "0-1-9"));
        // Once exact, they are events like others.
        s.gtid_list(artificial(5000));
        assert_eq!(s.position().pos, 4000);
        s.gtid_list(at(4100));
        assert_eq!(s.position().pos, 4100);
    }

    #[test]
    fn statement_heads() {
        assert_eq!(statement_head("BEGIN"), "BEGIN");
        assert_eq!(statement_head("  commit"), "COMMIT");
        assert_eq!(statement_head("ROLLBACK TO SAVEPOINT a"), "ROLLBACK TO");
        assert_eq!(statement_head("ROLLBACK"), "ROLLBACK");
        assert_eq!(statement_head("XA START X'01',X'',1"), "XA START");
        assert_eq!(statement_head("/* c */ CREATE TABLE t (a int)"), "CREATE");
        assert_eq!(statement_head("SAVEPOINT `x`"), "SAVEPOINT");
    }

    #[test]
    fn savepoint_names() {
        assert_eq!(savepoint_name("SAVEPOINT `s`"), "s");
        assert_eq!(savepoint_name("ROLLBACK TO `s`"), "s");
        assert_eq!(savepoint_name("rollback work to savepoint sp1"), "sp1");
        assert_eq!(savepoint_name("RELEASE SAVEPOINT `a``b`"), "a`b");
        assert_eq!(savepoint_name("SAVEPOINT `to`"), "to");
        // Names that are not ASCII (a Latin-1 statement's bytes arrive as 2-byte characters).
        assert_eq!(savepoint_name("SAVEPOINT `保存点`"), "保存点");
        assert_eq!(savepoint_name("RELEASE SAVEPOINT `éééé`"), "éééé");
        assert_eq!(savepoint_name("ROLLBACK TO é"), "é");
    }
}
