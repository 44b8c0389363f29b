//! How long the full copy takes, for binlog-retention: a read sample of the largest selected
//! table on the source, the write sample the target trial takes (see `privileges`), and the
//! estimate from both (or from assumed rates when nothing could be measured).

use mysql_async::Conn;
use mysql_async::prelude::*;
use tracing::debug;

use crate::db::{Server, qt};
use crate::error::Result;

use super::Check;

/// The copy speed the retention estimate assumes when nothing could be measured: half of what
/// one table copied at on a 2-core machine (100k rows/s and more, same-machine servers), so that
/// a slow target still fits.
pub const ASSUMED_ROWS_PER_SECOND: u64 = 50_000;
/// The same in bytes of table data (data and indexes) per second.
pub const ASSUMED_BYTES_PER_SECOND: u64 = 20 << 20;

impl Check<'_> {
    /// The source sample, read once: when the estimate of item 4 needs it (the binlog is read
    /// and rows are copied).
    pub(super) async fn source_sample(&mut self) -> Option<ReadSample> {
        if !self.spec.incremental || !self.spec.initial_sync.data {
            return None;
        }
        if let Some(s) = &self.read_sample {
            return s.clone();
        }
        let sample = self.sample_source_read().await;
        self.read_sample = Some(sample.clone());
        sample
    }

    /// Reads the first rows of the largest selected table (at most `SAMPLE_MAX_ROWS` or about
    /// `SAMPLE_MAX_BYTES`): read-only, a bounded cost on the source.
    async fn sample_source_read(&mut self) -> Option<ReadSample> {
        let t = self.tables.iter().filter(|t| t.rows > 0).max_by_key(|t| t.rows)?.clone();
        let mut src = self.src.take()?;
        let limit = (SAMPLE_MAX_BYTES / (t.bytes / t.rows).max(1)).clamp(100, SAMPLE_MAX_ROWS);
        let sql = format!("SELECT * FROM {} LIMIT {limit}", qt(&t.src_db, &t.src_table));
        let started = std::time::Instant::now();
        let (mut rows, mut bytes) = (0u64, 0u64);
        let read = async {
            let mut result = src.query_iter(sql).await?;
            result
                .for_each(|row| {
                    rows += 1;
                    for i in 0..row.len() {
                        bytes += match row.as_ref(i) {
                            Some(mysql_async::Value::Bytes(b)) => b.len() as u64,
                            Some(mysql_async::Value::NULL) | None => 1,
                            Some(_) => 8,
                        };
                    }
                })
                .await
        }
        .await;
        let seconds = started.elapsed().as_secs_f64();
        self.src = Some(src);
        match read {
            Ok(()) if rows > 0 => Some(ReadSample { table: t.source_name(), rows, bytes, seconds }),
            Ok(()) => None,
            Err(e) => {
                debug!(error = %e, table = %t.source_name(), "sampling the source's read rate");
                None
            }
        }
    }
}

/// Reading a sample of one selected table on the source, in one session.
#[derive(Clone, Debug)]
pub struct ReadSample {
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// Writing sample rows into the target trial's scratch table, in one session.
#[derive(Clone, Debug)]
pub struct WriteSample {
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
}

/// How long the copy of `rows` rows (`bytes` on disk) takes at the measured rates, in seconds,
/// with how it was reckoned. The copy reads and writes at once, so the slower side bounds it;
/// one session was measured, and the copy's parallel sessions only make it faster. Without a
/// source sample it falls back to the assumed rates (and says so).
pub fn copy_estimate(rows: u64, bytes: u64, read: Option<&ReadSample>, write: Option<&WriteSample>) -> (u64, String) {
    let Some(r) = read.filter(|r| r.rows > 0 && r.seconds > 0.0) else {
        let secs = (rows / ASSUMED_ROWS_PER_SECOND).max(bytes / ASSUMED_BYTES_PER_SECOND);
        return (
            secs,
            format!(
                "no rows could be sampled, so at an assumed {ASSUMED_ROWS_PER_SECOND} rows/s or {} MiB/s",
                ASSUMED_BYTES_PER_SECOND >> 20
            ),
        );
    };
    let read_rows_per_s = r.rows as f64 / r.seconds;
    let bytes_per_row = r.bytes as f64 / r.rows as f64;
    let read_secs = rows as f64 / read_rows_per_s;
    let mut how = format!("measured reading {}: {:.0} rows/s of {:.0} bytes", r.table, read_rows_per_s, bytes_per_row);
    let mut secs = read_secs;
    // The target was written rows of the sample's size: per-row costs count as they will.
    match write.filter(|w| w.seconds > 0.0 && w.rows > 0) {
        Some(w) => {
            let write_rows_per_s = w.rows as f64 / w.seconds;
            secs = secs.max(rows as f64 / write_rows_per_s);
            how.push_str(&format!(
                ", writing the target: {:.0} rows/s ({:.1} MiB/s)",
                write_rows_per_s,
                w.bytes as f64 / w.seconds / (1 << 20) as f64
            ));
        }
        None => how.push_str("; writing the target was not measured (see target-privileges)"),
    }
    how.push_str("; one session each");
    (secs.ceil() as u64, how)
}

/// How much of a table the source sample reads at most.
const SAMPLE_MAX_ROWS: u64 = 50_000;
const SAMPLE_MAX_BYTES: u64 = 16 << 20;
/// How much the target trial writes at most, and for how long.
const WRITE_SAMPLE_MAX_BYTES: u64 = 16 << 20;
const WRITE_SAMPLE_MAX_SECONDS: f64 = 1.0;

/// A row of `len` bytes as a hex literal, varied so that nothing compresses it away.
fn sample_payload(len: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let mut out = String::with_capacity(len * 2 + 3);
    out.push_str("X'");
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{:02x}", x as u8));
    }
    out.push('\'');
    out
}

