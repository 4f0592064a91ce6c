//! The clusters of a run, by playbook name: one client and one discovery cache each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use kube::config::Kubeconfig;
use tokio_util::sync::CancellationToken;

use super::cluster::Cluster;
use super::config::KubeOptions;
use super::config::{check_allowed, load_kubeconfig};
use super::transport::Transports;
use crate::error::{HostError, HostResult};

/// Makes a cluster that no kubeconfig names (sandbox mode): returns a kubeconfig with a
/// context of that name.
pub type Provisioner = Arc<dyn Fn(&str) -> HostResult<Kubeconfig> + Send + Sync>;

#[derive(Default)]
struct State {
    /// The run's kubeconfig files and every added kubeconfig, merged; read on first use and
    /// extended as kubeconfigs are added, so that naming N clusters costs N merges, not N².
    merged: Option<Kubeconfig>,
    added: Vec<Kubeconfig>,
    provisioner: Option<Provisioner>,
    clusters: HashMap<String, Arc<Cluster>>,
    /// `allow_contexts([...])` from the playbook.
    playbook_allow: Vec<String>,
    /// Contexts the playbook names for its clusters (from its variables); --context wins.
    playbook_contexts: HashMap<String, String>,
    /// The clusters `declare_clusters` named, once it ran: the only ones the play may use.
    declared: Option<Vec<String>>,
}

pub struct Registry {
    options: KubeOptions,
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
    transports: Transports,
}

impl Registry {
    pub fn new(options: KubeOptions, runtime: tokio::runtime::Handle) -> Self {
        Registry {
            transports: Transports::with_retry(options.retry.clone()),
            options,
            runtime,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The HTTP clients of this run's clusters, for other clients (probes) to share.
    pub fn transports(&self) -> &Transports {
        &self.transports
    }

    /// The playbook names of the clusters this run has used so far.
    pub fn names(&self) -> Vec<String> {
        self.state().clusters.keys().cloned().collect()
    }

    pub fn set_provisioner(&self, provisioner: Provisioner) {
        self.state().provisioner = Some(provisioner);
    }

    /// Adds contexts beyond the kubeconfig files (names already known keep their first meaning).
    pub fn add_kubeconfig(&self, kubeconfig: Kubeconfig) -> HostResult<()> {
        add(&mut self.state(), kubeconfig)
    }

    /// Forgets clients and discovery (a new run in watch mode).
    pub fn reset(&self) {
        let mut state = self.state();
        state.clusters.clear();
        state.merged = None;
        self.transports.clear();
        state.playbook_allow.clear();
        state.declared = None;
    }

    /// The clusters the playbook declared for its preflight. From then on, a cluster it did
    /// not declare is refused: the preflight never checked it, so a write to it could come
    /// after writes to the others and then fail.
    pub fn declare(&self, names: impl IntoIterator<Item = String>) {
        self.state()
            .declared
            .get_or_insert_with(Vec::new)
            .extend(names);
    }

    /// The playbook's own allow-list; clusters already in use must match it too.
    pub fn allow_contexts(&self, patterns: Vec<String>) -> HostResult<()> {
        for pattern in &patterns {
            glob::Pattern::new(pattern)
                .map_err(|e| HostError::new(format!("invalid context pattern {pattern:?}: {e}")))?;
        }
        let mut state = self.state();
        state.playbook_allow = patterns;
        for cluster in state.clusters.values() {
            check_allowed(
                cluster.name(),
                cluster.context(),
                &[("the playbook's allow_contexts", &state.playbook_allow)],
            )?;
        }
        Ok(())
    }

    /// The context a playbook's cluster name maps to: `--context NAME=CONTEXT`, else the
    /// context the playbook gave for it, else the name itself.
    pub fn context_for(&self, name: &str) -> String {
        self.options
            .contexts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .or_else(|| self.state().playbook_contexts.get(name).cloned())
            .unwrap_or_else(|| name.to_string())
    }

    /// Records the context a playbook gives for one of its clusters (`--context` still wins).
    /// A sandbox cluster is known by its playbook name alone: a context given for it is
    /// ignored, as is an empty one.
    pub fn set_playbook_context(&self, name: &str, context: &str, sandbox: bool) {
        if sandbox || context.is_empty() {
            return;
        }
        self.state()
            .playbook_contexts
            .insert(name.to_string(), context.to_string());
    }

    fn merged<'s>(&self, state: &'s mut State) -> HostResult<&'s Kubeconfig> {
        let merged = match state.merged.take() {
            Some(merged) => merged,
            None => (state.added.iter())
                .try_fold(load_kubeconfig(&self.options)?, |merged, extra| {
                    merge(merged, extra.clone())
                })?,
        };
        Ok(state.merged.insert(merged))
    }

