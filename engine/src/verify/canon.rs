//! The canonical form verification compares: one text per value that is the same on MySQL and
//! MariaDB for the same data, computed by the servers for chunk checksums and by ferry for the
//! row-level diff (which decides: a checksum that differs only because the two servers print a
//! value differently costs a row-level pass, never a reported difference).

use std::fmt::Write as _;

use mysql_async::Value;

use crate::codec::TemporalText;
use crate::db::catalog::Column;
use crate::db::q;

/// How a column's values are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canon {
    /// Integers, DECIMAL, YEAR, ENUM/SET as text: the decimal text.
    Number,
    /// FLOAT and DOUBLE: the exact bits (the text forms of the two products may differ).
    Float,
    /// Character strings: the bytes.
    Bytes,
    /// Binary strings, BLOBs, geometry, VECTOR: the bytes (which may hold any byte, NUL too).
    Binary,
    /// JSON: the parsed document (MySQL normalizes its JSON, MariaDB keeps the text).
    Json,
    /// DATE, DATETIME, TIMESTAMP, TIME: the text in a UTC session.
    Temporal,
    /// BIT: the number.
    Bit,
}

impl Canon {
    pub fn of(c: &Column) -> Canon {
        match c.data_type.as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "decimal" | "year" => Canon::Number,
            "float" | "double" => Canon::Float,
            "json" => Canon::Json,
            "date" | "datetime" | "timestamp" | "time" => Canon::Temporal,
            "bit" => Canon::Bit,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
                if c.charset.as_deref().is_some_and(|cs| cs != "binary") =>
            {
                Canon::Bytes
            }
            // Binary strings, BLOBs, geometry, VECTOR. (MariaDB's JSON is a LONGTEXT whose check
            // constraint says so: compared as text, it is what ferry wrote, the same text MySQL
            // prints.)
            _ => Canon::Binary,
        }
    }

    /// The column's canonical text as a SQL expression (`name` quoted), for the servers'
    /// checksums: equal text for equal values wherever both products print them alike.
    pub fn sql(self, name: &str) -> String {
        let c = q(name);
        match self {
            Canon::Number | Canon::Temporal | Canon::Float | Canon::Json => format!("CAST({c} AS CHAR)"),
            Canon::Bit => format!("CAST({c} AS UNSIGNED)"),
            Canon::Bytes | Canon::Binary => format!("HEX({c})"),
        }
    }

    /// The column's text for a range checksum (`name` quoted), joined with a binary separator
    /// (so strings enter as their stored bytes, converted to nothing, and no mix of collations
    /// can fail): the column itself, BIT as its number.
    pub fn checksum_sql(self, name: &str) -> String {
        match self {
            Canon::Bit => self.sql(name),
            _ => q(name),
        }
    }

    /// The canonical bytes of a value read through the binary protocol (UTC session).
    pub fn value(self, v: &Value) -> Vec<u8> {
        // A tag first: NULL is no text at all, so no string (not even "\0NULL") can equal it.
        let mut out = vec![u8::from(*v != Value::NULL)];
        match v {
            Value::NULL => {}
            Value::Int(i) => {
                let _ = write!(Text(&mut out), "{i}");
            }
            Value::UInt(u) => {
                let _ = write!(Text(&mut out), "{u}");
            }
            Value::Float(f) => {
                let _ = write!(Text(&mut out), "f{:08x}", f.to_bits());
            }
            Value::Double(d) => {
                let _ = write!(Text(&mut out), "d{:016x}", d.to_bits());
            }
            Value::Bytes(b) if self == Canon::Json => out.extend_from_slice(&json_canonical(b)),
            Value::Bytes(b) if self == Canon::Bit => {
                let n = b.iter().fold(0u128, |a, x| (a << 8) | *x as u128);
                let _ = write!(Text(&mut out), "{n}");
            }
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Date(..) | Value::Time(..) => {
                let date_only = matches!(v, Value::Date(_, _, _, 0, 0, 0, 0));
                // A DATE and a DATETIME at midnight print alike in this form on both sides.
                let _ = write!(Text(&mut out), "{}", TemporalText { value: v, date_only, fsp: 6 });
            }
        }
        out
    }
}

