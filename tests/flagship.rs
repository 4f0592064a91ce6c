//! The flagship playbook end to end on both backends (the built-in sandbox and real control
//! planes): 1 primary + 2 remotes, every step's objects checked afterwards with kubectl,
//! idempotence, adding a remote, the istioctl path and a dry run.

use crate::common;

use common::backend::Backend;
use common::fixture::Env;
use common::Fixture;
use std::path::{Path, PathBuf};
use std::process::Command;

use predicates::prelude::*;
use serde_json::Value;

/// Clusters served from this test's own runtime, and a copy of the repository's playbooks and
/// templates, as a user who customises them would have.
struct Mesh {
    env: Env,
    kubeconfig: PathBuf,
}

impl Mesh {
    fn new(backend: Backend, clusters: &[&str]) -> Mesh {
        let env = Fixture::new()
            .shipped_playbooks()
            .clusters(backend, clusters)
            .build();
        let kubeconfig = env.kubeconfig().to_path_buf();
        Mesh { env, kubeconfig }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.env.dir().join(rel)
    }

    fn vars(&self, remotes: &[&str]) -> PathBuf {
        let mut text = String::from("certs:\n  key_type: ecdsa-p256\nremotes:\n");
        for r in remotes {
            text.push_str(&format!(
                "  - name: {r}\n    context: {r}\n    network: network1\n    api_server: \"\"\n"
            ));
        }
        let file = self.path(&format!("mesh-{}.yaml", remotes.len()));
        std::fs::write(&file, text).unwrap();
        file
    }

