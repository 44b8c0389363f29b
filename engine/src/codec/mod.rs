//! How each column's values are written: a codec derived once per column from the catalog
//! (`Codec::of`), owning the column's SQL literal (the applier's statements, the copy's INSERTs)
//! and its LOAD DATA text (the copy's streams), so both paths spell a value the same way and
//! decide its character set in one place.
//!
//! Values come from the source as the driver and the binlog reader hand them out (see
//! `source::binlog`: integers by signedness, DECIMAL as exact text, temporals as dates and times,
//! strings as raw bytes in their own character set, BIT as big-endian bytes, JSON as text).
//! Decoding the binlog's row images stays with the reader: it follows the binlog's own table
//! maps, not the catalog.

pub mod literal;
pub mod load_text;
pub mod temporal;

pub use literal::{SqlBytes, literal};
pub use load_text::load_text;
pub use temporal::TemporalText;

use crate::db::catalog::Column;

/// How one column's values are spelt.
#[derive(Clone, Debug, PartialEq)]
pub enum Codec {
    /// Integers, floats, DECIMAL text, ENUM index, SET bitmask.
    Number,
    /// YEAR: a number in a literal (`0` is the year 0000, `'0'` would be 2000), four digits in
    /// LOAD DATA text.
    Year,
    /// An UNSIGNED integer column of this many bytes: a source that logs no signedness
    /// (MariaDB's binlog_row_metadata=NO_LOG) hands its upper half over as negative numbers.
    Unsigned(u8),
    /// A string in this character set (`binary` for binary strings and geometry).
    Str(String),
    /// Text of a column ferry does not describe (one a row filter names but the task does not
    /// copy): utf8mb4 when its bytes are UTF-8, binary otherwise.
    AnyText,
    /// MySQL's JSON type.
    Json,
    Bit,
    /// BINARY(n): the binlog drops the trailing zero bytes the column pads with.
    FixedBinary(usize),
    Date,
    /// DATETIME and TIMESTAMP, with the column's fractional digits (literals write all six).
    DateTime(u32),
    /// TIME, with the column's fractional digits (literals write all six).
    Time(u32),
}

impl Codec {
    pub fn of(c: &Column) -> Codec {
        match c.data_type.as_str() {
            "bit" => Codec::Bit,
            "date" => Codec::Date,
            "datetime" | "timestamp" => Codec::DateTime(c.fsp.min(6)),
            "time" => Codec::Time(c.fsp.min(6)),
            "json" => Codec::Json,
            "year" => Codec::Year,
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
                Codec::Str(literal_charset(c.charset.as_deref().unwrap_or("binary")).to_string())
            }
            "binary" => c
                .column_type
                .trim_start_matches("binary(")
                .trim_end_matches(')')
                .parse()
                .map(Codec::FixedBinary)
                .unwrap_or(Codec::Str("binary".into())),
            "decimal" | "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "float" | "double" => Codec::Number,
            _ => Codec::Str("binary".into()),
        }
    }

    /// For an UNSIGNED integer column read from a binlog that logs no signedness (MariaDB's
    /// binlog_row_metadata=NO_LOG): its values' upper half arrives negative.
    pub fn unsigned_from_signed(c: &Column) -> Option<Codec> {
        if !c.column_type.contains("unsigned") {
            return None;
        }
        let bytes = match c.data_type.as_str() {
            "tinyint" => 1,
            "smallint" => 2,
            "mediumint" => 3,
            "int" => 4,
            "bigint" => 8,
            _ => return None,
        };
        Some(Codec::Unsigned(bytes))
    }

    /// The copy's INSERTs: the column's literal, but JSON text goes into any column as a string
    /// of its character set (`target_is_json`: the target column is MySQL's JSON, which parses
    /// it; a MariaDB target, without CAST AS JSON, stores the text).
    pub fn for_copy_insert(c: &Column, target_is_json: bool) -> Codec {
        match Codec::of(c) {
            _ if target_is_json => Codec::Str(json_charset(c.charset.as_deref())),
            Codec::Json => Codec::Str("utf8mb4".into()),
            codec => codec,
        }
    }
}

