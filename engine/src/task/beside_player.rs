//! What runs beside the player while the binlog is followed: continuous verification
//! (`spec.verification`) and a requested cutover (`spec.cutover.requested`). Neither stops the
//! sync: a pass or a cutover that fails says so in the status, and the player goes on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_crds::manifest::Task;
use ferry_crds::{CutoverStatus, TableVerification, VerificationStatus};
use tracing::{Instrument, info, info_span, warn};

use crate::status::Reporter;
use crate::sync::changed_keys::ChangedKeys;
use crate::task::cutover::{CutoverOptions, cutover};
use crate::verify::{VerifyOptions, verify, verify_changed};

/// How long a requested cutover waits for the target to apply the source's final position.
const CUTOVER_CATCH_UP: Duration = Duration::from_secs(300);
/// After a failed pass or cutover, the next try.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// At most this many changed keys wait for their check.
const CHANGED_KEYS_KEPT: usize = 100_000;

/// Where the player records the keys it applies, when changed rows are checked.
pub fn changed_keys(task: &Task) -> Option<Arc<ChangedKeys>> {
    let v = &task.spec.verification;
    (v.enabled && v.recent_changes_delay_seconds > 0).then(|| Arc::new(ChangedKeys::new(CHANGED_KEYS_KEPT)))
}

/// Runs the cutover when requested and not done yet, the verification passes and the checks of
/// changed rows when enabled; returns when there is nothing (left) to do. The caller drops it
/// when the player ends.
pub async fn run_beside_player(task: &Task, reporter: Arc<Reporter>, changed_keys: Option<Arc<ChangedKeys>>) {
    let cut = async {
        if wants_cutover(task, reporter.status().cutover.as_ref()) {
            cut_over(task, &reporter).instrument(info_span!("cutover")).await;
        }
    };
    let passes = async {
        if task.spec.verification.enabled {
            verification_passes(task, &reporter).instrument(info_span!("verification")).await;
        }
    };
    let changed = async {
        if let Some(keys) = changed_keys {
            changed_rows_checks(task, &reporter, &keys).instrument(info_span!("changed_rows")).await;
        }
    };
    tokio::join!(cut, passes, changed);
}

/// Checks the rows the binlog changed, each `recentChangesDelaySeconds` after it was applied
/// (DM's validator idea: a difference shows within seconds, not at the next pass).
async fn changed_rows_checks(task: &Task, reporter: &Reporter, keys: &ChangedKeys) {
    let delay = Duration::from_secs(task.spec.verification.recent_changes_delay_seconds);
    let options = pass_options(task);
    loop {
        tokio::time::sleep(delay.clamp(Duration::from_secs(1), Duration::from_secs(10))).await;
        let (due, dropped) = keys.take_due(delay, Instant::now());
        if due.is_empty() && dropped == 0 {
            continue;
        }
        match verify_changed(task, &due, &options).await {
            Ok(found) => {
                if !found.passed {
                    warn!(differences = found.differences, "changed rows differ");
                }
                reporter.update(|s| s.verification = fold_changed(s.verification.take(), found, dropped));
            }
            // Those keys go unchecked now; the next pass compares their rows.
            Err(e) => warn!(error = %e, "cannot check the changed rows"),
        }
    }
}

/// Adds a check of changed rows to the last pass's report: its counts to `recentChanges`, its
/// differences to the report's (no pass yet and nothing found: still no report, since nothing
/// proves the rest of the tables).
pub fn fold_changed(last: Option<VerificationStatus>, found: VerificationStatus, dropped: u64) -> Option<VerificationStatus> {
    if last.is_none() && found.differences == 0 {
        return None;
    }
    let mut v = last.unwrap_or_default();
    let mut check = v.recent_changes.take().unwrap_or_default();
    check.time = found.time.clone();
    check.rows_checked += found.rows_compared;
    check.differences += found.differences;
    check.dropped += dropped;
    v.recent_changes = Some(check);
    if found.differences == 0 {
        return Some(v);
    }
    v.passed = false;
    v.differences += found.differences;
    for t in found.tables.into_iter().filter(|t| t.missing + t.extra + t.different + t.unconfirmed + t.repaired > 0) {
        match v.tables.iter_mut().find(|x| x.name == t.name) {
            Some(x) => {
                x.missing += t.missing;
                x.extra += t.extra;
                x.different += t.different;
                x.unconfirmed += t.unconfirmed;
                x.repaired += t.repaired;
                for e in t.examples {
                    if !x.examples.contains(&e) && x.examples.len() < 20 {
                        x.examples.push(e);
                    }
                }
            }
            None => v.tables.push(TableVerification { chunks: 0, rows_compared: 0, ..t }),
        }
    }
    Some(v)
}

