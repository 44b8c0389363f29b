//! `ferry-operator`: the SyncTask controller, its metrics endpoint and optional leader election.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ferry_crds::SyncTask;
use ferry_operator::build::Settings;
use ferry_operator::leader::LeaseLock;
use ferry_operator::metrics::Metrics;
use ferry_operator::reconcile::{self, Context};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "ferry-operator", version, about = "Runs SyncTasks: precheck Job, engine StatefulSet, status")]
struct Args {
    /// Image of the engine and precheck pods (holds `ferry`), unless a task sets spec.engine.image.
    #[arg(long, env = "FERRY_ENGINE_IMAGE", default_value = "ghcr.io/ferry-dev/ferry:latest")]
    engine_image: String,
    /// ServiceAccount of the engine and precheck pods, in each task's namespace.
    #[arg(long, env = "FERRY_ENGINE_SERVICE_ACCOUNT", default_value = "ferry-engine")]
    engine_service_account: String,
    /// Seconds a precheck Job may run.
    #[arg(long, env = "FERRY_PRECHECK_DEADLINE_SECONDS", default_value_t = 600)]
    precheck_deadline_seconds: i64,
    /// Where /metrics (Prometheus) and /healthz are served.
    #[arg(long, env = "FERRY_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Reconcile only while holding a coordination.k8s.io Lease (run several replicas).
    #[arg(long, env = "FERRY_LEADER_ELECTION")]
    leader_election: bool,
    /// Namespace of the Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "ferry-system")]
    lease_namespace: String,
    #[arg(long, env = "FERRY_LEASE_NAME", default_value = "ferry-operator")]
    lease_name: String,
    /// Seconds a leader's Lease lasts without renewal.
    #[arg(long, env = "FERRY_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    /// This replica's identity (the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "ferry-operator stops");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> ferry_operator::Result<()> {
    let client = Client::try_default().await.map_err(ferry_operator::Error::kube("connect to the API server"))?;
    let metrics = Metrics::default();
    let listener = tokio::net::TcpListener::bind(args.metrics_addr).await.map_err(ferry_operator::Error::Metrics)?;
    let m = metrics.clone();
    tokio::spawn(ferry_http::serve_metrics(listener, Arc::new(move || m.render())));
    info!(addr = %args.metrics_addr, "metrics on /metrics");

    let identity = args.identity.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "ferry-operator".into())
    });
    let lease = args.leader_election.then(|| {
        LeaseLock::new(client.clone(), &args.lease_namespace, &args.lease_name, &identity, Duration::from_secs(args.lease_seconds))
    });
    if let Some(lease) = &lease {
        info!(lease = %args.lease_name, namespace = %args.lease_namespace, "waiting to lead");
        lease.acquire().await;
    }

    // DeserializeGuard: an object that does not parse reaches reconcile as an error of its own
    // instead of failing the whole watch.
    let tasks: Api<DeserializeGuard<SyncTask>> = Api::all(client.clone());
    let children = watcher::Config::default().labels("app.kubernetes.io/managed-by=ferry-operator");
    let controller = Controller::new(tasks, watcher::Config::default().any_semantic());
    let recorder = Recorder::new(client.clone(), Reporter { controller: "ferry-operator".into(), instance: Some(identity) });
    let settings = Settings {
        engine_image: args.engine_image,
        engine_service_account: args.engine_service_account,
        precheck_deadline_seconds: args.precheck_deadline_seconds,
    };
    let ctx = Arc::new(Context::new(client.clone(), settings, controller.store(), recorder, metrics));
    let run = controller
        .owns(Api::<Job>::all(client.clone()), children.clone())
        .owns(Api::<StatefulSet>::all(client.clone()), children)
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile");
            }
        });
    match &lease {
        None => run.await,
        Some(lease) => {
            tokio::select! {
                _ = run => {}
                _ = lease.keep() => {
                    return Err(ferry_operator::Error::LeaderElection("lost the Lease; restarting as a follower".into()));
                }
            }
        }
    }
    info!("ferry-operator stopped");
    Ok(())
}
