//! ferry's data plane: the parts `ferry run` and the engine pod share.
//!
//! Layers, lowest first; a module uses only those below it (and `ferry_crds`):
//!
//! - `error`, `codes`, `stop`, `status`, `sql`: the error type and the server error numbers it
//!   acts on, a signal's stop, the status a run reports, and the SQL front end (lexer, DDL parser, name rewrites) that needs no server.
//! - `db`: a server behind a narrow session type (`db::Server`: connect, session setup, retries),
//!   the flavour differences (`db::flavor`), the catalog reads (`db::catalog`).
//! - `codec`: how each column's values are written (SQL literals, LOAD DATA text), derived once
//!   per column from the catalog.
//! - `plan`: what the task moves: tables resolved from the spec and the source catalog
//!   (`plan::mapping`), and the live selection the binlog replay follows (`plan::selection`).
//! - `source`: the binlog stream, decoded (`source::binlog`).
//! - `target`: ferry's records on the target (`target::meta`: copy plan, checkpoint, slots,
//!   the task lock) and its copies of the source's table definitions (`target::tracker`).
//! - `sync`: the phases: schema sync (`sync::schema`), full copy (`sync::copier`), row changes
//!   applied in groups (`sync::applier`), the binlog replay (`sync::player`).
//! - `verify`: source and target compared through the task's mapping, and repaired.
//! - `precheck`: every check a task starts with.
//! - `task`: a run from a manifest (`task::manifest`, `task::run`) and the engine pod (`task::kube`).
//!
//! The path of a row change: `source::binlog` decodes it → `sync::player` maps it through
//! `plan::selection` (names, columns by `target::tracker` where the binlog names none) into a lane
//! → `sync::applier` folds and writes it with the lane's slot positions (`target::meta`).

pub mod codec;
pub mod codes;
pub mod db;
pub mod error;
pub mod plan;
pub mod precheck;
pub mod source;
pub mod sql;
pub mod status;
pub mod stop;
pub mod sync;
pub mod target;
pub mod task;
pub mod verify;

pub use error::{Error, Result};
