//! GTIDs in both forms: MariaDB's per-domain position ("0-1-100,1-2-5") and MySQL's GTID set
//! ("uuid:1-5:7", tagged "uuid:tag:1-2" on MySQL 8.4+), the state a stream carries of them, and the
//! set as COM_BINLOG_DUMP_GTID sends it.

use std::collections::BTreeMap;
use std::fmt;

/// The GTID of one transaction.
#[derive(Clone, Debug)]
pub(super) enum TrxGtid {
    MariaDb { domain: u32, server: u32, seq: u64 },
    MySql { sid: [u8; 16], tag: Option<String>, gno: u64 },
}

impl fmt::Display for TrxGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrxGtid::MariaDb { domain, server, seq } => write!(f, "{domain}-{server}-{seq}"),
            TrxGtid::MySql { sid, tag, gno } => {
                write!(f, "{}", uuid_text(sid))?;
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                write!(f, ":{gno}")
            }
        }
    }
}

fn uuid_text(sid: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in sid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        use fmt::Write as _;
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The GTID state at the reader's position.
#[derive(Clone, Debug)]
pub(super) enum GtidState {
    /// MariaDB: per domain, the server id and sequence number of its last transaction.
    MariaDb(BTreeMap<u32, (u32, u64)>),
    /// MySQL: the executed GTID set; None when the start position had none (not tracked).
    MySql(Option<MySqlGtidSet>),
}

impl GtidState {
    pub(super) fn add(&mut self, g: &TrxGtid) {
        match (self, g) {
            (GtidState::MariaDb(m), TrxGtid::MariaDb { domain, server, seq }) => {
                m.insert(*domain, (*server, *seq));
            }
            (GtidState::MySql(Some(set)), TrxGtid::MySql { sid, tag, gno }) => {
                set.add(&uuid_text(sid), tag.as_deref().unwrap_or(""), *gno);
            }
            _ => {}
        }
    }

    pub(super) fn text(&self) -> Option<String> {
        match self {
            GtidState::MariaDb(m) if m.is_empty() => None,
            GtidState::MariaDb(m) => {
                let parts: Vec<String> = m.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")).collect();
                Some(parts.join(","))
            }
            GtidState::MySql(set) => set.as_ref().map(|s| s.to_string()).filter(|s| !s.is_empty()),
        }
    }
}

/// Parses a MariaDB GTID position ("0-1-100,1-2-5"; empty: no transactions yet).
pub fn parse_mariadb_gtids(text: &str) -> std::result::Result<BTreeMap<u32, (u32, u64)>, String> {
    let mut m = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = part.split('-');
        let parsed = (|| {
            let d: u32 = it.next()?.trim().parse().ok()?;
            let s: u32 = it.next()?.trim().parse().ok()?;
            let n: u64 = it.next()?.trim().parse().ok()?;
            if it.next().is_some() {
                return None;
            }
            Some((d, s, n))
        })();
        let Some((d, s, n)) = parsed else {
            return Err(format!("invalid MariaDB GTID {part:?} in {text:?} (expected domain-server-sequence)"));
        };
        if m.insert(d, (s, n)).is_some() {
            return Err(format!("GTID position {text:?} names domain {d} twice"));
        }
    }
    Ok(m)
}

/// A MySQL GTID set: per source UUID (and tag), sorted disjoint inclusive intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MySqlGtidSet {
    sets: BTreeMap<(String, String), Vec<(u64, u64)>>,
}

impl MySqlGtidSet {
    /// Parses "uuid:1-5:7,uuid2:1-3" (MySQL 8.4 tags: "uuid:1-5:tag:1-2").
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut set = MySqlGtidSet::default();
        for part in text.split(',').map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let mut tokens = part.split(':').map(str::trim);
            let uuid = tokens.next().unwrap_or("").to_ascii_lowercase();
            if uuid.len() != 36 {
                return Err(format!("invalid GTID set {text:?}: {uuid:?} is not a UUID"));
            }
            let mut tag = String::new();
            for tok in tokens {
                if tok.starts_with(|c: char| c.is_ascii_digit()) {
                    let (a, b) = match tok.split_once('-') {
                        Some((a, b)) => (a.parse::<u64>(), b.parse::<u64>()),
                        None => (tok.parse::<u64>(), tok.parse::<u64>()),
                    };
                    match (a, b) {
                        (Ok(a), Ok(b)) if a >= 1 && a <= b => for_interval(set.sets.entry((uuid.clone(), tag.clone())).or_default(), a, b),
                        _ => return Err(format!("invalid GTID set {text:?}: bad interval {tok:?}")),
                    }
                } else {
                    tag = tok.to_ascii_lowercase();
                }
            }
        }
        Ok(set)
    }

    fn add(&mut self, uuid: &str, tag: &str, gno: u64) {
        let v = self.sets.entry((uuid.to_string(), tag.to_string())).or_default();
        for_interval(v, gno, gno);
    }

    /// The set as COM_BINLOG_DUMP_GTID carries it: one block per source UUID and tag (tagged
    /// blocks switch the packet to MySQL 8.4's tagged format).
    pub fn sids(&self) -> std::result::Result<Vec<mysql_async::Sid<'static>>, String> {
        let mut out = Vec::with_capacity(self.sets.len());
        for ((uuid, tag), intervals) in &self.sets {
            let hex: String = uuid.chars().filter(|c| *c != '-').collect();
            let mut bytes = [0u8; 16];
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = hex
                    .get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("invalid GTID set: {uuid:?} is not a UUID"))?;
            }
            // The wire format's intervals are half-open.
            let gnos = intervals.iter().map(|&(a, b)| mysql_async::GnoInterval::new(a, b + 1)).collect();
            let mut sid = mysql_async::Sid::new(bytes).with_intervals(gnos);
            if !tag.is_empty() {
                let tag = mysql_common::packets::Tag::new(tag.clone()).map_err(|e| format!("invalid GTID tag {tag:?}: {e}"))?;
                sid = sid.with_tag(tag);
            }
            out.push(sid);
        }
        Ok(out)
    }
}

