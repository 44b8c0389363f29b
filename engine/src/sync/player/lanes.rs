//! The lane scheduler: which lane applies which table, when a lane's group commits, and how far
//! the target is along. A pure unit: it decides, the player hands its decisions (`Commit`, the
//! parts of a large transaction) to the lane writers and reports their acknowledgements back.
//!
//! Tables hash to slots and slots start spread over the lanes; a transaction that writes slots
//! of two lanes moves the second one's slots into the first lane, for good. So one table's
//! changes stay in one lane in source order, a transaction is applied whole by one lane, and
//! lanes never write the same rows (nor take InnoDB gap locks in each other's key ranges):
//! tables written together are applied together, independent ones side by side. Each lane
//! commits the positions of the slots it owns with its changes.

use std::time::{Duration, Instant};

use crate::db::flavor::Position;
use crate::sync::applier::Group;
use crate::target::meta::APPLY_SLOTS;

/// A group commits when it holds this many source row changes...
pub const GROUP_ROWS: u64 = 20_000;
/// ... or this much memory (a larger source transaction is written in parts, committed once)...
pub const GROUP_BYTES: usize = 16 << 20;
/// ... or has waited this long; and at once when the binlog has nothing more right now.
pub const GROUP_AGE: Duration = Duration::from_millis(200);
/// A lane with nothing to apply moves its slots to the stream's position this often, so that
/// replay after a restart never starts far back.
pub const IDLE_MOVE: Duration = Duration::from_secs(1);

/// A lane's group, sent to its writer as one target transaction that also moves `slots` to `at`.
pub struct Commit {
    pub lane: usize,
    pub group: Group,
    /// The end of the last source transaction in it (or a barrier's position).
    pub at: Position,
    /// Source time at `at`.
    pub ts: u32,
    /// Source transactions folded into `group`.
    pub txns: u64,
    pub slots: Vec<usize>,
    /// Every slot moves (a barrier, or a stop), not only the lane's.
    pub all_slots: bool,
}

/// Slots moved into another lane: `from` must have committed what it holds (`commit`, if
/// anything) before the lane they moved to writes anything more.
pub struct Join {
    pub from: usize,
    pub commit: Option<Commit>,
}

/// One apply lane: the group it is filling, and what its writer has of it.
struct Lane {
    group: Group,
    /// Source transactions folded into `group`.
    txns: u64,
    /// Parts of `group` were written into the lane's open target transaction.
    parts: bool,
    /// When `group` got its first change.
    started: Instant,
    /// Commits sent and not acknowledged yet.
    in_flight: u32,
    /// Covered by its last acknowledged commit.
    durable: Position,
    /// Covered by its last sent commit, and when that was sent.
    sent: Position,
    sent_at: Instant,
}

impl Lane {
    fn pending(&self) -> bool {
        self.txns > 0 || self.parts || !self.group.is_empty()
    }
}

/// The lanes of one stream.
pub struct Lanes {
    lanes: Vec<Lane>,
    /// The lane of each slot. Slots that a transaction wrote together stay in one lane (union-find
    /// over slots, `parent`): they never split again, so no table moves back and forth.
    owner: Vec<usize>,
    parent: Vec<usize>,
    /// Where each slot stood when this run started: a slot is never moved back behind it (a lane
    /// that starts behind a faster one's slot would otherwise store the slot at its own, earlier
    /// position, and a crash before it passes the slot again would replay the slot's changes).
    started_at: Vec<Position>,
    /// The furthest slot: before it, replay meets changes that a faster lane applied already.
    replay_until: Position,
    /// A lane's group larger than this is written ahead in parts.
    lane_bytes: usize,
    /// Source time of the newest change applied.
    applied_ts: u32,
    /// A group was sent since this run started. Until then a group commits at its first
    /// transaction's end: a (re)start is at work on the target at once, even with a backlog whose
    /// first full group would take a while to read and write.
    any_sent: bool,
}

