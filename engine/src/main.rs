//! The `ferry` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_crds::Phase;
use ferry_engine::status::{FileSink, Reporter};
use ferry_engine::task::manifest;
use ferry_engine::task::run;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "ferry", version, about = "Declarative MySQL -> MySQL data synchronization")]
struct Cli {
    /// More log output (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a SyncTask manifest (Secrets + SyncTask, as for kubectl apply) in this process.
    /// Re-running the same command resumes where it stopped.
    Run {
        /// The manifest file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Folder for the task's state file (<task>.status.yaml).
        #[arg(long, default_value = ".ferry")]
        state_dir: PathBuf,
        /// No progress bar, even on a terminal.
        #[arg(long)]
        no_progress: bool,
    },
    /// Check that a SyncTask can succeed, without moving data: prints each item, its result and
    /// the remedy. Exits 0 when no error-level item failed, 1 when one did, 2 on a bad manifest.
    Precheck {
        /// The manifest file.
        #[arg(short = 'f', long = "file", required_unless_present = "name", conflicts_with = "name")]
        file: Option<PathBuf>,
        /// In a cluster (the operator's precheck Job): the SyncTask's namespace.
        #[arg(long, env = "FERRY_TASK_NAMESPACE", default_value = "default")]
        namespace: String,
        /// In a cluster: the SyncTask's name, read from the API; credentials from the Secrets
        /// mounted under $FERRY_SECRETS_DIR. The report also becomes the termination message.
        #[arg(long, env = "FERRY_TASK_NAME")]
        name: Option<String>,
        /// `table` for people, `json` (the status.precheck object) for machines.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        /// With --file: also record the report in the task's state file in this folder (as the
        /// operator records its precheck Job's): a `ferry run` of the same spec with the same
        /// --state-dir then starts without prechecking again.
        #[arg(long, conflicts_with = "name")]
        state_dir: Option<PathBuf>,
    },
    /// Compare every selected table between source and target through the task's mapping, while
    /// the task syncs or after; `--repair` writes the differences right. Exits 0 when the target
    /// holds what the source holds, 1 when something differs (or could not be confirmed), 2 on
    /// an error.
    Verify {
        /// The manifest file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Write the source's current rows for what differs (through ferry's applier, never past
        /// a newer change), delete rows proven extra, then verify those again.
        #[arg(long)]
        repair: bool,
        /// At most this many source rows read per second (0: no limit).
        #[arg(long, default_value_t = 0)]
        rows_per_second: u64,
        /// Rows per key range compared at once (bounds memory).
        #[arg(long, default_value_t = 5_000)]
        chunk_rows: u64,
        /// Rounds a difference must survive while the target catches up.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Seconds a round waits for the target to apply up to the source's position.
        #[arg(long, default_value_t = 60)]
        wait_seconds: u64,
        /// Tables compared side by side.
        #[arg(long, default_value_t = 2)]
        parallel: usize,
        /// `table` for people, `json` (the verification report) for machines.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        /// No progress bar, even on a terminal.
        #[arg(long)]
        no_progress: bool,
    },
    /// Switch to the target: (with `--lock-source`) make the source read-only, wait until the
    /// target has applied the source's final binlog position, verify every selected table, create
    /// the deferred triggers and events on the target. The task must be running (`ferry run`).
    /// Exits 0 when done, 1 when the verification found differences (nothing switched; a locked
    /// source is writable again), 2 on an error. Run it again after an interruption.
    Cutover {
        /// The manifest file.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Make the source read-only first (MySQL: super_read_only; MariaDB: read_only, with
        /// FLUSH TABLES WITH READ LOCK held until the cutover ends).
        #[arg(long)]
        lock_source: bool,
        /// Seconds to wait for the target to apply up to the source's final position.
        #[arg(long, default_value_t = 300)]
        wait_seconds: u64,
        /// `table` for people, `json` (`{cutover, verification}`) for machines.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Run a SyncTask inside Kubernetes (the operator's engine pod): the spec from the API,
    /// credentials from the mounted Secrets, status written to the SyncTask, until SIGTERM.
    Sync {
        /// The SyncTask's namespace.
        #[arg(long, env = "FERRY_TASK_NAMESPACE")]
        namespace: String,
        /// The SyncTask's name.
        #[arg(long, env = "FERRY_TASK_NAME")]
        name: String,
        /// Where the task's Secrets are mounted (source/, target/, source-ca/, target-ca/).
        #[arg(long, env = "FERRY_SECRETS_DIR", default_value = ferry_engine::task::kube::SECRETS_DIR)]
        secrets_dir: PathBuf,
        /// Where /metrics (Prometheus) and /healthz are served.
        #[arg(long, env = "FERRY_METRICS_ADDR", default_value = "0.0.0.0:9091")]
        metrics_addr: std::net::SocketAddr,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

fn main() -> ExitCode {
    std::sync::LazyLock::force(&ferry_engine::status::PROCESS_START);
    let cli = Cli::parse();
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match cli.command {
        Command::Run { file, state_dir, no_progress } => runtime.block_on(run_command(file, state_dir, no_progress)),
        Command::Precheck { file, output, namespace, name, state_dir } => {
            runtime.block_on(precheck_command(file, output, namespace, name, state_dir))
        }
        Command::Verify { file, repair, rows_per_second, chunk_rows, rounds, wait_seconds, parallel, output, no_progress } => {
            let options = ferry_engine::verify::VerifyOptions {
                chunk_rows: chunk_rows.max(1),
                rows_per_second: (rows_per_second > 0).then_some(rows_per_second),
                rounds: rounds.max(1),
                catch_up: std::time::Duration::from_secs(wait_seconds),
                repair,
                parallelism: parallel.max(1),
                ..Default::default()
            };
            runtime.block_on(verify_command(file, options, output, no_progress))
        }
        Command::Cutover { file, lock_source, wait_seconds, output } => {
            let options =
                ferry_engine::task::cutover::CutoverOptions { lock_source, catch_up: std::time::Duration::from_secs(wait_seconds) };
            runtime.block_on(cutover_command(file, options, output))
        }
        Command::Sync { namespace, name, secrets_dir, metrics_addr } => {
            runtime.block_on(ferry_engine::task::kube::sync_main(&namespace, &name, &secrets_dir, metrics_addr))
        }
    }
}

async fn run_command(file: PathBuf, state_dir: PathBuf, no_progress: bool) -> ExitCode {
    let task = match load_manifest(&file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let path = manifest::status_path(&state_dir, &task);
    let bar = !no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A resumed task keeps what its status said (phase, progress) until the run moves it on.
    let initial = FileSink::read(&path).map(run::resumed_status).unwrap_or_else(run::initial_status);
    let reporter = Reporter::new(Box::new(FileSink::new(&path)), initial, bar);
    let flusher = reporter.spawn_flusher();
    // Ctrl-C or SIGTERM stops at once: everything committed is kept (copied ranges, the
    // checkpoint with the changes it covers), and the same command resumes.
    let result = run::run_until_signal(&task, reporter.clone()).await;
    flusher.abort();
    reporter.finish_bar();
    let code = match &result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            reporter.set_phase(Phase::Failed, Some(e.to_string()));
            eprintln!("ferry: task {}: {e}", task.name);
            ExitCode::FAILURE
        }
    };
    if let Err(e) = reporter.flush() {
        eprintln!("ferry: {e}");
        return ExitCode::FAILURE;
    }
    if result.is_ok() {
        let s = reporter.status();
        println!("{}: {}", task.name, s.message.unwrap_or_default());
        println!("status: {}", path.display());
    }
    code
}

async fn precheck_command(
    file: Option<PathBuf>,
    output: OutputFormat,
    namespace: String,
    name: Option<String>,
    state_dir: Option<PathBuf>,
) -> ExitCode {
    let loaded = match (&file, &name) {
        (Some(file), _) => manifest::load(file),
        (None, Some(name)) => ferry_engine::task::kube::load_in_cluster(&namespace, name, &ferry_engine::task::kube::secrets_dir())
            .await
            .map(|(_, _, task)| task),
        (None, None) => unreachable!("clap requires --file or --name"),
    };
    let task = match loaded {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(2);
        }
    };
    let report = ferry_engine::precheck::precheck(&task).await;
    match output {
        OutputFormat::Table => print!("{}", ferry_engine::precheck::render_table(&report)),
        OutputFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("ferry: {e}");
                return ExitCode::FAILURE;
            }
        },
    }
    if let Some(dir) = state_dir {
        let path = manifest::status_path(&dir, &task);
        let mut status = FileSink::read(&path).unwrap_or_else(run::initial_status);
        status.precheck = Some(report.clone());
        if let Err(e) = ferry_engine::status::StatusSink::write(&FileSink::new(&path), &status) {
            eprintln!("ferry: {e}");
            return ExitCode::FAILURE;
        }
    }
    if name.is_some() {
        // The operator reads the report from here: the Job's pod needs no write access.
        ferry_engine::task::kube::write_termination_message(&ferry_engine::task::kube::termination_report(&report));
    }
    if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn verify_command(file: PathBuf, options: ferry_engine::verify::VerifyOptions, output: OutputFormat, no_progress: bool) -> ExitCode {
    let task = match load_manifest(&file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let bar = (!no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("verify {bar:30} {pos}/{len} tables, {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let on_progress = |done: usize, total: usize, rows: u64| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
            b.set_message(format!("{rows} rows"));
        }
    };
    let result = ferry_engine::verify::verify(&task, &options, &on_progress).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match result {
        Ok(report) => {
            match output {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
                OutputFormat::Table => print!("{}", ferry_engine::verify::render_table(&report)),
            }
            if report.passed { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("ferry: task {}: {e}", task.name);
            ExitCode::from(2)
        }
    }
}

async fn cutover_command(file: PathBuf, options: ferry_engine::task::cutover::CutoverOptions, output: OutputFormat) -> ExitCode {
    let task = match load_manifest(&file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    if !options.lock_source {
        eprintln!(
            "ferry: cutover without --lock-source: the source stays writable; what is written to it after the final position is still followed"
        );
    }
    let on_state = |c: &ferry_crds::CutoverStatus| eprintln!("ferry: cutover: {}", c.state);
    match ferry_engine::task::cutover::cutover(&task, &options, &on_state).await {
        Ok(report) => {
            match output {
                OutputFormat::Json => {
                    let body = serde_json::json!({ "cutover": report.status, "verification": report.verification });
                    println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
                }
                OutputFormat::Table => {
                    if let Some(v) = &report.verification {
                        print!("{}", ferry_engine::verify::render_table(v));
                    }
                    let c = &report.status;
                    println!("Cutover: {}", c.state);
                    println!("Final source position: {}", c.final_position.as_deref().unwrap_or("-"));
                    println!("Source locked: {}", if c.source_locked { "yes (read-only)" } else { "no" });
                    if !c.triggers_created.is_empty() {
                        println!("Created on the target: {}", c.triggers_created.join(", "));
                    }
                    if let Some(m) = &c.message {
                        println!("{m}");
                    }
                }
            }
            if report.status.state == "Done" { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("ferry: task {}: cutover: {e}", task.name);
            ExitCode::from(2)
        }
    }
}

/// The task of a manifest file, or (having said why) exit status 2.
fn load_manifest(file: &std::path::Path) -> Result<ferry_crds::manifest::Task, ExitCode> {
    manifest::load(file).map_err(|e| {
        eprintln!("ferry: {e}");
        ExitCode::from(2)
    })
}
