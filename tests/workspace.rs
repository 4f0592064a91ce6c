//! The workspace's dependency direction: runner uses runner-certs and runner-sandbox, and neither
//! of them depends on a crate of this workspace (so nothing of runner's can creep into them).

use std::process::Command;

use serde_json::Value;

/// `cargo metadata` of this workspace, without resolving the registry's crates.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// The workspace crates `package` depends on, of any kind (normal, dev, build), sorted.
fn workspace_dependencies(metadata: &Value, package: &str) -> Vec<String> {
    let packages = metadata["packages"].as_array().expect("packages");
    let members: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    let package = packages
        .iter()
        .find(|p| p["name"] == package)
        .unwrap_or_else(|| panic!("{package} is not in the workspace"));
    let mut found: Vec<String> = package["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .map(|d| d["name"].as_str().expect("name"))
        .filter(|name| members.contains(name))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_libraries_depend_on_nothing_of_runner() {
    let metadata = metadata();
    let mut members: Vec<&str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["runner", "runner-certs", "runner-sandbox"]);
    assert_eq!(
        workspace_dependencies(&metadata, "runner"),
        ["runner-certs", "runner-sandbox"]
    );
    assert_eq!(
        workspace_dependencies(&metadata, "runner-certs"),
        Vec::<String>::new()
    );
    assert_eq!(
        workspace_dependencies(&metadata, "runner-sandbox"),
        Vec::<String>::new()
    );
}
