//! The ferry operator: turns each SyncTask into a precheck Job, then one engine workload, and
//! keeps the task's status true.
//!
//! # Reconcile
//! dereference → validate → build → apply → status, in [`reconcile`]:
//! 1. The object is read through `DeserializeGuard`: one malformed SyncTask gets a `Malformed`
//!    status and event and never stops the controller.
//! 2. A finalizer (`ferry.dev/cleanup`) makes deletion stop the engine and remove the Jobs first
//!    (owner references would also collect them); the target's data is never touched.
//! 3. Validation beyond the CRD's schema and CEL rules: the engine's own spec checks, then the
//!    rules across tasks ([`conflicts`]: one target table written by two tasks without
//!    `merge: true` on its table mapping in both, and replication cycles). A refused task waits
//!    for a change.
//! 4. `spec.suspend` scales the engine to zero (the checkpoint lives on the target) and waits.
//! 5. The precheck: a Job named after a hash of the spec ([`build::precheck_hash`]), so that a
//!    spec change, or a new `ferry.dev/recheck` annotation, runs a new one. While the new spec is
//!    checked the engine is stopped. The Job's pod prints its report (`status.precheck`, JSON)
//!    as its termination message, where the operator reads it: the pod needs no write access,
//!    and the report has one writer.
//! 6. The engine: a StatefulSet of one replica running `ferry sync`; its pod template carries a
//!    hash of the spec, so a changed object list restarts the engine, which resumes incremental
//!    sync from its checkpoint and copies newly added tables. Credentials are Secret volumes.
//!    `spec.cutover.requested` restarts it the same way (the engine then carries out the
//!    cutover), while the precheck's hash leaves `verification` and `cutover` out: no new check.
//!
//! # Who writes which status field
//! Both write with server-side apply, each with its own field manager, so neither clears the
//! other's fields:
//! - `ferry-operator`: `phase`, `message`, `conditions` (PrecheckPassed, Ready, Progressing,
//!   Degraded, Suspended, Verified, CutoverReady; lastTransitionTime kept unless the status
//!   flips), `observedGeneration`, `precheck`, `children`. Written only when one of them changed.
//! - `ferry-engine` (the engine pod): `schemaSync`, `fullSync`, `checkpoint`, `lagSeconds`,
//!   `incrementalSync`, `schemaChanges`, `verification`, `cutover`, and `engine` (its stage,
//!   message, the generation it runs, a heartbeat). The operator derives `phase` from
//!   `engine.phase` when `engine.observedGeneration` is current, and Verified and CutoverReady
//!   from `verification`, `cutover`, `lagSeconds` and `schemaChanges`.
//!
//! # Events
//! One per phase change, and per notable condition change: DifferencesFound (Warning, Verified
//! turned False), CutoverReady, CutoverDone, CutoverFailed (Warning).

pub mod build;
pub mod conflicts;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod status;

#[cfg(test)]
pub(crate) mod testing;

pub use error::{Error, Result};
