//! `kill -9` of `runner sandbox up --state DIR` in the middle of a play, a restart, and a
//! re-run: the restored clusters converge (their controllers reconcile what was saved), the
//! re-run completes, and the run after it changes nothing. Real processes throughout.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use crate::common::fixture::{same, Env};
use crate::common::run::RunningRunner;
use crate::common::{Fixture, Runner};
use std::sync::mpsc;

fn runner(dir: &Path) -> crate::common::Runner {
    let mut cmd = crate::common::runner();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A child whose stdout lines arrive on a channel, so a test waits for what it prints.
struct Watched {
    child: RunningRunner,
    lines: mpsc::Receiver<String>,
}

/// A test that fails still stops what it started.
impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Watched {
    fn spawn(mut cmd: Runner) -> Watched {
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watched { child, lines }
    }

    /// Blocks until a line starting with `prefix` is printed; panics if the child ends first.
    fn wait_for(&mut self, prefix: &str) {
        for line in &self.lines {
            if line.starts_with(prefix) {
                return;
            }
        }
        let status = self.child.wait().unwrap();
        panic!("ended ({status}) without printing {prefix:?}");
    }
}

fn sandbox_up(dir: &Path, state: &Path, lb_delay_ms: u64) -> Watched {
    let mut cmd = runner(dir);
    cmd.args(["sandbox", "up", "--kubeconfig", "kubeconfig", "--state"])
        .arg(state)
        .arg("--lb-delay-ms")
        .arg(lb_delay_ms.to_string());
    let mut up = Watched::spawn(cmd);
    up.wait_for("Sandbox clusters are up:");
    up
}

fn play(dir: &Path) -> Runner {
    let mut cmd = runner(dir);
    cmd.args([
        "play",
        "playbooks/primary-remote.rhai",
        "--kubeconfig",
        "kubeconfig",
        "--vars",
        "mesh.yaml",
    ]);
    cmd
}

/// The shipped playbooks with a one-remote vars file.
fn project() -> Env {
    Fixture::new()
        .shipped_playbooks()
        .file(
            "mesh.yaml",
            "certs:\n  key_type: ecdsa-p256\nremotes:\n  - name: cluster-2\n    context: cluster-2\n    network: network1\n    api_server: \"\"\n",
        )
        .build()
}

/// The object `name` stored under a key ending in `/resource` in a saved objects.json.
fn saved_object(path: &Path, resource: &str, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    saved["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| {
            o["key"]
                .as_str()
                .is_some_and(|k| k.ends_with(&format!("/{resource}")))
                && o["object"]["metadata"]["name"] == name
        })
        .map(|o| o["object"].clone())
        .unwrap_or_default()
}

fn holds(path: &Path, resource: &str, name: &str) -> bool {
    !saved_object(path, resource, name).is_null()
}

fn recap_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("cluster-") && l.contains(" : created="))
        .collect()
}

#[test]
fn kill_9_mid_play_then_restart_converges_and_the_next_run_changes_nothing() {
    let project = project();
    let dir = project.dir();
    let state = project.path("state");
    // Load balancers that never get an address: the play is stopped waiting for one, and the
    // state holds a LoadBalancer Service saved without its IP.
    let mut first = sandbox_up(dir, &state, 3_600_000);
    let mut interrupted = Watched::spawn(play(dir));
    // The play waits for istiod's rollout, then for a load balancer that never gets an address
    // (waits print nothing while they wait). The sandbox saves a moment after each change: kill
    // it once the control plane the play wrote is saved.
    let saved = state.join("cluster-1/objects.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !holds(&saved, "services", "istiod-external") || !holds(&saved, "deployments", "istiod") {
        assert!(
            std::time::Instant::now() < deadline,
            "the state was never saved"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let service = saved_object(&saved, "services", "istiod-external");
    assert_eq!(
        service["status"]["loadBalancer"],
        serde_json::json!({}),
        "saved without an address"
    );
    first.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    first.child.wait().unwrap();
    let out = interrupted.child.collect_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    same(
        "stderr of the play whose sandbox was killed",
        &err,
        r#"  × step [expose-istiod] failed: cluster-1: waiting for a load balancer IP of Service istio-system/istiod-external
  ├─▶ the API server cannot be reached
  ├─▶ ServiceError: gave up after 8 tries
  ├─▶ client error (Connect)
  ├─▶ tcp connect error
  ╰─▶ Connection refused (os error 111)
    ╭─[playbooks/primary-remote.rhai:56:17]
 55 │         primary.apply(template("istio/istiod-external-service.yaml.j2"));
 56 │         primary.wait_loadbalancer("istiod-external", #{ namespace: "istio-system", timeout: vars.istio.wait_seconds });
    ·                 ────────┬────────
    ·                         ╰── in step [expose-istiod]
 57 │     }
    ╰────
  help: the API server of cluster-1 is unreachable or overloaded; check it and run the play again
"#,
    );

    // Restarted with addresses given out again: the saved Service gets its IP on start, and
    // the Deployments saved mid-rollout become available, before any client writes anything.
    let second = sandbox_up(dir, &state, 50);
    for (what, condition) in [
        (
            "service/istiod-external",
            "--for=jsonpath={.status.loadBalancer.ingress[0].ip}",
        ),
        ("deployment/istiod", "--for=condition=Available"),
    ] {
        let waited = project.kubectl(
            "cluster-1",
            &[
                "wait",
                "-n",
                "istio-system",
                what,
                condition,
                "--timeout=30s",
            ],
        );
        assert_eq!(
            waited.status.code(),
            Some(0),
            "{what}: {}",
            String::from_utf8_lossy(&waited.stderr)
        );
    }
    let rerun = play(dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&rerun.stdout);
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert!(stdout.lines().any(|l| {
        l == "  verified: 2 cluster(s) share one root; istiod is exposed; every remote is attached"
    }));

    let again = play(dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "{stdout}");
    assert_eq!(
        recap_lines(&stdout),
        vec![
            "cluster-1 : created=0    configured=0    unchanged=22   deleted=0    steps ok=10  failed=0   rescued=0",
            "cluster-2 : created=0    configured=0    unchanged=12   deleted=0    steps ok=6   failed=0   rescued=0",
        ],
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l == "nothing changed"), "{stdout}");
    let writes: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() > 1 && ["created", "configured", "deleted"].contains(&words[1])
        })
        .collect();
    assert_eq!(writes, Vec::<&str>::new(), "{stdout}");
    drop(second);
}
