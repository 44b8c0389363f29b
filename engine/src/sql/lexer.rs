//! A small MySQL/MariaDB lexer. It only has to find identifiers, strings and comments
//! exactly, so that DDL can be rewritten token by token and never by text search.
//!
//! Assumptions: backslash escapes in strings are on (no NO_BACKSLASH_ESCAPES) and
//! ANSI_QUOTES is off, so `"..."` is a string; this is how ferry reads SHOW CREATE.

use std::borrow::Cow;
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare word: a keyword or an unquoted name (also `_utf8mb4` before a string).
    Ident,
    /// A backquoted name, `` `a``b` ``.
    QuotedIdent,
    /// `'...'` or `"..."`.
    String,
    Number,
    /// Operators and punctuation: `.`, `,`, `(`, `)`, `;`, `<=>`, ...
    Punct,
    Whitespace,
    /// `-- ...`, `# ...`, `/* ... */`.
    Comment,
    /// `/*!50001` or `/*M!100100` opening a versioned comment: its content is code
    /// and is tokenized like the rest.
    CondStart,
    /// The `*/` that closes a versioned comment.
    CondEnd,
    /// `@x`, `` @`x` ``, `@'x'`, `@@x`.
    Variable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokenKind,
    pub text: &'a str,
    /// Byte range in the source.
    pub span: Range<usize>,
}

impl Token<'_> {
    /// Whitespace, comments and versioned-comment markers: nothing the grammar sees.
    pub fn is_trivia(&self) -> bool {
        use TokenKind::*;
        matches!(self.kind, Whitespace | Comment | CondStart | CondEnd)
    }

    pub fn is_ident(&self) -> bool {
        matches!(self.kind, TokenKind::Ident | TokenKind::QuotedIdent)
    }

    /// The unquoted name of an identifier token, None for other tokens.
    pub fn ident_name(&self) -> Option<Cow<'_, str>> {
        match self.kind {
            TokenKind::Ident => Some(Cow::Borrowed(self.text)),
            TokenKind::QuotedIdent => {
                let inner = &self.text[1..self.text.len() - 1];
                Some(if inner.contains("``") { Cow::Owned(inner.replace("``", "`")) } else { Cow::Borrowed(inner) })
            }
            _ => None,
        }
    }

    /// A bare word equal to `kw`, ignoring case.
    pub fn is_word(&self, kw: &str) -> bool {
        self.kind == TokenKind::Ident && self.text.eq_ignore_ascii_case(kw)
    }

    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == TokenKind::Punct && self.text == p
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {pos}, near `{near}`")]
pub struct LexError {
    pub what: &'static str,
    pub pos: usize,
    pub near: String,
}

/// Backquotes a name, doubling inner backquotes.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Up to 40 characters of `sql` from byte `pos`, for error messages.
pub(crate) fn excerpt(sql: &str, pos: usize) -> String {
    let mut start = pos.min(sql.len());
    while !sql.is_char_boundary(start) {
        start -= 1;
    }
    let rest = &sql[start..];
    match rest.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &rest[..i]),
        None => rest.to_string(),
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

const PUNCT3: [&str; 2] = ["<=>", "->>"];
const PUNCT2: [&str; 10] = ["<=", ">=", "<>", "!=", ":=", "||", "&&", "<<", ">>", "->"];

