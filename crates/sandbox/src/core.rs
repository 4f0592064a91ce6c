//! The shared state of one sandbox cluster, independent of whether its server is listening.
use super::auth::TokenSigner;
use super::faults::Injector;
use super::resources::Registry;
use super::store::{ObjKey, Store};
use super::tls::Pki;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

pub(crate) const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// Work for the controllers, queued by writes.
#[derive(Debug, Clone)]
pub(crate) enum ControllerTask {
    LoadBalancer { namespace: String, name: String },
    Deployment { namespace: String, name: String },
    Crd { name: String },
    ServiceAccountTokenSecret { namespace: String, name: String },
    NamespaceCleanup { name: String },
}

pub(crate) struct Inner {
    pub store: Store,
    pub registry: Registry,
    /// The last server-side apply of each object, for answering its exact repeat at once.
    pub applies: HashMap<ObjKey, LastApply>,
}

/// A server-side apply that left its object at `rv`. Applying is idempotent, so the same body
/// from the same manager to the object still at `rv` changes nothing and needs no merge.
pub(crate) struct LastApply {
    pub rv: u64,
    pub manager: String,
    pub subresource: Option<String>,
    pub body: Vec<u8>,
}

impl Inner {
    /// Removes an object and what the server remembers of its last apply.
    pub(crate) fn remove_object(&mut self, key: &ObjKey) -> Option<Value> {
        self.applies.remove(key);
        self.store.remove(key)
    }

    pub(crate) fn rebuild_registry(&mut self) {
        let crds: Vec<Value> = self
            .store
            .list(CRD_KEY, None)
            .map(|e| e.value.clone())
            .collect();
        self.registry = Registry::new(&crds);
    }
}

pub(crate) struct ClusterCore {
    pub name: String,
    pub inner: Mutex<Inner>,
    pub signer: TokenSigner,
    pub pki: Pki,
    pub admin_token: String,
    pub faults: Mutex<Option<Arc<Injector>>>,
    pub lb_hostname: AtomicBool,
    pub lb_delay: Duration,
    pub lb_counter: AtomicU32,
    pub port: AtomicU16,
    /// Enforce RBAC for ServiceAccount tokens (the admin token is always cluster-admin).
    pub rbac: bool,
    /// Where `pods/exec` runs commands (`ExecMode::Host`); None: nowhere, as without a node.
    pub exec: Option<super::exec_scratch::HostExec>,
    pub tasks: mpsc::UnboundedSender<ControllerTask>,
    /// Signalled after every committed change, for the state writer.
    pub changed: Notify,
    /// TLS connections accepted so far (clients that multiplex show one per client).
    pub connections: AtomicU64,
}

impl ClusterCore {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn queue(&self, tasks: Vec<ControllerTask>) {
        for task in tasks {
            // The controller loop lives as long as the cluster; a closed queue means shutdown.
            let _ = self.tasks.send(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removing_an_object_forgets_its_last_apply() {
        let mut inner = Inner {
            store: Store::new(Vec::new(), 0),
            registry: Registry::new(&[]),
            applies: HashMap::new(),
        };
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "c", "namespace": "default"}});
        inner.store.put("configmaps", object);
        let key: ObjKey = ("configmaps".into(), "default".into(), "c".into());
        let rv = inner.store.get(&key).expect("stored").rv;
        inner.applies.insert(
            key.clone(),
            LastApply {
                rv,
                manager: "runner".into(),
                subresource: None,
                body: b"{}".to_vec(),
            },
        );
        assert!(inner.remove_object(&key).is_some());
        assert!(inner.store.get(&key).is_none());
        assert!(inner.applies.is_empty());
    }
}
