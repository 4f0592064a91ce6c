//! Sandbox behaviour that runner's idempotence and secrets rely on, checked with kubectl.

use std::process::Command;

use runner::sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

fn kubectl(kubeconfig: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Value {
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
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn string_data_is_stored_as_data_and_an_identical_apply_writes_nothing() {
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
