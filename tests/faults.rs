//! Faults a user can rehearse, and what runner does under them: the retry layer under every
//! request, waits that fail fast on a dead server, and the flagship under injected faults.

use crate::k8s_support;

use std::time::Duration;

use crate::common::fixture::Env;
use crate::common::Fixture;
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
        c.wait_until("ConfigMap", "x", |o| false, #{ namespace: "default", timeout: 300 });
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

/// A project holding the flagship playbook, its templates and a one-remote vars file.
fn flagship_project() -> Env {
    Fixture::new()
        .shipped_playbooks()
        .file(
            "mesh.yaml",
            "certs:\n  key_type: ecdsa-p256\nremotes:\n  - name: cluster-2\n    context: cluster-2\n    network: network1\n    api_server: \"\"\n",
        )
        .build()
}

/// The flagship under 20% injected faults (10% 500s, 10% 429s), 20 runs with the fixed seeds
/// 1 to 20, each on fresh sandboxes and a fresh CA: every run completes, with the same recap.
/// (Four run at once: each spends most of its ~18 s in backoff.)
#[test]
fn the_flagship_completes_20_of_20_runs_under_20_percent_faults() {
    let seeds: Vec<u64> = (1..=20).collect();
    let mut failures = Vec::new();
    for round in seeds.chunks(4) {
        let runs: Vec<_> = round
            .iter()
            .map(|seed| {
                let project = flagship_project();
                let child = project
                    .runner(&["play", "playbooks/primary-remote.rhai", "--sandbox"])
                    .args(["--vars", "mesh.yaml", "--faults"])
                    .arg(format!("5xx=0.1,429=0.1,seed={seed}"))
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                (seed, project, child)
            })
            .collect();
        for (seed, _project, child) in runs {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = stdout.lines().collect();
            let complete = out.status.code() == Some(0)
                && lines.contains(&"cluster-1 : created=21   configured=0    unchanged=1    deleted=0    steps ok=10  failed=0   rescued=0")
                && lines.contains(&"cluster-2 : created=12   configured=0    unchanged=0    deleted=0    steps ok=6   failed=0   rescued=0")
                && lines.contains(
                    &"  verified: 2 cluster(s) share one root; istiod is exposed; every remote is attached",
                );
            if !complete {
                failures.push(format!(
                    "seed {seed}: exit {:?}\n{stdout}\n{}",
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 20 runs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A bad `--faults` is refused before anything starts, saying what is wrong.
#[test]
fn a_bad_faults_spec_is_one_clear_error() {
    let env = Fixture::new().build();
    let refused = |args: &[&str], status: i32, stderr: &str| {
        env.test()
            .args(args.iter().copied())
            .stdout("")
            .stderr(stderr)
            .status(status)
            .run();
    };
    refused(
        &["sandbox", "up", "--faults", "5xx=2"],
        2,
        r#"error: invalid value '5xx=2' for '--faults <SPEC>': 5xx=2: a share of requests is a number from 0 to 1

For more information, try '--help'.
"#,
    );
    refused(
        &["sandbox", "up", "--faults", "boom=0.1"],
        2,
        r#"error: invalid value 'boom=0.1' for '--faults <SPEC>': unknown fault "boom"; known: 5xx, 429, stall, stall_ms, seed

For more information, try '--help'.
"#,
    );
    refused(
        &["play", "p.rhai", "--faults", "5xx=0.1"],
        2,
        r#"error: the following required arguments were not provided:
  --sandbox

Usage: runner play --sandbox --faults <SPEC> <PLAYBOOK>

For more information, try '--help'.
"#,
    );
    refused(
        &[
            "sandbox",
            "up",
            "--control-plane",
            "real",
            "--faults",
            "5xx=0.1",
        ],
        1,
        r#"  × --faults works with the built-in sandbox only, not with --control-plane real
  help: drop --faults, or leave out --control-plane real
"#,
    );
}

/// Sandbox detection goes through the retry layer: a few failures are retried through, and a
/// server that keeps failing is an error naming it, never "not a sandbox" (which would switch
/// the installer to istioctl).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_sandbox_retries_and_reports_a_server_that_keeps_failing() {
    use runner::k8s::{Cluster, RetryPolicy, Transports};
    use runner_sandbox::Faults;
    let env = start(Backend::Sandbox, &["cluster-1"]).await;
    let transports = Transports::with_retry(RetryPolicy {
        attempts: 8,
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
        attempt_timeout: Duration::from_secs(10),
    });
    let kubeconfig = env.sandbox().kubeconfig().unwrap();
    let cluster = Cluster::connect("cluster-1", "cluster-1", kubeconfig, &transports)
        .await
        .unwrap();
    let sandbox = env.sandbox().cluster("cluster-1").unwrap();
    // Half the answers fail (a fixed sequence): ten asks, each retried through to the answer.
    sandbox.set_faults(Faults {
        error_500: 0.5,
        seed: Some(3),
        ..Default::default()
    });
    for _ in 0..10 {
        assert!(cluster.is_sandbox().await.unwrap());
    }
    sandbox.set_faults(Faults {
        error_500: 1.0,
        ..Default::default()
    });
    let err = cluster.is_sandbox().await.unwrap_err();
    sandbox.clear_faults();
    assert_eq!(
        err.full_message(),
        "cluster-1: reading the server version (is it a sandbox?) kept failing: HTTP 500 InternalError: injected fault: internal error"
    );
    assert_eq!(
        err.hint.as_deref(),
        Some("the API server of cluster-1 is unreachable or overloaded; check it and run the play again")
    );
}
