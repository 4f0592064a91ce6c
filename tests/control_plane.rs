//! The real control planes runner starts (crates/sandbox/src/control_plane): started from KUBEBUILDER_ASSETS,
//! checked with kubectl through the kubeconfig runner writes, and gone, processes and files,
//! once shut down or dropped.
use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use runner_sandbox::control_plane::{find_assets, ControlPlaneOptions, ControlPlanes};

fn options(clusters: &[&str], assets: PathBuf) -> ControlPlaneOptions {
    ControlPlaneOptions {
        clusters: clusters
            .iter()
            .map(std::string::ToString::to_string)
            .collect(),
        assets: Some(assets),
        ..Default::default()
    }
}

fn kubectl(kubeconfig: &Path, context: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--context")
        .arg(context)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; an unreaped one would show state Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The private directories of control planes for `cluster` (the name is unique to one test).
fn directories_of(cluster: &str) -> Vec<PathBuf> {
    let prefix = format!("runner-control-plane-{cluster}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

#[tokio::test]
async fn a_real_control_plane_answers_kubectl_through_the_written_kubeconfig() {
    let Some(assets) = common::backend::real_assets(
        "a_real_control_plane_answers_kubectl_through_the_written_kubeconfig",
    ) else {
        return;
    };
    let planes = ControlPlanes::start(options(&["cp-kubectl"], assets))
        .await
        .expect("control plane starts");
    let pids = planes.pids();
    assert_eq!(
        pids.len(),
        3,
        "etcd, kube-apiserver, kube-controller-manager"
    );
    let url = planes.server_url("cp-kubectl").expect("server url");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(planes.server_url("elsewhere"), None);
    let directory = directories_of("cp-kubectl");
    assert_eq!(directory.len(), 1, "{directory:?}");
    let mode = std::fs::metadata(&directory[0])
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    planes
        .write_kubeconfig(&kubeconfig)
        .expect("kubeconfig written");
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let parsed = planes.kubeconfig();
    assert_eq!(parsed.current_context.as_deref(), Some("cp-kubectl"));
    assert_eq!(parsed.contexts.len(), 1);

    let (ok, readyz, stderr) = kubectl(&kubeconfig, "cp-kubectl", &["get", "--raw", "/readyz"]);
    assert!(ok, "{stderr}");
    assert_eq!(readyz, "ok");
    let (ok, namespaces, stderr) = kubectl(
        &kubeconfig,
        "cp-kubectl",
        &["get", "ns", "-o", "jsonpath={.items[*].metadata.name}"],
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        namespaces,
        "default kube-node-lease kube-public kube-system"
    );
    let (ok, who, stderr) = kubectl(
        &kubeconfig,
        "cp-kubectl",
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ],
    );
    assert!(ok, "{stderr}");
    assert_eq!(who, r#"admin ["system:masters","system:authenticated"]"#);
    // The controller-manager runs: the default namespace has its ServiceAccount and root CA.
    let (ok, names, stderr) = kubectl(
        &kubeconfig,
        "cp-kubectl",
        &[
            "get",
            "serviceaccount,configmap",
            "-n",
            "default",
            "-o",
            "name",
        ],
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        names,
        "serviceaccount/default\nconfigmap/kube-root-ca.crt\n"
    );

    planes.shutdown().await;
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived shutdown");
    }
    assert_eq!(directories_of("cp-kubectl"), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_panic_while_control_planes_run_stops_their_processes_and_removes_their_files() {
    let Some(assets) = common::backend::real_assets(
        "a_panic_while_control_planes_run_stops_their_processes_and_removes_their_files",
    ) else {
        return;
    };
    let (sender, pids) = std::sync::mpsc::channel();
    let task = tokio::spawn(async move {
        let planes = ControlPlanes::start(ControlPlaneOptions {
            controller_manager: false,
            stand_ins: false,
            ..options(&["cp-panic"], assets)
        })
        .await
        .expect("control plane starts");
        sender.send(planes.pids()).unwrap();
        panic!("a test failing while its control planes run");
    });
    let failure = task.await.expect_err("the task panicked");
    assert!(failure.is_panic());
    let pids = pids.recv().unwrap();
    assert_eq!(
        pids.len(),
        2,
        "etcd and kube-apiserver, no controller-manager"
    );
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived the panic");
    }
    assert_eq!(directories_of("cp-panic"), Vec::<PathBuf>::new());
}

#[test]
fn an_assets_directory_without_the_binaries_is_named_with_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let error = find_assets(Some(dir.path())).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "etcd and kube-apiserver not found in {} (from --assets)",
            dir.path().display()
        )
    );
    // A file that is not executable does not count.
    std::fs::write(dir.path().join("kube-apiserver"), "").unwrap();
    let etcd = dir.path().join("etcd");
    std::fs::write(&etcd, "").unwrap();
    std::fs::set_permissions(&etcd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let error = find_assets(Some(dir.path())).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "kube-apiserver not found in {} (from --assets)",
            dir.path().display()
        )
    );
    std::fs::set_permissions(
        dir.path().join("kube-apiserver"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    assert_eq!(find_assets(Some(dir.path())).unwrap(), dir.path());
}
