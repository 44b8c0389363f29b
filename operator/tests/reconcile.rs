//! Reconcile against a mocked API server (tower-test): every request the operator makes is
//! answered here, in order, after checking its method, path, query and body.

use std::sync::Arc;
use std::time::Duration;

use ferry_crds::{ChildrenStatus, CutoverStatus, EngineReport, Phase, SyncTask, SyncTaskStatus, TableVerification, VerificationStatus};
use ferry_operator::build::{self, Settings};
use ferry_operator::metrics::Metrics;
use ferry_operator::reconcile::{self, Context, FINALIZER};
use http::{Method, Request, Response};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use kube::Client;
use kube::client::Body;
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use serde_json::{Value, json};

/// The fixtures the unit tests use (`task`), shared with these tests.
#[path = "../src/testing.rs"]
#[allow(dead_code)]
mod testing;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// Computes the answer (status code, body) from the request's body.
type Reply = Box<dyn FnOnce(&Value) -> (u16, Value) + Send>;

/// One expected request and the answer to give.
struct Expect {
    method: Method,
    path: String,
    query_contains: Vec<&'static str>,
    reply: Reply,
}

fn expect(method: Method, path: impl Into<String>, reply: impl FnOnce(&Value) -> (u16, Value) + Send + 'static) -> Expect {
    Expect { method, path: path.into(), query_contains: vec![], reply: Box::new(reply) }
}

fn apply(mut e: Expect) -> Expect {
    e.query_contains = vec!["fieldManager=ferry-operator", "force=true"];
    e
}

fn not_found() -> (u16, Value) {
    (404, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}))
}

fn success() -> (u16, Value) {
    (200, json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}))
}

#[derive(Debug)]
struct Seen {
    method: Method,
    body: Value,
}

async fn serve(mut handle: Handle, expectations: Vec<Expect>) -> (Vec<Seen>, Handle) {
    let mut seen = Vec::new();
    for e in expectations {
        let (request, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {} {}", e.method, e.path))
            .expect("the client is gone");
        let uri = request.uri().clone();
        assert_eq!(request.method(), &e.method, "expected {} {}, got {} {uri}", e.method, e.path, request.method());
        assert_eq!(uri.path(), e.path, "{} {uri}", request.method());
        let query = uri.query().unwrap_or("");
        for q in &e.query_contains {
            assert!(query.contains(q), "{uri}: {q} missing");
        }
        let method = request.method().clone();
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        let (status, reply) = (e.reply)(&body);
        send.send_response(Response::builder().status(status).body(Body::from(serde_json::to_vec(&reply).unwrap())).unwrap());
        seen.push(Seen { method, body });
    }
    (seen, handle)
}

fn context() -> (Arc<Context>, Handle, Writer<DeserializeGuard<SyncTask>>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let (store, writer) = reflector::store();
    let recorder = Recorder::new(client.clone(), Reporter { controller: "ferry-operator".into(), instance: None });
    let ctx = Context::new(client, Settings::default(), store, recorder, Metrics::default());
    (Arc::new(ctx), handle, writer)
}

/// Runs one reconcile while `expectations` are answered; checks that nothing else was asked.
async fn run(task: DeserializeGuard<SyncTask>, expectations: Vec<Expect>) -> (Action, Vec<Seen>) {
    let (ctx, handle, _writer) = context();
    run_with(ctx, handle, task, expectations).await
}

async fn run_with(ctx: Arc<Context>, handle: Handle, task: DeserializeGuard<SyncTask>, expectations: Vec<Expect>) -> (Action, Vec<Seen>) {
    let server = tokio::spawn(serve(handle, expectations));
    let action = tokio::time::timeout(Duration::from_secs(10), reconcile::reconcile(Arc::new(task), ctx))
        .await
        .expect("reconcile finished")
        .expect("reconcile succeeded");
    let (seen, mut handle) = server.await.expect("every expected request came");
    let extra = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    if let Ok(Some((r, _))) = extra {
        panic!("unexpected request {} {}", r.method(), r.uri());
    }
    (action, seen)
}

const TASKS: &str = "/apis/ferry.dev/v1alpha1/namespaces/ns1/synctasks";
const JOBS: &str = "/apis/batch/v1/namespaces/ns1/jobs";
const STS: &str = "/apis/apps/v1/namespaces/ns1/statefulsets";
const PODS: &str = "/api/v1/namespaces/ns1/pods";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/ns1/events";

/// The shared fixture `ns1/<name>`, as stored: with the finalizer, a resourceVersion and a
/// creation time.
fn task(name: &str) -> SyncTask {
    let mut t = testing::task(name);
    t.metadata.resource_version = Some("7".into());
    t.metadata.finalizers = Some(vec![FINALIZER.into()]);
    t.metadata.creation_timestamp = Some(Time("2026-01-01T00:00:00Z".parse().unwrap()));
    t
}

fn job_name(t: &SyncTask) -> String {
    build::precheck_job_name(t.metadata.name.as_deref().unwrap(), &build::precheck_hash(t))
}

fn condition(type_: &str, status: &str, reason: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: String::new(),
        observed_generation: Some(1),
        last_transition_time: Time("2026-01-01T00:00:00Z".parse().unwrap()),
    }
}

