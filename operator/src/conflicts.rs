//! Rules across tasks, checked against every SyncTask the controller knows (its reflector store):
//! two tasks writing one target table without both declaring `spec.merge`, and replication cycles
//! (A writes what B reads and B writes what A reads). Pure: the caller passes the tasks.
//!
//! Servers are told apart by `host:port` as written (lower-cased); two names for one server are
//! not recognised. When two tasks clash, the newer one is refused, so a running task is never
//! stopped by someone else's new one.

use ferry_crds::{Endpoint, SyncTask, SyncTaskSpec};
use kube::ResourceExt;

use crate::status::Refusal;

/// A table (or, with `table: None`, every table of a database) on one server.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Object {
    server: String,
    database: String,
    table: Option<String>,
}

impl Object {
    fn overlaps(&self, other: &Object) -> bool {
        self.server == other.server
            && self.database == other.database
            && match (&self.table, &other.table) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
    fn describe(&self) -> String {
        match &self.table {
            Some(t) => format!("{} table {}.{}", self.server, self.database, t),
            None => format!("{} database {}", self.server, self.database),
        }
    }
}

fn server(e: &Endpoint) -> String {
    format!("{}:{}", e.host.trim().to_lowercase(), e.port)
}

/// What one task reads on its source and writes on its target.
#[derive(Clone, Debug)]
struct Flow {
    key: String,
    /// Sorts tasks by age: the older one keeps running.
    age: (String, String),
    merge: bool,
    reads: Vec<Object>,
    writes: Vec<Object>,
}

fn flow(task: &SyncTask) -> Flow {
    let spec: &SyncTaskSpec = &task.spec;
    let (src, dst) = (server(&spec.source), server(&spec.target));
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    for db in &spec.objects {
        let target_db = db.rename.clone().unwrap_or_else(|| db.database.clone());
        match &db.tables {
            None => {
                reads.push(Object { server: src.clone(), database: db.database.clone(), table: None });
                writes.push(Object { server: dst.clone(), database: target_db, table: None });
            }
            Some(tables) => {
                for t in tables {
                    reads.push(Object { server: src.clone(), database: db.database.clone(), table: Some(t.name.clone()) });
                    writes.push(Object {
                        server: dst.clone(),
                        database: target_db.clone(),
                        table: Some(t.rename.clone().unwrap_or_else(|| t.name.clone())),
                    });
                }
            }
        }
    }
    let created = task.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()).unwrap_or_default();
    Flow { key: key(task), age: (created, key(task)), merge: spec.merge, reads, writes }
}

fn key(task: &SyncTask) -> String {
    format!("{}/{}", task.namespace().unwrap_or_default(), task.name_any())
}

/// The first rule `task` breaks against `others` (which may include `task` itself; tasks being
/// deleted should be left out by the caller).
pub fn check(task: &SyncTask, others: &[SyncTask]) -> Option<Refusal> {
    let me = flow(task);
    let flows: Vec<Flow> = others.iter().filter(|o| key(o) != me.key).map(flow).collect();

    for other in flows.iter().filter(|o| o.age < me.age) {
        if me.merge && other.merge {
            continue;
        }
        for w in &me.writes {
            if let Some(theirs) = other.writes.iter().find(|o| o.overlaps(w)) {
                return Some(Refusal {
                    reason: "TargetConflict",
                    message: format!(
                        "{} is also written by SyncTask {} ({}); declare spec.merge: true on both tasks to merge into it",
                        w.describe(),
                        other.key,
                        theirs.describe()
                    ),
                });
            }
        }
    }

    if let Some(cycle) = cycle_through(&me, &flows) {
        return Some(Refusal {
            reason: "Cycle",
            message: format!(
                "the tasks {} form a replication cycle (each writes what the next one reads); ferry refuses cycles",
                cycle.join(" -> ")
            ),
        });
    }
    None
}