impl Lanes {
    /// `lanes` lanes resuming from the checkpoint at `at` whose slots stand at `slots` (none: all
    /// at `at`, a checkpoint written before slots).
    pub fn new(lanes: usize, at: &Position, slots: &[Position], now: Instant) -> Lanes {
        let started_at = if slots.is_empty() { vec![at.clone(); APPLY_SLOTS] } else { slots.to_vec() };
        let replay_until = started_at.iter().max().cloned().unwrap_or_else(|| at.clone());
        let lane = || Lane {
            group: Group::default(),
            txns: 0,
            parts: false,
            started: now,
            in_flight: 0,
            durable: at.clone(),
            sent: at.clone(),
            sent_at: now,
        };
        Lanes {
            lanes: (0..lanes).map(|_| lane()).collect(),
            owner: (0..APPLY_SLOTS).map(|s| s % lanes).collect(),
            parent: (0..APPLY_SLOTS).collect(),
            started_at,
            replay_until,
            lane_bytes: (GROUP_BYTES / lanes).max(4 << 20),
            applied_ts: 0,
            any_sent: false,
        }
    }

    /// As after the first group of a run: groups grow before they commit (for tests of that).
    #[cfg(test)]
    pub fn past_first_group(mut self) -> Lanes {
        self.any_sent = true;
        self
    }

    /// The lane that applies `slot`'s tables now.
    pub fn lane_of(&self, slot: usize) -> usize {
        self.owner[slot]
    }

    /// Replay from the lowest slot position meets changes that a faster lane applied already: a
    /// transaction starting at `txn_start` is skipped in `slot` when the slot is past its start.
    pub fn replayed(&self, txn_start: &Position, slot: usize) -> bool {
        *txn_start < self.replay_until && *txn_start < self.started_at[slot]
    }

    /// Source time of the newest change applied.
    pub fn applied_ts(&self) -> u32 {
        self.applied_ts
    }

    /// Lane `lane`'s group as one target transaction that also moves the lane's slots (or every
    /// slot) to `at`; with an empty group, it only moves the slots. None when there is nothing to
    /// commit: nothing pending and the lane's slots there already (unless `all_slots`), or no slot
    /// left to the lane and nothing pending. No slot moves to `at` when it started past it.
    pub fn commit(&mut self, lane: usize, at: &Position, ts: u32, all_slots: bool, now: Instant) -> Option<Commit> {
        let l = &self.lanes[lane];
        if !all_slots && !l.pending() && l.sent >= *at {
            return None;
        }
        let slots: Vec<usize> =
            (0..APPLY_SLOTS).filter(|&s| all_slots || self.owner[s] == lane).filter(|&s| self.started_at[s] <= *at).collect();
        let l = &mut self.lanes[lane];
        if slots.is_empty() && !l.pending() {
            return None; // a lane whose tables all joined others
        }
        self.any_sent |= l.pending();
        let commit = Commit { lane, group: std::mem::take(&mut l.group), at: at.clone(), ts, txns: l.txns, slots, all_slots };
        l.txns = 0;
        l.parts = false;
        l.in_flight += 1;
        l.sent = at.clone();
        l.sent_at = now;
        Some(commit)
    }

    fn root(&mut self, mut s: usize) -> usize {
        while self.parent[s] != s {
            self.parent[s] = self.parent[self.parent[s]];
            s = self.parent[s];
        }
        s
    }

    /// Moves `slot` (with every slot joined to it) into the lane of `home`, for good; its lane
    /// first commits what it holds up to `at` (the start of the transaction that joins them).
    /// None when they share a lane already.
    pub fn join(&mut self, slot: usize, home: usize, at: &Position, ts: u32, now: Instant) -> Option<Join> {
        let (from, to) = (self.owner[slot], self.owner[home]);
        if from == to {
            return None;
        }
        let commit = self.commit(from, at, ts, false, now);
        let moved = self.root(slot);
        for s in 0..APPLY_SLOTS {
            if self.root(s) == moved {
                self.owner[s] = to;
            }
        }
        let into = self.root(home);
        self.parent[moved] = into;
        Some(Join { from, commit })
    }