/// The task as the API returns it after a status patch: the patch's status on the object.
fn echo_status(t: &SyncTask) -> impl FnOnce(&Value) -> (u16, Value) + Send + 'static {
    let mut obj = serde_json::to_value(t).unwrap();
    move |body| {
        obj["status"] = body["status"].clone();
        (200, obj)
    }
}

/// Answers with `value`, whatever the request.
fn respond(value: Value) -> impl FnOnce(&Value) -> (u16, Value) + Send + 'static {
    move |_| (200, value)
}

/// The operator's server-side apply of the task's status, answered with the patched task.
fn apply_status(t: &SyncTask) -> Expect {
    let name = t.metadata.name.as_deref().unwrap();
    apply(expect(Method::PATCH, format!("{TASKS}/{name}/status"), echo_status(t)))
}

/// The operator's server-side apply of `t1`'s engine StatefulSet, answered with `ready` ready replicas.
fn apply_engine(ready: i32) -> Expect {
    apply(expect(Method::PATCH, format!("{STS}/t1-engine"), echo_sts(ready)))
}

fn echo(body: &Value) -> (u16, Value) {
    (200, body.clone())
}

fn echo_sts(ready: i32) -> impl FnOnce(&Value) -> (u16, Value) + Send + 'static {
    move |body| {
        let mut b = body.clone();
        b["status"] = json!({"replicas": 1, "readyReplicas": ready});
        (200, b)
    }
}

#[tokio::test]
async fn a_new_task_gets_the_finalizer_first() {
    let mut t = task("t1");
    t.metadata.finalizers = None;
    let (action, seen) = run(
        DeserializeGuard(Ok(t.clone())),
        vec![expect(Method::PATCH, format!("{TASKS}/t1"), respond(serde_json::to_value(&t).unwrap()))],
    )
    .await;
    assert_eq!(action, Action::await_change());
    let ops = seen[0].body.as_array().expect("a JSON patch");
    assert!(ops.iter().any(|op| op["op"] == "add" && op["value"] == json!([FINALIZER])), "{ops:?}");
}

#[tokio::test]
async fn create_starts_the_precheck_job() {
    let t = task("t1");
    let job = job_name(&t);
    let (action, seen) = run(
        DeserializeGuard(Ok(t.clone())),
        vec![
            expect(Method::GET, format!("{JOBS}/{job}"), |_| not_found()),
            apply(expect(Method::PATCH, format!("{JOBS}/{job}"), echo)),
            apply_status(&t),
            expect(Method::POST, EVENTS, echo),
        ],
    )
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(30)));
    let job_body = &seen[1].body;
    assert_eq!(job_body["kind"], "Job");
    assert_eq!(job_body["metadata"]["ownerReferences"][0]["uid"], "uid-t1");
    assert_eq!(job_body["spec"]["template"]["spec"]["containers"][0]["args"][0], "precheck");
    let status = &seen[2].body["status"];
    assert_eq!(status["phase"], "Prechecking");
    assert_eq!(status["children"]["precheckJob"], job.as_str());
    assert!(status.get("checkpoint").is_none() && status.get("engine").is_none(), "engine fields are not the operator's");
    assert_eq!(seen[3].body["reason"], "Prechecking");
    assert_eq!(seen[3].body["regarding"]["name"], "t1");
}

