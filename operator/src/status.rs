//! The operator's part of the status: phase, message, conditions, observedGeneration, precheck
//! and children, derived by a pure function from what the operator observed, and the
//! server-side-apply patch that writes exactly those fields (field manager `ferry-operator`).

use ferry_crds::{ChildrenStatus, Phase, SyncTask, SyncTaskStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

pub const PRECHECK_PASSED: &str = "PrecheckPassed";
pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";
pub const SUSPENDED: &str = "Suspended";
pub const CUTOVER_READY: &str = "CutoverReady";

/// Why the operator will not run a task until its spec changes.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// CamelCase reason for conditions and events: InvalidSpec, TargetConflict, Cycle, Malformed.
    pub reason: &'static str,
    pub message: String,
}

/// The precheck of the current spec, as far as the operator saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum PrecheckState {
    /// No Job yet (suspended, or refused before it could start).
    NotRun,
    Running,
    Passed,
    /// The check ran and found problems, or could not run; the message says which.
    Failed {
        message: String,
    },
}

/// The engine StatefulSet as observed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineObserved {
    pub replicas: i32,
    pub ready_replicas: i32,
}

/// Everything the operator's status is derived from.
#[derive(Clone, Debug)]
pub struct Observed {
    pub refusal: Option<Refusal>,
    pub precheck: PrecheckState,
    /// The precheck report (JSON, as `ferry precheck --output json` prints it), when known.
    pub precheck_report: Option<Value>,
    pub precheck_job: Option<String>,
    pub engine: Option<EngineObserved>,
    pub engine_name: Option<String>,
}

/// The fields the operator owns.
#[derive(Clone, Debug, PartialEq)]
pub struct OperatorStatus {
    pub phase: Phase,
    pub message: Option<String>,
    pub conditions: Vec<Condition>,
    pub observed_generation: Option<i64>,
    pub children: Option<ChildrenStatus>,
    pub precheck: Option<Value>,
}

struct Cond {
    type_: &'static str,
    status: &'static str,
    reason: &'static str,
    message: String,
}

fn cond(type_: &'static str, status: bool, reason: &'static str, message: impl Into<String>) -> Cond {
    Cond { type_, status: if status { "True" } else { "False" }, reason, message: message.into() }
}

fn unknown(type_: &'static str, reason: &'static str, message: impl Into<String>) -> Cond {
    Cond { type_, status: "Unknown", reason, message: message.into() }
}

/// The engine's own report, when it describes the current generation (an older engine's report
/// says nothing about the spec now in force).
fn current_engine_report(task: &SyncTask) -> Option<(Phase, Option<String>)> {
    let report = task.status.as_ref()?.engine.as_ref()?;
    if report.observed_generation != task.metadata.generation {
        return None;
    }
    Some((report.phase?, report.message.clone()))
}

/// True when the engine reported that the current spec's task is complete.
pub fn engine_finished(task: &SyncTask) -> bool {
    matches!(current_engine_report(task), Some((Phase::Finished, _)))
}

