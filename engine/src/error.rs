//! The engine's one error type. Every variant names the thing the user has to look at: the file
//! and field, the server endpoint, or the table.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },

    #[error("{field}: {message}")]
    Invalid { field: String, message: String },

    #[error("{role} {endpoint}: {message}")]
    Connect {
        role: &'static str,
        endpoint: String,
        message: String,
        /// Worth retrying: the network or the server was away, not a refusal.
        transient: bool,
    },

    #[error("{role} {endpoint}: {context}: {source}")]
    Server {
        role: &'static str,
        endpoint: String,
        context: String,
        // Boxed: the driver's error is large, and every Result of the crate carries this enum.
        #[source]
        source: Box<mysql_async::Error>,
    },

    /// The binlog position to resume from is gone from the source (purged, or never there).
    #[error("{role} {endpoint}: the binlog position {position} is no longer on the source ({message}); the task needs a new initial sync")]
    BinlogPurged { role: &'static str, endpoint: String, position: String, message: String },

    /// The source's binlog stream cannot be read on (bad settings, unsupported events, a stolen
    /// replica server id).
    #[error("{role} {endpoint}: binlog at {position}: {message}")]
    Binlog { role: &'static str, endpoint: String, position: String, message: String },

    #[error("{object}: {message}")]
    Object { object: String, message: String },

    /// A schema change that cannot be replayed on the target (onDdlError: Fail).
    #[error(
        "schema change at binlog {position} not replayed: {reason}; statement: {statement} (set spec.onDdlError: Skip to go on without it)"
    )]
    SchemaChange { position: String, statement: String, reason: String },

    #[error("state file {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("another ferry engine is running task {task} against this target ({holder}); only one may apply at a time")]
    TaskLocked { task: String, holder: String },

    #[error("another ferry engine took over this task (its checkpoint row was claimed since this engine started); this one stops")]
    Fenced,

    /// A Kubernetes API call of the engine pod (`ferry sync`) failed.
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: Box<kube::Error>,
    },

    #[error("interrupted; run the same command again to resume: everything committed (copied ranges, the checkpoint) is kept")]
    Interrupted,

    /// An error-level precheck item failed (all of them, on one line, with their remedies).
    #[error("precheck failed: {failures}")]
    Precheck { failures: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Errors that a reconnect can cure: lost connections, servers restarting, lock timeouts.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { transient, .. } => *transient,
            Error::Server { source, .. } => match source.as_ref() {
                mysql_async::Error::Io(_) => true,
                mysql_async::Error::Driver(_) => true,
                mysql_async::Error::Server(e) => crate::codes::TRANSIENT.contains(&e.code),
                _ => false,
            },
            _ => false,
        }
    }

    pub fn object(object: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Object { object: object.into(), message: message.into() }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), message: message.into() }
    }
}

impl From<ferry_crds::validate::Invalid> for Error {
    fn from(e: ferry_crds::validate::Invalid) -> Self {
        Error::Invalid { field: e.field, message: e.message }
    }
}

impl From<ferry_crds::manifest::ManifestError> for Error {
    fn from(e: ferry_crds::manifest::ManifestError) -> Self {
        Error::Manifest { path: e.path, message: e.message }
    }
}
