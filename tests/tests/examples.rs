//! The manifests in examples/ stay valid SyncTasks whose Secrets are all there.

use std::path::Path;

fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else {
            let d = docs.last_mut().unwrap();
            d.push_str(line);
            d.push('\n');
        }
    }
    docs.into_iter().filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))).collect()
}

#[test]
fn every_example_manifest_is_a_valid_synctask() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut secrets = Vec::new();
        let mut tasks = Vec::new();
        for doc in documents(&text) {
            if doc.contains("kind: SyncTask") {
                let task: ferry_crds::SyncTask = serde_saphyr::from_str(&doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                tasks.push(task);
            } else if doc.contains("kind: Secret") {
                let name = doc
                    .lines()
                    .find_map(|l| l.strip_prefix("  name: "))
                    .unwrap_or_else(|| panic!("{}: a Secret without a name", path.display()));
                assert!(doc.contains("username:") && doc.contains("password:"), "{}", path.display());
                secrets.push(name.trim().to_string());
            }
        }
        assert!(!tasks.is_empty(), "{}: no SyncTask", path.display());
        for task in &tasks {
            for secret in [&task.spec.source.credentials_secret, &task.spec.target.credentials_secret] {
                assert!(secrets.contains(secret), "{}: Secret {secret} is not in the file", path.display());
            }
        }
        seen += 1;
    }
    assert!(seen >= 2, "expected the example manifests in {}", dir.display());
}
