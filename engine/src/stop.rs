//! A stop asked for by Ctrl-C or SIGTERM, as the run and the binlog player see it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// A stop asked for by a signal. The copy stops at once (its committed ranges are kept); the
/// binlog player finishes the source transaction it is reading, commits what its lanes hold and
/// moves every slot's position to that point, so that the next start replays nothing and the
/// checkpoint's binlog is the newest the source has (a resume by GTID needs the binlog of no older
/// file). [`Stop::draining`] says whether waiting for that is worth it.
#[derive(Clone)]
pub struct Stop {
    requested: watch::Receiver<bool>,
    draining: Arc<AtomicBool>,
}

/// The signal handler's side of a [`Stop`].
pub struct StopHandle {
    request: watch::Sender<bool>,
    draining: Arc<AtomicBool>,
}

impl Stop {
    pub fn new() -> (StopHandle, Stop) {
        let (tx, rx) = watch::channel(false);
        let draining = Arc::new(AtomicBool::new(false));
        (StopHandle { request: tx, draining: draining.clone() }, Stop { requested: rx, draining })
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        *self.requested.borrow()
    }

    /// Resolves once a stop is asked for (at once if it was).
    pub async fn wait(&mut self) {
        let _ = self.requested.wait_for(|r| *r).await;
    }

    /// Marks that a stop will be answered by a drain (the player runs).
    pub(crate) fn set_draining(&self, on: bool) {
        self.draining.store(on, Ordering::SeqCst);
    }
}

impl StopHandle {
    /// Asks the run to stop; true when it will drain (wait for it, a bounded while), false when
    /// stopping at once loses nothing.
    pub fn request(&self) -> bool {
        let _ = self.request.send(true);
        self.draining.load(Ordering::SeqCst)
    }
}
