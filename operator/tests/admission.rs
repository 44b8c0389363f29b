//! Bad SyncTasks are refused offline, at the stage that would refuse them in a cluster, with a
//! message that names the field or the other task:
//! 1. the CRD's structural schema (types, required fields, enums, bounds, unknown fields), as the
//!    API server checks it on create with `kubectl`'s strict field validation, here by a small
//!    checker of the OpenAPI v3 subset the generated CRD uses;
//! 2. its CEL rules (`x-kubernetes-validations`), evaluated by kube's `cel` feature, on create and
//!    on update;
//! 3. the operator's own validation (the engine's spec rules, then the rules across tasks).

use ferry_crds::SyncTask;
use ferry_operator::reconcile::validate;
use kube::CustomResourceExt;
use kube::core::cel::{validate_cel, validate_cel_update};
use serde_json::{Value, json};

fn spec() -> Value {
    json!({
        "source": {"host": "db1", "port": 3306, "credentialsSecret": "src"},
        "target": {"host": "db2", "port": 3306, "credentialsSecret": "dst"},
        "objects": [{"database": "shop"}],
    })
}

fn document(name: &str, spec: Value, created: &str) -> Value {
    json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "SyncTask",
        "metadata": {"name": name, "namespace": "ns1", "uid": format!("uid-{name}"), "creationTimestamp": created},
        "spec": spec,
    })
}

/// The generated CRD's schema of the whole object.
fn schema() -> Value {
    let crd = serde_json::to_value(SyncTask::crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Errors of `v` against `schema`, in the API server's words.
fn check(schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if v.is_null() {
        if !schema["nullable"].as_bool().unwrap_or(false) {
            errs.push(format!("{path}: Invalid value: null"));
        }
        return;
    }
    if schema["x-kubernetes-int-or-string"].as_bool().unwrap_or(false)
        || schema["x-kubernetes-preserve-unknown-fields"].as_bool().unwrap_or(false)
    {
        return;
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(v)
    {
        errs.push(format!("{path}: Unsupported value: {v}: supported values: {}", Value::Array(options.clone())));
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(map) = v.as_object() else { return errs.push(format!("{path}: Invalid value: {v}: must be an object")) };
            for r in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    errs.push(format!("{path}.{r}: Required value"));
                }
            }
            for (k, field) in map {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match (schema["properties"].get(k), schema.get("additionalProperties")) {
                    (Some(s), _) => check(s, field, &p, errs),
                    (None, Some(s)) if s.is_object() => check(s, field, &p, errs),
                    _ => errs.push(format!("{p}: unknown field \"{k}\"")),
                }
            }
        }
        Some("array") => {
            let Some(items) = v.as_array() else { return errs.push(format!("{path}: Invalid value: {v}: must be an array")) };
            if let Some(min) = schema["minItems"].as_u64()
                && (items.len() as u64) < min
            {
                errs.push(format!("{path}: should have at least {min} items"));
            }
            for (i, item) in items.iter().enumerate() {
                check(&schema["items"], item, &format!("{path}[{i}]"), errs);
            }
        }
        Some("string") if !v.is_string() => errs.push(format!("{path}: Invalid value: {v}: must be a string")),
        Some("boolean") if !v.is_boolean() => errs.push(format!("{path}: Invalid value: {v}: must be a boolean")),
        Some(t @ ("integer" | "number")) => {
            let Some(n) = v.as_f64().filter(|_| t == "number" || v.is_i64() || v.is_u64()) else {
                return errs.push(format!("{path}: Invalid value: {v}: must be an {t}"));
            };
            if let Some(max) = schema["maximum"].as_f64()
                && n > max
            {
                errs.push(format!("{path}: Invalid value: {v}: {path} in body should be less than or equal to {max}"));
            }
            if let Some(min) = schema["minimum"].as_f64()
                && n < min
            {
                errs.push(format!("{path}: Invalid value: {v}: {path} in body should be greater than or equal to {min}"));
            }
        }
        _ => {}
    }
}

/// Runs the stages in order and returns the first refusal, naming its stage.
fn admit(doc: &Value, old: Option<&Value>, others: &[Value]) -> Result<(), String> {
    let mut errs = Vec::new();
    // The API server checks apiVersion, kind and metadata itself; the CRD's schema covers the rest.
    check(&schema()["properties"]["spec"], &doc["spec"], "spec", &mut errs);
    if !errs.is_empty() {
        return Err(format!("schema: {}", errs.join("; ")));
    }
    let task: SyncTask = serde_json::from_value(doc.clone()).map_err(|e| format!("decode: {e}"))?;
    match old {
        None => validate_cel(&task).map_err(|e| format!("cel: {e}"))?,
        Some(o) => {
            let old: SyncTask = serde_json::from_value(o.clone()).unwrap();
            validate_cel_update(&task, &old).map_err(|e| format!("cel: {e}"))?;
        }
    }
    let others: Vec<SyncTask> = others.iter().map(|o| serde_json::from_value(o.clone()).unwrap()).collect();
    match validate(&task, &others) {
        Some(r) => Err(format!("operator {}: {}", r.reason, r.message)),
        None => Ok(()),
    }
}

const EARLIER: &str = "2026-01-01T00:00:00Z";
const LATER: &str = "2026-01-02T00:00:00Z";

