//! `runner play --sandbox`: sandbox clusters started on demand for every cluster the playbook
//! names, so a play can be rehearsed without touching a real cluster. They are runner's built-in
//! sandbox (in-process), or with `--control-plane real` real control planes (etcd,
//! kube-apiserver, kube-controller-manager) started from `--assets` or `KUBEBUILDER_ASSETS`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kube::config::Kubeconfig;

use crate::error::{HostError, HostResult};
use crate::k8s::Provisioner;
use crate::report::Reporter;
use runner_sandbox::control_plane::{ControlPlaneError, ControlPlaneOptions, ControlPlanes};
use runner_sandbox::{InventoryEntry, Sandbox, SandboxOptions};

/// What a rehearsal's clusters are.
#[derive(Debug, Clone, PartialEq)]
pub enum RehearsalBackend {
    /// runner's own API server, in-process, answering with `faults` when given (`--faults`).
    Builtin {
        faults: Option<runner_sandbox::Faults>,
    },
    /// Real control planes from this assets directory (checked before the play starts).
    Real { assets: PathBuf },
}

/// One started rehearsal cluster.
enum Started {
    Sandbox(Sandbox),
    Real {
        planes: ControlPlanes,
        /// What the cluster held when it was ready: reported as what every new cluster holds.
        baseline: BTreeSet<InventoryEntry>,
    },
}

impl Started {
    async fn start(name: &str, backend: &RehearsalBackend) -> HostResult<Started> {
        let failed = |e: &(dyn std::error::Error + 'static)| {
            HostError::from_error(e).context(format!("cannot start sandbox cluster {name:?}"))
        };
        match backend {
            RehearsalBackend::Builtin { faults } => {
                let options = SandboxOptions {
                    clusters: vec![name.to_string()],
                    faults: faults.clone(),
                    ..SandboxOptions::default()
                };
                Ok(Started::Sandbox(
                    Sandbox::start(options).await.map_err(|e| failed(&e))?,
                ))
            }
            RehearsalBackend::Real { assets } => {
                let planes = ControlPlanes::start(ControlPlaneOptions {
                    clusters: vec![name.to_string()],
                    assets: Some(assets.clone()),
                    ..ControlPlaneOptions::default()
                })
                .await
                .map_err(|e| failed(&e))?;
                let baseline = planes.inventory().await.map_err(|e| failed(&e))?;
                Ok(Started::Real {
                    planes,
                    baseline: baseline.into_iter().collect(),
                })
            }
        }
    }

    fn kubeconfig(&self) -> HostResult<Kubeconfig> {
        match self {
            Started::Sandbox(sandbox) => sandbox
                .kubeconfig()
                .map_err(|e| HostError::from_error(&e).context("sandbox kubeconfig")),
            Started::Real { planes, .. } => Ok(planes.kubeconfig()),
        }
    }

    /// What the play left, and how many objects every new cluster starts with.
    async fn inventory(&self) -> HostResult<(Vec<InventoryEntry>, usize)> {
        let (all, baseline) = match self {
            Started::Sandbox(sandbox) => (sandbox.inventory(), None),
            Started::Real { planes, baseline } => (
                planes
                    .inventory()
                    .await
                    .map_err(|e| HostError::from_error(&e))?,
                Some(baseline),
            ),
        };
        let (built_in, left): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|e| is_built_in(e) || baseline.is_some_and(|b| b.contains(e)));
        Ok((left, built_in.len()))
    }

    async fn shutdown(self) {
        match self {
            Started::Sandbox(sandbox) => sandbox.shutdown().await,
            Started::Real { planes, .. } => planes.shutdown().await,
        }
    }
}

