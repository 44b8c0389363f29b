//! The source side: its binlog, read as a replica and decoded.

pub mod binlog;
