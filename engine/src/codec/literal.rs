//! Values as SQL literals that mean exactly them, in a statement built as bytes (strings are
//! written raw in their own character set).

use std::fmt::Write as _;

use mysql_async::Value;

use super::Codec;
use super::temporal::TemporalText;

/// A value as a SQL literal that means exactly it, for the target column's type. Strings carry
/// their character set as an introducer, so raw bytes are stored unchanged and key comparisons
/// still use the column's collation (and its index).
pub fn literal(sql: &mut SqlBytes, codec: &Codec, v: &Value) {
    match v {
        Value::NULL => sql.push_str("NULL"),
        Value::Int(i) => {
            let _ = match codec {
                Codec::Unsigned(bytes) if *i < 0 => write!(sql, "{}", *i as i128 + (1i128 << (8 * *bytes as u32))),
                _ => write!(sql, "{i}"),
            };
        }
        Value::UInt(u) => {
            let _ = write!(sql, "{u}");
        }
        Value::Float(f) => {
            let _ = write!(sql, "{:e}", *f as f64);
        }
        Value::Double(d) => {
            let _ = write!(sql, "{d:e}");
        }
        Value::Bytes(b) => match codec {
            Codec::Bit => {
                let n = b.iter().fold(0u64, |a, x| (a << 8) | *x as u64);
                let _ = write!(sql, "{n}");
            }
            Codec::Number if b.iter().all(|c| c.is_ascii_digit() || b"+-.eE".contains(c)) && !b.is_empty() => {
                sql.0.extend_from_slice(b);
            }
            Codec::Json => {
                sql.push_str("CAST(_utf8mb4");
                quoted(sql, b);
                sql.push_str(" AS JSON)");
            }
            Codec::Str(cs) => {
                sql.push('_');
                sql.push_str(cs);
                quoted(sql, b);
            }
            Codec::AnyText => {
                sql.push_str(if std::str::from_utf8(b).is_ok() { "_utf8mb4" } else { "_binary" });
                quoted(sql, b);
            }
            Codec::FixedBinary(n) if b.len() < *n => {
                let mut padded = b.clone();
                padded.resize(*n, 0);
                sql.push_str("_binary");
                quoted(sql, &padded);
            }
            _ => {
                sql.push_str("_binary");
                quoted(sql, b);
            }
        },
        Value::Date(..) | Value::Time(..) => {
            let _ = write!(sql, "'{}'", TemporalText { value: v, date_only: *codec == Codec::Date, fsp: 6 });
        }
    }
}

/// Appends `'...'` with MySQL's backslash escapes (ferry's sessions never set NO_BACKSLASH_ESCAPES).
/// Raw bytes of any character set pass unchanged: the escapes are ASCII, and in the utf8mb4
/// statement no byte of a multi-byte sequence is ASCII, so none can swallow a quote.
fn quoted(sql: &mut SqlBytes, b: &[u8]) {
    sql.0.push(b'\'');
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            0 => b"\\0",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\\' => b"\\\\",
            b'\'' => b"\\'",
            0x1a => b"\\Z",
            _ => continue,
        };
        sql.0.extend_from_slice(&b[start..i]);
        sql.0.extend_from_slice(esc);
        start = i + 1;
    }
    sql.0.extend_from_slice(&b[start..]);
    sql.0.push(b'\'');
}

/// Statement text as bytes: string values are written raw, in their own character set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SqlBytes(pub Vec<u8>);

impl SqlBytes {
    pub fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
    pub fn push(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.0.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }
    pub fn push_sql(&mut self, s: &SqlBytes) {
        self.0.extend_from_slice(&s.0);
    }
    /// Adds `(key)` to a `head WHERE (k1) OR (k2) ...` statement, starting it when empty.
    pub fn push_or_key(&mut self, head: std::fmt::Arguments<'_>, key: &SqlBytes) {
        if self.is_empty() {
            let _ = std::fmt::Write::write_fmt(self, head);
            self.push_str(" WHERE (");
        } else {
            self.push_str(" OR (");
        }
        self.push_sql(key);
        self.push(')');
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl std::fmt::Write for SqlBytes {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}