    /// The handle for a playbook cluster name. Refused before any request when its context is
    /// missing or not allowed. Connecting (an exec plugin may run for a while) ends early with
    /// an interrupted error when `cancel` fires. Call from the playbook's thread, not from inside
    /// the runtime.
    pub fn cluster(&self, name: &str, cancel: &CancellationToken) -> HostResult<Arc<Cluster>> {
        let context = self.context_for(name);
        let kubeconfig = {
            let mut state = self.state();
            if let Some(declared) = state
                .declared
                .as_ref()
                .filter(|d| !d.iter().any(|n| n == name))
            {
                return Err(undeclared(name, declared));
            }
            if let Some(found) = state.clusters.get(name) {
                return Ok(found.clone());
            }
            if !has_context(self.merged(&mut state)?, &context) {
                if let Some(provision) = state.provisioner.clone() {
                    drop(state);
                    let made = provision(name)?;
                    state = self.state();
                    add(&mut state, made)?;
                }
            }
            let merged = self.merged(&mut state)?;
            if !has_context(merged, &context) {
                return Err(missing_context(name, &context, merged));
            }
            let kubeconfig = only_context(merged, &context);
            check_allowed(
                name,
                &context,
                &[
                    ("--allow-context", &self.options.allow_contexts),
                    ("the playbook's allow_contexts", &state.playbook_allow),
                ],
            )?;
            kubeconfig
        };
        let connect = Cluster::connect(name, &context, kubeconfig, &self.transports);
        let cluster = self.runtime.block_on(async {
            tokio::select! {
                biased;
                () = cancel.cancelled() => Err(HostError::interrupted()),
                connected = connect => connected,
            }
        })?;
        let cluster = Arc::new(cluster);
        let mut state = self.state();
        Ok(state
            .clusters
            .entry(name.to_string())
            .or_insert(cluster)
            .clone())
    }
}

fn undeclared(name: &str, declared: &[String]) -> HostError {
    HostError::of(
        crate::error::ErrorKind::Playbook,
        format!(
            "cluster {name:?} is not one the playbook declared (declare_clusters: {})",
            declared.join(", ")
        ),
    )
    .with_hint("add it to declare_clusters, so that the preflight checks it before the first write")
}

fn add(state: &mut State, kubeconfig: Kubeconfig) -> HostResult<()> {
    if let Some(merged) = state.merged.take() {
        state.merged = Some(merge(merged, kubeconfig.clone())?);
    }
    state.added.push(kubeconfig);
    Ok(())
}

fn merge(into: Kubeconfig, extra: Kubeconfig) -> HostResult<Kubeconfig> {
    into.merge(extra)
        .map_err(|e| HostError::from_error(&e).context("cannot merge an added kubeconfig"))
}

/// The part of a kubeconfig one context needs: a cluster's client, and the kubeconfig it keeps
/// (for preflight checks), carry no other cluster's credentials.
fn only_context(kubeconfig: &Kubeconfig, context: &str) -> Kubeconfig {
    let named = kubeconfig.contexts.iter().find(|c| c.name == context);
    let target = named.and_then(|c| c.context.as_ref());
    let cluster = target.map(|t| t.cluster.as_str());
    let user = target.and_then(|t| t.user.as_deref());
    Kubeconfig {
        preferences: kubeconfig.preferences.clone(),
        clusters: (kubeconfig.clusters.iter())
            .filter(|c| Some(c.name.as_str()) == cluster)
            .take(1)
            .cloned()
            .collect(),
        auth_infos: (kubeconfig.auth_infos.iter())
            .filter(|u| Some(u.name.as_str()) == user)
            .take(1)
            .cloned()
            .collect(),
        contexts: named.cloned().into_iter().collect(),
        current_context: Some(context.to_string()),
        kind: kubeconfig.kind.clone(),
        api_version: kubeconfig.api_version.clone(),
        ..Kubeconfig::default()
    }
}

fn has_context(kubeconfig: &Kubeconfig, context: &str) -> bool {
    kubeconfig.contexts.iter().any(|c| c.name == context)
}