pub struct Rehearsal {
    runtime: tokio::runtime::Handle,
    backend: RehearsalBackend,
    /// One cluster per name, started the first time the playbook names it.
    sandboxes: Mutex<BTreeMap<String, Started>>,
    /// Every started sandbox's kubeconfig, merged, and whether `kubeconfig` holds it yet.
    merged: Mutex<Merged>,
    /// The kubeconfig of every sandbox cluster, for external programs (istioctl, kubectl) the
    /// play runs: written before each program starts, when sandboxes were added since.
    kubeconfig: PathBuf,
    /// Removed by `shutdown`, not left to the last reference: the play's context (and with it
    /// this rehearsal) can outlive the exit in a thread that is still winding down.
    dir: Mutex<Option<tempfile::TempDir>>,
}

#[derive(Default)]
struct Merged {
    kubeconfig: Kubeconfig,
    written: bool,
}

const EMPTY_KUBECONFIG: &str =
    "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\npreferences: {}\n";

impl Rehearsal {
    pub fn new(
        runtime: tokio::runtime::Handle,
        backend: RehearsalBackend,
    ) -> HostResult<Arc<Self>> {
        // It holds an admin kubeconfig: only its owner may enter it.
        let dir = tempfile::Builder::new()
            .prefix("runner-sandbox-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        live_dirs().insert(dir.path().to_path_buf());
        let kubeconfig = dir.path().join("sandbox.kubeconfig");
        write_private(&kubeconfig, EMPTY_KUBECONFIG)?;
        Ok(Arc::new(Rehearsal {
            runtime,
            backend,
            sandboxes: Mutex::new(BTreeMap::new()),
            merged: Mutex::new(Merged {
                written: true,
                ..Merged::default()
            }),
            kubeconfig,
            dir: Mutex::new(Some(dir)),
        }))
    }

    /// The kubeconfig file holding every sandbox cluster started so far.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A provisioner for the cluster registry: starts the sandbox cluster for a name once.
    pub fn provisioner(self: &Arc<Self>) -> Provisioner {
        let this = self.clone();
        Arc::new(move |name: &str| this.provision(name))
    }

    /// Writes the kubeconfig file if sandboxes started since it was last written. A play that
    /// runs no program never writes it for each of its clusters.
    pub fn write_kubeconfig(&self) -> HostResult<()> {
        let mut merged = self
            .merged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !merged.written {
            write_kubeconfig(&self.kubeconfig, &merged.kubeconfig)?;
            merged.written = true;
        }
        Ok(())
    }

    fn provision(&self, name: &str) -> HostResult<Kubeconfig> {
        if let Some(sandbox) = self.sandboxes().get(name) {
            return sandbox.kubeconfig();
        }
        // Started without holding the lock, so that clusters named in parallel start in parallel.
        let started = self.runtime.block_on(Started::start(name, &self.backend))?;
        let mut sandboxes = self.sandboxes();
        if let Some(existing) = sandboxes.get(name) {
            // Another thread started it first: keep theirs.
            let kubeconfig = existing.kubeconfig();
            self.runtime.block_on(started.shutdown());
            return kubeconfig;
        }
        let kubeconfig = started.kubeconfig()?;
        sandboxes.insert(name.to_string(), started);
        let mut merged = self
            .merged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        merged.kubeconfig = std::mem::take(&mut merged.kubeconfig)
            .merge(kubeconfig.clone())
            .map_err(|e| HostError::from_error(&e).context("sandbox kubeconfig"))?;
        merged.written = false;
        Ok(kubeconfig)
    }

    fn sandboxes(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Started>> {
        self.sandboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Prints what ended up in each sandbox cluster.
    pub fn report_inventory(&self, reporter: &Reporter) {
        let sandboxes = self
            .sandboxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sandboxes.is_empty() {
            reporter.say("\nSANDBOX: the play named no cluster");
            return;
        }
        let title = match self.backend {
            RehearsalBackend::Builtin { .. } => "SANDBOX CLUSTERS (what the play left in each)",
            RehearsalBackend::Real { .. } => {
                "SANDBOX CLUSTERS (real control planes; what the play left in each)"
            }
        };
        let mut lines = vec![format!("\n{title}")];
        let mut entries = Vec::new();
        let mut built_in = 0;
        for sandbox in sandboxes.values() {
            match self.runtime.block_on(sandbox.inventory()) {
                Ok((left, preexisting)) => {
                    entries.extend(left);
                    built_in += preexisting;
                }
                Err(e) => reporter.warn(&format!(
                    "cannot list what the play left: {}",
                    e.full_message()
                )),
            }
        }
        let mut current = String::new();
        for entry in &entries {
            if entry.cluster != current {
                current = entry.cluster.clone();
                let count = entries.iter().filter(|e| e.cluster == current).count();
                lines.push(format!("{current} ({count} objects)"));
            }
            let object = match &entry.namespace {
                Some(ns) => format!("{}/{}", ns, entry.name),
                None => entry.name.clone(),
            };
            lines.push(format!("  {:<32} {}", entry.kind, object));
        }
        lines.push(format!(
            "(not listed: {built_in} objects every new cluster starts with)"
        ));
        reporter.say_human(&lines.join("\n"));
        reporter.event(serde_json::json!({
            "event": "sandbox_inventory",
            "objects": entries.iter().map(|e| serde_json::json!({
                "cluster": e.cluster, "apiVersion": e.api_version, "kind": e.kind,
                "namespace": e.namespace, "name": e.name,
            })).collect::<Vec<_>>(),
        }));
    }

    pub fn shutdown(&self) {
        let sandboxes = std::mem::take(
            &mut *self
                .sandboxes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let stopping = sandboxes.into_values().map(Started::shutdown);
        self.runtime.block_on(futures::future::join_all(stopping));
        // The directory holds the kubeconfig with every cluster's admin credentials.
        if let Some(dir) = self
            .dir
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            live_dirs().remove(dir.path());
            let _ = dir.close();
        }
    }
}

/// Every rehearsal's directory not yet removed: a second Ctrl-C (or SIGTERM) exits at once,
/// without destructors, and must not leave the admin kubeconfig behind.
static LIVE_DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn live_dirs() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    LIVE_DIRS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every rehearsal's directory, for a program about to exit without destructors
/// (`std::process::exit`).
pub(crate) fn remove_dirs_now() {
    for dir in std::mem::take(&mut *live_dirs()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// What a fresh cluster already holds: system namespaces, default ServiceAccounts, root CA maps.
fn is_built_in(entry: &InventoryEntry) -> bool {
    const SYSTEM: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];
    match (entry.kind.as_str(), entry.namespace.as_deref()) {
        ("Namespace", None) => SYSTEM.contains(&entry.name.as_str()),
        (_, Some(ns)) if ns.starts_with("kube-") => true,
        ("ServiceAccount", Some(_)) => entry.name == "default",
        ("ConfigMap", Some(_)) => entry.name == "kube-root-ca.crt",
        _ => false,
    }
}

fn write_kubeconfig(path: &Path, merged: &Kubeconfig) -> HostResult<()> {
    let mut merged = merged.clone();
    merged.api_version = Some("v1".into());
    merged.kind = Some("Config".into());
    if merged.current_context.is_none() {
        merged.current_context = merged.contexts.first().map(|c| c.name.clone());
    }
    // JSON is YAML to every kubeconfig reader, and much cheaper to write for each new cluster.
    let text = serde_json::to_string_pretty(&merged)
        .map_err(|e| HostError::new(format!("cannot write the sandbox kubeconfig: {e}")))?;
    write_private(path, &text)
}

/// Kubeconfigs carry bearer tokens: readable by the owner only, written atomically.
fn write_private(path: &Path, text: &str) -> HostResult<()> {
    runner_sandbox::write_private(path, text.as_bytes())
        .map_err(|e| HostError::from_error(&e).context(format!("cannot write {}", path.display())))
}

impl From<&ControlPlaneError> for HostError {
    fn from(error: &ControlPlaneError) -> Self {
        let host = HostError::from_error(error);
        match error.hint() {
            Some(hint) => host.with_hint(hint),
            None => host,
        }
    }
}
