//! ferry's own records on the target, committed next to the data they describe.

pub mod meta;
pub mod session;
pub mod tracker;
