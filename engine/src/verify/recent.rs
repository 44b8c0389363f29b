//! The check of rows the binlog changed lately (continuous verification): the keys the player
//! recorded, compared row by row in rounds exactly as a key range that differs (so a change still
//! in flight is never reported), and repaired when asked.

use std::collections::BTreeMap;

use ferry_crds::VerificationStatus;
use tracing::{Instrument, info, info_span};

use super::compare::{self, KeySet, Range};
use super::{Plan, VerifyOptions, examples, open, summary, table_report};
use crate::db::Session;
use crate::error::Result;
use crate::sync::changed_keys::DueKeys;
use ferry_crds::manifest::Task;

/// Keys compared per query.
const KEYS_PER_QUERY: usize = 500;

/// Compares the rows of `due` (by source `db`, `table`) between source and target; tables the
/// task no longer selects are left out.
pub async fn verify_changed(task: &Task, due: &BTreeMap<(String, String), DueKeys>, options: &VerifyOptions) -> Result<VerificationStatus> {
    let span = info_span!("verify_changed", task = %task.id());
    async {
        let (ctx, plans, mut src) = open(task, options).await?;
        let mut tables = Vec::new();
        let mut src_read = ctx.source.connect(Session::RawRead).await?;
        let mut tgt_read = ctx.target.connect(Session::RawRead).await?;
        for plan in &plans {
            let Some(keys) = due.get(&(plan.map.src_db.clone(), plan.map.src_table.clone())) else { continue };
            let Some(columns) = key_columns(plan, &keys.columns) else { continue };
            let mut report = table_report(plan);
            let mut kinds = BTreeMap::new();
            for batch in keys.keys.chunks(KEYS_PER_QUERY) {
                let range = Range { keys: Some(KeySet { columns: columns.clone(), keys: batch.to_vec() }), ..Default::default() };
                report.chunks += 1;
                report.rows_compared += batch.len() as u64;
                compare::settle(&ctx, (&mut src, &mut src_read, &mut tgt_read), plan, &range, (&mut report, &mut kinds)).await?;
            }
            report.examples = examples(&kinds, options.examples);
            tables.push(report);
        }
        for c in [src, src_read, tgt_read] {
            let _ = c.disconnect().await;
        }
        let status = summary(tables);
        info!(rows = status.rows_compared, differences = status.differences, "changed rows checked");
        Ok(status)
    }
    .instrument(span)
    .await
}

/// The (source, target) names of the recorded key's columns (target names), when the plan
/// compares them all.
fn key_columns(plan: &Plan, target_names: &[String]) -> Option<Vec<(String, String)>> {
    target_names.iter().map(|t| plan.columns.iter().find(|(_, dst, _)| dst == t).map(|(s, dst, _)| (s.clone(), dst.clone()))).collect()
}
