//! Pure functions from a SyncTask to the objects the operator applies: the precheck Job and the
//! engine StatefulSet, their names and labels. No API calls here, so every field is unit-tested.

use std::collections::BTreeMap;

use ferry_crds::hash::{fnv1a, hash_json, precheck_spec};
use ferry_crds::{SyncTask, SyncTaskSpec};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec, SeccompProfile,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::Resource;

use crate::error::{Error, Result};

/// Set by the operator on every object it creates for a task.
pub const TASK_LABEL: &str = "ferry.dev/task";
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// The hash of the spec a precheck Job checked, or an engine pod runs.
pub const SPEC_HASH_LABEL: &str = "ferry.dev/spec-hash";
/// Bump this annotation on a SyncTask to run the precheck again without changing the spec
/// (e.g. after fixing a server setting the precheck complained about).
pub const RECHECK_ANNOTATION: &str = "ferry.dev/recheck";
/// Where the engine and precheck containers find the task's Secrets (`source/`, `target/`,
/// `source-ca/`, `target-ca/`); the layout the engine reads.
pub const SECRETS_DIR: &str = ferry_crds::SECRETS_DIR;
/// The engine container's metrics port (`ferry sync --metrics-addr`).
pub const ENGINE_METRICS_PORT: i32 = 9091;
/// The precheck's exit code when it ran and found a problem (not an error of the check itself):
/// the Job fails at once instead of retrying.
pub const PRECHECK_FAILED_EXIT_CODE: i32 = 1;

/// Settings the operator applies to every child, from its command line / Helm values.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Image holding `ferry` (used unless `spec.engine.image` is set).
    pub engine_image: String,
    /// ServiceAccount the engine and precheck pods run as, in the task's namespace.
    pub engine_service_account: String,
    /// Seconds a precheck may run before Kubernetes stops it.
    pub precheck_deadline_seconds: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            engine_image: "ghcr.io/ferry-dev/ferry:latest".into(),
            engine_service_account: "ferry-engine".into(),
            precheck_deadline_seconds: 600,
        }
    }
}

/// What the precheck checks ([`precheck_spec`]), plus the `ferry.dev/recheck` annotation.
pub fn precheck_hash(task: &SyncTask) -> String {
    let recheck = task.metadata.annotations.as_ref().and_then(|a| a.get(RECHECK_ANNOTATION)).cloned();
    hash_json(&serde_json::json!({ "spec": precheck_spec(&task.spec), "recheck": recheck }))
}

/// What the engine runs: the spec without `suspend`. The engine reads the spec once at start, so
/// a new value in the pod template restarts it with the new spec.
pub fn engine_hash(spec: &SyncTaskSpec) -> String {
    let mut spec = spec.clone();
    spec.suspend = false;
    hash_json(&serde_json::to_value(&spec).expect("spec serializes"))
}

/// `<task>-<suffix>`, at most `max` characters: long task names are cut and keep a hash of the
/// whole name so that two long names stay distinct.
fn child_name(task: &str, suffix: &str, max: usize) -> String {
    let name = format!("{task}-{suffix}");
    if name.len() <= max {
        return name;
    }
    let hash = format!("{:08x}", fnv1a(task.as_bytes()) & 0xffff_ffff);
    let keep = max - suffix.len() - hash.len() - 2;
    let cut: String = task.chars().take(keep).collect();
    format!("{}-{hash}-{suffix}", cut.trim_end_matches(['-', '.']))
}

/// The precheck Job of one spec version. 63: the Job name becomes a label value on its pods.
pub fn precheck_job_name(task: &str, hash: &str) -> String {
    child_name(task, &format!("precheck-{hash}"), 63)
}

/// The engine StatefulSet. 52: the StatefulSet controller appends an 11-character revision hash
/// to it in a label of 63 at most.
pub fn engine_name(task: &str) -> String {
    child_name(task, "engine", 52)
}

/// A label value naming the task (label values are at most 63 characters).
pub fn task_label_value(task: &str) -> String {
    if task.len() <= 63 { task.to_string() } else { child_name(task, "t", 63) }
}

