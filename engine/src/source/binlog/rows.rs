//! Table maps and row decoding: a decode plan built once per table map (an identical table map
//! reuses it), and the values of row images read by it, straight from the bytes (the hot path).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use mysql_async::Value;
use mysql_async::binlog::events::{Event as RawEvent, EventData, OptionalMetaExtractor, RowsEventData, TableMapEvent};
use mysql_async::consts::ColumnType;

use super::{BinlogColumn, ColumnKind, RowChange, RowKind, RowsEvent, TableMap};

/// The tables the stream has mapped, by table id.
#[derive(Default)]
pub(super) struct Tables {
    by_id: HashMap<u64, CachedTable>,
}

impl Tables {
    /// A TABLE_MAP event: its table's columns and decode plan, built unless the event is the one
    /// already cached under its id.
    pub(super) fn map(&mut self, ev: &RawEvent) -> std::result::Result<(), String> {
        let data = ev.data();
        let tme: TableMapEvent<'_> = ev.read_event().map_err(|e| format!("TABLE_MAP event: {e}"))?;
        let id = tme.table_id();
        if let Some(c) = self.by_id.get(&id)
            && c.raw == data
        {
            return Ok(());
        }
        let (map, plan) = build_table(id, &tme).map_err(|m| format!("table map of {}.{}: {m}", tme.database_name(), tme.table_name()))?;
        // Table ids grow as tables are reopened; keep the cache bounded.
        if self.by_id.len() >= 8192 {
            self.by_id.clear();
        }
        self.by_id.insert(id, CachedTable { raw: data.to_vec(), map: Arc::new(map), plan });
        Ok(())
    }

    /// A rows event of `kind`, decoded by its table's plan; None for the dummy event that only
    /// ends a statement.
    pub(super) fn rows(&self, ev: &RawEvent, kind: RowKind) -> std::result::Result<Option<RowsEvent>, String> {
        let Some(EventData::RowsEvent(re)) = ev.read_data().map_err(|e| format!("rows event: {e}"))? else {
            return Err("unreadable rows event".into());
        };
        let id = re.table_id();
        if id == 0x00ff_ffff {
            // A dummy event that only ends a statement.
            return Ok(None);
        }
        let Some(cached) = self.by_id.get(&id) else {
            return Err(format!("rows event for table id {id} without a table map before it"));
        };
        let rows = decode_rows(cached, &re, kind).map_err(|m| format!("{}.{}: {m}", cached.map.db, cached.map.table))?;
        Ok(Some(RowsEvent { table: cached.map.clone(), kind, rows, flags: rows_flags_raw(&re) }))
    }

    /// "db.table" of a mapped table id, for messages.
    pub(super) fn name(&self, id: u64) -> Option<String> {
        self.by_id.get(&id).map(|t| format!("{}.{}", t.map.db, t.map.table))
    }
}

struct CachedTable {
    /// The TABLE_MAP event's body: an identical one reuses this entry.
    raw: Vec<u8>,
    map: Arc<TableMap>,
    plan: Vec<Col>,
}

/// How to read one column's value from a row image.
#[derive(Clone, Copy, Debug)]
struct Col {
    dec: Dec,
    unsigned: bool,
}

#[derive(Clone, Copy, Debug)]
enum Dec {
    /// Integer of 1, 2, 3, 4 or 8 bytes.
    Int(u8),
    Float,
    Double,
    Decimal {
        precision: u8,
        scale: u8,
        size: u8,
    },
    Timestamp,
    Timestamp2 {
        fsp: u8,
    },
    DateTime,
    DateTime2 {
        fsp: u8,
    },
    Date,
    Time,
    Time2 {
        fsp: u8,
    },
    Year,
    /// ENUM (1 or 2 bytes) and SET (1 to 8 bytes): a little-endian number.
    Number(u8),
    /// BIT: big-endian bytes.
    Bit(u8),
    /// A length of this many bytes, then the bytes.
    Str(u8),
    /// MySQL binary JSON with a length of this many bytes.
    Json(u8),
    Unsupported(u8),
}

