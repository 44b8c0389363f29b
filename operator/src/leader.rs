//! Optional leader election on a coordination.k8s.io Lease, so that two operator replicas can run
//! with one reconciling. The decision is a pure function; the loop around it keeps the Lease and
//! exits the process when leadership is lost (Kubernetes restarts it as a follower), the usual
//! client-go behaviour: two leaders are worse than a restart.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use tracing::{error, info};

use crate::error::{Error, Result};

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Its holder stopped renewing: take it over.
    TakeOver,
    /// Someone else holds it.
    Wait,
}

pub fn decide(lease: Option<&Lease>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = lease.and_then(|l| l.spec.as_ref()) else {
        return if lease.is_some() { Decision::TakeOver } else { Decision::Create };
    };
    if spec.holder_identity.as_deref() == Some(me) {
        return Decision::Renew;
    }
    let expired = match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(secs)) => renewed.0 + SignedDuration::from_secs(i64::from(secs)) < now,
        _ => true,
    };
    if expired || spec.holder_identity.as_deref().unwrap_or("").is_empty() { Decision::TakeOver } else { Decision::Wait }
}

pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl LeaseLock {
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: &str, duration: Duration) -> Self {
        LeaseLock { api: Api::namespaced(client, namespace), name: name.into(), identity: identity.into(), duration }
    }

    fn spec(&self, previous: Option<&LeaseSpec>, now: Timestamp) -> LeaseSpec {
        let ours = previous.is_some_and(|p| p.holder_identity.as_deref() == Some(&self.identity));
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs() as i32),
            acquire_time: if ours { previous.and_then(|p| p.acquire_time.clone()) } else { Some(MicroTime(now)) },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(previous.and_then(|p| p.lease_transitions).unwrap_or(0) + if ours { 0 } else { 1 }),
            ..Default::default()
        }
    }

    /// One attempt: true when this process holds the Lease afterwards. Conflicts (someone else
    /// wrote the Lease first) are a plain `false`; a replace carries the resourceVersion read.
    pub async fn try_hold(&self) -> Result<bool> {
        let now = Timestamp::now();
        let err = |e: kube::Error| Error::LeaderElection(format!("Lease {}: {e}", self.name));
        let current = self.api.get_opt(&self.name).await.map_err(err)?;
        let result = match decide(current.as_ref(), &self.identity, now) {
            Decision::Wait => return Ok(false),
            Decision::Create => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.name.clone()), ..Default::default() },
                    spec: Some(self.spec(None, now)),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Decision::Renew | Decision::TakeOver => {
                let mut lease = current.expect("decided on an existing Lease");
                lease.spec = Some(self.spec(lease.spec.as_ref(), now));
                self.api.replace(&self.name, &PostParams::default(), &lease).await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(err(e)),
        }
    }

    /// Waits until this process leads.
    pub async fn acquire(&self) {
        loop {
            match self.try_hold().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "leading");
                    return;
                }
                Ok(false) => {}
                Err(e) => error!(error = %e, "leader election"),
            }
            tokio::time::sleep(self.duration / 4).await;
        }
    }

    /// Renews the Lease; returns when it could not be renewed for a whole lease duration.
    pub async fn keep(&self) {
        let mut last_ok = std::time::Instant::now();
        loop {
            tokio::time::sleep(self.duration / 3).await;
            match self.try_hold().await {
                Ok(true) => last_ok = std::time::Instant::now(),
                Ok(false) => {
                    error!(lease = %self.name, "another replica took the Lease");
                    return;
                }
                Err(e) => error!(error = %e, "cannot renew the Lease"),
            }
            if last_ok.elapsed() >= self.duration {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed: &str, secs: i32) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                renew_time: Some(MicroTime(renewed.parse().unwrap())),
                lease_duration_seconds: Some(secs),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn decisions() {
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        assert_eq!(decide(None, "a", now), Decision::Create);
        assert_eq!(decide(Some(&lease("a", "2026-01-01T00:00:00Z", 15)), "a", now), Decision::Renew);
        assert_eq!(decide(Some(&lease("b", "2026-01-01T00:00:55Z", 15)), "a", now), Decision::Wait);
        assert_eq!(decide(Some(&lease("b", "2026-01-01T00:00:00Z", 15)), "a", now), Decision::TakeOver);
        assert_eq!(decide(Some(&lease("", "2026-01-01T00:00:55Z", 15)), "a", now), Decision::TakeOver);
    }
}
