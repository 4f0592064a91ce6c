//! `runner play --sandbox`: the rehearsal path of the README's quickstart, through the binary.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn runner(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("runner").unwrap();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", dir);
    cmd
}

/// A project of its own: the repository's playbooks and templates, as a user copies them.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn the_flagship_playbook_rehearses_on_sandboxes_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&repo.join("playbooks"), &dir.path().join("playbooks"));
    copy_dir(&repo.join("templates"), &dir.path().join("templates"));
    let certs = dir.path().join("certs");
    runner(dir.path())
        .args(["play", "playbooks/primary-remote.rhai", "--sandbox"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"verified: \d+ cluster\(s\) share one root").unwrap())
        .stdout(predicate::str::contains("SANDBOX CLUSTERS"));
    assert!(certs.join("root-key.pem").exists());
}

#[test]
fn programs_the_play_runs_reach_the_sandboxes() {
    let dir = tempfile::tempdir().unwrap();
    let playbook = dir.path().join("tool.rhai");
    std::fs::write(
        &playbook,
        r#"
        let alpha = cluster("alpha");
        let beta = cluster("beta");
        alpha.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n");
        let seen = exec("kubectl", ["--context", "alpha", "get", "namespace", "team-a", "-o", "name"]);
        print(`kubectl saw ${seen.stdout}`);
        let other = exec("kubectl", ["--context", "beta", "get", "namespace", "team-a"], #{check: false});
        print(`beta answered ${other.code}`);
        "#,
    )
    .unwrap();
    runner(dir.path())
        .arg("play")
        .arg(&playbook)
        .arg("--sandbox")
        .assert()
        .success()
        .stdout(predicate::str::contains("kubectl saw namespace/team-a"))
        .stdout(predicate::str::contains("beta answered 1"));
}