/// Derives phase, message and conditions. Conditions keep their lastTransitionTime unless their
/// status flips (see [`merge_conditions`]).
pub fn derive(task: &SyncTask, observed: &Observed, now: Timestamp) -> OperatorStatus {
    let suspended = task.spec.suspend;
    let precheck_cond = match &observed.precheck {
        PrecheckState::Passed => cond(PRECHECK_PASSED, true, "Passed", "the precheck of the current spec passed"),
        PrecheckState::Failed { message } => cond(PRECHECK_PASSED, false, "Failed", message.clone()),
        PrecheckState::Running => unknown(PRECHECK_PASSED, "Running", "the precheck Job is running"),
        PrecheckState::NotRun => unknown(PRECHECK_PASSED, "NotRun", "the precheck has not run for the current spec"),
    };
    let suspended_cond = if suspended {
        cond(SUSPENDED, true, "SpecSuspend", "spec.suspend is true; the engine is stopped, the checkpoint kept")
    } else {
        cond(SUSPENDED, false, "Running", "spec.suspend is false")
    };

    let (phase, message, ready, progressing, degraded) = if let Some(r) = &observed.refusal {
        (
            Phase::Failed,
            r.message.clone(),
            cond(READY, false, r.reason, r.message.clone()),
            cond(PROGRESSING, false, r.reason, "waiting for a change to the spec"),
            cond(DEGRADED, true, r.reason, r.message.clone()),
        )
    } else if suspended {
        let m = "suspended; set spec.suspend to false to resume from the checkpoint".to_string();
        (
            Phase::Suspended,
            m.clone(),
            cond(READY, false, "Suspended", m.clone()),
            cond(PROGRESSING, false, "Suspended", m),
            cond(DEGRADED, false, "Suspended", "nothing runs"),
        )
    } else {
        match &observed.precheck {
            PrecheckState::NotRun | PrecheckState::Running => {
                let m = "precheck running".to_string();
                (
                    Phase::Prechecking,
                    m.clone(),
                    cond(READY, false, "Prechecking", m.clone()),
                    cond(PROGRESSING, true, "Prechecking", m),
                    cond(DEGRADED, false, "Prechecking", "no problem known"),
                )
            }
            PrecheckState::Failed { message } => (
                Phase::PrecheckFailed,
                message.clone(),
                cond(READY, false, "PrecheckFailed", message.clone()),
                cond(PROGRESSING, false, "PrecheckFailed", "waiting for a change to the spec or the ferry.dev/recheck annotation"),
                cond(DEGRADED, true, "PrecheckFailed", message.clone()),
            ),
            PrecheckState::Passed => engine_phase(task, observed),
        }
    };

    let conditions = [precheck_cond, ready, progressing, degraded, suspended_cond, cutover_ready(task)];
    let current = task.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or(&[]);
    OperatorStatus {
        phase,
        message: Some(message),
        conditions: merge_conditions(current, &conditions, task.metadata.generation, now),
        observed_generation: task.metadata.generation,
        children: (observed.precheck_job.is_some() || observed.engine_name.is_some())
            .then(|| ChildrenStatus { precheck_job: observed.precheck_job.clone(), engine: observed.engine_name.clone() }),
        precheck: observed.precheck_report.clone(),
    }
}

/// Whether the applications may move to the target now: the task follows the binlog, its lag is
/// at most `spec.cutover.maxLagSeconds`, the last verification found no difference, and no
/// schema change was skipped or withheld (unless the spec accepts them). The message names each
/// requirement that holds and each that does not. A cutover done is True for good.
fn cutover_ready(task: &SyncTask) -> Cond {
    let status = task.status.as_ref();
    if let Some(c) = status.and_then(|s| s.cutover.as_ref()).filter(|c| c.state == "Done") {
        return cond(CUTOVER_READY, true, "CutoverDone", c.message.clone().unwrap_or_else(|| "the cutover is done".into()));
    }
    let spec = &task.spec.cutover;
    let mut held = Vec::new();
    let mut holds = Vec::new();
    let following = current_engine_report(task).is_some_and(|(p, _)| p == Phase::Synchronizing);
    if following {
        holds.push("the binlog is followed".to_string())
    } else {
        held.push("the task is not following the binlog".to_string())
    }
    match status.and_then(|s| s.lag_seconds) {
        Some(lag) if lag as u64 <= spec.max_lag_seconds => holds.push(format!("lag {lag} s ≤ {} s", spec.max_lag_seconds)),
        Some(lag) => held.push(format!("lag {lag} s > {} s", spec.max_lag_seconds)),
        None => held.push("no lag known yet".into()),
    }
    match status.and_then(|s| s.verification.as_ref()) {
        Some(v) if v.passed => holds.push(format!("the last verification compared {} rows and found no difference", v.rows_compared)),
        Some(v) => held.push(format!("the last verification found {} differing rows", v.differences)),
        None => held.push("no verification yet (spec.verification, or ferry verify)".into()),
    }
    let skipped = status.and_then(|s| s.schema_changes.as_ref()).map_or(0, |c| c.skipped.len());
    match (skipped, spec.accept_skipped_schema_changes) {
        (0, _) => holds.push("no schema change skipped".into()),
        (n, true) => holds.push(format!("{n} skipped schema changes accepted")),
        (n, false) => held.push(format!("{n} schema changes skipped or withheld (spec.cutover.acceptSkippedSchemaChanges accepts them)")),
    }
    if held.is_empty() {
        cond(CUTOVER_READY, true, "Ready", holds.join("; "))
    } else {
        let mut m = format!("not yet: {}", held.join("; "));
        if !holds.is_empty() {
            m.push_str(&format!(" (holds: {})", holds.join("; ")));
        }
        cond(CUTOVER_READY, false, "NotReady", m)
    }
}

