//! The CRD's CEL rules (`x-kubernetes-validations`), evaluated client-side with kube's `cel`
//! feature exactly as the API server would: immutable endpoints, a complete start position.

use ferry_crds::SyncTask;
use kube::core::cel::{validate_cel, validate_cel_update};
use serde_json::json;

fn task(spec: serde_json::Value) -> SyncTask {
    serde_json::from_value(json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "SyncTask",
        "metadata": {"name": "t1", "namespace": "ns1"},
        "spec": spec,
    }))
    .expect("valid SyncTask")
}

fn spec() -> serde_json::Value {
    json!({
        "source": {"host": "db1", "port": 3306, "credentialsSecret": "src"},
        "target": {"host": "db2", "port": 3306, "credentialsSecret": "dst"},
        "objects": [{"database": "shop"}],
    })
}

#[test]
fn a_valid_task_passes_create_and_update() {
    let t = task(spec());
    validate_cel(&t).unwrap();
    validate_cel_update(&t, &t).unwrap();
}

#[test]
fn source_and_target_host_and_port_are_immutable() {
    let old = task(spec());
    for (field, key, value) in [
        ("source", "host", json!("db9")),
        ("source", "port", json!(3307)),
        ("target", "host", json!("db9")),
        ("target", "port", json!(3307)),
    ] {
        let mut s = spec();
        s[field][key] = value;
        let err = validate_cel_update(&task(s), &old).expect_err(&format!("{field}.{key} changed")).to_string();
        assert!(err.contains(&format!("spec.{field} host and port are immutable")), "{err}");
    }
}

#[test]
fn credentials_tls_and_objects_may_change() {
    let old = task(spec());
    let mut s = spec();
    s["source"]["credentialsSecret"] = json!("rotated");
    s["target"]["tls"] = json!({"mode": "required"});
    s["objects"] = json!([{"database": "shop"}, {"database": "crm", "rename": "crm2"}]);
    s["suspend"] = json!(true);
    validate_cel_update(&task(s), &old).unwrap();
}

#[test]
fn a_start_position_needs_file_and_position_or_a_gtid_set() {
    for (position, ok) in [
        (json!({"file": "mysql-bin.000042", "position": 4}), true),
        (json!({"gtidSet": "0-1-100"}), true),
        (json!({"file": "mysql-bin.000042"}), false),
        (json!({"position": 4}), false),
        (json!({}), false),
    ] {
        let mut s = spec();
        s["initialSync"] = json!({"data": false});
        s["startPosition"] = position.clone();
        let result = validate_cel(&task(s));
        assert_eq!(result.is_ok(), ok, "{position}: {result:?}");
        if let Err(e) = result {
            assert!(e.to_string().contains("give file and position, or gtidSet"), "{e}");
        }
    }
}
