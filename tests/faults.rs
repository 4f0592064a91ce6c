//! Faults a user can rehearse, and what runner does under them: the retry layer under every
//! request, waits that fail fast on a dead server, and the flagship under injected faults.

mod k8s_support;

use std::time::Duration;

use k8s_support::{start, stderr, Backend};

/// A wait whose server goes away fails once the retry layer's bound is spent, naming the
/// underlying error, instead of running out its 300 s timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_on_a_dead_server_fails_with_the_connection_error() {
    let mut env = start(Backend::Sandbox, &["cluster-1"]).await;
    let ready = env.path("ready");
    let play = r#"
        let c = cluster("cluster-1");
        c.apply(#{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: "x", namespace: "default"}, data: #{a: "1"}});
        write_file("ready", "1");
        c.wait_until("ConfigMap", "x", "default", |o| false, 300);
    "#;
    let mut child = env
        .runner_std("dead.rhai", play, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The play says when its wait begins; polling a file is no guess about timing.
    while !ready.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the play ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.clusters.stop().await;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cluster-1: waiting for"),
        "the wait names itself: {err}"
    );
    assert!(
        err.contains("gave up after 8 tries") && err.contains("Connection refused"),
        "the underlying error is shown: {err}"
    );
    assert!(!err.contains("timed out after 300s"), "{err}");
}
