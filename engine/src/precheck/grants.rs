//! SHOW GRANTS read and matched: which privileges a user holds, at which level, and the GRANT
//! statements a remedy names. No server needed but for reading the lines.

use std::collections::{BTreeMap, BTreeSet};

use mysql_async::Conn;
use mysql_async::prelude::*;

use crate::db::flavor::Flavor;
use crate::db::{Server, lit, q, qt};

/// The session's user as GRANT names it (`'user'@'host'`).
pub(super) async fn current_user(server: &Server, conn: &mut Conn) -> String {
    let u: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.map_err(server.err("CURRENT_USER()")).ok().flatten();
    match u.as_deref().and_then(|u| u.rsplit_once('@')) {
        Some((user, host)) => format!("{}@{}", lit(user), lit(host)),
        None => "'user'@'host'".to_string(),
    }
}

/// One `GRANT privileges ON db.table` line (roles' lines included: MariaDB lists the default
/// role's grants after the user's).
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    /// Upper case; `ALL PRIVILEGES` as `ALL`. Column-level grants are left out.
    pub privileges: Vec<String>,
    /// None for `*`.
    pub db: Option<String>,
    pub table: Option<String>,
}

pub(super) async fn read_grants(conn: &mut Conn) -> Vec<Grant> {
    let lines: Vec<String> = conn.query("SHOW GRANTS").await.unwrap_or_default();
    lines.iter().filter_map(|l| parse_grant(l)).collect()
}

/// Parses one SHOW GRANTS line; None for role grants, PROXY and routine grants.
pub fn parse_grant(line: &str) -> Option<Grant> {
    let rest = line.trim().strip_prefix("GRANT ")?;
    // The privilege list ends at the first " ON " outside parentheses (column lists).
    let mut depth = 0;
    let bytes = rest.as_bytes();
    let mut on_at = None;
    for i in 0..bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth == 0 && rest[i..].starts_with(" ON ") => {
                on_at = Some(i);
                break;
            }
            _ => {}
        }
    }
    let on_at = on_at?;
    let privs_text = &rest[..on_at];
    let object = rest[on_at + 4..].trim_start();
    if object.starts_with("FUNCTION ") || object.starts_with("PROCEDURE ") || object.starts_with("PACKAGE ") {
        return None;
    }
    let (db, after) = ident_or_star(object)?;
    let after = after.strip_prefix('.')?;
    let (table, after) = ident_or_star(after)?;
    if !after.trim_start().starts_with("TO ") {
        return None;
    }
    let mut privileges = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for ch in privs_text.chars() {
        match ch {
            '(' => {
                depth += 1;
                cur.push(ch);
            }
            ')' => {
                depth -= 1;
                cur.push(ch);
            }
            ',' if depth == 0 => {
                privileges.push(std::mem::take(&mut cur));
            }
            _ => cur.push(ch),
        }
    }
    privileges.push(cur);
    let privileges = privileges
        .into_iter()
        .map(|p| p.trim().to_uppercase())
        .filter(|p| !p.contains('(') && !p.is_empty())
        .map(|p| if p == "ALL PRIVILEGES" { "ALL".to_string() } else { p })
        .collect();
    Some(Grant { privileges, db, table })
}

/// `*`, `` `name` `` or a bare name; returns the name (None for `*`) and the rest.
fn ident_or_star(s: &str) -> Option<(Option<String>, &str)> {
    if let Some(r) = s.strip_prefix('*') {
        return Some((None, r));
    }
    if let Some(r) = s.strip_prefix('`') {
        let mut name = String::new();
        let mut chars = r.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '`' {
                if matches!(chars.peek(), Some((_, '`'))) {
                    chars.next();
                    name.push('`');
                    continue;
                }
                return Some((Some(name), &r[i + 1..]));
            }
            name.push(c);
        }
        return None;
    }
    let end = s.find(|c: char| c == '.' || c.is_whitespace()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((Some(s[..end].to_string()), &s[end..]))
}

