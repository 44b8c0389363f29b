//! The stream's state between binlog events: where the open source transaction started and which
//! lane it went to, where the last whole one ended, whether the reader is caught up, whether a
//! stop was asked for. One method per event, each returning what the player does next with the
//! lanes' writers (the commits to send, the joins to wait for, a schema change to replay); the
//! lane scheduler ([`Lanes`]) decides the commits. Pure: tested without a server.

use std::time::{Duration, Instant};

use super::lanes::{Commit, GROUP_AGE, IDLE_MOVE, Join, Lanes};
use super::tables::Cascades;
use crate::db::flavor::Position;
use crate::sql::ddl::parse_ddl;

/// How long to wait for an event when nothing is due before one arrives.
const LONG: Duration = Duration::from_secs(3600);

pub struct Stream {
    /// The end of the last event read: where the next transaction starts.
    prev: Position,
    /// Where the open source transaction started.
    txn_start: Position,
    /// End position and source time of the last complete source transaction seen.
    last_end: Position,
    last_ts: u32,
    /// A source transaction is half read: nothing commits until it ends.
    in_txn: bool,
    /// The lane the open transaction's changes go to.
    txn_lane: Option<usize>,
    /// The slot the open transaction wrote first.
    txn_slot: Option<usize>,
    /// The reader had nothing more when last asked.
    caught_up: bool,
    /// A stop was asked for: drain at the next point between transactions.
    stopping: bool,
}

/// A rows event's table, as the player resolved it.
pub struct RowsOf<'a> {
    pub slot: usize,
    /// The table was copied whole at this position.
    pub copied_at: Option<&'a Position>,
    /// The target's foreign keys cascade the table's changes to these.
    pub cascades: Option<&'a Cascades>,
    /// The source ran the foreign-key actions of the event's changes without logging them.
    pub unlogged_cascades: bool,
}

/// What to do with a rows event.
pub enum Rows {
    /// Already on the target (by its copy, or by a lane before a restart), or not selected.
    Skip,
    /// Its changes go to `lane`, once each join's lane has committed what it holds (in order).
    /// `cascading`: they are added as changes the target's foreign keys cascade.
    Apply { lane: usize, joins: Vec<Join>, cascading: bool },
}

/// What to do with a statement.
pub enum Query {
    /// A schema change on its own: a barrier. These commits, then every lane idle, then the
    /// statement is replayed, then `passed`.
    Barrier(Vec<Commit>),
    /// A schema change inside a transaction (CREATE TABLE ... SELECT logs its CREATE inside the
    /// transaction that carries the rows): replayed now, before them.
    InTransaction,
    /// A statement-format change: cannot be applied as rows.
    StatementDml,
    /// Nothing to do.
    Other,
}

/// What a quiet moment commits.
#[derive(Default)]
pub struct Quiet {
    pub commits: Vec<Commit>,
    /// Caught up, every lane idle: the target is at the source.
    pub caught_up: bool,
}

impl Stream {
    /// A stream resuming at `at`.
    pub fn new(at: &Position) -> Stream {
        Stream {
            prev: at.clone(),
            txn_start: at.clone(),
            last_end: at.clone(),
            last_ts: 0,
            in_txn: false,
            txn_lane: None,
            txn_slot: None,
            caught_up: false,
            stopping: false,
        }
    }

    pub fn last_end(&self) -> &Position {
        &self.last_end
    }

    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// How long to wait for the next event: no longer than a pending group may wait, as it
    /// commits when the binlog goes quiet; a second when a lane's slots are behind; never while a
    /// transaction is half read (only whole source transactions commit).
    pub fn wait(&self, lanes: &Lanes, now: Instant) -> Duration {
        if self.in_txn {
            LONG
        } else if let Some(oldest) = lanes.oldest_pending() {
            GROUP_AGE.saturating_sub(now.saturating_duration_since(oldest))
        } else if lanes.behind(&self.last_end) {
            IDLE_MOVE
        } else {
            LONG
        }
    }

    pub fn begin(&mut self, pos: &Position) {
        self.in_txn = true;
        self.txn_start = self.prev.clone();
        self.txn_lane = None;
        self.txn_slot = None;
        self.caught_up = false;
        self.prev = pos.clone();
    }

    /// Replayed changes that a lane applied before a restart are skipped before anything is built
    /// for them: the tracked definition may be past them already (a schema change applied just
    /// before the crash).
    pub fn replayed(&self, lanes: &Lanes, slot: usize) -> bool {
        lanes.replayed(&self.txn_start, slot)
    }

