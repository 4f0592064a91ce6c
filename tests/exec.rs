//! `exec(...)` from a playbook, through the built binary.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

fn playbook(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("play.rhai");
    std::fs::write(&file, text).unwrap();
    file
}

fn runner(dir: &Path) -> crate::common::Runner {
    let mut cmd = crate::common::runner();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env("HOME", dir);
    cmd
}

#[test]
fn returns_stdout_stderr_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let file = playbook(
        dir.path(),
        r#"
        let r = exec("sh", ["-c", "read x; echo got-$x; echo warn >&2; exit 0"], #{stdin: "abc\n"});
        print(`stdout=${r.stdout}|stderr=${r.stderr}|code=${r.code}`);
        let r = exec("sh", ["-c", "echo $FOO; exit 4"], #{env: #{FOO: "bar"}, check: false});
        print(`unchecked code=${r.code} out=${r.stdout}|`);
        "#,
    );
    runner(dir.path())
        .args(["play", file.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "stdout=got-abc\n|stderr=warn\n|code=0",
        ))
        .stdout(predicate::str::contains("unchecked code=4 out=bar\n|"));
}

#[test]
fn missing_program_is_named_with_path_advice() {
    let dir = tempfile::tempdir().unwrap();
    let file = playbook(
        dir.path(),
        r#"exec("istioctl-not-installed", ["version"]);"#,
    );
    runner(dir.path())
        .args(["play", file.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "program \"istioctl-not-installed\" not found",
        ))
        .stderr(predicate::str::contains("PATH"));
}

#[test]
fn failing_program_shows_the_tail_of_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let file = playbook(
        dir.path(),
        r#"exec("sh", ["-c", "echo first-line >&2; echo Error: release failed >&2; exit 2"]);"#,
    );
    runner(dir.path())
        .args(["play", file.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("exited with code 2"))
        .stderr(predicate::str::contains("Error: release failed"));
}

#[test]
fn failure_can_be_caught_by_the_playbook() {
    let dir = tempfile::tempdir().unwrap();
    let file = playbook(
        dir.path(),
        r#"
        try { exec("sh", ["-c", "exit 9"]); } catch (e) { print(`caught: ${e}`); }
        "#,
    );
    runner(dir.path())
        .args(["play", file.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "caught: `sh -c 'exit 9'` exited with code 9",
        ));
}

#[test]
fn timeout_kills_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("finished");
    let file = playbook(
        dir.path(),
        &format!(
            r#"exec("sh", ["-c", "sleep 20; touch {}"], #{{timeout: 1}});"#,
            marker.display()
        ),
    );
    runner(dir.path())
        .args(["play", file.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "did not finish within 1s and was killed",
        ));
    assert!(!marker.exists());
}

#[test]
fn dry_run_prints_the_command_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("touched");
    let file = playbook(
        dir.path(),
        &format!(
            r#"let r = exec("touch", ["{}"]); print(`code=${{r.code}}`);"#,
            marker.display()
        ),
    );
    runner(dir.path())
        .args(["play", "--dry-run", file.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "would run: touch {}",
            marker.display()
        )))
        .stdout(predicate::str::contains("code=0"));
    assert!(!marker.exists());
}

#[test]
fn unknown_option_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = playbook(dir.path(), r#"exec("true", [], #{retries: 3});"#);
    runner(dir.path())
        .args(["play", file.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("exec: unknown option \"retries\""));
}
