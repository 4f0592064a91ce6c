//! The real control plane the scenarios are compared against: one kube-apiserver v1.36 with etcd
//! and kube-controller-manager (namespace deletion, ServiceAccounts), started once per run from
//! `KUBEBUILDER_ASSETS`. `DIFFERENTIAL_KUBECONFIG` names an already running server instead, for
//! iterating on scenarios without restarting one each time.
use runner_sandbox::control_plane::{ControlPlaneOptions, ControlPlanes};
use std::path::Path;

pub(crate) enum Real {
    Started(ControlPlanes),
    Running(kube::config::Kubeconfig),
}

impl Real {
    pub(crate) fn kubeconfig(&self) -> kube::config::Kubeconfig {
        match self {
            Real::Started(planes) => planes.kubeconfig(),
            Real::Running(kubeconfig) => kubeconfig.clone(),
        }
    }

    pub(crate) async fn shutdown(self) {
        if let Real::Started(planes) = self {
            planes.shutdown().await;
        }
    }
}

pub(crate) async fn start(assets: &Path) -> Real {
    if let Some(path) = std::env::var_os("DIFFERENTIAL_KUBECONFIG") {
        let kubeconfig = kube::config::Kubeconfig::read_from(&path)
            .unwrap_or_else(|e| panic!("DIFFERENTIAL_KUBECONFIG {path:?}: {e}"));
        return Real::Running(kubeconfig);
    }
    let planes = ControlPlanes::start(ControlPlaneOptions {
        clusters: vec!["real".into()],
        assets: Some(assets.to_path_buf()),
        controller_manager: true,
        // The scenarios compare what the API server itself answers; no stand-ins.
        stand_ins: false,
    })
    .await
    .unwrap_or_else(|e| panic!("real control plane from {}: {e}", assets.display()));
    Real::Started(planes)
}