fn prechecking(t: &SyncTask) -> SyncTask {
    let mut t = t.clone();
    t.status = Some(SyncTaskStatus {
        phase: Some(Phase::Prechecking),
        conditions: vec![condition("PrecheckPassed", "Unknown", "Running")],
        observed_generation: Some(1),
        children: Some(ChildrenStatus { precheck_job: Some(job_name(&t)), engine: None }),
        ..Default::default()
    });
    t
}

fn finished_job(name: &str, condition: &str) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "ns1"},
        "status": {"conditions": [{"type": condition, "status": "True", "reason": "BackoffLimitExceeded"}]}
    })
}

/// A finished precheck: the Job (ended with `condition`) is read, then its pod's `report`.
fn finished_precheck(job: &str, condition: &str, report: &Value) -> [Expect; 2] {
    [
        expect(Method::GET, format!("{JOBS}/{job}"), respond(finished_job(job, condition))),
        expect(Method::GET, PODS, respond(precheck_pods(report.clone()))),
    ]
}

fn precheck_pods(report: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PodList", "metadata": {},
        "items": [{
            "metadata": {"name": "p1"},
            "status": {"containerStatuses": [{
                "name": "precheck", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:01:00Z",
                                          "message": report.to_string()}}
            }]}
        }]
    })
}

#[tokio::test]
async fn a_succeeded_precheck_starts_the_engine() {
    let t = prechecking(&task("t1"));
    let job = job_name(&t);
    let report = json!({"passed": true, "items": [{"id": "binlog-format", "level": "Error", "result": "Passed", "message": "ROW"}]});
    let (action, seen) = run(
        DeserializeGuard(Ok(t.clone())),
        finished_precheck(&job, "Complete", &report)
            .into_iter()
            .chain([apply_engine(0), apply_status(&t), expect(Method::POST, EVENTS, echo)])
            .collect(),
    )
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
    let sts = &seen[2].body;
    assert_eq!(sts["kind"], "StatefulSet");
    assert_eq!(sts["spec"]["replicas"], 1);
    assert_eq!(sts["spec"]["template"]["spec"]["containers"][0]["args"][0], "sync");
    let status = &seen[3].body["status"];
    assert_eq!(status["phase"], "Initializing");
    assert_eq!(status["children"]["engine"], "t1-engine");
    assert_eq!(status["precheck"], report, "the Job's report lands in status.precheck");
    let passed = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "PrecheckPassed").unwrap();
    assert_eq!(passed["status"], "True");
}

#[tokio::test]
async fn a_failed_precheck_names_the_failing_items_and_waits() {
    let t = prechecking(&task("t1"));
    let job = job_name(&t);
    let report = json!({"passed": false, "items": [
        {"id": "binlog-format", "level": "Error", "result": "Failed", "message": "binlog_format is STATEMENT", "remedy": "SET GLOBAL binlog_format = ROW"},
        {"id": "primary-keys", "level": "Warning", "result": "Failed", "message": "t has no key"}
    ]});
    let (action, seen) = run(
        DeserializeGuard(Ok(t.clone())),
        finished_precheck(&job, "Failed", &report).into_iter().chain([apply_status(&t), expect(Method::POST, EVENTS, echo)]).collect(),
    )
    .await;
    assert_eq!(action, Action::await_change(), "no hot loop on a failed precheck");
    let status = &seen[2].body["status"];
    assert_eq!(status["phase"], "PrecheckFailed");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("binlog-format") && message.contains("SET GLOBAL binlog_format = ROW"), "{message}");
    assert!(!message.contains("primary-keys"), "warnings do not fail the precheck: {message}");
    assert_eq!(status["precheck"]["items"][0]["id"], "binlog-format");
    assert_eq!(seen[3].body["type"], "Warning");
}

fn running(t: &SyncTask) -> SyncTask {
    let mut t = t.clone();
    t.status = Some(SyncTaskStatus {
        phase: Some(Phase::Synchronizing),
        conditions: vec![condition("PrecheckPassed", "True", "Passed")],
        observed_generation: Some(1),
        children: Some(ChildrenStatus { precheck_job: Some(job_name(&t)), engine: Some("t1-engine".into()) }),
        engine: Some(EngineReport { phase: Some(Phase::Synchronizing), observed_generation: Some(1), ..Default::default() }),
        ..Default::default()
    });
    t
}