    fn play(&self, vars: &Path, extra: &[&str]) -> crate::common::Runner {
        let mut cmd = crate::common::runner();
        cmd.current_dir(self.env.dir())
            .env("NO_COLOR", "1")
            .args(["play", "playbooks/primary-remote.rhai", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .arg("--vars")
            .arg(vars)
            .args(extra);
        cmd
    }

    /// Where load balancer addresses come from on both backends: 198.18.0.0/15, never routed,
    /// and accepted by a real API server in the EndpointSlices that point at them.
    fn load_balancer_prefix(&self) -> &'static str {
        "198.18."
    }

    /// PATH with an istioctl first that fails saying it should not have run.
    fn failing_istioctl(&self) -> String {
        use std::os::unix::fs::PermissionsExt;
        let bin = self.path("failing-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let istioctl = bin.join("istioctl");
        std::fs::write(
            &istioctl,
            "#!/bin/sh\necho 'istioctl ran during a rehearsal' >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&istioctl, std::fs::Permissions::from_mode(0o755)).unwrap();
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
    }

    fn kubectl(&self, context: &str, args: &[&str]) -> Value {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", context])
            .args(args)
            .args(["-o", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn absent(&self, context: &str, args: &[&str]) -> bool {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", context])
            .args(args)
            .output()
            .unwrap();
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
    }
}

fn decode(value: &Value) -> String {
    use base64::Engine as _;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn openssl_verify(root: &Path, chain: &str) {
    let dir = tempfile::tempdir().unwrap();
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, chain).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(root)
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn one_primary_two_remotes_end_to_end(backend: Backend) {
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    let vars = mesh.vars(&["cluster-2", "cluster-3"]);
    // The installer is left at `auto`: on both backends the play must know it rehearses and use
    // the stand-in manifests. An istioctl that fails proves it never runs.
    let path = mesh.failing_istioctl();
    let first = mesh.play(&vars, &[]).env("PATH", &path).assert().success();
    let stdout = String::from_utf8_lossy(&first.get_output().stdout).to_string();
    for step in [
        "ca",
        "istio-system",
        "control-plane",
        "expose-istiod",
        "remote-data-planes",
        "attach-remotes",
        "demo-apps",
        "traffic",
        "verify",
    ] {
        assert!(
            stdout.contains(&format!("STEP [{step}]")),
            "step {step} missing:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("loopback"),
        "a loopback API server address is warned about"
    );

    // 1. The CA hierarchy: one root, one intermediate per cluster, chains verified by openssl.
    let root = mesh.path("certs/root-cert.pem");
    for cluster in ["cluster-1", "cluster-2", "cluster-3"] {
        openssl_verify(
            &root,
            &std::fs::read_to_string(mesh.path(&format!("certs/{cluster}/ca-cert.pem"))).unwrap(),
        );
        // 2. istio-system and cacerts with the four keys istiod reads, holding our files.
        let secret = mesh.kubectl(cluster, &["get", "secret", "cacerts", "-n", "istio-system"]);
        for key in [
            "ca-cert.pem",
            "ca-key.pem",
            "cert-chain.pem",
            "root-cert.pem",
        ] {
            let ours =
                std::fs::read_to_string(mesh.path(&format!("certs/{cluster}/{key}"))).unwrap();
            assert_eq!(
                decode(&secret["data"][key]),
                ours,
                "{cluster} cacerts {key}"
            );
        }
    }
    for remote in ["cluster-2", "cluster-3"] {
        let ns = mesh.kubectl(remote, &["get", "namespace", "istio-system"]);
        assert_eq!(
            ns["metadata"]["annotations"]["topology.istio.io/controlPlaneClusters"],
            "cluster-1"
        );
        assert!(
            ns["metadata"]["labels"]
                .get("topology.istio.io/network")
                .is_none(),
            "one network: no network label"
        );
    }
    let primary_ns = mesh.kubectl("cluster-1", &["get", "namespace", "istio-system"]);
    assert!(primary_ns["metadata"]["annotations"]
        .get("topology.istio.io/controlPlaneClusters")
        .is_none());

    // 3. The control plane: quota, istiod available with the HA replica count.
    let quota = mesh.kubectl(
        "cluster-1",
        &[
            "get",
            "resourcequota",
            "istio-control-plane",
            "-n",
            "istio-system",
        ],
    );
    assert_eq!(quota["spec"]["hard"]["pods"], "20");
    let istiod = mesh.kubectl(
        "cluster-1",
        &["get", "deployment", "istiod", "-n", "istio-system"],
    );
    assert_eq!(istiod["spec"]["replicas"], 3);
    assert_eq!(istiod["status"]["availableReplicas"], 3);

    // 4. istiod exposed on 15012 and 15017 with an IP.
    let svc = mesh.kubectl(
        "cluster-1",
        &["get", "service", "istiod-external", "-n", "istio-system"],
    );
    assert_eq!(svc["spec"]["type"], "LoadBalancer");
    let ports: Vec<i64> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(ports, vec![15012, 15017]);
    let ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ip.starts_with(mesh.load_balancer_prefix()), "{ip}");

    // 5. Each remote's injector points at the primary with the remote's identity in the path.
    for remote in ["cluster-2", "cluster-3"] {
        let webhook = mesh.kubectl(
            remote,
            &[
                "get",
                "mutatingwebhookconfiguration",
                "istio-sidecar-injector",
            ],
        );
        // As the remote profile does: a service reference to istiod, backed by an
        // EndpointSlice holding the primary's address (istiod's certificate has no IP SAN).
        assert_eq!(
            webhook["webhooks"][0]["clientConfig"]["service"],
            serde_json::json!({"name": "istiod", "namespace": "istio-system",
                "path": format!("/inject/cluster/{remote}/net/network1"), "port": 443})
        );
        let slice = mesh.kubectl(
            remote,
            &["get", "endpointslice", "istiod", "-n", "istio-system"],
        );
        assert_eq!(slice["endpoints"][0]["addresses"][0], ip.as_str());
    }

    // 6. Remote secrets exactly as istioctl lays them out, and they authenticate.
    for remote in ["cluster-2", "cluster-3"] {
        let secret = mesh.kubectl(
            "cluster-1",
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
        let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
        assert_eq!(keys, vec![remote]);
        let kubeconfig: Value = serde_yaml::from_str(&decode(&secret["data"][remote])).unwrap();
        assert_eq!(kubeconfig["current-context"], remote);
        assert_eq!(kubeconfig["clusters"][0]["name"], remote);
        assert_eq!(kubeconfig["contexts"][0]["context"]["cluster"], remote);
        assert_eq!(kubeconfig["contexts"][0]["context"]["user"], remote);
        assert_eq!(kubeconfig["users"][0]["name"], remote);
        let token = kubeconfig["users"][0]["user"]["token"]
            .as_str()
            .unwrap()
            .to_string();
        let server = kubeconfig["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .to_string();
        let reader = mesh.kubectl(
            remote,
            &[
                "get",
                "secret",
                "istio-reader-service-account-istio-remote-secret-token",
                "-n",
                "istio-system",
            ],
        );
        assert_eq!(reader["type"], "kubernetes.io/service-account-token");
        assert_eq!(decode(&reader["data"]["token"]), token);
        // The embedded token and CA reach the remote's API server...
        let file = mesh.path(&format!("{remote}.remote-kubeconfig"));
        std::fs::write(&file, decode(&secret["data"][remote])).unwrap();
        let ok = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&file)
            .args(["get", "namespace", "istio-system"])
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "remote secret kubeconfig must reach {remote}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        // ... and are refused by the primary's.
        let primary_server = mesh.kubectl("cluster-1", &["config", "view", "--minify", "--raw"])
            ["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(primary_server, server);
        let refused = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&file)
            .args([
                "--server",
                &primary_server,
                "--insecure-skip-tls-verify",
                "get",
                "namespaces",
            ])
            .output()
            .unwrap();
        assert!(
            !refused.status.success(),
            "the primary must refuse the remote's token"
        );
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("Unauthorized"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
    }

    // 7. Demo apps: frontend on the primary, backend on the remotes, injection enabled.
    let prod = mesh.kubectl("cluster-1", &["get", "namespace", "production"]);
    assert_eq!(prod["metadata"]["labels"]["istio-injection"], "enabled");
    mesh.kubectl(
        "cluster-1",
        &["get", "deployment", "frontend", "-n", "production"],
    );
    assert!(mesh.absent(
        "cluster-1",
        &["get", "deployment", "backend", "-n", "production"]
    ));
    for remote in ["cluster-2", "cluster-3"] {
        let backend = mesh.kubectl(
            remote,
            &["get", "deployment", "backend", "-n", "production"],
        );
        assert_eq!(backend["spec"]["replicas"], 3);
    }

    // 8. Traffic management on the primary only.
    let vs = mesh.kubectl(
        "cluster-1",
        &[
            "get",
            "virtualservices.networking.istio.io",
            "backend-route",
            "-n",
            "production",
        ],
    );
    assert_eq!(
        vs["spec"]["http"][0]["match"][0]["headers"]["version"]["exact"],
        "v2"
    );
    assert_eq!(vs["spec"]["http"][1]["route"][0]["weight"], 80);
    assert_eq!(vs["spec"]["http"][1]["route"][1]["weight"], 20);
    let locality = mesh.kubectl(
        "cluster-1",
        &[
            "get",
            "destinationrules.networking.istio.io",
            "backend-locality",
            "-n",
            "production",
        ],
    );
    assert_eq!(
        locality["spec"]["trafficPolicy"]["loadBalancer"]["localityLbSetting"]["failover"][0]
            ["from"],
        "us-east-1"
    );
    assert_eq!(
        locality["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"],
        5
    );

    // A second run changes nothing, and the certificates stay byte-identical.
    let cert = std::fs::read(mesh.path("certs/cluster-2/ca-cert.pem")).unwrap();
    mesh.play(&vars, &[])
        .env("PATH", &path)
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing changed"))
        .stdout(predicate::str::contains(
            "\ncluster-1 : created=0    configured=0    unchanged=23   deleted=0    steps ok=10  failed=0   rescued=0\n",
        ));
    assert_eq!(
        std::fs::read(mesh.path("certs/cluster-2/ca-cert.pem")).unwrap(),
        cert
    );
}

fn adding_a_remote_onboards_only_that_remote(backend: Backend) {
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    mesh.play(
        &mesh.vars(&["cluster-2"]),
        &[
            "--var",
            "istio.installer=manifests",
            "--var",
            "demo_apps=false",
        ],
    )
    .assert()
    .success();
    let out = mesh
        .play(
            &mesh.vars(&["cluster-2", "cluster-3"]),
            &[
                "--var",
                "istio.installer=manifests",
                "--var",
                "demo_apps=false",
                "--output",
                "json",
            ],
        )
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let changed: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "object" && e["action"] != "unchanged")
        .collect();
    assert!(!changed.is_empty());
    for event in &changed {
        let touches_new = event["cluster"] == "cluster-3"
            || (event["cluster"] == "cluster-1"
                && event["name"] == "istio-remote-secret-cluster-3");
        assert!(touches_new, "only cluster-3's objects may change: {event}");
    }
    assert!(mesh.path("certs/cluster-3/ca-cert.pem").exists());
}

fn the_istioctl_installer_runs_istioctl_with_the_rendered_operator(backend: Backend) {
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2"]);
    let bin = mesh.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A stand-in istioctl: records its arguments and the IstioOperator, then creates what a
    // real install would (istiod and the injector), so the play can go on.
    let log = mesh.path("istioctl.log");
    let script = format!(
        r#"#!/bin/sh
echo "$@" >> {log}
while [ $# -gt 0 ]; do
  case "$1" in -f) cp "$2" {dir}/operator-$(basename "$2");; --context) ctx="$2";; esac
  shift
done
if [ "$ctx" = cluster-1 ]; then
  kubectl --context "$ctx" apply --server-side -f {dir}/fake-primary.yaml >/dev/null
else
  kubectl --context "$ctx" apply --server-side -f {dir}/fake-remote.yaml >/dev/null
fi
"#,
        log = log.display(),
        dir = mesh.env.dir().display()
    );
    std::fs::write(bin.join("istioctl"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("istioctl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        mesh.path("fake-primary.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: istiod, namespace: istio-system}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: istiod}}\n  template:\n    metadata: {labels: {app: istiod}}\n    spec: {containers: [{name: discovery, image: istiod}]}\n",
    )
    .unwrap();
    std::fs::write(
        mesh.path("fake-remote.yaml"),
        concat!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: istio-reader-service-account, namespace: istio-system}\n",
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: istio-reader-clusterrole-istio-system}\n",
            "rules: [{apiGroups: [\"\"], resources: [namespaces, services, secrets], verbs: [get, list, watch]}]\n",
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: istio-reader-clusterrole-istio-system}\n",
            "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: istio-reader-clusterrole-istio-system}\n",
            "subjects: [{kind: ServiceAccount, name: istio-reader-service-account, namespace: istio-system}]\n",
        ),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    mesh.play(
        &mesh.vars(&["cluster-2"]),
        &[
            "--var",
            "istio.installer=istioctl",
            "--var",
            "demo_apps=false",
        ],
    )
    .env("PATH", &path)
    .env("KUBECONFIG", &mesh.kubeconfig)
    .assert()
    .success();
    let log = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = log.lines().collect();
    assert_eq!(calls.len(), 2, "{log}");
    assert!(
        calls[0].starts_with("install -y -f ") && calls[0].ends_with("--context cluster-1"),
        "{}",
        calls[0]
    );
    assert!(calls[1].ends_with("--context cluster-2"), "{}", calls[1]);
    let primary: Value = serde_yaml::from_str(
        &std::fs::read_to_string(mesh.path("operator-istio-primary.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(primary["kind"], "IstioOperator");
    assert_eq!(primary["spec"]["values"]["global"]["externalIstiod"], true);
    assert_eq!(primary["spec"]["values"]["global"]["meshID"], "mesh1");
    assert_eq!(
        primary["spec"]["values"]["global"]["multiCluster"]["clusterName"],
        "cluster-1"
    );
    assert_eq!(
        primary["spec"]["components"]["pilot"]["k8s"]["replicaCount"],
        3
    );
    assert_eq!(
        primary["spec"]["meshConfig"]["accessLogFile"],
        "/dev/stdout"
    );
    let remote: Value = serde_yaml::from_str(
        &std::fs::read_to_string(mesh.path("operator-istio-remote.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(remote["spec"]["profile"], "remote");
    assert_eq!(
        remote["spec"]["values"]["istiodRemote"]["injectionPath"],
        "/inject/cluster/cluster-2/net/network1"
    );
    assert!(remote["spec"]["values"]["global"]["remotePilotAddress"]
        .as_str()
        .unwrap()
        .starts_with(mesh.load_balancer_prefix()));

    // A second run does not install again.
    mesh.play(
        &mesh.vars(&["cluster-2"]),
        &[
            "--var",
            "istio.installer=istioctl",
            "--var",
            "demo_apps=false",
        ],
    )
    .env("PATH", &path)
    .assert()
    .success();
    assert_eq!(
        std::fs::read_to_string(mesh.path("istioctl.log"))
            .unwrap()
            .lines()
            .count(),
        2
    );
}

fn without_istioctl_the_play_stops_at_the_control_plane_with_a_clear_error(backend: Backend) {
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2"]);
    mesh.play(
        &mesh.vars(&["cluster-2"]),
        &["--var", "istio.installer=istioctl"],
    )
    .env("PATH", "/usr/bin:/bin")
    .assert()
    .code(1)
    .stderr(predicate::str::contains("step [control-plane] failed"))
    .stderr(predicate::str::contains("istioctl"));
}

fn a_dry_run_on_fresh_clusters_writes_nothing_and_shows_the_plan(backend: Backend) {
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2"]);
    let out = mesh
        .play(
            &mesh.vars(&["cluster-2"]),
            &["--var", "istio.installer=manifests", "--dry-run"],
        )
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("would be created"), "{stdout}");
    assert!(stdout.contains("Secret istio-system/cacerts"), "{stdout}");
    assert!(
        !stdout.contains("BEGIN"),
        "no key or certificate material in a plan"
    );
    assert!(
        !mesh.path("certs").exists(),
        "a dry run writes no certificate"
    );
    assert!(mesh.absent("cluster-1", &["get", "namespace", "istio-system"]));
    assert!(mesh.absent("cluster-2", &["get", "namespace", "istio-system"]));
}

on_both_backends!(
    sync one_primary_two_remotes_end_to_end,
    adding_a_remote_onboards_only_that_remote,
    the_istioctl_installer_runs_istioctl_with_the_rendered_operator,
    without_istioctl_the_play_stops_at_the_control_plane_with_a_clear_error,
    a_dry_run_on_fresh_clusters_writes_nothing_and_shows_the_plan
);
