//! The `ferry` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferry_crds::Phase;
use ferry_engine::manifest;
use ferry_engine::run;
use ferry_engine::status::{FileSink, Reporter};
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
}

fn main() -> ExitCode {
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
    }
}

async fn run_command(file: PathBuf, state_dir: PathBuf, no_progress: bool) -> ExitCode {
    let task = match manifest::load(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(2);
        }
    };
    let path = manifest::status_path(&state_dir, &task);
    let bar = !no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A resumed task keeps what its status said (phase, progress) until the run moves it on.
    let initial = FileSink::read(&path).map(run::resumed_status).unwrap_or_else(run::initial_status);
    let reporter = Reporter::new(Box::new(FileSink::new(&path)), initial, bar);
    let flusher = reporter.spawn_flusher();
    // Ctrl-C or SIGTERM stops at once: everything committed is kept (copied ranges, the
    // checkpoint with the changes it covers), and the same command resumes.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    let result = tokio::select! {
        r = run::run(&task, reporter.clone()) => r,
        _ = tokio::signal::ctrl_c() => Err(ferry_engine::Error::Interrupted),
        _ = term.recv() => Err(ferry_engine::Error::Interrupted),
    };
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
