//! Real Kubernetes control planes beside the built-in sandbox: etcd, kube-apiserver and (when the
//! assets directory has it) kube-controller-manager, one set per cluster name, on free loopback
//! ports. The binaries come from `--assets DIR` or `KUBEBUILDER_ASSETS`, as with
//! controller-runtime's envtest. Everything is stopped and removed when the `ControlPlanes` is
//! shut down or dropped (also while a panic unwinds, and after Ctrl-C ends the program's wait).

mod assets;
mod cluster;
mod error;
mod inventory;
mod pki;
mod process;
mod stand_ins;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kube::config::Kubeconfig;

pub use assets::{find_assets, ASSETS_VARIABLE};
pub use error::{AssetsSource, ControlPlaneError, ASSETS_HINT};
pub use process::stop_all_now;

use cluster::Cluster;

/// Which control planes to start, and from which binaries.
#[derive(Debug, Clone)]
pub struct ControlPlaneOptions {
    /// Cluster names; each becomes a kubeconfig context.
    pub clusters: Vec<String>,
    /// The directory holding the binaries; `KUBEBUILDER_ASSETS` when None.
    pub assets: Option<PathBuf>,
    /// Run kube-controller-manager when the assets directory has it (ServiceAccount tokens,
    /// namespace deletion, garbage collection, root CA ConfigMaps).
    pub controller_manager: bool,
    /// Play the node-side parts through the status subresource: LoadBalancer Services get an
    /// address, Deployments become available.
    pub stand_ins: bool,
}

impl Default for ControlPlaneOptions {
    fn default() -> Self {
        ControlPlaneOptions {
            clusters: Vec::new(),
            assets: None,
            controller_manager: true,
            stand_ins: true,
        }
    }
}

/// Running control planes, one per cluster name.
pub struct ControlPlanes {
    /// Aborted before the clusters stop, so that no stand-in talks to a stopping server.
    stand_ins: Vec<tokio::task::JoinHandle<()>>,
    lb_hostname: Arc<AtomicBool>,
    clusters: Vec<Cluster>,
}

/// Attempts per cluster: another program may take a free port before a component binds it.
const ATTEMPTS: usize = 3;

/// How the temporary directory of each control plane begins (then its cluster name).
const DIRECTORY_PREFIX: &str = "runner-control-plane-";

impl ControlPlanes {
    /// Starts every cluster's control plane, in parallel, and returns once each one's API
    /// server is ready (and its controller-manager has made the `default` ServiceAccount).
    pub async fn start(options: ControlPlaneOptions) -> Result<ControlPlanes, ControlPlaneError> {
        Self::start_with(options, false).await
    }

    /// Like `start`, and each API server keeps an audit log of every write (method, request URI
    /// with its query parameters, user, answer code): for tests of what runner sends.
    pub async fn start_audited(
        options: ControlPlaneOptions,
    ) -> Result<ControlPlanes, ControlPlaneError> {
        Self::start_with(options, true).await
    }

    async fn start_with(
        options: ControlPlaneOptions,
        audit: bool,
    ) -> Result<ControlPlanes, ControlPlaneError> {
        check_names(&options.clusters)?;
        let assets = assets::locate(options.assets.as_deref())?;
        process::sweep_abandoned(DIRECTORY_PREFIX);
        let starting = options.clusters.iter().map(|name| {
            let assets = &assets;
            async move {
                let mut attempt = 1;
                loop {
                    match Cluster::start(name, assets, options.controller_manager, audit).await {
                        Err(ControlPlaneError::Exited { .. }) if attempt < ATTEMPTS => attempt += 1,
                        result => return result,
                    }
                }
            }
        });
        // On an error, the clusters that did start are dropped here, which stops them.
        let clusters = futures::future::try_join_all(starting).await?;
        let mut stand_ins = Vec::new();
        let lb_hostname = Arc::new(AtomicBool::new(false));
        if options.stand_ins {
            for cluster in &clusters {
                let client = cluster.client().await?;
                stand_ins.push(tokio::spawn(stand_ins::run(client, lb_hostname.clone())));
            }
        }
        Ok(ControlPlanes {
            stand_ins,
            lb_hostname,
            clusters,
        })
    }