/// Builds the column list and the decode plan of a table map.
fn build_table(id: u64, tme: &TableMapEvent<'_>) -> std::result::Result<(TableMap, Vec<Col>), String> {
    let n = tme.columns_count() as usize;
    let extractor = OptionalMetaExtractor::new(tme.iter_optional_meta()).map_err(|e| format!("optional metadata: {e}"))?;
    let mut signedness = extractor.iter_signedness();
    let logs_signedness = extractor.iter_signedness().next().is_some();
    let mut names = extractor.iter_column_name();
    let mut columns = Vec::with_capacity(n);
    let mut plan = Vec::with_capacity(n);
    for i in 0..n {
        let raw_type = raw_column_type(tme, i);
        let ty = match tme.get_column_type(i) {
            Ok(Some(t)) => Some(t),
            Ok(None) => return Err(format!("column {} has no type", i + 1)),
            Err(_) => None,
        };
        let md = tme.get_column_metadata(i).unwrap_or(&[]);
        let unsigned = ty.is_some_and(|t| t.is_numeric_type()) && signedness.next().unwrap_or(false);
        let name = match names.next() {
            Some(Ok(c)) => Some(String::from_utf8_lossy(c.name_raw()).into_owned()),
            _ => None,
        };
        let m0 = md.first().copied().unwrap_or(0);
        let m1 = md.get(1).copied().unwrap_or(0);
        let (dec, kind) = column_decoder(ty, m0, m1, raw_type);
        columns.push(BinlogColumn { name, kind, unsigned });
        plan.push(Col { dec, unsigned });
    }
    let map = TableMap {
        id,
        db: String::from_utf8_lossy(tme.database_name_raw()).into_owned(),
        table: String::from_utf8_lossy(tme.table_name_raw()).into_owned(),
        columns,
        signedness: logs_signedness,
    };
    Ok((map, plan))
}

/// How a column of binlog type `ty` (`raw_type` its type byte, for messages) with metadata bytes
/// `m0`, `m1` is read, and its family.
fn column_decoder(ty: Option<ColumnType>, m0: u8, m1: u8, raw_type: u8) -> (Dec, ColumnKind) {
    use ColumnType::*;
    match ty {
        Some(MYSQL_TYPE_TINY) => (Dec::Int(1), ColumnKind::Int),
        Some(MYSQL_TYPE_SHORT) => (Dec::Int(2), ColumnKind::Int),
        Some(MYSQL_TYPE_INT24) => (Dec::Int(3), ColumnKind::Int),
        Some(MYSQL_TYPE_LONG) => (Dec::Int(4), ColumnKind::Int),
        Some(MYSQL_TYPE_LONGLONG) => (Dec::Int(8), ColumnKind::Int),
        Some(MYSQL_TYPE_FLOAT) => (Dec::Float, ColumnKind::Float),
        Some(MYSQL_TYPE_DOUBLE) => (Dec::Double, ColumnKind::Double),
        Some(MYSQL_TYPE_NEWDECIMAL) => {
            if m0 == 0 || m0 > 65 || m1 > 38 || m1 > m0 {
                (Dec::Unsupported(raw_type), ColumnKind::Decimal)
            } else {
                let size = decimal_size(m0 as usize, m1 as usize) as u8;
                (Dec::Decimal { precision: m0, scale: m1, size }, ColumnKind::Decimal)
            }
        }
        Some(MYSQL_TYPE_TIMESTAMP) => (Dec::Timestamp, ColumnKind::Timestamp),
        Some(MYSQL_TYPE_TIMESTAMP2) => (Dec::Timestamp2 { fsp: m0 }, ColumnKind::Timestamp),
        Some(MYSQL_TYPE_DATETIME) => (Dec::DateTime, ColumnKind::DateTime),
        Some(MYSQL_TYPE_DATETIME2) => (Dec::DateTime2 { fsp: m0 }, ColumnKind::DateTime),
        Some(MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE) => (Dec::Date, ColumnKind::Date),
        Some(MYSQL_TYPE_TIME) => (Dec::Time, ColumnKind::Time),
        Some(MYSQL_TYPE_TIME2) => (Dec::Time2 { fsp: m0 }, ColumnKind::Time),
        Some(MYSQL_TYPE_YEAR) => (Dec::Year, ColumnKind::Year),
        Some(MYSQL_TYPE_ENUM) if (1..=2).contains(&m1) => (Dec::Number(m1), ColumnKind::Enum),
        Some(MYSQL_TYPE_SET) if (1..=8).contains(&m1) => (Dec::Number(m1), ColumnKind::Set),
        Some(MYSQL_TYPE_BIT) => {
            let bits = m1 as usize * 8 + m0 as usize;
            (Dec::Bit(bits.div_ceil(8) as u8), ColumnKind::Bit)
        }
        Some(MYSQL_TYPE_STRING) => {
            // CHAR/BINARY: the maximum byte length hides partly in the type byte.
            let len = if m0 & 0x30 != 0x30 { m1 as usize | ((((m0 & 0x30) ^ 0x30) as usize) << 4) } else { m1 as usize };
            (Dec::Str(if len < 256 { 1 } else { 2 }), ColumnKind::String)
        }
        Some(MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING) => {
            let max = u16::from_le_bytes([m0, m1]);
            (Dec::Str(if max < 256 { 1 } else { 2 }), ColumnKind::String)
        }
        Some(MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB) if (1..=4).contains(&m0) => {
            (Dec::Str(m0), ColumnKind::Blob)
        }
        Some(MYSQL_TYPE_GEOMETRY) if (1..=4).contains(&m0) => (Dec::Str(m0), ColumnKind::Geometry),
        Some(MYSQL_TYPE_VECTOR) if (1..=4).contains(&m0) => (Dec::Str(m0), ColumnKind::Other),
        Some(MYSQL_TYPE_JSON) if (1..=4).contains(&m0) => (Dec::Json(m0), ColumnKind::Json),
        _ => (Dec::Unsupported(raw_type), ColumnKind::Other),
    }
}