/// Adds [a, b] to sorted disjoint intervals, merging neighbours.
fn for_interval(v: &mut Vec<(u64, u64)>, a: u64, b: u64) {
    // Fast path: appending right after the last interval (the common case).
    if let Some(last) = v.last_mut()
        && a >= last.0
        && a <= last.1.saturating_add(1)
    {
        last.1 = last.1.max(b);
        return;
    }
    v.push((a, b));
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for &(x, y) in v.iter() {
        match out.last_mut() {
            Some(l) if x <= l.1.saturating_add(1) => l.1 = l.1.max(y),
            _ => out.push((x, y)),
        }
    }
    *v = out;
}

impl fmt::Display for MySqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first_uuid = true;
        let mut current: Option<&str> = None;
        for ((uuid, tag), intervals) in &self.sets {
            if current != Some(uuid.as_str()) {
                if !first_uuid {
                    f.write_str(",")?;
                }
                first_uuid = false;
                f.write_str(uuid)?;
                current = Some(uuid);
            }
            if !tag.is_empty() {
                write!(f, ":{tag}")?;
            }
            for (a, b) in intervals {
                if a == b {
                    write!(f, ":{a}")?;
                } else {
                    write!(f, ":{a}-{b}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_sets() {
        let mut s = MySqlGtidSet::parse("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7, 4e11fa47-71ca-11e1-9e33-c80aa9429562:1").unwrap();
        s.add("3e11fa47-71ca-11e1-9e33-c80aa9429562", "", 6);
        s.add("4e11fa47-71ca-11e1-9e33-c80aa9429562", "", 2);
        s.add("4e11fa47-71ca-11e1-9e33-c80aa9429562", "blue", 1);
        assert_eq!(s.to_string(), "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-2:blue:1");
        assert_eq!(MySqlGtidSet::parse(&s.to_string()).unwrap(), s);
        assert!(MySqlGtidSet::parse("nope:1").is_err());
        let m = parse_mariadb_gtids("0-1-100, 2-5-7").unwrap();
        let st = GtidState::MariaDb(m);
        assert_eq!(st.text().as_deref(), Some("0-1-100,2-5-7"));
        assert!(parse_mariadb_gtids("0-1").is_err());
        assert!(parse_mariadb_gtids("0-1-2,0-2-3").is_err());
        assert_eq!(GtidState::MariaDb(parse_mariadb_gtids("").unwrap()).text(), None);
    }

    #[test]
    fn intervals_merge() {
        let mut v = Vec::new();
        for (a, b) in [(5, 5), (1, 2), (4, 4), (9, 12), (3, 3), (13, 13), (7, 7)] {
            for_interval(&mut v, a, b);
        }
        assert_eq!(v, [(1, 5), (7, 7), (9, 13)]);
        assert!(MySqlGtidSet::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:5-3").is_err());
        assert!(MySqlGtidSet::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:0").is_err());
    }

    #[test]
    fn sids_carry_half_open_intervals_and_tags() {
        let set =
            MySqlGtidSet::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7:blue:1-2,4e11fa47-71ca-11e1-9e33-c80aa9429562:3").unwrap();
        let sids = set.sids().unwrap();
        let text: Vec<String> = sids.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text,
            [
                "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7",
                "3e11fa47-71ca-11e1-9e33-c80aa9429562:blue:1-2",
                "4e11fa47-71ca-11e1-9e33-c80aa9429562:3"
            ]
        );
        assert_eq!(sids[0].uuid()[..4], [0x3e, 0x11, 0xfa, 0x47]);
        assert_eq!(sids[0].intervals().iter().map(|i| (i.start(), i.end())).collect::<Vec<_>>(), [(1, 6), (7, 8)]);
        assert!(MySqlGtidSet::parse("zzzzzzzz-71ca-11e1-9e33-c80aa9429562:1").unwrap().sids().is_err());
    }

    #[test]
    fn transactions_join_the_state_of_their_flavour() {
        let sid = [0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62];
        let tagged = TrxGtid::MySql { sid, tag: Some("blue".into()), gno: 3 };
        assert_eq!(tagged.to_string(), "3e11fa47-71ca-11e1-9e33-c80aa9429562:blue:3");
        let mut st = GtidState::MySql(Some(MySqlGtidSet::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-2").unwrap()));
        st.add(&TrxGtid::MySql { sid, tag: None, gno: 3 });
        st.add(&tagged);
        assert_eq!(st.text().as_deref(), Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:blue:3"));
        // Not tracked without a start set; the other flavour's GTIDs do not count.
        let mut none = GtidState::MySql(None);
        none.add(&tagged);
        assert_eq!(none.text(), None);
        let mut m = GtidState::MariaDb(parse_mariadb_gtids("0-1-9,1-2-5").unwrap());
        m.add(&TrxGtid::MariaDb { domain: 1, server: 3, seq: 6 });
        m.add(&tagged);
        assert_eq!(TrxGtid::MariaDb { domain: 1, server: 3, seq: 6 }.to_string(), "1-3-6");
        assert_eq!(m.text().as_deref(), Some("0-1-9,1-3-6"));
    }
}
