//! binlog-retention: the source's binlog must outlive the full sync, as `estimate` reckons it.

use std::collections::BTreeMap;

use crate::db::Role;

use super::estimate::copy_estimate;
use super::{Check, global_vars, is_on};

/// Retention must cover twice the estimate plus this, in seconds.
pub const RETENTION_MARGIN_SECONDS: u64 = 3600;

impl Check<'_> {
    /// Item 4: the binlog must outlive the full sync.
    pub(super) async fn retention(&mut self) {
        let id = "binlog-retention";
        if !self.spec.incremental {
            return self.skip(id, "incremental: false: the binlog is not read");
        }
        let (Some(mut src), Some(f)) = (self.src.take(), self.src_flavor.clone()) else {
            return self.unreachable(&[id], Role::Source);
        };
        let source = self.source.clone();
        let vars =
            global_vars(&source, &mut src, &["expire_logs_days", "binlog_expire_logs_seconds", "binlog_expire_logs_auto_purge"]).await;
        self.src = Some(src);
        let vars = match vars {
            Ok(v) => v,
            Err(e) => return self.broken(id, e),
        };
        let (retention, auto_purge) = retention_seconds(&vars);
        let (needed, basis) = self.full_sync_estimate().await;
        if retention == 0 {
            let how = if auto_purge { "" } else { " (binlog_expire_logs_auto_purge is OFF)" };
            return self.pass(id, format!("binlogs never expire on {}{how}; {basis}", source.address));
        }
        if retention >= needed {
            self.pass(id, format!("binlogs are kept {}; {basis}", human(retention)));
        } else {
            let remedy = if f.retention_in_seconds() {
                format!("SET GLOBAL binlog_expire_logs_seconds = {needed}; and the same in the server's config")
            } else {
                format!("SET GLOBAL expire_logs_days = {}; and the same in the server's config", needed.div_ceil(86400))
            };
            self.fail(
                id,
                format!(
                    "binlogs expire after {} on {}: shorter than the full sync may take, and a task that outlives its binlog has to start over; {basis}",
                    human(retention),
                    source.address
                ),
                remedy,
            );
        }
    }

    /// The retention the full sync needs (twice its estimate plus the margin), and what it
    /// reckoned from.
    async fn full_sync_estimate(&mut self) -> (u64, String) {
        let rows: u64 = self.tables.iter().map(|t| t.rows).sum();
        let bytes: u64 = self.tables.iter().map(|t| t.bytes).sum();
        let read = if self.spec.initial_sync.data && rows > 0 { self.source_sample().await } else { None };
        let (estimate, how) = if !self.spec.initial_sync.data {
            (0, "initialSync.data: false: no rows are copied".to_string())
        } else if rows == 0 {
            (0, "the selected tables are empty".to_string())
        } else {
            copy_estimate(rows, bytes, read.as_ref(), self.target_write.as_ref())
        };
        let needed = estimate * 2 + RETENTION_MARGIN_SECONDS;
        let basis = format!(
            "estimated full sync {} ({rows} rows, {} MiB; {how}); needed at least twice that plus 1 h: {}",
            human(estimate),
            bytes >> 20,
            human(needed)
        );
        (needed, basis)
    }
}

/// How long the source keeps its binlogs, in seconds (0: for ever), and whether it purges them by
/// itself at all.
fn retention_seconds(vars: &BTreeMap<String, String>) -> (u64, bool) {
    let secs = vars.get("binlog_expire_logs_seconds").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let days = vars.get("expire_logs_days").and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // MySQL 8.0.29+: with binlog_expire_logs_auto_purge OFF nothing expires by itself.
    let auto_purge = vars.get("binlog_expire_logs_auto_purge").is_none_or(|v| is_on(Some(v)));
    let retention = if !auto_purge {
        0
    } else if secs > 0 {
        secs
    } else {
        (days * 86400.0) as u64
    };
    (retention, auto_purge)
}

fn human(secs: u64) -> String {
    if secs >= 86400 {
        format!("{:.1} d", secs as f64 / 86400.0)
    } else if secs >= 3600 {
        format!("{:.1} h", secs as f64 / 3600.0)
    } else {
        format!("{secs} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_reads_seconds_then_days_unless_nothing_purges() {
        let vars = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        assert_eq!(retention_seconds(&vars(&[("binlog_expire_logs_seconds", "7200"), ("expire_logs_days", "3")])), (7200, true));
        assert_eq!(retention_seconds(&vars(&[("binlog_expire_logs_seconds", "0"), ("expire_logs_days", "1.5")])), (129_600, true));
        assert_eq!(retention_seconds(&vars(&[("expire_logs_days", "0")])), (0, true));
        let off = vars(&[("binlog_expire_logs_seconds", "7200"), ("binlog_expire_logs_auto_purge", "OFF")]);
        assert_eq!(retention_seconds(&off), (0, false));
        assert_eq!((human(59), human(5400), human(172_800)), ("59 s".to_string(), "1.5 h".to_string(), "2.0 d".to_string()));
    }
}
