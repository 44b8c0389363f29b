//! One reconcile of one SyncTask: dereference → validate (the spec, then the rules across tasks)
//! → precheck Job → engine StatefulSet → status and events. The objects come from the pure
//! builders in [`crate::build`], the status from [`crate::status::derive`]; this module only
//! makes the API calls between them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_crds::{Phase, SyncTask};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};
use serde_json::Value;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::build::{self, Settings};
use crate::conflicts;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::status::{self, EngineObserved, Observed, PrecheckState, Refusal};

/// The operator's server-side-apply field manager (children, and its part of the status).
pub const MANAGER: &str = "ferry-operator";
/// Removed once the task's engine and Jobs are gone.
pub const FINALIZER: &str = "ferry.dev/cleanup";

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    /// Every SyncTask the controller knows, for the rules across tasks.
    pub store: Store<DeserializeGuard<SyncTask>>,
    pub recorder: Recorder,
    pub metrics: Metrics,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Malformed objects already reported (uid → generation), so that reporting does not loop.
    malformed_reported: Mutex<HashMap<String, Option<i64>>>,
}

impl Context {
    pub fn new(client: Client, settings: Settings, store: Store<DeserializeGuard<SyncTask>>, recorder: Recorder, metrics: Metrics) -> Self {
        Context {
            client,
            settings,
            store,
            recorder,
            metrics,
            failures: Mutex::new(HashMap::new()),
            malformed_reported: Mutex::new(HashMap::new()),
        }
    }
}

fn object_key<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.meta().namespace.as_deref().unwrap_or(""), obj.meta().name.as_deref().unwrap_or(""))
}

/// The controller's entry point for one object.
pub async fn reconcile(obj: Arc<DeserializeGuard<SyncTask>>, ctx: Arc<Context>) -> Result<Action> {
    let key = object_key(obj.as_ref());
    let started = Instant::now();
    let span = info_span!("reconcile", task = %key);
    let result = async {
        match &obj.0 {
            Err(invalid) => reconcile_malformed(invalid, &ctx).await,
            Ok(task) => {
                let ns = task.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
                let api: Api<SyncTask> = Api::namespaced(ctx.client.clone(), &ns);
                finalizer(&api, FINALIZER, Arc::new(task.clone()), |event| async {
                    match event {
                        FinalizerEvent::Apply(task) => apply(&task, &ctx).await,
                        FinalizerEvent::Cleanup(task) => cleanup(&task, &ctx).await,
                    }
                })
                .await
                .map_err(|e| Error::Finalizer(Box::new(e)))
            }
        }
    }
    .instrument(span)
    .await;
    ctx.metrics.observe_reconcile(started.elapsed());
    if result.is_ok() {
        ctx.failures.lock().expect("lock").remove(&key);
    }
    result
}

/// Transient errors retry with exponential backoff (1 s doubling up to 5 min) per object; the
/// other objects keep being reconciled meanwhile.
pub fn error_policy(obj: Arc<DeserializeGuard<SyncTask>>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = object_key(obj.as_ref());
    ctx.metrics.reconcile_error(error);
    let mut failures = ctx.failures.lock().expect("lock");
    let n = failures.entry(key.clone()).or_insert(0);
    *n += 1;
    let delay = backoff(*n);
    warn!(task = %key, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(9)).min(Duration::from_secs(300))
}

