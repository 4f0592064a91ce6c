//! Transient API failures: retried within a bound, then one clear error. Injected faults are a
//! sandbox feature (a real kube-apiserver cannot be told to fail some requests), so those tests
//! run on the sandbox only; a stopped server is tested on both backends.

use crate::k8s_support;

use std::time::Duration;

use k8s_support::{start, stderr, Backend};
use runner_sandbox::Faults;

/// Waits of a millisecond or few between tries: the tests prove the retries, not the patience.
const QUICK: [&str; 2] = ["--retry-backoff", "1ms..4ms"];

/// The lines of `-v` output that contain `needle`.
fn count(stderr: &str, needle: &str) -> usize {
    stderr.lines().filter(|l| l.contains(needle)).count()
}

const RETRYING: &str = "transient failure, retrying";

/// With seed 5, the 500s and 429s the 20 applies (and discovery) meet on their way.
const FLAKY_FAILURES: usize = 9;
/// The stall seed, and how many tries its stalls cost the play (one, of discovery).
const STALL_SEED: u64 = 1;
const STALLED_TRIES: usize = 1;

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
            seed: Some(5),
            ..Default::default()
        });
    let args = [&QUICK[..], &["-v"]].concat();
    let out = env.runner("flaky.rhai", MANY, &args).output().unwrap();
    env.sandbox().cluster("cluster-1").unwrap().clear_faults();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // -v logs every try: each one answered 500 or 429 was followed by exactly one retry.
    let failed = count(&err, " -> 500 (") + count(&err, " -> 429 (");
    assert_eq!(
        (failed, count(&err, RETRYING)),
        (FLAKY_FAILURES, FLAKY_FAILURES),
        "{err}"
    );
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
    let args = [&QUICK[..], &["--retries", "3", "-v"]].concat();
    let out = env.runner("down.rhai", MANY, &args).output().unwrap();
    env.sandbox().cluster("cluster-1").unwrap().clear_faults();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // The first request, tried 1 + 3 times, each answered 500; nothing after it.
    assert_eq!(
        (
            count(&err, " -> 500 ("),
            count(&err, "/api/v1 -> 500 ("),
            count(&err, RETRYING)
        ),
        (4, 4, 3),
        "{err}"
    );
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
            stall: 0.3,
            stall_for: Duration::from_secs(60),
            seed: Some(STALL_SEED),
            ..Default::default()
        });
    let play = r#"
        let c = cluster("cluster-1");
        c.apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "stall"}, data: #{a: "1"}});
    "#;
    // A try with no answer within 2s is abandoned and tried again.
    let args = [&QUICK[..], &["--request-timeout", "2s", "-v"]].concat();
    let out = env.runner("stall.rhai", play, &args).output().unwrap();
    env.sandbox().cluster("cluster-1").unwrap().clear_faults();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(count(&err, RETRYING), STALLED_TRIES, "{err}");
    assert!(env
        .kubectl_get("cluster-1", &["configmap", "stall"])
        .is_some());
}

async fn stopped_server_is_reported_after_the_retries(backend: Backend) {
    let mut env = start(backend, &["cluster-1"]).await;
    env.clusters.stop().await;
    let play = r#"cluster("cluster-1").exists("ConfigMap", "x");"#;
    let args = [&QUICK[..], &["--retries", "2", "-v"]].concat();
    let out = env.runner("stopped.rhai", play, &args).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cluster-1:")
            && err.contains("kept failing")
            && err.contains("gave up after 3 tries"),
        "{err}"
    );
    // Three tries of the one request, two retries between them.
    assert_eq!(
        (count(&err, " failed: "), count(&err, RETRYING)),
        (3, 2),
        "{err}"
    );
}

on_both_backends!(async stopped_server_is_reported_after_the_retries);
