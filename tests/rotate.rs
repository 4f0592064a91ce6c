//! playbooks/rotate-intermediate.rhai on the sandbox: a new intermediate under the same root
//! for one cluster or all, the previous files kept in a dated backup, cacerts updated, istiod
//! restarted through its pod template and awaited, verify showing the new intermediate live.

use crate::common;
use crate::lifecycle_support;

use common::backend::Backend;

use lifecycle_support::{
    changed, decode, error_event, fingerprint, messages, row, rows, steps, Mesh,
};
use serde_json::Value;

const ROTATE: &str = "playbooks/rotate-intermediate.rhai";
const MESH: &str = "\
remotes:
  - {name: cluster-2, context: cluster-2, network: network1}
  - {name: cluster-3, context: cluster-3, network: network1}
";

fn converged(backend: Backend) -> Mesh {
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    let run = mesh.flagship(MESH, &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    mesh
}

/// The backup folders under certs/<cluster>/.
fn backups(mesh: &Mesh, cluster: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(mesh.path(&format!("certs/{cluster}")))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found
}

fn cacerts(mesh: &Mesh, cluster: &str) -> Value {
    mesh.kubectl(cluster, &["get", "secret", "cacerts", "-n", "istio-system"])
}

fn verify_line(mesh: &Mesh, cluster: &str) -> String {
    format!(
        "{cluster}: cacerts intermediate O=Istio, CN=Intermediate CA, L={cluster} (SHA-256 {})",
        fingerprint(&mesh.path(&format!("certs/{cluster}/ca-cert.pem")))
    )
}

fn restarted_at(mesh: &Mesh) -> Value {
    let istiod = mesh.kubectl(
        "cluster-1",
        &["get", "deployment", "istiod", "-n", "istio-system"],
    );
    istiod["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        .clone()
}

#[test]
fn one_cluster_is_rotated_and_the_others_are_left_alone() {
    let backend = Backend::Sandbox;
    let mesh = converged(backend);
    let old = mesh.read("certs/cluster-2/ca-cert.pem");
    let old_key = mesh.read("certs/cluster-2/ca-key.pem");
    let others = [
        mesh.read("certs/cluster-1/ca-cert.pem"),
        mesh.read("certs/cluster-3/ca-cert.pem"),
    ];
    let disk = mesh.disk_snapshot();

    let plan = mesh.play(
        ROTATE,
        MESH,
        &[
            "--var",
            "cluster=cluster-2",
            "--dry-run",
            "--output",
            "json",
        ],
    );
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
    assert_eq!(mesh.disk_snapshot(), disk, "a plan writes nothing");

    let run = mesh.play(
        ROTATE,
        MESH,
        &["--var", "cluster=cluster-2", "--output", "json"],
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(rows(&plan.stdout), rows(&run.stdout));
    assert_eq!(steps(&run.stdout), ["rotate", "verify"]);
    // A remote runs no istiod: only its cacerts changes.
    assert_eq!(
        changed(&run.stdout),
        [row(
            "cluster-2",
            "Secret",
            Some("istio-system"),
            "cacerts",
            "configured"
        )]
        .into_iter()
        .collect()
    );

    // The previous files in one dated backup folder, 0600 for the key; the new ones beside it.
    let folders = backups(&mesh, "cluster-2");
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert!(folders[0].starts_with("backup-"), "{folders:?}");
    let backup = format!("certs/cluster-2/{}", folders[0]);
    assert_eq!(mesh.read(&format!("{backup}/ca-cert.pem")), old);
    assert_eq!(mesh.read(&format!("{backup}/ca-key.pem")), old_key);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(mesh.path(&format!("{backup}/ca-key.pem")))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let new = mesh.read("certs/cluster-2/ca-cert.pem");
    assert_ne!(new, old);
    // Same root: openssl checks the new intermediate against it.
    lifecycle_support::openssl(
        &[
            "verify",
            "-CAfile",
            "certs/root-cert.pem",
            "certs/cluster-2/ca-cert.pem",
        ],
        &mesh.path(""),
    );

    // Live in cacerts, and reported by verify.
    assert_eq!(
        decode(&cacerts(&mesh, "cluster-2")["data"]["ca-cert.pem"]),
        new
    );
    let logs = messages(&run.stdout, "log");
    assert!(logs.contains(&verify_line(&mesh, "cluster-2")), "{logs:?}");

    // The others keep theirs.
    assert_eq!(mesh.read("certs/cluster-1/ca-cert.pem"), others[0]);
    assert_eq!(mesh.read("certs/cluster-3/ca-cert.pem"), others[1]);
    assert_eq!(
        decode(&cacerts(&mesh, "cluster-3")["data"]["ca-cert.pem"]),
        others[1]
    );
    assert!(backups(&mesh, "cluster-1").is_empty());

    // The flagship accepts the rotated intermediate: it only takes the secret's ownership
    // label back, then changes nothing.
    let flagship = mesh.flagship(MESH, &["--output", "json"]);
    assert_eq!(
        flagship.code,
        Some(0),
        "{}\n{}",
        flagship.stdout,
        flagship.stderr
    );
    assert_eq!(
        changed(&flagship.stdout),
        [row(
            "cluster-2",
            "Secret",
            Some("istio-system"),
            "cacerts",
            "configured"
        )]
        .into_iter()
        .collect()
    );
    assert_eq!(
        decode(&cacerts(&mesh, "cluster-2")["data"]["ca-cert.pem"]),
        new
    );
    let again = mesh.flagship(MESH, &["--output", "json"]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        changed(&again.stdout).is_empty(),
        "{:?}",
        changed(&again.stdout)
    );
}

fn every_cluster_is_rotated_and_istiod_restarted(backend: Backend) {
    let mesh = converged(backend);
    assert_eq!(restarted_at(&mesh), Value::Null);
    let old: Vec<String> = ["cluster-1", "cluster-2", "cluster-3"]
        .iter()
        .map(|c| mesh.read(&format!("certs/{c}/ca-cert.pem")))
        .collect();

    let plan = mesh.play(ROTATE, MESH, &["--dry-run", "--output", "json"]);
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
    let run = mesh.play(ROTATE, MESH, &["--output", "json"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(rows(&plan.stdout), rows(&run.stdout));
    assert_eq!(
        changed(&run.stdout),
        [
            row(
                "cluster-1",
                "Deployment",
                Some("istio-system"),
                "istiod",
                "configured"
            ),
            row(
                "cluster-1",
                "Secret",
                Some("istio-system"),
                "cacerts",
                "configured"
            ),
            row(
                "cluster-2",
                "Secret",
                Some("istio-system"),
                "cacerts",
                "configured"
            ),
            row(
                "cluster-3",
                "Secret",
                Some("istio-system"),
                "cacerts",
                "configured"
            ),
        ]
        .into_iter()
        .collect()
    );

    for (i, cluster) in ["cluster-1", "cluster-2", "cluster-3"].iter().enumerate() {
        let new = mesh.read(&format!("certs/{cluster}/ca-cert.pem"));
        assert_ne!(new, old[i], "{cluster}");
        assert_eq!(backups(&mesh, cluster).len(), 1, "{cluster}");
        assert_eq!(decode(&cacerts(&mesh, cluster)["data"]["ca-cert.pem"]), new);
        let logs = messages(&run.stdout, "log");
        assert!(logs.contains(&verify_line(&mesh, cluster)), "{logs:?}");
    }
    // istiod restarted through its pod template, and the rollout awaited.
    let restarted = restarted_at(&mesh);
    time::OffsetDateTime::parse(
        restarted.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let istiod = mesh.kubectl(
        "cluster-1",
        &["get", "deployment", "istiod", "-n", "istio-system"],
    );
    assert_eq!(
        istiod["status"]["updatedReplicas"],
        istiod["spec"]["replicas"]
    );
    assert!(messages(&run.stdout, "log")
        .iter()
        .any(|l| l.starts_with("verified: 3 cluster(s) share one root")));
}

#[test]
fn an_unknown_cluster_is_refused_before_anything_moves() {
    let backend = Backend::Sandbox;
    let mesh = converged(backend);
    let disk = mesh.disk_snapshot();
    let before = mesh.cluster_snapshot("cluster-1");
    let run = mesh.play(
        ROTATE,
        MESH,
        &["--var", "cluster=cluster-9", "--output", "json"],
    );
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        error_event(&run.stdout),
        "--var cluster=cluster-9: no cluster of that name in the vars (clusters: cluster-1, cluster-2, cluster-3)"
    );
    assert_eq!(mesh.disk_snapshot(), disk);
    assert_eq!(mesh.cluster_snapshot("cluster-1"), before);
}

on_both_backends!(sync every_cluster_is_rotated_and_istiod_restarted);
