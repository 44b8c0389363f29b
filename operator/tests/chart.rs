//! The Helm chart, offline: `helm lint`, `helm template` and checks of what it renders (kinds,
//! least-privilege RBAC, the CRD identical to the generated one).
//!
//! helm comes from `scripts/install-helm.sh` (into .tools/bin, run by `make deps`/`make test`).
//! Without helm these tests say so and pass, unless FERRY_REQUIRE_HELM is set (as `make test`
//! does), so that a plain `cargo test` on a machine without helm stays green while CI cannot
//! silently skip them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart() -> PathBuf {
    workspace().join("charts/ferry")
}

fn helm() -> Option<PathBuf> {
    let candidates =
        [std::env::var_os("FERRY_HELM").map(PathBuf::from), Some(workspace().join(".tools/bin/helm")), Some(PathBuf::from("helm"))];
    let found = candidates.into_iter().flatten().find(|p| Command::new(p).arg("version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        missing("helm (FERRY_HELM, .tools/bin/helm, PATH)", "scripts/install-helm.sh");
    }
    found
}

/// A tool the chart tests need is not there: a failure when FERRY_REQUIRE_HELM is set (as
/// `make test` does), else the tests say so and pass.
fn missing(tool: &str, installer: &str) {
    assert!(std::env::var_os("FERRY_REQUIRE_HELM").is_none(), "{tool} not found; run {installer}");
    eprintln!("{tool} not found: chart tests skipped ({installer} installs it)");
}

fn run_helm(helm: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm).args(args).output().expect("helm runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() { Ok(text) } else { Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr))) }
}

fn template(helm: &Path, extra: &[&str]) -> Vec<Value> {
    let chart = chart();
    let mut args = vec!["template", "ferry", chart.to_str().unwrap(), "--namespace", "ferry-system"];
    args.extend_from_slice(extra);
    let text = run_helm(helm, &args).unwrap_or_else(|e| panic!("helm template failed: {e}"));
    documents(&text)
}

fn documents(text: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" {
            let has_content = current.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
            if has_content {
                docs.push(serde_saphyr::from_str::<Value>(&current).unwrap_or_else(|e| panic!("{e}\n{current}")));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

fn kinds(docs: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = docs.iter().map(|d| d["kind"].as_str().unwrap().to_string()).collect();
    k.sort();
    k
}

fn find<'a>(docs: &'a [Value], kind: &str, name_suffix: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"].as_str().unwrap().ends_with(name_suffix))
        .unwrap_or_else(|| panic!("no {kind} *{name_suffix}"))
}

#[test]
fn chart_crd_is_the_generated_one_byte_for_byte() {
    let generated = std::fs::read(workspace().join(ferry_crds::CRD_FILE)).unwrap();
    let in_chart =
        std::fs::read(chart().join("crds/ferry.dev_synctasks.yaml")).expect("charts/ferry/crds/ferry.dev_synctasks.yaml: run `make crds`");
    assert!(generated == in_chart, "charts/ferry/crds drifted from crds/; run `make crds`");
    assert_eq!(String::from_utf8(in_chart).unwrap(), ferry_crds::crd_yaml(), "run `make crds`");
}

#[test]
fn helm_lint_passes() {
    let Some(helm) = helm() else { return };
    run_helm(&helm, &["lint", chart().to_str().unwrap()]).unwrap_or_else(|e| panic!("helm lint: {e}"));
    run_helm(
        &helm,
        &[
            "lint",
            chart().to_str().unwrap(),
            "--set",
            "leaderElection.enabled=true,operator.replicas=2,metrics.serviceMonitor.enabled=true",
        ],
    )
    .unwrap_or_else(|e| panic!("helm lint: {e}"));
}

#[test]
fn default_render_has_the_operator_and_least_privilege_rbac() {
    let Some(helm) = helm() else { return };
    let docs = template(&helm, &[]);
    assert_eq!(
        kinds(&docs),
        ["ClusterRole", "ClusterRole", "ClusterRoleBinding", "Deployment", "RoleBinding", "Service", "ServiceAccount", "ServiceAccount"]
    );

    let deployment = find(&docs, "Deployment", "-operator");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "ghcr.io/ferry-dev/ferry:0.1.0");
    assert_eq!(container["command"], json!(["ferry-operator"]));
    assert_eq!(pod["serviceAccountName"], "ferry-operator");
    let env: Vec<&str> = container["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    for name in ["FERRY_ENGINE_IMAGE", "FERRY_LEADER_ELECTION", "POD_NAMESPACE", "FERRY_METRICS_ADDR"] {
        assert!(env.contains(&name), "{name} missing in {env:?}");
    }
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);

    // The engine: read its SyncTask, patch its status; nothing else.
    let engine = find(&docs, "ClusterRole", "-engine");
    assert_eq!(
        engine["rules"],
        json!([
            {"apiGroups": ["ferry.dev"], "resources": ["synctasks"], "verbs": ["get"]},
            {"apiGroups": ["ferry.dev"], "resources": ["synctasks/status"], "verbs": ["patch"]},
        ])
    );
    let binding = find(&docs, "RoleBinding", "-engine");
    assert_eq!(binding["metadata"]["namespace"], "ferry-system");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["subjects"][0]["name"], "ferry-engine");

    // The operator: never Secrets, never wildcards, no write on pods.
    let operator = find(&docs, "ClusterRole", "-operator");
    for rule in operator["rules"].as_array().unwrap() {
        let resources: Vec<&str> = rule["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        let verbs: Vec<&str> = rule["verbs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(!resources.contains(&"secrets") && !resources.contains(&"*") && !verbs.contains(&"*"), "{rule}");
        if resources.contains(&"pods") {
            assert_eq!(verbs, ["list"], "pods are only read (precheck termination messages)");
        }
    }
    let resources: Vec<&str> = operator["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["resources"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(resources, ["synctasks", "synctasks/status", "jobs", "statefulsets", "pods", "events"]);
}

#[test]
fn options_render_leader_election_monitors_and_engine_namespaces() {
    let Some(helm) = helm() else { return };
    let docs = template(
        &helm,
        &[
            "--set",
            "leaderElection.enabled=true,operator.replicas=2,metrics.serviceMonitor.enabled=true",
            "--set-json",
            r#"engine.namespaces=["team-a","team-b"]"#,
        ],
    );
    let lease_role = find(&docs, "Role", "-leader-election");
    assert_eq!(
        lease_role["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}])
    );
    assert_eq!(lease_role["metadata"]["namespace"], "ferry-system");
    assert!(docs.iter().any(|d| d["kind"] == "ServiceMonitor"));
    assert!(docs.iter().any(|d| d["kind"] == "PodMonitor"));
    let engine_accounts: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "ServiceAccount" && d["metadata"]["name"] == "ferry-engine")
        .map(|d| d["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(engine_accounts, ["team-a", "team-b"]);
    assert_eq!(find(&docs, "Deployment", "-operator")["spec"]["replicas"], 2);
}

#[test]
fn two_replicas_without_leader_election_are_refused() {
    let Some(helm) = helm() else { return };
    let chart = chart();
    let err = run_helm(&helm, &["template", "ferry", chart.to_str().unwrap(), "--set", "operator.replicas=2"]).unwrap_err();
    assert!(err.contains("leaderElection.enabled"), "{err}");
}

#[test]
fn rendered_crd_is_the_generated_one() {
    let Some(helm) = helm() else { return };
    let docs = template(&helm, &["--include-crds"]);
    let crd = docs.iter().find(|d| d["kind"] == "CustomResourceDefinition").expect("the CRD is rendered");
    let generated: Value = serde_saphyr::from_str(&ferry_crds::crd_yaml()).unwrap();
    assert_eq!(crd, &generated);
}

/// `python3 -m kubernetes_validate` from .tools/py (scripts/install-kubernetes-validate.sh) or the
/// system; required like helm when FERRY_REQUIRE_HELM is set.
fn kubernetes_validate() -> Option<Command> {
    let local = workspace().join(".tools/py");
    let make = || {
        let mut c = Command::new("python3");
        c.env("PYTHONPATH", &local).args(["-m", "kubernetes_validate"]);
        c
    };
    if make().arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Some(make());
    }
    missing("kubernetes-validate (.tools/py or python3's)", "scripts/install-kubernetes-validate.sh");
    None
}

/// Every manifest the chart renders (CRD included, every option on) and every object the operator
/// builds for a task (precheck Job, engine StatefulSet) is valid for Kubernetes 1.37 with no
/// unknown field. The Prometheus Operator kinds have no built-in schema and are only named.
#[test]
fn rendered_and_built_objects_pass_kubernetes_validate_strict() {
    let Some(helm) = helm() else { return };
    let Some(mut validate) = kubernetes_validate() else { return };
    let chart = chart();
    let rendered = run_helm(
        &helm,
        &[
            "template",
            "ferry",
            chart.to_str().unwrap(),
            "--namespace",
            "ferry-system",
            "--include-crds",
            "--set",
            "leaderElection.enabled=true,operator.replicas=2,metrics.serviceMonitor.enabled=true",
        ],
    )
    .unwrap();
    let task: ferry_crds::SyncTask = serde_json::from_value(json!({
        "apiVersion": "ferry.dev/v1alpha1",
        "kind": "SyncTask",
        "metadata": {"name": "shop", "namespace": "ns1", "uid": "uid-shop", "generation": 1},
        "spec": {
            "source": {"host": "db1", "port": 3306, "credentialsSecret": "src", "tls": {"mode": "required", "caSecret": "ca"}},
            "target": {"host": "db2", "port": 3306, "credentialsSecret": "dst"},
            "objects": [{"database": "shop"}],
        },
    }))
    .unwrap();
    let settings = ferry_operator::build::Settings::default();
    let job = ferry_operator::build::precheck_job(&task, &settings).unwrap();
    let engine = ferry_operator::build::engine_statefulset(&task, &settings, true).unwrap();
    let mut built = String::new();
    for object in [serde_json::to_value(&job).unwrap(), serde_json::to_value(&engine).unwrap()] {
        built.push_str("---\n");
        built.push_str(&serde_saphyr::to_string(&object).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let (chart_file, built_file) = (dir.path().join("chart.yaml"), dir.path().join("built.yaml"));
    std::fs::write(&chart_file, &rendered).unwrap();
    std::fs::write(&built_file, &built).unwrap();
    let out = validate.arg("--strict").arg(&chart_file).arg(&built_file).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kubernetes-validate --strict failed:\n{text}");
    for passed in [
        "customresourcedefinition/synctasks.ferry.dev",
        "deployment/ferry-operator",
        "clusterrole/ferry-engine",
        "role/ferry-leader-election",
        "job/",
        "statefulset/",
    ] {
        assert!(text.contains(&format!("passed for resource {passed}")), "{passed} not validated:\n{text}");
    }
    // And the check has teeth: an unknown field in the Job is refused.
    let mut bad = serde_json::to_value(&job).unwrap();
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = json!("Always");
    std::fs::write(&built_file, serde_saphyr::to_string(&bad).unwrap()).unwrap();
    let out = kubernetes_validate().unwrap().arg("--strict").arg(&built_file).output().unwrap();
    assert!(!out.status.success(), "an unknown field passed");
}
