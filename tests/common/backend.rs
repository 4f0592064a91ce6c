//! The two backends every Kubernetes test runs on: runner's built-in sandbox, and real control
//! planes (etcd, kube-apiserver, kube-controller-manager) from `KUBEBUILDER_ASSETS`. A test body
//! is written once, taking a `Backend`, and instantiated for both by `on_both_backends!`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use runner_sandbox::control_plane::{ControlPlaneOptions, ControlPlanes};
use runner_sandbox::{Sandbox, SandboxOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// runner's own API server, in this process.
    Sandbox,
    /// Real kube-apiservers started from `KUBEBUILDER_ASSETS`.
    RealControlPlane,
}

/// The assets directory for real control planes, or None after printing that `test` is skipped
/// and why. The line goes straight to stderr, past the test harness's capture, so that a run
/// without the binaries says what it did not test.
pub(crate) fn real_assets(test: &str) -> Option<PathBuf> {
    match std::env::var_os(runner_sandbox::control_plane::ASSETS_VARIABLE) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {test} on a real control plane: KUBEBUILDER_ASSETS is not set (see README, Quickstart: point it at a directory holding etcd and kube-apiserver)"
            );
            None
        }
    }
}

/// Running clusters of either backend.
pub(crate) enum Clusters {
    Sandbox(Sandbox),
    RealControlPlane {
        planes: ControlPlanes,
        _slots: Slots,
    },
}

impl Backend {
    /// Whether `test` can run on this backend; if not, says so on stderr.
    pub(crate) fn available(self, test: &str) -> bool {
        self == Backend::Sandbox || real_assets(test).is_some()
    }

    /// Starts one cluster per name. Call it only for an available backend (the
    /// `on_both_backends!` wrappers skip the real one when its binaries are not there).
    pub(crate) async fn start(self, names: &[&str]) -> Clusters {
        let clusters: Vec<String> = names.iter().map(std::string::ToString::to_string).collect();
        let started = match self {
            Backend::Sandbox => {
                return start_sandbox(SandboxOptions {
                    clusters,
                    lb_delay: Duration::from_millis(20),
                    ..Default::default()
                })
                .await
            }
            Backend::RealControlPlane => {
                let slots = Slots::take(names.len());
                let planes = ControlPlanes::start(ControlPlaneOptions {
                    clusters,
                    ..Default::default()
                })
                .await
                .expect("real control planes start (KUBEBUILDER_ASSETS)");
                Clusters::RealControlPlane {
                    planes,
                    _slots: slots,
                }
            }
        };
        super::leaks::register_kubeconfig(&started.kubeconfig_yaml());
        started
    }
}

/// A sandbox started with options of the test's own (no RBAC, slow load balancers).
pub(crate) async fn start_sandbox(options: SandboxOptions) -> Clusters {
    let started = Clusters::Sandbox(Sandbox::start(options).await.expect("sandbox starts"));
    super::leaks::register_kubeconfig(&started.kubeconfig_yaml());
    started
}

impl Clusters {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Clusters::Sandbox(_) => Backend::Sandbox,
            Clusters::RealControlPlane { .. } => Backend::RealControlPlane,
        }
    }

    pub(crate) fn write_kubeconfig(&self, path: &Path) {
        match self {
            Clusters::Sandbox(sandbox) => sandbox.write_kubeconfig(path).expect("kubeconfig"),
            Clusters::RealControlPlane { planes, .. } => {
                planes.write_kubeconfig(path).expect("kubeconfig");
            }
        }
    }

    pub(crate) fn kubeconfig_yaml(&self) -> String {
        match self {
            Clusters::Sandbox(sandbox) => sandbox.kubeconfig_yaml(),
            Clusters::RealControlPlane { planes, .. } => {
                serde_yaml::to_string(&planes.kubeconfig()).expect("kubeconfig as YAML")
            }
        }
    }

    /// The sandbox, for what only it offers (fault injection, connection counts).
    pub(crate) fn sandbox(&self) -> Option<&Sandbox> {
        match self {
            Clusters::Sandbox(sandbox) => Some(sandbox),
            Clusters::RealControlPlane { .. } => None,
        }
    }

    /// Stops every cluster's API server: clients then find nothing listening.
    pub(crate) async fn stop(&mut self) {
        match self {
            Clusters::Sandbox(sandbox) => {
                for cluster in sandbox.clusters() {
                    cluster.stop().await;
                }
            }
            Clusters::RealControlPlane { planes, .. } => planes.stop().await,
        }
    }

    /// From now on, LoadBalancer Services get hostnames instead of IPs.
    pub(crate) fn set_lb_hostname(&self, cluster: &str, on: bool) {
        match self {
            Clusters::Sandbox(sandbox) => sandbox
                .cluster(cluster)
                .expect("sandbox cluster")
                .set_lb_hostname(on),
            Clusters::RealControlPlane { planes, .. } => planes.set_lb_hostname(on),
        }
    }
}

/// How many real clusters one test process runs at once (each takes about 450 MB, and the
/// harness runs tests in parallel); a test needing more waits until others finish.
const MAX_REAL_CLUSTERS: usize = 4;

static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// Room for some real clusters, given back when dropped.
pub(crate) struct Slots(usize);

impl Slots {
    fn take(count: usize) -> Slots {
        let mut running = RUNNING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A test needing more than the maximum runs alone.
        while *running > 0 && *running + count > MAX_REAL_CLUSTERS {
            running = FREED
                .wait(running)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *running += count;
        Slots(count)
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        let mut running = RUNNING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *running -= self.0;
        FREED.notify_all();
    }
}

/// Writes a test body once and runs it on both backends: `on_both_backends!(async name, ...)`
/// for `async fn name(backend: Backend)` bodies, `on_both_backends!(sync name, ...)` for plain
/// `fn name(backend: Backend)`. Each becomes a module `name` with tests `sandbox` and
/// `real_control_plane`; the latter passes after saying why when `KUBEBUILDER_ASSETS` is unset.
/// `Backend` must be in scope where it is used.
#[macro_export]
macro_rules! on_both_backends {
    (async $($name:ident),+ $(,)?) => {$(
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sandbox() {
                super::$name(Backend::Sandbox).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn real_control_plane() {
                if Backend::RealControlPlane.available(concat!(stringify!($name), "::real_control_plane")) {
                    super::$name(Backend::RealControlPlane).await
                }
            }
        }
    )+};
    (sync $($name:ident),+ $(,)?) => {$(
        mod $name {
            use super::*;
            #[test]
            fn sandbox() {
                super::$name(Backend::Sandbox)
            }
            #[test]
            fn real_control_plane() {
                if Backend::RealControlPlane.available(concat!(stringify!($name), "::real_control_plane")) {
                    super::$name(Backend::RealControlPlane)
                }
            }
        }
    )+};
}
