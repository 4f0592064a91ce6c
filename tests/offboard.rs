//! playbooks/offboard-remote.rhai on both backends: after the flagship onboarded two
//! remotes, one is detached in order (remote secret, data plane, reader RBAC, cacerts,
//! annotation), each step saying what it removed; a second run removes nothing and says so;
//! the other remote and the primary are untouched.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::backend::Backend;
use common::fixture::Env;
use common::Fixture;

struct Mesh {
    env: Env,
    kubeconfig: PathBuf,
    vars: PathBuf,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Mesh {
    fn new(backend: Backend) -> Mesh {
        let env = Fixture::new()
            .shipped_playbooks()
            .clusters(backend, &["cluster-1", "cluster-2", "cluster-3"])
            .build();
        let kubeconfig = env.kubeconfig().to_path_buf();
        let vars = env.path("my-mesh.yaml");
        let mut text = String::from("certs:\n  key_type: ecdsa-p256\nremotes:\n");
        for r in ["cluster-2", "cluster-3"] {
            text.push_str(&format!(
                "  - name: {r}\n    context: {r}\n    network: network1\n    api_server: \"\"\n"
            ));
        }
        std::fs::write(&vars, text).unwrap();
        Mesh {
            env,
            kubeconfig,
            vars,
        }
    }

    fn play(&self, playbook: &str, extra: &[&str]) -> Run {
        let out = crate::common::runner()
            .current_dir(self.env.dir())
            .env("NO_COLOR", "1")
            .args(["play", playbook, "--yes", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .arg("--vars")
            .arg(&self.vars)
            .args(extra)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    fn exists(&self, context: &str, args: &[&str]) -> bool {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", context])
            .args(args)
            .output()
            .unwrap();
        if out.status.success() {
            return true;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("NotFound"), "kubectl {args:?}: {stderr}");
        false
    }

    fn annotations(&self, context: &str) -> serde_json::Value {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args([
                "--context",
                context,
                "get",
                "namespace",
                "istio-system",
                "-o",
                "json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let ns: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ns["metadata"]["annotations"].clone()
    }
}

/// The lines a run printed itself (print), without timings.
fn said(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter(|l| {
            l.contains(": nothing to remove")
                || l.contains(": removed ")
                || l.contains(": would remove ")
        })
        .map(str::trim)
        .collect()
}

const OFFBOARD: &str = "playbooks/offboard-remote.rhai";

fn offboarding_a_remote_removes_its_pieces_in_order_and_then_nothing(backend: Backend) {
    let mesh = Mesh::new(backend);
    let onboard = mesh.play("playbooks/primary-remote.rhai", &[]);
    assert_eq!(onboard.code, 0, "{}", onboard.stderr);

    let first = mesh.play(OFFBOARD, &["--var", "remote=cluster-3"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(
        said(&first),
        [
            "cluster-1: remote secret: removed 1: Secret istio-system/istio-remote-secret-cluster-3",
            "cluster-3: data plane: removed 3: MutatingWebhookConfiguration istio-sidecar-injector, EndpointSlice istio-system/istiod, Service istio-system/istiod",
            "cluster-3: reader RBAC: removed 4: Secret istio-system/istio-reader-service-account-istio-remote-secret-token, ClusterRoleBinding istio-reader-clusterrole-istio-system, ClusterRole istio-reader-clusterrole-istio-system, ServiceAccount istio-system/istio-reader-service-account",
            "cluster-3: cacerts: removed 1: Secret istio-system/cacerts",
            "cluster-3: namespace annotation: removed 1: annotation topology.istio.io/controlPlaneClusters of Namespace istio-system",
        ],
        "{}",
        first.stdout
    );
    // The steps ran in this order.
    let steps: Vec<&str> = first
        .stdout
        .lines()
        .filter(|l| l.starts_with("STEP ["))
        .collect();
    assert_eq!(
        steps,
        [
            "STEP [remote-secret]",
            "STEP [data-plane]",
            "STEP [reader-rbac]",
            "STEP [cacerts]",
            "STEP [annotation]"
        ]
    );

    // cluster-3 is detached, object by object; the namespace itself stays.
    assert!(!mesh.exists(
        "cluster-1",
        &[
            "-n",
            "istio-system",
            "get",
            "secret",
            "istio-remote-secret-cluster-3"
        ]
    ));
    assert!(!mesh.exists(
        "cluster-3",
        &[
            "get",
            "mutatingwebhookconfiguration",
            "istio-sidecar-injector"
        ]
    ));
    assert!(!mesh.exists(
        "cluster-3",
        &["-n", "istio-system", "get", "service", "istiod"]
    ));
    assert!(!mesh.exists(
        "cluster-3",
        &[
            "-n",
            "istio-system",
            "get",
            "serviceaccount",
            "istio-reader-service-account"
        ]
    ));
    assert!(!mesh.exists(
        "cluster-3",
        &[
            "get",
            "clusterrole",
            "istio-reader-clusterrole-istio-system"
        ]
    ));
    assert!(!mesh.exists(
        "cluster-3",
        &["-n", "istio-system", "get", "secret", "cacerts"]
    ));
    assert_eq!(
        mesh.annotations("cluster-3")
            .get("topology.istio.io/controlPlaneClusters"),
        None
    );
    assert!(mesh.exists("cluster-3", &["get", "namespace", "istio-system"]));
    // The other remote and the primary are untouched.
    assert!(mesh.exists(
        "cluster-1",
        &[
            "-n",
            "istio-system",
            "get",
            "secret",
            "istio-remote-secret-cluster-2"
        ]
    ));
    assert!(mesh.exists(
        "cluster-2",
        &["-n", "istio-system", "get", "secret", "cacerts"]
    ));
    assert!(mesh.exists(
        "cluster-2",
        &[
            "get",
            "mutatingwebhookconfiguration",
            "istio-sidecar-injector"
        ]
    ));
    assert_eq!(
        mesh.annotations("cluster-2")["topology.istio.io/controlPlaneClusters"],
        "cluster-1"
    );

    // Again: nothing left to remove, and it says so.
    let second = mesh.play(OFFBOARD, &["--var", "remote=cluster-3"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        said(&second),
        [
            "cluster-1: remote secret: nothing to remove",
            "cluster-3: data plane: nothing to remove",
            "cluster-3: reader RBAC: nothing to remove",
            "cluster-3: cacerts: nothing to remove",
            "cluster-3: namespace annotation: nothing to remove",
        ]
    );
    assert!(
        second.stdout.contains("nothing changed"),
        "{}",
        second.stdout
    );
}

fn a_plan_of_offboarding_changes_nothing_and_shows_the_deletions(backend: Backend) {
    let mesh = Mesh::new(backend);
    assert_eq!(mesh.play("playbooks/primary-remote.rhai", &[]).code, 0);
    let plan = mesh.play(
        OFFBOARD,
        &[
            "--var",
            "remote=cluster-3",
            "--dry-run",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(plan.code, 3, "{}", plan.stderr);
    assert!(mesh.exists(
        "cluster-1",
        &[
            "-n",
            "istio-system",
            "get",
            "secret",
            "istio-remote-secret-cluster-3"
        ]
    ));
    assert!(mesh.exists(
        "cluster-3",
        &["-n", "istio-system", "get", "secret", "cacerts"]
    ));
    assert_eq!(
        mesh.annotations("cluster-3")["topology.istio.io/controlPlaneClusters"],
        "cluster-1"
    );
    // The plan's lines are the run's.
    let run = mesh.play(OFFBOARD, &["--var", "remote=cluster-3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let planned: Vec<String> = said(&plan)
        .iter()
        .map(|l| l.replace(": would remove ", ": removed "))
        .collect();
    assert_eq!(planned.len(), 5);
    assert_eq!(planned, said(&run));
}

#[test]
fn without_a_remote_or_naming_the_primary_nothing_runs() {
    let mesh = Mesh::new(Backend::Sandbox);
    let missing = mesh.play(OFFBOARD, &[]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("name the remote to detach: --var remote=NAME"),
        "{}",
        missing.stderr
    );
    let primary = mesh.play(OFFBOARD, &["--var", "remote=cluster-1"]);
    assert_eq!(primary.code, 1);
    assert!(
        primary
            .stderr
            .contains("cluster-1 is the primary: offboard-remote detaches a remote"),
        "{}",
        primary.stderr
    );
    assert!(!primary.stdout.contains("STEP ["), "{}", primary.stdout);
}

on_both_backends!(
    sync offboarding_a_remote_removes_its_pieces_in_order_and_then_nothing,
    a_plan_of_offboarding_changes_nothing_and_shows_the_deletions
);