    /// The group `lane` is filling, for a change about to be added to it.
    pub fn group(&mut self, lane: usize, now: Instant) -> &mut Group {
        let l = &mut self.lanes[lane];
        if !l.pending() {
            l.started = now;
        }
        &mut l.group
    }

    /// When `lane`'s group outgrew its share of memory (a very large source transaction): the
    /// group to write ahead into the lane's open target transaction, committed with the rest.
    pub fn part(&mut self, lane: usize) -> Option<Group> {
        let l = &mut self.lanes[lane];
        if l.group.bytes <= self.lane_bytes {
            return None;
        }
        l.parts = true;
        Some(std::mem::take(&mut l.group))
    }

    /// A source transaction whose changes went to `lane` ended.
    pub fn transaction_ended(&mut self, lane: usize) {
        self.lanes[lane].txns += 1;
    }

    /// The commits due up to `at` (the end of the last whole source transaction): groups that are
    /// big or old enough (every pending one when `all`), and, once every `IDLE_MOVE`, the
    /// positions of lanes that had nothing to apply.
    pub fn due(&mut self, at: &Position, ts: u32, all: bool, now: Instant) -> Vec<Commit> {
        let mut commits = Vec::new();
        for i in 0..self.lanes.len() {
            let l = &self.lanes[i];
            let due = if l.pending() {
                all || !self.any_sent || l.group.rows >= GROUP_ROWS || now.saturating_duration_since(l.started) >= GROUP_AGE
            } else {
                l.in_flight == 0 && l.sent < *at && now.saturating_duration_since(l.sent_at) >= IDLE_MOVE
            };
            if due {
                commits.extend(self.commit(i, at, ts, false, now));
            }
        }
        commits
    }

    /// A lane's writer committed the commit it was sent first of those outstanding.
    pub fn acked(&mut self, lane: usize, at: &Position, ts: u32, all_slots: bool) {
        self.applied_ts = self.applied_ts.max(ts);
        if all_slots {
            for l in &mut self.lanes {
                l.durable = l.durable.clone().max(at.clone());
            }
        } else {
            self.lanes[lane].durable = at.clone();
        }
        self.lanes[lane].in_flight -= 1;
    }

    /// Commits sent to the lane (any lane for None) are not acknowledged yet.
    pub fn in_flight(&self, lane: Option<usize>) -> bool {
        self.lanes.iter().enumerate().any(|(i, l)| lane.is_none_or(|w| w == i) && l.in_flight > 0)
    }

    /// Nothing pending, nothing in flight.
    pub fn idle(&self) -> bool {
        self.lanes.iter().all(|l| l.in_flight == 0 && !l.pending())
    }

    /// When the oldest pending group got its first change.
    pub fn oldest_pending(&self) -> Option<Instant> {
        self.lanes.iter().filter(|l| l.pending()).map(|l| l.started).min()
    }

    /// Some lane's slots have not been sent to `at`.
    pub fn behind(&self, at: &Position) -> bool {
        self.lanes.iter().any(|l| l.sent < *at)
    }

