//! The servers themselves: source-connection, target-connection, source-version,
//! target-version, and version-pair (which pairs ferry's test suite runs).

use crate::db::flavor::{Flavor, Kind};
use crate::db::{Role, Session};
use crate::error::Error;

use super::Check;

/// A product and its release line (major.minor).
pub type Release = (Kind, (u16, u16));

/// The version pairs ferry's test suite runs (`make test`: every suite on MariaDB 10.11 and on
/// MySQL 9.7, and the cross-flavour suite both ways), source first. The `version-pair` item
/// calls these, and only these, tested: keep it in step with the servers the suite starts.
pub const TESTED_PAIRS: &[(Release, Release)] = &[
    ((Kind::MariaDb, (10, 11)), (Kind::MariaDb, (10, 11))),
    ((Kind::MySql, (9, 7)), (Kind::MySql, (9, 7))),
    ((Kind::MySql, (9, 7)), (Kind::MariaDb, (10, 11))),
    ((Kind::MariaDb, (10, 11)), (Kind::MySql, (9, 7))),
];

/// What the `version-pair` item says of a source and a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairVerdict {
    /// In [`TESTED_PAIRS`].
    Tested,
    /// Not run by the suite; `older_target`: the same product, the target's release line older.
    Untested { older_target: bool },
}

/// The `version-pair` verdict: by product and major.minor of each side (patch releases within a
/// tested line count as tested).
pub fn version_pair(source: &Flavor, target: &Flavor) -> PairVerdict {
    let (s, t) = ((source.kind, source.release()), (target.kind, target.release()));
    if TESTED_PAIRS.contains(&(s, t)) {
        return PairVerdict::Tested;
    }
    PairVerdict::Untested { older_target: source.kind == target.kind && target.release() < source.release() }
}

fn release_text((kind, (major, minor)): Release) -> String {
    format!("{} {major}.{minor}", kind.product())
}

fn release_pair(source: &Flavor, target: &Flavor) -> String {
    format!("{} -> {}", release_text((source.kind, source.release())), release_text((target.kind, target.release())))
}

/// "MariaDB 10.11 -> MariaDB 10.11, MySQL 9.7 -> MySQL 9.7, ..."
pub fn tested_pairs_text() -> String {
    TESTED_PAIRS.iter().map(|(s, t)| format!("{} -> {}", release_text(*s), release_text(*t))).collect::<Vec<_>>().join(", ")
}

