//! `runner sandbox up --control-plane real` and `runner play --sandbox --control-plane real`:
//! real API servers for users, with the node-side parts played by runner, stopped on Ctrl-C,
//! and one clear error when the binaries are missing.
use crate::common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::backend::real_assets;
use common::fixture::Env;
use common::Fixture;

const HINT: &str = "point --assets or KUBEBUILDER_ASSETS at a directory holding etcd, kube-apiserver and kube-controller-manager (the layout controller-runtime's setup-envtest installs)";

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The fields after the command's closing parenthesis: state, then the parent's pid.
        let after = stat.rsplit(')').next().unwrap_or_default();
        if after.split_whitespace().nth(1) == Some(&pid.to_string()) {
            children.push(child);
        }
    }
    children.sort_unstable();
    children
}

fn command_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn sandbox_up_real_serves_kubectl_until_ctrl_c_and_then_leaves_nothing_running() {
    let test = "sandbox_up_real_serves_kubectl_until_ctrl_c_and_then_leaves_nothing_running";
    let Some(assets) = real_assets(test) else {
        return;
    };
    let project = Fixture::new().build();
    let kubeconfig = project.dir().join("real.kubeconfig");
    let mut up = crate::common::runner()
        .current_dir(project.dir())
        .env("NO_COLOR", "1")
        .env_remove("KUBEBUILDER_ASSETS")
        .args([
            "sandbox",
            "up",
            "--control-plane",
            "real",
            "--clusters",
            "east,west",
        ])
        .arg("--assets")
        .arg(&assets)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(up.stdout.take().unwrap()).lines();
    let mut said = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let last = line == "Press Ctrl-C to stop.";
        said.push(line);
        if last {
            break;
        }
    }
    let said = said.join("\n");
    let url = regex::Regex::new(r"https://127\.0\.0\.1:\d+").unwrap();
    let expected = format!(
        "Real control planes are up (etcd, kube-apiserver, kube-controller-manager):\n  east             URL\n  west             URL\n\nUse them with:\n  export KUBECONFIG={}\n  kubectl --context east get ns\n\nPress Ctrl-C to stop.",
        kubeconfig.display()
    );
    assert_eq!(url.replace_all(&said, "URL"), expected);

    let components = children_of(up.id());
    let names: Vec<String> = components.iter().map(|p| command_of(*p)).collect();
    assert_eq!(
        names.iter().filter(|n| *n == "kube-apiserver").count(),
        2,
        "{names:?}"
    );
    assert_eq!(components.len(), 6, "{names:?}");
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "--context",
            "west",
            "get",
            "ns",
            "kube-system",
            "-o",
            "name",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "namespace/kube-system\n"
    );

    // SAFETY: kill(2) on the pid of the child this test started and has not reaped.
    unsafe {
        libc::kill(up.id() as i32, libc::SIGINT);
    }
    let status = up.wait().unwrap();
    assert!(status.success(), "{status}");
    for pid in components {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{} ({pid}) outlived runner",
            command_of(pid)
        );
    }
}

#[test]
fn sandbox_up_real_without_binaries_names_what_is_missing_and_where_runner_looked() {
    let project = Fixture::new().build();
    project
        .runner(&["sandbox", "up", "--control-plane", "real"])
        .env_remove("KUBEBUILDER_ASSETS")
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "  × no control-plane binaries: --assets is not given and KUBEBUILDER_ASSETS is not set\n  help: {HINT}\n"
        ));
    assert!(!project.exists("sandbox.kubeconfig"));

    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("etcd"), "").unwrap();
    project
        .runner(&["sandbox", "up", "--control-plane", "real"])
        .env("KUBEBUILDER_ASSETS", empty.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "  × etcd and kube-apiserver not found in {} (from KUBEBUILDER_ASSETS)\n  help: {HINT}\n",
            empty.path().display()
        ));
}

