//! TLS and authentication, end to end on both flavours: a source and a target that accept only
//! TLS connections (`REQUIRE SSL` users, MySQL's `caching_sha2_password`), reached with
//! `tls.mode: verify-identity` and each server's own CA from a Secret; a certificate of another CA
//! refused under `verify-ca`, naming the server; and `caching_sha2_password` over plain TCP
//! (its full authentication, which needs the server's RSA key, on a user's first login).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_crds::Phase;
use ferry_e2e::*;
use mysql_async::prelude::*;

const SYNC: Duration = Duration::from_secs(90);
const TLS_PASSWORD: &str = "tls-Secret-9";

/// A user that may only connect over TLS (MySQL: with caching_sha2_password, its default).
async fn tls_only_user(db: &TestServer, user: &str) {
    let plugin = match db.flavor() {
        Flavor::MySql => "WITH caching_sha2_password ",
        Flavor::MariaDb => "",
    };
    db.exec(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED {plugin}BY '{TLS_PASSWORD}' REQUIRE SSL;
         GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%';"
    ))
    .await;
}

/// The task's manifest with `user` on both sides, `mode` for both endpoints and, when given, a CA
/// Secret per endpoint.
fn tls_manifest(dir: &Path, name: &str, src: &TestServer, dst: &TestServer, mode: &str, cas: Option<(&str, &str)>) -> PathBuf {
    let m = write_task(dir, name, src, dst, "  objects:\n  - database: s\n");
    let mut text = std::fs::read_to_string(&m).unwrap();
    text = text
        .replace(&format!("username: '{USER}'\n  password: '{PASSWORD}'"), &format!("username: 'tls_user'\n  password: '{TLS_PASSWORD}'"));
    let mut extra = String::new();
    for role in ["source", "target"] {
        let old = format!("credentialsSecret: {name}-{role}\n    tls:\n      mode: disabled\n");
        let mut new = format!("credentialsSecret: {name}-{role}\n    tls:\n      mode: {mode}\n");
        if let Some((src_ca, dst_ca)) = cas {
            let pem = if role == "source" { src_ca } else { dst_ca };
            new.push_str(&format!("      caSecret: {name}-{role}-ca\n"));
            let indented: String = pem.lines().map(|l| format!("    {l}\n")).collect();
            extra.push_str(&format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-{role}-ca\ntype: Opaque\nstringData:\n  ca.crt: |\n{indented}---\n"
            ));
        }
        assert!(text.contains(&old), "{text}");
        text = text.replace(&old, &new);
    }
    std::fs::write(&m, format!("{extra}{text}")).unwrap();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_only_servers_verified_by_their_own_ca() {
    let (src, dst) = tokio::join!(TestServer::start(ServerOptions::source().tls()), TestServer::start(ServerOptions::target().tls()));
    tokio::join!(tls_only_user(&src, "tls_user"), tls_only_user(&dst, "tls_user"));
    src.exec("CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO s.t VALUES (1, 'a'), (2, 'b');").await;
    let (src_ca, dst_ca) = (src.ca_pem().unwrap(), dst.ca_pem().unwrap());
    let dir = tempfile::tempdir().unwrap();

    // Another server's CA did not sign the certificate: refused, naming the server.
    let wrong = tls_manifest(dir.path(), "wrongca", &src, &dst, "verify-ca", Some((&dst_ca, &dst_ca)));
    let out = run_ferry(&wrong, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a certificate of another CA was accepted:\n{err}");
    assert!(err.contains(&format!("127.0.0.1:{}", src.port())), "the error names the source: {err}");
    assert!(err.to_lowercase().contains("certificate"), "the error says why: {err}");
    assert!(!err.contains(TLS_PASSWORD), "no secret in errors: {err}");

    // Without TLS the users are refused (the case under test is real).
    let plain = tls_manifest(dir.path(), "plain", &src, &dst, "disabled", None);
    let out = run_ferry(&plain, dir.path());
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Each server's own CA, the host name checked too: copy, then the binlog.
    let m = tls_manifest(dir.path(), "tls", &src, &dst, "verify-identity", Some((&src_ca, &dst_ca)));
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;
    src.exec("INSERT INTO s.t VALUES (3, 'c'); UPDATE s.t SET v = 'A' WHERE id = 1; DELETE FROM s.t WHERE id = 2;").await;
    ferry.wait_until_same(&src, &dst, &["s"], SYNC).await;
    // Every session ferry opened was TLS: the users accept nothing else (the plain run above).
    ferry.assert_running("at the end");
}

/// MySQL's default authentication over plain TCP: a user's first login is caching_sha2's full
/// authentication (the password goes encrypted with the server's RSA key), later ones the fast
/// path from the server's cache; both work, and a wrong password is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_sha2_password_without_tls() {
    if default_flavor() != Flavor::MySql {
        println!("MySQL only: MariaDB has no caching_sha2_password");
        return;
    }
    let (src, dst) = pair().await;
    for db in [&src, &dst] {
        db.exec(&format!(
            "CREATE USER 'tls_user'@'%' IDENTIFIED WITH caching_sha2_password BY '{TLS_PASSWORD}';
             GRANT ALL PRIVILEGES ON *.* TO 'tls_user'@'%'; FLUSH PRIVILEGES;"
        ))
        .await;
    }
    src.exec("CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY); INSERT INTO s.t VALUES (1), (2);").await;
    let dir = tempfile::tempdir().unwrap();
    let m = tls_manifest(dir.path(), "sha2", &src, &dst, "disabled", None);
    let mut ferry = RunningFerry::start(&m, dir.path());
    ferry.wait_for_phase(Phase::Synchronizing, SYNC).await;
    src.exec("INSERT INTO s.t VALUES (3);").await;
    ferry.wait_until_same(&src, &dst, &["s"], SYNC).await;
    let plugin: Option<String> = src.conn().await.query_first("SELECT plugin FROM mysql.user WHERE user = 'tls_user'").await.unwrap();
    assert_eq!(plugin.as_deref(), Some("caching_sha2_password"));
    ferry.interrupt(Duration::from_secs(15)).await;

    let bad = std::fs::read_to_string(&m).unwrap().replace(TLS_PASSWORD, "wrong-password");
    std::fs::write(&m, bad).unwrap();
    let out = run_ferry(&m, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    let named = [&src, &dst].iter().any(|db| err.contains(&format!("127.0.0.1:{}", db.port())));
    assert!(!out.status.success() && err.contains("Access denied") && named, "{err}");
    assert!(!err.contains("wrong-password"), "no secret in errors: {err}");
}
