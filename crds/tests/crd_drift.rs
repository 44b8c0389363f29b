//! The committed CRD must be what the Rust types generate: a drifted file would install a schema
//! that the engine and operator do not agree with.
use std::path::PathBuf;

fn workspace_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

#[test]
fn committed_crd_matches_the_types() {
    let path = workspace_file(ferry_crds::CRD_FILE);
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make crds`", path.display()));
    assert!(committed == ferry_crds::crd_yaml(), "{} drifted from crds/src/lib.rs; run `make crds` and commit the result", path.display());
}

#[test]
fn crd_names_group_version_and_short_name() {
    let yaml = ferry_crds::crd_yaml();
    assert!(yaml.contains("name: synctasks.ferry.dev"));
    assert!(yaml.contains("- st"));
    assert!(yaml.contains("v1alpha1"));
    // Doc comments become descriptions that `kubectl explain` shows.
    assert!(yaml.contains("Name of a Secret in the task's namespace"));
}