/// A GRANT's database name is a LIKE pattern (`%`, `_`, `\` escapes).
fn db_pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('%') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('_') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('\\') if p.len() > 1 => !n.is_empty() && n[0] == p[1] && go(&p[2..], &n[1..]),
            Some(c) => !n.is_empty() && n[0] == *c && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Whether `privilege` on `db`.`table` is granted as itself or through a privilege that covers
/// it on this server ([`Flavor::privileges_covering`]).
pub(super) fn granted(f: &Flavor, grants: &[Grant], privilege: &str, db: Option<&str>, table: Option<&str>) -> bool {
    f.privileges_covering(privilege).iter().any(|p| has_privilege(grants, p, db, table))
}

/// Whether `privilege` on `db`.`table` (None: any/all) is granted, directly or through ALL, at the
/// global, database or table level.
pub fn has_privilege(grants: &[Grant], privilege: &str, db: Option<&str>, table: Option<&str>) -> bool {
    grants.iter().any(|g| {
        let covers = match (&g.db, &g.table, db, table) {
            (None, _, _, _) => true,
            (Some(_), _, None, _) => false,
            (Some(gd), None, Some(d), _) => db_pattern_matches(gd, d),
            (Some(gd), Some(gt), Some(d), Some(t)) => gd == d && gt == t,
            (Some(_), Some(_), Some(_), None) => false,
        };
        covers && g.privileges.iter().any(|p| p == "ALL" || p == privilege)
    })
}

pub(super) fn scope(db: Option<&str>, table: Option<&str>) -> String {
    match (db, table) {
        (None, _) => "*.*".into(),
        (Some(d), None) => format!("{}.*", q(d)),
        (Some(d), Some(t)) => qt(d, t),
    }
}

