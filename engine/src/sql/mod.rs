//! SQL text handling for DDL copied from the source: pure code, no I/O.
//!
//! - [`lexer`]: MySQL/MariaDB tokens; everything below works on them, so strings and
//!   comments are never rewritten.
//! - [`cursor`]: a statement's significant tokens and the [`cursor::Cursor`] every
//!   parser walks them with (named steps: `expect`, `optional`, `qualified_name`,
//!   `balanced`, `split_commas`, ...).
//! - [`table_def`]: the one walker of table definitions (columns, keys, constraints,
//!   REFERENCES, partitioning), shared by schema sync and DDL replay.
//! - [`rewrite`]: schema sync's CREATE TABLE rewrites of SHOW CREATE TABLE output
//!   (names, selected columns, deferred indexes, inherited collations).
//! - [`references`]: views, routines, triggers and events: their table references,
//!   DEFINER clauses.
//! - [`ddl`]: one DDL statement from the binlog: what it is, which objects it names,
//!   and the statement mapped for the target.
//! - [`osc`]: gh-ost and pt-online-schema-change helper tables and triggers.
//! - [`names`]: [`NameMap`], the renames all of the above apply; [`edit`]: the byte
//!   edits they make.

mod cursor;
pub mod ddl;
mod edit;
pub mod lexer;
mod names;
pub mod osc;
pub mod references;
pub mod rewrite;
mod table_def;

pub use ddl::{
    AlterClause, AlterTable, Ddl, DdlKind, ObjName, RoutineKind, objects, parse_ddl, retain_objects, rewrite_alter_selected_columns,
    rewrite_ddl,
};
pub use lexer::{LexError, Token, TokenKind, quote_ident, tokenize};
pub use names::NameMap;
pub use osc::{Shadow, ShadowRole, is_osc_trigger, shadow_of};
pub use references::{rewrite_references, strip_definer};
pub use rewrite::{rewrite_create_table, select_columns_create_table, split_secondary_indexes};

/// Why a statement cannot be parsed or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    #[error(transparent)]
    Lex(#[from] LexError),
    /// The statement is not in a form these functions understand.
    #[error("cannot understand {what}, near `{near}`")]
    Parse { what: String, near: String },
    /// Understood, but the change asked for cannot be made safely.
    #[error("{what}, near `{near}`")]
    Conflict { what: String, near: String },
}
