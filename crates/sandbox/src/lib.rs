//! Sandbox clusters: local Kubernetes API servers over HTTPS on loopback, for tests and rehearsals.
//!
//! Each cluster is a separate HTTPS server on 127.0.0.1 with its own CA, token key and object store.
//! Nothing here depends on the rest of runner.
//!
//! Bodies are decoded, defaulted and validated as kube-apiserver v1.36 does it: built-in kinds
//! against their Go types (from the real server's OpenAPI, `schema/builtin.json`), custom resources
//! against their CRD's structural schema, each kind's rules in `validation/`. The differential
//! suite (`tests/differential.rs`) sends the same requests to the sandbox and to a real control
//! plane and fails on any difference not listed in `tests/differential/known-differences.yaml`.
//!
//! What differs from a real kube-apiserver (the suite's known differences, by id):
//!
//! | id | what differs | why |
//! |---|---|---|
//! | `deployment-status-simulated` | a Deployment's status reads fully available at once | nothing runs Pods; the sandbox stands in for the deployment controller |
//! | `yaml-1.1-booleans` | a plain `y`/`yes`/`on` in a YAML body is a string | YAML 1.2 is read; clients send JSON |
//! | `protobuf-responses` | JSON where the real server answers protobuf for built-in kinds | only JSON is encoded, and answered whenever the client accepts JSON |
//! | `protobuf-only-accept` | 406 for a client that accepts only protobuf | the real server answers 406 only for custom resources |
//! | `token-request-metadata` | a TokenRequest answer has no uid or managedFields; default audience `https://kubernetes.default.svc` | a real server's default audience is its issuer URL, different per cluster |
//! | `no-bootstrap-cluster-roles` | no `view`, `edit`, `admin` or `system:*` ClusterRoles | playbooks grant access with roles they create |
//! | `pod-admission` | a Pod gets no admission-time additions (ServiceAccount token volume, tolerations, priority) and no status | nothing runs Pods; templates in workloads are defaulted as on the real server |
//!
//! Beyond what the suite compares: no admission webhooks are called, no garbage collection by
//! ownerReferences, no Pods or ReplicaSets behind a Deployment; RBAC covers Roles, ClusterRoles
//! and their bindings (no aggregation rules, no non-resource URLs); protobuf request bodies are
//! decoded only for the kinds kubectl's typed `create` sends. `pods/exec` is answered as for a pod
//! no node runs, unless `ExecMode::Host` opts in to running commands on this host (`exec.rs`).

mod auth;
pub mod control_plane;
mod controllers;
mod core;
mod deprecation;
mod discovery;
mod error;
mod exec;
mod exec_scratch;
mod faults;
mod fields;
mod jsonpath;
mod managed;
mod meta;
mod negotiate;
mod openapi;
mod ops;
mod patch;
mod private_file;
mod protobuf;
mod rbac;
mod resources;
mod routes;
mod schema;
mod selectors;
mod server;
mod state;
mod status;
mod store;
mod table;
mod tls;
mod tokens;
mod validation;
mod watch;

pub use error::SandboxError;
pub use exec::ExecMode;
pub use faults::Faults;
pub use private_file::write_private;

use self::core::{ClusterCore, Inner};
use auth::TokenSigner;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use resources::Registry;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::Store;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// Namespaces every new cluster starts with, as a fresh real cluster has.
const INITIAL_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Cluster names; each becomes a kubeconfig context of the same name.
    pub clusters: Vec<String>,
    /// Keep objects (and CA/tokens, so the kubeconfig stays valid) across restarts.
    pub state_dir: Option<PathBuf>,
    /// Delay before a LoadBalancer Service gets its ingress.
    pub lb_delay: Duration,
    /// Give load balancers hostnames instead of IPs.
    pub lb_hostname: bool,
    /// Enforce RBAC for ServiceAccount tokens, as a real cluster does (default on).
    pub rbac: bool,
    /// Answer some requests with 500, 429 or a stall (`--faults`), from the start.
    pub faults: Option<Faults>,
    /// What `pods/exec` does: by default what a real server does for a pod no node runs;
    /// `ExecMode::Host` runs the command as a process of this host (`--exec host`).
    pub exec: ExecMode,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            clusters: vec!["cluster-1".into(), "cluster-2".into()],
            state_dir: None,
            lb_delay: Duration::from_millis(50),
            lb_hostname: false,
            rbac: true,
            faults: None,
            exec: ExecMode::default(),
        }
    }
}

/// One object in a sandbox cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InventoryEntry {
    pub cluster: String,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