#[test]
fn a_good_task_passes_every_stage() {
    let doc = document("good", spec(), LATER);
    admit(&doc, None, &[]).unwrap();
    admit(&doc, Some(&doc), &[]).unwrap();
}

#[test]
fn bad_tasks_are_refused_with_the_field_or_the_other_task() {
    // (what is wrong, how the spec is changed, the stage and words of the refusal)
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        ("port above 65535", |s| s["source"]["port"] = json!(70000), &["schema", "spec.source.port", "less than or equal to 65535"]),
        ("port 0", |s| s["target"]["port"] = json!(0), &["schema", "spec.target.port", "greater than or equal to 1"]),
        ("port as text", |s| s["target"]["port"] = json!("3306"), &["schema", "spec.target.port", "must be an integer"]),
        (
            "no Secret named",
            |s| s["source"].as_object_mut().unwrap().retain(|k, _| k != "credentialsSecret"),
            &["schema", "spec.source.credentialsSecret: Required value"],
        ),
        ("no target", |s| s.as_object_mut().unwrap().retain(|k, _| k != "target"), &["schema", "spec.target: Required value"]),
        (
            "unknown existingTables mode",
            |s| s["existingTables"] = json!("Drop"),
            &["schema", "spec.existingTables: Unsupported value: \"Drop\""],
        ),
        ("unknown conflict policy", |s| s["conflictPolicy"] = json!("Merge"), &["schema", "spec.conflictPolicy: Unsupported value"]),
        ("unknown onDdlError", |s| s["onDdlError"] = json!("Retry"), &["schema", "spec.onDdlError: Unsupported value"]),
        ("unknown TLS mode", |s| s["source"]["tls"] = json!({"mode": "maybe"}), &["schema", "spec.source.tls.mode: Unsupported value"]),
        (
            "65 copy sessions",
            |s| s["engine"] = json!({"parallelism": 65}),
            &["schema", "spec.engine.parallelism", "less than or equal to 64"],
        ),
        ("misspelt field", |s| s["objectz"] = json!([]), &["schema", "spec.objectz: unknown field"]),
        (
            "a start position without its position",
            |s| {
                s["initialSync"] = json!({"data": false});
                s["startPosition"] = json!({"file": "mysql-bin.000042"});
            },
            &["cel", "give file and position, or gtidSet"],
        ),
        ("no objects", |s| s["objects"] = json!([]), &["operator InvalidSpec", "spec.objects: select at least one database"]),
        (
            "a database twice",
            |s| s["objects"] = json!([{"database": "shop"}, {"database": "shop"}]),
            &["operator InvalidSpec", "spec.objects[1].database: shop is selected twice"],
        ),
        (
            "a table twice",
            |s| s["objects"] = json!([{"database": "shop", "tables": [{"name": "t"}, {"name": "t"}]}]),
            &["operator InvalidSpec", "spec.objects[0].tables[1].name: t is selected twice"],
        ),
        (
            "an empty table list",
            |s| s["objects"] = json!([{"database": "shop", "tables": []}]),
            &["operator InvalidSpec", "spec.objects[0].tables: is empty"],
        ),
        (
            "a rename ending in a space",
            |s| s["objects"] = json!([{"database": "shop", "rename": "shop2 "}]),
            &["operator InvalidSpec", "spec.objects[0].rename: \"shop2 \" is not a valid MySQL identifier"],
        ),
        (
            "an error-level precheck item skipped",
            |s| s["precheck"] = json!({"skip": ["binlog-format"]}),
            &["operator InvalidSpec", "spec.precheck.skip[0]", "cannot be skipped"],
        ),
        ("an empty host", |s| s["source"]["host"] = json!(" "), &["operator InvalidSpec", "spec.source.host: must not be empty"]),
    ];
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for (what, edit, needles) in &cases {
        let mut s = spec();
        edit(&mut s);
        match admit(&document("bad", s, LATER), None, &[]) {
            Ok(()) => failures.push(format!("{what}: admitted")),
            Err(e) if needles.iter().all(|n| e.contains(n)) => {}
            Err(e) => failures.push(format!("{what}: refused, but not with {needles:?}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn identity_changes_are_refused_on_update() {
    let old = document("t", spec(), EARLIER);
    for (field, key, value) in [("source", "host", json!("db9")), ("target", "port", json!(3307))] {
        let mut s = spec();
        s[field][key] = value;
        let e = admit(&document("t", s, EARLIER), Some(&old), &[]).unwrap_err();
        assert!(e.starts_with("cel:") && e.contains(&format!("spec.{field} host and port are immutable")), "{e}");
    }
}

#[test]
fn tasks_that_clash_are_refused_naming_the_other() {
    let older = document("first", spec(), EARLIER);
    // Another source into the same target database, without a declared merge.
    let mut s = spec();
    s["source"]["host"] = json!("db3");
    let e = admit(&document("second", s, LATER), None, std::slice::from_ref(&older)).unwrap_err();
    assert!(e.starts_with("operator TargetConflict") && e.contains("ns1/first") && e.contains("merge: true"), "{e}");
    // The reverse direction: db2 back into db1, a cycle.
    let mut s = spec();
    s["source"]["host"] = json!("db2");
    s["target"]["host"] = json!("db1");
    let e = admit(&document("back", s, LATER), None, &[older]).unwrap_err();
    assert!(e.starts_with("operator Cycle") && e.contains("ns1/first") && e.contains("ns1/back"), "{e}");
}
