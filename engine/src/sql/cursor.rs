//! Token access for every parser of the SQL front end.
//!
//! [`Sql`] holds a statement's tokens and the indices of its significant ones ("sig"
//! indices: no whitespace, comments or versioned-comment markers, so the code inside
//! `/*!80016 ... */` is seen like any other). Names the parsers find are recorded as sig
//! indices, and edits are made on the byte spans of those tokens.
//!
//! [`Cursor`] walks a range of sig indices with named steps: [`Cursor::expect`],
//! [`Cursor::optional`], [`Cursor::optional_seq`], [`Cursor::qualified_name`],
//! [`Cursor::balanced`], [`Cursor::until`], [`Cursor::split_commas`], ... A step that
//! matches a keyword matches a bare word in any case or a punctuation token exactly,
//! never a backquoted name or a string, so `` `key` `` is not the keyword KEY.

use std::ops::Range;

use super::RewriteError;
use super::lexer::{LexError, Token, TokenKind, excerpt, tokenize};

/// Tokens plus the indices of the significant ones (no whitespace or comments).
pub(super) struct Sql<'a> {
    pub(super) src: &'a str,
    pub(super) toks: Vec<Token<'a>>,
    pub(super) sig: Vec<usize>,
}

/// A dotted name: `a`, `a`.`b`, `a`.`b`.`c`, optionally ending in `.*`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Chain {
    /// Sig indices of the names.
    pub(super) parts: Vec<usize>,
    pub(super) star: bool,
    /// First sig index after the chain.
    pub(super) end: usize,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Chain{:?}", self.parts)
    }
}

/// Whether `t` is the keyword or punctuation `w`: a bare word in any case, or the
/// punctuation token itself.
fn is(t: &Token, w: &str) -> bool {
    t.is_word(w) || t.is_punct(w)
}

impl<'a> Sql<'a> {
    pub(super) fn new(src: &'a str) -> Result<Self, LexError> {
        let toks = tokenize(src)?;
        let sig = (0..toks.len()).filter(|&i| !toks[i].is_trivia()).collect();
        Ok(Sql { src, toks, sig })
    }

    pub(super) fn len(&self) -> usize {
        self.sig.len()
    }

    pub(super) fn tok(&self, s: usize) -> Option<&Token<'a>> {
        self.sig.get(s).map(|&i| &self.toks[i])
    }

    pub(super) fn word(&self, s: usize, kw: &str) -> bool {
        self.tok(s).is_some_and(|t| t.is_word(kw))
    }

    pub(super) fn punct(&self, s: usize, p: &str) -> bool {
        self.tok(s).is_some_and(|t| t.is_punct(p))
    }

    pub(super) fn is_ident(&self, s: usize) -> bool {
        self.tok(s).is_some_and(Token::is_ident)
    }

    /// A backquoted name.
    pub(super) fn is_quoted(&self, s: usize) -> bool {
        self.tok(s).is_some_and(|t| t.kind == TokenKind::QuotedIdent)
    }

    /// Lowercased text of a bare word, "" for anything else.
    pub(super) fn lower_word(&self, s: usize) -> String {
        match self.tok(s) {
            Some(t) if t.kind == TokenKind::Ident => t.text.to_ascii_lowercase(),
            _ => String::new(),
        }
    }

    /// The unquoted name of an identifier, "" for anything else.
    pub(super) fn name(&self, s: usize) -> String {
        self.tok(s).and_then(Token::ident_name).map(|n| n.into_owned()).unwrap_or_default()
    }

    pub(super) fn span(&self, s: usize) -> Range<usize> {
        self.tok(s).map_or(self.src.len()..self.src.len(), |t| t.span.clone())
    }

    pub(super) fn near(&self, s: usize) -> String {
        excerpt(self.src, self.span(s).start)
    }

    pub(super) fn parse_err(&self, what: &str, s: usize) -> RewriteError {
        RewriteError::Parse { what: what.into(), near: self.near(s) }
    }

    pub(super) fn conflict(&self, what: String, s: usize) -> RewriteError {
        RewriteError::Conflict { what, near: self.near(s) }
    }

    /// Whether `s` begins a dotted name (is an identifier, not a chain's second or third part).
    pub(super) fn starts_chain(&self, s: usize) -> bool {
        self.is_ident(s) && !(s > 0 && self.punct(s - 1, "."))
    }

    pub(super) fn chain_span(&self, c: &Chain) -> Range<usize> {
        self.span(c.parts[0]).start..self.span(*c.parts.last().unwrap()).end
    }

    /// Source bytes of sig tokens `first..=last` and what trails them up to the next
    /// significant token, without the whitespace before it: a comment or a versioned
    /// comment (`KEY k (a) /*!80000 INVISIBLE */`) stays with the tokens before it.
    pub(super) fn text_with_trailing(&self, first: usize, last: usize) -> Range<usize> {
        let mut raw_end = self.sig.get(last + 1).map_or(self.toks.len(), |&i| i) - 1;
        while self.toks[raw_end].kind == TokenKind::Whitespace {
            raw_end -= 1;
        }
        self.span(first).start..self.toks[raw_end].span.end
    }

    /// Bytes of sig tokens `first..=last` and the whitespace before them, up to the
    /// previous token (code or comment): what to cut to remove them.
    pub(super) fn removal(&self, first: usize, last: usize) -> Range<usize> {
        let mut raw = self.sig[first];
        while raw > 0 && self.toks[raw - 1].kind == TokenKind::Whitespace {
            raw -= 1;
        }
        self.toks[raw].span.start..self.span(last).end
    }
}

