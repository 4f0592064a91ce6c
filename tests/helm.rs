//! Installer `helm` on both backends: a stand-in `helm` on PATH records its arguments and the
//! values files it is given, then creates what a real install would need for the play to go on
//! (istiod on the primary). Istio's chart repository is never contacted.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::backend::Backend;
use common::fixture::Env;
use common::Fixture;
use serde_json::Value;

const REPO: &str = "https://istio-release.storage.googleapis.com/charts";

struct Mesh {
    env: Env,
    kubeconfig: PathBuf,
    path: String,
}

impl Mesh {
    fn new(backend: Backend) -> Mesh {
        let env = Fixture::new()
            .shipped_playbooks()
            .clusters(backend, &["cluster-1", "cluster-2"])
            .build();
        let dir = env.dir();
        let kubeconfig = env.kubeconfig().to_path_buf();
        std::fs::write(
            dir.join("my-mesh.yaml"),
            "certs:\n  key_type: ecdsa-p256\ndemo_apps: false\nistio:\n  installer: helm\nremotes:\n  - name: cluster-2\n    context: cluster-2\n    network: network1\n    api_server: \"\"\n",
        )
        .unwrap();
        // The stand-in: one line per call, a copy of each values file (call number, file name),
        // and istiod on the primary when its istiod chart is installed.
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = format!(
            r#"#!/bin/sh
echo "$@" >> {dir}/helm.log
n=$(wc -l < {dir}/helm.log)
release="$3"
while [ $# -gt 0 ]; do
  case "$1" in -f) cp "$2" {dir}/values-$n-$(basename "$2");; --kube-context) ctx="$2";; esac
  shift
done
if [ "$ctx" = cluster-1 ] && [ "$release" = istiod ]; then
  kubectl --context "$ctx" apply --server-side -f {dir}/fake-istiod.yaml >/dev/null
fi
"#,
            dir = dir.display()
        );
        std::fs::write(bin.join("helm"), script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("helm"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(
            dir.join("fake-istiod.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: istiod, namespace: istio-system}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: istiod}}\n  template:\n    metadata: {labels: {app: istiod}}\n    spec: {containers: [{name: discovery, image: istiod}]}\n",
        )
        .unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        Mesh {
            env,
            kubeconfig,
            path,
        }
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.env.dir().join(rel)
    }

    fn play(&self, extra: &[&str]) -> (i32, String, String) {
        let out = crate::common::runner()
            .current_dir(self.env.dir())
            .env("NO_COLOR", "1")
            .env("PATH", &self.path)
            .env("KUBECONFIG", &self.kubeconfig)
            .args([
                "play",
                "playbooks/primary-remote.rhai",
                "--yes",
                "--vars",
                "my-mesh.yaml",
            ])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.file("helm.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    fn values(&self, call: usize, name: &str) -> Value {
        let text = std::fs::read_to_string(self.file(&format!("values-{call}-{name}"))).unwrap();
        serde_yaml::from_str(&text).unwrap()
    }
}

fn call(mesh: &Mesh, release: &str, chart: &str, context: &str, file: &str) -> String {
    format!(
        "upgrade --install {release} {chart} --repo {REPO} --version 1.30.3 -n istio-system --kube-context {context} -f {}",
        mesh.file(&format!("rendered/{context}/{file}")).display()
    )
}

fn the_helm_installer_runs_helm_per_chart_with_rendered_values(backend: Backend) {
    let mesh = Mesh::new(backend);
    let (code, stdout, stderr) = mesh.play(&[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        mesh.calls(),
        [
            call(
                &mesh,
                "istio-base",
                "base",
                "cluster-1",
                "helm-primary-base.yaml"
            ),
            call(
                &mesh,
                "istiod",
                "istiod",
                "cluster-1",
                "helm-primary-istiod.yaml"
            ),
            call(
                &mesh,
                "istio-base",
                "base",
                "cluster-2",
                "helm-remote-base.yaml"
            ),
            call(
                &mesh,
                "istiod",
                "istiod",
                "cluster-2",
                "helm-remote-istiod.yaml"
            ),
        ]
    );
    assert_eq!(
        mesh.values(1, "helm-primary-base.yaml"),
        serde_json::json!({})
    );
    let primary = mesh.values(2, "helm-primary-istiod.yaml");
    assert_eq!(primary["global"]["externalIstiod"], true);
    assert_eq!(primary["global"]["meshID"], "mesh1");
    assert_eq!(
        primary["global"]["multiCluster"]["clusterName"],
        "cluster-1"
    );
    assert_eq!(primary["global"]["network"], "network1");
    assert_eq!(primary["pilot"]["replicaCount"], 3);
    assert_eq!(primary["meshConfig"]["accessLogFile"], "/dev/stdout");
    assert_eq!(
        mesh.values(3, "helm-remote-base.yaml"),
        serde_json::json!({"profile": "remote"})
    );
    let remote = mesh.values(4, "helm-remote-istiod.yaml");
    assert_eq!(remote["profile"], "remote");
    assert_eq!(
        remote["istiodRemote"]["injectionPath"],
        "/inject/cluster/cluster-2/net/network1"
    );
    assert_eq!(remote["global"]["multiCluster"]["clusterName"], "cluster-2");
    let lb = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&mesh.kubeconfig)
        .args([
            "--context",
            "cluster-1",
            "-n",
            "istio-system",
            "get",
            "service",
            "istiod-external",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].ip}",
        ])
        .output()
        .unwrap();
    assert_eq!(
        remote["global"]["remotePilotAddress"],
        String::from_utf8_lossy(&lb.stdout).to_string()
    );

    // Again: helm does not run, nothing changes.
    let (code, stdout, stderr) = mesh.play(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(mesh.calls().len(), 4);
    assert!(stdout.contains("nothing changed"), "{stdout}");

    // Changed values: helm runs again, for that cluster only.
    let (code, _, stderr) = mesh.play(&["--var", "istiod.replicas=2"]);
    assert_eq!(code, 0, "{stderr}");
    let calls = mesh.calls();
    assert_eq!(
        calls[4..],
        [
            call(
                &mesh,
                "istio-base",
                "base",
                "cluster-1",
                "helm-primary-base.yaml"
            ),
            call(
                &mesh,
                "istiod",
                "istiod",
                "cluster-1",
                "helm-primary-istiod.yaml"
            ),
        ]
    );
    assert_eq!(
        mesh.values(6, "helm-primary-istiod.yaml")["pilot"]["replicaCount"],
        2
    );
}

fn a_plan_with_helm_runs_nothing_and_names_the_commands(backend: Backend) {
    let mesh = Mesh::new(backend);
    let (code, stdout, stderr) = mesh.play(&["--dry-run"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(mesh.calls(), Vec::<String>::new());
    let would: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("would run: helm"))
        .collect();
    assert_eq!(would.len(), 4, "{stdout}");
    assert!(
        !mesh.file("rendered").exists(),
        "a plan writes no values file"
    );
}

fn offboarding_a_helm_remote_uninstalls_its_releases_once(backend: Backend) {
    let mesh = Mesh::new(backend);
    let (code, _, stderr) = mesh.play(&[]);
    assert_eq!(code, 0, "{stderr}");
    let offboard = |extra: &[&str]| {
        let out = crate::common::runner()
            .current_dir(mesh.env.dir())
            .env("NO_COLOR", "1")
            .env("PATH", &mesh.path)
            .args([
                "play",
                "playbooks/offboard-remote.rhai",
                "--yes",
                "--vars",
                "my-mesh.yaml",
            ])
            .args(["--var", "remote=cluster-2", "--kubeconfig"])
            .arg(&mesh.kubeconfig)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let said: Vec<String> = stdout
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("cluster-2: data plane"))
            .map(String::from)
            .collect();
        (
            out.status.code().unwrap(),
            said,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, said, stderr) = offboard(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        said,
        ["cluster-2: data plane (helm): removed 3: Helm release istio-system/istiod, Helm release istio-system/istio-base, ConfigMap istio-system/runner-istio-install"]
    );
    assert_eq!(
        mesh.calls()[4..],
        [
            "uninstall istiod -n istio-system --kube-context cluster-2",
            "uninstall istio-base -n istio-system --kube-context cluster-2",
        ]
    );
    let (code, said, stderr) = offboard(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(said, ["cluster-2: data plane (helm): nothing to remove"]);
    assert_eq!(mesh.calls().len(), 6, "helm is not run again");
}

on_both_backends!(
    sync the_helm_installer_runs_helm_per_chart_with_rendered_values,
    offboarding_a_helm_remote_uninstalls_its_releases_once,
    a_plan_with_helm_runs_nothing_and_names_the_commands
);

#[test]
fn helm_on_several_networks_is_refused_before_the_first_step() {
    let mesh = Mesh::new(Backend::Sandbox);
    std::fs::write(
        mesh.file("my-mesh.yaml"),
        "certs:\n  key_type: ecdsa-p256\ndemo_apps: false\nistio:\n  installer: helm\nremotes:\n  - name: cluster-2\n    context: cluster-2\n    network: network2\n    api_server: \"\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = mesh.play(&[]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(
        stderr.lines().next().unwrap_or(""),
        "  × installer helm does not install east-west gateways yet, and the clusters' networks differ; use installer istioctl or manifests for a multi-network mesh",
        "{stderr}"
    );
    assert!(!stdout.contains("STEP ["), "no step ran:\n{stdout}");
    assert_eq!(mesh.calls(), Vec::<String>::new());
    assert!(!mesh.file("certs").exists(), "nothing written:\n{stdout}");
}