#[tokio::test]
async fn suspend_scales_the_engine_to_zero() {
    let mut t = running(&task("t1"));
    t.spec.suspend = true;
    t.metadata.generation = Some(2);
    let (action, seen) =
        run(DeserializeGuard(Ok(t.clone())), vec![apply_engine(1), apply_status(&t), expect(Method::POST, EVENTS, echo)]).await;
    assert_eq!(action, Action::await_change());
    assert_eq!(seen[0].body["spec"]["replicas"], 0);
    let status = &seen[1].body["status"];
    assert_eq!(status["phase"], "Suspended");
    let suspended = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Suspended").unwrap();
    assert_eq!(suspended["status"], "True");
    let passed = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "PrecheckPassed").unwrap();
    assert_eq!(passed["status"], "True", "suspend does not forget the precheck");
    assert_eq!(passed["lastTransitionTime"], "2026-01-01T00:00:00Z", "kept: it did not flip");
    assert_eq!(seen[2].body["reason"], "Suspended");
}

#[tokio::test]
async fn resume_restarts_the_engine_without_a_new_precheck() {
    let mut t = running(&task("t1"));
    t.spec.suspend = false;
    let (_, seen) = run(DeserializeGuard(Ok(t.clone())), vec![apply_engine(1), apply_status(&t)]).await;
    assert_eq!(seen[0].body["spec"]["replicas"], 1);
    assert_eq!(seen[1].body["status"]["phase"], "Synchronizing");
}

#[tokio::test]
async fn unchanged_status_is_not_written() {
    // First pass writes the derived status; a second pass over the result writes nothing.
    let t = running(&task("t1"));
    let (_, seen) = run(DeserializeGuard(Ok(t.clone())), vec![apply_engine(1), apply_status(&t)]).await;
    let mut again = t.clone();
    again.status = Some({
        let mut s: SyncTaskStatus = serde_json::from_value(seen[1].body["status"].clone()).unwrap();
        s.engine = t.status.as_ref().unwrap().engine.clone();
        s
    });
    let (_, seen) = run(DeserializeGuard(Ok(again)), vec![apply_engine(1)]).await;
    assert_eq!(seen.len(), 1);
}

/// A running task as its engine reports it once caught up: lag 1 s, last verification passed,
/// and the operator's conditions for that state already written.
fn caught_up(t: &SyncTask) -> SyncTask {
    let mut t = running(t);
    let s = t.status.as_mut().unwrap();
    s.lag_seconds = Some(1);
    s.verification = Some(VerificationStatus { passed: true, rows_compared: 1200, ..Default::default() });
    s.conditions.push(condition("Verified", "True", "NoDifference"));
    s.conditions.push(condition("CutoverReady", "True", "Ready"));
    t
}

fn find_condition(status: &Value, type_: &str) -> Value {
    status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).unwrap_or_else(|| panic!("no {type_}")).clone()
}

#[tokio::test]
async fn differences_found_make_cutover_ready_false_and_a_warning_event() {
    let mut t = caught_up(&task("t1"));
    t.status.as_mut().unwrap().verification = Some(VerificationStatus {
        time: Some(Time("2026-01-01T01:00:00Z".parse().unwrap())),
        passed: false,
        rows_compared: 1200,
        differences: 2,
        tables: vec![TableVerification {
            name: "shop.orders".into(),
            target: "shop.orders".into(),
            rows_compared: 1000,
            missing: 2,
            examples: vec!["missing id=5".into(), "missing id=6".into()],
            ..Default::default()
        }],
        message: None,
        recent_changes: None,
    });
    let (_, seen) = run(DeserializeGuard(Ok(t.clone())), vec![apply_engine(1), apply_status(&t), expect(Method::POST, EVENTS, echo)]).await;
    let status = &seen[1].body["status"];
    assert_eq!(status["phase"], "Synchronizing", "differences do not change the phase");
    let verified = find_condition(status, "Verified");
    assert_eq!((verified["status"].as_str(), verified["reason"].as_str()), (Some("False"), Some("DifferencesFound")));
    let message = verified["message"].as_str().unwrap();
    assert!(message.starts_with("2 differing rows of 1200 compared"), "{message}");
    assert!(message.contains("shop.orders (missing 2; e.g. missing id=5, missing id=6)"), "{message}");
    let ready = find_condition(status, "CutoverReady");
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("False"), Some("NotReady")));
    let message = ready["message"].as_str().unwrap();
    assert!(message.contains("the last verification found 2 differing rows (in shop.orders)"), "{message}");
    assert!(message.contains("holds: the binlog is followed; lag ≤ 10 s"), "{message}");
    let event = &seen[2].body;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "DifferencesFound");
    assert_eq!(event["regarding"]["name"], "t1");
    assert!(event["note"].as_str().unwrap().contains("missing id=5"), "{event}");
}