pub fn labels(task: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "ferry".to_string()),
        ("app.kubernetes.io/managed-by".to_string(), "ferry-operator".to_string()),
        (COMPONENT_LABEL.to_string(), component.to_string()),
        (TASK_LABEL.to_string(), task_label_value(task)),
    ])
}

/// The label selector of a task's precheck Jobs.
pub fn precheck_selector(task: &str) -> String {
    format!("{TASK_LABEL}={},{COMPONENT_LABEL}=precheck", task_label_value(task))
}

fn owner_reference(task: &SyncTask) -> Result<OwnerReference> {
    // controller: true makes the garbage collector delete children with the task, and lets the
    // controller map child events back to it.
    task.controller_owner_ref(&()).ok_or_else(|| Error::MissingField("metadata.uid"))
}

fn name_and_namespace(task: &SyncTask) -> Result<(String, String)> {
    let name = task.metadata.name.clone().ok_or(Error::MissingField("metadata.name"))?;
    let ns = task.metadata.namespace.clone().ok_or(Error::MissingField("metadata.namespace"))?;
    Ok((name, ns))
}

/// Secrets become read-only files; nothing secret is ever an argument or an env value.
fn secret_volumes(spec: &SyncTaskSpec) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let mut add = |volume: &str, secret: &str, keys: &[&str]| {
        volumes.push(Volume {
            name: volume.to_string(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.to_string()),
                // Only the keys ferry reads: other keys in the Secret stay out of the pod.
                items: Some(keys.iter().map(|k| KeyToPath { key: k.to_string(), path: k.to_string(), ..Default::default() }).collect()),
                // Readable by the pod's group (fsGroup), nobody else.
                default_mode: Some(0o440),
                optional: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: volume.to_string(),
            mount_path: format!("{SECRETS_DIR}/{volume}"),
            read_only: Some(true),
            ..Default::default()
        });
    };
    add("source", &spec.source.credentials_secret, &["username", "password"]);
    add("target", &spec.target.credentials_secret, &["username", "password"]);
    if let Some(ca) = spec.source.tls.as_ref().and_then(|t| t.ca_secret.as_deref()) {
        add("source-ca", ca, &["ca.crt"]);
    }
    if let Some(ca) = spec.target.tls.as_ref().and_then(|t| t.ca_secret.as_deref()) {
        add("target-ca", ca, &["ca.crt"]);
    }
    (volumes, mounts)
}

fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
        ..Default::default()
    }
}

fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65532),
        run_as_group: Some(65532),
        // Secret files are group-owned by it, so the non-root user can read them.
        fs_group: Some(65532),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
        ..Default::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), value_from: None }
}

fn image(task: &SyncTask, settings: &Settings) -> String {
    task.spec.engine.image.clone().unwrap_or_else(|| settings.engine_image.clone())
}

/// The Job that runs `ferry precheck` for the current spec. Its pod writes the JSON report to
/// its termination message, where the operator reads it (the pod needs no write access).
pub fn precheck_job(task: &SyncTask, settings: &Settings) -> Result<Job> {
    let (name, ns) = name_and_namespace(task)?;
    let hash = precheck_hash(task);
    let mut labels = labels(&name, "precheck");
    labels.insert(SPEC_HASH_LABEL.into(), hash.clone());
    let (volumes, mounts) = secret_volumes(&task.spec);
    let container = Container {
        name: "precheck".into(),
        image: Some(image(task, settings)),
        args: Some(vec![
            "precheck".into(),
            "--namespace".into(),
            ns.clone(),
            "--name".into(),
            name.clone(),
            "--output".into(),
            "json".into(),
        ]),
        env: Some(vec![env("FERRY_SECRETS_DIR", SECRETS_DIR)]),
        volume_mounts: Some(mounts),
        security_context: Some(container_security()),
        termination_message_path: Some("/dev/termination-log".into()),
        // The report, or the log's tail when the precheck crashed before writing one.
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        resources: task.spec.engine.resources.clone(),
        ..Default::default()
    };
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(precheck_job_name(&name, &hash)),
            namespace: Some(ns),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner_reference(task)?]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            // A crash or a lost node is retried; a precheck that found problems is an answer.
            backoff_limit: Some(2),
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![PodFailurePolicyRule {
                    action: "FailJob".into(),
                    on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                        container_name: Some("precheck".into()),
                        operator: "In".into(),
                        values: vec![PRECHECK_FAILED_EXIT_CODE],
                    }),
                    on_pod_conditions: None,
                }],
            }),
            active_deadline_seconds: Some(settings.precheck_deadline_seconds),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    service_account_name: Some(settings.engine_service_account.clone()),
                    security_context: Some(pod_security()),
                    containers: vec![container],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    })
}

