//! The manifests in examples/ are valid for `ferry run -f` and the operator alike.

use std::path::PathBuf;

#[test]
fn examples_parse_and_validate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for name in ["one-to-one.yaml", "table-mapping.yaml", "incremental-only.yaml"] {
        let task = ferry_crds::manifest::load(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let obj = ferry_crds::SyncTask::new(&task.name, task.spec.clone());
        assert_eq!(ferry_operator::reconcile::validate(&obj, &[]), None, "{name}");
    }
}

/// examples/synctask.yaml shows every field: its SyncTask parses (unknown fields are refused)
/// and validates, verification and cutover included.
#[test]
fn the_every_field_example_parses() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/synctask.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc = text.split("\n---\n").find(|d| d.contains("kind: SyncTask")).expect("a SyncTask document");
    let obj: ferry_crds::SyncTask = serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("synctask.yaml: {e}"));
    assert_eq!(ferry_operator::reconcile::validate(&obj, &[]), None);
    assert!(obj.spec.verification.enabled && obj.spec.verification.rows_per_second == 20_000);
    assert_eq!(obj.spec.cutover.max_lag_seconds, 10);
}