pub struct SandboxCluster {
    core: Arc<ClusterCore>,
    tls: Arc<rustls::ServerConfig>,
    server: Mutex<Option<JoinHandle<()>>>,
    background: Vec<JoinHandle<()>>,
    state_dir: Option<PathBuf>,
}

pub struct Sandbox {
    clusters: Vec<SandboxCluster>,
    /// Held while the sandbox serves its `--state` directory.
    _state_lock: Option<std::fs::File>,
}

fn valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

impl Sandbox {
    pub async fn start(opts: SandboxOptions) -> Result<Sandbox, SandboxError> {
        if opts.clusters.is_empty() {
            return Err(SandboxError::NoClusters);
        }
        for (i, name) in opts.clusters.iter().enumerate() {
            if !valid_cluster_name(name) {
                return Err(SandboxError::InvalidClusterName(name.clone()));
            }
            if opts.clusters[..i].contains(name) {
                return Err(SandboxError::DuplicateCluster(name.clone()));
            }
        }
        let state_lock = match &opts.state_dir {
            Some(root) => Some(state::lock(root)?),
            None => None,
        };
        let mut clusters = Vec::new();
        for name in &opts.clusters {
            clusters.push(SandboxCluster::start(name, &opts).await?);
        }
        Ok(Sandbox {
            clusters,
            _state_lock: state_lock,
        })
    }

    pub fn kubeconfig_yaml(&self) -> String {
        serde_yaml::to_string(&self.kubeconfig_document()).unwrap_or_default()
    }

    /// The same kubeconfig, parsed: callers inside the process need not write and re-read YAML.
    pub fn kubeconfig(&self) -> Result<kube::config::Kubeconfig, SandboxError> {
        serde_json::from_value(self.kubeconfig_document())
            .map_err(|e| SandboxError::KubeconfigShape(e.to_string()))
    }