/// A position in a range of sig indices of a [`Sql`], moved by named steps. Cheap to
/// copy: save one to look ahead without committing.
#[derive(Clone, Copy)]
pub(super) struct Cursor<'q, 'a> {
    q: &'q Sql<'a>,
    pos: usize,
    /// Exclusive bound: the cursor sees nothing at or after it.
    end: usize,
}

impl<'q, 'a> Cursor<'q, 'a> {
    /// The whole statement.
    pub(super) fn new(q: &'q Sql<'a>) -> Self {
        Cursor { q, pos: 0, end: q.len() }
    }

    /// The whole statement without its final `;` (or several).
    pub(super) fn statement(q: &'q Sql<'a>) -> Self {
        let mut end = q.len();
        while end > 0 && q.punct(end - 1, ";") {
            end -= 1;
        }
        Cursor { q, pos: 0, end }
    }

    /// From sig index `pos` to the end of the statement.
    pub(super) fn at(q: &'q Sql<'a>, pos: usize) -> Self {
        Cursor { q, pos, end: q.len() }
    }

    pub(super) fn sql(&self) -> &'q Sql<'a> {
        self.q
    }

    /// Sig index of the current token.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    /// The same range from sig index `pos`.
    pub(super) fn from(&self, pos: usize) -> Self {
        Cursor { pos, ..*self }
    }

    /// What is left of this cursor's range, up to (not including) sig index `end`.
    pub(super) fn upto(&self, end: usize) -> Self {
        Cursor { end: end.min(self.end), ..*self }
    }

    /// The last `n` tokens of the range (whatever the position): `back(2)` at
    /// `START TRANSACTION` ending a statement.
    pub(super) fn back(&self, n: usize) -> Self {
        self.from(self.end.saturating_sub(n))
    }

    /// The next `n` tokens at most.
    pub(super) fn limit(&self, n: usize) -> Self {
        self.upto(self.pos.saturating_add(n))
    }

    /// The current token, None at the end.
    pub(super) fn peek(&self) -> Option<&'q Token<'a>> {
        self.peek_at(0)
    }

    /// The token `n` places ahead, None past the end.
    pub(super) fn peek_at(&self, n: usize) -> Option<&'q Token<'a>> {
        let s = self.pos + n;
        if s < self.end { self.q.tok(s) } else { None }
    }

    /// Whether the current token is the keyword or punctuation `w`.
    pub(super) fn is(&self, w: &str) -> bool {
        self.is_at(0, w)
    }

    /// Whether the token `n` places ahead is the keyword or punctuation `w`.
    pub(super) fn is_at(&self, n: usize, w: &str) -> bool {
        self.peek_at(n).is_some_and(|t| is(t, w))
    }

    /// Whether the current token is one of `ws`.
    pub(super) fn is_any(&self, ws: &[&str]) -> bool {
        ws.iter().any(|w| self.is(w))
    }

    /// Whether the tokens from here are `ws`, in order.
    pub(super) fn is_seq(&self, ws: &[&str]) -> bool {
        ws.iter().enumerate().all(|(n, w)| self.is_at(n, w))
    }

