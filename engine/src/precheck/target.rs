//! The target's side of the copy: target-local-infile (how rows are written), charsets (every
//! collation the selection uses exists there), server-settings (sql_mode, time zone, ... agree
//! with the source's), target-free-space.

use std::collections::{BTreeMap, BTreeSet};

use mysql_async::Conn;
use mysql_async::prelude::*;

use crate::db::flavor::Kind;
use crate::db::{Role, Server, lit};
use crate::error::Result;
use crate::sync::copier::LoadPath;

use super::{Check, E, W, global_vars, is_on, item};
use ferry_crds::PrecheckResult;

impl Check<'_> {
    /// How the copy will write rows: LOAD DATA LOCAL INFILE, or batched INSERTs where the target
    /// has local_infile OFF. Informational: both paths copy every row exactly.
    pub(super) async fn local_infile(&mut self) {
        let id = "target-local-infile";
        if !self.spec.initial_sync.data {
            return self.skip(id, "initialSync.data: false: no rows are loaded");
        }
        let Some(mut tgt) = self.tgt.take() else {
            return self.unreachable(&[id], Role::Target);
        };
        let path = LoadPath::of_target(&self.target, &mut tgt).await;
        self.tgt = Some(tgt);
        match path {
            Ok(LoadPath::LoadData) => self.pass(id, format!("the copy writes rows with {}", LoadPath::LoadData.describe())),
            Ok(LoadPath::Inserts) => self.pass(
                id,
                format!(
                    "the copy writes rows with {} on {}: every value as exact as through LOAD DATA LOCAL INFILE, \
                     which copies some 20 to 40% faster (SET GLOBAL local_infile = 1 on the target to use it)",
                    LoadPath::Inserts.describe(),
                    self.target.address
                ),
            ),
            Err(e) => self.pass(
                id,
                format!(
                    "local_infile could not be read ({e}): the copy tries {} and turns to batched INSERTs if the target refuses it",
                    LoadPath::LoadData.describe()
                ),
            ),
        }
    }

    /// Item 11.
    pub(super) async fn charsets(&mut self) {
        let id = "charsets";
        let Some(mut src) = self.src.take() else {
            return self.unreachable(&[id], Role::Source);
        };
        let Some(mut tgt) = self.tgt.take() else {
            self.src = Some(src);
            return self.unreachable(&[id], Role::Target);
        };
        let r = match self.collations_used(&mut src).await {
            Ok(used) => target_collations(&self.target, &mut tgt).await.map(|have| (used, have)),
            Err(e) => Err(e),
        };
        self.src = Some(src);
        self.tgt = Some(tgt);
        let (used, (have_co, have_cs)) = match r {
            Ok(v) => v,
            Err(e) => return self.broken(id, e),
        };
        let missing: Vec<(String, String, String)> =
            used.into_iter().filter(|(co, _)| !have_co.contains(&co.to_lowercase())).map(|(co, (cs, who))| (co, cs, who)).collect();
        if missing.is_empty() {
            return self.pass(id, "every character set and collation the selected objects use exists on the target");
        }
        let list = missing
            .iter()
            .map(|(co, cs, who)| {
                if have_cs.contains(&cs.to_lowercase()) {
                    format!("collation {co} (used by {who})")
                } else {
                    format!("character set {cs} / collation {co} (used by {who})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        self.fail(
            id,
            format!("the target {} lacks {list}", self.target.address),
            format!(
                "use a target server that has them, or change the objects on the source to a collation the target has (e.g. ALTER TABLE ... CONVERT TO CHARACTER SET {} COLLATE <a collation from SHOW COLLATION on the target>)",
                missing[0].1
            ),
        );
    }

    /// The collations the selected objects use on the source (databases' defaults, tables,
    /// columns): collation -> (character set, its first user).
    async fn collations_used(&self, src: &mut Conn) -> Result<BTreeMap<String, (String, String)>> {
        let source = &self.source;
        let mut used: BTreeMap<String, (String, String)> = BTreeMap::new();
        for d in &self.dbs {
            let row: Option<(String, String)> = src
                .exec_first(
                    "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                    (&d.src,),
                )
                .await
                .map_err(source.err("reading database collations"))?;
            if let Some((cs, co)) = row {
                used.entry(co).or_insert((cs, format!("database {}", d.src)));
            }
            let cols: Vec<(String, String, String, String)> = src
                .exec(
                    "SELECT TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = ? AND COLLATION_NAME IS NOT NULL AND CHARACTER_SET_NAME IS NOT NULL",
                    (&d.src,),
                )
                .await
                .map_err(source.err("reading column collations"))?;
            let tabs: Vec<(String, Option<String>)> = src
                .exec("SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", (&d.src,))
                .await
                .map_err(source.err("reading table collations"))?;
            let chosen = |t: &str| self.tables.iter().any(|s| s.src_db == d.src && s.src_table == t) || d.whole;
            for (t, co) in tabs {
                if let Some(co) = co.filter(|_| chosen(&t)) {
                    let cs = co.split('_').next().unwrap_or_default().to_string();
                    used.entry(co).or_insert((cs, format!("table {}.{t}", d.src)));
                }
            }
            for (t, c, cs, co) in cols {
                if chosen(&t) {
                    used.entry(co).or_insert((cs, format!("column {}.{t}.{c}", d.src)));
                }
            }
        }
        Ok(used)
    }

    /// Item 12.
    pub(super) async fn server_settings(&mut self) {
        let id = "server-settings";
        let (Some(mut src), Some(mut tgt)) = (self.src.take(), self.tgt.take()) else {
            return self.skip(id, "not checked: a server is not reachable");
        };
        let names = ["sql_mode", "time_zone", "system_time_zone", "lower_case_table_names", "explicit_defaults_for_timestamp"];
        let (s, t) = (global_vars(&self.source, &mut src, &names).await, global_vars(&self.target, &mut tgt, &names).await);
        self.src = Some(src);
        self.tgt = Some(tgt);
        let (s, t) = match (s, t) {
            (Ok(s), Ok(t)) => (s, t),
            (Err(e), _) | (_, Err(e)) => return self.broken(id, e),
        };
        let (diffs, mut remedies): (Vec<String>, Vec<String>) =
            [sql_mode_diff(&s, &t), time_zone_diff(&s, &t), lower_case_diff(&s, &t), explicit_defaults_diff(&s, &t)]
                .into_iter()
                .flatten()
                .unzip();
        if diffs.is_empty() {
            self.pass(id, "sql_mode, time_zone, lower_case_table_names and explicit_defaults_for_timestamp agree");
        } else {
            remedies.push("(and the same in the target's config)".into());
            self.fail(id, diffs.join("; "), remedies.join(" "));
        }
    }

    /// Item 8.
    pub(super) async fn free_space(&mut self) {
        let id = "target-free-space";
        if !self.spec.initial_sync.data {
            self.items.push(item(id, W, PrecheckResult::Skipped, "initialSync.data: false: no rows are copied", ""));
            return;
        }
        let Some(mut tgt) = self.tgt.take() else {
            self.items.push(item(id, E, PrecheckResult::Skipped, "not checked: the target is not reachable (see target-connection)", ""));
            return;
        };
        if self.src.is_none() {
            self.tgt = Some(tgt);
            self.items.push(item(id, E, PrecheckResult::Skipped, "not checked: the source is not reachable (see source-connection)", ""));
            return;
        }
        let needed: u64 = self.tables.iter().map(|t| t.bytes).sum();
        let free = free_bytes(&mut tgt).await;
        self.tgt = Some(tgt);
        let mib = |b: u64| b.div_ceil(1 << 20);
        match free {
            None => self.items.push(item(
                id,
                W,
                PrecheckResult::Failed,
                format!(
                    "the target {} cannot tell its free space over SQL; the selected data takes about {} MiB on the source (data and indexes)",
                    self.target.address,
                    mib(needed)
                ),
                match self.tgt_flavor.as_ref().map(|f| f.kind) {
                    Some(Kind::MySql) => "make sure the target's data folder has that much free (MySQL tells no free space over SQL); accept with spec.precheck.skip: [target-free-space]",
                    _ => "make sure the target's data folder has that much free, or on MariaDB INSTALL SONAME 'disks'; so the precheck can see it; accept with spec.precheck.skip: [target-free-space]",
                },
            )),
            Some(f) if f >= needed + needed / 5 => self.items.push(item(
                id,
                E,
                PrecheckResult::Passed,
                format!("{} MiB free on the target for about {} MiB of data", mib(f), mib(needed)),
                "",
            )),
            Some(f) => self.items.push(item(
                id,
                E,
                PrecheckResult::Failed,
                format!(
                    "{} MiB free on the target {}, the selected data takes about {} MiB (plus 20% headroom)",
                    mib(f),
                    self.target.address,
                    mib(needed)
                ),
                "free space on the target's data volume or grow it, or select less data",
            )),
        }
    }
}

/// The target's collations and character sets, in lower case.
async fn target_collations(target: &Server, tgt: &mut Conn) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
    // MariaDB 10.10+ lists its UCA 14.0 collations without a character set.
    let have: Vec<(String, Option<String>)> = tgt
        .query("SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
        .await
        .map_err(target.err("reading the target's collations"))?;
    let have_co: BTreeSet<String> = have.iter().map(|(c, _)| c.to_lowercase()).collect();
    let have_cs: BTreeSet<String> = have.iter().filter_map(|(_, s)| s.as_ref().map(|s| s.to_lowercase())).collect();
    Ok((have_co, have_cs))
}

/// The free space of the volume holding the target's data folder, in bytes, where the server
/// tells it.
async fn free_bytes(tgt: &mut Conn) -> Option<u64> {
    let datadir: Option<String> = tgt.query_first("SELECT @@datadir").await.ok().flatten();
    // MariaDB's `disks` plugin is the only way a server tells its free space over SQL.
    let disks: std::result::Result<Vec<(String, u64)>, _> = tgt.query("SELECT Path, Available FROM information_schema.DISKS").await;
    match (&datadir, disks) {
        (Some(dir), Ok(d)) => {
            d.into_iter().filter(|(p, _)| dir.starts_with(p.as_str())).max_by_key(|(p, _)| p.len()).map(|(_, kib)| kib * 1024)
        }
        _ => None,
    }
}

// ---- server-settings: each setting that differs, with what makes the target agree ---------------

/// Global variables by lower-case name.
type Vars = BTreeMap<String, String>;

fn sql_mode_diff(s: &Vars, t: &Vars) -> Option<(String, String)> {
    let modes = |m: Option<&String>| -> BTreeSet<String> {
        m.map(|m| m.split(',').filter(|x| !x.is_empty()).map(|x| x.trim().to_uppercase()).collect()).unwrap_or_default()
    };
    let (sm, tm) = (modes(s.get("sql_mode")), modes(t.get("sql_mode")));
    if sm == tm {
        return None;
    }
    let only_s: Vec<_> = sm.difference(&tm).cloned().collect();
    let only_t: Vec<_> = tm.difference(&sm).cloned().collect();
    let diff = format!(
        "sql_mode differs (only on the source: {}; only on the target: {}): defaults, views and routines can behave differently",
        if only_s.is_empty() { "-".into() } else { only_s.join(",") },
        if only_t.is_empty() { "-".into() } else { only_t.join(",") }
    );
    Some((diff, format!("SET GLOBAL sql_mode = {};", lit(s.get("sql_mode").map(String::as_str).unwrap_or("")))))
}

fn time_zone_diff(s: &Vars, t: &Vars) -> Option<(String, String)> {
    let tz = |v: &Vars| -> String {
        match v.get("time_zone").map(String::as_str) {
            Some("SYSTEM") | None => format!("SYSTEM ({})", v.get("system_time_zone").cloned().unwrap_or_default()),
            Some(z) => z.to_string(),
        }
    };
    if tz(s) == tz(t) {
        return None;
    }
    let diff = format!(
        "time_zone differs (source {}, target {}): NOW() and CURRENT_TIMESTAMP defaults, and TIMESTAMP values read in the server's zone, change meaning",
        tz(s),
        tz(t)
    );
    let zone = s.get("time_zone").filter(|z| *z != "SYSTEM").or(s.get("system_time_zone")).cloned().unwrap_or_default();
    Some((diff, format!("SET GLOBAL time_zone = {};", lit(&zone))))
}

fn lower_case_diff(s: &Vars, t: &Vars) -> Option<(String, String)> {
    let (sl, tl) = (s.get("lower_case_table_names"), t.get("lower_case_table_names"));
    if sl == tl {
        return None;
    }
    let diff = format!(
        "lower_case_table_names differs (source {}, target {}): table names that differ only in case become one on the target, or change case",
        sl.map(String::as_str).unwrap_or("?"),
        tl.map(String::as_str).unwrap_or("?")
    );
    let remedy = format!(
        "start the target with lower_case_table_names={} (read-only at runtime; MySQL 8 only at initialization)",
        sl.map(String::as_str).unwrap_or("0")
    );
    Some((diff, remedy))
}

fn explicit_defaults_diff(s: &Vars, t: &Vars) -> Option<(String, String)> {
    let (Some(se), Some(te)) = (s.get("explicit_defaults_for_timestamp"), t.get("explicit_defaults_for_timestamp")) else {
        return None;
    };
    if is_on(Some(se)) == is_on(Some(te)) {
        return None;
    }
    let diff = format!(
        "explicit_defaults_for_timestamp differs (source {se}, target {te}): TIMESTAMP columns created on the target get other defaults and nullability"
    );
    Some((diff, format!("SET GLOBAL explicit_defaults_for_timestamp = {};", if is_on(Some(se)) { "ON" } else { "OFF" })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> Vars {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn server_settings_compare_as_the_servers_mean_them() {
        // sql_mode: a set, compared without order, case or empty parts.
        let (s, t) =
            (vars(&[("sql_mode", "STRICT_TRANS_TABLES,NO_ZERO_DATE")]), vars(&[("sql_mode", "no_zero_date,strict_trans_tables,")]));
        assert_eq!(sql_mode_diff(&s, &t), None);
        let (diff, remedy) = sql_mode_diff(&s, &vars(&[("sql_mode", "NO_ZERO_DATE,ANSI_QUOTES")])).unwrap();
        assert!(diff.contains("only on the source: STRICT_TRANS_TABLES; only on the target: ANSI_QUOTES"), "{diff}");
        assert_eq!(remedy, "SET GLOBAL sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE';");
        // time_zone: SYSTEM by the system's zone.
        let utc = vars(&[("time_zone", "SYSTEM"), ("system_time_zone", "UTC")]);
        assert_eq!(time_zone_diff(&utc, &vars(&[("time_zone", "SYSTEM"), ("system_time_zone", "UTC")])), None);
        let (diff, remedy) = time_zone_diff(&utc, &vars(&[("time_zone", "+02:00")])).unwrap();
        assert!(diff.contains("source SYSTEM (UTC), target +02:00"), "{diff}");
        assert_eq!(remedy, "SET GLOBAL time_zone = 'UTC';");
        // lower_case_table_names: the target is started with the source's.
        let (_, remedy) = lower_case_diff(&vars(&[("lower_case_table_names", "1")]), &vars(&[("lower_case_table_names", "0")])).unwrap();
        assert!(remedy.starts_with("start the target with lower_case_table_names=1"), "{remedy}");
        // explicit_defaults_for_timestamp: only where both servers have it, ON and 1 alike.
        let on = vars(&[("explicit_defaults_for_timestamp", "ON")]);
        assert_eq!(explicit_defaults_diff(&on, &vars(&[("explicit_defaults_for_timestamp", "1")])), None);
        assert_eq!(explicit_defaults_diff(&on, &vars(&[])), None);
        let (diff, remedy) = explicit_defaults_diff(&on, &vars(&[("explicit_defaults_for_timestamp", "OFF")])).unwrap();
        assert!(diff.contains("(source ON, target OFF)"), "{diff}");
        assert_eq!(remedy, "SET GLOBAL explicit_defaults_for_timestamp = ON;");
    }
}
