//! The keys of rows the player applied lately, kept for a row-level check of each once a delay
//! has passed (continuous verification's check of recent changes). Bounded: past
//! [`ChangedKeys::capacity`] keys the newest are not kept (counted as dropped; the full passes
//! still compare those rows).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::Value;

/// A table whose rows changed: its source `db` and `table`, and the target's names of its key
/// columns (shared by the keys of one rows event, not copied per row).
#[derive(Debug, PartialEq)]
pub struct ChangedTable {
    pub db: String,
    pub table: String,
    pub columns: Vec<String>,
}

/// One changed row: its table and the key's values as the binlog had them.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangedKey {
    pub table: Arc<ChangedTable>,
    pub key: Vec<Value>,
}

/// The keys of one table due for a check: its key columns (target names) and distinct keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DueKeys {
    pub columns: Vec<String>,
    pub keys: Vec<Vec<Value>>,
}

/// Keys recorded by the player, taken by the checker.
pub struct ChangedKeys {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<(Instant, ChangedKey)>,
    dropped: u64,
}

impl ChangedKeys {
    pub fn new(capacity: usize) -> Self {
        ChangedKeys { capacity, inner: Mutex::default() }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records a key changed at `now`.
    pub fn record(&self, key: ChangedKey, now: Instant) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.queue.len() >= self.capacity {
            inner.dropped += 1;
            return;
        }
        inner.queue.push_back((now, key));
    }

    /// Takes the keys changed at least `delay` before `now`, by source table, each key once;
    /// and how many keys were dropped since the last take.
    pub fn take_due(&self, delay: Duration, now: Instant) -> (BTreeMap<(String, String), DueKeys>, u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut due: BTreeMap<(String, String), DueKeys> = BTreeMap::new();
        let mut seen: BTreeSet<(String, String, String)> = BTreeSet::new();
        while inner.queue.front().is_some_and(|(at, _)| now.saturating_duration_since(*at) >= delay) {
            let Some((_, k)) = inner.queue.pop_front() else { break };
            let t = &k.table;
            if !seen.insert((t.db.clone(), t.table.clone(), format!("{:?}", k.key))) {
                continue;
            }
            let entry = due.entry((t.db.clone(), t.table.clone())).or_default();
            if entry.columns != t.columns {
                // The key changed with a schema change: check by the newest key only.
                if !entry.columns.is_empty() {
                    entry.keys.clear();
                }
                entry.columns = t.columns.clone();
            }
            entry.keys.push(k.key);
        }
        (due, std::mem::take(&mut inner.dropped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(table: &str, id: i64) -> ChangedKey {
        let table = Arc::new(ChangedTable { db: "d".into(), table: table.into(), columns: vec!["id".into()] });
        ChangedKey { table, key: vec![Value::Int(id)] }
    }

    #[test]
    fn keys_are_due_after_the_delay_once_each_by_table() {
        let keys = ChangedKeys::new(100);
        let t0 = Instant::now();
        keys.record(key("a", 1), t0);
        keys.record(key("a", 1), t0);
        keys.record(key("b", 7), t0 + Duration::from_secs(1));
        keys.record(key("a", 2), t0 + Duration::from_secs(5));
        let (due, dropped) = keys.take_due(Duration::from_secs(3), t0 + Duration::from_secs(4));
        assert_eq!(dropped, 0);
        assert_eq!(due.len(), 2);
        assert_eq!(due[&("d".into(), "a".into())].keys, vec![vec![Value::Int(1)]], "once, and not the key changed 1 s ago");
        assert_eq!(due[&("d".into(), "b".into())].keys, vec![vec![Value::Int(7)]]);
        let (later, _) = keys.take_due(Duration::from_secs(3), t0 + Duration::from_secs(9));
        assert_eq!(later[&("d".into(), "a".into())].keys, vec![vec![Value::Int(2)]]);
        assert!(keys.take_due(Duration::ZERO, t0 + Duration::from_secs(9)).0.is_empty(), "taken keys are gone");
    }

    #[test]
    fn past_the_capacity_keys_are_dropped_and_counted() {
        let keys = ChangedKeys::new(2);
        let t0 = Instant::now();
        for id in 0..5 {
            keys.record(key("a", id), t0);
        }
        let (due, dropped) = keys.take_due(Duration::ZERO, t0);
        assert_eq!((due[&("d".into(), "a".into())].keys.len(), dropped), (2, 3));
        assert_eq!(keys.take_due(Duration::ZERO, t0).1, 0, "counted once");
    }
}