    /// Whether the token before the current one is the keyword or punctuation `w`
    /// (whatever the range: a look behind).
    pub(super) fn follows(&self, w: &str) -> bool {
        self.pos > 0 && self.q.tok(self.pos - 1).is_some_and(|t| is(t, w))
    }

    /// Lowercased bare word before the current token (whatever the range: a look
    /// behind), "" for anything else or at the start.
    pub(super) fn prev_word(&self) -> String {
        if self.pos == 0 { String::new() } else { self.q.lower_word(self.pos - 1) }
    }

    /// Lowercased current bare word, "" for anything else or at the end.
    pub(super) fn word(&self) -> String {
        if self.at_end() { String::new() } else { self.q.lower_word(self.pos) }
    }

    /// Whether the current token is a name (bare or backquoted).
    pub(super) fn is_ident(&self) -> bool {
        !self.at_end() && self.q.is_ident(self.pos)
    }

    /// Whether the current token is a backquoted name.
    pub(super) fn is_quoted(&self) -> bool {
        !self.at_end() && self.q.is_quoted(self.pos)
    }

    /// Moves past the current token and returns its sig index; None at the end.
    pub(super) fn next(&mut self) -> Option<usize> {
        if self.at_end() {
            return None;
        }
        self.pos += 1;
        Some(self.pos - 1)
    }

