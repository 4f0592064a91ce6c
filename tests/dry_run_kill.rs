//! A dry run killed in the middle of its plan, by SIGTERM or by SIGKILL, leaves nothing in its
//! temporary directory, and never wrote there: the planned CA keys and the clusters' tokens
//! stay in memory. SIGKILL runs no clean-up at all, so "nothing left" can only hold because
//! nothing was written.
//!
//! The dry run is held mid-plan by cluster-2's kubeconfig user, an exec plugin that announces
//! itself and then never answers. The playbook takes the flagship's first steps on cluster-1
//! (its root and intermediate CA, and the cacerts Secret holding the intermediate's key) before
//! it first reaches cluster-2, so the kill comes with keys planned in memory.

use crate::common;
use crate::common::backend::Backend;
use crate::common::fixture::Env;
use crate::common::Fixture;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::Watcher;

/// The flagship's first steps on cluster-1, then a first request to cluster-2.
const KILL_PLAYBOOK: &str = r#"let primary = cluster("cluster-1");
step("ca", || {
    let root = certs::ensure_root_ca("certs", #{ key_type: "ecdsa-p256" });
    certs::ensure_intermediate_ca(root, "certs", "cluster-1", #{ key_type: "ecdsa-p256" });
});
step("istio-system", || {
    primary.apply(template("istio/namespace.yaml.j2", #{ cluster: #{ name: "cluster-1", network: "n1" }, role: "primary", label_network: false }));
    primary.apply(certs::cacerts_secret("certs/cluster-1"));
});
step("remote", || {
    let remote = cluster("cluster-2");
    print(exists(remote, "v1/Namespace", "default"));
});
"#;

struct Rehearsal {
    /// The project (the flagship's library and templates, and the playbook) and its sandbox.
    env: Env,
    /// The dry run's TMPDIR, which must stay empty.
    tmp: tempfile::TempDir,
}

/// The flagship's library and templates against a two-cluster sandbox, cluster-2's user an exec plugin that
/// writes its pid to `plugin.pid` and sleeps.
fn rehearsal() -> Rehearsal {
    let env = Fixture::new()
        .shipped_playbooks()
        .file("playbooks/kill.rhai", KILL_PLAYBOOK)
        .clusters(Backend::Sandbox, &["cluster-1", "cluster-2"])
        .build();
    let tmp = tempfile::tempdir().unwrap();
    let pid_file = env.path("plugin.pid");
    let plugin = env.path("plugin.sh");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\necho $$ > {0}.part && mv {0}.part {0}\nexec sleep 600\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&env.sandbox().kubeconfig_yaml()).unwrap();
    for user in kubeconfig["users"].as_sequence_mut().unwrap() {
        if user["name"] == "cluster-2-admin" {
            user["user"] = serde_yaml::from_str(&format!(
                "exec: {{apiVersion: client.authentication.k8s.io/v1, command: {}, interactiveMode: Never}}",
                plugin.display()
            ))
            .unwrap();
        }
    }
    env.write("kubeconfig", &serde_yaml::to_string(&kubeconfig).unwrap());
    Rehearsal { env, tmp }
}

/// Every path created under `dir` while the returned watcher lives.
pub(crate) fn record_creations(
    dir: &Path,
) -> (notify::RecommendedWatcher, Arc<Mutex<Vec<PathBuf>>>) {
    let created = Arc::new(Mutex::new(Vec::new()));
    let sink = created.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if matches!(event.kind, notify::EventKind::Create(_)) {
                sink.lock().unwrap().extend(event.paths);
            }
        }
    })
    .unwrap();
    watcher
        .watch(dir, notify::RecursiveMode::Recursive)
        .unwrap();
    (watcher, created)
}