/// A cutover runs when the spec requests it and the last one did not end `Done`.
pub fn wants_cutover(task: &Task, last: Option<&CutoverStatus>) -> bool {
    task.spec.incremental && task.spec.cutover.requested && last.is_none_or(|c| c.state != "Done")
}

/// The options of one continuous verification pass.
pub fn pass_options(task: &Task) -> VerifyOptions {
    let v = &task.spec.verification;
    // One table at a time: a background pass keeps its load on the source low.
    VerifyOptions {
        rows_per_second: (v.rows_per_second > 0).then_some(v.rows_per_second),
        repair: v.repair,
        parallelism: 1,
        ..Default::default()
    }
}

/// Verifies every selected table, again and again, `intervalSeconds` apart; each pass's report
/// replaces the last in `status.verification`.
async fn verification_passes(task: &Task, reporter: &Reporter) {
    let options = pass_options(task);
    loop {
        let pause = match verify(task, &options, &|_, _, _| {}).await {
            Ok(report) => {
                if !report.passed {
                    warn!(differences = report.differences, "verification found differences");
                }
                reporter.update(|s| s.verification = Some(report));
                Duration::from_secs(task.spec.verification.interval_seconds)
            }
            Err(e) => {
                warn!(error = %e, "verification pass failed");
                reporter.update(|s| s.verification = Some(failed_pass(s.verification.take(), &e.to_string())));
                RETRY_AFTER.min(Duration::from_secs(task.spec.verification.interval_seconds.max(1)))
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// A pass that could not run: the last results stay, with why this one failed (and never a
/// pass: nothing was proven).
fn failed_pass(last: Option<VerificationStatus>, error: &str) -> VerificationStatus {
    let mut v = last.unwrap_or_default();
    v.passed = false;
    v.message = Some(format!("the last verification pass failed: {error}"));
    v
}

/// Runs the cutover, retrying after a failure until it is done; `status.cutover` shows each step.
async fn cut_over(task: &Task, reporter: &Reporter) {
    let options = CutoverOptions { lock_source: task.spec.cutover.lock_source, catch_up: CUTOVER_CATCH_UP };
    loop {
        let on_state = |c: &CutoverStatus| reporter.update(|s| s.cutover = Some(c.clone()));
        match cutover(task, &options, &on_state).await {
            Ok(report) => {
                let done = report.status.state == "Done";
                info!(state = %report.status.state, "cutover ended");
                reporter.update(|s| {
                    s.cutover = Some(report.status);
                    if report.verification.is_some() {
                        s.verification = report.verification;
                    }
                });
                if done {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "cutover failed");
                let failed = CutoverStatus {
                    state: "Failed".into(),
                    message: Some(format!("{e}; trying again in {} s", RETRY_AFTER.as_secs())),
                    ..reporter.status().cutover.unwrap_or_default()
                };
                reporter.update(|s| s.cutover = Some(failed));
            }
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_crds::manifest::Credentials;

    fn task(spec: serde_json::Value) -> Task {
        let mut base = serde_json::json!({
            "source": {"host": "db1", "credentialsSecret": "s"},
            "target": {"host": "db2", "credentialsSecret": "t"},
            "objects": [{"database": "shop"}],
        });
        base.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
        let creds = || Credentials { username: "u".into(), password: "p".into() };
        Task {
            name: "t".into(),
            namespace: "ns".into(),
            spec: serde_json::from_value(base).unwrap(),
            source_credentials: creds(),
            target_credentials: creds(),
            source_ca: None,
            target_ca: None,
        }
    }

    #[test]
    fn a_cutover_runs_when_requested_until_done() {
        let requested = task(serde_json::json!({"cutover": {"requested": true}}));
        let state = |s: &str| CutoverStatus { state: s.into(), ..Default::default() };
        assert!(wants_cutover(&requested, None));
        assert!(wants_cutover(&requested, Some(&state("Failed"))), "a failed or interrupted cutover runs again");
        assert!(wants_cutover(&requested, Some(&state("CatchingUp"))));
        assert!(!wants_cutover(&requested, Some(&state("Done"))), "done once is done");
        assert!(!wants_cutover(&task(serde_json::json!({})), None), "not requested");
        let copy_only = task(serde_json::json!({"incremental": false, "cutover": {"requested": true}}));
        assert!(!wants_cutover(&copy_only, None), "a task that does not follow the binlog has nothing to cut over");
    }

    #[test]
    fn passes_use_the_spec_rate_and_repair() {
        let t = task(serde_json::json!({"verification": {"enabled": true, "rowsPerSecond": 500, "repair": true}}));
        let o = pass_options(&t);
        assert_eq!((o.rows_per_second, o.repair), (Some(500), true));
        let unlimited = pass_options(&task(serde_json::json!({"verification": {"enabled": true, "rowsPerSecond": 0}})));
        assert_eq!((unlimited.rows_per_second, unlimited.repair), (None, false));
    }

    #[test]
    fn changed_row_differences_join_the_last_pass() {
        let table = |name: &str, different: u64, examples: &[&str]| TableVerification {
            name: name.into(),
            target: name.into(),
            rows_compared: 10,
            different,
            examples: examples.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        let clean = VerificationStatus { passed: true, rows_compared: 100, tables: vec![table("d.a", 0, &[])], ..Default::default() };
        let nothing = VerificationStatus { passed: true, rows_compared: 3, ..Default::default() };
        assert_eq!(fold_changed(None, nothing.clone(), 0), None, "no pass yet: nothing proven");
        let v = fold_changed(Some(clean.clone()), nothing, 2).unwrap();
        assert!(v.passed);
        assert_eq!(v.recent_changes.as_ref().map(|r| (r.rows_checked, r.differences, r.dropped)), Some((3, 0, 2)));

        let found = VerificationStatus {
            passed: false,
            rows_compared: 4,
            differences: 2,
            tables: vec![table("d.a", 1, &["different id=2"]), table("d.b", 1, &["different k=9"]), table("d.c", 0, &[])],
            ..Default::default()
        };
        let v = fold_changed(Some(v), found.clone(), 0).unwrap();
        assert!(!v.passed);
        assert_eq!((v.differences, v.rows_compared), (2, 100), "rows compared stay the pass's");
        assert_eq!(v.recent_changes.as_ref().map(|r| (r.rows_checked, r.differences)), Some((7, 2)));
        let names: Vec<_> = v.tables.iter().map(|t| (t.name.as_str(), t.different, t.examples.clone())).collect();
        assert_eq!(
            names,
            [("d.a", 1, vec!["different id=2".to_string()]), ("d.b", 1, vec!["different k=9".to_string()])],
            "added to the table's line, or a line of its own; tables without a difference left out"
        );
        let alone = fold_changed(None, found, 0).unwrap();
        assert!(!alone.passed && alone.differences == 2, "a difference shows even before the first pass");
    }

    #[test]
    fn a_failed_pass_keeps_the_last_results_and_is_no_pass() {
        let last = VerificationStatus { passed: true, rows_compared: 42, ..Default::default() };
        let v = failed_pass(Some(last), "lost connection");
        assert!(!v.passed, "nothing was proven");
        assert_eq!(v.rows_compared, 42);
        assert!(v.message.unwrap().contains("lost connection"));
    }
}
