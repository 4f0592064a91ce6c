//! Kind names to API resources, through discovery fetched lazily per group/version and cached
//! for the run: an object's apiVersion costs one request the first time it is seen, never a
//! discovery of every group.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResourceList};
use kube::discovery::ApiResource;
use kube::Client;

use super::errors::{api_error, is_not_found};
use super::retry::request as api_request;
use crate::error::{HostError, HostResult};

/// A resource the API server serves.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

#[derive(Clone, Debug)]
struct Entry {
    resolved: Resolved,
    singular: String,
    short_names: Vec<String>,
}

impl Entry {
    fn matches(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        self.resolved.resource.kind.eq_ignore_ascii_case(name)
            || self.resolved.resource.plural == lower
            || self.singular == lower
            || self.short_names.contains(&lower)
    }
}

/// Where kubectl would find a well-known name, so a bare `deploy` costs one request.
const BUILTIN_HINTS: &[(&str, &[&str])] = &[
    (
        "apps/v1",
        &[
            "deployment",
            "deployments",
            "deploy",
            "statefulset",
            "statefulsets",
            "sts",
            "daemonset",
            "daemonsets",
            "ds",
            "replicaset",
            "replicasets",
            "rs",
        ],
    ),
    ("batch/v1", &["job", "jobs", "cronjob", "cronjobs", "cj"]),
    (
        "rbac.authorization.k8s.io/v1",
        &[
            "role",
            "roles",
            "rolebinding",
            "rolebindings",
            "clusterrole",
            "clusterroles",
            "clusterrolebinding",
            "clusterrolebindings",
        ],
    ),
    (
        "apiextensions.k8s.io/v1",
        &[
            "customresourcedefinition",
            "customresourcedefinitions",
            "crd",
            "crds",
        ],
    ),
    (
        "admissionregistration.k8s.io/v1",
        &[
            "mutatingwebhookconfiguration",
            "mutatingwebhookconfigurations",
            "validatingwebhookconfiguration",
            "validatingwebhookconfigurations",
        ],
    ),
    (
        "networking.k8s.io/v1",
        &[
            "ingress",
            "ingresses",
            "ing",
            "networkpolicy",
            "networkpolicies",
            "netpol",
        ],
    ),
    (
        "policy/v1",
        &["poddisruptionbudget", "poddisruptionbudgets", "pdb"],
    ),
    (
        "autoscaling/v2",
        &["horizontalpodautoscaler", "horizontalpodautoscalers", "hpa"],
    ),
    ("coordination.k8s.io/v1", &["lease", "leases"]),
    ("discovery.k8s.io/v1", &["endpointslice", "endpointslices"]),
];

type GvCache = HashMap<String, Option<Arc<Vec<Entry>>>>;

pub(super) struct Kinds {
    cluster: String,
    client: Client,
    versions: Mutex<GvCache>,
    groups: Mutex<Option<Arc<APIGroupList>>>,
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

fn entries(list: &APIResourceList, api_version: &str) -> Vec<Entry> {
    let (group, version) = split_api_version(api_version);
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| Entry {
            resolved: Resolved {
                resource: ApiResource {
                    group: group.to_string(),
                    version: version.to_string(),
                    api_version: api_version.to_string(),
                    kind: r.kind.clone(),
                    plural: r.name.clone(),
                },
                namespaced: r.namespaced,
            },
            singular: if r.singular_name.is_empty() {
                r.kind.to_ascii_lowercase()
            } else {
                r.singular_name.clone()
            },
            short_names: r.short_names.clone().unwrap_or_default(),
        })
        .collect()
}

impl Kinds {
    pub(super) fn new(cluster: &str, client: Client) -> Self {
        Kinds {
            cluster: cluster.to_string(),
            client,
            versions: Mutex::new(HashMap::new()),
            groups: Mutex::new(None),
        }
    }

    /// Forgets what discovery said about `group`, after a CRD for it was applied.
    pub(super) fn forget_group(&self, group: &str) {
        if let Ok(mut versions) = self.versions.lock() {
            versions.retain(|api_version, _| split_api_version(api_version).0 != group);
        }
        if let Ok(mut groups) = self.groups.lock() {
            *groups = None;
        }
    }