    /// One context per cluster, named after it, with admin credentials (a client certificate
    /// in group system:masters); the first cluster's context is current.
    pub fn kubeconfig(&self) -> Kubeconfig {
        cluster::kubeconfig_of(&self.clusters)
    }

    /// Writes the kubeconfig, readable by its owner only: it holds the admin keys.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), ControlPlaneError> {
        let text = serde_yaml::to_string(&self.kubeconfig())
            .map_err(|e| ControlPlaneError::KubeconfigShape(e.to_string()))?;
        crate::write_private(path, text.as_bytes()).map_err(|source| {
            ControlPlaneError::Kubeconfig {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    pub fn server_url(&self, cluster: &str) -> Option<String> {
        self.cluster(cluster).map(|c| c.server_url.clone())
    }

    /// The cluster names, in the order given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.clusters.iter().map(|c| c.name.as_str())
    }

    /// Every object in every cluster (Events aside), sorted.
    pub async fn inventory(&self) -> Result<Vec<crate::InventoryEntry>, ControlPlaneError> {
        let mut entries = Vec::new();
        for cluster in &self.clusters {
            let client = cluster.client().await?;
            entries.extend(inventory::objects(&cluster.name, client).await?);
        }
        entries.sort();
        Ok(entries)
    }

    /// The audit log of a cluster started with `start_audited` (JSON lines, one per write).
    pub fn audit_log(&self, cluster: &str) -> Option<PathBuf> {
        self.cluster(cluster).map(Cluster::audit_log)
    }

    /// The PEM certificate of a cluster's CA (which signed its serving certificate).
    pub fn ca_pem(&self, cluster: &str) -> Option<&str> {
        self.cluster(cluster).map(|c| c.ca_pem.as_str())
    }

    /// The process ids of every running component, for checks that nothing outlives them.
    pub fn pids(&self) -> Vec<u32> {
        self.clusters.iter().flat_map(Cluster::pids).collect()
    }

    /// From now on, LoadBalancer Services get hostnames instead of IPs (as on some clouds).
    pub fn set_lb_hostname(&self, on: bool) {
        self.lb_hostname.store(on, Ordering::Relaxed);
    }

    /// Stops every component and removes every file.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// Stops every component now; the files go when this is dropped. Clients then find no
    /// server at the clusters' addresses, as after a crash.
    pub async fn stop(&mut self) {
        for task in self.stand_ins.drain(..) {
            task.abort();
        }
        let stopping = self.clusters.iter_mut().map(Cluster::stop);
        futures::future::join_all(stopping).await;
    }

    fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }
}

impl Drop for ControlPlanes {
    fn drop(&mut self) {
        for task in &self.stand_ins {
            task.abort();
        }
        // The clusters drop next: each component kills its process group and reaps it.
    }
}

/// The kubeconfig extension that marks a cluster as a rehearsal cluster runner started. A real
/// kube-apiserver cannot say so itself (the built-in sandbox says it in its version), and
/// playbooks choose their rehearsal stand-ins (`is_sandbox`) by it.
pub const REHEARSAL_EXTENSION: &str = "runner-rehearsal";

fn rehearsal_marker() -> kube::config::NamedExtension {
    kube::config::NamedExtension {
        name: REHEARSAL_EXTENSION.to_string(),
        extension: serde_json::json!({"controlPlane": "real", "startedBy": "runner"}),
    }
}

/// Whether a kubeconfig's clusters were started by runner for a rehearsal.
pub fn is_rehearsal(kubeconfig: &Kubeconfig) -> bool {
    let marked = |c: &kube::config::NamedCluster| {
        c.cluster
            .as_ref()
            .and_then(|c| c.extensions.as_ref())
            .is_some_and(|e| e.iter().any(|e| e.name == REHEARSAL_EXTENSION))
    };
    !kubeconfig.clusters.is_empty() && kubeconfig.clusters.iter().all(marked)
}

fn check_names(names: &[String]) -> Result<(), ControlPlaneError> {
    if names.is_empty() {
        return Err(ControlPlaneError::NoClusters);
    }
    for (i, name) in names.iter().enumerate() {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-');
        if !valid {
            return Err(ControlPlaneError::InvalidClusterName(name.clone()));
        }
        if names[..i].contains(name) {
            return Err(ControlPlaneError::DuplicateCluster(name.clone()));
        }
    }
    Ok(())
}