/// A JSON document with its object keys sorted and no insignificant space; text that does not
/// parse stays as it is.
fn json_canonical(b: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(b) {
        // serde_json's maps are sorted by key (no preserve_order feature).
        Ok(v) => serde_json::to_vec(&v).unwrap_or_else(|_| b.to_vec()),
        Err(_) => b.to_vec(),
    }
}

/// `fmt::Write` into bytes.
struct Text<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A key's values as text for reports: `id=5`, `(a=1, b=x)`.
pub fn key_text(names: &[String], values: &[Value]) -> String {
    let parts: Vec<String> = names.iter().zip(values).map(|(n, v)| format!("{n}={}", value_text(v))).collect();
    if parts.len() == 1 { parts.into_iter().next().unwrap_or_default() } else { format!("({})", parts.join(", ")) }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
            _ => format!("0x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        },
        Value::Date(..) | Value::Time(..) => TemporalText { value: v, date_only: false, fsp: 6 }.to_string(),
        other => other.as_sql(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(data_type: &str) -> Column {
        Column {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: data_type.into(),
            nullable: true,
            generated: false,
            fsp: 0,
            charset: None,
            ordinal: 0,
        }
    }

    /// Values that are equal compare equal whatever form each side sent them in; values that
    /// differ never do.
    #[test]
    fn canonical_values() {
        let json = Canon::of(&column("json"));
        // MySQL prints its normalized text; MariaDB keeps what was written.
        assert_eq!(
            json.value(&Value::Bytes(br#"{"b": 1, "a": [1, 2]}"#.to_vec())),
            json.value(&Value::Bytes(br#"{"a":[1,2],"b":1}"#.to_vec()))
        );
        assert_ne!(json.value(&Value::Bytes(br#"{"a": 1}"#.to_vec())), json.value(&Value::Bytes(br#"{"a": 2}"#.to_vec())));
        let float = Canon::of(&column("double"));
        assert_ne!(float.value(&Value::Double(0.1)), float.value(&Value::Double(0.1 + f64::EPSILON)));
        let bit = Canon::of(&column("bit"));
        assert_eq!(bit.value(&Value::Bytes(vec![0, 1])), bit.value(&Value::Bytes(vec![1])));
        let n = Canon::of(&column("int"));
        assert_ne!(n.value(&Value::NULL), n.value(&Value::Bytes(b"\0NULL".to_vec())), "NULL is not a value");
        assert_eq!(n.value(&Value::Int(7)), n.value(&Value::UInt(7)));
        let t = Canon::of(&column("datetime"));
        assert_ne!(t.value(&Value::Date(2024, 1, 2, 3, 4, 5, 1)), t.value(&Value::Date(2024, 1, 2, 3, 4, 5, 0)));
    }

    #[test]
    fn binary_strings_are_told_from_character_strings() {
        let text = Column { charset: Some("utf8mb4".into()), ..column("varchar") };
        assert_eq!(Canon::of(&text), Canon::Bytes);
        assert_eq!(Canon::of(&column("varbinary")), Canon::Binary);
        assert_eq!(Canon::of(&column("blob")), Canon::Binary);
        assert_eq!(Canon::of(&column("point")), Canon::Binary);
        // Checksums read the column itself, joined with a binary separator; BIT as a number.
        assert_eq!(Canon::Bytes.checksum_sql("a`b"), "`a``b`");
        assert_eq!(Canon::Bit.checksum_sql("b"), "CAST(`b` AS UNSIGNED)");
    }

    #[test]
    fn keys_for_reports() {
        let names = vec!["a".to_string(), "b".to_string()];
        assert_eq!(key_text(&names[..1], &[Value::Int(5)]), "a=5");
        assert_eq!(key_text(&names, &[Value::Int(1), Value::Bytes(b"x".to_vec())]), "(a=1, b=x)");
        assert_eq!(key_text(&names[..1], &[Value::Bytes(vec![0, 255])]), "a=0x00ff");
    }
}