    /// Waits until discovery serves `kind` in `api_version`. A real API server publishes a new
    /// CRD's resources shortly after the CRD reports Established, not at the same moment.
    pub(super) async fn wait_served(
        &self,
        api_version: &str,
        kind: &str,
        timeout: std::time::Duration,
    ) -> HostResult<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(mut versions) = self.versions.lock() {
                versions.remove(api_version);
            }
            let served = self
                .version(api_version)
                .await?
                .is_some_and(|entries| entries.iter().any(|e| e.resolved.resource.kind == kind));
            if served {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(HostError::new(format!(
                    "{}: {kind} in {api_version} is established but discovery does not serve it after {} s",
                    self.cluster,
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The resources of one group/version, or None when the server does not serve it.
    async fn version(&self, api_version: &str) -> HostResult<Option<Arc<Vec<Entry>>>> {
        if let Some(cached) = self
            .versions
            .lock()
            .ok()
            .and_then(|v| v.get(api_version).cloned())
        {
            return Ok(cached);
        }
        let (group, version) = split_api_version(api_version);
        let what = format!("discovery of {api_version}");
        let list = api_request(
            &self.cluster,
            &what,
            || async move {
                let result = if group.is_empty() {
                    self.client.list_core_api_resources(version).await
                } else {
                    self.client.list_api_group_resources(api_version).await
                };
                match result {
                    Ok(list) => Ok(Some(list)),
                    Err(e) if is_not_found(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            },
            |e| api_error(&self.cluster, "discover", api_version, e),
        )
        .await?;
        let found = list.map(|l| Arc::new(entries(&l, api_version)));
        if let Ok(mut versions) = self.versions.lock() {
            versions.insert(api_version.to_string(), found.clone());
        }
        Ok(found)
    }

    async fn group_list(&self) -> HostResult<Arc<APIGroupList>> {
        if let Some(cached) = self.groups.lock().ok().and_then(|g| g.clone()) {
            return Ok(cached);
        }
        let list = api_request(
            &self.cluster,
            "list API groups",
            || self.client.list_api_groups(),
            |e| api_error(&self.cluster, "list", "API groups", e),
        )
        .await?;
        let list = Arc::new(list);
        if let Ok(mut groups) = self.groups.lock() {
            *groups = Some(list.clone());
        }
        Ok(list)
    }

    async fn find_in(&self, api_version: &str, name: &str) -> HostResult<Option<Resolved>> {
        Ok(self.version(api_version).await?.and_then(|entries| {
            entries
                .iter()
                .find(|e| e.matches(name))
                .map(|e| e.resolved.clone())
        }))
    }

    /// The resource for an object's `apiVersion` and `kind`.
    pub(super) async fn for_object(&self, api_version: &str, kind: &str) -> HostResult<Resolved> {
        let found = self.version(api_version).await?.and_then(|entries| {
            entries
                .iter()
                .find(|e| e.resolved.resource.kind == kind)
                .map(|e| e.resolved.clone())
        });
        found.ok_or_else(|| {
            HostError::new(format!(
                "the API server has no kind {kind} in {api_version}"
            ))
            .with_hint("check apiVersion and kind; a custom resource needs its CustomResourceDefinition applied first")
        })
    }

    /// Resolves a name the way kubectl does: `Kind`, `apps/v1/Deployment`, `Deployment.apps`,
    /// `deployments.v1.apps`, plurals and short names.
    pub(super) async fn resolve(&self, name: &str) -> HostResult<Resolved> {
        let name = name.trim();
        let found = if let Some((api_version, kind)) = name.rsplit_once('/') {
            self.find_in(api_version, kind).await?
        } else if let Some((resource, rest)) = name.split_once('.') {
            self.resolve_qualified(resource, rest).await?
        } else {
            self.resolve_bare(name).await?
        };
        found.ok_or_else(|| {
            HostError::new(format!(
                "{}: the API server has no resource type {name:?}",
                self.cluster
            ))
            .with_hint("use a kind (Deployment), apiVersion/Kind (apps/v1/Deployment), Kind.group (Deployment.apps), a plural or a short name")
        })
    }

    /// `resource.group` or `resource.version.group`.
    async fn resolve_qualified(&self, resource: &str, rest: &str) -> HostResult<Option<Resolved>> {
        if let Some((version, group)) = rest.split_once('.') {
            if version.starts_with('v') && version[1..].starts_with(|c: char| c.is_ascii_digit()) {
                if let Some(found) = self
                    .find_in(&format!("{group}/{version}"), resource)
                    .await?
                {
                    return Ok(Some(found));
                }
            }
        }
        let groups = self.group_list().await?;
        let Some(group) = groups.groups.iter().find(|g| g.name == rest) else {
            return Ok(None);
        };
        let preferred = group
            .preferred_version
            .as_ref()
            .map(|v| v.group_version.clone())
            .or_else(|| group.versions.first().map(|v| v.group_version.clone()));
        match preferred {
            Some(api_version) => self.find_in(&api_version, resource).await,
            None => Ok(None),
        }
    }

    async fn resolve_bare(&self, name: &str) -> HostResult<Option<Resolved>> {
        if let Some(found) = self.find_in("v1", name).await? {
            return Ok(Some(found));
        }
        let lower = name.to_ascii_lowercase();
        if let Some((api_version, _)) = BUILTIN_HINTS
            .iter()
            .find(|(_, names)| names.contains(&lower.as_str()))
        {
            if let Some(found) = self.find_in(api_version, name).await? {
                return Ok(Some(found));
            }
        }
        // Not a well-known name: look through each group's preferred version, in the server's order.
        let groups = self.group_list().await?;
        for group in &groups.groups {
            let Some(preferred) = group
                .preferred_version
                .as_ref()
                .map(|v| v.group_version.clone())
                .or_else(|| group.versions.first().map(|v| v.group_version.clone()))
            else {
                continue;
            };
            if let Some(found) = self.find_in(&preferred, name).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}