impl Check<'_> {
    pub(super) async fn connections(&mut self) {
        let (s, t) = tokio::join!(self.source.connect(Session::Control), self.target.connect(Session::Control));
        for (role, res) in [(Role::Source, s), (Role::Target, t)] {
            let id = format!("{}-connection", role.as_str());
            let (server, secret) = match role {
                Role::Source => (&self.source, &self.spec.source.credentials_secret),
                Role::Target => (&self.target, &self.spec.target.credentials_secret),
            };
            let address = server.address.clone();
            match res {
                Ok(mut conn) => {
                    let flavor = Flavor::detect(server, &mut conn).await;
                    match flavor {
                        Ok(f) => {
                            self.pass(&id, format!("connected to {address} ({})", f.version_text));
                            match role {
                                Role::Source => self.src_flavor = Some(f),
                                Role::Target => self.tgt_flavor = Some(f),
                            }
                            match role {
                                Role::Source => self.src = Some(conn),
                                Role::Target => self.tgt = Some(conn),
                            }
                        }
                        Err(e) => self.fail(&id, e.to_string(), "check that the endpoint is a MySQL-compatible server"),
                    }
                }
                Err(e) => {
                    let remedy = if matches!(&e, Error::Connect { message, .. } if message.contains("refused the connection")) {
                        format!(
                            "check the username and password in Secret {secret} and that the user may connect from this host (CREATE USER / GRANT ... TO 'user'@'host')"
                        )
                    } else {
                        format!(
                            "check spec.{}.host and spec.{}.port, and that {address} accepts connections from here",
                            role.as_str(),
                            role.as_str()
                        )
                    };
                    self.fail(&id, e.to_string(), remedy);
                }
            }
        }
    }

    pub(super) fn versions(&mut self) {
        match self.src_flavor.clone() {
            None => self.unreachable(&["source-version"], Role::Source),
            Some(f) => match f.check_supported_source(&self.source) {
                Ok(()) => self.pass("source-version", format!("source {} is supported", f.version_text)),
                Err(e) => self.fail("source-version", e.to_string(), "use a source running MySQL 5.1-8.x or MariaDB 10 or later"),
            },
        }
        match self.tgt_flavor.clone() {
            None => self.unreachable(&["target-version"], Role::Target),
            Some(f) => {
                let ok = match f.kind {
                    Kind::MySql => f.version >= (5, 1, 0),
                    Kind::MariaDb => f.version >= (5, 1, 0),
                };
                if ok {
                    self.pass("target-version", format!("target {} is MySQL-compatible", f.version_text));
                } else {
                    self.fail(
                        "target-version",
                        format!("target version {:?} is not a MySQL 5.1+ or MariaDB server", f.version_text),
                        "use a MySQL 5.1+ or MariaDB target",
                    );
                }
            }
        }
        match (self.src_flavor.clone(), self.tgt_flavor.clone()) {
            (Some(s), Some(t)) => match version_pair(&s, &t) {
                PairVerdict::Tested => self.pass(
                    "version-pair",
                    format!("{} -> {} is a tested pair (ferry's test suite runs {})", s.version_text, t.version_text, release_pair(&s, &t)),
                ),
                PairVerdict::Untested { older_target } => {
                    let why = if older_target {
                        "the target is older than the source: DDL and collations may not exist there"
                    } else {
                        "ferry's test suite does not run it"
                    };
                    self.fail(
                        "version-pair",
                        format!(
                            "{} -> {} is an untested pair ({why}); the tested pairs are {}",
                            s.version_text,
                            t.version_text,
                            tested_pairs_text()
                        ),
                        "run a trial sync of a sample first, or accept with spec.precheck.skip: [version-pair]",
                    );
                }
            },
            _ => self.skip("version-pair", "not checked: a server is not reachable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_pairs_are_tested_only_as_the_suite_runs_them() {
        let f = Flavor::from_version;
        let (maria, mysql) = (f("10.11.19-MariaDB-0+deb12u1-log"), f("9.7.4-2"));
        // The four pairs the suite runs, patch releases of the same lines included.
        for (s, t) in [(&maria, &maria), (&mysql, &mysql), (&mysql, &maria), (&maria, &mysql)] {
            assert_eq!(version_pair(s, t), PairVerdict::Tested, "{} -> {}", s.version_text, t.version_text);
        }
        assert_eq!(version_pair(&f("10.11.2-MariaDB"), &f("10.11.14-MariaDB-log")), PairVerdict::Tested);
        assert_eq!(version_pair(&f("9.7.0"), &f("5.5.5-10.11.6-MariaDB")), PairVerdict::Tested);
        // Anything else is untested, the suite's own flavours in other releases included.
        let untested = PairVerdict::Untested { older_target: false };
        assert_eq!(version_pair(&f("8.0.36"), &f("8.0.36")), untested);
        assert_eq!(version_pair(&f("5.7.44-log"), &mysql), untested);
        assert_eq!(version_pair(&maria, &f("11.8.2-MariaDB-log")), untested);
        assert_eq!(version_pair(&f("10.6.20-MariaDB"), &maria), untested);
        assert_eq!(version_pair(&f("8.0.36"), &maria), untested);
        assert_eq!(version_pair(&f("11.8.2-MariaDB"), &mysql), untested, "other products are never older");
        // The same product into an older line keeps its reason.
        let older = PairVerdict::Untested { older_target: true };
        assert_eq!(version_pair(&f("11.8.2-MariaDB-log"), &maria), older);
        assert_eq!(version_pair(&mysql, &f("8.0.36")), older);
        assert_eq!(version_pair(&mysql, &f("9.6.0")), older);
        assert_eq!(
            tested_pairs_text(),
            "MariaDB 10.11 -> MariaDB 10.11, MySQL 9.7 -> MySQL 9.7, MySQL 9.7 -> MariaDB 10.11, MariaDB 10.11 -> MySQL 9.7"
        );
    }
}
