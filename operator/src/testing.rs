//! Fixtures shared by the unit tests.

use ferry_crds::{DatabaseSelection, Endpoint, SyncTask, SyncTaskSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

fn endpoint(host: &str, secret: &str) -> Endpoint {
    Endpoint { host: host.into(), port: 3306, credentials_secret: secret.into(), tls: None }
}

/// A valid task `ns1/<name>` from db1 to db2 (database `shop`), generation 1, with a uid.
pub fn task(name: &str) -> SyncTask {
    let spec: SyncTaskSpec = serde_json::from_value(serde_json::json!({
        "source": {"host": "db1", "credentialsSecret": "src-secret"},
        "target": {"host": "db2", "credentialsSecret": "dst-secret"},
        "objects": [{"database": "shop"}],
    }))
    .expect("valid spec");
    let mut t = SyncTask::new(name, spec);
    t.metadata = ObjectMeta {
        name: Some(name.into()),
        namespace: Some("ns1".into()),
        uid: Some(format!("uid-{name}")),
        generation: Some(1),
        resource_version: Some("1".into()),
        ..Default::default()
    };
    t
}

/// A task between two hosts, created at `created`.
pub fn task_between(name: &str, source: &str, target: &str, created: &str) -> SyncTask {
    let mut t = task(name);
    t.spec.source = endpoint(source, "s");
    t.spec.target = endpoint(target, "t");
    t.spec.objects = vec![DatabaseSelection { database: "shop".into(), rename: None, tables: None, merge: false, ddl: true, dml: None }];
    t.metadata.creation_timestamp = Some(Time(created.parse().expect("timestamp")));
    t
}
