//! The xDS alert on the sandbox: with the Prometheus Operator's PrometheusRule CRD on the
//! primary (a stand-in the test creates, or the one the vars install), one rule group per
//! remote alerting when `sum(pilot_xds_pushes{cluster="<remote>"}) == 0` for the vars'
//! duration; without it, no rule and a line saying so.

use crate::common;
use crate::lifecycle_support;

use common::backend::Backend;

use lifecycle_support::{absent, changed, messages, row, rows, steps, Mesh};
use serde_json::{json, Value};

const MESH: &str = "\
remotes:
  - {name: cluster-2, context: cluster-2, network: network1}
  - {name: cluster-3, context: cluster-3, network: network1}
";

const CRD: &str = "prometheusrules.monitoring.coreos.com";

fn rule(mesh: &Mesh) -> Value {
    mesh.kubectl(
        "cluster-1",
        &[
            "get",
            CRD,
            "istio-remote-control-plane",
            "-n",
            "istio-system",
        ],
    )
}

fn group(remote: &str, duration: &str) -> Value {
    json!({
        "name": format!("istio-remote-{remote}"),
        "rules": [{
            "alert": "IstioRemoteXdsPushesStopped",
            "expr": format!("sum(pilot_xds_pushes{{cluster=\"{remote}\"}}) == 0"),
            "for": duration,
            "labels": {"severity": "critical", "cluster": remote},
            "annotations": {
                "summary": format!("istiod on cluster-1 pushes no configuration to {remote}"),
                "description": format!(
                    "Check the remote secret istio-system/istio-remote-secret-{remote} on cluster-1 \
                     and the network path between the clusters."
                )
            }
        }]
    })
}

#[test]
fn without_the_operators_crd_no_rule_is_applied_and_the_play_says_so() {
    let backend = Backend::Sandbox;
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    let run = mesh.flagship(MESH, &["--output", "json"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(steps(&run.stdout).contains(&"alerts".to_string()));
    assert!(messages(&run.stdout, "log").contains(
        &"cluster-1: no prometheusrules.monitoring.coreos.com CRD (the Prometheus Operator's): \
          no xDS alerts applied; install the operator and run this step again"
            .to_string()
    ));
    assert!(!rows(&run.stdout).iter().any(|r| r.1 == "PrometheusRule"));
    assert!(absent(&mesh, "cluster-1", &["get", "crd", CRD]));
}

fn with_the_crd_one_group_per_remote_alerts_on_zero_xds_pushes(backend: Backend) {
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    let run = mesh.flagship(MESH, &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    // The operator's CRD appears (here the rehearsal stand-in, created by hand).
    mesh.kubectl_ok(
        "cluster-1",
        &[
            "apply",
            "-f",
            "playbooks/rehearsal/monitoring/prometheusrules-crd.yaml",
        ],
    );
    mesh.kubectl_ok(
        "cluster-1",
        &["wait", "--for=condition=Established", &format!("crd/{CRD}")],
    );

    let plan = mesh.flagship(MESH, &["--only", "alerts", "--dry-run", "--output", "json"]);
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
    let alerts = mesh.flagship(MESH, &["--only", "alerts", "--output", "json"]);
    assert_eq!(alerts.code, Some(0), "{}\n{}", alerts.stdout, alerts.stderr);
    assert_eq!(rows(&plan.stdout), rows(&alerts.stdout));
    assert_eq!(
        changed(&alerts.stdout),
        [row(
            "cluster-1",
            "PrometheusRule",
            Some("istio-system"),
            "istio-remote-control-plane",
            "created"
        )]
        .into_iter()
        .collect()
    );
    assert_eq!(
        rule(&mesh)["spec"]["groups"],
        json!([group("cluster-2", "5m"), group("cluster-3", "5m")])
    );

    // The whole play again changes nothing; a new duration changes the rule.
    let again = mesh.flagship(MESH, &["--output", "json"]);
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    assert!(
        changed(&again.stdout).is_empty(),
        "{:?}",
        changed(&again.stdout)
    );
    let longer = format!("{MESH}alerts:\n  xds_pushes_zero_for: 15m\n");
    let run = mesh.flagship(&longer, &["--only", "alerts", "--output", "json"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        changed(&run.stdout),
        [row(
            "cluster-1",
            "PrometheusRule",
            Some("istio-system"),
            "istio-remote-control-plane",
            "configured"
        )]
        .into_iter()
        .collect()
    );
    assert_eq!(
        rule(&mesh)["spec"]["groups"],
        json!([group("cluster-2", "15m"), group("cluster-3", "15m")])
    );
}

#[test]
fn a_rehearsal_can_install_the_stand_in_crd_and_the_plan_shows_it() {
    let backend = Backend::Sandbox;
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2"]);
    let vars = "alerts:\n  xds_pushes_zero_for: 1m\n  install_stand_in_crd: true\n";
    let plan = mesh.flagship(vars, &["--dry-run", "--output", "json"]);
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
    let run = mesh.flagship(vars, &["--output", "json"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(rows(&plan.stdout), rows(&run.stdout));
    for r in [
        row(
            "cluster-1",
            "CustomResourceDefinition",
            None,
            CRD,
            "created",
        ),
        row(
            "cluster-1",
            "PrometheusRule",
            Some("istio-system"),
            "istio-remote-control-plane",
            "created",
        ),
    ] {
        assert!(rows(&run.stdout).contains(&r), "{r:?}");
    }
    let groups = rule(&mesh)["spec"]["groups"].clone();
    assert_eq!(groups, json!([group("cluster-2", "1m")]));
    // A duration that is not one is refused before anything runs.
    let bad = mesh.flagship("alerts:\n  xds_pushes_zero_for: soon\n", &[]);
    assert_eq!(bad.code, Some(2), "{}\n{}", bad.stdout, bad.stderr);
    assert_eq!(
        bad.stderr.lines().next().unwrap_or_default().trim(),
        "× test-vars.yaml:4: vars.alerts.xds_pushes_zero_for: expected a duration such as 30s, 500ms or 5m, \
         not a string (\"soon\")"
    );
}

on_both_backends!(sync with_the_crd_one_group_per_remote_alerts_on_zero_xds_pushes);
