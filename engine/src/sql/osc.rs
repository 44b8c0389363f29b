//! Online schema change tools: the helper tables and triggers of gh-ost and
//! pt-online-schema-change, recognized by name so that the selection follows a table
//! through its cut-over (`selection.rs`) and the task's table list leaves the
//! helpers out (`mapping.rs`).
//!
//! Their cut-over sequences, as they appear in the binlog:
//!
//! - gh-ost: `CREATE TABLE _t_ghc ...` (changelog), `CREATE TABLE _t_gho LIKE t`,
//!   `ALTER TABLE _t_gho <the change>`, rows copied into `_t_gho`, then the atomic
//!   cut-over `RENAME TABLE t TO _t_del, _t_gho TO t`, later `DROP TABLE _t_del` and
//!   `DROP TABLE _t_ghc` (with `--timestamp-old-table` the old table is `_t_<YYYYMMDDhhmmss>_del`).
//! - pt-online-schema-change: `CREATE TABLE _t_new LIKE t` (SHOW CREATE text of `t`
//!   in fact), `ALTER TABLE _t_new <the change>`, triggers `pt_osc_<db>_<t>_ins|upd|del`
//!   on `t` that copy changes into `_t_new`, rows copied with INSERT ... SELECT, then
//!   `RENAME TABLE t TO _t_old, _t_new TO t`, `DROP TABLE IF EXISTS _t_old` and
//!   `DROP TRIGGER` of the three triggers. When `_t_new` exists already pt-osc adds
//!   leading underscores (`__t_new`).

/// What a helper table of an online schema change tool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShadowRole {
    /// gh-ost `_t_gho`: the new table being filled; renamed to `t` at cut-over.
    GhostTable,
    /// gh-ost `_t_ghc`: its changelog / heartbeat table.
    GhostChangelog,
    /// gh-ost `_t_del` (or `_t_<timestamp>_del`): the old `t` after cut-over.
    GhostOld,
    /// pt-online-schema-change `_t_new`: the new table; renamed to `t` at cut-over.
    PtoscNew,
    /// pt-online-schema-change `_t_old`: the old `t` after cut-over, dropped next.
    PtoscOld,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    /// The table being changed.
    pub base: String,
    pub role: ShadowRole,
}

impl Shadow {
    /// Whether the table holds the table's future rows (renamed over `base` at cut-over).
    pub fn is_new_table(&self) -> bool {
        matches!(self.role, ShadowRole::GhostTable | ShadowRole::PtoscNew)
    }
}

/// Recognizes gh-ost's `_<t>_gho`, `_<t>_ghc`, `_<t>_del`, `_<t>_<14 digits>_del` and
/// pt-online-schema-change's `_<t>_new`, `_<t>_old` (with more leading underscores when
/// the name was taken). A table literally named like that is taken for a shadow table.
pub fn shadow_of(table: &str) -> Option<Shadow> {
    let rest = table.strip_prefix('_')?;
    let (stem, suffix) = rest.rsplit_once('_')?;
    let role = match suffix {
        "gho" => ShadowRole::GhostTable,
        "ghc" => ShadowRole::GhostChangelog,
        "del" => ShadowRole::GhostOld,
        "new" => ShadowRole::PtoscNew,
        "old" => ShadowRole::PtoscOld,
        _ => return None,
    };
    let mut base = stem;
    match role {
        ShadowRole::GhostOld => {
            if let Some((b, ts)) = stem.rsplit_once('_')
                && ts.len() == 14
                && ts.bytes().all(|c| c.is_ascii_digit())
                && !b.is_empty()
            {
                base = b;
            }
        }
        ShadowRole::PtoscNew | ShadowRole::PtoscOld => base = stem.trim_start_matches('_'),
        _ => {}
    }
    (!base.is_empty()).then(|| Shadow { base: base.to_string(), role })
}

/// pt-online-schema-change's triggers: `pt_osc_<db>_<table>_ins|upd|del`.
pub fn is_osc_trigger(name: &str) -> bool {
    name.starts_with("pt_osc_") && (name.ends_with("_ins") || name.ends_with("_upd") || name.ends_with("_del"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::rewrite_ddl;

    /// The DDL replay tests' mapping: shop -> shop2, orders -> purchases, ...
    fn rw(sql: &str) -> String {
        let m = crate::sql::names::fixtures::map(crate::sql::names::fixtures::DDL_REPLAY);
        rewrite_ddl(sql, "shop", &m).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn shadows() {
        use ShadowRole::*;
        for (table, want) in [
            ("_orders_gho", Some(("orders", GhostTable))),
            ("_orders_ghc", Some(("orders", GhostChangelog))),
            ("_orders_del", Some(("orders", GhostOld))),
            ("_orders_20260928120000_del", Some(("orders", GhostOld))),
            ("_orders_new", Some(("orders", PtoscNew))),
            ("__orders_new", Some(("orders", PtoscNew))),
            ("_orders_old", Some(("orders", PtoscOld))),
            ("_my_table_gho", Some(("my_table", GhostTable))),
            ("orders_new", None),
            ("_orders", None),
            ("_gho", None),
            ("__gho", None),
        ] {
            let got = shadow_of(table).map(|s| (s.base, s.role));
            let want = want.map(|(base, role)| (base.to_string(), role));
            assert_eq!(got, want, "{table}");
        }
        assert!(shadow_of("_t_gho").unwrap().is_new_table());
        // The gh-ost cut-over, mapped.
        let cut = "RENAME TABLE `shop`.`orders` TO `shop`.`_orders_del`, `shop`.`_orders_gho` TO `shop`.`orders`";
        assert_eq!(rw(cut), "RENAME TABLE `shop2`.`purchases` TO `shop2`.`_orders_del`, `shop2`.`_orders_gho` TO `shop2`.`purchases`");
    }
}