/// An object the operator cannot read (e.g. written before a schema change): say so in its
/// status, once per generation, then wait for a change. Its finalizer is still honoured.
async fn reconcile_malformed(invalid: &kube::core::error_boundary::InvalidObject, ctx: &Context) -> Result<Action> {
    let meta = &invalid.metadata;
    let (Some(name), Some(ns)) = (meta.name.clone(), meta.namespace.clone()) else {
        return Err(Error::MissingField("metadata.name"));
    };
    let api: Api<SyncTask> = Api::namespaced(ctx.client.clone(), &ns);
    let finalizers = meta.finalizers.clone().unwrap_or_default();
    if meta.deletion_timestamp.is_some() {
        if finalizers.iter().any(|f| f == FINALIZER) {
            // Children go with the garbage collector (owner references); nothing to read here.
            // The resourceVersion makes the patch fail rather than drop a finalizer added meanwhile.
            let rest: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
            let patch = serde_json::json!({"metadata": {"finalizers": rest, "resourceVersion": meta.resource_version}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(Error::kube(format!("remove finalizer of {name}")))?;
        }
        return Ok(Action::await_change());
    }
    let uid = meta.uid.clone().unwrap_or_default();
    if ctx.malformed_reported.lock().expect("lock").get(&uid) == Some(&meta.generation) {
        return Ok(Action::await_change());
    }
    let message = format!("the SyncTask cannot be read: {}", invalid.error);
    warn!(task = %name, error = %invalid.error, "malformed SyncTask");
    let patch = status::malformed_patch(&message, meta.generation, &[], Timestamp::now());
    api.patch_status(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(Error::kube(format!("write status of {name}")))?;
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("ferry.dev/v1alpha1".into()),
        kind: Some("SyncTask".into()),
        name: Some(name.clone()),
        namespace: Some(ns),
        uid: meta.uid.clone(),
        ..Default::default()
    };
    publish(ctx, &reference, EventType::Warning, "Malformed", &message).await;
    ctx.malformed_reported.lock().expect("lock").insert(uid, meta.generation);
    Ok(Action::await_change())
}

async fn publish(ctx: &Context, reference: &k8s_openapi::api::core::v1::ObjectReference, type_: EventType, reason: &str, note: &str) {
    let event =
        Event { type_, reason: reason.into(), note: Some(note.chars().take(1000).collect()), action: "Reconcile".into(), secondary: None };
    // An event lost is not worth failing the reconcile for.
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        warn!(error = %e, reason, "cannot publish event");
    }
}

/// Rules beyond the CRD's schema and CEL: the engine's own validation, then the rules across tasks.
pub fn validate(task: &SyncTask, others: &[SyncTask]) -> Option<Refusal> {
    if let Err(e) = ferry_crds::validate::validate(&task.spec) {
        return Some(Refusal { reason: "InvalidSpec", message: e.to_string() });
    }
    conflicts::check(task, others)
}

fn known_tasks(ctx: &Context) -> Vec<SyncTask> {
    ctx.store.state().iter().filter_map(|g| g.0.as_ref().ok()).filter(|t| t.metadata.deletion_timestamp.is_none()).cloned().collect()
}

/// The precheck outcome already recorded in the status for this Job (the Job may be gone).
fn remembered_precheck(task: &SyncTask, job_name: &str) -> Option<PrecheckState> {
    let s = task.status.as_ref()?;
    if s.children.as_ref()?.precheck_job.as_deref() != Some(job_name) {
        return None;
    }
    let c = s.conditions.iter().find(|c| c.type_ == status::PRECHECK_PASSED)?;
    match c.status.as_str() {
        "True" => Some(PrecheckState::Passed),
        "False" => Some(PrecheckState::Failed { message: c.message.clone() }),
        _ => None,
    }
}

/// How a Job ended, from its conditions.
#[derive(Debug, PartialEq)]
pub enum JobOutcome {
    Running,
    Succeeded,
    Failed(String),
}

pub fn job_outcome(job: &Job) -> JobOutcome {
    let Some(status) = &job.status else { return JobOutcome::Running };
    for c in status.conditions.iter().flatten() {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Complete" => return JobOutcome::Succeeded,
            "Failed" => {
                return JobOutcome::Failed(format!(
                    "{}{}",
                    c.reason.clone().unwrap_or_else(|| "Failed".into()),
                    c.message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
    if status.succeeded.unwrap_or(0) > 0 { JobOutcome::Succeeded } else { JobOutcome::Running }
}

/// The precheck container's termination message: the JSON report, or the log's tail when the
/// precheck crashed before writing one.
fn termination_message(pods: &[Pod]) -> Option<String> {
    pods.iter()
        .filter_map(|p| {
            let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
            let terminated = statuses.iter().find(|s| s.name == "precheck")?.state.as_ref()?.terminated.as_ref()?;
            Some((terminated.finished_at.clone(), terminated.message.clone()?))
        })
        .max_by(|a, b| a.0.as_ref().map(|t| t.0).cmp(&b.0.as_ref().map(|t| t.0)))
        .map(|(_, m)| m)
}

/// One line for the status message from a precheck report (`status.precheck`, as
/// `ferry precheck --output json` prints it): the failed error-level items with their remedies.
pub fn summarize_report(report: &Value) -> Option<String> {
    let report: ferry_crds::PrecheckStatus = serde_json::from_value(report.clone()).ok()?;
    if report.passed {
        return None;
    }
    Some(format!("precheck failed: {}", report.failures_line()))
}

async fn precheck_report(ctx: &Context, ns: &str, job_name: &str) -> Result<(Option<Value>, Option<String>)> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let list = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job_name}")))
        .await
        .map_err(Error::kube(format!("list pods of Job {job_name}")))?;
    let Some(text) = termination_message(&list.items) else { return Ok((None, None)) };
    match serde_json::from_str::<Value>(&text) {
        Ok(report) => Ok((Some(report), None)),
        Err(_) => Ok((None, Some(text.trim().chars().rev().take(500).collect::<Vec<_>>().into_iter().rev().collect()))),
    }
}

async fn delete_ignoring_missing<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(format!("delete {name}"))(e)),
    }
}