    /// Everything before this position is on the target: the lowest durable position of the lanes
    /// with something pending or in flight (`last_end` when none has).
    pub fn low_water(&self, last_end: &Position) -> Position {
        self.lanes.iter().filter(|l| l.in_flight > 0 || l.pending()).map(|l| &l.durable).min().unwrap_or(last_end).clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mysql_async::Value;

    use super::*;
    use crate::sync::applier::{ApplyColumn, ApplyTable, Lit};

    fn at(pos: u64) -> Position {
        Position { file: "bin.000001".into(), pos, gtid: None }
    }

    fn table() -> Arc<ApplyTable> {
        Arc::new(ApplyTable {
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
        })
    }

    /// One source transaction of `rows` inserts into `lane`.
    fn fill(lanes: &mut Lanes, lane: usize, rows: i64, now: Instant) {
        let t = table();
        for id in 0..rows {
            lanes.group(lane, now).add(&t, None, Some(vec![Value::Int(id)])).unwrap();
        }
        lanes.transaction_ended(lane);
    }

    fn slots_of(lanes: &Lanes, lane: usize) -> Vec<usize> {
        (0..APPLY_SLOTS).filter(|&s| lanes.lane_of(s) == lane).collect()
    }

    /// (lane, at, slots, all_slots, txns) of each commit: what the writers are told.
    fn told(commits: &[Commit]) -> Vec<(usize, u64, Vec<usize>, bool, u64)> {
        commits.iter().map(|c| (c.lane, c.at.pos, c.slots.clone(), c.all_slots, c.txns)).collect()
    }

    #[test]
    fn slots_start_spread_over_the_lanes() {
        let lanes = Lanes::new(4, &at(100), &[], Instant::now());
        assert_eq!(slots_of(&lanes, 1), (0..APPLY_SLOTS).filter(|s| s % 4 == 1).collect::<Vec<_>>());
        assert!(lanes.idle());
        assert_eq!(lanes.low_water(&at(150)), at(150));
    }

    /// A transaction writing slot 1 (lane 1) after slot 0 (lane 0): lane 1 first commits what it
    /// holds, up to the transaction's start, with its own slots; then slot 1 is lane 0's.
    #[test]
    fn a_transaction_spanning_two_lanes_joins_them_after_the_second_commits() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(2, &at(100), &[], t0);
        fill(&mut lanes, 1, 3, t0);
        let join = lanes.join(1, 0, &at(200), 7, t0).expect("two lanes");
        assert_eq!(join.from, 1);
        let commit = join.commit.expect("lane 1 holds a transaction");
        assert_eq!(told(std::slice::from_ref(&commit)), vec![(1, 200, slots_of_parity(1), false, 1)]);
        assert_eq!(commit.group.rows, 3);
        assert!(lanes.in_flight(Some(1)) && !lanes.in_flight(Some(0)));
        assert_eq!(lanes.lane_of(1), 0);
        // Slot 1 alone moved: the rest of lane 1 stays.
        assert_eq!(lanes.lane_of(3), 1);
        assert!(lanes.join(1, 0, &at(300), 7, t0).is_none(), "joined already");
    }

    fn slots_of_parity(p: usize) -> Vec<usize> {
        (0..APPLY_SLOTS).filter(|s| s % 2 == p).collect()
    }