/// A cycle of flows through `me` in which `me` is the newest task, as task keys.
fn cycle_through(me: &Flow, others: &[Flow]) -> Option<Vec<String>> {
    let feeds = |a: &Flow, b: &Flow| a.writes.iter().any(|w| b.reads.iter().any(|r| r.overlaps(w)));
    if feeds(me, me) {
        return Some(vec![me.key.clone(), me.key.clone()]);
    }
    // Depth-first search from `me` over "writes what the next reads" edges.
    let mut stack: Vec<(usize, Vec<usize>)> = others.iter().enumerate().filter(|(_, o)| feeds(me, o)).map(|(i, _)| (i, vec![i])).collect();
    let mut seen = vec![false; others.len()];
    while let Some((i, path)) = stack.pop() {
        if feeds(&others[i], me) {
            // Refuse only the newest member: the older tasks were valid when they started.
            if path.iter().all(|&j| others[j].age < me.age) {
                let mut keys = vec![me.key.clone()];
                keys.extend(path.iter().map(|&j| others[j].key.clone()));
                keys.push(me.key.clone());
                return Some(keys);
            }
            continue;
        }
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        for (j, o) in others.iter().enumerate() {
            if !seen[j] && feeds(&others[i], o) {
                let mut p = path.clone();
                p.push(j);
                stack.push((j, p));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::task_between;
    use ferry_crds::{DatabaseSelection, TableSelection};

    fn tables(t: &mut SyncTask, db: &str, names: &[&str]) {
        t.spec.objects = vec![DatabaseSelection {
            database: db.into(),
            rename: None,
            tables: Some(names.iter().map(|n| TableSelection { name: n.to_string(), rename: None, columns: None, filter: None }).collect()),
        }];
    }

    #[test]
    fn two_tasks_writing_one_table_refuse_the_newer() {
        let a = task_between("a", "db1", "db9", "2026-01-01T00:00:00Z");
        let b = task_between("b", "db2", "db9", "2026-01-02T00:00:00Z");
        let all = vec![a.clone(), b.clone()];
        assert_eq!(check(&a, &all), None, "the older task keeps running");
        let r = check(&b, &all).expect("refused");
        assert_eq!(r.reason, "TargetConflict");
        assert!(r.message.contains("ns1/a"), "{}", r.message);
    }

    #[test]
    fn different_tables_or_servers_do_not_clash_and_merge_is_allowed() {
        let mut a = task_between("a", "db1", "db9", "2026-01-01T00:00:00Z");
        let mut b = task_between("b", "db2", "db9", "2026-01-02T00:00:00Z");
        tables(&mut a, "shop", &["orders"]);
        tables(&mut b, "shop", &["customers"]);
        assert_eq!(check(&b, &[a.clone(), b.clone()]), None);
        tables(&mut b, "shop", &["orders"]);
        assert!(check(&b, &[a.clone(), b.clone()]).is_some());
        a.spec.merge = true;
        assert!(check(&b, &[a.clone(), b.clone()]).is_some(), "both must declare the merge");
        b.spec.merge = true;
        assert_eq!(check(&b, &[a.clone(), b.clone()]), None);
        let c = task_between("c", "db1", "db8", "2026-01-03T00:00:00Z");
        assert_eq!(check(&c, &[a, b, c.clone()]), None);
    }

    #[test]
    fn a_cycle_is_refused_for_its_newest_task() {
        let a = task_between("a", "db1", "db2", "2026-01-01T00:00:00Z");
        let b = task_between("b", "db2", "db3", "2026-01-02T00:00:00Z");
        let c = task_between("c", "db3", "db1", "2026-01-03T00:00:00Z");
        let all = vec![a.clone(), b.clone(), c.clone()];
        assert_eq!(check(&a, &all), None);
        assert_eq!(check(&b, &all), None);
        let r = check(&c, &all).expect("refused");
        assert_eq!(r.reason, "Cycle");
        assert_eq!(r.message.matches("ns1/").count(), 4, "{}", r.message);
        // Two tasks in opposite directions.
        let back = task_between("back", "db2", "db1", "2026-01-04T00:00:00Z");
        assert_eq!(check(&back, &[a.clone(), back.clone()]).unwrap().reason, "Cycle");
        // A task into its own source database.
        let own = task_between("own", "db1", "db1", "2026-01-05T00:00:00Z");
        assert_eq!(check(&own, std::slice::from_ref(&own)).unwrap().reason, "Cycle");
    }

    #[test]
    fn a_renamed_database_on_the_same_server_is_no_cycle() {
        let mut t = task_between("copy", "db1", "db1", "2026-01-05T00:00:00Z");
        t.spec.objects[0].rename = Some("shop_copy".into());
        assert_eq!(check(&t, std::slice::from_ref(&t)), None);
    }
}
