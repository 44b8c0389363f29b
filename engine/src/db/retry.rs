//! The engine's one retry policy: how long to wait after a transient error (a lost connection,
//! a restarting server, a deadlock), and the wait itself, told in the status and cut short by a
//! stop. The run (schema sync and copy) and the binlog player retry through it; opening a
//! session retries briefly by it too.

use std::time::Duration;

use tracing::warn;

use crate::error::{Error, Result};
use crate::status::Reporter;
use crate::stop::Stop;

/// Waits between retries after transient errors: 250 ms doubling to 10 s, back to 250 ms once an
/// attempt has run for 30 s (a long healthy run followed by one hiccup retries quickly).
pub struct Backoff {
    first: Duration,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { first: Duration::from_millis(250), next: Duration::from_millis(250) }
    }
}

impl Backoff {
    /// While opening one session: 300 ms, then 600 ms (a server that is restarting).
    pub fn connecting() -> Self {
        Backoff { first: Duration::from_millis(300), next: Duration::from_millis(300) }
    }

    /// The wait before the next attempt, given how long the failed one ran.
    pub fn after(&mut self, ran_for: Duration) -> Duration {
        if ran_for > Duration::from_secs(30) {
            self.next = self.first;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(10));
        wait
    }
}

/// After a transient error: waits as `backoff` says (the status's message names the error), or
/// returns `Interrupted` when a stop comes first.
pub async fn wait_before_retry(backoff: &mut Backoff, ran_for: Duration, error: &Error, reporter: &Reporter, stop: &Stop) -> Result<()> {
    let wait = backoff.after(ran_for);
    warn!(error = %error, retry_in = ?wait, "retrying after a transient error, from what the target has committed");
    reporter.update(|s| s.message = Some(format!("retrying in {wait:?} after: {error}")));
    let mut stop = stop.clone();
    tokio::select! {
        _ = tokio::time::sleep(wait) => Ok(()),
        _ = stop.wait() => Err(Error::Interrupted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_ten_seconds_and_starts_over_after_a_long_run() {
        let mut b = Backoff::default();
        let short = Duration::from_secs(1);
        let waits: Vec<u64> = (0..8).map(|_| b.after(short).as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
        assert_eq!(b.after(Duration::from_secs(31)), Duration::from_millis(250));
        assert_eq!(b.after(short), Duration::from_millis(500));
    }

    #[test]
    fn connecting_backs_off_from_300_ms() {
        let mut b = Backoff::connecting();
        assert_eq!([b.after(Duration::ZERO), b.after(Duration::ZERO)], [Duration::from_millis(300), Duration::from_millis(600)]);
    }
}