    /// With nothing pending and its slots sent to the transaction's start, the lane joins
    /// without a commit, and still has to be waited for (an earlier commit may be in flight).
    #[test]
    fn a_join_from_an_idle_lane_commits_nothing() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(2, &at(100), &[], t0);
        let join = lanes.join(1, 0, &at(100), 0, t0).unwrap();
        assert_eq!((join.from, join.commit.is_none()), (1, true));
        assert_eq!(lanes.lane_of(1), 0);
    }

    /// Slots joined once move together: a later transaction that joins one of them into another
    /// lane takes the others along, and none of them ever goes back to a lane of its own.
    #[test]
    fn a_joined_slot_never_splits_again() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(4, &at(100), &[], t0);
        lanes.join(1, 0, &at(110), 0, t0).unwrap(); // {0, 1} in lane 0
        lanes.join(2, 1, &at(120), 0, t0).unwrap(); // {0, 1, 2} in lane 0
        lanes.join(3, 2, &at(130), 0, t0).unwrap(); // {0, 1, 2, 3} in lane 0
        assert_eq!([0, 1, 2, 3].map(|s| lanes.lane_of(s)), [0; 4]);
        // Slot 2 joins slot 5 (lane 1): every slot joined to it goes along.
        let join = lanes.join(2, 5, &at(140), 0, t0).unwrap();
        assert_eq!(join.from, 0);
        assert_eq!([0, 1, 2, 3, 5].map(|s| lanes.lane_of(s)), [1; 5]);
        // Joining one of them with another in the same lane moves nothing.
        assert!(lanes.join(0, 3, &at(150), 0, t0).is_none());
        assert!(lanes.join(5, 1, &at(150), 0, t0).is_none());
        // And the other way round: slot 6 (lane 2) joined by slot 0 brings the whole set.
        lanes.join(0, 6, &at(160), 0, t0).unwrap();
        assert_eq!([0, 1, 2, 3, 5, 6].map(|s| lanes.lane_of(s)), [2; 6]);
        // Lanes 0 and 1 kept their other slots.
        assert_eq!(lanes.lane_of(4), 0);
        assert_eq!(lanes.lane_of(9), 1);
    }

    /// After its slots joined another lane, a lane commits its group but moves only what it still
    /// owns; with nothing owned and nothing pending it has nothing to commit.
    #[test]
    fn a_lane_commits_the_slots_it_owns_now() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(2, &at(100), &[], t0);
        for s in (0..APPLY_SLOTS).filter(|s| s % 2 == 1) {
            lanes.join(s, 0, &at(100), 0, t0);
        }
        assert!(slots_of(&lanes, 1).is_empty());
        assert!(lanes.commit(1, &at(200), 0, false, t0).is_none(), "no slot, nothing pending");
        fill(&mut lanes, 0, 1, t0);
        let c = lanes.commit(0, &at(200), 0, false, t0).unwrap();
        assert_eq!(c.slots, (0..APPLY_SLOTS).collect::<Vec<_>>());
    }

    /// The first group of a run commits at its first transaction's end, however small and young;
    /// the next ones grow.
    #[test]
    fn the_first_group_of_a_run_commits_at_once() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(2, &at(100), &[], t0);
        fill(&mut lanes, 0, 1, t0);
        assert_eq!(told(&lanes.due(&at(110), 1, false, t0)), vec![(0, 110, slots_of_mod(2, 0), false, 1)]);
        fill(&mut lanes, 1, 1, t0);
        assert!(lanes.due(&at(120), 1, false, t0).is_empty(), "after the first, a young small group waits");
    }

    /// A group commits when it is big, or old, or when all are asked for; not before.
    #[test]
    fn groups_commit_when_big_old_or_all() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(3, &at(100), &[], t0).past_first_group();
        fill(&mut lanes, 0, 2, t0);
        fill(&mut lanes, 1, GROUP_ROWS as i64, t0);
        fill(&mut lanes, 2, 2, t0 + Duration::from_millis(50));
        // Lane 1 is big; lanes 0 and 2 are young.
        let now = t0 + Duration::from_millis(100);
        assert_eq!(told(&lanes.due(&at(200), 1, false, now)), vec![(1, 200, slots_of_mod(3, 1), false, 1)]);
        // Lane 0 is old; lane 2 (started 50ms later) not yet.
        let now = t0 + GROUP_AGE;
        assert_eq!(told(&lanes.due(&at(210), 1, false, now)), vec![(0, 210, slots_of_mod(3, 0), false, 1)]);
        assert_eq!(lanes.oldest_pending(), Some(t0 + Duration::from_millis(50)));
        // All: lane 2 as well, however young.
        fill(&mut lanes, 2, 1, now);
        assert_eq!(told(&lanes.due(&at(220), 1, true, now)), vec![(2, 220, slots_of_mod(3, 2), false, 2)]);
        assert_eq!(lanes.oldest_pending(), None);
    }

    fn slots_of_mod(n: usize, r: usize) -> Vec<usize> {
        (0..APPLY_SLOTS).filter(|s| s % n == r).collect()
    }

    /// A lane with nothing to apply moves its slots to the stream's position, but only once a
    /// second, only when it has nothing in flight, and only when they are behind.
    #[test]
    fn idle_lanes_move_their_slots_once_a_second() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(2, &at(100), &[], t0);
        assert!(lanes.due(&at(200), 0, true, t0 + Duration::from_millis(999)).is_empty(), "not a second yet");
        let moved = lanes.due(&at(200), 5, false, t0 + IDLE_MOVE);
        assert_eq!(told(&moved), vec![(0, 200, slots_of_parity(0), false, 0), (1, 200, slots_of_parity(1), false, 0)]);
        assert!(moved.iter().all(|c| c.group.is_empty()));
        // In flight: not again, however long it takes.
        assert!(lanes.due(&at(300), 5, false, t0 + 3 * IDLE_MOVE).is_empty());
        lanes.acked(0, &at(200), 5, false);
        lanes.acked(1, &at(200), 5, false);
        // Sent to 200 at t0 + 1s: at 300 a second later, not at 200 however late.
        assert!(lanes.due(&at(200), 5, false, t0 + 5 * IDLE_MOVE).is_empty(), "there already");
        assert!(lanes.due(&at(300), 5, false, t0 + IDLE_MOVE + Duration::from_millis(500)).is_empty());
        assert_eq!(lanes.due(&at(300), 5, false, t0 + 2 * IDLE_MOVE).len(), 2);
        assert!(lanes.behind(&at(301)) && !lanes.behind(&at(300)));
    }

    /// Slots that started past a position (a faster lane of the last run) are never moved back
    /// to it, by a lane's commit or by an all-slots one.
    #[test]
    fn a_slot_never_moves_behind_where_it_started() {
        let t0 = Instant::now();
        let mut started = vec![at(100); APPLY_SLOTS];
        started[2] = at(500);
        started[3] = at(300);
        let mut lanes = Lanes::new(2, &at(100), &started, t0);
        let c = lanes.commit(0, &at(400), 0, false, t0).unwrap();
        assert!(!c.slots.contains(&2) && c.slots.contains(&0) && c.slots.contains(&4));
        let c = lanes.commit(1, &at(400), 0, false, t0).unwrap();
        assert!(c.slots.contains(&3), "300 <= 400");
        let c = lanes.commit(0, &at(450), 0, true, t0).unwrap();
        assert_eq!(c.slots, (0..APPLY_SLOTS).filter(|&s| s != 2).collect::<Vec<_>>());
        let c = lanes.commit(0, &at(500), 0, true, t0).unwrap();
        assert_eq!(c.slots.len(), APPLY_SLOTS);
    }

    /// An all-slots commit (a DDL barrier, a stop) is sent even with nothing pending and the lane
    /// there already, and moves every slot; a lane's own commit is not.
    #[test]
    fn all_slots_commits_move_every_slot() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(2, &at(100), &[], t0);
        assert!(lanes.commit(0, &at(100), 0, false, t0).is_none());
        let c = lanes.commit(0, &at(100), 9, true, t0).unwrap();
        assert_eq!((c.lane, c.slots.len(), c.all_slots), (0, APPLY_SLOTS, true));
        lanes.acked(0, &at(100), 9, true);
        // Its acknowledgement makes every lane durable there: lane 1, pending, is at 200 now.
        fill(&mut lanes, 1, 1, t0);
        let c = lanes.commit(0, &at(200), 10, true, t0).unwrap();
        assert_eq!(c.slots.len(), APPLY_SLOTS);
        lanes.acked(0, &c.at, c.ts, true);
        assert_eq!(lanes.low_water(&at(999)), at(200));
        assert_eq!(lanes.applied_ts(), 10);
    }

    /// The low-water mark is the least durable position of the lanes that have something pending
    /// or in flight; idle lanes do not hold it back.
    #[test]
    fn low_water_is_the_least_durable_pending_lane() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(3, &at(100), &[], t0);
        fill(&mut lanes, 0, 1, t0);
        fill(&mut lanes, 1, 1, t0);
        let c0 = lanes.commit(0, &at(200), 1, false, t0).unwrap();
        let c1 = lanes.commit(1, &at(300), 2, false, t0).unwrap();
        assert_eq!(lanes.low_water(&at(300)), at(100), "both in flight, durable at the start");
        lanes.acked(c1.lane, &c1.at, c1.ts, false);
        assert_eq!(lanes.low_water(&at(300)), at(100), "lane 0 still in flight");
        lanes.acked(c0.lane, &c0.at, c0.ts, false);
        assert_eq!(lanes.low_water(&at(300)), at(300), "nothing pending: the stream's position");
        fill(&mut lanes, 1, 1, t0);
        assert_eq!(lanes.low_water(&at(400)), at(300), "lane 1 pending, durable at 300");
        fill(&mut lanes, 0, 1, t0);
        assert_eq!(lanes.low_water(&at(400)), at(200), "lane 0 pending too, durable at 200");
        assert_eq!(lanes.applied_ts(), 2);
        assert!(!lanes.idle());
    }

    /// Replay skips a transaction in a slot that was past the transaction's start when the run
    /// started; not in a slot that was not, and nothing from the furthest slot on.
    #[test]
    fn replay_skips_what_a_slot_applied_already() {
        let mut started = vec![at(100); APPLY_SLOTS];
        started[1] = at(300);
        let lanes = Lanes::new(2, &at(100), &started, Instant::now());
        assert!(lanes.replayed(&at(100), 1));
        assert!(lanes.replayed(&at(299), 1));
        assert!(!lanes.replayed(&at(300), 1), "starts where the slot stood: not applied");
        assert!(!lanes.replayed(&at(100), 0));
        assert!(!lanes.replayed(&at(150), 0));
        // A checkpoint without slots: nothing is replayed.
        let lanes = Lanes::new(2, &at(100), &[], Instant::now());
        assert!((0..APPLY_SLOTS).all(|s| !lanes.replayed(&at(100), s) && !lanes.replayed(&at(150), s)));
    }

    /// A group past the lane's share of memory is handed out as a part; the lane stays pending
    /// (its target transaction is open) until the commit, which resets it.
    #[test]
    fn a_large_transaction_goes_in_parts_and_commits_once() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(4, &at(100), &[], t0);
        let t = table();
        assert!(lanes.part(0).is_none());
        while lanes.group(0, t0).bytes <= 4 << 20 {
            lanes.group(0, t0).add(&t, None, Some(vec![Value::Bytes(vec![b'x'; 64 << 10])])).unwrap();
        }
        let part = lanes.part(0).expect("over its share");
        assert!(!part.is_empty());
        assert!(lanes.part(0).is_none(), "the group starts again");
        assert!(!lanes.idle(), "parts written: pending");
        assert_eq!(lanes.oldest_pending(), Some(t0));
        lanes.transaction_ended(0);
        let c = lanes.commit(0, &at(200), 0, false, t0).unwrap();
        assert_eq!((c.txns, c.group.is_empty()), (1, true));
        lanes.acked(0, &at(200), 0, false);
        assert!(lanes.idle());
    }

    /// A group's age counts from its first change, not from when the lane was last touched.
    #[test]
    fn a_group_ages_from_its_first_change() {
        let t0 = Instant::now();
        let mut lanes = Lanes::new(1, &at(100), &[], t0);
        fill(&mut lanes, 0, 1, t0 + Duration::from_millis(10));
        fill(&mut lanes, 0, 1, t0 + Duration::from_millis(150));
        assert_eq!(lanes.oldest_pending(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(lanes.due(&at(200), 0, false, t0 + Duration::from_millis(210)).len(), 1);
    }
}
