//! The operator's part of the status: phase, message, conditions, observedGeneration, precheck
//! and children, derived by a pure function from what the operator observed, and the
//! server-side-apply patch that writes exactly those fields (field manager `ferry-operator`).

use ferry_crds::{ChildrenStatus, Phase, SyncTask, SyncTaskStatus, TableVerification, VerificationStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

pub const PRECHECK_PASSED: &str = "PrecheckPassed";
pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";
pub const SUSPENDED: &str = "Suspended";
pub const CUTOVER_READY: &str = "CutoverReady";
pub const VERIFIED: &str = "Verified";

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

    let conditions = [precheck_cond, ready, progressing, degraded, suspended_cond, verified(task), cutover_ready(task)];
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
/// at most `spec.cutover.maxLagSeconds`, the last verification found no difference, no schema
/// change was skipped or withheld (unless the spec accepts them), and no cutover failed. The
/// message names each requirement that holds and each that does not. A cutover done is True for
/// good.
fn cutover_ready(task: &SyncTask) -> Cond {
    let status = task.status.as_ref();
    let cutover = status.and_then(|s| s.cutover.as_ref());
    if let Some(c) = cutover.filter(|c| c.state == "Done") {
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
    // The lag itself stays out of a message that holds: it changes with every engine report,
    // and each change would be a status write.
    match status.and_then(|s| s.lag_seconds) {
        Some(lag) if lag as u64 <= spec.max_lag_seconds => holds.push(format!("lag ≤ {} s", spec.max_lag_seconds)),
        Some(lag) => held.push(format!("lag {lag} s > {} s", spec.max_lag_seconds)),
        None => held.push("no lag known yet".into()),
    }
    match verification_requirement(status.and_then(|s| s.verification.as_ref())) {
        Ok(m) => holds.push(m),
        Err(m) => held.push(m),
    }
    let skipped = status.and_then(|s| s.schema_changes.as_ref()).map_or(0, |c| c.skipped.len());
    match (skipped, spec.accept_skipped_schema_changes) {
        (0, _) => holds.push("no schema change skipped".into()),
        (n, true) => holds.push(format!("{n} skipped schema changes accepted")),
        (n, false) => held.push(format!("{n} schema changes skipped or withheld (spec.cutover.acceptSkippedSchemaChanges accepts them)")),
    }
    let failed = cutover.filter(|c| c.state == "Failed");
    if let Some(c) = failed {
        held.push(format!("the last cutover failed: {}", c.message.as_deref().unwrap_or("no message")));
    }
    if held.is_empty() {
        return cond(CUTOVER_READY, true, "Ready", holds.join("; "));
    }
    let mut m = format!("not yet: {}", held.join("; "));
    if !holds.is_empty() {
        m.push_str(&format!(" (holds: {})", holds.join("; ")));
    }
    // A reason of its own, so that the failure is told apart (and announced) once.
    cond(CUTOVER_READY, false, if failed.is_some() { "CutoverFailed" } else { "NotReady" }, m)
}

/// The verification's part of CutoverReady: Ok when it holds, Err when it does not.
fn verification_requirement(v: Option<&VerificationStatus>) -> Result<String, String> {
    match v {
        Some(v) if v.passed => Ok(format!("the last verification compared {} rows and found no difference", v.rows_compared)),
        Some(v) if v.differences > 0 => {
            let tables: Vec<&str> = differing(v).map(|t| t.name.as_str()).take(5).collect();
            let within = if tables.is_empty() { String::new() } else { format!(" (in {})", tables.join(", ")) };
            Err(format!("the last verification found {} differing rows{within}", v.differences))
        }
        Some(_) => Err("the last verification did not pass".into()),
        None => Err("no verification yet (spec.verification, or ferry verify)".into()),
    }
}

fn differing(v: &VerificationStatus) -> impl Iterator<Item = &TableVerification> {
    v.tables.iter().filter(|t| t.missing + t.extra + t.different + t.unconfirmed > 0)
}

/// What the engine's last verification (`status.verification`) found, as a condition, so that
/// `kubectl wait` and the events can use it.
fn verified(task: &SyncTask) -> Cond {
    let Some(v) = task.status.as_ref().and_then(|s| s.verification.as_ref()) else {
        return unknown(VERIFIED, "NotVerified", "no verification yet (spec.verification.enabled, or ferry verify)");
    };
    let when = v.time.as_ref().map(|t| format!(" at {}", t.0)).unwrap_or_default();
    let note = v.message.as_ref().map(|m| format!(" (the last pass could not run: {m})")).unwrap_or_default();
    if v.passed {
        return cond(VERIFIED, true, "NoDifference", format!("{} rows compared{when}, no difference{note}", v.rows_compared));
    }
    if v.differences == 0 {
        // Neither proven equal nor shown to differ.
        return unknown(VERIFIED, "NotVerified", format!("the last verification{when} did not pass{note}"));
    }
    let mut m = format!("{} differing rows of {} compared{when}", v.differences, v.rows_compared);
    let tables: Vec<String> = differing(v).map(describe_table).collect();
    if !tables.is_empty() {
        m.push_str(": ");
        m.push_str(&tables.iter().take(5).cloned().collect::<Vec<_>>().join("; "));
        if tables.len() > 5 {
            m.push_str(&format!("; and {} more tables", tables.len() - 5));
        }
    }
    m.push_str(&note);
    cond(VERIFIED, false, "DifferencesFound", m)
}

/// `db.t → db2.t (missing 1, different 2; e.g. missing id=5, different id=7)`.
fn describe_table(t: &TableVerification) -> String {
    let counts: Vec<String> =
        [("missing", t.missing), ("extra", t.extra), ("different", t.different), ("unconfirmed ranges", t.unconfirmed)]
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
    let name = if t.target.is_empty() || t.target == t.name { t.name.clone() } else { format!("{} → {}", t.name, t.target) };
    let examples =
        if t.examples.is_empty() { String::new() } else { format!("; e.g. {}", t.examples[..t.examples.len().min(3)].join(", ")) };
    format!("{name} ({}{examples})", counts.join(", "))
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

/// An event to publish for a change of the conditions.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

/// The events a status write announces besides the phase: Verified turning False
/// (DifferencesFound), CutoverReady turning True (CutoverReady), and the cutover done or failed
/// (CutoverReady's reason becoming CutoverDone or CutoverFailed). Derived from the conditions on
/// the object and those written now, so that the operator needs no memory and a restart of it
/// repeats none.
pub fn notices(before: &[Condition], after: &[Condition]) -> Vec<Notice> {
    let mut out = Vec::new();
    for c in after {
        let previous = before.iter().find(|b| b.type_ == c.type_);
        if previous.is_some_and(|p| p.status == c.status && p.reason == c.reason) {
            continue;
        }
        let flipped = previous.is_none_or(|p| p.status != c.status);
        let notice = match (c.type_.as_str(), c.status.as_str(), c.reason.as_str()) {
            (VERIFIED, "False", _) if flipped => Some((true, "DifferencesFound")),
            (CUTOVER_READY, "True", "CutoverDone") => Some((false, "CutoverDone")),
            (CUTOVER_READY, "True", _) if flipped => Some((false, "CutoverReady")),
            (CUTOVER_READY, "False", "CutoverFailed") => Some((true, "CutoverFailed")),
            _ => None,
        };
        if let Some((warning, reason)) = notice {
            out.push(Notice { warning, reason, note: c.message.clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::task;
    use ferry_crds::{CutoverStatus, EngineReport, SchemaChangeStatus, SkippedSchemaChange};

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

    /// A task following the binlog, lag 2 s, whose last verification passed: CutoverReady holds.
    fn following() -> (SyncTask, Observed) {
        let mut t = task("t1");
        t.status = Some(SyncTaskStatus {
            engine: Some(EngineReport {
                phase: Some(Phase::Synchronizing),
                message: None,
                observed_generation: Some(1),
                heartbeat_time: None,
            }),
            lag_seconds: Some(2),
            verification: Some(VerificationStatus { time: Some(Time(t0())), passed: true, rows_compared: 1200, ..Default::default() }),
            ..Default::default()
        });
        let mut o = observed(PrecheckState::Passed);
        o.engine = Some(EngineObserved { replicas: 1, ready_replicas: 1 });
        (t, o)
    }

    fn cutover_ready_of(t: &SyncTask, o: &Observed) -> Condition {
        condition(&derive(t, o, t0()), CUTOVER_READY).clone()
    }

    fn differences() -> VerificationStatus {
        VerificationStatus {
            time: Some(Time(t1())),
            passed: false,
            rows_compared: 1200,
            differences: 3,
            tables: vec![
                TableVerification {
                    name: "shop.orders".into(),
                    target: "shop2.orders".into(),
                    rows_compared: 1000,
                    missing: 1,
                    different: 2,
                    examples: vec!["missing id=5".into(), "different id=7".into(), "different id=9".into(), "different id=11".into()],
                    ..Default::default()
                },
                TableVerification {
                    name: "shop.customers".into(),
                    target: "shop.customers".into(),
                    rows_compared: 200,
                    ..Default::default()
                },
            ],
            message: None,
            recent_changes: None,
        }
    }

    #[test]
    fn cutover_ready_when_everything_holds() {
        let (t, o) = following();
        let c = cutover_ready_of(&t, &o);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Ready"));
        assert!(c.message.contains("the binlog is followed"), "{}", c.message);
        assert!(c.message.contains("lag ≤ 10 s"), "{}", c.message);
        assert!(c.message.contains("compared 1200 rows and found no difference"), "{}", c.message);
        assert!(c.message.contains("no schema change skipped"), "{}", c.message);
    }

    #[test]
    fn cutover_ready_is_false_while_the_binlog_is_not_followed() {
        let (mut t, o) = following();
        t.status.as_mut().unwrap().engine.as_mut().unwrap().phase = Some(Phase::Initializing);
        let c = cutover_ready_of(&t, &o);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "NotReady"));
        assert!(c.message.starts_with("not yet: the task is not following the binlog"), "{}", c.message);
        assert!(c.message.contains("(holds: lag ≤ 10 s;"), "what holds is named too: {}", c.message);
        // An engine still reporting on the previous spec does not count as following.
        let (mut t, o) = following();
        t.metadata.generation = Some(2);
        assert!(cutover_ready_of(&t, &o).message.contains("not following the binlog"));
    }

    #[test]
    fn cutover_ready_is_false_while_the_lag_is_over_the_maximum() {
        let (mut t, o) = following();
        t.status.as_mut().unwrap().lag_seconds = Some(30);
        let c = cutover_ready_of(&t, &o);
        assert_eq!(c.status, "False");
        assert!(c.message.contains("lag 30 s > 10 s"), "{}", c.message);
        t.spec.cutover.max_lag_seconds = 30;
        assert_eq!(cutover_ready_of(&t, &o).status, "True", "at the maximum is enough");
        t.status.as_mut().unwrap().lag_seconds = None;
        assert!(cutover_ready_of(&t, &o).message.contains("no lag known yet"));
    }

    #[test]
    fn cutover_ready_is_false_after_a_verification_with_differences() {
        let (mut t, o) = following();
        t.status.as_mut().unwrap().verification = Some(differences());
        let c = cutover_ready_of(&t, &o);
        assert_eq!(c.status, "False");
        assert!(c.message.contains("the last verification found 3 differing rows (in shop.orders)"), "{}", c.message);
        t.status.as_mut().unwrap().verification = None;
        assert!(cutover_ready_of(&t, &o).message.contains("no verification yet"));
    }

    #[test]
    fn skipped_schema_changes_hold_cutover_ready_back_unless_accepted() {
        let (mut t, o) = following();
        let skipped =
            SkippedSchemaChange { position: "b.000003:4411".into(), statement: "ALTER TABLE x".into(), reason: "ERROR 1064".into() };
        t.status.as_mut().unwrap().schema_changes =
            Some(SchemaChangeStatus { applied: 4, skipped: vec![skipped.clone(), skipped], followed_renames: vec![] });
        let c = cutover_ready_of(&t, &o);
        assert_eq!(c.status, "False");
        assert!(c.message.contains("2 schema changes skipped or withheld (spec.cutover.acceptSkippedSchemaChanges"), "{}", c.message);
        t.spec.cutover.accept_skipped_schema_changes = true;
        let c = cutover_ready_of(&t, &o);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Ready"));
        assert!(c.message.contains("2 skipped schema changes accepted"), "{}", c.message);
    }

    #[test]
    fn a_done_cutover_is_ready_for_good_and_a_failed_one_says_why() {
        let (mut t, o) = following();
        let st = t.status.as_mut().unwrap();
        st.lag_seconds = Some(500);
        st.cutover = Some(CutoverStatus { state: "Done".into(), message: Some("target holds b.000003:4411".into()), ..Default::default() });
        let c = cutover_ready_of(&t, &o);
        assert_eq!((c.status.as_str(), c.reason.as_str(), c.message.as_str()), ("True", "CutoverDone", "target holds b.000003:4411"));
        let (mut t, o) = following();
        t.status.as_mut().unwrap().cutover =
            Some(CutoverStatus { state: "Failed".into(), message: Some("source lock wait timeout".into()), ..Default::default() });
        let c = cutover_ready_of(&t, &o);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "CutoverFailed"));
        assert!(c.message.contains("the last cutover failed: source lock wait timeout"), "{}", c.message);
        // A cutover under way neither helps nor hinders.
        t.status.as_mut().unwrap().cutover = Some(CutoverStatus { state: "CatchingUp".into(), ..Default::default() });
        assert_eq!(cutover_ready_of(&t, &o).reason, "Ready");
    }

    #[test]
    fn cutover_ready_keeps_its_transition_time_until_it_flips() {
        let (t, o) = following();
        let first = derive(&t, &o, t0());
        let mut t = with_status(t, &first);
        // The lag moves under the maximum: nothing to write.
        t.status.as_mut().unwrap().lag_seconds = Some(7);
        let same = derive(&t, &o, t1());
        assert!(!differs(&t, &same), "a lag that still holds is no status write");
        t.status.as_mut().unwrap().lag_seconds = Some(30);
        let over = derive(&t, &o, t1());
        assert_eq!(condition(&over, CUTOVER_READY).status, "False");
        assert_eq!(condition(&over, CUTOVER_READY).last_transition_time, Time(t1()));
        assert_eq!(flipped(&first.conditions, &over.conditions), vec![(CUTOVER_READY.to_string(), "False".to_string())]);
        // Still over, by more: the message changes, the transition time does not.
        let mut t = with_status(t, &over);
        t.status.as_mut().unwrap().lag_seconds = Some(45);
        let further: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let still = derive(&t, &o, further);
        assert!(condition(&still, CUTOVER_READY).message.contains("lag 45 s > 10 s"));
        assert_eq!(condition(&still, CUTOVER_READY).last_transition_time, Time(t1()));
    }

    #[test]
    fn verified_says_what_the_last_verification_found() {
        let (mut t, o) = following();
        let v = condition(&derive(&t, &o, t0()), VERIFIED).clone();
        assert_eq!((v.status.as_str(), v.reason.as_str()), ("True", "NoDifference"));
        assert_eq!(v.message, "1200 rows compared at 2026-01-01T00:00:00Z, no difference");
        t.status.as_mut().unwrap().verification = Some(differences());
        let v = condition(&derive(&t, &o, t0()), VERIFIED).clone();
        assert_eq!((v.status.as_str(), v.reason.as_str()), ("False", "DifferencesFound"));
        assert_eq!(
            v.message,
            "3 differing rows of 1200 compared at 2026-01-01T00:05:00Z: shop.orders → shop2.orders \
             (missing 1, different 2; e.g. missing id=5, different id=7, different id=9)"
        );
        t.status.as_mut().unwrap().verification =
            Some(VerificationStatus { passed: false, message: Some("source: connection refused".into()), ..Default::default() });
        let v = condition(&derive(&t, &o, t0()), VERIFIED).clone();
        assert_eq!((v.status.as_str(), v.reason.as_str()), ("Unknown", "NotVerified"));
        assert!(v.message.contains("could not run: source: connection refused"), "{}", v.message);
        t.status.as_mut().unwrap().verification = None;
        let v = condition(&derive(&t, &o, t0()), VERIFIED).clone();
        assert_eq!((v.status.as_str(), v.reason.as_str()), ("Unknown", "NotVerified"));
    }

    fn cond_of(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: format!("{type_} {reason}"),
            observed_generation: Some(1),
            last_transition_time: Time(t0()),
        }
    }

    #[test]
    fn notices_follow_the_condition_changes() {
        let reasons = |before: &[Condition], after: &[Condition]| -> Vec<(bool, &'static str)> {
            notices(before, after).into_iter().map(|n| (n.warning, n.reason)).collect()
        };
        let verified_true = [cond_of(VERIFIED, "True", "NoDifference")];
        let verified_false = [cond_of(VERIFIED, "False", "DifferencesFound")];
        assert_eq!(reasons(&verified_true, &verified_false), [(true, "DifferencesFound")]);
        assert_eq!(reasons(&[], &verified_false), [(true, "DifferencesFound")]);
        assert_eq!(notices(&verified_true, &verified_false)[0].note, "Verified DifferencesFound");
        assert!(reasons(&verified_false, &verified_false).is_empty(), "announced once, not on every write");
        assert!(reasons(&verified_false, &verified_true).is_empty());
        let not_ready = [cond_of(CUTOVER_READY, "False", "NotReady")];
        let ready = [cond_of(CUTOVER_READY, "True", "Ready")];
        let done = [cond_of(CUTOVER_READY, "True", "CutoverDone")];
        let failed = [cond_of(CUTOVER_READY, "False", "CutoverFailed")];
        assert_eq!(reasons(&not_ready, &ready), [(false, "CutoverReady")]);
        assert!(reasons(&ready, &ready).is_empty());
        assert!(reasons(&ready, &not_ready).is_empty());
        assert_eq!(reasons(&ready, &done), [(false, "CutoverDone")]);
        assert_eq!(reasons(&not_ready, &done), [(false, "CutoverDone")]);
        assert!(reasons(&done, &done).is_empty());
        assert_eq!(reasons(&ready, &failed), [(true, "CutoverFailed")]);
        assert_eq!(reasons(&not_ready, &failed), [(true, "CutoverFailed")]);
        assert!(reasons(&failed, &failed).is_empty());
        assert_eq!(reasons(&failed, &ready), [(false, "CutoverReady")]);
        // Other conditions make no notice of their own here (the phase has its events).
        assert!(reasons(&[], &[cond_of(READY, "True", "Synchronizing")]).is_empty());
    }
}
