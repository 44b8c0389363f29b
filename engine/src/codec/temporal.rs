//! Dates and times in MySQL's text form, as literals and LOAD DATA text both write them.

/// A DATE, DATETIME/TIMESTAMP or TIME value in MySQL's text form, with `fsp` digits of fraction
/// (none for `date_only`): what the copy's LOAD DATA text and the applier's literals both write.
pub struct TemporalText<'a> {
    pub value: &'a mysql_async::Value,
    pub date_only: bool,
    pub fsp: u32,
}

impl std::fmt::Display for TemporalText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use mysql_async::Value;
        let (hms, us) = match *self.value {
            Value::Date(y, mo, d, h, mi, s, us) => {
                write!(f, "{y:04}-{mo:02}-{d:02}")?;
                if self.date_only {
                    return Ok(());
                }
                write!(f, " ")?;
                ((h as u64, mi, s), us)
            }
            Value::Time(neg, days, h, mi, s, us) => {
                if neg {
                    write!(f, "-")?;
                }
                ((days as u64 * 24 + h as u64, mi, s), us)
            }
            _ => return Ok(()),
        };
        write!(f, "{:02}:{:02}:{:02}", hms.0, hms.1, hms.2)?;
        let fsp = self.fsp.min(6);
        if fsp > 0 {
            write!(f, ".{:0width$}", us / 10u32.pow(6 - fsp), width = fsp as usize)?;
        }
        Ok(())
    }
}
