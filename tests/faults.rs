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
    // The policy from the environment, as a CI job would set it: 1 + 3 tries, short waits.
    let mut child = env
        .runner_std("dead.rhai", play, &[])
        .env("RUNNER_RETRIES", "3")
        .env("RUNNER_RETRY_BACKOFF", "1ms..4ms")
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
        err.contains("gave up after 4 tries") && err.contains("Connection refused"),
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
/// (Four run at once; waits of 1 to 20 ms between tries keep each run short, and the retries
/// as many as with the default waits.)
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
                    .args([
                        "--vars",
                        "mesh.yaml",
                        "--retry-backoff",
                        "1ms..20ms",
                        "--faults",
                    ])
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

/// A `--sandbox` play builds its clients with the run's policy: against a sandbox answering
/// every request with a 500, the first request is tried 1 + 2 times, then the play fails.
#[test]
fn a_sandbox_play_retries_by_the_run_s_policy() {
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("p.rhai"),
        "cluster(\"cluster-1\").exists(\"ConfigMap\", \"x\");\n",
    )
    .unwrap();
    let out = crate::common::runner()
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .args(["play", "p.rhai", "--sandbox", "--faults", "5xx=1", "-v"])
        .args(["--retries", "2", "--retry-backoff", "1ms..2ms"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let count = |needle: &str| err.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        (count(" -> 500 ("), count("transient failure, retrying")),
        (3, 2),
        "{err}"
    );
}

/// `k8s::probe`, which verify runs on each remote secret's kubeconfig, retries by the run's
/// policy too: a server that refuses connections is tried 1 + 1 times, then the probe says so.
#[test]
fn a_probe_retries_by_the_run_s_policy() {
    let project = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        project.path().join("p.rhai"),
        format!(
            r#"let kubeconfig = `apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: "t"}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
`;
let probe = k8s::probe(kubeconfig);
print(`${{probe.ok}}: ${{probe.error}}`);
"#
        ),
    )
    .unwrap();
    let out = crate::common::runner()
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .args([
            "play",
            "p.rhai",
            "--retries",
            "1",
            "--retry-backoff",
            "1ms..1ms",
            "-v",
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "\n  false: ServiceError: gave up after 2 tries: client error (Connect): tcp connect error: Connection refused (os error 111)\n"
        ),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let count = |needle: &str| err.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        (
            count(" failed: client error (Connect)"),
            count("transient failure, retrying")
        ),
        (2, 1),
        "{err}"
    );
}
