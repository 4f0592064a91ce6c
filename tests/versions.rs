//! Versions kept aligned: the flagship refuses to onboard a remote already running another
//! Istio version than the primary (read as verify reads it), before anything is written, unless
//! the vars allow the skew.

use crate::common;
use crate::lifecycle_support;

use common::backend::Backend;

use lifecycle_support::{error_event, messages, Mesh};

const ADD_CLUSTER_3: &str = "\
remotes:
  - {name: cluster-2, context: cluster-2, network: network1}
  - {name: cluster-3, context: cluster-3, network: network1}
";

/// cluster-3 with an injector of Istio 1.29.6 already installed, as the chart's ConfigMap says.
fn older_istio_on_cluster_3(mesh: &Mesh) {
    mesh.kubectl_ok("cluster-3", &["create", "namespace", "istio-system"]);
    mesh.kubectl_ok(
        "cluster-3",
        &[
            "create",
            "configmap",
            "istio-sidecar-injector",
            "-n",
            "istio-system",
            r#"--from-literal=values={"global": {"tag": "1.29.6"}}"#,
        ],
    );
}

fn a_remote_on_another_version_stops_the_play_before_anything_is_written_to_it(backend: Backend) {
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    let first = mesh.flagship("", &[]);
    assert_eq!(first.code, Some(0), "{}\n{}", first.stdout, first.stderr);
    older_istio_on_cluster_3(&mesh);
    let clusters: Vec<String> = ["cluster-1", "cluster-2", "cluster-3"]
        .iter()
        .map(|c| mesh.cluster_snapshot(c))
        .collect();

    let expected = "cluster-3 runs Istio 1.29.6 (istio-sidecar-injector ConfigMap) and cluster-1 runs 1.30.3 \
                    (istiod image): the primary's istiod configures the remote's proxies, so cluster-3 is not \
                    onboarded and nothing was written to it. Upgrade one of them to the other's version first, \
                    or set istio.allow_version_skew: true";
    for extra in [&["--dry-run"][..], &[]] {
        let mut args = extra.to_vec();
        args.extend(["--output", "json"]);
        let run = mesh.flagship(ADD_CLUSTER_3, &args);
        assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
        assert_eq!(error_event(&run.stdout), expected);
    }
    for (i, c) in ["cluster-1", "cluster-2", "cluster-3"].iter().enumerate() {
        assert_eq!(mesh.cluster_snapshot(c), clusters[i], "{c} was written to");
    }

    // Allowed: onboarded, with a warning naming both versions.
    let allowed = format!("{ADD_CLUSTER_3}istio:\n  allow_version_skew: true\n");
    let run = mesh.flagship(&allowed, &["--output", "json"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(messages(&run.stdout, "warning").contains(
        &"cluster-3 runs Istio 1.29.6 (istio-sidecar-injector ConfigMap) and cluster-1 runs 1.30.3 (istiod image); \
          onboarding it anyway, as istio.allow_version_skew allows"
            .to_string()
    ));
    mesh.kubectl(
        "cluster-1",
        &[
            "get",
            "secret",
            "istio-remote-secret-cluster-3",
            "-n",
            "istio-system",
        ],
    );
}

#[test]
fn before_the_primary_is_installed_the_vars_version_is_the_primarys() {
    let backend = Backend::Sandbox;
    let mesh = Mesh::new(backend, &["cluster-1", "cluster-2", "cluster-3"]);
    older_istio_on_cluster_3(&mesh);
    let before = mesh.cluster_snapshot("cluster-1");
    let run = mesh.flagship(ADD_CLUSTER_3, &["--output", "json"]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        error_event(&run.stdout),
        "cluster-3 runs Istio 1.29.6 (istio-sidecar-injector ConfigMap) and cluster-1 runs 1.30.3 \
         (istio.version, not installed yet): the primary's istiod configures the remote's proxies, so cluster-3 \
         is not onboarded and nothing was written to it. Upgrade one of them to the other's version first, or \
         set istio.allow_version_skew: true"
    );
    assert_eq!(mesh.cluster_snapshot("cluster-1"), before);
    // The same version is welcome.
    let same = format!("{ADD_CLUSTER_3}istio:\n  version: 1.29.6\n");
    let run = mesh.flagship(&same, &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
}

on_both_backends!(sync a_remote_on_another_version_stops_the_play_before_anything_is_written_to_it);
