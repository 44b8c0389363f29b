//! ferry's data plane: the parts `ferry run` and the engine pod share.
//!
//! Data flows one way: source (catalog, snapshot) → mapping → copier → target, with ferry's own
//! records (meta) committed on the target next to the rows they describe.

pub mod applier;
pub mod binlog;
pub mod catalog;
pub mod copier;
pub mod db;
pub mod error;
pub mod flavor;
pub mod kube;
pub mod manifest;
pub mod mapping;
pub mod meta;
pub mod player;
pub mod precheck;
pub mod run;
pub mod schema;
pub mod selection;
pub mod sql;
pub mod status;
pub mod tracker;

pub use error::{Error, Result};