/// The raw type byte of a column, for messages.
fn raw_column_type(tme: &TableMapEvent<'_>, i: usize) -> u8 {
    match tme.get_raw_column_type(i) {
        Ok(Some(t)) => t as u8,
        Err(e) => e.0,
        Ok(None) => 0,
    }
}

/// A rows event's flags with the bits mysql_common does not know (its `flags()` drops them):
/// MySQL 9's USE_SQL_FOREIGN_KEY_F among them.
fn rows_flags_raw(re: &RowsEventData<'_>) -> u16 {
    match re {
        RowsEventData::WriteRowsEventV1(e) => e.flags_raw(),
        RowsEventData::UpdateRowsEventV1(e) => e.flags_raw(),
        RowsEventData::DeleteRowsEventV1(e) => e.flags_raw(),
        RowsEventData::WriteRowsEvent(e) => e.flags_raw(),
        RowsEventData::UpdateRowsEvent(e) => e.flags_raw(),
        RowsEventData::DeleteRowsEvent(e) => e.flags_raw(),
        RowsEventData::PartialUpdateRowsEvent(e) => e.flags_raw(),
    }
}

fn decode_rows(t: &CachedTable, re: &RowsEventData<'_>, kind: RowKind) -> std::result::Result<Vec<RowChange>, String> {
    let n = t.plan.len();
    if re.num_columns() as usize != n {
        return Err(format!("the rows event has {} columns, its table map {n}", re.num_columns()));
    }
    let before_full = re.columns_before_image().is_none_or(|b| b.all());
    let after_full = re.columns_after_image().is_none_or(|b| b.all());
    if !before_full || !after_full {
        return Err("the row image lacks columns: the source must log binlog_row_image=FULL".into());
    }
    let (has_before, has_after) = match kind {
        RowKind::Insert => (false, true),
        RowKind::Update => (true, true),
        RowKind::Delete => (true, false),
    };
    let data = re.rows_data();
    let mut p = 0usize;
    let mut rows = Vec::new();
    while p < data.len() {
        let before = if has_before { Some(decode_image(t, data, &mut p)?) } else { None };
        let after = if has_after { Some(decode_image(t, data, &mut p)?) } else { None };
        rows.push((before, after));
    }
    Ok(rows)
}

