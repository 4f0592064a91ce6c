//! One runner at a time per CA: the advisory lock on the certificate directory, with real
//! processes on both sides.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::io::AsRawFd;
use std::process::Stdio;

use common::fixture::Env;
use common::Fixture;

const ROOT_ONLY: &str = r#"
let root = certs::ensure_root_ca("certs", #{ key_type: "ecdsa-p256", lock_wait_secs: LOCK_WAIT });
"#;

fn play(p: &Env, wait_secs: u32) {
    p.write(
        "playbooks/root.rhai",
        &ROOT_ONLY.replace("LOCK_WAIT", &wait_secs.to_string()),
    );
}

fn runner(p: &Env) -> crate::common::Runner {
    let mut cmd = crate::common::runner();
    cmd.current_dir(p.dir())
        .args(["play", "playbooks/root.rhai"])
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Takes the CA directory's lock as another runner would, writing this process's pid.
fn hold_lock(p: &Env) -> std::fs::File {
    std::fs::create_dir_all(p.dir().join("certs")).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(p.dir().join("certs/.runner.lock"))
        .unwrap();
    // SAFETY: flock takes the descriptor of a file this test holds open, and plain flags.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(rc, 0, "the test takes the lock first");
    writeln!(file, "{}", std::process::id()).unwrap();
    file
}

#[test]
fn two_first_runs_at_once_create_one_root_and_both_succeed() {
    let p = Fixture::new().build();
    play(&p, 120);
    let first = runner(&p).spawn().unwrap();
    let second = runner(&p).spawn().unwrap();
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    for out in &outputs {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let created: Vec<bool> = outputs
        .iter()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).contains("created    root CA certs/root-cert.pem")
        })
        .collect();
    assert_eq!(
        created.iter().filter(|c| **c).count(),
        1,
        "exactly one run creates the root: {created:?}"
    );
    assert!(p.exists("certs/root-key.pem") && p.exists("certs/root-cert.pem"));
}

#[test]
fn a_held_ca_is_refused_with_the_holders_pid_once_the_wait_is_spent() {
    let p = Fixture::new().build();
    play(&p, 1);
    let _held = hold_lock(&p);
    let out = runner(&p).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let pid = std::process::id();
    assert!(
        err.contains(&format!(
            "waiting for another runner that holds certs/ (pid {pid}), up to 1s"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "another runner holds certs/ (pid {pid}); waited 1s for it. Let it finish (or stop it) and run again"
        )),
        "{err}"
    );
    assert!(!p.exists("certs/root-key.pem"), "nothing written");
}

#[test]
fn a_waiting_runner_goes_on_once_the_holder_is_done() {
    let p = Fixture::new().build();
    play(&p, 120);
    let held = hold_lock(&p);
    let mut child = runner(&p).spawn().unwrap();
    let child_pid = child.id();
    // The runner says it waits; only then is the lock let go.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim_end(),
        format!(
            "waiting for another runner that holds certs/ (pid {}), up to 120s",
            std::process::id()
        )
    );
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created    root CA certs/root-cert.pem"));
    assert_eq!(
        p.read("certs/.runner.lock").trim(),
        child_pid.to_string(),
        "the lock file names its last holder"
    );
}

/// Two sandboxes on one `--state` directory would fight over its ports and objects: the
/// second is refused at once, naming the first.
#[test]
fn a_second_sandbox_on_the_same_state_is_refused_naming_the_first() {
    let p = Fixture::new().build();
    let up = |kubeconfig: &str| {
        let mut cmd = crate::common::runner();
        cmd.current_dir(p.dir())
            .args([
                "sandbox",
                "up",
                "--state",
                "state",
                "--kubeconfig",
                kubeconfig,
            ])
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let mut first = up("first.kubeconfig").spawn().unwrap();
    let mut stdout = BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "Sandbox clusters are up:\n");
    let second = up("second.kubeconfig").output();
    let _ = first.kill();
    let _ = first.wait();
    let second = second.unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "another runner holds state/ (pid {}); stop it first, or use another --state directory",
            first.id()
        )),
        "{err}"
    );
    assert!(!p.exists("second.kubeconfig"), "nothing written");
}