/// "SELECT on `shop`.*, REPLICATION SLAVE on *.*" and the GRANT statements that fix it.
pub(super) fn grant_statements(missing: &BTreeSet<(String, String)>, user: &str) -> (String, String) {
    let mut by_scope: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (p, s) in missing {
        by_scope.entry(s).or_default().push(p);
    }
    let list = by_scope.iter().map(|(s, ps)| format!("{} on {s}", ps.join(", "))).collect::<Vec<_>>().join(", ");
    let stmts = by_scope.iter().map(|(s, ps)| format!("GRANT {} ON {s} TO {user};", ps.join(", "))).collect::<Vec<_>>().join(" ");
    (list, stmts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grant_lines() {
        let g = parse_grant("GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*D8'").unwrap();
        assert_eq!(
            g,
            Grant { privileges: vec!["SELECT".into(), "REPLICATION SLAVE".into(), "BINLOG MONITOR".into()], db: None, table: None }
        );
        let g = parse_grant("GRANT ALL PRIVILEGES ON `sh_p%`.* TO `u`@`%` WITH GRANT OPTION").unwrap();
        assert_eq!((g.privileges, g.db, g.table), (vec!["ALL".to_string()], Some("sh_p%".to_string()), None));
        let g = parse_grant("GRANT SELECT (a, b), INSERT ON `shop`.`t` TO 'u'@'%'").unwrap();
        assert_eq!((g.privileges, g.table), (vec!["INSERT".to_string()], Some("t".to_string())));
        assert!(parse_grant("GRANT `r1` TO `u`@`%`").is_none());
        assert!(parse_grant("GRANT EXECUTE ON PROCEDURE `db`.`p` TO `u`@`%`").is_none());
        let g = parse_grant("GRANT SELECT ON shop.* TO `u`@`%`").unwrap();
        assert_eq!(g.db.as_deref(), Some("shop"));
    }

    #[test]
    fn privileges_cover_levels_and_patterns() {
        let grants: Vec<Grant> =
            ["GRANT SELECT ON `sh\\_p%`.* TO `u`@`%`", "GRANT INSERT ON `crm`.`t` TO `u`@`%`", "GRANT REPLICATION SLAVE ON *.* TO `u`@`%`"]
                .iter()
                .filter_map(|l| parse_grant(l))
                .collect();
        assert!(has_privilege(&grants, "SELECT", Some("sh_prod"), Some("x")));
        assert!(!has_privilege(&grants, "SELECT", Some("shXprod"), None), "an escaped _ is literal");
        assert!(has_privilege(&grants, "INSERT", Some("crm"), Some("t")));
        assert!(!has_privilege(&grants, "INSERT", Some("crm"), None));
        assert!(has_privilege(&grants, "REPLICATION SLAVE", None, None));
        assert!(!has_privilege(&grants, "SELECT", None, None));
    }

    #[test]
    fn mysql_dynamic_privileges_and_role_lines_parse() {
        let lines = [
            "GRANT USAGE ON *.* TO `lim`@`%`",
            "GRANT RELOAD, REPLICATION CLIENT ON *.* TO `lim`@`%`",
            "GRANT BACKUP_ADMIN,SESSION_VARIABLES_ADMIN ON *.* TO `lim`@`%`",
            "GRANT SELECT ON `shop`.* TO `lim`@`%`",
            "GRANT `r1`@`%` TO `lim`@`%`",
        ];
        let grants: Vec<Grant> = lines.iter().filter_map(|l| parse_grant(l)).collect();
        assert_eq!(grants.len(), 4, "the role line is no privilege grant: {grants:?}");
        assert_eq!(grants[2].privileges, vec!["BACKUP_ADMIN".to_string(), "SESSION_VARIABLES_ADMIN".to_string()]);
        let mysql = Flavor::from_version("9.7.4-2");
        assert!(granted(&mysql, &grants, "SESSION_VARIABLES_ADMIN", None, None));
        assert!(granted(&mysql, &grants, "RELOAD", None, None));
        assert!(!granted(&mysql, &grants, "SHOW_ROUTINE", None, None));
        assert!(!granted(&mysql, &grants, "REPLICATION SLAVE", None, None));
    }

    #[test]
    fn privileges_count_through_those_that_cover_them() {
        let parse = |ls: &[&str]| -> Vec<Grant> { ls.iter().filter_map(|l| parse_grant(l)).collect() };
        let mysql = Flavor::from_version("9.7.4-2");
        let maria = Flavor::from_version("10.11.19-MariaDB-log");
        let old_maria = Flavor::from_version("10.4.30-MariaDB");
        // MySQL: SUPER gives SHOW BINARY LOG STATUS and restricted session variables;
        // FLUSH_TABLES gives FLUSH TABLES WITH READ LOCK; global SELECT reads routines.
        let g = parse(&["GRANT SUPER, SELECT ON *.* TO `u`@`%`", "GRANT FLUSH_TABLES ON *.* TO `u`@`%`"]);
        for p in ["REPLICATION CLIENT", "SESSION_VARIABLES_ADMIN", "RELOAD", "SHOW_ROUTINE"] {
            assert!(granted(&mysql, &g, p, None, None), "{p}");
        }
        // MariaDB 10.5+ took the binlog's rights out of SUPER; its old name still counts.
        assert!(!granted(&maria, &g, "BINLOG MONITOR", None, None));
        assert!(granted(&old_maria, &g, "REPLICATION CLIENT", None, None));
        assert!(!granted(&maria, &g, "RELOAD", None, None), "FLUSH_TABLES is MySQL's");
        let g = parse(&["GRANT REPLICATION CLIENT ON *.* TO `u`@`%`"]);
        assert!(granted(&maria, &g, "BINLOG MONITOR", None, None));
        // Routines: SHOW_ROUTINE on MySQL 8.0.20+, SELECT on mysql.proc on MariaDB.
        assert_eq!(mysql.routine_read_privilege(), ("SHOW_ROUTINE", None, None));
        assert_eq!(maria.routine_read_privilege(), ("SELECT", Some("mysql"), Some("proc")));
        let g = parse(&["GRANT SELECT ON `mysql`.`proc` TO `u`@`%`"]);
        assert!(granted(&maria, &g, "SELECT", Some("mysql"), Some("proc")));
        // The snapshot: MySQL's brief global read lock, and the position read under it.
        assert_eq!(mysql.snapshot_privileges(true), vec!["RELOAD", "REPLICATION CLIENT"]);
        assert_eq!(mysql.snapshot_privileges(false), vec!["RELOAD"]);
        assert!(maria.snapshot_privileges(true).is_empty());
    }
}
