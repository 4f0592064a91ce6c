//! Finding the control-plane binaries the way controller-runtime's envtest does: one directory,
//! named by `KUBEBUILDER_ASSETS` unless runner is given one.

use std::path::{Path, PathBuf};

use super::error::AssetsSource;
use super::ControlPlaneError;

pub const ASSETS_VARIABLE: &str = "KUBEBUILDER_ASSETS";

/// The binaries of one assets directory.
#[derive(Debug, Clone)]
pub(super) struct Assets {
    pub dir: PathBuf,
    pub etcd: PathBuf,
    pub apiserver: PathBuf,
    /// Optional: envtest directories usually lack it.
    pub controller_manager: Option<PathBuf>,
}

/// The assets directory: `explicit` (from `--assets`) if given, else `KUBEBUILDER_ASSETS`. It
/// must hold executable `etcd` and `kube-apiserver`.
pub fn find_assets(explicit: Option<&Path>) -> Result<PathBuf, ControlPlaneError> {
    locate(explicit).map(|assets| assets.dir)
}

pub(crate) fn locate(explicit: Option<&Path>) -> Result<Assets, ControlPlaneError> {
    let (dir, source) = match explicit {
        Some(dir) => (dir.to_path_buf(), AssetsSource::Flag),
        None => match std::env::var_os(ASSETS_VARIABLE) {
            Some(dir) if !dir.is_empty() => (PathBuf::from(dir), AssetsSource::Environment),
            _ => return Err(ControlPlaneError::AssetsUnset),
        },
    };
    let missing: Vec<&'static str> = ["etcd", "kube-apiserver"]
        .into_iter()
        .filter(|binary| !is_executable(&dir.join(binary)))
        .collect();
    if !missing.is_empty() {
        return Err(ControlPlaneError::AssetsMissing {
            missing,
            dir,
            from: source,
        });
    }
    let controller_manager = Some(dir.join("kube-controller-manager")).filter(|p| is_executable(p));
    Ok(Assets {
        etcd: dir.join("etcd"),
        apiserver: dir.join("kube-apiserver"),
        controller_manager,
        dir,
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
