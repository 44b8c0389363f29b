//! The engine inside Kubernetes (`ferry sync`, `ferry precheck --name`): the SyncTask read from
//! the API, credentials read from the files the operator mounts from the task's Secrets, status
//! written back by server-side apply, and a Prometheus endpoint.
//!
//! Status ownership: the engine writes only what it knows first-hand (`schemaSync`, `fullSync`,
//! `checkpoint`, `lagSeconds`, `incrementalSync` and its own `engine` report: stage, message,
//! generation, heartbeat) with field manager `ferry-engine`; the operator derives `phase`,
//! `conditions` and `message` from that report with its own field manager. Neither clears the
//! other's fields.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_crds::{EngineReport, SyncTask, SyncTaskStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::status::StatusSink;
use crate::task::manifest::{Credentials, Task};
pub use ferry_http::serve_metrics;

pub use ferry_crds::SECRETS_DIR;
/// The engine's server-side-apply field manager.
pub const ENGINE_MANAGER: &str = "ferry-engine";
/// Status writes carrying only new counters wait this long; a new stage is written at once.
pub const COUNTER_WRITE_INTERVAL: Duration = Duration::from_secs(10);

fn kube_err(action: String) -> impl FnOnce(kube::Error) -> Error {
    move |e| Error::Kube { action, source: Box::new(e) }
}

fn read_secret_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Manifest { path: path.to_owned(), message: format!("{e} (is the Secret mounted, with this key?)") })?;
    String::from_utf8(bytes).map_err(|_| Error::Manifest { path: path.to_owned(), message: "not UTF-8".into() })
}

/// Credentials from `<dir>/username` and `<dir>/password`, exactly as stored in the Secret.
pub fn credentials_from_dir(dir: &Path) -> Result<Credentials> {
    Ok(Credentials { username: read_secret_file(&dir.join("username"))?, password: read_secret_file(&dir.join("password"))? })
}

/// The [`Task`] `ferry run` would build, from a SyncTask object and the mounted Secrets.
pub fn task_from_object(obj: &SyncTask, secrets_dir: &Path) -> Result<Task> {
    let name = obj.metadata.name.clone().ok_or_else(|| Error::invalid("metadata.name", "missing"))?;
    let namespace = obj.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    ferry_crds::validate::validate(&obj.spec)?;
    let ca = |role: &str, tls: &Option<ferry_crds::Tls>| -> Result<Option<Vec<u8>>> {
        match tls.as_ref().and_then(|t| t.ca_secret.as_ref()) {
            None => Ok(None),
            Some(_) => Ok(Some(read_secret_file(&secrets_dir.join(format!("{role}-ca")).join("ca.crt"))?.into_bytes())),
        }
    };
    Ok(Task {
        source_credentials: credentials_from_dir(&secrets_dir.join("source"))?,
        target_credentials: credentials_from_dir(&secrets_dir.join("target"))?,
        source_ca: ca("source", &obj.spec.source.tls)?,
        target_ca: ca("target", &obj.spec.target.tls)?,
        name,
        namespace,
        spec: obj.spec.clone(),
    })
}

/// Reads the SyncTask from the API.
pub async fn fetch(client: &kube::Client, namespace: &str, name: &str) -> Result<SyncTask> {
    let api: Api<SyncTask> = Api::namespaced(client.clone(), namespace);
    api.get(name).await.map_err(kube_err(format!("get SyncTask {namespace}/{name}")))
}

/// The engine's server-side-apply body: its own fields only, with the run's stage and message
/// under `status.engine` (the operator owns `status.phase` and `status.message`).
pub fn engine_status_patch(status: &SyncTaskStatus, generation: Option<i64>, now: Timestamp) -> Value {
    let report = EngineReport {
        phase: status.phase,
        message: status.message.clone(),
        observed_generation: generation,
        heartbeat_time: Some(Time(now)),
    };
    let mut s = serde_json::Map::new();
    s.insert("engine".into(), serde_json::to_value(report).expect("serializes"));
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            s.insert(key.into(), v);
        }
    };
    put("schemaSync", status.schema_sync.as_ref().map(|v| serde_json::to_value(v).expect("serializes")));
    put("fullSync", status.full_sync.as_ref().map(|v| serde_json::to_value(v).expect("serializes")));
    put("checkpoint", status.checkpoint.as_ref().map(|v| serde_json::to_value(v).expect("serializes")));
    put("lagSeconds", status.lag_seconds.map(|v| json!(v)));
    put("incrementalSync", status.incremental_sync.as_ref().map(|v| serde_json::to_value(v).expect("serializes")));
    put("verification", status.verification.as_ref().map(|v| serde_json::to_value(v).expect("serializes")));
    put("cutover", status.cutover.as_ref().map(|v| serde_json::to_value(v).expect("serializes")));
    json!({ "apiVersion": "ferry.dev/v1alpha1", "kind": "SyncTask", "status": Value::Object(s) })
}