#[test]
fn play_sandbox_real_without_binaries_stops_before_the_play_starts() {
    let project = Fixture::new().build();
    let playbook = project.write(
        "playbooks/p.rhai",
        "write_file(\"ran.txt\", \"yes\");\ncluster(\"cluster-1\");\n",
    );
    let missing = project.dir().join("no-such-dir");
    project
        .runner(&["play", "--sandbox", "--control-plane", "real", "--assets"])
        .arg(&missing)
        .arg(&playbook)
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!(
            "  × etcd and kube-apiserver not found in {} (from --assets)\n  help: {HINT}\n",
            missing.display()
        ));
    assert!(!project.exists("ran.txt"));
}

#[test]
fn built_in_only_flags_and_assets_without_real_are_refused() {
    let project = Fixture::new().build();
    project
        .runner(&["sandbox", "up", "--control-plane", "real", "--no-rbac"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("  × --no-rbac works with the built-in sandbox only, not with --control-plane real\n  help: drop --no-rbac, or leave out --control-plane real\n");
    project
        .runner(&["sandbox", "up", "--control-plane", "real", "--exec", "host"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("  × --exec host works with the built-in sandbox only, not with --control-plane real\n  help: drop --exec host, or leave out --control-plane real\n");
    project
        .runner(&["sandbox", "up", "--assets", "/somewhere"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("  × --assets is used only with --control-plane real\n  help: add --control-plane real to rehearse on real API servers\n");
    let playbook = project.write("playbooks/p.rhai", "print(1);\n");
    project
        .runner(&["play", "--control-plane", "real"])
        .arg(&playbook)
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "error: the following required arguments were not provided:\n  --sandbox\n",
        ));
}

/// A rehearsal on a real control plane: the playbook sees a rehearsal cluster, runner gives the
/// LoadBalancer an address and makes the Deployment available, the real server allocates the
/// node port, and the report lists what the play left.
#[test]
fn play_sandbox_real_rehearses_load_balancers_and_rollouts_on_a_real_api_server() {
    let test = "play_sandbox_real_rehearses_load_balancers_and_rollouts_on_a_real_api_server";
    if real_assets(test).is_none() {
        return;
    }
    let project = Fixture::new().build();
    let playbook: PathBuf = project.write(
        "playbooks/rehearse.rhai",
        r#"
let c = cluster("cluster-1");
print(`rehearsal: ${c.is_sandbox}`);
c.apply([
    #{apiVersion: "v1", kind: "Service", metadata: #{name: "gateway", namespace: "default"},
      spec: #{type: "LoadBalancer", selector: #{app: "gw"}, ports: [#{name: "tls", port: 15443}]}},
    #{apiVersion: "apps/v1", kind: "Deployment", metadata: #{name: "gw", namespace: "default"},
      spec: #{replicas: 2, selector: #{matchLabels: #{app: "gw"}},
        template: #{metadata: #{labels: #{app: "gw"}}, spec: #{containers: [#{name: "gw", image: "gw:1"}]}}}},
]);
let ip = c.wait_loadbalancer("gateway", #{ namespace: "default", timeout: 60 });
let d = c.wait_rollout("gw", #{ namespace: "default", timeout: 60 });
let svc = c.get("Service", "gateway", #{ namespace: "default" });
print(`ip ${ip.split(".")[0]}.${ip.split(".")[1]} available ${d.status.availableReplicas} nodePort ${svc.spec.ports[0].nodePort >= 30000}`);
"#,
    );
    let out = project
        .runner(&["play", "--sandbox", "--control-plane", "real"])
        .arg(&playbook)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("rehearsal: true\n"), "{text}");
    assert!(
        text.contains("ip 198.18 available 2 nodePort true\n"),
        "{text}"
    );
    let inventory = text
        .split("SANDBOX CLUSTERS (real control planes; what the play left in each)\n")
        .nth(1)
        .expect("the inventory");
    let listed: Vec<&str> = inventory.lines().take(3).collect();
    assert_eq!(
        listed,
        [
            "cluster-1 (2 objects)",
            "  Deployment                       default/gw",
            "  Service                          default/gateway",
        ],
        "{text}"
    );
}

/// What runner sends, read from the real API server's audit log: apply asks for
/// fieldValidation=Strict unless the playbook chooses otherwise, in a run and in a dry run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_sends_field_validation_strict_unless_the_playbook_chooses_otherwise() {
    let test = "apply_sends_field_validation_strict_unless_the_playbook_chooses_otherwise";
    let Some(assets) = real_assets(test) else {
        return;
    };
    let planes = runner_sandbox::control_plane::ControlPlanes::start_audited(
        runner_sandbox::control_plane::ControlPlaneOptions {
            clusters: vec!["audited".into()],
            assets: Some(assets),
            stand_ins: false,
            ..Default::default()
        },
    )
    .await
    .expect("control plane starts");
    let project = Fixture::new().build();
    let kubeconfig = project.dir().join("kubeconfig");
    planes.write_kubeconfig(&kubeconfig).unwrap();
    let playbook = project.write(
        "playbooks/fv.rhai",
        r#"
let c = cluster("audited");
for (v, i) in ["", "Warn", "Ignore", "Strict"] {
    let cm = #{apiVersion: "v1", kind: "ConfigMap", metadata: #{name: `cm-${i}`}, data: #{v: v}};
    if v == "" { c.apply(cm); } else { c.apply(cm, #{field_validation: v}); }
}
"#,
    );
    for extra in [None, Some("--dry-run")] {
        let mut cmd = project.runner(&["play", "--kubeconfig"]);
        cmd.arg(&kubeconfig).arg(&playbook).args(extra);
        cmd.assert().success();
    }
    let log = std::fs::read_to_string(planes.audit_log("audited").unwrap()).unwrap();
    let sent: Vec<(String, String)> = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| {
            event["verb"] == "patch"
                && event["objectRef"]["resource"] == "configmaps"
                && event["user"]["username"] == "admin"
        })
        .map(|event| {
            let uri = event["requestURI"].as_str().unwrap().to_string();
            let name = event["objectRef"]["name"].as_str().unwrap().to_string();
            // The parameters, without the empty one kube's URL builder leaves after the `?`.
            let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
            let query: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
            let query = query.join("&");
            (name, query)
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("cm-0", "fieldManager=runner&fieldValidation=Strict"),
        ("cm-1", "fieldManager=runner&fieldValidation=Warn"),
        ("cm-2", "fieldManager=runner&fieldValidation=Ignore"),
        ("cm-3", "fieldManager=runner&fieldValidation=Strict"),
        (
            "cm-0",
            "dryRun=All&fieldManager=runner&fieldValidation=Strict",
        ),
        (
            "cm-1",
            "dryRun=All&fieldManager=runner&fieldValidation=Warn",
        ),
        (
            "cm-2",
            "dryRun=All&fieldManager=runner&fieldValidation=Ignore",
        ),
        (
            "cm-3",
            "dryRun=All&fieldManager=runner&fieldValidation=Strict",
        ),
    ]
    .into_iter()
    .map(|(n, q)| (n.to_string(), q.to_string()))
    .collect();
    assert_eq!(sent, expected, "{log}");
    planes.shutdown().await;
}

/// Starts `runner play --sandbox --control-plane real` on a play that waits for a minute, and
/// returns it once its cluster is up, with the control plane's processes.
fn waiting_rehearsal(
    project: &Env,
    cluster: &str,
) -> (crate::common::run::RunningRunner, Vec<u32>) {
    let playbook = project.write(
        "playbooks/wait.rhai",
        &format!(
            r#"
let c = cluster("{cluster}");
print("waiting");
c.wait_until("ConfigMap", "never", |o| true, #{{ namespace: "default", timeout: 60 }});
"#
        ),
    );
    let mut play = crate::common::runner()
        .current_dir(project.dir())
        .env("NO_COLOR", "1")
        .args(["play", "--sandbox", "--control-plane", "real"])
        .arg(&playbook)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = play.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().trim() == "waiting" {
            break;
        }
    }
    let components = children_of(play.id());
    let names: Vec<String> = components.iter().map(|p| command_of(*p)).collect();
    assert_eq!(
        names.iter().filter(|n| *n == "kube-apiserver").count(),
        1,
        "{names:?}"
    );
    (play, components)
}

fn interrupt(child: &std::process::Child) {
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
}

/// No process of `components` and no directory of the `interrupted` cluster is left.
fn assert_gone(components: &[u32], when: &str) {
    let prefix = "runner-control-plane-interrupted-";
    let left: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "directories left {when}");
    for pid in components {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{} ({pid}) outlived runner {when}",
            command_of(*pid)
        );
    }
}

#[test]
fn ctrl_c_or_sigterm_during_a_real_rehearsal_stops_its_control_planes() {
    let test = "ctrl_c_or_sigterm_during_a_real_rehearsal_stops_its_control_planes";
    if real_assets(test).is_none() {
        return;
    }
    let project = Fixture::new().build();

    // Once: the play is abandoned, then runner stops what it started and exits with 130.
    let (mut play, components) = waiting_rehearsal(&project, "interrupted");
    interrupt(&play);
    let status = play.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_gone(&components, "after one Ctrl-C");

    // Twice: runner exits at once, and still stops the control planes first.
    let (mut play, components) = waiting_rehearsal(&project, "interrupted");
    let mut stderr = BufReader::new(play.stderr.take().unwrap()).lines();
    interrupt(&play);
    let first = stderr.next().unwrap().unwrap();
    assert_eq!(
        first,
        "runner: interrupting: abandoning the current request (Ctrl-C again to exit at once)"
    );
    interrupt(&play);
    let status = play.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_gone(&components, "after two Ctrl-C");

    // SIGTERM (a service manager, a CI job's timeout): the same, with 143.
    let (mut play, components) = waiting_rehearsal(&project, "interrupted");
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    unsafe {
        libc::kill(play.id() as i32, libc::SIGTERM);
    }
    let status = play.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert_gone(&components, "after SIGTERM");
}

#[test]
fn kill_9_of_a_real_rehearsal_leaves_no_control_plane_running_and_the_next_removes_its_files() {
    let test =
        "kill_9_of_a_real_rehearsal_leaves_no_control_plane_running_and_the_next_removes_its_files";
    if real_assets(test).is_none() {
        return;
    }
    let project = Fixture::new().build();
    let (mut play, components) = waiting_rehearsal(&project, "killed");
    // SAFETY: kill(2) on the pid of the child this test started and has not reaped.
    unsafe {
        libc::kill(play.id() as i32, libc::SIGKILL);
    }
    let status = play.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    // No destructor ran: the kernel kills each component, because runner asked it to when it
    // started them. They are reaped by init, so their /proc entries go, or linger as zombies.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let left: Vec<u32> = components
        .iter()
        .copied()
        .filter(|pid| !crate::common::processes::gone_by(*pid, deadline))
        .collect();
    let names: Vec<String> = left.iter().map(|p| command_of(*p)).collect();
    for pid in &left {
        // SAFETY: a process this test's child started; it is killed so that it does not stay.
        unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
    }
    assert_eq!(names, Vec::<String>::new(), "outlived runner's kill -9");
    // Nothing could remove the control plane's directory then; the next runner to start a
    // control plane does, since its owner is gone.
    let killed = || -> Vec<String> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("runner-control-plane-killed-"))
            .collect()
    };
    assert_eq!(killed().len(), 1, "{:?}", killed());
    let (mut play, _) = waiting_rehearsal(&project, "after-kill");
    interrupt(&play);
    assert_eq!(play.wait().unwrap().code(), Some(130));
    assert_eq!(killed(), Vec::<String>::new());
}
