//! SQL text handling for DDL copied from the source: a MySQL/MariaDB lexer and the
//! token-level rewrites that apply ferry's name mapping. Pure code, no I/O.

pub mod lexer;
pub mod rewrite;

pub use lexer::{LexError, Token, TokenKind, quote_ident, tokenize};
pub use rewrite::{
    NameMap, RewriteError, rewrite_create_table, rewrite_references, select_columns_create_table,
    split_secondary_indexes, strip_definer,
};
