//! The operator's Prometheus metrics: reconciles, errors by kind, reconcile durations.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::Error;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub error: String,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    reconciles: Counter,
    errors: Family<ErrorLabels, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ferry_operator");
        let reconciles = Counter::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        // 5 ms to about 20 s.
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register("reconciles", "Reconciles of SyncTasks", reconciles.clone());
        registry.register("reconcile_errors", "Failed reconciles, by kind of error", errors.clone());
        registry.register("reconcile_duration_seconds", "How long one reconcile took", duration.clone());
        Metrics { registry: Arc::new(registry), reconciles, errors, duration }
    }
}

impl Metrics {
    pub fn observe_reconcile(&self, took: Duration) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
    }

    pub fn reconcile_error(&self, e: &Error) {
        self.errors.get_or_create(&ErrorLabels { error: e.metric_label().into() }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_reconciles_errors_and_durations() {
        let m = Metrics::default();
        m.observe_reconcile(Duration::from_millis(12));
        m.reconcile_error(&Error::MissingField("metadata.uid"));
        let text = m.render();
        assert!(text.contains("ferry_operator_reconciles_total 1"), "{text}");
        assert!(text.contains("ferry_operator_reconcile_errors_total{error=\"missing_field\"} 1"), "{text}");
        assert!(text.contains("ferry_operator_reconcile_duration_seconds_count 1"), "{text}");
    }
}