async fn apply_engine(task: &SyncTask, ctx: &Context, running: bool) -> Result<EngineObserved> {
    let sts = build::engine_statefulset(task, &ctx.settings, running)?;
    let name = sts.metadata.name.clone().expect("named");
    let api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), task.metadata.namespace.as_deref().unwrap_or_default());
    let applied = api
        .patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&sts))
        .await
        .map_err(Error::kube(format!("apply StatefulSet {name}")))?;
    let status = applied.status.unwrap_or_default();
    Ok(EngineObserved { replicas: status.replicas, ready_replicas: status.ready_replicas.unwrap_or(0) })
}

/// Brings the children in line with the spec and writes the operator's status.
async fn apply(task: &SyncTask, ctx: &Context) -> Result<Action> {
    let name = task.name_any();
    let ns = task.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let children = task.status.as_ref().and_then(|s| s.children.clone()).unwrap_or_default();
    let current = status::current(task);

    let mut observed = Observed {
        refusal: validate(task, &known_tasks(ctx)),
        precheck: PrecheckState::NotRun,
        precheck_report: current.as_ref().and_then(|c| c.precheck.clone()),
        precheck_job: children.precheck_job.clone(),
        engine: None,
        engine_name: children.engine.clone(),
    };
    let job_name = build::precheck_job_name(&name, &build::precheck_hash(task));

    if observed.refusal.is_some() || task.spec.suspend {
        // Nothing runs: stop an engine that may be running (its checkpoint stays on the target).
        if children.engine.is_some() {
            observed.engine = Some(apply_engine(task, ctx, false).await?);
        }
        observed.precheck = remembered_precheck(task, &job_name).unwrap_or(PrecheckState::NotRun);
        if observed.precheck == PrecheckState::NotRun {
            observed.precheck_report = None;
        }
        write_status(task, ctx, &observed).await?;
        return Ok(Action::await_change());
    }

    observed.precheck = match remembered_precheck(task, &job_name) {
        Some(state) => state,
        None => {
            let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
            match jobs.get_opt(&job_name).await.map_err(Error::kube(format!("get Job {job_name}")))? {
                None => {
                    // A new spec: the previous check (and the engine running the previous spec)
                    // give way to a check of this one.
                    if let Some(old) = children.precheck_job.as_deref().filter(|o| *o != job_name) {
                        delete_ignoring_missing(&jobs, old).await?;
                    }
                    if children.engine.is_some() {
                        observed.engine = Some(apply_engine(task, ctx, false).await?);
                    }
                    let job = build::precheck_job(task, &ctx.settings)?;
                    jobs.patch(&job_name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&job))
                        .await
                        .map_err(Error::kube(format!("apply Job {job_name}")))?;
                    info!(job = %job_name, "precheck started");
                    observed.precheck_report = None;
                    PrecheckState::Running
                }
                Some(job) => match job_outcome(&job) {
                    JobOutcome::Running => PrecheckState::Running,
                    JobOutcome::Succeeded => {
                        let (report, _) = precheck_report(ctx, &ns, &job_name).await?;
                        observed.precheck_report = report;
                        PrecheckState::Passed
                    }
                    JobOutcome::Failed(reason) => {
                        let (report, text) = precheck_report(ctx, &ns, &job_name).await?;
                        let message = report
                            .as_ref()
                            .and_then(summarize_report)
                            .or_else(|| text.map(|t| format!("precheck Job {job_name} failed ({reason}): {t}")))
                            .unwrap_or_else(|| format!("precheck Job {job_name} failed: {reason}"));
                        observed.precheck_report = report;
                        PrecheckState::Failed { message }
                    }
                },
            }
        }
    };
    observed.precheck_job = Some(job_name);

    if observed.precheck == PrecheckState::Passed {
        // A task whose initial sync finished without incremental sync needs no engine any more.
        let running = !status::engine_finished(task);
        observed.engine = Some(apply_engine(task, ctx, running).await?);
        observed.engine_name = Some(build::engine_name(&name));
    }
    let phase = write_status(task, ctx, &observed).await?;
    Ok(match phase {
        // The Job's and the StatefulSet's own events wake the controller; these are safety nets.
        Phase::Prechecking => Action::requeue(Duration::from_secs(30)),
        Phase::PrecheckFailed => Action::await_change(),
        Phase::Failed => Action::requeue(Duration::from_secs(60)),
        _ => Action::requeue(Duration::from_secs(300)),
    })
}