    fn kubeconfig_document(&self) -> Value {
        let clusters: Vec<_> = self
            .clusters
            .iter()
            .map(|c| {
                json!({"name": c.name(), "cluster": {
                    "server": c.server_url(),
                    "certificate-authority-data": STANDARD.encode(c.ca_pem()),
                }})
            })
            .collect();
        let users: Vec<_> = self
            .clusters
            .iter()
            .map(|c| json!({"name": format!("{}-admin", c.name()), "user": {"token": c.admin_token()}}))
            .collect();
        let contexts: Vec<_> = self
            .clusters
            .iter()
            .map(|c| {
                json!({"name": c.name(), "context": {
                    "cluster": c.name(), "user": format!("{}-admin", c.name()), "namespace": "default",
                }})
            })
            .collect();
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": clusters,
            "users": users,
            "contexts": contexts,
            "current-context": self.clusters.first().map(SandboxCluster::name).unwrap_or_default(),
        })
    }

    /// Writes the kubeconfig with mode 0600 (it holds admin tokens).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SandboxError> {
        private_file::write_private(path, self.kubeconfig_yaml().as_bytes()).map_err(|source| {
            SandboxError::Kubeconfig {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    pub fn cluster(&self, name: &str) -> Option<&SandboxCluster> {
        self.clusters.iter().find(|c| c.name() == name)
    }

    pub fn clusters(&self) -> impl Iterator<Item = &SandboxCluster> {
        self.clusters.iter()
    }

    pub fn inventory(&self) -> Vec<InventoryEntry> {
        let mut out = Vec::new();
        for cluster in &self.clusters {
            let inner = cluster.core.lock();
            for ((_, ns, name), entry) in inner.store.all() {
                out.push(InventoryEntry {
                    cluster: cluster.name().to_string(),
                    api_version: entry.value["apiVersion"].as_str().unwrap_or("").to_string(),
                    kind: entry.value["kind"].as_str().unwrap_or("").to_string(),
                    namespace: (!ns.is_empty()).then(|| ns.clone()),
                    name: name.clone(),
                });
            }
        }
        out.sort();
        out
    }

    pub async fn shutdown(self) {
        for cluster in &self.clusters {
            cluster.stop().await;
            cluster.flush_state();
        }
    }
}

impl SandboxCluster {
    async fn start(name: &str, opts: &SandboxOptions) -> Result<SandboxCluster, SandboxError> {
        let dir = opts
            .state_dir
            .as_ref()
            .map(|root| state::cluster_dir(root, name));
        let loaded = match &dir {
            Some(dir) => state::load(dir)?,
            None => None,
        };
        let (pki, signer, port, store, fresh) = match loaded {
            Some(l) => (
                l.pki,
                TokenSigner::new(name, l.token_key),
                l.port,
                Store::new(l.objects, l.resource_version),
                false,
            ),
            None => (
                tls::Pki::generate(name)?,
                TokenSigner::generate(name),
                0,
                Store::new(Vec::new(), 0),
                true,
            ),
        };
        let tls_config = pki.server_config(name)?;
        let listener = server::bind(name, port).await?;
        let port = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind {
                cluster: name.to_string(),
                addr: "127.0.0.1:0".into(),
                source,
            })?
            .port();
        if let Some(dir) = &dir {
            state::save_identity(dir, &pki, signer.secret(), port)?;
        }
        let exec = match opts.exec {
            ExecMode::Refuse => None,
            ExecMode::Host => Some(exec_scratch::HostExec::new(name).map_err(|source| {
                SandboxError::ExecScratch {
                    cluster: name.to_string(),
                    source,
                }
            })?),
        };
        let admin_token = signer.issue_at("system:admin", 0, None, json!({}));
        let (tasks_tx, tasks_rx) = mpsc::unbounded_channel();
        let mut inner = Inner {
            store,
            registry: Registry::new(&[]),
            applies: Default::default(),
        };
        inner.rebuild_registry();
        let core = Arc::new(ClusterCore {
            name: name.to_string(),
            inner: Mutex::new(inner),
            signer,
            pki,
            admin_token,
            faults: Mutex::new(
                opts.faults
                    .clone()
                    .map(|f| Arc::new(faults::Injector::new(f, name))),
            ),
            lb_hostname: AtomicBool::new(opts.lb_hostname),
            lb_delay: opts.lb_delay,
            lb_counter: AtomicU32::new(0),
            port: AtomicU16::new(port),
            rbac: opts.rbac,
            exec,
            tasks: tasks_tx,
            changed: Notify::new(),
            connections: AtomicU64::new(0),
        });
        if fresh {
            bootstrap(&core);
        } else {
            controllers::resume(&core);
        }
        let mut background = vec![tokio::spawn(controllers::run(core.clone(), tasks_rx))];
        if let Some(dir) = &dir {
            background.push(tokio::spawn(state::persist_loop(core.clone(), dir.clone())));
            core.changed.notify_one();
        }
        let server = server::serve(core.clone(), listener, tls_config.clone());
        Ok(SandboxCluster {
            core,
            tls: tls_config,
            server: Mutex::new(Some(server)),
            background,
            state_dir: dir,
        })
    }

    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// TLS connections this cluster has accepted since it started.
    pub fn connections(&self) -> u64 {
        self.core.connections.load(Ordering::Relaxed)
    }

    pub fn server_url(&self) -> String {
        format!(
            "https://127.0.0.1:{}",
            self.core.port.load(Ordering::Relaxed)
        )
    }

    pub fn ca_pem(&self) -> &str {
        &self.core.pki.ca_pem
    }

    pub fn admin_token(&self) -> &str {
        &self.core.admin_token
    }

    /// From now on, answer the given shares of requests with 500, 429 or a stall.
    pub fn set_faults(&self, f: Faults) {
        let injector = Arc::new(faults::Injector::new(f, &self.core.name));
        *self
            .core
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(injector);
    }

    pub fn clear_faults(&self) {
        *self
            .core
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Stops listening and drops every open connection; objects are kept.
    pub async fn stop(&self) {
        let handle = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            handle.abort();
            let _ = handle.await;
        }
    }

    /// Serves again on the same port with the same objects.
    pub async fn restart(&self) -> Result<(), SandboxError> {
        self.stop().await;
        let port = self.core.port.load(Ordering::Relaxed);
        let listener = server::bind(self.name(), port).await?;
        let handle = server::serve(self.core.clone(), listener, self.tls.clone());
        *self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
        Ok(())
    }

    pub fn set_lb_hostname(&self, on: bool) {
        self.core.lb_hostname.store(on, Ordering::Relaxed);
    }

    fn flush_state(&self) {
        if let Some(dir) = &self.state_dir {
            if let Err(e) = state::save_objects(&self.core, dir, u64::MAX) {
                tracing::warn!(
                    target: "runner::sandbox",
                    "sandbox cluster {}: {}",
                    self.name(),
                    e.with_causes()
                );
            }
        }
    }
}

impl Drop for SandboxCluster {
    fn drop(&mut self) {
        if let Some(handle) = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            handle.abort();
        }
        for task in &self.background {
            task.abort();
        }
    }
}

fn bootstrap(core: &ClusterCore) {
    let mut inner = core.lock();
    let now = meta::now_rfc3339();
    for ns in INITIAL_NAMESPACES {
        let obj = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "uid": meta::new_uid(), "creationTimestamp": now,
                "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        inner.store.put("/namespaces", obj);
        ops::populate_namespace(core, &mut inner, ns);
    }
}
