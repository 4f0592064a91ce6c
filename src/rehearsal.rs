//! `runner play --sandbox`: sandbox clusters started in-process, on demand, for every cluster
//! the playbook names, so a play can be rehearsed without touching a real cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kube::config::Kubeconfig;

use crate::error::{HostError, HostResult};
use crate::k8s::Provisioner;
use crate::report::Reporter;
use crate::sandbox::{Sandbox, SandboxOptions};

pub struct Rehearsal {
    runtime: tokio::runtime::Handle,
    /// One sandbox per cluster name, started the first time the playbook names it.
    sandboxes: Mutex<BTreeMap<String, Sandbox>>,
    /// Every started sandbox's kubeconfig, merged, and whether `kubeconfig` holds it yet.
    merged: Mutex<Merged>,
    /// The kubeconfig of every sandbox cluster, for external programs (istioctl, kubectl) the
    /// play runs: written before each program starts, when sandboxes were added since.
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

#[derive(Default)]
struct Merged {
    kubeconfig: Kubeconfig,
    written: bool,
}

const EMPTY_KUBECONFIG: &str =
    "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\npreferences: {}\n";

impl Rehearsal {
    pub fn new(runtime: tokio::runtime::Handle) -> HostResult<Arc<Self>> {
        let dir = tempfile::Builder::new()
            .prefix("runner-sandbox-")
            .tempdir()?;
        let kubeconfig = dir.path().join("sandbox.kubeconfig");
        write_private(&kubeconfig, EMPTY_KUBECONFIG)?;
        Ok(Arc::new(Rehearsal {
            runtime,
            sandboxes: Mutex::new(BTreeMap::new()),
            merged: Mutex::new(Merged {
                written: true,
                ..Merged::default()
            }),
            kubeconfig,
            _dir: dir,
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
        let mut merged = self.merged.lock().unwrap_or_else(|p| p.into_inner());
        if !merged.written {
            write_kubeconfig(&self.kubeconfig, &merged.kubeconfig)?;
            merged.written = true;
        }
        Ok(())
    }

    fn provision(&self, name: &str) -> HostResult<Kubeconfig> {
        if let Some(sandbox) = self.sandboxes().get(name) {
            return kubeconfig_of(sandbox);
        }
        // Started without holding the lock, so that clusters named in parallel start in parallel.
        let options = SandboxOptions {
            clusters: vec![name.to_string()],
            ..SandboxOptions::default()
        };
        let started = self
            .runtime
            .block_on(Sandbox::start(options))
            .map_err(|e| {
                HostError::from_error(&e).context(format!("cannot start sandbox cluster {name:?}"))
            })?;
        let mut sandboxes = self.sandboxes();
        if let Some(existing) = sandboxes.get(name) {
            // Another thread started it first: keep theirs.
            let kubeconfig = kubeconfig_of(existing);
            self.runtime.block_on(started.shutdown());
            return kubeconfig;
        }
        let kubeconfig = kubeconfig_of(&started)?;
        sandboxes.insert(name.to_string(), started);
        let mut merged = self.merged.lock().unwrap_or_else(|p| p.into_inner());
        merged.kubeconfig = std::mem::take(&mut merged.kubeconfig)
            .merge(kubeconfig.clone())
            .map_err(|e| HostError::from_error(&e).context("sandbox kubeconfig"))?;
        merged.written = false;
        Ok(kubeconfig)
    }

    fn sandboxes(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Sandbox>> {
        self.sandboxes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Prints what ended up in each sandbox cluster.
    pub fn report_inventory(&self, reporter: &Reporter) {
        let sandboxes = self.sandboxes.lock().unwrap_or_else(|p| p.into_inner());
        if sandboxes.is_empty() {
            reporter.say("\nSANDBOX: the play named no cluster");
            return;
        }
        let mut lines = vec!["\nSANDBOX CLUSTERS (what the play left in each)".to_string()];
        let mut entries = Vec::new();
        let mut built_in = 0;
        for sandbox in sandboxes.values() {
            for entry in sandbox.inventory() {
                if is_built_in(&entry) {
                    built_in += 1;
                } else {
                    entries.push(entry);
                }
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
        let sandboxes =
            std::mem::take(&mut *self.sandboxes.lock().unwrap_or_else(|p| p.into_inner()));
        let stopping = sandboxes.into_values().map(Sandbox::shutdown);
        self.runtime.block_on(futures::future::join_all(stopping));
    }
}

/// What a fresh cluster already holds: system namespaces, default ServiceAccounts, root CA maps.
fn is_built_in(entry: &crate::sandbox::InventoryEntry) -> bool {
    const SYSTEM: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];
    match (entry.kind.as_str(), entry.namespace.as_deref()) {
        ("Namespace", None) => SYSTEM.contains(&entry.name.as_str()),
        (_, Some(ns)) if ns.starts_with("kube-") => true,
        ("ServiceAccount", Some(_)) => entry.name == "default",
        ("ConfigMap", Some(_)) => entry.name == "kube-root-ca.crt",
        _ => false,
    }
}

fn kubeconfig_of(sandbox: &Sandbox) -> HostResult<Kubeconfig> {
    sandbox
        .kubeconfig()
        .map_err(|e| HostError::from_error(&e).context("sandbox kubeconfig"))
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
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    // No fsync: the file lives in this run's temporary directory and dies with the process.
    file.write_all(text.as_bytes())?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
