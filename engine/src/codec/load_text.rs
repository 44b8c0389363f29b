//! Values in LOAD DATA's text format: tab-separated fields, backslash escapes, `\N` for NULL,
//! raw bytes in each column's own character set.

use std::io::Write as _;

use mysql_async::Value;

use super::Codec;
use super::temporal::TemporalText;

/// One value in LOAD DATA's text format (tab-separated, backslash escapes, \N for NULL).
pub fn load_text(buf: &mut Vec<u8>, codec: &Codec, v: &Value) {
    match v {
        Value::NULL => buf.extend_from_slice(b"\\N"),
        Value::Bytes(b) if *codec == Codec::Bit => {
            let n = b.iter().fold(0u64, |a, x| (a << 8) | *x as u64);
            let _ = write!(buf, "{n}");
        }
        Value::Bytes(b) => escape(buf, b),
        Value::Int(i) if *codec == Codec::Year => {
            let _ = write!(buf, "{i:04}");
        }
        Value::UInt(u) if *codec == Codec::Year => {
            let _ = write!(buf, "{u:04}");
        }
        Value::Int(i) => {
            let _ = write!(buf, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(buf, "{u}");
        }
        // The exact f32 as an f64 in shortest round-trip form: the server parses it to that
        // double, which converts back to the same float.
        Value::Float(f) => {
            let _ = write!(buf, "{:e}", *f as f64);
        }
        Value::Double(d) => {
            let _ = write!(buf, "{d:e}");
        }
        Value::Date(..) | Value::Time(..) => {
            let (date_only, fsp) = match codec {
                Codec::Date => (true, 0),
                Codec::DateTime(fsp) | Codec::Time(fsp) => (false, *fsp),
                _ => (false, 6),
            };
            let _ = write!(buf, "{}", TemporalText { value: v, date_only, fsp });
        }
    }
}

fn escape(buf: &mut Vec<u8>, b: &[u8]) {
    if !b.iter().any(|&c| c == b'\\' || c == b'\t' || c == b'\n') {
        buf.extend_from_slice(b);
        return;
    }
    for &c in b {
        match c {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            _ => buf.push(c),
        }
    }
}
