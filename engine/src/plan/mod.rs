//! What the task moves: resolved once from the spec and the source catalog, and its live view
//! during the binlog replay.

pub mod mapping;
pub mod selection;