fn missing_context(name: &str, context: &str, kubeconfig: &Kubeconfig) -> HostError {
    let mut known: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    known.sort_unstable();
    let listed = if known.is_empty() {
        "the kubeconfig has no contexts".to_string()
    } else {
        format!("contexts that exist: {}", known.join(", "))
    };
    let subject = if name == context {
        format!("cluster {name:?}: no kubeconfig context {context:?}")
    } else {
        format!("cluster {name:?} maps to context {context:?}, which does not exist")
    };
    HostError::new(format!("{subject} ({listed})")).with_hint(
        "pass --kubeconfig FILE, set KUBECONFIG, or map the name with --context NAME=CONTEXT",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(contexts: &[&str]) -> Kubeconfig {
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n{}",
            contexts
                .iter()
                .map(|c| format!("- name: {c}\n  context: {{cluster: {c}, user: {c}}}\n"))
                .collect::<String>()
        );
        Kubeconfig::from_yaml(&yaml).unwrap()
    }

    #[test]
    fn missing_context_lists_the_existing_ones() {
        let err = missing_context("east", "east", &kubeconfig(&["west", "north"]));
        assert_eq!(
            err.message,
            "cluster \"east\": no kubeconfig context \"east\" (contexts that exist: north, west)"
        );
    }

    fn sandbox_like(name: &str) -> Kubeconfig {
        Kubeconfig::from_yaml(&format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster: {{server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}\nusers:\n- name: {name}\n  user: {{token: t}}\ncontexts:\n- name: {name}\n  context: {{cluster: {name}, user: {name}, namespace: team}}\n"
        ))
        .unwrap()
    }

    /// A registry whose kubeconfig file is empty, whatever the machine's KUBECONFIG says.
    fn registry(rt: &tokio::runtime::Runtime, empty: &tempfile::NamedTempFile) -> Registry {
        let options = KubeOptions {
            kubeconfig: Some(empty.path().to_path_buf()),
            ..Default::default()
        };
        Registry::new(options, rt.handle().clone())
    }

    #[test]
    fn a_playbooks_context_names_a_cluster_unless_sandbox_or_empty() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let empty = tempfile::NamedTempFile::new().unwrap();
        let registry = registry(&rt, &empty);
        registry.set_playbook_context("east", "", false);
        registry.set_playbook_context("west", "prod-west", true);
        assert_eq!(registry.context_for("east"), "east");
        assert_eq!(registry.context_for("west"), "west");
        registry.set_playbook_context("east", "prod-east", false);
        assert_eq!(registry.context_for("east"), "prod-east");
        let flagged = Registry::new(
            KubeOptions {
                kubeconfig: Some(empty.path().to_path_buf()),
                contexts: vec![("east".into(), "flag-east".into())],
                ..Default::default()
            },
            rt.handle().clone(),
        );
        flagged.set_playbook_context("east", "prod-east", false);
        assert_eq!(flagged.context_for("east"), "flag-east", "--context wins");
    }

    #[test]
    fn provisioner_makes_unknown_clusters_once() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let empty = tempfile::NamedTempFile::new().unwrap();
        let registry = registry(&rt, &empty);
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = calls.clone();
        registry.set_provisioner(Arc::new(move |name: &str| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(sandbox_like(name))
        }));
        let a = registry
            .cluster("made-up", &CancellationToken::new())
            .unwrap();
        assert_eq!(
            (a.name(), a.context(), a.namespace()),
            ("made-up", "made-up", "team")
        );
        assert_eq!(a.server(), "https://127.0.0.1:1");
        let again = registry
            .cluster("made-up", &CancellationToken::new())
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again), "one client per cluster per run");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn added_kubeconfig_and_allow_list() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let empty = tempfile::NamedTempFile::new().unwrap();
        let registry = registry(&rt, &empty);
        registry.add_kubeconfig(sandbox_like("prod-east")).unwrap();
        registry.add_kubeconfig(sandbox_like("staging")).unwrap();
        registry.allow_contexts(vec!["prod-*".into()]).unwrap();
        let prod = registry
            .cluster("prod-east", &CancellationToken::new())
            .unwrap();
        // Its client, and the kubeconfig it keeps, know no other cluster.
        let names = |k: &Kubeconfig| {
            let mut names: Vec<String> = (k.contexts.iter().map(|c| c.name.clone()))
                .chain(k.clusters.iter().map(|c| c.name.clone()))
                .chain(k.auth_infos.iter().map(|u| u.name.clone()))
                .collect();
            names.dedup();
            names
        };
        assert_eq!(names(prod.kubeconfig()), ["prod-east"]);
        assert_eq!(
            prod.kubeconfig().current_context.as_deref(),
            Some("prod-east")
        );
        let err = registry
            .cluster("staging", &CancellationToken::new())
            .unwrap_err();
        assert!(
            err.message
                .contains("is not allowed by the playbook's allow_contexts"),
            "{}",
            err.message
        );
        // A list that excludes a cluster already in use is refused too.
        let err = registry.allow_contexts(vec!["dev-*".into()]).unwrap_err();
        assert!(err.message.contains("prod-east"), "{}", err.message);
        assert!(registry.allow_contexts(vec!["[".into()]).is_err());
    }

    #[test]
    fn context_mapping_prefers_the_last_flag() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let registry = Registry::new(
            KubeOptions {
                contexts: vec![("east".into(), "a".into()), ("east".into(), "b".into())],
                ..Default::default()
            },
            rt.handle().clone(),
        );
        assert_eq!(registry.context_for("east"), "b");
        assert_eq!(registry.context_for("west"), "west");
    }
}
