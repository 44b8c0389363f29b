//! A session on the target: its connection, the server its errors name, and the transaction open
//! on it. A transaction is a [`Tx`] token: committed or rolled back explicitly, and when dropped
//! unfinished (an early return, a `?`), rolled back before the session's next transaction starts.
//! The copy's workers, the replay's lanes and ferry's own records open transactions only through
//! here, so the transaction rules (and what a failed COMMIT means) live in one place.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mysql_async::Conn;
use mysql_async::prelude::*;

use crate::db::{Server, Session};
use crate::error::Result;

/// A target connection with the server it belongs to.
pub struct TargetSession {
    server: Server,
    conn: Conn,
    /// Set by a [`Tx`] dropped unfinished: the server still holds its transaction open.
    rollback_pending: Arc<AtomicBool>,
}

/// An open transaction of a [`TargetSession`]; rolled back if dropped unfinished.
#[must_use = "a transaction is committed or rolled back; dropped, it is rolled back"]
pub struct Tx {
    open: bool,
    pending: Arc<AtomicBool>,
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            self.pending.store(true, Ordering::SeqCst);
        }
    }
}

impl TargetSession {
    /// Opens a session on `server` (see [`Server::connect`]).
    pub async fn open(server: &Server, session: Session) -> Result<Self> {
        Ok(Self::wrap(server.clone(), server.connect(session).await?))
    }

    pub fn wrap(server: Server, conn: Conn) -> Self {
        TargetSession { server, conn, rollback_pending: Arc::new(AtomicBool::new(false)) }
    }

    /// The connection, for statements inside the open transaction or outside any.
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// The server and the connection, for the functions that take both.
    pub fn parts(&mut self) -> (&Server, &mut Conn) {
        (&self.server, &mut self.conn)
    }

    /// Starts a transaction, first rolling back one a dropped [`Tx`] left open.
    pub async fn begin(&mut self) -> Result<Tx> {
        self.settle().await?;
        self.conn.query_drop("START TRANSACTION").await.map_err(self.server.err("START TRANSACTION"))?;
        Ok(Tx { open: true, pending: self.rollback_pending.clone() })
    }

    /// Commits `tx`. On an error the server has rolled it back (or the connection is gone).
    pub async fn commit(&mut self, mut tx: Tx, what: &str) -> Result<()> {
        tx.open = false;
        self.conn.query_drop("COMMIT").await.map_err(self.server.err(format!("committing {what}")))
    }

    /// Rolls `tx` back; a failure leaves nothing to undo (the connection is gone with it).
    pub async fn rollback(&mut self, mut tx: Tx) {
        tx.open = false;
        let _ = self.conn.query_drop("ROLLBACK").await;
    }

    /// Rolls back what a dropped [`Tx`] left open.
    async fn settle(&mut self) -> Result<()> {
        if self.rollback_pending.swap(false, Ordering::SeqCst) {
            self.conn.query_drop("ROLLBACK").await.map_err(self.server.err("ROLLBACK"))?;
        }
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.conn.disconnect().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token dropped unfinished marks its session for a rollback; one finished does not.
    #[test]
    fn dropped_transactions_are_rolled_back_later() {
        let pending = Arc::new(AtomicBool::new(false));
        drop(Tx { open: true, pending: pending.clone() });
        assert!(pending.swap(false, Ordering::SeqCst), "a dropped open transaction is rolled back next");
        let mut done = Tx { open: true, pending: pending.clone() };
        done.open = false;
        drop(done);
        assert!(!pending.load(Ordering::SeqCst), "a finished one is not");
    }
}
