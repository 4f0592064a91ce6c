//! playbooks/promote-remote.rhai on the sandbox: with the primary gone (its API server
//! unreachable), a named remote becomes the primary: the control plane installed and exposed
//! there, the other remotes' remote secrets on it, their remotePilotAddress and
//! controlPlaneClusters annotation pointing at it. A second run changes nothing.

use crate::common;
use crate::lifecycle_support;

use common::backend::Backend;

use lifecycle_support::{absent, changed, decode, error_event, lb_ip, messages, rows, steps, Mesh};
use serde_json::json;

const PROMOTE: &str = "playbooks/promote-remote.rhai";

/// Makes `cluster`'s API server unreachable in the kubeconfig the plays use: a failed primary.
fn fail(mesh: &Mesh, cluster: &str) {
    let text = std::fs::read_to_string(&mesh.kubeconfig).unwrap();
    let mut config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    for entry in config["clusters"].as_sequence_mut().unwrap() {
        if entry["name"].as_str() == Some(cluster) {
            entry["cluster"]["server"] = "https://127.0.0.1:1".into();
        }
    }
    std::fs::write(&mesh.kubeconfig, serde_yaml::to_string(&config).unwrap()).unwrap();
}

fn server_of(mesh: &Mesh, cluster: &str) -> String {
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&mesh.kubeconfig).unwrap()).unwrap();
    config["clusters"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str() == Some(cluster))
        .map(|c| c["cluster"]["server"].as_str().unwrap().to_string())
        .unwrap()
}