/// Inserts rows of `row_bytes` into `scratch`, about 1 MiB per autocommitted statement, for up
/// to `WRITE_SAMPLE_MAX_SECONDS` or `WRITE_SAMPLE_MAX_BYTES`, kept out of the target's binlog
/// when the user may set sql_log_bin.
pub(super) async fn time_writes(target: &Server, conn: &mut Conn, scratch: &str, row_bytes: usize) -> Result<WriteSample> {
    let per_statement = ((1usize << 20) / row_bytes).max(1);
    let values: Vec<String> = (0..per_statement).map(|i| format!("({})", sample_payload(row_bytes, i as u64 + 1))).collect();
    let insert = format!("INSERT INTO {scratch} (v) VALUES {}", values.join(","));
    drop(values);
    let statement_bytes = (per_statement * row_bytes) as u64;
    // Sample rows need not reach the target's binlog (and its replicas) where the user may say so.
    let unlogged = conn.query_drop("SET SESSION sql_log_bin = 0").await.is_ok();
    let started = std::time::Instant::now();
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut written = Ok(());
    while written.is_ok() && bytes < WRITE_SAMPLE_MAX_BYTES && started.elapsed().as_secs_f64() < WRITE_SAMPLE_MAX_SECONDS {
        written = conn.query_drop(&insert).await;
        rows += per_statement as u64;
        bytes += statement_bytes;
    }
    let seconds = started.elapsed().as_secs_f64();
    if unlogged {
        let _ = conn.query_drop("SET SESSION sql_log_bin = 1").await;
    }
    written.map_err(target.err(format!("INSERT INTO {scratch} (v) VALUES …")))?;
    Ok(WriteSample { rows, bytes, seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_estimate_takes_the_slower_of_reading_and_writing() {
        let read = ReadSample { table: "shop.orders".into(), rows: 10_000, bytes: 10_000 * 1000, seconds: 0.5 };
        // 20k rows/s read: 1M rows take 50 s to read; writing at 100k rows/s takes 10 s.
        let fast = WriteSample { rows: 100_000, bytes: 100_000_000, seconds: 1.0 };
        let (secs, how) = copy_estimate(1_000_000, 0, Some(&read), Some(&fast));
        assert_eq!(secs, 50);
        assert!(
            how.contains("measured reading shop.orders: 20000 rows/s of 1000 bytes") && how.contains("100000 rows/s (95.4 MiB/s)"),
            "{how}"
        );
        // A target that takes 1k rows/s bounds it instead.
        let slow = WriteSample { rows: 2_000, bytes: 2_000_000, seconds: 2.0 };
        assert_eq!(copy_estimate(1_000_000, 0, Some(&read), Some(&slow)).0, 1000);
        // Unmeasured target: the read alone, said so.
        let (secs, how) = copy_estimate(1_000_000, 0, Some(&read), None);
        assert_eq!(secs, 50);
        assert!(how.contains("not measured"), "{how}");
        // Nothing sampled: the assumed rates.
        let (secs, how) = copy_estimate(1_000_000, 0, None, None);
        assert_eq!(secs, 1_000_000 / ASSUMED_ROWS_PER_SECOND);
        assert!(how.contains("assumed"), "{how}");
    }
}