/// Splits `sql` into tokens; concatenating their texts gives `sql` back.
pub fn tokenize(sql: &str) -> Result<Vec<Token<'_>>, LexError> {
    let b = sql.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut in_cond = false; // inside /*! ... */
    let err = |what, pos| LexError { what, pos, near: excerpt(sql, pos) };
    while i < b.len() {
        let start = i;
        let c = b[i];
        let next = b.get(i + 1).copied();
        let kind = if c.is_ascii_whitespace() || c == 0x0b {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == 0x0b) {
                i += 1;
            }
            TokenKind::Whitespace
        } else if c == b'#'
            || (c == b'-' && next == Some(b'-') && b.get(i + 2).is_none_or(|&d| d.is_ascii_whitespace() || d.is_ascii_control()))
        {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            TokenKind::Comment
        } else if c == b'/' && next == Some(b'*') {
            let rest = &b[i + 2..];
            let versioned = rest.starts_with(b"!") || rest.starts_with(b"M!");
            if versioned && !in_cond {
                i += if rest[0] == b'M' { 4 } else { 3 };
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                in_cond = true;
                TokenKind::CondStart
            } else {
                match sql[i + 2..].find("*/") {
                    Some(end) => i += 2 + end + 2,
                    None => return Err(err("unterminated comment", start)),
                }
                TokenKind::Comment
            }
        } else if in_cond && c == b'*' && next == Some(b'/') {
            in_cond = false;
            i += 2;
            TokenKind::CondEnd
        } else if c == b'`' || c == b'\'' || c == b'"' {
            i = end_of_quoted(b, i).ok_or_else(|| err("unterminated quoted text", start))?;
            if c == b'`' { TokenKind::QuotedIdent } else { TokenKind::String }
        } else if c == b'@' {
            i = end_of_variable(b, i).ok_or_else(|| err("unterminated quoted text", start))?;
            TokenKind::Variable
        } else if c.is_ascii_digit() {
            let kind;
            (i, kind) = number_or_name(b, i);
            kind
        } else if is_ident_byte(c) {
            while i < b.len() && is_ident_byte(b[i]) {
                i += 1;
            }
            TokenKind::Ident
        } else {
            let rest = &sql[i..];
            i += PUNCT3.iter().chain(PUNCT2.iter()).find(|p| rest.starts_with(*p)).map_or(1, |p| p.len());
            TokenKind::Punct
        };
        toks.push(Token { kind, text: &sql[start..i], span: start..i });
    }
    if in_cond {
        return Err(err("unterminated versioned comment", sql.len()));
    }
    Ok(toks)
}

/// End (exclusive) of the variable at `i` (`@x`, `` @`x` ``, `@'x'`, `@@x`); None when
/// its quoted name is not closed.
fn end_of_variable(b: &[u8], mut i: usize) -> Option<usize> {
    let next = b.get(i + 1).copied();
    i += 1;
    if next == Some(b'@') {
        i += 1;
        while i < b.len() && is_ident_byte(b[i]) {
            i += 1;
        }
    } else if matches!(next, Some(b'`' | b'\'' | b'"')) {
        i = end_of_quoted(b, i)?;
    } else {
        // Unquoted user variables and hosts may contain dots: @192.168.0.1
        while i < b.len() && (is_ident_byte(b[i]) || b[i] == b'.') {
            i += 1;
        }
    }
    Some(i)
}

/// End (exclusive) and kind of the token at `i`, which starts with a digit: a number,
/// or a name that starts with digits (`1col`, `0xZZ`).
fn number_or_name(b: &[u8], start: usize) -> (usize, TokenKind) {
    let mut i = end_of_number(b, start);
    if i < b.len() && is_ident_byte(b[i]) && !b[start..i].contains(&b'.') {
        while i < b.len() && is_ident_byte(b[i]) {
            i += 1;
        }
        (i, TokenKind::Ident)
    } else {
        (i, TokenKind::Number)
    }
}