    /// Moves past the keyword or punctuation `w` when it is the current token.
    pub(super) fn optional(&mut self, w: &str) -> bool {
        let found = self.is(w);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Moves past the current token when it is one of `ws`.
    pub(super) fn optional_any(&mut self, ws: &[&str]) -> bool {
        let found = self.is_any(ws);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Moves past `ws` when the tokens from here are all of them, in order; otherwise
    /// stays where it is.
    pub(super) fn optional_seq(&mut self, ws: &[&str]) -> bool {
        let found = self.is_seq(ws);
        if found {
            self.pos += ws.len();
        }
        found
    }

    /// Moves past the keyword or punctuation `w`, or fails: "cannot understand `what`".
    pub(super) fn expect(&mut self, w: &str, what: &str) -> Result<usize, RewriteError> {
        if self.is(w) { Ok(self.next().unwrap()) } else { Err(self.err(what)) }
    }

    /// Moves past a name (bare or backquoted) and returns its sig index.
    pub(super) fn ident(&mut self) -> Option<usize> {
        if self.is_ident() { self.next() } else { None }
    }

    /// Moves past a name, or fails: "cannot understand `what`".
    pub(super) fn expect_ident(&mut self, what: &str) -> Result<usize, RewriteError> {
        self.ident().ok_or_else(|| self.err(what))
    }

    /// Moves past the dotted name that starts here (`a`, `a`.`b`, `a`.`b`.`c`, `a`.*),
    /// within the range. None, without moving, when no name starts here (the current
    /// token is not a name, or is the second part of one).
    pub(super) fn qualified_name(&mut self) -> Option<Chain> {
        if self.at_end() || !self.q.starts_chain(self.pos) {
            return None;
        }
        let c = self.chain();
        self.pos = c.end;
        Some(c)
    }

    /// The dotted name from the current token, which must be a name.
    fn chain(&self) -> Chain {
        let mut c = Chain { parts: vec![self.pos], star: false, end: self.pos + 1 };
        while self.from(c.end).is(".") {
            let after = self.from(c.end + 1);
            if after.is_ident() {
                c.parts.push(c.end + 1);
                c.end += 2;
            } else {
                if after.is("*") {
                    c.star = true;
                    c.end += 2;
                }
                break;
            }
        }
        c
    }

    /// At `(`: moves past the parenthesised group (nested groups included) and returns
    /// a cursor over its inside. None, without moving, when the current token is not `(`
    /// or the group is not closed within the range.
    pub(super) fn balanced(&mut self) -> Option<Self> {
        if !self.is("(") {
            return None;
        }
        let mut depth = 0usize;
        for s in self.pos..self.end {
            if self.q.punct(s, "(") {
                depth += 1;
            } else if self.q.punct(s, ")") {
                depth -= 1;
                if depth == 0 {
                    let inside = Cursor { q: self.q, pos: self.pos + 1, end: s };
                    self.pos = s + 1;
                    return Some(inside);
                }
            }
        }
        None
    }

    /// At `(`: the inside of the parenthesised group, as [`Cursor::balanced`], except
    /// that a group not closed within the range runs to its end (moving there). None,
    /// without moving, when the current token is not `(`.
    pub(super) fn group(&mut self) -> Option<Self> {
        if !self.is("(") {
            return None;
        }
        self.balanced().or_else(|| {
            let inside = Cursor { pos: self.pos + 1, ..*self };
            self.pos = self.end;
            Some(inside)
        })
    }

    /// Sig index of the first token from here for which `pred` holds (given a cursor
    /// there, so it may look ahead); does not move.
    pub(super) fn find(&self, pred: impl Fn(&Self) -> bool) -> Option<usize> {
        (self.pos..self.end).find(|&s| pred(&self.from(s)))
    }

    /// Moves to the first token for which `pred` holds and returns its sig index, or
    /// to the end of the range and returns None.
    pub(super) fn until(&mut self, pred: impl Fn(&Self) -> bool) -> Option<usize> {
        let found = self.find(pred);
        self.pos = found.unwrap_or(self.end.max(self.pos));
        found
    }

    /// Sig indices of the tokens left, in order.
    pub(super) fn indices(&self) -> Range<usize> {
        self.pos..self.end.max(self.pos)
    }

    /// What is left, split at the commas outside parentheses: one cursor per element
    /// (an empty one for an empty element), at least one.
    pub(super) fn split_commas(&self) -> Vec<Self> {
        let (mut out, mut depth, mut start) = (Vec::new(), 0i32, self.pos);
        for s in self.indices() {
            if self.q.punct(s, "(") {
                depth += 1;
            } else if self.q.punct(s, ")") {
                depth -= 1;
            } else if depth == 0 && self.q.punct(s, ",") {
                out.push(Cursor { q: self.q, pos: start, end: s });
                start = s + 1;
            }
        }
        out.push(Cursor { q: self.q, pos: start, end: self.end.max(start) });
        out
    }

    /// "cannot understand `what`" near the current token.
    pub(super) fn err(&self, what: &str) -> RewriteError {
        self.q.parse_err(what, self.pos)
    }

    /// Sig index of the last token of the range (the one before `end`).
    pub(super) fn last(&self) -> usize {
        self.end.saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(s: &str) -> Sql<'_> {
        Sql::new(s).unwrap()
    }

    /// Texts of the sig tokens a cursor has left.
    fn rest(c: &Cursor) -> Vec<String> {
        c.indices().map(|s| c.sql().tok(s).unwrap().text.to_string()).collect()
    }

    #[test]
    fn significant_tokens_skip_comments_but_not_versioned_code() {
        let q = sql("CREATE /* c */ TABLE -- x\n t /*!80016 NOT ENFORCED */ # y\n;");
        let c = Cursor::new(&q);
        assert_eq!(rest(&c), ["CREATE", "TABLE", "t", "NOT", "ENFORCED", ";"]);
        assert_eq!(rest(&Cursor::statement(&q)), ["CREATE", "TABLE", "t", "NOT", "ENFORCED"]);
        assert_eq!(Cursor::statement(&sql("DROP TABLE t;; ;")).indices(), 0..3);
        assert!(Cursor::new(&sql("/* only */ -- comments")).at_end());
    }

    #[test]
    fn optional_matches_words_in_any_case_and_punctuation_never_names_or_strings() {
        let q = sql("if `if` 'if' If = =");
        let mut c = Cursor::new(&q);
        assert!(c.optional("IF"));
        assert!(!c.optional("IF"), "a backquoted name is not a keyword");
        assert!(c.is_quoted() && c.is_ident());
        c.next();
        assert!(!c.optional("IF"), "a string is not a keyword");
        c.next();
        assert!(c.optional("if"));
        assert!(c.optional("="));
        assert!(!c.optional("=="), "punctuation matches exactly");
        assert!(c.optional("="));
        assert!(c.at_end() && !c.optional("IF"));
    }

    #[test]
    fn optional_seq_is_all_or_nothing() {
        let q = sql("IF /* between */ NOT -- and\n EXISTS t");
        let mut c = Cursor::new(&q);
        assert!(!c.optional_seq(&["IF", "EXISTS"]));
        assert_eq!(c.pos(), 0, "a partial match does not move");
        assert!(c.optional_seq(&["IF", "NOT", "EXISTS"]));
        assert_eq!(c.word(), "t");
        assert!(!c.optional_seq(&["t", "x"]), "the sequence may not run past the end");
        assert_eq!(c.word(), "t");
        assert!(c.optional_seq(&[]));
        // MySQL's versioned IF NOT EXISTS is code.
        let q = sql("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `d`");
        let mut c = Cursor::new(&q);
        assert!(c.optional_seq(&["CREATE", "DATABASE", "IF", "NOT", "EXISTS"]));
        assert_eq!(c.sql().name(c.ident().unwrap()), "d");
    }

    #[test]
    fn optional_any_and_back() {
        let q = sql("ONLINE x CREATE TABLE t START TRANSACTION");
        let mut c = Cursor::new(&q);
        assert!(c.optional_any(&["OFFLINE", "ONLINE"]));
        assert!(!c.optional_any(&["OFFLINE", "ONLINE"]) && c.word() == "x");
        assert!(!c.optional_any(&[]));
        assert!(c.back(2).is_seq(&["START", "TRANSACTION"]));
        assert!(c.back(1).is("TRANSACTION") && !c.back(1).is_seq(&["TRANSACTION", "x"]));
        assert!(c.upto(3).back(1).is("CREATE"), "the end of the range, not of the statement");
        assert_eq!(c.back(99).pos(), 0);
    }

    #[test]
    fn expect_and_end_of_input() {
        let q = sql("ALTER TABLE");
        let mut c = Cursor::new(&q);
        assert_eq!(c.expect("alter", "ALTER").unwrap(), 0);
        let e = c.expect("VIEW", "ALTER VIEW").unwrap_err();
        assert_eq!(e.to_string(), "cannot understand ALTER VIEW, near `TABLE`");
        assert_eq!(c.pos(), 1, "a failed expect does not move");
        assert_eq!(c.expect("TABLE", "ALTER TABLE").unwrap(), 1);
        let e = c.expect_ident("table name").unwrap_err();
        assert_eq!(e.to_string(), "cannot understand table name, near ``");
        assert_eq!((c.next(), c.peek(), c.word(), c.ident()), (None, None, String::new(), None));
        assert!(c.qualified_name().is_none() && c.balanced().is_none());
        assert_eq!(c.split_commas().len(), 1);
        assert!(c.split_commas()[0].at_end());
    }

    #[test]
    fn qualified_names() {
        let q = sql("`d` . /* c */ `t`.c2, a.*, x.y.z.w, 1, t.`*`");
        let mut c = Cursor::new(&q);
        let n = c.qualified_name().unwrap();
        assert_eq!(n.parts.iter().map(|&s| q.name(s)).collect::<Vec<_>>(), ["d", "t", "c2"]);
        assert!(!n.star);
        assert_eq!(&q.src[q.chain_span(&n)], "`d` . /* c */ `t`.c2");
        assert!(c.optional(","));
        let n = c.qualified_name().unwrap();
        assert!(n.star && n.parts.len() == 1);
        assert!(c.optional(","));
        assert_eq!(c.qualified_name().unwrap().parts.len(), 4);
        assert!(c.optional(","));
        assert!(c.qualified_name().is_none(), "a number starts no name");
        c.next();
        assert!(c.optional(","));
        let n = c.qualified_name().unwrap();
        assert_eq!(n.parts.iter().map(|&s| q.name(s)).collect::<Vec<_>>(), ["t", "*"], "a backquoted star is a name");
        // The second part of a name starts none; the range bounds the name.
        let q = sql("a.b.c");
        assert!(Cursor::new(&q).from(2).qualified_name().is_none());
        let mut c = Cursor::new(&q).upto(3);
        assert_eq!(c.qualified_name().unwrap().parts, [0, 2]);
        assert!(c.at_end());
        // A trailing dot is not part of the name.
        let q = sql("a. ,");
        let mut c = Cursor::new(&q);
        assert_eq!(c.qualified_name().unwrap().end, 1);
        assert!(c.is("."));
    }

    #[test]
    fn balanced_groups() {
        let q = sql("(a, (b, ')'), `)` /* ) */) x (unclosed (y)");
        let mut c = Cursor::new(&q);
        let inside = c.balanced().unwrap();
        assert_eq!(rest(&inside), ["a", ",", "(", "b", ",", "')'", ")", ",", "`)`"]);
        assert_eq!(c.word(), "x");
        assert!(c.balanced().is_none(), "not at (");
        assert_eq!(c.word(), "x");
        c.next();
        let before = c.pos();
        assert!(c.balanced().is_none(), "not closed");
        assert_eq!(c.pos(), before, "an unclosed group does not move");
        // The range bounds the group.
        let q = sql("(a) b");
        assert!(Cursor::new(&q).upto(2).balanced().is_none());
        let mut c = Cursor::new(&q);
        assert!(!c.balanced().unwrap().at_end() && c.word() == "b");
        let q = sql("()");
        assert!(Cursor::new(&q).balanced().unwrap().at_end());
    }

    #[test]
    fn group_runs_to_the_end_when_not_closed() {
        let q = sql("(a (b) c x");
        let mut c = Cursor::new(&q);
        let inside = c.group().unwrap();
        assert_eq!(rest(&inside), ["a", "(", "b", ")", "c", "x"]);
        assert!(c.at_end());
        let q = sql("(a) b");
        let mut c = Cursor::new(&q);
        assert_eq!(rest(&c.group().unwrap()), ["a"]);
        assert!(c.is("b") && c.group().is_none() && c.is("b"));
    }

    #[test]
    fn split_commas_at_depth_zero() {
        let q = sql("a int, KEY (a, b), , c enum('x,y') ,");
        let parts: Vec<Vec<String>> = Cursor::new(&q).split_commas().iter().map(rest).collect();
        assert_eq!(
            parts,
            vec![vec!["a", "int"], vec!["KEY", "(", "a", ",", "b", ")"], vec![], vec!["c", "enum", "(", "'x,y'", ")"], vec![]]
        );
        // From the cursor's position, within its range.
        let q = sql("x a, b y");
        let parts = Cursor::new(&q).from(1).upto(4).split_commas();
        assert_eq!(parts.iter().map(rest).collect::<Vec<_>>(), vec![vec!["a"], vec!["b"]]);
        assert_eq!((parts[1].pos(), parts[1].last()), (3, 3));
    }

    #[test]
    fn find_and_until_look_ahead_without_leaving_the_range() {
        let q = sql("ENGINE=InnoDB PARTITION p, PARTITION BY HASH (a) x");
        let by = |c: &Cursor| c.is_seq(&["PARTITION", "BY"]);
        let mut c = Cursor::new(&q);
        assert_eq!(c.find(by), Some(6));
        assert_eq!(c.pos(), 0, "find does not move");
        assert_eq!(c.until(by), Some(6));
        assert_eq!(c.pos(), 6);
        assert_eq!(c.until(|c| c.is("(")), Some(9));
        assert_eq!(c.until(|c| c.is("nothing")), None);
        assert!(c.at_end());
        // PARTITION BY with BY past the range is not found.
        assert_eq!(Cursor::new(&q).upto(7).find(by), None);
        assert_eq!(Cursor::new(&q).limit(3).find(|c| c.is("InnoDB")), Some(2));
        assert_eq!(Cursor::new(&q).limit(2).find(|c| c.is("InnoDB")), None);
    }

    #[test]
    fn follows_looks_behind() {
        let q = sql("DEFAULT (1) AS (2)");
        let mut c = Cursor::new(&q);
        assert!(!c.follows("DEFAULT"));
        c.next();
        assert!(c.follows("DEFAULT") && c.is("("));
        c.balanced();
        c.next();
        assert!(c.follows("AS") && c.prev_word() == "as");
        assert_eq!(Cursor::new(&q).prev_word(), "");
        assert_eq!(Cursor::new(&q).from(2).prev_word(), "", "not a word");
    }

    #[test]
    fn text_and_removal_spans() {
        let q = sql("(a int /*!80023 INVISIBLE */ , b int -- c\n)");
        // `a int INVISIBLE` keeps its versioned comment; `b int` its line comment.
        assert_eq!(&q.src[q.text_with_trailing(1, 3)], "a int /*!80023 INVISIBLE */");
        assert_eq!(&q.src[q.text_with_trailing(5, 6)], "b int -- c");
        assert_eq!(&q.src[q.removal(5, 6)], " b int");
    }
}
