//! The user's window: the task's `SyncTaskStatus`, kept current while the engine works and written
//! through a [`StatusSink`] (a local file for `ferry run`; the Kubernetes status in the operator's
//! engine pod) at most once a second, plus a progress bar on a terminal.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_crds::{FullSyncStatus, Phase, SyncTaskStatus, TableProgress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::{Error, Result};

/// When this process started (first asked for by `main`): the start-up figures count from here.
pub static PROCESS_START: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// Where status goes.
pub trait StatusSink: Send + Sync {
    fn write(&self, status: &SyncTaskStatus) -> Result<()>;
}

/// `ferry run`'s state file: YAML of the same `SyncTaskStatus` the operator writes.
pub struct FileSink {
    pub path: PathBuf,
}

impl FileSink {
    pub fn new(path: &Path) -> Self {
        FileSink { path: path.to_owned() }
    }

    pub fn read(path: &Path) -> Option<SyncTaskStatus> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_saphyr::from_str(&text).ok()
    }
}

impl StatusSink for FileSink {
    fn write(&self, status: &SyncTaskStatus) -> Result<()> {
        let err = |source| Error::State { path: self.path.clone(), source };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let body = serde_saphyr::to_string(status).expect("status serializes");
        // Write then rename: a reader never sees half a file.
        let tmp = self.path.with_extension("yaml.tmp");
        std::fs::write(&tmp, body).map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)
    }
}

/// Counters of one table's copy, shared with the copy workers.
#[derive(Debug)]
pub struct TableCounter {
    pub name: String,
    rows_estimated: u64,
    rows_done: AtomicI64,
    /// Bytes sent to the target by this run (a rate's numerator, not resumed).
    bytes_sent: AtomicU64,
    merge_conflicts: AtomicU64,
    chunks_total: AtomicU32,
    chunks_done: AtomicU32,
    complete: AtomicBool,
}