fn engine_phase(task: &SyncTask, observed: &Observed) -> (Phase, String, Cond, Cond, Cond) {
    let pod_ready = observed.engine.as_ref().is_some_and(|e| e.ready_replicas >= 1);
    match current_engine_report(task) {
        Some((Phase::Failed, message)) => {
            let m = message.unwrap_or_else(|| "the engine stopped with an error".into());
            (
                Phase::Failed,
                m.clone(),
                cond(READY, false, "EngineFailed", m.clone()),
                cond(PROGRESSING, false, "EngineFailed", "Kubernetes restarts the engine with backoff"),
                cond(DEGRADED, true, "EngineFailed", m),
            )
        }
        Some((Phase::Finished, message)) => {
            let m = message.unwrap_or_else(|| "initial sync complete".into());
            (
                Phase::Finished,
                m.clone(),
                cond(READY, true, "Finished", m.clone()),
                cond(PROGRESSING, false, "Finished", m),
                cond(DEGRADED, false, "Finished", "no problem known"),
            )
        }
        Some((Phase::Synchronizing, message)) => {
            let m = message.unwrap_or_else(|| "following the source's binlog".into());
            let ready = if pod_ready {
                cond(READY, true, "Synchronizing", m.clone())
            } else {
                cond(READY, false, "EngineNotReady", "the engine pod is not ready")
            };
            (
                Phase::Synchronizing,
                m,
                ready,
                cond(PROGRESSING, false, "Synchronizing", "initial sync complete"),
                cond(DEGRADED, !pod_ready, if pod_ready { "Synchronizing" } else { "EngineNotReady" }, "engine pod readiness"),
            )
        }
        Some((_, message)) => {
            let m = message.unwrap_or_else(|| "initial sync".into());
            (
                Phase::Initializing,
                m.clone(),
                cond(READY, false, "Initializing", m.clone()),
                cond(PROGRESSING, true, "Initializing", m),
                cond(DEGRADED, false, "Initializing", "no problem known"),
            )
        }
        None => {
            let m = "engine starting".to_string();
            (
                Phase::Initializing,
                m.clone(),
                cond(READY, false, "EngineStarting", m.clone()),
                cond(PROGRESSING, true, "EngineStarting", m),
                cond(DEGRADED, false, "EngineStarting", "no problem known"),
            )
        }
    }
}