fn decode_image(t: &CachedTable, b: &[u8], p: &mut usize) -> std::result::Result<Vec<Value>, String> {
    let n = t.plan.len();
    let nulls = take(b, p, n.div_ceil(8)).map_err(|e| e.to_string())?;
    let mut row = Vec::with_capacity(n);
    for (i, c) in t.plan.iter().enumerate() {
        if nulls[i >> 3] & (1 << (i & 7)) != 0 {
            row.push(Value::NULL);
        } else {
            match decode_value(c, b, p) {
                Ok(v) => row.push(v),
                Err(e) => {
                    let name = t.map.columns[i].name.clone().unwrap_or_else(|| format!("#{}", i + 1));
                    return Err(format!("column {name}: {e}"));
                }
            }
        }
    }
    Ok(row)
}

#[inline]
fn take<'a>(b: &'a [u8], p: &mut usize, n: usize) -> std::result::Result<&'a [u8], &'static str> {
    let s = b.get(*p..*p + n).ok_or("the row data ends early")?;
    *p += n;
    Ok(s)
}

#[inline]
fn le(s: &[u8]) -> u64 {
    s.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

#[inline]
fn be(s: &[u8]) -> u64 {
    s.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

fn decode_value(c: &Col, b: &[u8], p: &mut usize) -> std::result::Result<Value, String> {
    Ok(match c.dec {
        Dec::Int(1) => {
            let v = take(b, p, 1)?[0];
            if c.unsigned { Value::UInt(v as u64) } else { Value::Int(v as i8 as i64) }
        }
        Dec::Int(2) => {
            let v = le(take(b, p, 2)?) as u16;
            if c.unsigned { Value::UInt(v as u64) } else { Value::Int(v as i16 as i64) }
        }
        Dec::Int(3) => {
            let v = le(take(b, p, 3)?);
            if c.unsigned { Value::UInt(v) } else { Value::Int(((v << 40) as i64) >> 40) }
        }
        Dec::Int(4) => {
            let v = le(take(b, p, 4)?) as u32;
            if c.unsigned { Value::UInt(v as u64) } else { Value::Int(v as i32 as i64) }
        }
        Dec::Int(_) => {
            let v = le(take(b, p, 8)?);
            if c.unsigned { Value::UInt(v) } else { Value::Int(v as i64) }
        }
        Dec::Float => Value::Float(f32::from_le_bytes(take(b, p, 4)?.try_into().unwrap())),
        Dec::Double => Value::Double(f64::from_le_bytes(take(b, p, 8)?.try_into().unwrap())),
        Dec::Decimal { precision, scale, size } => {
            Value::Bytes(decimal_text(take(b, p, size as usize)?, precision as usize, scale as usize))
        }
        Dec::Timestamp => utc(le(take(b, p, 4)?), 0),
        Dec::Timestamp2 { fsp } => {
            let secs = be(take(b, p, 4)?);
            let us = match fsp {
                1 | 2 => take(b, p, 1)?[0] as u64 * 10_000,
                3 | 4 => be(take(b, p, 2)?) * 100,
                5 | 6 => be(take(b, p, 3)?),
                _ => 0,
            };
            utc(secs, us as u32)
        }
        Dec::DateTime => {
            let v = le(take(b, p, 8)?);
            let (d, t) = (v / 1_000_000, v % 1_000_000);
            Value::Date(
                (d / 10_000) as u16,
                (d / 100 % 100) as u8,
                (d % 100) as u8,
                (t / 10_000) as u8,
                (t / 100 % 100) as u8,
                (t % 100) as u8,
                0,
            )
        }
        Dec::DateTime2 { fsp } => {
            let ymdhms = be(take(b, p, 5)?) as i64 - 0x80_0000_0000;
            let us = match fsp {
                1 | 2 => take(b, p, 1)?[0] as i8 as i64 * 10_000,
                3 | 4 => be(take(b, p, 2)?) as u16 as i16 as i64 * 100,
                5 | 6 => ((be(take(b, p, 3)?) << 40) as i64) >> 40,
                _ => 0,
            };
            let v = ymdhms.unsigned_abs();
            let ymd = v >> 17;
            let ym = ymd >> 5;
            let hms = v & 0x1_ffff;
            Value::Date(
                (ym / 13) as u16,
                (ym % 13) as u8,
                (ymd & 31) as u8,
                (hms >> 12) as u8,
                ((hms >> 6) & 63) as u8,
                (hms & 63) as u8,
                us.unsigned_abs() as u32,
            )
        }
        Dec::Date => {
            let v = le(take(b, p, 3)?);
            Value::Date((v >> 9) as u16, ((v >> 5) & 15) as u8, (v & 31) as u8, 0, 0, 0, 0)
        }
        Dec::Time => {
            let v = ((le(take(b, p, 3)?) << 40) as i64) >> 40;
            let a = v.unsigned_abs();
            let h = a / 10_000;
            time_value(v < 0, h, (a / 100 % 100) as u8, (a % 100) as u8, 0)
        }
        Dec::Time2 { fsp } => {
            const INT_OFS: i64 = 0x80_0000;
            let packed: i64 = match fsp {
                1 | 2 => {
                    let mut ip = be(take(b, p, 3)?) as i64 - INT_OFS;
                    let mut fr = take(b, p, 1)?[0] as i64;
                    if ip < 0 && fr != 0 {
                        ip += 1;
                        fr -= 0x100;
                    }
                    (ip << 24) + fr * 10_000
                }
                3 | 4 => {
                    let mut ip = be(take(b, p, 3)?) as i64 - INT_OFS;
                    let mut fr = be(take(b, p, 2)?) as i64;
                    if ip < 0 && fr != 0 {
                        ip += 1;
                        fr -= 0x10000;
                    }
                    (ip << 24) + fr * 100
                }
                5 | 6 => be(take(b, p, 6)?) as i64 - 0x8000_0000_0000,
                _ => (be(take(b, p, 3)?) as i64 - INT_OFS) << 24,
            };
            let a = packed.unsigned_abs();
            let hms = a >> 24;
            let us = (a & 0xff_ffff) as u32;
            time_value(packed < 0, (hms >> 12) & 0x3ff, ((hms >> 6) & 63) as u8, (hms & 63) as u8, us)
        }
        Dec::Year => {
            let v = take(b, p, 1)?[0];
            Value::Int(if v == 0 { 0 } else { 1900 + v as i64 })
        }
        Dec::Number(n) => Value::UInt(le(take(b, p, n as usize)?)),
        Dec::Bit(n) => Value::Bytes(take(b, p, n as usize)?.to_vec()),
        Dec::Str(n) => {
            let len = le(take(b, p, n as usize)?) as usize;
            Value::Bytes(take(b, p, len)?.to_vec())
        }
        Dec::Json(n) => {
            let len = le(take(b, p, n as usize)?) as usize;
            Value::Bytes(jsonb_text(take(b, p, len)?)?)
        }
        Dec::Unsupported(t) => return Err(format!("column type {t} is not supported")),
    })
}

fn time_value(neg: bool, hours: u64, min: u8, sec: u8, us: u32) -> Value {
    Value::Time(neg, (hours / 24) as u32, (hours % 24) as u8, min, sec, us)
}

/// Epoch seconds to a UTC date and time; 0 is the zero TIMESTAMP.
fn utc(secs: u64, us: u32) -> Value {
    if secs == 0 {
        return Value::Date(0, 0, 0, 0, 0, 0, 0);
    }
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Value::Date(y as u16, m as u8, d as u8, (rem / 3600) as u8, (rem / 60 % 60) as u8, (rem % 60) as u8, us)
}

const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

/// Bytes of a DECIMAL(precision, scale) in the binlog.
fn decimal_size(precision: usize, scale: usize) -> usize {
    let intg = precision - scale;
    (intg / 9) * 4 + DIG2BYTES[intg % 9] + (scale / 9) * 4 + DIG2BYTES[scale % 9]
}

/// The exact text of a binary DECIMAL: "-12.340", "0.000", "99.5".
fn decimal_text(raw: &[u8], precision: usize, scale: usize) -> Vec<u8> {
    let intg = precision - scale;
    let neg = raw[0] & 0x80 == 0;
    let mask: u8 = if neg { 0xff } else { 0 };
    // Groups of 9 digits in big-endian 4-byte words; the sign bit flipped; negatives inverted.
    let group = |from: usize, len: usize| -> u32 {
        let mut v = 0u32;
        for (k, &byte) in raw[from..from + len].iter().enumerate() {
            let byte = if from + k == 0 { byte ^ 0x80 } else { byte };
            v = (v << 8) | (byte ^ mask) as u32;
        }
        v
    };
    let mut out = Vec::with_capacity(precision + 3);
    if neg {
        out.push(b'-');
    }
    let mut at = 0;
    let mut started = false;
    let lead = DIG2BYTES[intg % 9];
    if lead > 0 {
        let v = group(at, lead);
        at += lead;
        if v != 0 {
            let _ = write!(out, "{v}");
            started = true;
        }
    }
    for _ in 0..intg / 9 {
        let v = group(at, 4);
        at += 4;
        if started {
            let _ = write!(out, "{v:09}");
        } else if v != 0 {
            let _ = write!(out, "{v}");
            started = true;
        }
    }
    if !started {
        out.push(b'0');
    }
    if scale > 0 {
        out.push(b'.');
        for _ in 0..scale / 9 {
            let v = group(at, 4);
            at += 4;
            let _ = write!(out, "{v:09}");
        }
        let tail = scale % 9;
        if tail > 0 {
            let v = group(at, DIG2BYTES[tail]);
            let _ = write!(out, "{v:0tail$}");
        }
    }
    // A negative zero is zero.
    if neg && out[1..].iter().all(|&c| c == b'0' || c == b'.') {
        out.remove(0);
    }
    out
}

/// MySQL binary JSON to JSON text.
fn jsonb_text(raw: &[u8]) -> std::result::Result<Vec<u8>, String> {
    use mysql_common::binlog::jsonb;
    use mysql_common::io::ParseBuf;
    let value: jsonb::Value<'_> = ParseBuf(raw).parse(()).map_err(|e| format!("binary JSON: {e}"))?;
    let dom = value.parse().map_err(|e| format!("binary JSON: {e}"))?;
    let mut out = Vec::with_capacity(raw.len() + 16);
    json_text(&dom, &mut out);
    Ok(out)
}

/// JSON text as MySQL prints it (`CAST(j AS CHAR)`): `", "` and `": "` separators, object keys
/// by length then bytes (the binary format's order), decimals as numbers. A MariaDB target
/// stores this text as it is, so the binlog path writes what the copy reads from the source.
fn json_text(dom: &mysql_common::binlog::jsonb::JsonDom, out: &mut Vec<u8>) {
    use mysql_common::binlog::jsonb::{JsonContainer, JsonDom, JsonNumber, JsonScalar};
    // Escaped straight into `out` (no string per value): writing to a Vec cannot fail.
    let string = |s: &str, out: &mut Vec<u8>| {
        let _ = serde_json::to_writer(&mut *out, s);
    };
    match dom {
        JsonDom::Container(JsonContainer::Array(items)) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                json_text(v, out);
            }
            out.push(b']');
        }
        JsonDom::Container(JsonContainer::Object(map)) => {
            let mut keys: Vec<(&String, &JsonDom)> = map.iter().collect();
            keys.sort_by(|a, b| (a.0.len(), a.0.as_bytes()).cmp(&(b.0.len(), b.0.as_bytes())));
            out.push(b'{');
            for (i, (k, v)) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                string(k, out);
                out.extend_from_slice(b": ");
                json_text(v, out);
            }
            out.push(b'}');
        }
        JsonDom::Scalar(s) => match s {
            JsonScalar::Null => out.extend_from_slice(b"null"),
            JsonScalar::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            JsonScalar::Number(JsonNumber::Int(i)) => out.extend_from_slice(i.to_string().as_bytes()),
            JsonScalar::Number(JsonNumber::Uint(u)) => out.extend_from_slice(u.to_string().as_bytes()),
            JsonScalar::Number(JsonNumber::Decimal(d)) => out.extend_from_slice(d.to_string().as_bytes()),
            JsonScalar::Number(JsonNumber::Double(f)) => match serde_json::Number::from_f64(*f) {
                Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
                None => out.push(b'0'),
            },
            JsonScalar::String(t) => string(t, out),
            other => {
                // DATETIME and opaque values print as strings.
                let v: serde_json::Value = other.clone().into();
                out.extend_from_slice(v.to_string().as_bytes());
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_prints_as_mysql_does() {
        use mysql_common::binlog::jsonb::{JsonContainer, JsonDom, JsonNumber, JsonScalar};
        let n = |v: JsonNumber| JsonDom::Scalar(JsonScalar::Number(v));
        let obj = JsonDom::Container(JsonContainer::Object(
            [
                ("bb".to_string(), JsonDom::Container(JsonContainer::Array(vec![n(JsonNumber::Int(1)), n(JsonNumber::Double(2.5))]))),
                ("a".to_string(), JsonDom::Scalar(JsonScalar::String("x\"\n😀".into()))),
                ("ab".to_string(), JsonDom::Scalar(JsonScalar::Null)),
                ("c".to_string(), n(JsonNumber::Uint(u64::MAX))),
            ]
            .into_iter()
            .collect(),
        ));
        let mut out = Vec::new();
        json_text(&obj, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a": "x\"\n😀", "c": 18446744073709551615, "ab": null, "bb": [1, 2.5]}"#);
    }

    /// The binary form of a DECIMAL, as the server writes it (for tests).
    fn decimal_bin(text: &str, precision: usize, scale: usize) -> Vec<u8> {
        let neg = text.starts_with('-');
        let t = text.trim_start_matches('-');
        let (ip, fp) = t.split_once('.').unwrap_or((t, ""));
        let intg = precision - scale;
        let ip = format!("{:0>width$}", ip, width = intg);
        let fp = format!("{:0<width$}", fp, width = scale);
        let mut out = Vec::new();
        let push = |out: &mut Vec<u8>, digits: &str, bytes: usize| {
            let v: u32 = if digits.is_empty() { 0 } else { digits.parse().unwrap() };
            let be = v.to_be_bytes();
            out.extend_from_slice(&be[4 - bytes..]);
        };
        let lead = intg % 9;
        push(&mut out, &ip[..lead], DIG2BYTES[lead]);
        for k in 0..intg / 9 {
            push(&mut out, &ip[lead + 9 * k..lead + 9 * k + 9], 4);
        }
        for k in 0..scale / 9 {
            push(&mut out, &fp[9 * k..9 * k + 9], 4);
        }
        let tail = scale % 9;
        push(&mut out, &fp[scale - tail..], DIG2BYTES[tail]);
        if neg {
            for b in out.iter_mut() {
                *b = !*b;
            }
        }
        out[0] ^= 0x80;
        out
    }

    #[test]
    fn decimals_round_trip() {
        for (text, p, s) in [
            ("-12.340", 10, 3),
            ("0.000", 10, 3),
            ("0.500", 10, 3),
            ("-0.001", 10, 3),
            ("1234567890.123456789", 20, 9),
            ("-99999999999999999999999999999999999.999999999999999999999999999999", 65, 30),
            ("99999999999999999999999999999999999.999999999999999999999999999999", 65, 30),
            ("0.000000000000000000000000000001", 65, 30),
            ("7", 1, 0),
            ("-123456789012345678", 18, 0),
            ("1000000000", 10, 0),
        ] {
            let bin = decimal_bin(text, p, s);
            assert_eq!(bin.len(), decimal_size(p, s), "{text}");
            assert_eq!(String::from_utf8(decimal_text(&bin, p, s)).unwrap(), text);
        }
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0, 0), Value::Date(0, 0, 0, 0, 0, 0, 0));
        assert_eq!(utc(1, 0), Value::Date(1970, 1, 1, 0, 0, 1, 0));
        assert_eq!(utc(2_147_483_647, 999_999), Value::Date(2038, 1, 19, 3, 14, 7, 999_999));
        assert_eq!(utc(951_782_400, 5), Value::Date(2000, 2, 29, 0, 0, 0, 5));
        assert_eq!(utc(4_294_967_295, 0), Value::Date(2106, 2, 7, 6, 28, 15, 0));
    }
}
