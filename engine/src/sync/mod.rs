//! The phases of a task: schema sync, full copy, and the binlog replay with its applier.

pub mod applier;
pub mod changed_keys;
pub mod copier;
pub mod player;
pub mod schema;
