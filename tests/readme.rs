//! Every command block (```sh) and playbook block (```rhai) of the README runs as written.
//!
//! Commands run in a copy of the project, against sandbox clusters (KUBECONFIG names them),
//! with `runner` being the binary under test. The only commands not run are those
//! `not_run` lists, each with its reason; the test fails if the README gains a command that
//! is neither run nor listed.

use crate::common::backend::Backend;
use crate::common::Fixture;

use std::path::Path;
use std::process::Command;

const README: &str = include_str!("../README.md");

/// Fenced blocks of one language, in order.
fn blocks(language: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in README.lines() {
        match (&mut current, line.trim_start()) {
            (None, fence) if fence == format!("```{language}") => current = Some(String::new()),
            (Some(_), "```") => out.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// Commands the test does not run, and why (an exact list: the test checks it).
fn not_run(command: &str) -> Option<&'static str> {
    if command.starts_with("cargo test") {
        return Some("runs the test suite this test is part of");
    }
    if command.starts_with("cargo install") {
        return Some("installs into ~/.cargo/bin; the test runs the binary cargo test built");
    }
    if command.starts_with("cargo bench") {
        return Some("the benchmark suite takes minutes; CI runs it in quick mode");
    }
    if command.starts_with("export KUBEBUILDER_ASSETS=") {
        return Some("unpacks real Kubernetes control-plane binaries from outside the repository, for cargo test");
    }
    if command.contains("--allow-context 'prod-*'") {
        return Some("applies to production contexts (prod-*); a test has only sandboxes");
    }
    None
}

/// `cargo run [--release] [--locked] -- ARGS` is the binary under test with ARGS; `runner ARGS`
/// too.
fn as_run(command: &str, runner: &Path) -> String {
    let runner = runner.display().to_string();
    if let Some((_, args)) = command.split_once(" -- ") {
        assert!(command.starts_with("cargo run"), "{command}");
        return format!("{runner} {args}");
    }
    match command.strip_prefix("runner ") {
        Some(args) => format!("{runner} {args}"),
        None => command.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_readme_command_and_playbook_runs_as_written() {
    let sandbox = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1", "cluster-2"])
        .start()
        .await;
    let project = tempfile::tempdir().unwrap();
    crate::common::copy_shipped(project.path());
    let runner = assert_cmd::cargo::cargo_bin("runner");

    let mut skipped = Vec::new();
    let mut ran = 0;
    for block in blocks("sh") {
        for command in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(reason) = not_run(command) {
                skipped.push(format!("{command}: {reason}"));
                continue;
            }
            let line = as_run(command, &runner);
            let out = Command::new("sh")
                .arg("-c")
                .arg(&line)
                .current_dir(project.path())
                .env("KUBECONFIG", sandbox.kubeconfig())
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            crate::common::run::record(&out);
            assert_eq!(
                out.status.code(),
                Some(0),
                "README command failed: {command}\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    let skipped: Vec<&str> = skipped
        .iter()
        .map(|s| s.rsplit_once(": ").unwrap().0)
        .collect();
    assert_eq!(
        skipped,
        vec![
            "cargo test --workspace --locked",
            "export KUBEBUILDER_ASSETS=\"$(../shared/envtest/unpack \"$PWD/target/envtest-bin\")\"  # or any envtest directory",
            "cargo test --workspace                       # both backends",
            "cargo test --test main -- flagship::        # one area (tests/flagship.rs)",
            "cargo test --test main -- real_control_plane # one backend",
            "cargo install --path . --locked                          # the dependencies the lockfile pins and CI tests",
            "runner play playbooks/primary-remote.rhai --vars my-mesh.yaml --allow-context 'prod-*'",
            "cargo bench            # the whole suite; BENCH_QUICK=1 for one run of each",
        ]
    );
    assert_eq!(
        ran, 8,
        "the quickstart's play, the cp, the dry run, offboarding a remote, the mesh, two rotations and the promotion"
    );

    let playbooks = blocks("rhai");
    assert_eq!(
        playbooks.len(),
        2,
        "the guide's hello playbook and its verify step"
    );
    let first = playbooks[0].lines().next().unwrap();
    let path = first
        .strip_prefix("// ")
        .expect("a playbook block names its file");
    std::fs::write(project.path().join(path), &playbooks[0]).unwrap();
    let out = crate::common::runner()
        .args(["play", path, "--sandbox"])
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{path}: {stdout}");
    let steps: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("STEP"))
        .take_while(|l| !l.starts_with("PLAY RECAP"))
        .collect();
    assert_eq!(
        steps[..2],
        [
            "STEP [config]",
            "  cluster-1    created    ConfigMap default/hello"
        ]
    );
    verify_step_of_the_guide_checks_a_fresh_mesh(&playbooks[1]).await;
}

/// The guide's verify step, written from the guide alone, passes on a mesh the flagship just
/// onboarded, and fails, naming the problem, once the remote's cacerts is gone.
async fn verify_step_of_the_guide_checks_a_fresh_mesh(playbook: &str) {
    let sandbox = Fixture::new()
        .clusters(Backend::Sandbox, &["cluster-1", "cluster-2"])
        .start()
        .await;
    let project = tempfile::tempdir().unwrap();
    crate::common::copy_shipped(project.path());
    let path = playbook
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("// "))
        .expect("a playbook block names its file");
    std::fs::write(project.path().join(path), playbook).unwrap();
    let run = |args: &[&str]| {
        crate::common::runner()
            .args(args)
            .current_dir(project.path())
            .env("KUBECONFIG", sandbox.kubeconfig())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let flagship = run(&["play", "playbooks/primary-remote.rhai"]);
    assert_eq!(
        flagship.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&flagship.stderr)
    );
    let vars = ["--vars", "playbooks/primary-remote.vars.yaml"];
    let out = run(&[&["play", path][..], &vars[..]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let step: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("STEP [verify]"))
        .take_while(|l| !l.starts_with("PLAY RECAP"))
        .filter(|l| !l.trim_start().starts_with("=>") && !l.is_empty())
        .collect();
    assert_eq!(step.len(), 2, "{stdout}");
    assert!(
        step[1].starts_with("  cluster-2: cacerts intermediate "),
        "{stdout}"
    );

    let deleted = Command::new("kubectl")
        .args([
            "--context",
            "cluster-2",
            "-n",
            "istio-system",
            "delete",
            "secret",
            "cacerts",
        ])
        .env("KUBECONFIG", sandbox.kubeconfig())
        .output()
        .unwrap();
    assert_eq!(deleted.status.code(), Some(0));
    let out = run(&[&["play", path][..], &vars[..]].concat());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().find(|l| l.contains('×')),
        Some("  × step [verify] failed: cluster-2: istio-system/cacerts is missing"),
        "{stderr}"
    );
}