/// End (exclusive) of the quoted text opening at `i`: backslash escapes, and the quote
/// doubled inside. Backquoted names have no backslash escapes.
fn end_of_quoted(b: &[u8], i: usize) -> Option<usize> {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' && q != b'`' {
            j += 2;
        } else if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
            } else {
                return Some(j + 1);
            }
        } else {
            j += 1;
        }
    }
    None
}

fn end_of_number(b: &[u8], mut i: usize) -> usize {
    let digits = |mut j: usize, f: fn(u8) -> bool| {
        while j < b.len() && f(b[j]) {
            j += 1;
        }
        j
    };
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X' | b'b' | b'B')) {
        let hex = matches!(b[i + 1], b'x' | b'X');
        let f: fn(u8) -> bool = if hex { |c| c.is_ascii_hexdigit() } else { |c| c == b'0' || c == b'1' };
        let j = digits(i + 2, f);
        if j > i + 2 {
            return j;
        }
    }
    i = digits(i, |c| c.is_ascii_digit());
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1, |c| c.is_ascii_digit());
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        if b.get(i + 1 + sign).is_some_and(|c| c.is_ascii_digit()) {
            i = digits(i + 1 + sign, |c| c.is_ascii_digit());
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::TokenKind::*;
    use super::*;

    fn kinds(sql: &str) -> Vec<(TokenKind, &str)> {
        let toks = tokenize(sql).unwrap();
        assert_eq!(toks.iter().map(|t| t.text).collect::<std::string::String>(), sql, "round trip");
        for t in &toks {
            assert_eq!(&sql[t.span.clone()], t.text);
        }
        toks.into_iter().map(|t| (t.kind, t.text)).collect()
    }

    fn significant(sql: &str) -> Vec<(TokenKind, &str)> {
        kinds(sql).into_iter().filter(|(k, _)| !matches!(k, Whitespace)).collect()
    }

    #[test]
    fn basic_statement() {
        assert_eq!(
            significant("SELECT `a``b`, 'it''s \\' x', \"dq\" FROM t1 WHERE x<=>1.5e-3;"),
            vec![
                (Ident, "SELECT"),
                (QuotedIdent, "`a``b`"),
                (Punct, ","),
                (String, "'it''s \\' x'"),
                (Punct, ","),
                (String, "\"dq\""),
                (Ident, "FROM"),
                (Ident, "t1"),
                (Ident, "WHERE"),
                (Ident, "x"),
                (Punct, "<=>"),
                (Number, "1.5e-3"),
                (Punct, ";"),
            ]
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            significant("a -- c1 `x`\nb # c2 'y\n/* c3 ` */ c--d --\n-1"),
            vec![
                (Ident, "a"),
                (Comment, "-- c1 `x`"),
                (Ident, "b"),
                (Comment, "# c2 'y"),
                (Comment, "/* c3 ` */"),
                (Ident, "c"),
                (Punct, "-"),
                (Punct, "-"),
                (Ident, "d"),
                (Comment, "--"),
                (Punct, "-"),
                (Number, "1"),
            ]
        );
        // An optimizer hint is an ordinary comment.
        assert_eq!(kinds("/*+ BKA(t) */")[0].0, Comment);
    }

    #[test]
    fn versioned_comments_are_code() {
        let sql = "/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n/*M!100100 VIEW `v1` AS select 1 /* c */ */;";
        let s = significant(sql);
        assert_eq!(s[0], (CondStart, "/*!50001"));
        assert_eq!(s[1], (Ident, "CREATE"));
        assert_eq!(s[5], (CondEnd, "*/"));
        assert_eq!(s[9], (QuotedIdent, "`root`"));
        assert_eq!(s[10], (Variable, "@`localhost`"));
        assert!(s.contains(&(CondStart, "/*M!100100")));
        assert!(s.contains(&(Comment, "/* c */")));
        assert_eq!(s[s.len() - 2], (CondEnd, "*/"));
        assert!(tokenize("/*!50001 select 1").is_err());
    }

    #[test]
    fn variables_numbers_and_introducers() {
        assert_eq!(
            significant("@a := @@global.max_connections + @'q r' + 0x1F + 0b101 + 1col + _utf8mb4'x' + X'0A'"),
            vec![
                (Variable, "@a"),
                (Punct, ":="),
                (Variable, "@@global"),
                (Punct, "."),
                (Ident, "max_connections"),
                (Punct, "+"),
                (Variable, "@'q r'"),
                (Punct, "+"),
                (Number, "0x1F"),
                (Punct, "+"),
                (Number, "0b101"),
                (Punct, "+"),
                (Ident, "1col"),
                (Punct, "+"),
                (Ident, "_utf8mb4"),
                (String, "'x'"),
                (Punct, "+"),
                (Ident, "X"),
                (String, "'0A'"),
            ]
        );
        assert_eq!(significant("'u'@192.168.0.1")[1], (Variable, "@192.168.0.1"));
    }

    #[test]
    fn unicode_and_round_trip() {
        let sql = "CREATE TABLE `tëst` (`naïve` int COMMENT 'ça `va`', `😀` int) -- fin";
        let s = significant(sql);
        assert_eq!(s[2].0, QuotedIdent);
        assert!(s.contains(&(String, "'ça `va`'")));
        let real = include_str!("testdata/orders.sql");
        kinds(real);
    }

    #[test]
    fn errors() {
        for bad in ["select 'abc", "select `abc", "a /* b", "x = \"a\\\""] {
            let e = tokenize(bad).unwrap_err();
            assert!(e.to_string().contains("unterminated"), "{bad}: {e}");
        }
    }

    #[test]
    fn ident_names_and_quoting() {
        let toks = tokenize("`a``b` c").unwrap();
        assert_eq!(toks[0].ident_name().unwrap(), "a`b");
        assert_eq!(toks[2].ident_name().unwrap(), "c");
        assert_eq!(toks[1].ident_name(), None);
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(quote_ident("plain"), "`plain`");
        let q = quote_ident("x``y`");
        assert_eq!(tokenize(&q).unwrap()[0].ident_name().unwrap(), "x``y`");
    }
}
