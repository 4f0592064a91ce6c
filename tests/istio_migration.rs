//! Issue 23, point 2: a mesh built with the blog procedure — Istio's Makefile CA in
//! certs/cluster1 and certs/cluster2, `kubectl create secret generic cacerts` in contexts
//! cluster-1 and cluster-2 — meets the flagship with its default cluster names.

use crate::istio_support;

use istio_support::{fingerprint, istio_makefile_certs, Mesh};
use serde_json::Value;

fn blog_mesh() -> Mesh {
    let mesh = Mesh::new(&["cluster-1", "cluster-2"]);
    istio_makefile_certs(&mesh.path("certs"), &["cluster1", "cluster2"]);
    for (context, dir) in [("cluster-1", "cluster1"), ("cluster-2", "cluster2")] {
        mesh.kubectl_ok(context, &["create", "namespace", "istio-system"]);
        mesh.kubectl_ok(
            context,
            &[
                "create",
                "secret",
                "generic",
                "cacerts",
                "-n",
                "istio-system",
                &format!("--from-file=certs/{dir}/ca-cert.pem"),
                &format!("--from-file=certs/{dir}/ca-key.pem"),
                &format!("--from-file=certs/{dir}/root-cert.pem"),
                &format!("--from-file=certs/{dir}/cert-chain.pem"),
            ],
        );
    }
    mesh
}

/// The message of the play's `error` event (`--output json`).
fn error_event(stdout: &str) -> String {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "error")
        .and_then(|e| e["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no error event in {stdout}"))
}