#[tokio::test]
async fn a_cutover_request_restarts_the_engine_without_a_new_precheck() {
    let before = caught_up(&task("t1"));
    let mut t = before.clone();
    t.spec.cutover.requested = true;
    t.spec.cutover.lock_source = true;
    t.metadata.generation = Some(2);
    assert_eq!(job_name(&t), job_name(&before), "the precheck's hash leaves the cutover out");
    // No Job is read or created: the precheck of this spec passed already (the mock refuses
    // any request not listed).
    let (_, seen) = run(DeserializeGuard(Ok(t.clone())), vec![apply_engine(1), apply_status(&t), expect(Method::POST, EVENTS, echo)]).await;
    let sts = &seen[0].body;
    assert_eq!(sts["spec"]["replicas"], 1);
    let hash = &sts["spec"]["template"]["metadata"]["annotations"][build::SPEC_HASH_LABEL];
    assert_eq!(hash, &json!(build::engine_hash(&t.spec)), "the engine restarts with the request in its spec");
    assert_ne!(hash, &json!(build::engine_hash(&before.spec)));
    let status = &seen[1].body["status"];
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["children"]["precheckJob"], job_name(&t).as_str());
    assert_eq!(find_condition(status, "PrecheckPassed")["status"], "True");
    // Until the restarted engine reports on the new generation, the task is not ready to cut over.
    let ready = find_condition(status, "CutoverReady");
    assert_eq!(ready["status"], "False");
    assert!(ready["message"].as_str().unwrap().contains("not following the binlog"), "{ready}");
    assert_eq!(seen[2].body["reason"], "Initializing", "the phase event of the engine's restart");
}

#[tokio::test]
async fn a_done_cutover_makes_cutover_ready_true_for_good_with_an_event() {
    let mut t = caught_up(&task("t1"));
    t.spec.cutover.requested = true;
    let s = t.status.as_mut().unwrap();
    s.lag_seconds = Some(120);
    s.cutover = Some(CutoverStatus {
        state: "Done".into(),
        final_position: Some("binlog.000003:4411".into()),
        message: Some("the target holds everything up to binlog.000003:4411".into()),
        ..Default::default()
    });
    let (_, seen) = run(DeserializeGuard(Ok(t.clone())), vec![apply_engine(1), apply_status(&t), expect(Method::POST, EVENTS, echo)]).await;
    let ready = find_condition(&seen[1].body["status"], "CutoverReady");
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("True"), Some("CutoverDone")));
    assert_eq!(ready["message"], "the target holds everything up to binlog.000003:4411");
    assert_eq!(ready["lastTransitionTime"], "2026-01-01T00:00:00Z", "True before, True now: no transition");
    let event = &seen[2].body;
    assert_eq!((event["type"].as_str(), event["reason"].as_str()), (Some("Normal"), Some("CutoverDone")));
    assert!(event["note"].as_str().unwrap().contains("binlog.000003:4411"), "{event}");
}

#[tokio::test]
async fn a_failed_cutover_holds_cutover_ready_back_with_a_warning() {
    let mut t = caught_up(&task("t1"));
    t.status.as_mut().unwrap().cutover =
        Some(CutoverStatus { state: "Failed".into(), message: Some("source lock wait timeout".into()), ..Default::default() });
    let (_, seen) = run(DeserializeGuard(Ok(t.clone())), vec![apply_engine(1), apply_status(&t), expect(Method::POST, EVENTS, echo)]).await;
    let ready = find_condition(&seen[1].body["status"], "CutoverReady");
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("False"), Some("CutoverFailed")));
    assert!(ready["message"].as_str().unwrap().contains("the last cutover failed: source lock wait timeout"), "{ready}");
    assert_eq!((seen[2].body["type"].as_str(), seen[2].body["reason"].as_str()), (Some("Warning"), Some("CutoverFailed")));
}