/// The engine-owned status as it is on the object: what a restarted engine resumes from.
pub fn engine_view(obj: &SyncTask) -> Option<SyncTaskStatus> {
    let s = obj.status.as_ref()?;
    let report = s.engine.clone().unwrap_or_default();
    Some(SyncTaskStatus {
        phase: report.phase,
        message: report.message,
        schema_sync: s.schema_sync.clone(),
        full_sync: s.full_sync.clone(),
        checkpoint: s.checkpoint.clone(),
        lag_seconds: s.lag_seconds,
        incremental_sync: s.incremental_sync.clone(),
        verification: s.verification.clone(),
        cutover: s.cutover.clone(),
        // Read, never written back (the operator owns it): a passed precheck of this spec by the
        // operator's Job spares the engine a second one.
        precheck: s.precheck.clone(),
        ..Default::default()
    })
}

/// Writes the engine's status to the SyncTask in the background: [`StatusSink::write`] only
/// hands the latest status over, so the data path never waits on the API server.
#[derive(Clone)]
pub struct KubeStatus {
    api: Api<SyncTask>,
    name: String,
    generation: Option<i64>,
    latest: watch::Sender<Option<SyncTaskStatus>>,
}

struct Sink(watch::Sender<Option<SyncTaskStatus>>);

impl StatusSink for Sink {
    fn write(&self, status: &SyncTaskStatus) -> Result<()> {
        self.0.send_replace(Some(status.clone()));
        Ok(())
    }
}

impl KubeStatus {
    pub fn new(client: kube::Client, namespace: &str, name: &str, generation: Option<i64>) -> Self {
        KubeStatus { api: Api::namespaced(client, namespace), name: name.into(), generation, latest: watch::channel(None).0 }
    }

    pub fn sink(&self) -> Box<dyn StatusSink> {
        Box::new(Sink(self.latest.clone()))
    }

    /// Applies one status now.
    pub async fn write_now(&self, status: &SyncTaskStatus) -> Result<()> {
        let patch = engine_status_patch(status, self.generation, Timestamp::now());
        self.api
            .patch_status(&self.name, &PatchParams::apply(ENGINE_MANAGER).force(), &Patch::Apply(&patch))
            .await
            .map_err(kube_err(format!("write status of SyncTask {}", self.name)))?;
        Ok(())
    }

    /// Writes what the sink received: at once when the stage or the message changed, else at
    /// most every [`COUNTER_WRITE_INTERVAL`] (each write wakes the operator).
    pub fn spawn_writer(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let mut rx = self.latest.subscribe();
        tokio::spawn(async move {
            let mut last: Option<(SyncTaskStatus, Instant)> = None;
            while rx.changed().await.is_ok() {
                let Some(status) = rx.borrow_and_update().clone() else { continue };
                let due = match &last {
                    None => true,
                    Some((prev, at)) => {
                        prev.phase != status.phase
                            || prev.message != status.message
                            || prev.verification != status.verification
                            || prev.cutover != status.cutover
                            || at.elapsed() >= COUNTER_WRITE_INTERVAL
                    }
                };
                if !due || last.as_ref().is_some_and(|(prev, _)| prev == &status) {
                    continue;
                }
                match me.write_now(&status).await {
                    Ok(()) => last = Some((status, Instant::now())),
                    Err(e) => tracing::warn!(error = %e, "cannot write status"),
                }
            }
        })
    }
}

/// Kubernetes keeps at most 4096 bytes of a termination message.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