/// Writes the derived status when it differs from the object's, with an event per phase change
/// and per notable condition change ([`status::notices`]).
async fn write_status(task: &SyncTask, ctx: &Context, observed: &Observed) -> Result<Phase> {
    let desired = status::derive(task, observed, Timestamp::now());
    if !status::differs(task, &desired) {
        debug!("status unchanged");
        return Ok(desired.phase);
    }
    let name = task.name_any();
    let api: Api<SyncTask> = Api::namespaced(ctx.client.clone(), task.metadata.namespace.as_deref().unwrap_or_default());
    api.patch_status(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&status::apply_patch(&desired)))
        .await
        .map_err(Error::kube(format!("write status of {name}")))?;
    let reference = task.object_ref(&());
    let before = task.status.as_ref().and_then(|s| s.phase);
    if before != Some(desired.phase) {
        let warning = matches!(desired.phase, Phase::Failed | Phase::PrecheckFailed);
        info!(from = ?before, to = ?desired.phase, "phase changed");
        publish(
            ctx,
            &reference,
            if warning { EventType::Warning } else { EventType::Normal },
            &format!("{:?}", desired.phase),
            desired.message.as_deref().unwrap_or_default(),
        )
        .await;
    }
    // Differences found, cutover ready, done or failed: told by the conditions' change.
    let before_conditions = task.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or(&[]);
    for n in status::notices(before_conditions, &desired.conditions) {
        info!(reason = n.reason, "{}", n.note);
        publish(ctx, &reference, if n.warning { EventType::Warning } else { EventType::Normal }, n.reason, &n.note).await;
    }
    Ok(desired.phase)
}

/// Deleting a task: stop its engine and remove its Jobs. The target's data is never touched.
async fn cleanup(task: &SyncTask, ctx: &Context) -> Result<Action> {
    let name = task.name_any();
    let ns = task.namespace().ok_or(Error::MissingField("metadata.namespace"))?;
    let sts: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
    delete_ignoring_missing(&sts, &build::engine_name(&name)).await?;
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    jobs.delete_collection(&DeleteParams::background(), &ListParams::default().labels(&build::precheck_selector(&name)))
        .await
        .map_err(Error::kube(format!("delete precheck Jobs of {name}")))?;
    publish(ctx, &task.object_ref(&()), EventType::Normal, "Deleted", "engine and precheck Jobs removed; the target's data is kept").await;
    Ok(Action::await_change())
}
