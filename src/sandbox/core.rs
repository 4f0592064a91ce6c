//! The shared state of one sandbox cluster, independent of whether its server is listening.
use super::auth::TokenSigner;
use super::faults::Faults;
use super::resources::Registry;
use super::store::Store;
use super::tls::Pki;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

pub const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// Work for the controllers, queued by writes.
#[derive(Debug, Clone)]
pub enum ControllerTask {
    LoadBalancer { namespace: String, name: String },
    Deployment { namespace: String, name: String },
    Crd { name: String },
    ServiceAccountTokenSecret { namespace: String, name: String },
}

pub struct Inner {
    pub store: Store,
    pub registry: Registry,
}

impl Inner {
    pub fn rebuild_registry(&mut self) {
        let crds: Vec<Value> = self
            .store
            .list(CRD_KEY, None)
            .map(|e| e.value.clone())
            .collect();
        self.registry = Registry::new(&crds);
    }
}

pub struct ClusterCore {
    pub name: String,
    pub inner: Mutex<Inner>,
    pub signer: TokenSigner,
    pub pki: Pki,
    pub admin_token: String,
    pub faults: Mutex<Option<Faults>>,
    pub lb_hostname: AtomicBool,
    pub lb_delay: Duration,
    pub lb_counter: AtomicU32,
    pub port: AtomicU16,
    /// Enforce RBAC for ServiceAccount tokens (the admin token is always cluster-admin).
    pub rbac: bool,
    pub tasks: mpsc::UnboundedSender<ControllerTask>,
    /// Signalled after every committed change, for the state writer.
    pub changed: Notify,
}

impl ClusterCore {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn queue(&self, tasks: Vec<ControllerTask>) {
        for task in tasks {
            // The controller loop lives as long as the cluster; a closed queue means shutdown.
            let _ = self.tasks.send(task);
        }
    }
}