    /// A rows event ending at `pos` of the table `of` (None: not selected).
    pub fn rows(&mut self, pos: &Position, lanes: &mut Lanes, of: Option<RowsOf>, now: Instant) -> Rows {
        self.prev = pos.clone();
        let Some(of) = of else { return Rows::Skip };
        let start = &self.txn_start;
        if of.copied_at.is_some_and(|p| start < p) || lanes.replayed(start, of.slot) {
            return Rows::Skip; // already on the target (in the table's copy, or by its lane)
        }
        // Changes whose foreign-key actions the source ran without logging them: the target's
        // foreign keys redo them (unless they ran on it before).
        let cascading = of.cascades.filter(|c| of.unlogged_cascades && !c.ran_before(start, lanes));
        let lane = *self.txn_lane.get_or_insert_with(|| lanes.lane_of(of.slot));
        let home = *self.txn_slot.get_or_insert(of.slot);
        // The transaction spans lanes: its tables join for good, in the lane it started in, once
        // their lane has committed what it holds. The tables a cascade reaches or checks join it
        // too: their changes before it must be on the target, those after it come after.
        let joins = std::iter::once(of.slot)
            .chain(cascading.iter().flat_map(|c| c.slots.iter().copied()))
            .filter_map(|s| lanes.join(s, home, &self.txn_start, self.last_ts, now))
            .collect();
        Rows::Apply { lane, joins, cascading: cascading.is_some() }
    }

    /// The transaction ends at `pos`: the commits now due.
    pub fn commit(&mut self, pos: &Position, ts: u32, lanes: &mut Lanes, now: Instant) -> Vec<Commit> {
        self.in_txn = false;
        self.last_end = pos.clone();
        self.last_ts = ts;
        self.prev = pos.clone();
        if let Some(lane) = self.txn_lane.take() {
            lanes.transaction_ended(lane);
        }
        lanes.due(&self.last_end, self.last_ts, false, now)
    }

    /// A statement ending at `pos`, in database `db`.
    pub fn query(&mut self, pos: &Position, db: &str, sql: &str, autocommit: bool, lanes: &mut Lanes, now: Instant) -> Query {
        self.prev = pos.clone();
        if autocommit {
            // A schema change is a barrier: every lane's changes before it are on the target,
            // then all slots move past it together.
            self.in_txn = false;
            Query::Barrier(lanes.due(&self.last_end, self.last_ts, true, now))
        } else if parse_ddl(sql, db).is_ok_and(|d| d.is_schema_change()) {
            // Nothing else touches the new table yet, so no lane has to wait.
            Query::InTransaction
        } else if is_statement_dml(sql) {
            Query::StatementDml
        } else {
            Query::Other
        }
    }

    /// The barrier's statement at `pos` is replayed: the stream is past it.
    pub fn passed(&mut self, pos: &Position, ts: u32) {
        self.last_end = pos.clone();
        self.last_ts = ts;
    }

    /// Every lane idle after a barrier or a drain: every slot moves to the last end together.
    pub fn move_all(&self, lanes: &mut Lanes, now: Instant) -> Option<Commit> {
        lanes.commit(0, &self.last_end, self.last_ts, true, now)
    }

    /// The source is idle; `backlog_empty`: nothing more is read ahead.
    pub fn heartbeat(&mut self, pos: &Position, backlog_empty: bool) {
        self.caught_up = backlog_empty;
        self.prev = pos.clone();
    }

    /// The binlog has nothing more right now (a heartbeat, or no event in time): between
    /// transactions, every pending group commits.
    pub fn quiet(&mut self, lanes: &mut Lanes, now: Instant) -> Quiet {
        if self.in_txn {
            return Quiet::default();
        }
        let commits = lanes.due(&self.last_end, self.last_ts, true, now);
        Quiet { caught_up: self.caught_up && lanes.idle(), commits }
    }

    /// A writer committed; `backlog_empty`: nothing is read ahead.
    pub fn acked(&mut self, backlog_empty: bool) {
        self.caught_up = self.caught_up || backlog_empty;
    }

    pub fn stop(&mut self) {
        self.stopping = true;
    }

    /// When a stop was asked for and no transaction is half read: the commits that put every
    /// change read on the target (then, every lane idle, `move_all`).
    pub fn drain(&mut self, lanes: &mut Lanes, now: Instant) -> Option<Vec<Commit>> {
        (self.stopping && !self.in_txn).then(|| lanes.due(&self.last_end, self.last_ts, true, now))
    }
}