/// The character set a literal of `charset` text is introduced with: MySQL 8 warns on `_utf8`
/// and `_utf8mb3` (deprecated names), and their bytes are utf8mb4 as they are.
pub fn literal_charset(charset: &str) -> &str {
    match charset {
        "utf8" | "utf8mb3" => "utf8mb4",
        cs => cs,
    }
}

/// The character set a source column's text is in, for a JSON target column: its own (a
/// MariaDB JSON is a LONGTEXT with one), else utf8mb4 (MySQL's JSON text).
pub fn json_charset(charset: Option<&str>) -> String {
    charset
        .filter(|cs| *cs != "binary" && !cs.is_empty() && cs.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .map(literal_charset)
        .unwrap_or("utf8mb4")
        .to_string()
}

#[cfg(test)]
mod tests {
    use mysql_async::Value;

    use super::*;

    fn lit(l: Codec, v: Value) -> String {
        let mut s = SqlBytes::default();
        literal(&mut s, &l, &v);
        s.text()
    }

    #[test]
    fn deprecated_charset_names_are_not_introducers() {
        let col = |cs: &str| Column {
            name: "c".into(),
            data_type: "varchar".into(),
            column_type: "varchar(5)".into(),
            nullable: true,
            generated: false,
            fsp: 0,
            charset: Some(cs.into()),
            ordinal: 0,
        };
        assert_eq!(Codec::of(&col("utf8mb3")), Codec::Str("utf8mb4".into()));
        assert_eq!(Codec::of(&col("utf8")), Codec::Str("utf8mb4".into()));
        assert_eq!(Codec::of(&col("latin1")), Codec::Str("latin1".into()));
    }

    #[test]
    fn unsigned_columns_read_back_from_signed_values() {
        assert_eq!(lit(Codec::Unsigned(8), Value::Int(-1)), "18446744073709551615");
        assert_eq!(lit(Codec::Unsigned(1), Value::Int(-1)), "255");
        assert_eq!(lit(Codec::Unsigned(3), Value::Int(-8388608)), "8388608");
        assert_eq!(lit(Codec::Unsigned(4), Value::Int(7)), "7");
        assert_eq!(lit(Codec::Unsigned(8), Value::UInt(u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn literals() {
        assert_eq!(lit(Codec::Number, Value::UInt(u64::MAX)), "18446744073709551615");
        assert_eq!(lit(Codec::Number, Value::Bytes(b"-12.50".to_vec())), "-12.50");
        assert_eq!(lit(Codec::Bit, Value::Bytes(vec![1, 2])), "258");
        assert_eq!(lit(Codec::FixedBinary(3), Value::Bytes(b"a".to_vec())), "_binary'a\\0\\0'");
        assert_eq!(lit(Codec::Str("utf8mb4".into()), Value::Bytes(b"it's\n\\".to_vec())), "_utf8mb4'it\\'s\\n\\\\'");
        assert_eq!(lit(Codec::Date, Value::Date(0, 0, 0, 0, 0, 0, 0)), "'0000-00-00'");
        assert_eq!(lit(Codec::DateTime(6), Value::Date(2024, 2, 29, 1, 2, 3, 4)), "'2024-02-29 01:02:03.000004'");
        assert_eq!(lit(Codec::Time(6), Value::Time(true, 34, 22, 59, 59, 0)), "'-838:59:59.000000'");
        assert_eq!(lit(Codec::Number, Value::Float(0.1)), format!("{:e}", 0.1f32 as f64));
    }

    fn text(c: Codec, v: Value) -> String {
        let mut b = Vec::new();
        load_text(&mut b, &c, &v);
        String::from_utf8_lossy(&b).into_owned()
    }

    #[test]
    fn text_format() {
        assert_eq!(text(Codec::Number, Value::NULL), "\\N");
        assert_eq!(text(Codec::Number, Value::Bytes(b"a\tb\nc\\N".to_vec())), "a\\tb\\nc\\\\N");
        assert_eq!(text(Codec::Bit, Value::Bytes(vec![1, 0])), "256");
        assert_eq!(text(Codec::Year, Value::Int(0)), "0000");
        assert_eq!(text(Codec::Number, Value::Float(0.1)), format!("{:e}", 0.1f32 as f64));
        assert_eq!(text(Codec::Number, Value::Double(f64::MAX)), "1.7976931348623157e308");
        assert_eq!(text(Codec::Date, Value::Date(0, 0, 0, 0, 0, 0, 0)), "0000-00-00");
        assert_eq!(text(Codec::DateTime(3), Value::Date(2024, 1, 2, 3, 4, 5, 678_000)), "2024-01-02 03:04:05.678");
        assert_eq!(text(Codec::DateTime(0), Value::Date(2024, 1, 2, 3, 4, 5, 0)), "2024-01-02 03:04:05");
        assert_eq!(text(Codec::Time(6), Value::Time(true, 34, 22, 59, 59, 1)), "-838:59:59.000001");
    }

    fn column(data_type: &str, column_type: &str, fsp: u32) -> Column {
        Column {
            name: "c".into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            nullable: true,
            generated: false,
            fsp,
            charset: None,
            ordinal: 0,
        }
    }

    /// One codec per column type, and both forms of each value agree with it.
    #[test]
    fn codecs_of_columns() {
        assert_eq!(Codec::of(&column("year", "year", 0)), Codec::Year);
        assert_eq!(Codec::of(&column("datetime", "datetime(3)", 3)), Codec::DateTime(3));
        assert_eq!(Codec::of(&column("timestamp", "timestamp(6)", 6)), Codec::DateTime(6));
        assert_eq!(Codec::of(&column("time", "time(9)", 9)), Codec::Time(6));
        assert_eq!(Codec::of(&column("binary", "binary(4)", 0)), Codec::FixedBinary(4));
        assert_eq!(Codec::of(&column("bigint", "bigint unsigned", 0)), Codec::Number);
        assert_eq!(Codec::unsigned_from_signed(&column("bigint", "bigint unsigned", 0)), Some(Codec::Unsigned(8)));
        assert_eq!(Codec::unsigned_from_signed(&column("bigint", "bigint", 0)), None);
        assert_eq!(Codec::of(&column("geometry", "point", 0)), Codec::Str("binary".into()));
        // YEAR 0 is the year 0000: a bare number in a literal, four digits in LOAD DATA text.
        assert_eq!(lit(Codec::Year, Value::Int(0)), "0");
        assert_eq!(text(Codec::Year, Value::Int(0)), "0000");
        // Literals keep every fraction digit; LOAD DATA text writes the column's.
        assert_eq!(lit(Codec::DateTime(3), Value::Date(2024, 1, 2, 3, 4, 5, 678_000)), "'2024-01-02 03:04:05.678000'");
        assert_eq!(text(Codec::DateTime(3), Value::Date(2024, 1, 2, 3, 4, 5, 678_000)), "2024-01-02 03:04:05.678");
        // JSON: CAST in a literal of the applier; as text of its charset in the copy's INSERTs.
        assert_eq!(lit(Codec::Json, Value::Bytes(b"[1]".to_vec())), "CAST(_utf8mb4'[1]' AS JSON)");
        let mut json = column("json", "json", 0);
        assert_eq!(Codec::for_copy_insert(&json, false), Codec::Str("utf8mb4".into()));
        json.data_type = "longtext".into();
        json.charset = Some("utf8mb3".into());
        assert_eq!(Codec::for_copy_insert(&json, true), Codec::Str("utf8mb4".into()));
    }

    #[test]
    fn json_text_keeps_its_character_set() {
        assert_eq!(json_charset(None), "utf8mb4", "MySQL's JSON text");
        assert_eq!(json_charset(Some("latin1")), "latin1", "a MariaDB JSON (a LONGTEXT) in its own");
        // MySQL 8 warns on the deprecated name; the bytes are utf8mb4 as they are.
        assert_eq!(json_charset(Some("utf8mb3")), "utf8mb4");
        assert_eq!(json_charset(Some("binary")), "utf8mb4");
        assert_eq!(json_charset(Some("x; DROP")), "utf8mb4");
    }
}
