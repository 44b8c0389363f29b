//! The manifest `ferry run -f` takes: the same multi-document YAML `kubectl apply -f` takes,
//! holding the endpoints' Secrets and one SyncTask. Turns it into a [`Task`] with resolved
//! credentials, or an error naming the file, line and field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::SyncTaskSpec;
use base64::Engine as _;
use serde::Deserialize;

/// A manifest that cannot be used: the file, and what is wrong (with its line and field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ManifestError {}

type Result<T> = std::result::Result<T, ManifestError>;

/// A user name and password. Debug never prints the password.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// A SyncTask with everything needed to run it.
#[derive(Clone, Debug)]
pub struct Task {
    pub name: String,
    pub namespace: String,
    pub spec: SyncTaskSpec,
    pub source_credentials: Credentials,
    pub target_credentials: Credentials,
    /// PEM CA certificates, by endpoint role, when `tls.caSecret` is set.
    pub source_ca: Option<Vec<u8>>,
    pub target_ca: Option<Vec<u8>>,
}

impl Task {
    /// The identity ferry records on the target: tasks sharing a target keep apart by it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Head {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretDoc {
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    string_data: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SyncTaskDoc {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    spec: SyncTaskSpec,
    #[serde(default)]
    #[allow(dead_code)]
    status: Option<serde_json::Value>,
}

/// Reads and resolves a manifest file.
pub fn load(path: &Path) -> Result<Task> {
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError { path: path.to_owned(), message: format!("cannot read: {e}") })?;
    parse(path, &text)
}

/// One YAML document of a multi-document file, padded with blank lines so that the parser's line
/// numbers are the file's.
struct Document {
    first_line: usize,
    padded: String,
}

fn split_documents(text: &str) -> Vec<Document> {
    let lines: Vec<&str> = text.lines().collect();
    let mut docs = Vec::new();
    let mut start = 0;
    for i in 0..=lines.len() {
        let boundary = i == lines.len() || lines[i].trim_end() == "---" || lines[i].starts_with("--- ");
        if !boundary {
            continue;
        }
        let body = &lines[start..i];
        let has_content = body.iter().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && t != "..."
        });
        if has_content {
            let mut padded = "\n".repeat(start);
            for l in body {
                padded.push_str(l);
                padded.push('\n');
            }
            docs.push(Document { first_line: start + 1, padded });
        }
        start = i + 1;
    }
    docs
}

pub fn parse(path: &Path, text: &str) -> Result<Task> {
    let err = |message: String| ManifestError { path: path.to_owned(), message };
    let mut secrets: BTreeMap<String, (usize, SecretDoc)> = BTreeMap::new();
    let mut task: Option<(usize, SyncTaskDoc)> = None;

    for doc in split_documents(text) {
        let head: Head = serde_saphyr::from_str(&doc.padded).map_err(|e| err(yaml_error(&e)))?;
        match (head.api_version.as_deref(), head.kind.as_deref()) {
            (Some("v1"), Some("Secret")) => {
                let secret: SecretDoc = serde_saphyr::from_str(&doc.padded).map_err(|e| err(yaml_error(&e)))?;
                let name =
                    secret.metadata.name.clone().ok_or_else(|| err(format!("line {}: Secret without metadata.name", doc.first_line)))?;
                secrets.insert(name, (doc.first_line, secret));
            }
            (Some(v), Some("SyncTask")) if v.starts_with("ferry.dev/") => {
                if v != "ferry.dev/v1alpha1" {
                    return Err(err(format!("line {}: apiVersion {v} is not served; use ferry.dev/v1alpha1", doc.first_line)));
                }
                if let Some((line, _)) = &task {
                    return Err(err(format!(
                        "line {}: a second SyncTask (the first starts at line {line}); one task per file",
                        doc.first_line
                    )));
                }
                let parsed: SyncTaskDoc = serde_saphyr::from_str(&doc.padded).map_err(|e| err(yaml_error(&e)))?;
                task = Some((doc.first_line, parsed));
            }
            (api, kind) => {
                return Err(err(format!(
                    "line {}: unexpected document (apiVersion {}, kind {}); the file holds v1 Secrets and one ferry.dev/v1alpha1 SyncTask",
                    doc.first_line,
                    api.unwrap_or("missing"),
                    kind.unwrap_or("missing")
                )));
            }
        }
    }

    let (line, doc) = task.ok_or_else(|| err("no SyncTask (apiVersion ferry.dev/v1alpha1) in the file".into()))?;
    let name = doc.metadata.name.clone().ok_or_else(|| err(format!("line {line}: SyncTask without metadata.name")))?;
    let namespace = doc.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let spec = doc.spec;
    crate::validate::validate(&spec).map_err(|e| err(e.to_string()))?;

    let secrets = Secrets { path, docs: secrets };
    Ok(Task {
        source_credentials: secrets.credentials("spec.source.credentialsSecret", &spec.source.credentials_secret)?,
        target_credentials: secrets.credentials("spec.target.credentialsSecret", &spec.target.credentials_secret)?,
        source_ca: secrets.ca("spec.source.tls.caSecret", &spec.source.tls)?,
        target_ca: secrets.ca("spec.target.tls.caSecret", &spec.target.tls)?,
        name,
        namespace,
        spec,
    })
}