/// Statement-format DML inside a transaction cannot be applied as rows.
fn is_statement_dml(sql: &str) -> bool {
    let first = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("").to_ascii_uppercase();
    matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mysql_async::Value;

    use super::*;
    use crate::sync::applier::{ApplyColumn, ApplyTable, Lit};
    use crate::target::meta::APPLY_SLOTS;

    fn at(pos: u64) -> Position {
        Position { file: "bin.000001".into(), pos, gtid: None }
    }

    /// A table of slot `slot`, not copied, without cascades.
    fn of(slot: usize) -> Option<RowsOf<'static>> {
        Some(RowsOf { slot, copied_at: None, cascades: None, unlogged_cascades: true })
    }

    /// Adds a row to what the decision says, as the player does.
    fn apply(lanes: &mut Lanes, rows: Rows, now: Instant) -> (usize, Vec<(usize, Option<u64>)>, bool) {
        let Rows::Apply { lane, joins, cascading } = rows else { panic!("skipped") };
        let t = Arc::new(ApplyTable {
            source: "s.t".into(),
            target: "`d`.`t`".into(),
            columns: vec![ApplyColumn { binlog_index: 0, name: "`id`".into(), lit: Lit::Number }],
            key: Some(vec![0]),
            filter: None,
            upsert: false,
            merge: None,
            filter_columns: Vec::new(),
            binlog_width: 1,
            cascade: None,
        });
        lanes.group(lane, now).add(&t, None, Some(vec![Value::Int(1)])).unwrap();
        let joins = joins.into_iter().map(|j| (j.from, j.commit.map(|c| c.at.pos))).collect();
        (lane, joins, cascading)
    }

    /// A rows event ending at `pos`, applied.
    fn step(st: &mut Stream, lanes: &mut Lanes, pos: u64, of: Option<RowsOf>, now: Instant) -> (usize, Vec<(usize, Option<u64>)>, bool) {
        let rows = st.rows(&at(pos), lanes, of, now);
        apply(lanes, rows, now)
    }

    /// A transaction at (start, end) writing `slots`, one rows event each.
    fn transaction(st: &mut Stream, lanes: &mut Lanes, (start, end): (u64, u64), slots: &[usize], now: Instant) -> Vec<Commit> {
        st.begin(&at(start + 1));
        for (i, &s) in slots.iter().enumerate() {
            let rows = st.rows(&at(start + 2 + i as u64), lanes, of(s), now);
            apply(lanes, rows, now);
        }
        st.commit(&at(end), 1, lanes, now)
    }

    /// The stream resumes at 100 with two lanes: even slots in lane 0, odd ones in lane 1.
    fn resumed() -> (Stream, Lanes, Instant) {
        let t0 = Instant::now();
        (Stream::new(&at(100)), Lanes::new(2, &at(100), &[], t0).past_first_group(), t0)
    }

    /// A transaction that writes slot 1 (lane 1) after slot 0 (lane 0) goes to lane 0; lane 1
    /// first commits what it holds up to the transaction's start (the end of the one before).
    #[test]
    fn a_transaction_spanning_lanes_joins_the_second_into_the_first() {
        let (mut st, mut lanes, t0) = resumed();
        assert!(transaction(&mut st, &mut lanes, (100, 200), &[1], t0).is_empty(), "young: nothing due");
        st.begin(&at(210));
        assert_eq!(step(&mut st, &mut lanes, 220, of(0), t0), (0, vec![], false));
        assert_eq!(step(&mut st, &mut lanes, 230, of(1), t0), (0, vec![(1, Some(200))], false));
        // Written again in the same transaction: joined already.
        assert_eq!(step(&mut st, &mut lanes, 240, of(1), t0), (0, vec![], false));
        let due = st.commit(&at(300), 2, &mut lanes, t0 + GROUP_AGE);
        assert_eq!(due.iter().map(|c| (c.lane, c.at.pos, c.txns)).collect::<Vec<_>>(), vec![(0, 300, 1)]);
        assert!(due[0].slots.contains(&1) && due[0].slots.contains(&0));
        // Later transactions on slot 1 alone stay in lane 0.
        st.begin(&at(310));
        assert_eq!(step(&mut st, &mut lanes, 320, of(1), t0).0, 0);
    }

    /// The lane of a transaction is the lane of the first slot it writes, even when that slot is
    /// the one joined to later: the second slot's lane moves to it, not the other way round.
    #[test]
    fn the_first_slot_written_keeps_its_lane() {
        let (mut st, mut lanes, t0) = resumed();
        st.begin(&at(110));
        assert_eq!(step(&mut st, &mut lanes, 120, of(3), t0), (1, vec![], false));
        let (lane, joins, _) = step(&mut st, &mut lanes, 130, of(2), t0);
        assert_eq!((lane, joins), (1, vec![(0, None)]), "lane 0 has nothing to commit (but is waited for)");
        assert_eq!((lanes.lane_of(2), lanes.lane_of(3), lanes.lane_of(0)), (1, 1, 0));
    }

    /// On replay, a transaction that a slot's lane applied before the restart is skipped in that
    /// slot, and only there; a table copied after the transaction started is skipped too.
    #[test]
    fn replay_skips_what_is_on_the_target() {
        let t0 = Instant::now();
        let mut started = vec![at(100); APPLY_SLOTS];
        started[1] = at(300);
        let mut lanes = Lanes::new(2, &at(100), &started, t0).past_first_group();
        let mut st = Stream::new(&at(100));
        st.begin(&at(110));
        assert!(st.replayed(&lanes, 1) && !st.replayed(&lanes, 0));
        assert!(matches!(st.rows(&at(120), &mut lanes, of(1), t0), Rows::Skip));
        let copied = at(150);
        let copied_later = Some(RowsOf { slot: 0, copied_at: Some(&copied), cascades: None, unlogged_cascades: false });
        assert!(matches!(st.rows(&at(125), &mut lanes, copied_later, t0), Rows::Skip));
        assert!(matches!(st.rows(&at(127), &mut lanes, None, t0), Rows::Skip), "not selected");
        assert_eq!(step(&mut st, &mut lanes, 130, of(0), t0), (0, vec![], false));
        st.commit(&at(200), 1, &mut lanes, t0);
        // Slot 1's next transaction starts at 300: applied by nobody yet.
        st.begin(&at(250));
        assert!(st.replayed(&lanes, 1), "starts at 200");
        st.commit(&at(300), 1, &mut lanes, t0);
        st.begin(&at(310));
        assert!(!st.replayed(&lanes, 1));
        assert!(matches!(st.rows(&at(320), &mut lanes, of(1), t0), Rows::Apply { lane: 1, .. }));
        // A copy read after the transaction started: in it already. Before: not.
        let copied = at(300);
        assert!(matches!(
            st.rows(&at(330), &mut lanes, Some(RowsOf { slot: 2, copied_at: Some(&copied), cascades: None, unlogged_cascades: false }), t0),
            Rows::Apply { .. }
        ));
    }

    /// A change whose cascade the source did not log is applied as cascading, in one lane with
    /// the tables its cascade reaches; not when the source logged it, nor when a lane of the last
    /// run applied the transaction with one of those tables.
    #[test]
    fn unlogged_cascades_join_the_tables_they_reach() {
        let t0 = Instant::now();
        let mut started = vec![at(100); APPLY_SLOTS];
        started[5] = at(200);
        let mut lanes = Lanes::new(2, &at(100), &started, t0).past_first_group();
        let mut st = Stream::new(&at(100));
        let ties = Cascades { slots: vec![2, 3, 7], copied_at: None };
        let replayed = Cascades { slots: vec![5], copied_at: None };
        let cascade = |ties, unlogged| Some(RowsOf { slot: 0, copied_at: None, cascades: Some(ties), unlogged_cascades: unlogged });
        st.begin(&at(110));
        // Ran before: slot 5 of the cascade was past the transaction's start.
        assert_eq!(step(&mut st, &mut lanes, 120, cascade(&replayed, true), t0), (0, vec![], false));
        // Logged by the source: its rows events carry what the cascade did.
        assert_eq!(step(&mut st, &mut lanes, 130, cascade(&ties, false), t0), (0, vec![], false));
        // Slots 3 and 7 (lane 1, never joined together) each leave lane 1 for lane 0.
        assert_eq!(step(&mut st, &mut lanes, 140, cascade(&ties, true), t0), (0, vec![(1, None), (1, None)], true));
        assert_eq!([2, 3, 7].map(|s| lanes.lane_of(s)), [0; 3]);
        assert_eq!(lanes.lane_of(5), 1);
        // A copy of a table it changes, read after the transaction started: it ran there.
        let copied = Cascades { slots: vec![9], copied_at: Some(at(150)) };
        assert_eq!(step(&mut st, &mut lanes, 150, cascade(&copied, true), t0), (0, vec![], false));
        assert_eq!(lanes.lane_of(9), 1);
    }

    /// A stop waits for the open transaction: nothing drains while one is half read; at its end
    /// every pending group commits, then every slot moves to its end.
    #[test]
    fn a_stop_drains_only_between_transactions() {
        let (mut st, mut lanes, t0) = resumed();
        transaction(&mut st, &mut lanes, (100, 200), &[1], t0);
        st.begin(&at(210));
        step(&mut st, &mut lanes, 220, of(0), t0);
        st.stop();
        assert!(st.stopping());
        assert!(st.drain(&mut lanes, t0).is_none(), "half read");
        assert!(st.quiet(&mut lanes, t0).commits.is_empty(), "nothing commits while half read");
        st.commit(&at(300), 3, &mut lanes, t0);
        let drained = st.drain(&mut lanes, t0).expect("between transactions");
        assert_eq!(drained.iter().map(|c| (c.lane, c.at.pos, c.all_slots)).collect::<Vec<_>>(), vec![(0, 300, false), (1, 300, false)]);
        for c in &drained {
            lanes.acked(c.lane, &c.at, c.ts, false);
        }
        let all = st.move_all(&mut lanes, t0).expect("every slot moves");
        assert_eq!((all.lane, all.at.pos, all.slots.len(), all.all_slots), (0, 300, APPLY_SLOTS, true));
    }

    /// An autocommitted schema change is a barrier: every pending group commits before it (young
    /// or not), and once it is replayed every slot moves past it; one inside a transaction is
    /// replayed at once; statement-format changes are refused.
    #[test]
    fn schema_changes_are_barriers() {
        let (mut st, mut lanes, t0) = resumed();
        transaction(&mut st, &mut lanes, (100, 200), &[0], t0);
        transaction(&mut st, &mut lanes, (200, 300), &[1], t0);
        let Query::Barrier(before) = st.query(&at(400), "d", "ALTER TABLE t ADD c INT", true, &mut lanes, t0) else { panic!("a barrier") };
        assert_eq!(before.iter().map(|c| (c.lane, c.at.pos)).collect::<Vec<_>>(), vec![(0, 300), (1, 300)]);
        st.passed(&at(400), 9);
        assert_eq!(st.last_end(), &at(400));
        let all = st.move_all(&mut lanes, t0).unwrap();
        assert_eq!((all.at.pos, all.ts, all.all_slots), (400, 9, true));
        st.begin(&at(410));
        assert!(matches!(st.query(&at(420), "d", "CREATE TABLE n (a INT)", false, &mut lanes, t0), Query::InTransaction));
        assert!(matches!(st.query(&at(430), "d", " insert into t values (1)", false, &mut lanes, t0), Query::StatementDml));
        assert!(matches!(st.query(&at(440), "d", "SAVEPOINT s", false, &mut lanes, t0), Query::Other));
        assert!(st.drain(&mut lanes, t0).is_none() && !st.stopping());
    }

    /// The wait for the next event: forever while a transaction is half read, until the oldest
    /// pending group is due, a second while a lane's slots are behind, else forever.
    #[test]
    fn waits_no_longer_than_what_is_due() {
        let (mut st, mut lanes, t0) = resumed();
        assert_eq!(st.wait(&lanes, t0), LONG);
        st.begin(&at(110));
        step(&mut st, &mut lanes, 120, of(0), t0);
        assert_eq!(st.wait(&lanes, t0), LONG, "half read");
        st.commit(&at(200), 1, &mut lanes, t0);
        assert_eq!(st.wait(&lanes, t0 + Duration::from_millis(50)), GROUP_AGE - Duration::from_millis(50));
        assert_eq!(st.wait(&lanes, t0 + 2 * GROUP_AGE), Duration::ZERO);
        let due = st.quiet(&mut lanes, t0);
        assert_eq!(due.commits.len(), 1);
        lanes.acked(0, &at(200), 1, false);
        assert_eq!(st.wait(&lanes, t0), IDLE_MOVE, "lane 1 is behind");
    }

    /// Caught up: when the reader had nothing more (a heartbeat with nothing read ahead, or a
    /// commit acknowledged then) and every lane is idle; a transaction starting ends it.
    #[test]
    fn caught_up_when_idle_with_nothing_read_ahead() {
        let (mut st, mut lanes, t0) = resumed();
        st.heartbeat(&at(100), false);
        assert!(!st.quiet(&mut lanes, t0).caught_up, "events read ahead");
        st.heartbeat(&at(100), true);
        assert!(st.quiet(&mut lanes, t0).caught_up);
        transaction(&mut st, &mut lanes, (100, 200), &[0], t0);
        assert!(!st.caught_up());
        st.heartbeat(&at(200), true);
        let quiet = st.quiet(&mut lanes, t0);
        assert!(!quiet.caught_up, "a commit in flight");
        assert_eq!(quiet.commits.len(), 1);
        st.acked(false);
        assert!(st.caught_up(), "stays caught up");
        lanes.acked(0, &at(200), 1, false);
        assert!(st.quiet(&mut lanes, t0).caught_up);
    }
}