#[test]
fn the_blogs_cacerts_stop_the_play_before_any_write_with_the_ways_forward() {
    let mesh = blog_mesh();
    let disk = mesh.disk_snapshot();
    let clusters = [
        mesh.cluster_snapshot("cluster-1"),
        mesh.cluster_snapshot("cluster-2"),
    ];

    let run = mesh.flagship("", &["--output", "json"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let live = fingerprint(&mesh.path("certs/cluster1/ca-cert.pem"));
    assert_eq!(
        error_event(&run.stdout),
        format!(
            "cluster-1: istio-system/cacerts holds the intermediate CA \"O=Istio, CN=Intermediate CA, L=cluster1\" \
             (SHA-256 {live}, ca-cert.pem layout) under our root; certs/cluster-1 does not exist, so the play \
             would make a new one. Replacing the live one would change the CA istiod signs workload certificates \
             with, so nothing was written. Either:\n  - adopt it: certs/cluster1 already holds exactly this \
             intermediate (Istio's Makefile names directories this way); add `cert_dir: cluster1` to cluster-1 \
             in the vars and run again, or\n  - rotate deliberately: a step calling \
             mesh::rotate_intermediate(cluster, spec, vars.certs, wait_seconds) from playbooks/lib/mesh.rhai \
             makes a new intermediate in certs/cluster-1 under the same root, replaces cacerts with it as a \
             rotation and restarts istiod (workloads keep their certificates until they renew them, all under \
             the same root)"
        )
    );
    assert_eq!(mesh.disk_snapshot(), disk, "nothing written on disk");
    assert_eq!(mesh.cluster_snapshot("cluster-1"), clusters[0]);
    assert_eq!(mesh.cluster_snapshot("cluster-2"), clusters[1]);
}

#[test]
fn naming_the_makefile_directories_adopts_the_live_ca_unchanged() {
    let mesh = blog_mesh();
    let certs_before: Vec<(String, String)> = mesh
        .disk_snapshot()
        .into_iter()
        .filter(|(path, _)| path.starts_with("certs/"))
        .collect();
    let secret_data = |context: &str| {
        mesh.kubectl(context, &["get", "secret", "cacerts", "-n", "istio-system"])["data"].clone()
    };
    let data = [secret_data("cluster-1"), secret_data("cluster-2")];
    let vars = "primary:\n  name: cluster-1\n  context: cluster-1\n  network: network1\n  cert_dir: cluster1\n\
         remotes:\n  - name: cluster-2\n    context: cluster-2\n    network: network1\n    api_server: \"\"\n    cert_dir: cluster2\n";

    let run = mesh.flagship(vars, &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    for (cluster, dir) in [("cluster-1", "cluster1"), ("cluster-2", "cluster2")] {
        let fp = fingerprint(&mesh.path(&format!("certs/{dir}/ca-cert.pem")));
        let line = format!(
            "  {cluster}: cacerts intermediate O=Istio, CN=Intermediate CA, L={dir} (SHA-256 {fp})"
        );
        assert!(run.has_line(&line), "{line}\n{}", run.stdout);
    }
    // The play labels what it applies; the CA the blog put there stays, key for key.
    assert!(
        run.has_line("  cluster-2    configured Secret istio-system/cacerts"),
        "{}",
        run.stdout
    );
    assert_eq!([secret_data("cluster-1"), secret_data("cluster-2")], data);
    let again = mesh.flagship(vars, &[]);
    assert_eq!(again.code, Some(0));
    assert!(again.stdout.contains("nothing changed"), "{}", again.stdout);
    let certs_after: Vec<(String, String)> = mesh
        .disk_snapshot()
        .into_iter()
        .filter(|(path, _)| path.starts_with("certs/"))
        .collect();
    assert_eq!(
        certs_after, certs_before,
        "the Makefile's files are reused byte for byte"
    );
}

/// The adoption commands the explanation gives, as a user pastes them into a shell.
fn commands_in(message: &str) -> Vec<String> {
    message
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("mkdir ") || l.starts_with("kubectl ") || l.starts_with("chmod "))
        .map(str::to_string)
        .collect()
}

#[test]
fn without_the_makefile_directory_the_kubectl_commands_given_adopt_the_live_ca() {
    let mesh = blog_mesh();
    std::fs::remove_dir_all(mesh.path("certs/cluster1")).unwrap();
    std::fs::remove_dir_all(mesh.path("certs/cluster2")).unwrap();
    let run = mesh.flagship("", &["--output", "json"]);
    assert_eq!(run.code, Some(1));
    let message = error_event(&run.stdout);
    let commands = commands_in(&message);
    assert_eq!(
        commands,
        [
            "mkdir -m 700 -p certs/cluster-1",
            "kubectl --context cluster-1 -n istio-system get secret cacerts -o jsonpath='{.data.ca-cert\\.pem}' | base64 -d > certs/cluster-1/ca-cert.pem",
            "kubectl --context cluster-1 -n istio-system get secret cacerts -o jsonpath='{.data.ca-key\\.pem}' | base64 -d > certs/cluster-1/ca-key.pem",
            "kubectl --context cluster-1 -n istio-system get secret cacerts -o jsonpath='{.data.cert-chain\\.pem}' | base64 -d > certs/cluster-1/cert-chain.pem",
            "kubectl --context cluster-1 -n istio-system get secret cacerts -o jsonpath='{.data.root-cert\\.pem}' | base64 -d > certs/cluster-1/root-cert.pem",
            "chmod 600 certs/cluster-1/ca-key.pem",
        ],
        "{message}"
    );
    // Pasted as they are, for both clusters, they make the directories the play reuses.
    for cluster in ["cluster-1", "cluster-2"] {
        let script = commands.join("\n").replace("cluster-1", cluster);
        let out = std::process::Command::new("sh")
            .args(["-e", "-c", &script])
            .current_dir(mesh.path("."))
            .env("KUBECONFIG", &mesh.kubeconfig)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let run = mesh.flagship("", &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let fp = fingerprint(&mesh.path("certs/cluster-1/ca-cert.pem"));
    assert!(run.has_line(&format!(
        "  cluster-1: cacerts intermediate O=Istio, CN=Intermediate CA, L=cluster1 (SHA-256 {fp})"
    )));
}

#[test]
fn rotating_deliberately_replaces_the_blogs_secret_as_a_rotation() {
    let mesh = blog_mesh();
    let old = mesh.kubectl(
        "cluster-1",
        &["get", "secret", "cacerts", "-n", "istio-system"],
    );
    mesh.write(
        "playbooks/rotate.rhai",
        r#"import "lib/mesh" as mesh;
let primary = cluster(vars.primary.name, #{ context: vars.primary.context });
step("rotate", || {
    mesh::rotate_intermediate(primary, vars.primary, vars.certs, 60);
});
"#,
    );
    let run = mesh.play("playbooks/rotate.rhai", "", &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.has_line("  cluster-1    configured Secret istio-system/cacerts"),
        "{}",
        run.stdout
    );
    let new = mesh.kubectl(
        "cluster-1",
        &["get", "secret", "cacerts", "-n", "istio-system"],
    );
    assert_ne!(new["data"]["ca-cert.pem"], old["data"]["ca-cert.pem"]);
    assert_eq!(new["data"]["root-cert.pem"], old["data"]["root-cert.pem"]);
    assert_eq!(
        new["data"]["ca-cert.pem"].as_str().map(|b| {
            use base64::Engine as _;
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
        }),
        Some(mesh.read("certs/cluster-1/ca-cert.pem"))
    );
    // cluster-1 now runs certs/cluster-1; cluster-2 still names the blog's directory.
    let run = mesh.flagship(
        "remotes:\n  - name: cluster-2\n    context: cluster-2\n    network: network1\n    api_server: \"\"\n    cert_dir: cluster2\n",
        &[],
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
}
