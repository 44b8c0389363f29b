//! Checks of a `SyncTask` spec that need no server: what `ferry run`, `ferry precheck` and the
//! operator refuse before anything connects, each naming the field. The precheck's item table
//! lives here too, since `spec.precheck.skip` is checked against it.

use std::fmt;

use crate::{ExistingTables, PrecheckLevel, PrecheckResult, PrecheckStatus, SyncTaskSpec, TlsMode};

use PrecheckLevel::{Error, Warning};

/// A spec field that cannot be accepted, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for Invalid {}

/// Checks the schema cannot express: what the operator's CEL rules will also say.
pub fn validate(spec: &SyncTaskSpec) -> Result<(), Invalid> {
    for (role, ep) in [("source", &spec.source), ("target", &spec.target)] {
        endpoint(role, ep)?;
    }
    if spec.objects.is_empty() {
        return Err(Invalid::new("spec.objects", "select at least one database"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, db) in spec.objects.iter().enumerate() {
        let field = format!("spec.objects[{i}]");
        if !seen.insert(db.database.clone()) {
            return Err(Invalid::new(format!("{field}.database"), format!("{} is selected twice", db.database)));
        }
        database(spec, db, &field)?;
    }
    if spec.engine.parallelism == 0 || spec.engine.parallelism > 64 {
        return Err(Invalid::new("spec.engine.parallelism", "must be 1-64"));
    }
    if spec.engine.chunk_rows < 1000 {
        return Err(Invalid::new("spec.engine.chunkRows", "must be at least 1000"));
    }
    if spec.engine.batch_bytes < 4096 {
        return Err(Invalid::new("spec.engine.batchBytes", "must be at least 4096"));
    }
    check_name("spec.metadataDatabase", &spec.metadata_database)?;
    validate_skip(spec)?;
    Ok(())
}

fn endpoint(role: &str, ep: &crate::Endpoint) -> Result<(), Invalid> {
    if ep.host.trim().is_empty() {
        return Err(Invalid::new(format!("spec.{role}.host"), "must not be empty"));
    }
    if ep.port == 0 {
        return Err(Invalid::new(format!("spec.{role}.port"), "must be 1-65535"));
    }
    if ep.credentials_secret.trim().is_empty() {
        return Err(Invalid::new(format!("spec.{role}.credentialsSecret"), "must name a Secret"));
    }
    if let Some(tls) = &ep.tls
        && tls.ca_secret.is_some()
        && !matches!(tls.mode, TlsMode::VerifyCa | TlsMode::VerifyIdentity)
    {
        return Err(Invalid::new(format!("spec.{role}.tls.caSecret"), "is only used with mode verify-ca or verify-identity"));
    }
    Ok(())
}

/// One database selection (`field`: `spec.objects[i]`) and its tables.
fn database(spec: &SyncTaskSpec, db: &crate::DatabaseSelection, field: &str) -> Result<(), Invalid> {
    check_name(&format!("{field}.database"), &db.database)?;
    if let Some(r) = &db.rename {
        check_name(&format!("{field}.rename"), r)?;
    }
    if db.database == spec.metadata_database || db.rename.as_deref() == Some(&spec.metadata_database) {
        return Err(Invalid::new(
            format!("{field}.database"),
            format!("{} is ferry's metadata database (spec.metadataDatabase)", spec.metadata_database),
        ));
    }
    let Some(tables) = &db.tables else { return Ok(()) };
    if tables.is_empty() {
        return Err(Invalid::new(format!("{field}.tables"), "is empty; omit it to select the whole database"));
    }
    let mut names = std::collections::BTreeSet::new();
    for (j, t) in tables.iter().enumerate() {
        let tf = format!("{field}.tables[{j}]");
        if !names.insert(t.name.clone()) {
            return Err(Invalid::new(format!("{tf}.name"), format!("{} is selected twice", t.name)));
        }
        table(t, &tf)?;
    }
    Ok(())
}

fn table(t: &crate::TableSelection, tf: &str) -> Result<(), Invalid> {
    check_name(&format!("{tf}.name"), &t.name)?;
    if let Some(r) = &t.rename {
        check_name(&format!("{tf}.rename"), r)?;
    }
    if let Some(f) = &t.filter
        && (f.trim().is_empty() || f.contains(';'))
    {
        return Err(Invalid::new(format!("{tf}.where"), "must be one SQL condition"));
    }
    let Some(cols) = &t.columns else { return Ok(()) };
    if cols.is_empty() {
        return Err(Invalid::new(format!("{tf}.columns"), "is empty; omit it to copy every column"));
    }
    let mut cn = std::collections::BTreeSet::new();
    for (k, c) in cols.iter().enumerate() {
        check_name(&format!("{tf}.columns[{k}].name"), &c.name)?;
        if !cn.insert(c.name.to_lowercase()) {
            return Err(Invalid::new(format!("{tf}.columns[{k}].name"), format!("{} is listed twice", c.name)));
        }
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), Invalid> {
    if name.is_empty() || name.len() > 64 || name.ends_with(' ') || name.contains('\0') {
        return Err(Invalid::new(field, format!("{name:?} is not a valid MySQL identifier")));
    }
    Ok(())
}

/// How an item's level is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelRule {
    Fixed(PrecheckLevel),
    /// Error under `existingTables: PrecheckAndIntercept`, Warning under `Ignore`.
    ByExistingTables,
    /// Error when the item can tell the task will fail, Warning when it cannot tell.
    ByOutcome,
}

/// Every item, in report order, with how its level is decided.
pub const ITEMS: &[(&str, LevelRule)] = &[
    ("source-connection", LevelRule::Fixed(Error)),
    ("target-connection", LevelRule::Fixed(Error)),
    ("source-version", LevelRule::Fixed(Error)),
    ("target-version", LevelRule::Fixed(Error)),
    ("version-pair", LevelRule::Fixed(Warning)),
    ("objects-exist", LevelRule::Fixed(Error)),
    ("name-collisions", LevelRule::Fixed(Error)),
    ("binlog-enabled", LevelRule::Fixed(Error)),
    ("binlog-format", LevelRule::Fixed(Error)),
    ("binlog-row-image", LevelRule::Fixed(Error)),
    ("binlog-row-metadata", LevelRule::Fixed(Error)),
    ("binlog-compression", LevelRule::Fixed(Error)),
    ("server-id", LevelRule::Fixed(Error)),
    ("binlog-retention", LevelRule::Fixed(Warning)),
    ("cascade", LevelRule::Fixed(Error)),
    ("source-privileges", LevelRule::Fixed(Error)),
    ("target-privileges", LevelRule::Fixed(Error)),
    ("target-local-infile", LevelRule::Fixed(Warning)),
    ("existing-tables", LevelRule::ByExistingTables),
    ("primary-keys", LevelRule::Fixed(Warning)),
    ("merge-keys", LevelRule::Fixed(Warning)),
    ("foreign-keys", LevelRule::Fixed(Warning)),
    ("source-triggers", LevelRule::Fixed(Warning)),
    ("charsets", LevelRule::Fixed(Error)),
    ("server-settings", LevelRule::Fixed(Warning)),
    ("target-free-space", LevelRule::ByOutcome),
];

/// The level of item `id` for this spec (None: no such item; Some(None): decided by the outcome).
pub fn level_for(id: &str, spec: &SyncTaskSpec) -> Option<Option<PrecheckLevel>> {
    let (_, rule) = ITEMS.iter().find(|(i, _)| *i == id)?;
    Some(match rule {
        LevelRule::Fixed(l) => Some(*l),
        LevelRule::ByExistingTables => Some(existing_tables_level(spec)),
        LevelRule::ByOutcome => None,
    })
}

pub fn existing_tables_level(spec: &SyncTaskSpec) -> PrecheckLevel {
    if spec.existing_tables == ExistingTables::PrecheckAndIntercept { Error } else { Warning }
}

/// Checks `spec.precheck.skip`: known ids, warning-level only.
pub fn validate_skip(spec: &SyncTaskSpec) -> Result<(), Invalid> {
    for (i, id) in spec.precheck.skip.iter().enumerate() {
        let field = format!("spec.precheck.skip[{i}]");
        match level_for(id, spec) {
            None => {
                let known: Vec<&str> = ITEMS.iter().map(|(i, _)| *i).collect();
                return Err(Invalid::new(field, format!("{id:?} is not a precheck item; items are {}", known.join(", "))));
            }
            Some(Some(PrecheckLevel::Error)) => {
                return Err(Invalid::new(
                    field,
                    format!(
                        "{id} is an error-level item: the task would fail or lose data with it failing, so it cannot be skipped; fix what it reports"
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

impl PrecheckStatus {
    /// The failed error-level items on one line, each with its remedy (for a message or an Event).
    pub fn failures_line(&self) -> String {
        self.items
            .iter()
            .filter(|i| i.level == Error && i.result == PrecheckResult::Failed)
            .map(|i| {
                let mut s = format!("{}: {}", i.id, i.message);
                if !i.remedy.is_empty() {
                    s.push_str(&format!(" (remedy: {})", i.remedy));
                }
                s.replace('\n', " ")
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_list_refuses_errors_and_unknown_ids() {
        let spec = |tail: &str| -> SyncTaskSpec {
            serde_saphyr::from_str(&format!(
                "source: {{host: a, credentialsSecret: s}}\ntarget: {{host: b, credentialsSecret: t}}\nobjects: [{{database: d}}]\n{tail}"
            ))
            .unwrap()
        };
        assert!(validate_skip(&spec("precheck: {skip: [primary-keys, target-free-space]}")).is_ok());
        let e = validate_skip(&spec("precheck: {skip: [primary-keys, binlog-format]}")).unwrap_err().to_string();
        assert!(e.starts_with("spec.precheck.skip[1]") && e.contains("cannot be skipped"), "{e}");
        let e = validate_skip(&spec("precheck: {skip: [nope]}")).unwrap_err().to_string();
        assert!(e.contains("spec.precheck.skip[0]") && e.contains("binlog-format"), "{e}");
        assert!(validate_skip(&spec("precheck: {skip: [existing-tables]}")).is_err());
        assert!(validate_skip(&spec("existingTables: Ignore\nprecheck: {skip: [existing-tables]}")).is_ok());
    }
}
