//! One cluster of a play: its kubeconfig context, one client and one discovery cache.

use kube::api::DynamicObject;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

use std::sync::Mutex;

use super::kinds::{Kinds, Resolved};
use super::plan::Planned;
use super::transport::{Transports, Upgrades};
use super::Session;
use crate::error::{HostError, HostResult};

pub struct Cluster {
    name: String,
    context: String,
    server: String,
    namespace: String,
    pub(super) client: Client,
    /// The client for commands in pods, whose connections become WebSockets.
    pub(super) upgrades: Upgrades,
    pub(super) kinds: Kinds,
    /// The kubeconfig this cluster came from (preflight checks, rehearsal detection).
    kubeconfig: Kubeconfig,
    /// Namespaces and CRD groups a dry run would have created so far.
    planned: Mutex<Planned>,
    /// The objects a dry run would create, change or delete, as later reads should see them.
    pub(super) overlay: super::plan::Overlay,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("context", &self.context)
            .field("server", &self.server)
            .finish()
    }
}

impl Cluster {
    /// Builds the client for `context` of `kubeconfig` (must run inside the tokio runtime).
    pub async fn connect(
        name: &str,
        context: &str,
        kubeconfig: Kubeconfig,
        transports: &Transports,
    ) -> HostResult<Cluster> {
        let mut kubeconfig = kubeconfig;
        let plugin = super::exec_plugin::resolve(&mut kubeconfig, context)
            .await
            .map_err(|e| e.context(format!("cluster {name:?}: cannot get credentials")))?;
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            cluster: None,
            user: None,
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
            .await
            .map_err(|e| {
                HostError::from_error(&e).context(format!(
                    "cluster {name:?}: cannot use kubeconfig context {context:?}"
                ))
            })?;
        // Retries are ours (bounded, with one clear error at the end).
        config.default_retry = false;
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let namespace = config.default_namespace.clone();
        let upgrades = transports.upgrades(config.clone(), plugin.clone());
        let client = transports
            .client_refreshed_by(config, plugin)
            .map_err(|e| {
                HostError::from_error(&e).context(format!(
                    "cluster {name:?}: cannot create a client for {server}"
                ))
            })?;
        Ok(Cluster {
            name: name.to_string(),
            context: context.to_string(),
            server,
            namespace,
            kinds: Kinds::new(name, client.clone()),
            client,
            upgrades,
            kubeconfig,
            planned: Mutex::new(Planned::default()),
            overlay: Default::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn context(&self) -> &str {
        &self.context
    }
    pub fn server(&self) -> &str {
        &self.server
    }
    /// The context's namespace, or "default".
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    pub fn kubeconfig(&self) -> &Kubeconfig {
        &self.kubeconfig
    }

    /// Says which cluster is about to change (once per run).
    pub(super) fn announce(&self, session: &Session<'_>) {
        session
            .reporter
            .target(&self.name, &self.context, &self.server);
    }

    pub(super) fn planned(&self) -> Planned {
        self.planned.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub(super) fn remember_planned(&self, planned: &Planned) {
        if let Ok(mut current) = self.planned.lock() {
            *current = planned.clone();
        }
    }

    pub async fn resolve(&self, kind: &str) -> HostResult<Resolved> {
        self.kinds.resolve(kind).await
    }

    /// The namespace an object of `resolved` lives in: none for cluster-scoped kinds, the
    /// context's namespace when `namespace` is empty.
    pub(super) fn namespace_for(
        &self,
        resolved: &Resolved,
        namespace: Option<&str>,
    ) -> Option<String> {
        if !resolved.namespaced {
            return None;
        }
        match namespace {
            Some(ns) if !ns.is_empty() => Some(ns.to_string()),
            _ => Some(self.namespace.clone()),
        }
    }

    pub(super) fn api(&self, resolved: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resolved.resource),
            None => Api::all_with(self.client.clone(), &resolved.resource),
        }
    }
}