fn kill_mid_plan(
    signal: libc::c_int,
) -> (std::process::ExitStatus, String, Vec<PathBuf>, Rehearsal) {
    let r = rehearsal();
    let (watcher, created) = record_creations(r.tmp.path());
    let stdout_path = r.env.dir().join("stdout");
    let mut child = common::runner()
        .args([
            "play",
            "playbooks/kill.rhai",
            "--kubeconfig",
            "kubeconfig",
            "--dry-run",
        ])
        .current_dir(r.env.dir())
        .env("TMPDIR", r.tmp.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(r.env.dir().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    // The event: the plugin announced itself, so the plan is waiting on cluster-2.
    let pid_file = r.env.dir().join("plugin.pid");
    let deadline = Instant::now() + Duration::from_secs(180);
    while !pid_file.exists() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!(
                "the dry run never reached cluster-2's exec plugin:\n{}{}",
                std::fs::read_to_string(&stdout_path).unwrap(),
                std::fs::read_to_string(r.env.dir().join("stderr")).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let plugin: libc::pid_t = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let status = child.wait().unwrap();
    // SIGTERM: runner kills the plugin's group on its way out. SIGKILL: no clean-up runs; the
    // kernel kills the plugin because runner asked it to when it started the plugin.
    let gone = common::processes::gone_by(plugin as u32, Instant::now() + Duration::from_secs(30));
    if !gone {
        // SAFETY: the plugin's pid, which it wrote itself; it runs `sleep` in its own group.
        unsafe { libc::kill(plugin, libc::SIGKILL) };
    }
    assert!(gone, "the exec plugin (pid {plugin}) outlived runner");
    let created = creations_so_far(r.tmp.path(), watcher, &created);
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    (status, stdout, created, r)
}

/// What `record_creations` saw created under `dir` up to now, then stops watching.
pub(crate) fn creations_so_far(
    dir: &Path,
    watcher: notify::RecommendedWatcher,
    created: &Mutex<Vec<PathBuf>>,
) -> Vec<PathBuf> {
    // inotify delivers in order: once the sentinel's creation arrived, so had everything before.
    let sentinel = dir.join("sentinel");
    std::fs::write(&sentinel, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !created.lock().unwrap().contains(&sentinel) {
        assert!(
            Instant::now() < deadline,
            "the watcher never saw the sentinel"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(watcher);
    std::fs::remove_file(&sentinel).unwrap();
    let mut created = created.lock().unwrap().clone();
    created.retain(|path| path != &sentinel);
    created
}

/// Mid-plan: the playbook reaches cluster-2 (and its plugin) only after the steps that plan
/// cluster-1's CA and cacerts Secret, so by then those keys are in the plan, in memory.
fn assert_nothing_written_or_left(created: &[PathBuf], r: &Rehearsal) {
    assert_eq!(created, &[] as &[PathBuf], "the dry run wrote to TMPDIR");
    let left: Vec<_> = std::fs::read_dir(r.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(left, Vec::<PathBuf>::new(), "left in TMPDIR");
    assert!(
        !r.env.dir().join("certs").exists(),
        "a dry run writes no certificate"
    );
}

#[test]
fn sigterm_mid_plan_leaves_no_key_or_token_in_tmpdir() {
    let (status, stdout, created, r) = kill_mid_plan(libc::SIGTERM);
    assert_eq!(status.code(), Some(143), "{stdout}");
    // Connecting to cluster-2 waits on its plugin; SIGTERM ends that wait, not the plugin's timeout.
    let from_remote_step = &stdout[stdout.find("STEP [remote]").expect(&stdout)..];
    let durations = regex::Regex::new(r"\d+(\.\d+)?(ms|s)\b").unwrap();
    assert_eq!(
        durations.replace_all(from_remote_step, "<time>"),
        "STEP [remote]\n  => interrupted · <time>\n\nPLAY RECAP (<time>)\n\
         cluster-1 : created=2    configured=0    unchanged=0    deleted=0    steps ok=1   failed=0   rescued=0\n\
         local     : created=2    configured=0    unchanged=0    deleted=0    steps ok=1   failed=1   rescued=0\n"
    );
    // SIGTERM takes Ctrl-C's way out, which reports the plan so far: the planned Secret.
    assert!(
        stdout.contains("Secret istio-system/cacerts"),
        "the kill came before the certificates were planned:\n{stdout}"
    );
    assert_nothing_written_or_left(&created, &r);
}

#[test]
fn sigkill_mid_plan_leaves_no_key_or_token_in_tmpdir() {
    let (status, stdout, created, r) = kill_mid_plan(libc::SIGKILL);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{stdout}");
    assert_nothing_written_or_left(&created, &r);
}
