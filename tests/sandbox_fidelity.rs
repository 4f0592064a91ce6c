//! Sandbox behaviour that runner's idempotence and secrets rely on, checked with kubectl.

use std::process::Command;

use runner_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Value {
    let out = kubectl_output(kubeconfig, args, stdin);
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kubectl_output(
    kubeconfig: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .args(["-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn one_cluster() -> (
    tokio::runtime::Runtime,
    Sandbox,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sandbox = rt
        .block_on(Sandbox::start(SandboxOptions {
            clusters: vec!["one".into()],
            ..Default::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sandbox.write_kubeconfig(&kubeconfig).unwrap();
    (rt, sandbox, dir, kubeconfig)
}

/// The sandbox answers an exact repeat of an apply without merging again; a change made in
/// between by someone else must still be seen, as a real server sees it.
#[test]
fn a_repeated_apply_still_meets_changes_made_in_between() {
    let (_rt, _sandbox, _dir, kubeconfig) = one_cluster();
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata: {mode: strict}\n";
    let apply = ["apply", "--server-side", "-f", "-"];
    let first = kubectl(&kubeconfig, &apply, Some(config));
    let repeat = kubectl(&kubeconfig, &apply, Some(config));
    assert_eq!(
        repeat["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );

    kubectl(
        &kubeconfig,
        &[
            "patch",
            "configmap",
            "c",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"mode":"permissive"}}"#,
        ],
        None,
    );
    let conflicting = kubectl_output(&kubeconfig, &apply, Some(config));
    assert!(
        !conflicting.status.success(),
        "the field now belongs to the patch's manager: the same apply must conflict"
    );
    assert!(
        String::from_utf8_lossy(&conflicting.stderr).contains("conflict"),
        "{}",
        String::from_utf8_lossy(&conflicting.stderr)
    );

    let forced = kubectl(
        &kubeconfig,
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(config),
    );
    assert_eq!(forced["data"]["mode"], "strict");
    assert_ne!(
        forced["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
}

#[test]
fn string_data_is_stored_as_data_and_an_identical_apply_writes_nothing() {
    let (_rt, _sandbox, _dir, kubeconfig) = one_cluster();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\nstringData: {password: hunter2}\n";

    let first = kubectl(
        &kubeconfig,
        &["apply", "--server-side", "-f", "-"],
        Some(secret),
    );
    assert!(
        first.get("stringData").is_none(),
        "stringData is never returned: {first}"
    );
    assert_eq!(first["data"]["password"], "aHVudGVyMg==");
    assert_eq!(first["type"], "Opaque");

    let second = kubectl(
        &kubeconfig,
        &["apply", "--server-side", "-f", "-"],
        Some(secret),
    );
    assert_eq!(
        second["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"],
        "a no-op apply keeps the resourceVersion, as a real server does"
    );

    let changed = kubectl(
        &kubeconfig,
        &["apply", "--server-side", "-f", "-"],
        Some(&secret.replace("hunter2", "hunter3")),
    );
    assert_ne!(
        changed["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
    assert_eq!(changed["data"]["password"], "aHVudGVyMw==");
}