/// The precheck report as compact JSON that fits a termination message: whole when it fits,
/// else without the passed and skipped items, then without remedies, then with shortened
/// messages. The full report is also printed to stdout (the pod's log).
pub fn termination_report(report: &ferry_crds::PrecheckStatus) -> String {
    use ferry_crds::PrecheckResult;
    let fits = |r: &ferry_crds::PrecheckStatus| {
        let text = serde_json::to_string(r).expect("report serializes");
        (text.len() <= TERMINATION_MESSAGE_LIMIT).then_some(text)
    };
    if let Some(t) = fits(report) {
        return t;
    }
    let mut r = report.clone();
    r.items.retain(|i| i.result == PrecheckResult::Failed);
    if let Some(t) = fits(&r) {
        return t;
    }
    for i in &mut r.items {
        i.remedy.clear();
    }
    if let Some(t) = fits(&r) {
        return t;
    }
    for i in &mut r.items {
        if i.message.len() > 160 {
            i.message = format!("{}...", i.message.chars().take(157).collect::<String>());
        }
    }
    while fits(&r).is_none() && !r.items.is_empty() {
        r.items.pop();
    }
    fits(&r).unwrap_or_else(|| format!("{{\"passed\":{},\"items\":[]}}", r.passed))
}

/// Where the Secrets are mounted: `$FERRY_SECRETS_DIR`, else [`SECRETS_DIR`].
pub fn secrets_dir() -> std::path::PathBuf {
    std::env::var_os("FERRY_SECRETS_DIR").map(Into::into).unwrap_or_else(|| SECRETS_DIR.into())
}

/// Writes the termination message Kubernetes reads when the container exits.
pub fn write_termination_message(text: &str) {
    let path = Path::new("/dev/termination-log");
    if path.exists()
        && let Err(e) = std::fs::write(path, text)
    {
        tracing::warn!(error = %e, "cannot write the termination message");
    }
}

/// The task as `ferry run` would build it, read in-cluster: the spec from the API, credentials
/// from the Secrets mounted under `secrets_dir`.
pub async fn load_in_cluster(namespace: &str, name: &str, secrets_dir: &Path) -> Result<(kube::Client, SyncTask, Task)> {
    let client = kube::Client::try_default().await.map_err(kube_err("connect to the API server".into()))?;
    let obj = fetch(&client, namespace, name).await?;
    let task = task_from_object(&obj, secrets_dir)?;
    Ok((client, obj, task))
}