/// The Secrets of a manifest, by name, as the task's fields name them.
struct Secrets<'a> {
    path: &'a Path,
    docs: BTreeMap<String, (usize, SecretDoc)>,
}

impl Secrets<'_> {
    fn err(&self, message: String) -> ManifestError {
        ManifestError { path: self.path.to_owned(), message }
    }

    fn get(&self, field: &str, name: &str) -> Result<&SecretDoc> {
        self.docs.get(name).map(|(_, s)| s).ok_or_else(|| self.err(format!("{field}: Secret {name:?} is not in the file")))
    }

    fn credentials(&self, field: &str, name: &str) -> Result<Credentials> {
        let secret = self.get(field, name)?;
        let key = |k: &str| secret_value(secret, k).map_err(|m| self.err(format!("Secret {name:?}: {m}")));
        Ok(Credentials { username: key("username")?, password: key("password")? })
    }

    fn ca(&self, field: &str, tls: &Option<crate::Tls>) -> Result<Option<Vec<u8>>> {
        let Some(name) = tls.as_ref().and_then(|t| t.ca_secret.as_deref()) else { return Ok(None) };
        let pem = secret_value(self.get(field, name)?, "ca.crt").map_err(|m| self.err(format!("Secret {name:?}: {m}")))?;
        Ok(Some(pem.into_bytes()))
    }
}

fn secret_value(secret: &SecretDoc, key: &str) -> std::result::Result<String, String> {
    if let Some(v) = secret.string_data.get(key) {
        return Ok(v.clone());
    }
    match secret.data.get(key) {
        Some(b64) => {
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| format!("data.{key} is not valid base64"))?;
            String::from_utf8(bytes).map_err(|_| format!("data.{key} is not UTF-8"))
        }
        None => Err(format!("no key {key:?} in data or stringData")),
    }
}

/// serde-saphyr's message already carries the line, column and field; keep it on one line.
fn yaml_error(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: src}
stringData: {username: u1, password: "p1"}
---
apiVersion: v1
kind: Secret
metadata: {name: dst}
data: {username: dTI=, password: cDI=}
---
apiVersion: ferry.dev/v1alpha1
kind: SyncTask
metadata: {name: t1}
spec:
  source: {host: 127.0.0.1, port: 3307, credentialsSecret: src}
  target: {host: db2, credentialsSecret: dst}
  objects:
  - database: shop
    tables:
    - name: orders
      rename: orders_v2
      where: "id > 10"
"#;

    #[test]
    fn parses_secrets_and_task() {
        let t = parse(Path::new("m.yaml"), GOOD).unwrap();
        assert_eq!(t.name, "t1");
        assert_eq!(t.namespace, "default");
        assert_eq!(t.source_credentials, Credentials { username: "u1".into(), password: "p1".into() });
        assert_eq!(t.target_credentials.password, "p2");
        assert_eq!(t.spec.target.port, 3306);
        assert!(t.spec.initial_sync.schema && t.spec.initial_sync.data);
        assert_eq!(t.spec.engine.parallelism, 4);
        let tables = t.spec.objects[0].tables.as_ref().unwrap();
        assert_eq!(tables[0].filter.as_deref(), Some("id > 10"));
        assert!(!format!("{:?}", t).contains("p1"), "Debug must not print passwords");
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let bad = GOOD.replace("      rename: orders_v2", "      renmae: orders_v2");
        let e = parse(Path::new("m.yaml"), &bad).unwrap_err().to_string();
        assert!(e.starts_with("m.yaml:"), "{e}");
        assert!(e.contains("renmae"), "{e}");
        let line = bad.lines().position(|l| l.contains("renmae")).unwrap() + 1;
        assert!(e.contains(&format!("{line}")), "line {line} missing in {e}");
    }

    #[test]
    fn missing_secret_is_named() {
        let bad = GOOD.replace("credentialsSecret: dst", "credentialsSecret: nope");
        let e = parse(Path::new("m.yaml"), &bad).unwrap_err().to_string();
        assert!(e.contains("spec.target.credentialsSecret") && e.contains("nope"), "{e}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let e = parse(Path::new("m.yaml"), &GOOD.replace("port: 3307", "port: 99999")).unwrap_err().to_string();
        assert!(e.contains("port") || e.contains("99999"), "{e}");
        let e = parse(Path::new("m.yaml"), &GOOD.replace("where: \"id > 10\"", "where: \"\"")).unwrap_err().to_string();
        assert!(e.contains("spec.objects[0].tables[0].where"), "{e}");
        let no_task: String = GOOD.split("---").take(2).collect::<Vec<_>>().join("---");
        let e = parse(Path::new("m.yaml"), &no_task).unwrap_err().to_string();
        assert!(e.contains("no SyncTask"), "{e}");
    }
}