/// The new conditions, each keeping the current lastTransitionTime unless its status changed.
fn merge_conditions(current: &[Condition], new: &[Cond], generation: Option<i64>, now: Timestamp) -> Vec<Condition> {
    new.iter()
        .map(|c| {
            let previous = current.iter().find(|p| p.type_ == c.type_);
            let last_transition_time = match previous {
                Some(p) if p.status == c.status => p.last_transition_time.clone(),
                _ => Time(now),
            };
            Condition {
                type_: c.type_.to_string(),
                status: c.status.to_string(),
                reason: c.reason.to_string(),
                message: c.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// The operator-owned fields as they are now on the object, to compare with a derived status.
pub fn current(task: &SyncTask) -> Option<OperatorStatus> {
    let s: &SyncTaskStatus = task.status.as_ref()?;
    // `precheck` belongs to the CRD's status but is read generically: the operator only passes
    // the engine's report through.
    let precheck = serde_json::to_value(s).ok().and_then(|v| v.get("precheck").cloned());
    Some(OperatorStatus {
        phase: s.phase?,
        message: s.message.clone(),
        conditions: s.conditions.clone(),
        observed_generation: s.observed_generation,
        children: s.children.clone(),
        precheck,
    })
}

/// True when writing `desired` would change the object (no write when nothing changed).
pub fn differs(task: &SyncTask, desired: &OperatorStatus) -> bool {
    current(task).as_ref() != Some(desired)
}

/// The server-side-apply body of the operator's fields. Fields the engine owns (checkpoint,
/// progress, lag, `engine`) are absent, so applying it never takes them over or clears them.
pub fn apply_patch(desired: &OperatorStatus) -> Value {
    let mut status = json!({
        "phase": desired.phase,
        "conditions": desired.conditions,
    });
    let obj = status.as_object_mut().expect("object");
    if let Some(m) = &desired.message {
        obj.insert("message".into(), json!(m));
    }
    if let Some(g) = desired.observed_generation {
        obj.insert("observedGeneration".into(), json!(g));
    }
    if let Some(c) = &desired.children {
        obj.insert("children".into(), serde_json::to_value(c).expect("serializes"));
    }
    if let Some(p) = &desired.precheck {
        obj.insert("precheck".into(), p.clone());
    }
    json!({ "apiVersion": "ferry.dev/v1alpha1", "kind": "SyncTask", "status": status })
}

/// The status patch for an object the operator cannot even read (DeserializeGuard's error).
pub fn malformed_patch(message: &str, generation: Option<i64>, current: &[Condition], now: Timestamp) -> Value {
    let conditions = merge_conditions(
        current,
        &[
            cond(READY, false, "Malformed", message),
            cond(DEGRADED, true, "Malformed", message),
            cond(PROGRESSING, false, "Malformed", "waiting for a change to the object"),
        ],
        generation,
        now,
    );
    let mut status = json!({ "phase": Phase::Failed, "message": message, "conditions": conditions });
    if let Some(g) = generation {
        status["observedGeneration"] = json!(g);
    }
    json!({ "apiVersion": "ferry.dev/v1alpha1", "kind": "SyncTask", "status": status })
}

/// The condition types whose status changed between two condition lists (for events).
pub fn flipped(before: &[Condition], after: &[Condition]) -> Vec<(String, String)> {
    after
        .iter()
        .filter(|a| before.iter().find(|b| b.type_ == a.type_).map(|b| &b.status) != Some(&a.status))
        .map(|a| (a.type_.clone(), a.status.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::task;
    use ferry_crds::EngineReport;

    fn t0() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }
    fn t1() -> Timestamp {
        "2026-01-01T00:05:00Z".parse().unwrap()
    }

    fn observed(precheck: PrecheckState) -> Observed {
        Observed {
            refusal: None,
            precheck,
            precheck_report: None,
            precheck_job: Some("t1-precheck-x".into()),
            engine: None,
            engine_name: None,
        }
    }

    fn condition<'a>(s: &'a OperatorStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    fn with_status(mut t: SyncTask, s: &OperatorStatus) -> SyncTask {
        let mut st = t.status.take().unwrap_or_default();
        st.phase = Some(s.phase);
        st.message = s.message.clone();
        st.conditions = s.conditions.clone();
        st.observed_generation = s.observed_generation;
        st.children = s.children.clone();
        t.status = Some(st);
        t
    }

    #[test]
    fn precheck_running_then_failed_then_passed() {
        let t = task("t1");
        let s = derive(&t, &observed(PrecheckState::Running), t0());
        assert_eq!(s.phase, Phase::Prechecking);
        assert_eq!(condition(&s, PRECHECK_PASSED).status, "Unknown");
        assert_eq!(condition(&s, PROGRESSING).status, "True");
        let failed = derive(&t, &observed(PrecheckState::Failed { message: "binlog_format is STATEMENT".into() }), t0());
        assert_eq!(failed.phase, Phase::PrecheckFailed);
        assert_eq!(failed.message.as_deref(), Some("binlog_format is STATEMENT"));
        assert_eq!(condition(&failed, PRECHECK_PASSED).status, "False");
        assert_eq!(condition(&failed, DEGRADED).status, "True");
        let passed = derive(&t, &observed(PrecheckState::Passed), t0());
        assert_eq!(passed.phase, Phase::Initializing);
        assert_eq!(condition(&passed, PRECHECK_PASSED).status, "True");
        assert_eq!(condition(&passed, SUSPENDED).status, "False");
    }

    #[test]
    fn conditions_keep_their_transition_time_unless_they_flip() {
        let t = task("t1");
        let first = derive(&t, &observed(PrecheckState::Running), t0());
        let t = with_status(t, &first);
        let same = derive(&t, &observed(PrecheckState::Running), t1());
        assert_eq!(first, same, "nothing changed, so nothing to write");
        assert!(!differs(&t, &same));
        let passed = derive(&t, &observed(PrecheckState::Passed), t1());
        assert_eq!(condition(&passed, PRECHECK_PASSED).last_transition_time, Time(t1()));
        assert_eq!(condition(&passed, SUSPENDED).last_transition_time, Time(t0()), "Suspended did not flip");
        assert!(differs(&t, &passed));
        let flips = flipped(&first.conditions, &passed.conditions);
        assert_eq!(flips, vec![(PRECHECK_PASSED.to_string(), "True".to_string())]);
    }

    #[test]
    fn engine_report_of_the_current_generation_sets_the_phase() {
        let mut t = task("t1");
        let mut o = observed(PrecheckState::Passed);
        o.engine = Some(EngineObserved { replicas: 1, ready_replicas: 1 });
        t.status = Some(SyncTaskStatus {
            engine: Some(EngineReport {
                phase: Some(Phase::Synchronizing),
                message: Some("lag 0s".into()),
                observed_generation: Some(1),
                heartbeat_time: None,
            }),
            ..Default::default()
        });
        let s = derive(&t, &o, t0());
        assert_eq!(s.phase, Phase::Synchronizing);
        assert_eq!(condition(&s, READY).status, "True");
        // A report from the previous generation says nothing about this one.
        t.metadata.generation = Some(2);
        let s = derive(&t, &o, t0());
        assert_eq!(s.phase, Phase::Initializing);
        assert_eq!(condition(&s, READY).reason, "EngineStarting");
        // The engine failed: Degraded, with its message.
        t.status.as_mut().unwrap().engine = Some(EngineReport {
            phase: Some(Phase::Failed),
            message: Some("target db2:3306: access denied".into()),
            observed_generation: Some(2),
            heartbeat_time: None,
        });
        let s = derive(&t, &o, t0());
        assert_eq!(s.phase, Phase::Failed);
        assert_eq!(condition(&s, DEGRADED).status, "True");
        assert_eq!(s.message.as_deref(), Some("target db2:3306: access denied"));
    }

    #[test]
    fn suspend_and_refusal_win_over_everything() {
        let mut t = task("t1");
        t.spec.suspend = true;
        let s = derive(&t, &observed(PrecheckState::Passed), t0());
        assert_eq!(s.phase, Phase::Suspended);
        assert_eq!(condition(&s, SUSPENDED).status, "True");
        let mut o = observed(PrecheckState::NotRun);
        o.refusal = Some(Refusal { reason: "TargetConflict", message: "ns1/other writes db2:3306 shop.orders".into() });
        let s = derive(&t, &o, t0());
        assert_eq!(s.phase, Phase::Failed);
        assert_eq!(condition(&s, READY).reason, "TargetConflict");
        assert!(condition(&s, DEGRADED).message.contains("ns1/other"));
    }

    #[test]
    fn apply_patch_holds_only_operator_fields() {
        let t = task("t1");
        let mut o = observed(PrecheckState::Failed { message: "2 problems".into() });
        o.precheck_report = Some(json!({"passed": false, "items": [{"name": "binlog_format", "passed": false}]}));
        let s = derive(&t, &o, t0());
        let p = apply_patch(&s);
        assert_eq!(p["apiVersion"], "ferry.dev/v1alpha1");
        assert_eq!(p["kind"], "SyncTask");
        let status = p["status"].as_object().unwrap();
        let mut keys: Vec<_> = status.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["children", "conditions", "message", "observedGeneration", "phase", "precheck"]);
        assert_eq!(p["status"]["phase"], "PrecheckFailed");
        assert_eq!(p["status"]["precheck"]["items"][0]["name"], "binlog_format");
    }

    #[test]
    fn malformed_patch_says_why() {
        let p = malformed_patch("spec.objects: invalid type", Some(3), &[], t0());
        assert_eq!(p["status"]["phase"], "Failed");
        assert_eq!(p["status"]["observedGeneration"], 3);
        assert_eq!(p["status"]["conditions"][0]["reason"], "Malformed");
    }
}
