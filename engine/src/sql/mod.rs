//! SQL text handling for DDL copied from the source: a MySQL/MariaDB lexer and the
//! token-level rewrites that apply ferry's name mapping. Pure code, no I/O.

pub mod ddl;
pub mod lexer;
pub mod rewrite;

pub use ddl::{
    AlterClause, AlterTable, Ddl, DdlKind, ObjName, RoutineKind, Shadow, ShadowRole, is_osc_trigger, objects, parse_ddl, retain_objects,
    rewrite_alter_selected_columns, rewrite_ddl, shadow_of,
};
pub use lexer::{LexError, Token, TokenKind, quote_ident, tokenize};
pub use rewrite::{
    NameMap, RewriteError, rewrite_create_table, rewrite_references, select_columns_create_table, split_secondary_indexes, strip_definer,
};
