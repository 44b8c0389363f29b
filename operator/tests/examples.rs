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