/// The engine: a StatefulSet of one replica (zero while suspended or not yet prechecked).
/// A StatefulSet, not a Deployment: it never starts a second pod while the first may still run
/// (a rolling Deployment would), and unlike a bare Pod it is rescheduled when its node is lost.
pub fn engine_statefulset(task: &SyncTask, settings: &Settings, running: bool) -> Result<StatefulSet> {
    let (name, ns) = name_and_namespace(task)?;
    let labels = labels(&name, "engine");
    let (volumes, mounts) = secret_volumes(&task.spec);
    let container = Container {
        name: "engine".into(),
        image: Some(image(task, settings)),
        args: Some(vec!["sync".into(), "--namespace".into(), ns.clone(), "--name".into(), name.clone()]),
        env: Some(vec![env("FERRY_SECRETS_DIR", SECRETS_DIR), env("FERRY_METRICS_ADDR", &format!("0.0.0.0:{ENGINE_METRICS_PORT}"))]),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".into()),
            container_port: ENGINE_METRICS_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        volume_mounts: Some(mounts),
        security_context: Some(container_security()),
        resources: task.spec.engine.resources.clone(),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    };
    let mut template_annotations = BTreeMap::new();
    template_annotations.insert(SPEC_HASH_LABEL.to_string(), engine_hash(&task.spec));
    Ok(StatefulSet {
        metadata: ObjectMeta {
            name: Some(engine_name(&name)),
            namespace: Some(ns),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner_reference(task)?]),
            ..Default::default()
        },
        spec: StatefulSetSpec {
            replicas: Some(if running { 1 } else { 0 }),
            selector: LabelSelector { match_labels: Some(labels.clone()), match_expressions: None },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), annotations: Some(template_annotations), ..Default::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some(settings.engine_service_account.clone()),
                    security_context: Some(pod_security()),
                    // The engine stops on SIGTERM with everything committed; give it time to.
                    termination_grace_period_seconds: Some(60),
                    containers: vec![container],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::task;

    #[test]
    fn hashes_ignore_suspend_and_precheck_ignores_engine_resources() {
        let a = task("t1");
        let mut b = a.clone();
        b.spec.suspend = true;
        assert_eq!(precheck_hash(&a), precheck_hash(&b));
        assert_eq!(engine_hash(&a.spec), engine_hash(&b.spec));
        b.spec.engine.image = Some("other:1".into());
        assert_eq!(precheck_hash(&a), precheck_hash(&b));
        b.spec.objects[0].database = "other".into();
        assert_ne!(precheck_hash(&a), precheck_hash(&b));
        assert_ne!(engine_hash(&a.spec), engine_hash(&b.spec));
        let mut c = a.clone();
        c.metadata.annotations = Some([(RECHECK_ANNOTATION.to_string(), "1".to_string())].into());
        assert_ne!(precheck_hash(&a), precheck_hash(&c), "the recheck annotation re-runs the precheck");
    }

    #[test]
    fn long_names_are_cut_and_stay_distinct() {
        let long_a = "a".repeat(80);
        let long_b = format!("{}b", "a".repeat(79));
        assert_eq!(engine_name("orders"), "orders-engine");
        assert!(engine_name(&long_a).len() <= 52);
        assert_ne!(engine_name(&long_a), engine_name(&long_b));
        assert!(precheck_job_name(&long_a, "0123456789").len() <= 63);
        assert!(task_label_value(&long_a).len() <= 63);
    }

    #[test]
    fn precheck_job_mounts_secrets_and_fails_fast_on_findings() {
        let t = task("t1");
        let job = precheck_job(&t, &Settings::default()).unwrap();
        let name = job.metadata.name.clone().unwrap();
        assert!(name.starts_with("t1-precheck-"), "{name}");
        assert_eq!(job.metadata.owner_references.as_ref().unwrap()[0].kind, "SyncTask");
        assert_eq!(job.metadata.owner_references.as_ref().unwrap()[0].controller, Some(true));
        let spec = job.spec.unwrap();
        let rule = &spec.pod_failure_policy.unwrap().rules[0];
        assert_eq!(rule.action, "FailJob");
        assert_eq!(rule.on_exit_codes.as_ref().unwrap().values, vec![1]);
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.service_account_name.as_deref(), Some("ferry-engine"));
        let c = &pod.containers[0];
        assert_eq!(c.args.as_ref().unwrap()[..2], ["precheck".to_string(), "--namespace".to_string()]);
        assert_eq!(c.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
        let volumes = pod.volumes.unwrap();
        let secrets: Vec<_> = volumes.iter().map(|v| v.secret.as_ref().unwrap().secret_name.clone().unwrap()).collect();
        assert_eq!(secrets, ["src-secret", "dst-secret"]);
        assert_no_secret_in_args_or_env(c);
    }

    fn assert_no_secret_in_args_or_env(c: &Container) {
        let text = format!("{:?}{:?}", c.args, c.env);
        assert!(!text.contains("password") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn engine_is_one_replica_and_zero_when_stopped() {
        let mut t = task("t1");
        t.spec.source.tls = Some(ferry_crds::Tls { mode: ferry_crds::TlsMode::VerifyCa, ca_secret: Some("src-ca".into()) });
        let sts = engine_statefulset(&t, &Settings::default(), true).unwrap();
        assert_eq!(sts.metadata.name.as_deref(), Some("t1-engine"));
        let spec = sts.spec;
        assert_eq!(spec.replicas, Some(1));
        let template = spec.template;
        let selector = spec.selector.match_labels.unwrap();
        assert_eq!(&selector, template.metadata.as_ref().unwrap().labels.as_ref().unwrap());
        let hash = template.metadata.unwrap().annotations.unwrap()[SPEC_HASH_LABEL].clone();
        assert_eq!(hash, engine_hash(&t.spec));
        let pod = template.spec.unwrap();
        let c = &pod.containers[0];
        assert_eq!(c.args.as_ref().unwrap(), &["sync", "--namespace", "ns1", "--name", "t1"]);
        let mounts: Vec<_> = c.volume_mounts.as_ref().unwrap().iter().map(|m| m.mount_path.clone()).collect();
        assert_eq!(mounts, ["/var/run/ferry/source", "/var/run/ferry/target", "/var/run/ferry/source-ca"]);
        assert_eq!(c.security_context.as_ref().unwrap().read_only_root_filesystem, Some(true));
        assert_no_secret_in_args_or_env(c);
        let stopped = engine_statefulset(&t, &Settings::default(), false).unwrap();
        assert_eq!(stopped.spec.replicas, Some(0));
    }

    #[test]
    fn spec_image_and_resources_override_the_defaults() {
        let mut t = task("t1");
        t.spec.engine.image = Some("registry.local/ferry:9".into());
        let sts = engine_statefulset(&t, &Settings::default(), true).unwrap();
        let pod = sts.spec.template.spec.unwrap();
        assert_eq!(pod.containers[0].image.as_deref(), Some("registry.local/ferry:9"));
    }

    #[test]
    fn a_task_without_uid_cannot_own_children() {
        let mut t = task("t1");
        t.metadata.uid = None;
        assert!(matches!(precheck_job(&t, &Settings::default()), Err(Error::MissingField("metadata.uid"))));
    }
}
