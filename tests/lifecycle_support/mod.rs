//! The mesh-lifecycle tests' workplace (multi-network, rotation, promotion, alerts, versions):
//! clusters of either backend served from the test's own runtime, a copy of the repository's
//! playbooks and templates, the built binary run in it, and what the tests read from a play's
//! `--output json` events and, through kubectl and openssl, from the clusters and the disk.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;

use base64::Engine as _;
use serde_json::Value;

use crate::common::backend::Backend;
use crate::common::checks;
use crate::common::fixture::Env;
use crate::common::Fixture;

pub(crate) struct Mesh {
    env: Env,
    pub kubeconfig: PathBuf,
}

pub(crate) use crate::common::checks::{fingerprint, openssl};
pub(crate) use crate::common::fixture::Run;

impl Mesh {
    pub(crate) fn new(backend: Backend, clusters: &[&str]) -> Mesh {
        let env = Fixture::new()
            .shipped_playbooks()
            .clusters(backend, clusters)
            .build();
        let kubeconfig = env.kubeconfig().to_path_buf();
        Mesh { env, kubeconfig }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.env.dir().join(rel)
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Runs a playbook with the flagship's vars, then `vars_yaml` (ECDSA keys, to stay quick),
    /// then `extra` arguments.
    pub(crate) fn play(&self, playbook: &str, vars_yaml: &str, extra: &[&str]) -> Run {
        let vars = self.path("test-vars.yaml");
        std::fs::write(
            &vars,
            format!("certs:\n  key_type: ecdsa-p256\n{vars_yaml}"),
        )
        .unwrap();
        let out = self
            .env
            .runner(&["play", playbook, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--vars", "playbooks/primary-remote.vars.yaml", "--vars"])
            .arg(&vars)
            .args(extra)
            .output()
            .unwrap();
        Run::from(out)
    }

    pub(crate) fn flagship(&self, vars_yaml: &str, extra: &[&str]) -> Run {
        self.play("playbooks/primary-remote.rhai", vars_yaml, extra)
    }

    pub(crate) fn kubectl_raw(&self, context: &str, args: &[&str]) -> Output {
        self.env.kubectl(context, args)
    }

    pub(crate) fn kubectl_ok(&self, context: &str, args: &[&str]) -> String {
        let out = self.kubectl_raw(context, args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn kubectl(&self, context: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(context, &all)).unwrap()
    }

    /// Every object a play could have touched in a cluster, with its resourceVersion: equal
    /// snapshots mean nothing was written.
    pub(crate) fn cluster_snapshot(&self, context: &str) -> String {
        self.kubectl_ok(
            context,
            &[
                "get",
                "namespaces,secrets,serviceaccounts,configmaps,services,deployments,resourcequotas,\
                 clusterroles,clusterrolebindings,mutatingwebhookconfigurations,\
                 validatingwebhookconfigurations,endpointslices",
                "-A",
                "-o",
                "custom-columns=KIND:.kind,NS:.metadata.namespace,NAME:.metadata.name,RV:.metadata.resourceVersion",
            ],
        )
    }

    /// SHA-256 of every file in the project, by relative path (the vars file each `play`
    /// writes for itself aside).
    pub(crate) fn disk_snapshot(&self) -> BTreeMap<String, String> {
        let mut sums = checks::checksums(self.env.dir());
        sums.remove("test-vars.yaml");
        sums
    }
}

/// (cluster, kind, namespace, name, action) of an object event.
pub(crate) type Row = (String, String, Option<String>, String, String);

pub(crate) fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

pub(crate) fn rows(stdout: &str) -> BTreeSet<Row> {
    events(stdout)
        .iter()
        .filter(|e| e["event"] == "object")
        .map(|e| {
            (
                e["cluster"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
                e["namespace"].as_str().map(str::to_string),
                e["name"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The object events that changed something.
pub(crate) fn changed(stdout: &str) -> BTreeSet<Row> {
    rows(stdout)
        .into_iter()
        .filter(|r| r.4 != "unchanged")
        .collect()
}

pub(crate) fn row(
    cluster: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    action: &str,
) -> Row {
    (
        cluster.into(),
        kind.into(),
        namespace.map(str::to_string),
        name.into(),
        action.into(),
    )
}

/// The messages a play printed (`print`) and warned, in order.
pub(crate) fn messages(stdout: &str, event: &str) -> Vec<String> {
    events(stdout)
        .iter()
        .filter(|e| e["event"] == event)
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The message of the play's `error` event.
pub(crate) fn error_event(stdout: &str) -> String {
    events(stdout)
        .iter()
        .find(|e| e["event"] == "error")
        .and_then(|e| e["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no error event in {stdout}"))
}

/// The names of the steps that finished, in order.
pub(crate) fn steps(stdout: &str) -> Vec<String> {
    events(stdout)
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .map(|e| e["step"].as_str().unwrap().to_string())
        .collect()
}

pub(crate) fn decode(value: &Value) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// The load balancer IP a Service got, read with kubectl.
pub(crate) fn lb_ip(mesh: &Mesh, context: &str, service: &str) -> String {
    let svc = mesh.kubectl(context, &["get", "service", service, "-n", "istio-system"]);
    svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: {service} has no load balancer IP: {svc}"))
        .to_string()
}

/// Whether kubectl says the object does not exist.
pub(crate) fn absent(mesh: &Mesh, context: &str, args: &[&str]) -> bool {
    let out = mesh.kubectl_raw(context, args);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
}