#[tokio::test]
async fn cutover_ready_turning_true_is_announced_once() {
    // Lag just fell under the maximum: CutoverReady flips to True, with an event.
    let mut t = caught_up(&task("t1"));
    t.status.as_mut().unwrap().conditions.retain(|c| c.type_ != "CutoverReady");
    t.status.as_mut().unwrap().conditions.push(condition("CutoverReady", "False", "NotReady"));
    let (_, seen) = run(DeserializeGuard(Ok(t.clone())), vec![apply_engine(1), apply_status(&t), expect(Method::POST, EVENTS, echo)]).await;
    let ready = find_condition(&seen[1].body["status"], "CutoverReady");
    assert_eq!((ready["status"].as_str(), ready["reason"].as_str()), (Some("True"), Some("Ready")));
    assert_eq!((seen[2].body["type"].as_str(), seen[2].body["reason"].as_str()), (Some("Normal"), Some("CutoverReady")));
    // The next pass over what was written: nothing to write, nothing to announce.
    let mut again = t.clone();
    again.status.as_mut().unwrap().conditions = serde_json::from_value(seen[1].body["status"]["conditions"].clone()).unwrap();
    again.status.as_mut().unwrap().message = seen[1].body["status"]["message"].as_str().map(String::from);
    let (_, seen) = run(DeserializeGuard(Ok(again)), vec![apply_engine(1)]).await;
    assert_eq!(seen.len(), 1);
}

#[tokio::test]
async fn a_spec_change_reruns_the_precheck_and_stops_the_engine_meanwhile() {
    let before = running(&task("t1"));
    let old_job = job_name(&before);
    let mut t = before.clone();
    t.spec.objects.push(serde_json::from_value(json!({"database": "crm"})).unwrap());
    t.metadata.generation = Some(2);
    let new_job = job_name(&t);
    assert_ne!(old_job, new_job);
    let (action, seen) = run(
        DeserializeGuard(Ok(t.clone())),
        vec![
            expect(Method::GET, format!("{JOBS}/{new_job}"), |_| not_found()),
            expect(Method::DELETE, format!("{JOBS}/{old_job}"), |_| success()),
            apply_engine(1),
            apply(expect(Method::PATCH, format!("{JOBS}/{new_job}"), echo)),
            apply_status(&t),
            expect(Method::POST, EVENTS, echo),
        ],
    )
    .await;
    assert_eq!(action, Action::requeue(Duration::from_secs(30)));
    assert_eq!(seen[1].body["propagationPolicy"], "Background", "the old Job's pods go too");
    assert_eq!(seen[2].body["spec"]["replicas"], 0);
    let status = &seen[4].body["status"];
    assert_eq!(status["phase"], "Prechecking");
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["children"]["precheckJob"], new_job.as_str());
}

#[tokio::test]
async fn delete_removes_engine_and_jobs_then_the_finalizer() {
    let mut t = running(&task("t1"));
    t.metadata.deletion_timestamp = Some(Time("2026-01-02T00:00:00Z".parse().unwrap()));
    let (action, seen) = run(
        DeserializeGuard(Ok(t.clone())),
        vec![
            expect(Method::DELETE, format!("{STS}/t1-engine"), |_| success()),
            expect(Method::DELETE, JOBS, |_| (200, json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": []}))),
            expect(Method::POST, EVENTS, echo),
            expect(Method::PATCH, format!("{TASKS}/t1"), respond(serde_json::to_value(&t).unwrap())),
        ],
    )
    .await;
    assert_eq!(action, Action::await_change());
    assert_eq!(seen[1].method, Method::DELETE);
    assert_eq!(seen[2].body["reason"], "Deleted");
    let ops = seen[3].body.as_array().expect("a JSON patch");
    assert!(ops.iter().any(|op| op["op"] == "remove" && op["path"] == "/metadata/finalizers/0"), "{ops:?}");
}

#[tokio::test]
async fn an_invalid_spec_is_refused_and_waits_for_a_change() {
    let mut t = task("t1");
    t.spec.objects[0].database = "ferry_meta".into();
    let (action, seen) = run(DeserializeGuard(Ok(t.clone())), vec![apply_status(&t), expect(Method::POST, EVENTS, echo)]).await;
    assert_eq!(action, Action::await_change());
    let status = &seen[0].body["status"];
    assert_eq!(status["phase"], "Failed");
    let ready = status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
    assert_eq!(ready["reason"], "InvalidSpec");
    assert!(ready["message"].as_str().unwrap().contains("spec.objects[0].database"));
}

#[tokio::test]
async fn a_task_writing_anothers_table_is_refused_naming_it() {
    let (ctx, handle, mut writer) = context();
    let older = task("a");
    let mut newer = task("b");
    newer.spec.source.host = "db3".into();
    newer.metadata.creation_timestamp = Some(Time("2026-01-05T00:00:00Z".parse().unwrap()));
    writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(older))));
    writer.apply_watcher_event(&watcher::Event::Apply(DeserializeGuard(Ok(newer.clone()))));
    let (action, seen) =
        run_with(ctx, handle, DeserializeGuard(Ok(newer.clone())), vec![apply_status(&newer), expect(Method::POST, EVENTS, echo)]).await;
    assert_eq!(action, Action::await_change());
    let degraded = seen[0].body["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Degraded").unwrap().clone();
    assert_eq!(degraded["reason"], "TargetConflict");
    assert!(degraded["message"].as_str().unwrap().contains("ns1/a"), "{degraded}");
}

