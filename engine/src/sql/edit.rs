//! [`Edits`]: replacements at byte ranges of a statement, collected while walking its
//! tokens and applied in one pass, so that everything not replaced stays byte for byte.

use std::ops::Range;

use super::cursor::Sql;
use super::lexer::quote_ident;

/// Replacements at byte ranges, applied at the end in one pass.
#[derive(Default)]
pub(super) struct Edits(Vec<(Range<usize>, String)>);

impl Edits {
    pub(super) fn replace(&mut self, span: Range<usize>, text: String) {
        self.0.push((span, text));
    }

    /// Replaces the identifier at sig index `s` by `new` when the name changes.
    pub(super) fn rename(&mut self, q: &Sql, s: usize, new: &str) {
        if q.name(s) != new {
            self.replace(q.span(s), quote_ident(new));
        }
    }

    /// `src` with the edits applied; of two edits of the same range the first wins, and an edit
    /// overlapping an earlier one is left out.
    pub(super) fn apply(self, src: &str) -> String {
        self.apply_in(src, 0..src.len())
    }

    /// `src[range]` with the edits inside it applied (edits crossing it are ignored).
    pub(super) fn apply_in(&self, src: &str, range: Range<usize>) -> String {
        let mut edits: Vec<&(Range<usize>, String)> = self.0.iter().filter(|(r, _)| r.start >= range.start && r.end <= range.end).collect();
        edits.sort_by_key(|(r, _)| (r.start, r.end));
        edits.dedup_by(|a, b| a.0 == b.0);
        let mut out = String::new();
        let mut at = range.start;
        for (r, text) in edits {
            if r.start < at {
                continue;
            }
            out.push_str(&src[at..r.start]);
            out.push_str(text);
            at = r.end;
        }
        out.push_str(&src[at..range.end]);
        out
    }
}

/// `` `db`.`name` ``.
pub(super) fn qualified(db: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(db), quote_ident(name))
}
