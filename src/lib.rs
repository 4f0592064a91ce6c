//! runner: Rhai playbooks for joining Kubernetes clusters into an Istio primary-remote mesh.

pub mod certs;
