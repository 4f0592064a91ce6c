//! The real control plane the scenarios are compared against.
use std::path::Path;

pub struct Real {
    kubeconfig: kube::config::Kubeconfig,
}

impl Real {
    pub fn kubeconfig(&self) -> kube::config::Kubeconfig {
        self.kubeconfig.clone()
    }

    pub async fn shutdown(self) {}
}

pub async fn start(_assets: &Path) -> Real {
    let path = std::env::var("DIFFERENTIAL_KUBECONFIG").expect("interim: DIFFERENTIAL_KUBECONFIG");
    Real {
        kubeconfig: kube::config::Kubeconfig::read_from(path).expect("kubeconfig"),
    }
}
