//! Multi-network primary-remote on the sandbox: when the clusters' networks differ, the
//! flagship follows Istio's multi-network procedure (east-west gateways, istiod through the
//! primary's, services exposed across networks, network labels), verify checks it, and the
//! single-network shape stays as it was. `access.load_balancer_source_ranges` reaches the
//! Services that expose the control plane.

use crate::common;
use crate::lifecycle_support;

use common::backend::Backend;

use lifecycle_support::{absent, changed, error_event, lb_ip, messages, row, rows, steps, Mesh};
use serde_json::{json, Value};

const THREE_CLUSTERS: &[&str] = &["cluster-1", "cluster-2", "cluster-3"];

/// cluster-1 on network1, cluster-2 on network2, cluster-3 on network3, only 10.20.0.0/16 and
/// 10.30.0.0/16 let in.
const TWO_NETWORKS: &str = "\
remotes:
  - {name: cluster-2, context: cluster-2, network: network2}
  - {name: cluster-3, context: cluster-3, network: network3}
access:
  load_balancer_source_ranges: [10.20.0.0/16, 10.30.0.0/16]
";

fn ports(service: &Value) -> Vec<(String, i64)> {
    service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["port"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn different_networks_follow_istios_multi_network_procedure(backend: Backend) {
    let mesh = Mesh::new(backend, THREE_CLUSTERS);

    // The plan equals the run.
    let plan = mesh.flagship(TWO_NETWORKS, &["--dry-run", "--output", "json"]);
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
    let run = mesh.flagship(TWO_NETWORKS, &["--output", "json"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(rows(&plan.stdout), rows(&run.stdout));
    assert_eq!(
        steps(&run.stdout),
        [
            "ca",
            "istio-system",
            "control-plane",
            "expose-istiod",
            "remote-data-planes",
            "attach-remotes",
            "remote-gateways",
            "alerts",
            "demo-apps",
            "traffic",
            "verify"
        ]
    );
    for (cluster, name) in [
        ("cluster-1", "istio-eastwestgateway"),
        ("cluster-2", "istio-eastwestgateway"),
        ("cluster-3", "istio-eastwestgateway"),
    ] {
        for kind in ["Deployment", "Service"] {
            assert!(
                rows(&run.stdout).contains(&row(
                    cluster,
                    kind,
                    Some("istio-system"),
                    name,
                    "created"
                )),
                "{cluster} {kind} {name}"
            );
        }
    }

    // Each cluster: istio-system labelled with its network, its east-west gateway a
    // LoadBalancer with Istio's four ports and the network label, only the vars' ranges let
    // in, and its services exposed through it.
    for (cluster, network) in [
        ("cluster-1", "network1"),
        ("cluster-2", "network2"),
        ("cluster-3", "network3"),
    ] {
        let ns = mesh.kubectl(cluster, &["get", "namespace", "istio-system"]);
        assert_eq!(
            ns["metadata"]["labels"]["topology.istio.io/network"],
            network
        );
        let gateway = mesh.kubectl(
            cluster,
            &[
                "get",
                "service",
                "istio-eastwestgateway",
                "-n",
                "istio-system",
            ],
        );
        assert_eq!(gateway["spec"]["type"], "LoadBalancer");
        assert_eq!(
            ports(&gateway),
            [
                ("status-port".to_string(), 15021),
                ("tls".to_string(), 15443),
                ("tls-istiod".to_string(), 15012),
                ("tls-webhook".to_string(), 15017)
            ]
        );
        assert_eq!(
            gateway["metadata"]["labels"]["topology.istio.io/network"],
            network
        );
        assert_eq!(
            gateway["spec"]["loadBalancerSourceRanges"],
            json!(["10.20.0.0/16", "10.30.0.0/16"])
        );
        assert_eq!(
            gateway["spec"]["selector"],
            json!({"app": "istio-eastwestgateway", "istio": "eastwestgateway"})
        );
        let deployment = mesh.kubectl(
            cluster,
            &[
                "get",
                "deployment",
                "istio-eastwestgateway",
                "-n",
                "istio-system",
            ],
        );
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"]["topology.istio.io/network"],
            network
        );
        let exposed = mesh.kubectl(
            cluster,
            &[
                "get",
                "gateways.networking.istio.io",
                "cross-network-gateway",
                "-n",
                "istio-system",
            ],
        );
        assert_eq!(
            exposed["spec"],
            json!({
                "selector": {"istio": "eastwestgateway"},
                "servers": [{
                    "port": {"number": 15443, "name": "tls", "protocol": "TLS"},
                    "tls": {"mode": "AUTO_PASSTHROUGH"},
                    "hosts": ["*.local"]
                }]
            })
        );
    }

    // istiod behind the primary's gateway, TLS passed through on 15012 and 15017; no
    // istiod-external, which a single network uses instead.
    assert!(absent(
        &mesh,
        "cluster-1",
        &["get", "service", "istiod-external", "-n", "istio-system"]
    ));
    let istiod_gateway = mesh.kubectl(
        "cluster-1",
        &[
            "get",
            "gateways.networking.istio.io",
            "istiod-gateway",
            "-n",
            "istio-system",
        ],
    );
    let servers: Vec<(i64, String, String)> = istiod_gateway["spec"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["port"]["number"].as_i64().unwrap(),
                s["port"]["protocol"].as_str().unwrap().to_string(),
                s["tls"]["mode"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        servers,
        [
            (15012, "TLS".to_string(), "PASSTHROUGH".to_string()),
            (15017, "TLS".to_string(), "PASSTHROUGH".to_string())
        ]
    );
    let routes = mesh.kubectl(
        "cluster-1",
        &[
            "get",
            "virtualservices.networking.istio.io",
            "istiod-vs",
            "-n",
            "istio-system",
        ],
    );
    assert_eq!(routes["spec"]["gateways"], json!(["istiod-gateway"]));
    let routed: Vec<(i64, String, i64)> = routes["spec"]["tls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["match"][0]["port"].as_i64().unwrap(),
                r["route"][0]["destination"]["host"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                r["route"][0]["destination"]["port"]["number"]
                    .as_i64()
                    .unwrap(),
            )
        })
        .collect();
    let istiod = "istiod.istio-system.svc.cluster.local".to_string();
    assert_eq!(
        routed,
        [(15012, istiod.clone(), 15012), (15017, istiod, 443)]
    );

    // The remotes reach istiod at the primary gateway's address (remotePilotAddress: the
    // stand-in's istiod endpoints), with their network in the injector's path.
    let address = lb_ip(&mesh, "cluster-1", "istio-eastwestgateway");
    for (remote, network) in [("cluster-2", "network2"), ("cluster-3", "network3")] {
        let endpoints = mesh.kubectl(
            remote,
            &["get", "endpointslice", "istiod", "-n", "istio-system"],
        );
        assert_eq!(endpoints["endpoints"][0]["addresses"], json!([address]));
        let webhook = mesh.kubectl(
            remote,
            &[
                "get",
                "mutatingwebhookconfiguration",
                "istio-sidecar-injector",
            ],
        );
        for hook in webhook["webhooks"].as_array().unwrap() {
            assert_eq!(
                hook["clientConfig"]["service"]["path"],
                format!("/inject/cluster/{remote}/net/{network}")
            );
        }
    }

    // verify says what it checked.
    let logs = messages(&run.stdout, "log");
    let expected = [
        format!(
            "cluster-1: east-west gateway at {}",
            lb_ip(&mesh, "cluster-1", "istio-eastwestgateway")
        ),
        format!(
            "cluster-2: east-west gateway at {}",
            lb_ip(&mesh, "cluster-2", "istio-eastwestgateway")
        ),
        "cluster-2: network network2 matches the injector's path /inject/cluster/cluster-2/net/network2"
            .to_string(),
        format!(
            "cluster-3: east-west gateway at {}",
            lb_ip(&mesh, "cluster-3", "istio-eastwestgateway")
        ),
        "cluster-3: network network3 matches the injector's path /inject/cluster/cluster-3/net/network3"
            .to_string(),
        "verified: 3 cluster(s) share one root; istiod is exposed; every remote is attached"
            .to_string(),
    ];
    let verify_lines: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("east-west") || l.contains("network") || l.starts_with("verified"))
        .collect();
    assert_eq!(verify_lines, expected.iter().collect::<Vec<_>>());

    // Again: nothing changes.
    let again = mesh.flagship(TWO_NETWORKS, &["--output", "json"]);
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert!(
        changed(&again.stdout).is_empty(),
        "{:?}",
        changed(&again.stdout)
    );
}

#[test]
fn verify_refuses_a_network_label_that_disagrees_with_the_injection_path() {
    let backend = Backend::Sandbox;
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2"]);
    let vars = "remotes:\n  - {name: cluster-2, context: cluster-2, network: network2}\n";
    let run = mesh.flagship(vars, &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    mesh.kubectl_ok(
        "cluster-2",
        &[
            "label",
            "namespace",
            "istio-system",
            "topology.istio.io/network=network1",
            "--overwrite",
        ],
    );
    let verify = mesh.flagship(vars, &["--only", "verify", "--output", "json"]);
    assert_eq!(verify.code, Some(1), "{}\n{}", verify.stdout, verify.stderr);
    assert_eq!(
        error_event(&verify.stdout),
        "the mesh is not ready:\n  \
         - cluster-2: istio-system is labelled network network1, the vars say network2\n  \
         - cluster-2: the sidecar injector's path /inject/cluster/cluster-2/net/network2 does not match its network label \
         (expected /inject/cluster/cluster-2/net/network1)\n  \
         - every cluster is labelled network network1: a multi-network mesh needs distinct networks"
    );
}

#[test]
fn one_network_keeps_istiod_external_which_takes_the_source_ranges() {
    let backend = Backend::Sandbox;
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2"]);
    let vars = "access:\n  load_balancer_source_ranges: [192.168.10.0/24]\n";
    let run = mesh.flagship(vars, &["--output", "json"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(!steps(&run.stdout).contains(&"remote-gateways".to_string()));
    let external = mesh.kubectl(
        "cluster-1",
        &["get", "service", "istiod-external", "-n", "istio-system"],
    );
    assert_eq!(
        external["spec"]["loadBalancerSourceRanges"],
        json!(["192.168.10.0/24"])
    );
    let ns = mesh.kubectl("cluster-1", &["get", "namespace", "istio-system"]);
    assert_eq!(
        ns["metadata"]["labels"].get("topology.istio.io/network"),
        None
    );
    for cluster in ["cluster-1", "cluster-2"] {
        assert!(absent(
            &mesh,
            cluster,
            &[
                "get",
                "service",
                "istio-eastwestgateway",
                "-n",
                "istio-system"
            ]
        ));
    }
    // A range that is not a CIDR is refused before anything runs, naming the key.
    let bad = mesh.flagship("access:\n  load_balancer_source_ranges: [everyone]\n", &[]);
    assert_eq!(bad.code, Some(2), "{}\n{}", bad.stdout, bad.stderr);
    assert_eq!(
        bad.stderr.lines().next().unwrap_or_default().trim(),
        "× test-vars.yaml:4: vars.access.load_balancer_source_ranges[0]: expected a CIDR such as 10.0.0.0/16, \
         not a string (\"everyone\")"
    );
}

on_both_backends!(sync different_networks_follow_istios_multi_network_procedure);
