//! What the mesh-lifecycle tests (multi-network, rotation, promotion, alerts, versions) read
//! from a play's `--output json` events, and from the clusters through kubectl.
#![allow(dead_code)]

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::Value;

use crate::istio_support::Mesh;

/// (cluster, kind, namespace, name, action) of an object event.
pub type Row = (String, String, Option<String>, String, String);

pub fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

pub fn rows(stdout: &str) -> BTreeSet<Row> {
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
pub fn changed(stdout: &str) -> BTreeSet<Row> {
    rows(stdout)
        .into_iter()
        .filter(|r| r.4 != "unchanged")
        .collect()
}

pub fn row(cluster: &str, kind: &str, namespace: Option<&str>, name: &str, action: &str) -> Row {
    (
        cluster.into(),
        kind.into(),
        namespace.map(str::to_string),
        name.into(),
        action.into(),
    )
}

/// The messages a play printed (`print`) and warned, in order.
pub fn messages(stdout: &str, event: &str) -> Vec<String> {
    events(stdout)
        .iter()
        .filter(|e| e["event"] == event)
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The message of the play's `error` event.
pub fn error_event(stdout: &str) -> String {
    events(stdout)
        .iter()
        .find(|e| e["event"] == "error")
        .and_then(|e| e["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no error event in {stdout}"))
}

/// The names of the steps that finished, in order.
pub fn steps(stdout: &str) -> Vec<String> {
    events(stdout)
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .map(|e| e["step"].as_str().unwrap().to_string())
        .collect()
}

pub fn decode(value: &Value) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// The load balancer IP a Service got, read with kubectl.
pub fn lb_ip(mesh: &Mesh, context: &str, service: &str) -> String {
    let svc = mesh.kubectl(context, &["get", "service", service, "-n", "istio-system"]);
    svc["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: {service} has no load balancer IP: {svc}"))
        .to_string()
}

/// Whether kubectl says the object does not exist.
pub fn absent(mesh: &Mesh, context: &str, args: &[&str]) -> bool {
    let out = mesh.kubectl_raw(context, args);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
}