impl TableCounter {
    pub fn new(name: String, rows_estimated: u64) -> Self {
        TableCounter {
            name,
            rows_estimated,
            rows_done: AtomicI64::new(0),
            bytes_sent: AtomicU64::new(0),
            merge_conflicts: AtomicU64::new(0),
            chunks_total: AtomicU32::new(0),
            chunks_done: AtomicU32::new(0),
            complete: AtomicBool::new(false),
        }
    }
    pub fn set_plan(&self, total: u32, done: u32, rows_done: u64) {
        self.chunks_total.store(total, Ordering::Relaxed);
        self.chunks_done.store(done, Ordering::Relaxed);
        self.rows_done.store(rows_done as i64, Ordering::Relaxed);
    }
    pub fn add_rows(&self, n: u64) {
        self.rows_done.fetch_add(n as i64, Ordering::Relaxed);
    }
    pub fn add_rows_signed(&self, n: i64) {
        self.rows_done.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_bytes(&self, n: u64) {
        self.bytes_sent.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_merge_conflicts(&self, n: u64) {
        self.merge_conflicts.fetch_add(n, Ordering::Relaxed);
    }
    pub fn chunk_done(&self) {
        self.chunks_done.fetch_add(1, Ordering::Relaxed);
    }
    pub fn mark_complete(&self) {
        self.complete.store(true, Ordering::Relaxed);
    }
    fn rows(&self) -> u64 {
        self.rows_done.load(Ordering::Relaxed).max(0) as u64
    }
    fn progress(&self) -> TableProgress {
        let done = self.rows();
        let complete = self.complete.load(Ordering::Relaxed);
        TableProgress {
            name: self.name.clone(),
            rows_done: done,
            rows_estimated: self.rows_estimated,
            percent: if complete { 100.0 } else { percent(done, self.rows_estimated).min(99.9) },
            chunks_done: self.chunks_done.load(Ordering::Relaxed),
            chunks_total: self.chunks_total.load(Ordering::Relaxed),
        }
    }
}

fn percent(done: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    ((done as f64 / total as f64) * 1000.0).round() / 10.0
}

/// Lists of tables in the written status hold at most this many entries: a Kubernetes object is
/// at most 1.5 MiB, and ten thousand tables' lines would pass that (the totals count them all).
pub const STATUS_TABLES: usize = 50;

/// The status as written: per-table lists cut to [`STATUS_TABLES`], keeping the lines that say
/// most (copies under way, then those still to come; tables that differ, most differences first).
fn bounded(mut s: SyncTaskStatus) -> SyncTaskStatus {
    if let Some(f) = &mut s.full_sync
        && f.tables.len() > STATUS_TABLES
    {
        // Copies under way first, then those to come, done ones last (the totals count them);
        // stable, so in source order within each kind.
        let rank = |p: &TableProgress| match (p.percent >= 100.0, p.rows_done > 0 || p.chunks_done > 0) {
            (true, _) => 2,
            (false, true) => 0,
            (false, false) => 1,
        };
        f.tables.sort_by_key(rank);
        f.tables.truncate(STATUS_TABLES);
    }
    if let Some(v) = &mut s.verification
        && v.tables.len() > STATUS_TABLES
    {
        v.tables.sort_by_key(|t| std::cmp::Reverse(t.missing + t.extra + t.different + t.unconfirmed + t.repaired));
        v.tables.truncate(STATUS_TABLES);
    }
    if let Some(sc) = &mut s.schema_sync {
        cut_names(&mut sc.kept_existing);
        cut_names(&mut sc.deferred_triggers);
    }
    s
}

/// A list of names cut to [`STATUS_TABLES`], its last line saying how many more there are.
fn cut_names(names: &mut Vec<String>) {
    if names.len() > STATUS_TABLES {
        let more = names.len() - (STATUS_TABLES - 1);
        names.truncate(STATUS_TABLES - 1);
        names.push(format!("... and {more} more"));
    }
}

/// The current status and the copy counters; flushed by [`Reporter::spawn_flusher`].
pub struct Reporter {
    sink: Box<dyn StatusSink>,
    status: Mutex<SyncTaskStatus>,
    tables: Mutex<Vec<Arc<TableCounter>>>,
    copy_started: Mutex<Option<(Instant, u64)>>,
    /// The copy's rates (rows/s, bytes/s) as they stood when its last table completed: what
    /// follows (the binlog) is not the copy's time.
    copy_rates: Mutex<Option<(u64, u64)>>,
    bar: Option<ProgressBar>,
    /// Held across a flush's snapshot and write: the run and the flusher flush at once, and a
    /// sink (the state file's write-then-rename) must see one write at a time, in order.
    flushing: Mutex<()>,
}

impl Reporter {
    pub fn new(sink: Box<dyn StatusSink>, initial: SyncTaskStatus, progress_bar: bool) -> Arc<Self> {
        let bar = progress_bar.then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg:30} [{bar:30}] {human_pos}/{human_len} rows  {per_sec}  eta {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        Arc::new(Reporter {
            sink,
            status: Mutex::new(initial),
            tables: Mutex::new(Vec::new()),
            copy_started: Mutex::new(None),
            copy_rates: Mutex::new(None),
            bar,
            flushing: Mutex::new(()),
        })
    }

    pub fn update(&self, f: impl FnOnce(&mut SyncTaskStatus)) {
        f(&mut self.status.lock().expect("status lock"));
    }

    pub fn set_phase(&self, phase: Phase, message: Option<String>) {
        self.update(|s| {
            s.phase = Some(phase);
            s.message = message;
        });
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{phase:?}"));
        }
    }

    /// Registers the tables of the full copy, with rows already done on a resumed run.
    pub fn start_copy(&self, tables: Vec<Arc<TableCounter>>) {
        let done: u64 = tables.iter().map(|t| t.rows()).sum();
        let total: u64 = tables.iter().map(|t| t.rows_estimated).sum();
        *self.tables.lock().expect("tables lock") = tables;
        *self.copy_started.lock().expect("lock") = Some((Instant::now(), done));
        *self.copy_rates.lock().expect("lock") = None;
        if let Some(bar) = &self.bar {
            bar.set_length(total.max(done));
            bar.set_position(done);
            bar.reset_eta();
        }
    }

    /// Folds the counters into the status and writes it.
    pub fn flush(&self) -> Result<()> {
        let _one_at_a_time = self.flushing.lock().unwrap_or_else(|e| e.into_inner());
        let tables = self.tables.lock().expect("tables lock").clone();
        let snapshot = {
            let mut s = self.status.lock().expect("status lock");
            if !tables.is_empty() {
                let progress: Vec<TableProgress> = tables.iter().map(|t| t.progress()).collect();
                let rows_done: u64 = progress.iter().map(|p| p.rows_done).sum();
                let rows_estimated: u64 = progress.iter().map(|p| p.rows_estimated.max(p.rows_done)).sum();
                let tables_done = progress.iter().filter(|p| p.percent >= 100.0).count() as u32;
                let bytes_sent: u64 = tables.iter().map(|t| t.bytes_sent.load(Ordering::Relaxed)).sum();
                let (rate, byte_rate) = self
                    .copy_started
                    .lock()
                    .expect("lock")
                    .map(|(t0, base)| {
                        let secs = t0.elapsed().as_secs_f64().max(0.001);
                        ((rows_done.saturating_sub(base) as f64 / secs) as u64, (bytes_sent as f64 / secs) as u64)
                    })
                    .unwrap_or((0, 0));
                let all_done = tables_done as usize == progress.len();
                let (rate, byte_rate) =
                    if all_done { *self.copy_rates.lock().expect("lock").get_or_insert((rate, byte_rate)) } else { (rate, byte_rate) };
                s.full_sync = Some(FullSyncStatus {
                    rows_done,
                    rows_estimated,
                    percent: if all_done { 100.0 } else { percent(rows_done, rows_estimated).min(99.9) },
                    tables_done,
                    tables_total: progress.len() as u32,
                    rows_per_second: rate,
                    bytes_per_second: byte_rate,
                    merge_conflicts: tables.iter().map(|t| t.merge_conflicts.load(Ordering::Relaxed)).sum(),
                    tables: progress,
                });
                if let Some(bar) = &self.bar {
                    bar.set_length(rows_estimated.max(rows_done));
                    bar.set_position(rows_done);
                    bar.set_message(format!("tables {tables_done}/{}", tables.len()));
                }
            }
            bounded(s.clone())
        };
        self.sink.write(&snapshot)
    }

    /// Writes the status once a second until the returned handle is dropped or aborted.
    pub fn spawn_flusher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Err(e) = me.flush() {
                    tracing::warn!(error = %e, "cannot write status");
                }
            }
        })
    }

    /// The terminal's live line during incremental sync.
    pub fn live_line(&self, text: &str) {
        if let Some(bar) = &self.bar {
            if bar.length().is_some() {
                bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
                bar.unset_length();
            }
            bar.set_message(text.to_string());
            bar.tick();
        }
    }

    pub fn finish_bar(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    pub fn status(&self) -> SyncTaskStatus {
        self.status.lock().expect("status lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reporter writing `<tmp>/ferry-status-<name>-<pid>/t.status.yaml`: (folder, file, reporter).
    fn file_reporter(name: &str) -> (PathBuf, PathBuf, Arc<Reporter>) {
        let dir = std::env::temp_dir().join(format!("ferry-status-{name}-{}", std::process::id()));
        let path = dir.join("t.status.yaml");
        let reporter = Reporter::new(Box::new(FileSink::new(&path)), SyncTaskStatus::default(), false);
        (dir, path, reporter)
    }

    /// Flushes from the flusher and from the run at once never fail on each other's temporary file.
    #[test]
    fn concurrent_flushes_all_write() {
        let (dir, path, reporter) = file_reporter("flush");
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let r = reporter.clone();
                std::thread::spawn(move || {
                    for n in 0..300 {
                        r.update(|s| s.message = Some(format!("{i}:{n}")));
                        r.flush().expect("a flush writes");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no flush failed");
        }
        assert!(FileSink::read(&path).is_some_and(|s| s.message.is_some()));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The copy's rates stay what they were when its last table completed.
    #[test]
    fn copy_rates_stop_at_the_copys_end() {
        let (dir, _, reporter) = file_reporter("rate");
        let t = Arc::new(TableCounter::new("d.t".into(), 1000));
        reporter.start_copy(vec![t.clone()]);
        std::thread::sleep(Duration::from_millis(20));
        t.add_rows(1000);
        t.mark_complete();
        reporter.flush().unwrap();
        let rate = reporter.status().full_sync.unwrap().rows_per_second;
        assert!(rate > 0);
        std::thread::sleep(Duration::from_millis(50));
        reporter.flush().unwrap();
        assert_eq!(reporter.status().full_sync.unwrap().rows_per_second, rate, "the binlog's time is not the copy's");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Ten thousand tables: the written status keeps the copies under way and those to come,
    /// the tables that differ, and counts the rest; the run's own status keeps everything.
    #[test]
    fn written_status_lists_a_bounded_number_of_tables() {
        use ferry_crds::{SchemaSyncStatus, TableVerification, VerificationStatus};
        let (dir, path, reporter) = file_reporter("bound");
        let counters: Vec<_> = (0..10_000).map(|i| Arc::new(TableCounter::new(format!("d.t{i}"), 100))).collect();
        for c in &counters[..9_000] {
            c.add_rows(100);
            c.mark_complete();
        }
        counters[9_500].add_rows(40);
        reporter.start_copy(counters);
        let tables: Vec<TableVerification> = (0..10_000)
            .map(|i| TableVerification { name: format!("d.t{i}"), different: (i == 7_777) as u64, ..Default::default() })
            .collect();
        let kept: Vec<String> = (0..10_000).map(|i| format!("d.t{i}")).collect();
        reporter.update(|s| {
            s.verification = Some(VerificationStatus { tables, differences: 1, ..Default::default() });
            s.schema_sync = Some(SchemaSyncStatus { kept_existing: kept, ..Default::default() });
        });
        reporter.flush().unwrap();

        let written = FileSink::read(&path).unwrap();
        let full = written.full_sync.unwrap();
        assert_eq!((full.tables_total, full.tables_done, full.tables.len()), (10_000, 9_000, STATUS_TABLES));
        assert_eq!(full.tables[0].name, "d.t9500", "the copy under way comes first");
        assert!(full.tables[1..].iter().all(|t| t.rows_done == 0), "then tables still to copy, none done");
        let v = written.verification.unwrap();
        assert_eq!((v.tables.len(), v.tables[0].name.as_str()), (STATUS_TABLES, "d.t7777"));
        let sc = written.schema_sync.unwrap();
        assert_eq!(sc.kept_existing.len(), STATUS_TABLES);
        assert_eq!(sc.kept_existing.last().unwrap(), &format!("... and {} more", 10_000 - STATUS_TABLES + 1));
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < 64 << 10, "the status file is {size} bytes");
        assert_eq!(reporter.status().schema_sync.unwrap().kept_existing.len(), 10_000, "the run's own status is whole");
        let _ = std::fs::remove_dir_all(dir);
    }
}