#[tokio::test]
async fn a_malformed_object_is_reported_once_and_does_not_stop_the_controller() {
    let (ctx, handle, _writer) = context();
    let metadata = ObjectMeta {
        name: Some("bad".into()),
        namespace: Some("ns1".into()),
        uid: Some("uid-bad".into()),
        generation: Some(3),
        ..Default::default()
    };
    let bad = || {
        DeserializeGuard::<SyncTask>(Err(InvalidObject { error: "spec.objects: invalid type: string".into(), metadata: metadata.clone() }))
    };
    let reply = respond(serde_json::to_value(task("bad")).unwrap());
    let server = tokio::spawn(serve(
        handle,
        vec![apply(expect(Method::PATCH, format!("{TASKS}/bad/status"), reply)), expect(Method::POST, EVENTS, echo)],
    ));
    let action = reconcile::reconcile(Arc::new(bad()), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    let (seen, mut handle) = server.await.unwrap();
    assert_eq!(seen[0].body["status"]["phase"], "Failed");
    assert_eq!(seen[0].body["status"]["conditions"][0]["reason"], "Malformed");
    assert_eq!(seen[1].body["reason"], "Malformed");
    // The same generation again: nothing to write (no loop through our own status write).
    let action = reconcile::reconcile(Arc::new(bad()), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert!(tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await.is_err());
    // And the next, valid object is reconciled as usual.
    let mut good = task("t1");
    good.metadata.finalizers = None;
    let server =
        tokio::spawn(serve(handle, vec![expect(Method::PATCH, format!("{TASKS}/t1"), respond(serde_json::to_value(&good).unwrap()))]));
    reconcile::reconcile(Arc::new(DeserializeGuard(Ok(good))), ctx).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn api_errors_back_off_exponentially() {
    let (ctx, handle, _writer) = context();
    let t = task("t1");
    let job = job_name(&t);
    let server = tokio::spawn(serve(
        handle,
        vec![expect(Method::GET, format!("{JOBS}/{job}"), |_| {
            (500, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "message": "etcd timeout"}))
        })],
    ));
    let obj = Arc::new(DeserializeGuard(Ok(t)));
    let err = reconcile::reconcile(obj.clone(), ctx.clone()).await.unwrap_err();
    server.await.unwrap();
    assert!(err.to_string().contains(&job), "{err}");
    assert_eq!(reconcile::error_policy(obj.clone(), &err, ctx.clone()), Action::requeue(Duration::from_secs(1)));
    assert_eq!(reconcile::error_policy(obj.clone(), &err, ctx.clone()), Action::requeue(Duration::from_secs(2)));
    assert_eq!(reconcile::error_policy(obj, &err, ctx.clone()), Action::requeue(Duration::from_secs(4)));
    assert_eq!(reconcile::backoff(30), Duration::from_secs(300));
    assert!(ctx.metrics.render().contains("ferry_operator_reconcile_errors_total{error=\"finalizer\"} 3"));
}
