use std::path::PathBuf;

/// Where runner looked for the control-plane binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetsSource {
    /// `--assets DIR` (or `ControlPlaneOptions::assets`).
    Flag,
    /// The `KUBEBUILDER_ASSETS` environment variable, as controller-runtime's envtest reads it.
    Environment,
}

impl std::fmt::Display for AssetsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AssetsSource::Flag => "--assets",
            AssetsSource::Environment => "KUBEBUILDER_ASSETS",
        })
    }
}

/// Everything that can go wrong finding, starting or describing a real control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    #[error("no control-plane binaries: --assets is not given and KUBEBUILDER_ASSETS is not set")]
    AssetsUnset,
    #[error("{} not found in {} (from {from})", .missing.join(" and "), .dir.display())]
    AssetsMissing {
        missing: Vec<&'static str>,
        dir: PathBuf,
        from: AssetsSource,
    },
    #[error("a control plane needs at least one cluster name")]
    NoClusters,
    #[error("cluster name {0:?} is given twice")]
    DuplicateCluster(String),
    #[error("cluster name {0:?} is not a valid kubeconfig context name (use lowercase letters, digits and '-')")]
    InvalidClusterName(String),
    #[error("cluster {cluster}: cannot create certificates: {message}")]
    Certificate { cluster: String, message: String },
    #[error("cluster {cluster}: cannot {action}")]
    Io {
        cluster: String,
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cluster {cluster}: {component} exited during start-up ({status}); the end of its log:\n{log_tail}")]
    Exited {
        cluster: String,
        component: &'static str,
        status: String,
        log_tail: String,
    },
    #[error("cluster {cluster}: {component} was not ready after {seconds} s ({last}); the end of its log:\n{log_tail}")]
    NotReady {
        cluster: String,
        component: &'static str,
        seconds: u64,
        last: String,
        log_tail: String,
    },
    #[error("cluster {cluster}: cannot list what it holds: {message}")]
    Inventory { cluster: String, message: String },
    #[error("cannot write kubeconfig {path}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("internal error: the control-plane kubeconfig does not parse: {0}")]
    KubeconfigShape(String),
}

/// What to do about the assets errors.
pub const ASSETS_HINT: &str = "point --assets or KUBEBUILDER_ASSETS at a directory holding etcd, kube-apiserver and kube-controller-manager (the layout controller-runtime's setup-envtest installs)";

impl ControlPlaneError {
    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ControlPlaneError::AssetsUnset | ControlPlaneError::AssetsMissing { .. } => {
                Some(ASSETS_HINT)
            }
            _ => None,
        }
    }
}