/// `ferry sync`: runs one SyncTask in the operator's engine pod until SIGTERM. Exit status 0
/// when stopped (or done), 1 on an error (Kubernetes restarts the pod with backoff), 2 when the
/// task cannot even be loaded.
pub async fn sync_main(namespace: &str, name: &str, secrets_dir: &Path, metrics_addr: std::net::SocketAddr) -> std::process::ExitCode {
    use crate::status::Reporter;
    use crate::task::run;
    use ferry_crds::Phase;
    use std::process::ExitCode;

    let loaded = async {
        let client = kube::Client::try_default().await.map_err(kube_err("connect to the API server".into()))?;
        let obj = fetch(&client, namespace, name).await?;
        Ok::<_, Error>((client, obj))
    };
    let (client, obj) = match loaded.await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ferry: task {namespace}/{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let kube_status = KubeStatus::new(client, namespace, name, obj.metadata.generation);
    let task = match task_from_object(&obj, secrets_dir) {
        Ok(t) => t,
        Err(e) => {
            // Say why in the status (e.g. a Secret without `password`): the operator shows it as
            // Degraded, instead of an engine that seems to be starting forever.
            eprintln!("ferry: task {namespace}/{name}: {e}");
            // Based on what is there: an applied status replaces all of this manager's fields.
            let mut failed = engine_view(&obj).unwrap_or_default();
            failed.phase = Some(Phase::Failed);
            failed.message = Some(e.to_string());
            let _ = kube_status.write_now(&failed).await;
            return ExitCode::from(2);
        }
    };
    let initial = engine_view(&obj).map(run::resumed_status).unwrap_or_else(run::initial_status);
    let reporter = Reporter::new(kube_status.sink(), initial, false);
    let writer = kube_status.spawn_writer();
    let flusher = reporter.spawn_flusher();
    match TcpListener::bind(metrics_addr).await {
        Ok(listener) => {
            let (r, id) = (reporter.clone(), task.id());
            tokio::spawn(serve_metrics(listener, Arc::new(move || engine_metrics(&id, &r.status(), Timestamp::now()))));
        }
        Err(e) => tracing::warn!(error = %e, addr = %metrics_addr, "no metrics endpoint"),
    }
    let result = run::run_until_signal(&task, reporter.clone()).await;
    flusher.abort();
    let code = match &result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Interrupted) => {
            reporter.set_phase(Phase::Pending, Some("stopped; the next start resumes from the checkpoint".into()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            reporter.set_phase(Phase::Failed, Some(e.to_string()));
            eprintln!("ferry: task {}: {e}", task.id());
            ExitCode::FAILURE
        }
    };
    let _ = reporter.flush();
    writer.abort();
    if let Err(e) = kube_status.write_now(&reporter.status()).await {
        eprintln!("ferry: {e}");
    }
    if result.is_ok() {
        // Done (or suspended): stay up until stopped, so that the StatefulSet does not restart
        // a finished task; the operator scales it down.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        let _ = term.recv().await;
    }
    code
}

/// Prometheus text for the engine's progress, from its status.
pub fn engine_metrics(task: &str, status: &SyncTaskStatus, now: Timestamp) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: Option<f64>| {
        if let Some(v) = value {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{task=\"{task}\"}} {v}\n"));
        }
    };
    gauge("ferry_engine_lag_seconds", "Seconds the target is behind the source.", status.lag_seconds.map(|v| v as f64));
    let inc = status.incremental_sync.as_ref();
    gauge("ferry_engine_incremental_rows_per_second", "Row changes applied per second.", inc.map(|i| i.rows_per_second as f64));
    gauge(
        "ferry_engine_incremental_transactions_per_second",
        "Source transactions applied per second.",
        inc.map(|i| i.transactions_per_second as f64),
    );
    gauge(
        "ferry_engine_incremental_bytes_per_second",
        "Bytes of row data (before and after images) applied per second.",
        inc.map(|i| i.bytes_per_second as f64),
    );
    gauge(
        "ferry_engine_incremental_rows_applied",
        "Row changes applied since the incremental sync started.",
        inc.map(|i| i.rows_applied as f64),
    );
    let full = status.full_sync.as_ref();
    gauge("ferry_engine_full_sync_rows_per_second", "Rows copied per second by the full sync.", full.map(|f| f.rows_per_second as f64));
    gauge(
        "ferry_engine_full_sync_bytes_per_second",
        "Bytes loaded into the target per second by the full sync.",
        full.map(|f| f.bytes_per_second as f64),
    );
    gauge("ferry_engine_full_sync_rows_done", "Rows copied by the full sync.", full.map(|f| f.rows_done as f64));
    gauge("ferry_engine_full_sync_percent", "Percent of the full sync done, by rows.", full.map(|f| f.percent));
    let age = status.checkpoint.as_ref().and_then(|c| c.time.as_ref()).map(|t| (now.as_second() - t.0.as_second()).max(0) as f64);
    gauge("ferry_engine_checkpoint_age_seconds", "Seconds since the checkpoint was recorded.", age);
    let ver = status.verification.as_ref();
    gauge("ferry_engine_verification_differences", "Rows that differed in the last verification pass.", ver.map(|v| v.differences as f64));
    gauge("ferry_engine_verification_rows_compared", "Rows compared by the last verification pass.", ver.map(|v| v.rows_compared as f64));
    gauge(
        "ferry_engine_verification_passed",
        "1 when the last verification pass found no difference.",
        ver.map(|v| u8::from(v.passed) as f64),
    );
    let done_at = ver.and_then(|v| v.time.as_ref()).map(|t| t.0.as_second() as f64);
    gauge("ferry_engine_verification_time_seconds", "When the last verification pass ended (Unix seconds).", done_at);
    let cut = status.cutover.as_ref();
    gauge("ferry_engine_cutover_done", "1 once the cutover is done.", cut.map(|c| u8::from(c.state == "Done") as f64));
    if let Some(phase) = status.phase {
        out.push_str("# HELP ferry_engine_phase The engine's stage (1 for the current one).\n# TYPE ferry_engine_phase gauge\n");
        out.push_str(&format!("ferry_engine_phase{{task=\"{task}\",phase=\"{phase:?}\"}} 1\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_crds::{Checkpoint, IncrementalSyncStatus, Phase};

    fn now() -> Timestamp {
        "2026-01-01T00:01:00Z".parse().unwrap()
    }

    fn object() -> SyncTask {
        let spec = serde_json::from_value(json!({
            "source": {"host": "db1", "credentialsSecret": "s"},
            "target": {"host": "db2", "credentialsSecret": "t",
                       "tls": {"mode": "verify-ca", "caSecret": "t-ca"}},
            "objects": [{"database": "shop"}],
        }))
        .unwrap();
        let mut t = SyncTask::new("orders", spec);
        t.metadata.namespace = Some("ns1".into());
        t
    }

    #[test]
    fn task_reads_credentials_and_ca_from_mounted_files() {
        let dir = std::env::temp_dir().join(format!("ferry-kube-test-{}", std::process::id()));
        for (sub, files) in [
            ("source", vec![("username", "u1"), ("password", "p1")]),
            ("target", vec![("username", "u2"), ("password", "p2\n")]),
            ("target-ca", vec![("ca.crt", "PEM")]),
        ] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            for (f, v) in files {
                std::fs::write(dir.join(sub).join(f), v).unwrap();
            }
        }
        let task = task_from_object(&object(), &dir).unwrap();
        assert_eq!(task.id(), "ns1/orders");
        assert_eq!(task.source_credentials, Credentials { username: "u1".into(), password: "p1".into() });
        assert_eq!(task.target_credentials.password, "p2\n", "kept exactly as stored in the Secret");
        assert_eq!(task.target_ca.as_deref(), Some(&b"PEM"[..]));
        assert!(task.source_ca.is_none());
        std::fs::remove_file(dir.join("source/password")).unwrap();
        let e = task_from_object(&object(), &dir).unwrap_err().to_string();
        assert!(e.contains("source/password"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn status_patch_holds_only_engine_fields() {
        let status = SyncTaskStatus {
            phase: Some(Phase::Synchronizing),
            message: Some("following".into()),
            conditions: vec![],
            observed_generation: Some(9),
            lag_seconds: Some(3),
            checkpoint: Some(Checkpoint { file: "bin.000002".into(), position: 4, ..Default::default() }),
            incremental_sync: Some(IncrementalSyncStatus { rows_applied: 10, ..Default::default() }),
            ..Default::default()
        };
        let p = engine_status_patch(&status, Some(4), now());
        assert_eq!(p["apiVersion"], "ferry.dev/v1alpha1");
        assert_eq!(p["kind"], "SyncTask");
        let s = p["status"].as_object().unwrap();
        let mut keys: Vec<_> = s.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["checkpoint", "engine", "incrementalSync", "lagSeconds"]);
        assert_eq!(p["status"]["engine"]["phase"], "Synchronizing");
        assert_eq!(p["status"]["engine"]["message"], "following");
        assert_eq!(p["status"]["engine"]["observedGeneration"], 4);
        assert_eq!(p["status"]["engine"]["heartbeatTime"], "2026-01-01T00:01:00Z");
    }

    #[test]
    fn engine_view_resumes_from_the_engine_report() {
        let mut obj = object();
        obj.status = Some(SyncTaskStatus {
            phase: Some(Phase::Suspended),
            engine: Some(EngineReport { phase: Some(Phase::Initializing), message: Some("copy".into()), ..Default::default() }),
            lag_seconds: Some(1),
            ..Default::default()
        });
        let v = engine_view(&obj).unwrap();
        assert_eq!(v.phase, Some(Phase::Initializing), "the engine's stage, not the operator's phase");
        assert_eq!(v.lag_seconds, Some(1));
    }

    /// The operator's precheck report (its Job's) reaches the engine, which then skips its own
    /// when it checked this spec; the engine never writes it back.
    #[test]
    fn the_operators_precheck_reaches_the_engine_and_is_not_written_back() {
        let mut obj = object();
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let report = ferry_crds::PrecheckStatus {
            passed: true,
            time: Some(Time(now())),
            spec_hash: Some(ferry_crds::hash::precheck_spec_hash(&obj.spec)),
            ..Default::default()
        };
        obj.status = Some(SyncTaskStatus { precheck: Some(report.clone()), ..Default::default() });
        let v = engine_view(&obj).unwrap();
        assert_eq!(v.precheck.as_ref(), Some(&report));
        let later = |minutes: i64| Time(now().checked_add(k8s_openapi::jiff::SignedDuration::from_mins(minutes)).unwrap());
        assert!(crate::precheck::passed_for(v.precheck.as_ref(), &obj.spec, later(5)));
        assert!(!crate::precheck::passed_for(v.precheck.as_ref(), &obj.spec, later(16)), "a stale precheck is run again");
        let mut other = obj.spec.clone();
        other.target.port += 1;
        assert!(!crate::precheck::passed_for(v.precheck.as_ref(), &other, later(1)), "another spec is prechecked");
        let patch = engine_status_patch(&v, Some(1), now());
        assert!(patch["status"].get("precheck").is_none(), "{patch}");
    }

    #[test]
    fn verification_and_cutover_are_written_and_read_back() {
        let verification = ferry_crds::VerificationStatus { passed: false, rows_compared: 10, differences: 2, ..Default::default() };
        let cutover = ferry_crds::CutoverStatus { state: "CatchingUp".into(), source_locked: true, ..Default::default() };
        let status = SyncTaskStatus { verification: Some(verification.clone()), cutover: Some(cutover.clone()), ..Default::default() };
        let patch = engine_status_patch(&status, Some(3), now());
        assert_eq!(patch["status"]["verification"]["differences"], 2);
        assert_eq!(patch["status"]["cutover"]["state"], "CatchingUp");
        // Server-side apply drops what a manager stops sending: a restarted engine sends them back.
        let mut obj = object();
        obj.status = Some(serde_json::from_value(patch["status"].clone()).unwrap());
        let v = engine_view(&obj).unwrap();
        assert_eq!((v.verification, v.cutover), (Some(verification), Some(cutover)));
        let text = engine_metrics("ns1/orders", &status, now());
        assert!(text.contains("ferry_engine_verification_differences{task=\"ns1/orders\"} 2\n"), "{text}");
        assert!(text.contains("ferry_engine_verification_passed{task=\"ns1/orders\"} 0\n"), "{text}");
        assert!(text.contains("ferry_engine_cutover_done{task=\"ns1/orders\"} 0\n"), "{text}");
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let status = SyncTaskStatus {
            phase: Some(Phase::Synchronizing),
            lag_seconds: Some(2),
            checkpoint: Some(Checkpoint {
                file: "b".into(),
                position: 4,
                time: Some(Time("2026-01-01T00:00:30Z".parse().unwrap())),
                ..Default::default()
            }),
            incremental_sync: Some(IncrementalSyncStatus { rows_per_second: 500, bytes_per_second: 65536, ..Default::default() }),
            ..Default::default()
        };
        let text = engine_metrics("ns1/orders", &status, now());
        assert!(text.contains("ferry_engine_incremental_bytes_per_second{task=\"ns1/orders\"} 65536\n"), "{text}");
        assert!(text.contains("ferry_engine_lag_seconds{task=\"ns1/orders\"} 2\n"), "{text}");
        assert!(text.contains("ferry_engine_incremental_rows_per_second{task=\"ns1/orders\"} 500\n"), "{text}");
        assert!(text.contains("ferry_engine_checkpoint_age_seconds{task=\"ns1/orders\"} 30\n"), "{text}");
        assert!(text.contains("ferry_engine_phase{task=\"ns1/orders\",phase=\"Synchronizing\"} 1\n"), "{text}");
        assert!(!text.contains("full_sync"), "no full sync, no full-sync series");
        let copying = SyncTaskStatus {
            full_sync: Some(ferry_crds::FullSyncStatus { rows_per_second: 9, bytes_per_second: 1 << 20, ..Default::default() }),
            ..Default::default()
        };
        let text = engine_metrics("ns1/orders", &copying, now());
        assert!(text.contains("ferry_engine_full_sync_bytes_per_second{task=\"ns1/orders\"} 1048576\n"), "{text}");
        assert!(text.contains("ferry_engine_full_sync_rows_per_second{task=\"ns1/orders\"} 9\n"), "{text}");
    }

    #[test]
    fn termination_report_fits_and_keeps_the_failures() {
        use ferry_crds::{PrecheckItem, PrecheckLevel, PrecheckResult, PrecheckStatus};
        let item = |id: String, result| PrecheckItem {
            id,
            level: PrecheckLevel::Error,
            result,
            message: "m".repeat(300),
            remedy: "r".repeat(300),
        };
        let mut items: Vec<_> = (0..40).map(|i| item(format!("ok-{i}"), PrecheckResult::Passed)).collect();
        items.push(item("binlog-format".into(), PrecheckResult::Failed));
        let report = PrecheckStatus { items, passed: false, time: None, spec_hash: None };
        let text = termination_report(&report);
        assert!(text.len() <= TERMINATION_MESSAGE_LIMIT, "{}", text.len());
        let back: PrecheckStatus = serde_json::from_str(&text).unwrap();
        assert!(!back.passed);
        assert_eq!(back.items.len(), 1);
        assert_eq!(back.items[0].id, "binlog-format");
        let small = PrecheckStatus { items: vec![item("x".into(), PrecheckResult::Passed)], passed: true, time: None, spec_hash: None };
        assert_eq!(serde_json::from_str::<PrecheckStatus>(&termination_report(&small)).unwrap(), small, "whole when it fits");
    }
}
