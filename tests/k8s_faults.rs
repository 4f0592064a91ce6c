//! Transient API failures: retried within a bound, then one clear error. Injected faults are a
//! sandbox feature (a real kube-apiserver cannot be told to fail some requests), so those tests
//! run on the sandbox only; a stopped server is tested on both backends.

use crate::k8s_support;

use std::time::Duration;

use k8s_support::{start, stderr, Backend};
use runner_sandbox::Faults;

const MANY: &str = r#"
    let c = cluster("cluster-1");
    let objects = [];
    for i in 0..20 {
        objects.push(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: `cm-${i}`}, data: #{i: `${i}`}});
    }
    c.apply(objects);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_succeeds_through_injected_500s_and_429s() {
    let env = start(Backend::Sandbox, &["cluster-1"]).await;
    env.sandbox()
        .cluster("cluster-1")
        .unwrap()
        .set_faults(Faults {
            error_500: 0.15,
            throttle_429: 0.1,
            ..Default::default()
        });
    let out = env.runner("flaky.rhai", MANY, &[]).output().unwrap();
    env.sandbox().cluster("cluster-1").unwrap().clear_faults();
    assert!(out.status.success(), "{}", stderr(&out));
    let list = env
        .kubectl_get("cluster-1", &["configmaps", "-n", "default"])
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .filter(|n| n.starts_with("cm-"))
        .collect();
    assert_eq!(names.len(), 20, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_failure_gives_one_error_naming_the_cluster() {
    let env = start(Backend::Sandbox, &["cluster-1"]).await;
    env.sandbox()
        .cluster("cluster-1")
        .unwrap()
        .set_faults(Faults {
            error_500: 1.0,
            ..Default::default()
        });
    let out = env.runner("down.rhai", MANY, &[]).output().unwrap();
    env.sandbox().cluster("cluster-1").unwrap().clear_faults();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cluster-1: discovery of v1 kept failing"),
        "{err}"
    );
    assert!(err.contains("HTTP 500"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_requests_time_out_and_are_retried() {
    let env = start(Backend::Sandbox, &["cluster-1"]).await;
    env.sandbox()
        .cluster("cluster-1")
        .unwrap()
        .set_faults(Faults {
            stall: 0.1,
            stall_for: Duration::from_secs(60),
            ..Default::default()
        });
    let play = r#"
        let c = cluster("cluster-1");
        c.apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "stall"}, data: #{a: "1"}});
    "#;
    let out = env.runner("stall.rhai", play, &[]).output().unwrap();
    env.sandbox().cluster("cluster-1").unwrap().clear_faults();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env
        .kubectl_get("cluster-1", &["configmap", "stall"])
        .is_some());
}

async fn stopped_server_is_reported_after_the_retries(backend: Backend) {
    let mut env = start(backend, &["cluster-1"]).await;
    env.clusters.stop().await;
    let play = r#"cluster("cluster-1").exists("ConfigMap", "x");"#;
    let out = env.runner("stopped.rhai", play, &[]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cluster-1:")
            && err.contains("kept failing")
            && err.contains("gave up after 8 tries"),
        "{err}"
    );
}

on_both_backends!(async stopped_server_is_reported_after_the_retries);
