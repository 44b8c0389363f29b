//! The operator's one error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed; `action` says which (e.g. "apply Job t1-precheck-..").
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: Box<kube::Error>,
    },

    #[error("the object has no {0}")]
    MissingField(&'static str),

    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    #[error("metrics endpoint: {0}")]
    Metrics(#[source] std::io::Error),

    #[error("leader election: {0}")]
    LeaderElection(String),
}

impl Error {
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
        let action = action.into();
        move |source| Error::Kube { action, source: Box::new(source) }
    }

    /// A short label for the errors metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::MissingField(_) => "missing_field",
            Error::Finalizer(_) => "finalizer",
            Error::Metrics(_) => "metrics",
            Error::LeaderElection(_) => "leader_election",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