fn promoted(backend: Backend, mesh_vars: &str, networks: &[(&str, &str)]) -> (Mesh, String) {
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    let mut vars = format!("{mesh_vars}remotes:\n");
    for (name, network) in networks {
        vars.push_str(&format!(
            "  - {{name: {name}, context: {name}, network: {network}}}\n"
        ));
    }
    let run = mesh.flagship(&vars, &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    fail(&mesh, "cluster-1");
    (mesh, vars)
}

/// What a remote that follows `primary` has: the annotation, and its istiod endpoints (the
/// stand-in's remotePilotAddress) at `address`.
fn assert_follows(mesh: &Mesh, remote: &str, primary: &str, address: &str) {
    let ns = mesh.kubectl(remote, &["get", "namespace", "istio-system"]);
    assert_eq!(
        ns["metadata"]["annotations"]["topology.istio.io/controlPlaneClusters"],
        primary
    );
    let endpoints = mesh.kubectl(
        remote,
        &["get", "endpointslice", "istiod", "-n", "istio-system"],
    );
    assert_eq!(endpoints["endpoints"][0]["addresses"], json!([address]));
}

fn assert_holds_remote_secret(mesh: &Mesh, primary: &str, remote: &str) {
    let secret = mesh.kubectl(
        primary,
        &[
            "get",
            "secret",
            &format!("istio-remote-secret-{remote}"),
            "-n",
            "istio-system",
        ],
    );
    assert_eq!(secret["metadata"]["labels"]["istio/multiCluster"], "true");
    assert_eq!(
        secret["metadata"]["annotations"]["networking.istio.io/cluster"],
        remote
    );
    let kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&decode(&secret["data"][remote])).unwrap();
    assert_eq!(
        kubeconfig["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap(),
        server_of(mesh, remote)
    );
}

fn a_remote_becomes_the_primary_when_the_primary_has_failed(backend: Backend) {
    let (mesh, vars) = promoted(
        backend,
        "",
        &[("cluster-2", "network1"), ("cluster-3", "network1")],
    );

    let plan = mesh.play(
        PROMOTE,
        &vars,
        &[
            "--var",
            "new_primary=cluster-2",
            "--dry-run",
            "--output",
            "json",
        ],
    );
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
    let run = mesh.play(
        PROMOTE,
        &vars,
        &["--var", "new_primary=cluster-2", "--output", "json"],
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(rows(&plan.stdout), rows(&run.stdout));
    assert_eq!(
        steps(&run.stdout),
        [
            "checks",
            "control-plane",
            "expose-istiod",
            "move-remote-secrets",
            "repoint-remotes",
            "alerts",
            "verify"
        ]
    );

    // cluster-2 runs the control plane and names no other one; the remote profile's istiod
    // endpoints, which pointed at the failed primary, are gone.
    let istiod = mesh.kubectl(
        "cluster-2",
        &["get", "deployment", "istiod", "-n", "istio-system"],
    );
    assert_eq!(
        istiod["status"]["availableReplicas"],
        istiod["spec"]["replicas"]
    );
    assert_eq!(
        istiod["spec"]["template"]["spec"]["containers"][0]["env"][0],
        json!({"name": "CLUSTER_ID", "value": "cluster-2"})
    );
    let ns = mesh.kubectl("cluster-2", &["get", "namespace", "istio-system"]);
    assert_eq!(
        ns["metadata"]
            .get("annotations")
            .and_then(|a| a.get("topology.istio.io/controlPlaneClusters")),
        None
    );
    assert!(absent(
        &mesh,
        "cluster-2",
        &["get", "endpointslice", "istiod", "-n", "istio-system"]
    ));
    let webhook = mesh.kubectl(
        "cluster-2",
        &[
            "get",
            "mutatingwebhookconfiguration",
            "istio-sidecar-injector",
        ],
    );
    assert_eq!(
        webhook["webhooks"][0]["clientConfig"]["service"]["path"],
        "/inject"
    );
    let address = lb_ip(&mesh, "cluster-2", "istiod-external");

    // cluster-3's remote secret is on the new primary, and cluster-3 follows it.
    assert_holds_remote_secret(&mesh, "cluster-2", "cluster-3");
    assert!(absent(
        &mesh,
        "cluster-2",
        &[
            "get",
            "secret",
            "istio-remote-secret-cluster-2",
            "-n",
            "istio-system"
        ]
    ));
    assert_follows(&mesh, "cluster-3", "cluster-2", &address);
    assert_eq!(
        messages(&run.stdout, "log").last().unwrap(),
        "verified: 2 cluster(s) share one root; istiod is exposed; every remote is attached"
    );

    // Again: nothing changes.
    let again = mesh.play(
        PROMOTE,
        &vars,
        &["--var", "new_primary=cluster-2", "--output", "json"],
    );
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert!(
        changed(&again.stdout).is_empty(),
        "{:?}",
        changed(&again.stdout)
    );
}

fn on_several_networks_the_remotes_follow_the_new_primarys_gateway(backend: Backend) {
    let (mesh, vars) = promoted(
        backend,
        "",
        &[("cluster-2", "network2"), ("cluster-3", "network3")],
    );
    let run = mesh.play(
        PROMOTE,
        &vars,
        &["--var", "new_primary=cluster-2", "--output", "json"],
    );
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    // istiod behind the new primary's east-west gateway; cluster-3 reaches it there.
    for name in ["istiod-gateway", "cross-network-gateway"] {
        mesh.kubectl(
            "cluster-2",
            &[
                "get",
                "gateways.networking.istio.io",
                name,
                "-n",
                "istio-system",
            ],
        );
    }
    mesh.kubectl(
        "cluster-2",
        &[
            "get",
            "virtualservices.networking.istio.io",
            "istiod-vs",
            "-n",
            "istio-system",
        ],
    );
    let address = lb_ip(&mesh, "cluster-2", "istio-eastwestgateway");
    assert_follows(&mesh, "cluster-3", "cluster-2", &address);
    assert_holds_remote_secret(&mesh, "cluster-2", "cluster-3");
    let ns = mesh.kubectl("cluster-2", &["get", "namespace", "istio-system"]);
    assert_eq!(
        ns["metadata"]["labels"]["topology.istio.io/network"],
        "network2"
    );
    assert!(messages(&run.stdout, "log").contains(
        &"cluster-3: network network3 matches the injector's path /inject/cluster/cluster-3/net/network3"
            .to_string()
    ));
    let again = mesh.play(
        PROMOTE,
        &vars,
        &["--var", "new_primary=cluster-2", "--output", "json"],
    );
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert!(
        changed(&again.stdout).is_empty(),
        "{:?}",
        changed(&again.stdout)
    );
}

#[test]
fn only_a_remote_of_the_vars_can_be_promoted() {
    let backend = Backend::Sandbox;
    let (mesh, vars) = promoted(
        backend,
        "",
        &[("cluster-2", "network1"), ("cluster-3", "network1")],
    );
    let before = mesh.cluster_snapshot("cluster-2");
    for (arg, shown) in [
        ("new_primary=cluster-9", "cluster-9"),
        ("new_primary=cluster-1", "cluster-1"),
    ] {
        let run = mesh.play(PROMOTE, &vars, &["--var", arg, "--output", "json"]);
        assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
        assert_eq!(
            error_event(&run.stdout),
            format!("--var new_primary=NAME must name one of the vars' remotes (cluster-2, cluster-3), not \"{shown}\"")
        );
    }
    let run = mesh.play(PROMOTE, &vars, &["--output", "json"]);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        error_event(&run.stdout),
        "--var new_primary=NAME must name one of the vars' remotes (cluster-2, cluster-3), not \"\""
    );
    assert_eq!(mesh.cluster_snapshot("cluster-2"), before);
}

on_both_backends!(sync a_remote_becomes_the_primary_when_the_primary_has_failed, on_several_networks_the_remotes_follow_the_new_primarys_gateway);
