//! Rules across tasks, checked against every SyncTask the controller knows (its reflector store):
//! two tasks writing one target table without both declaring the merge (`merge: true` on the
//! table mapping, or on its database selection), and replication cycles (A writes what B reads and
//! B writes what A reads). Pure: the caller passes the tasks.
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
    /// Declared as merged with other tasks' rows (target objects only).
    merge: bool,
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
                reads.push(Object { server: src.clone(), database: db.database.clone(), table: None, merge: false });
                writes.push(Object { server: dst.clone(), database: target_db, table: None, merge: db.merge });
            }
            Some(tables) => {
                for t in tables {
                    reads.push(Object { server: src.clone(), database: db.database.clone(), table: Some(t.name.clone()), merge: false });
                    writes.push(Object {
                        server: dst.clone(),
                        database: target_db.clone(),
                        table: Some(t.rename.clone().unwrap_or_else(|| t.name.clone())),
                        merge: t.merge || db.merge,
                    });
                }
            }
        }
    }
    let created = task.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()).unwrap_or_default();
    Flow { key: key(task), age: (created, key(task)), reads, writes }
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
        for w in &me.writes {
            // Merging is allowed where both sides declared it.
            if let Some(theirs) = other.writes.iter().find(|o| o.overlaps(w) && !(w.merge && o.merge)) {
                let undeclared = match (w.merge, theirs.merge) {
                    (false, false) => "neither task declares the merge",
                    (false, true) => "this task does not declare the merge",
                    _ => "that task does not declare the merge",
                };
                return Some(Refusal {
                    reason: "TargetConflict",
                    message: format!(
                        "{} is also written by SyncTask {} ({}) and {undeclared}; to merge both into it, set merge: true \
                         on the table mapping (spec.objects[].tables[].merge, or spec.objects[].merge for a whole database) in both tasks",
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
            tables: Some(
                names
                    .iter()
                    .map(|n| TableSelection {
                        name: n.to_string(),
                        rename: None,
                        columns: None,
                        filter: None,
                        merge: false,
                        ddl: None,
                        dml: None,
                    })
                    .collect(),
            ),
            merge: false,
            ddl: true,
            dml: None,
        }];
    }

    fn merge_table(t: &mut SyncTask, name: &str) {
        for ts in t.spec.objects[0].tables.as_mut().unwrap().iter_mut().filter(|ts| ts.name == name) {
            ts.merge = true;
        }
    }

    #[test]
    fn two_tasks_writing_one_table_refuse_the_newer() {
        let a = task_between("a", "db1", "db9", "2026-01-01T00:00:00Z");
        let b = task_between("b", "db2", "db9", "2026-01-02T00:00:00Z");
        let all = vec![a.clone(), b.clone()];
        assert_eq!(check(&a, &all), None, "the older task keeps running");
        let r = check(&b, &all).expect("refused");
        assert_eq!(r.reason, "TargetConflict");
        assert!(r.message.contains("SyncTask ns1/a") && r.message.contains("db9:3306 database shop"), "{}", r.message);
        assert!(r.message.contains("neither task declares the merge"), "{}", r.message);
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
        merge_table(&mut a, "orders");
        let r = check(&b, &[a.clone(), b.clone()]).expect("both must declare the merge");
        assert!(r.message.contains("ns1/a") && r.message.contains("this task does not declare the merge"), "{}", r.message);
        merge_table(&mut b, "orders");
        assert_eq!(check(&b, &[a.clone(), b.clone()]), None);
        // The merge is per table: another shared table still needs its own declaration.
        tables(&mut a, "shop", &["orders", "customers"]);
        tables(&mut b, "shop", &["orders", "customers"]);
        merge_table(&mut a, "orders");
        merge_table(&mut b, "orders");
        let r = check(&b, &[a.clone(), b.clone()]).expect("customers is not declared");
        assert!(r.message.contains("shop.customers") && r.message.contains("ns1/a"), "{}", r.message);
        // A whole database declared merged covers its tables.
        let mut whole = task_between("whole", "db3", "db9", "2026-01-02T12:00:00Z");
        whole.spec.objects[0].merge = true;
        merge_table(&mut a, "customers");
        assert_eq!(check(&whole, &[a.clone(), whole.clone()]), None);
        whole.spec.objects[0].merge = false;
        assert!(check(&whole, &[a.clone(), whole.clone()]).is_some());
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
        let r = check(&back, &[a.clone(), back.clone()]).unwrap();
        assert_eq!(r.reason, "Cycle");
        assert!(r.message.contains("ns1/back -> ns1/a -> ns1/back"), "the refusal names the other task: {}", r.message);
        assert_eq!(check(&a, &[a.clone(), back.clone()]), None, "the older task of the loop keeps running");
        // A merge declaration does not make a loop acceptable.
        let mut a2 = a.clone();
        let mut back2 = back.clone();
        a2.spec.objects[0].merge = true;
        back2.spec.objects[0].merge = true;
        assert_eq!(check(&back2, &[a2, back2.clone()]).unwrap().reason, "Cycle");
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
