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
    },

    #[error("{role} {endpoint}: {context}: {source}")]
    Server {
        role: &'static str,
        endpoint: String,
        context: String,
        #[source]
        source: mysql_async::Error,
    },

    #[error("{object}: {message}")]
    Object { object: String, message: String },

    #[error("state file {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("interrupted; run the same command again to resume from the last committed range")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn object(object: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Object { object: object.into(), message: message.into() }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), message: message.into() }
    }
}
