//! Reading, deleting and patching single objects.

use std::collections::BTreeMap;

use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{json, Value};

use super::cluster::Cluster;
use super::diff::plan_diff;
use super::errors::{api_error, is_not_found, object_label};
use super::plan::{has_labels, PlanKey};
use super::retry::request as api_request;
use super::Session;
use crate::error::{HostError, HostResult};
use crate::report::Action;

#[derive(Clone, Debug)]
pub struct DeleteOptions {
    /// Wait until the object is gone (finalizers done).
    pub wait: bool,
    pub timeout_secs: u64,
}

impl Default for DeleteOptions {
    fn default() -> Self {
        DeleteOptions {
            wait: false,
            timeout_secs: 60,
        }
    }
}

/// One object addressed by kind, name and namespace: its API, and its label for messages.
struct Located {
    api: kube::Api<kube::api::DynamicObject>,
    label: String,
    namespace: Option<String>,
    name: String,
    resolved: super::kinds::Resolved,
}

impl Located {
    /// Where a dry run keeps what it plans for this object.
    fn key(&self) -> PlanKey {
        PlanKey::new(
            &self.resolved.resource.group,
            &self.resolved.resource.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }

    /// The object as this run would see it: planned by the dry run so far, or else live.
    async fn current(&self, cluster: &Cluster) -> HostResult<Option<Value>> {
        if let Some(planned) = cluster.overlay.get(&self.key()) {
            return Ok(planned);
        }
        Ok(self.read(cluster).await?.map(to_value))
    }

    /// The live object, or None when it does not exist.
    async fn read(&self, cluster: &Cluster) -> HostResult<Option<kube::api::DynamicObject>> {
        api_request(
            cluster.name(),
            &format!("read {}", self.label),
            || self.api.get_opt(&self.name),
            |e| api_error(cluster.name(), "read", &self.label, e),
        )
        .await
    }
}

fn to_value(object: impl serde::Serialize) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

impl Cluster {
    /// Resolves the kind and settles the namespace (`namespace` empty means the context's).
    async fn locate(&self, kind: &str, name: &str, namespace: &str) -> HostResult<Located> {
        let resolved = self.resolve(kind).await?;
        let ns = self.namespace_for(&resolved, Some(namespace));
        Ok(Located {
            api: self.api(&resolved, ns.as_deref()),
            label: object_label(&resolved.resource.kind, ns.as_deref(), name),
            namespace: ns,
            name: name.to_string(),
            resolved,
        })
    }

    /// The object, or None when it does not exist. `namespace` empty means the context's.
    /// In a dry run, an object the plan creates, changes or deletes reads as planned.
    pub async fn get(&self, kind: &str, name: &str, namespace: &str) -> HostResult<Option<Value>> {
        let object = match self.locate(kind, name, namespace).await {
            Ok(object) => object,
            // A kind whose definition the plan only creates is not served yet.
            Err(e) => return self.overlay.unserved(kind, namespace, name).ok_or(e),
        };
        object.current(self).await
    }

    pub async fn exists(&self, kind: &str, name: &str, namespace: &str) -> HostResult<bool> {
        Ok(self.get(kind, name, namespace).await?.is_some())
    }

    /// Objects of a kind. `namespace`: None for the context's namespace, "" for all namespaces.
    pub async fn list(
        &self,
        kind: &str,
        namespace: Option<&str>,
        labels: &BTreeMap<String, String>,
    ) -> HostResult<Vec<Value>> {
        let resolved = self.resolve(kind).await?;
        let ns = match namespace {
            Some("") => None,
            other => self.namespace_for(&resolved, other),
        };
        let api = self.api(&resolved, ns.as_deref());
        let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut params = ListParams::default();
        if !selector.is_empty() {
            params = params.labels(&selector.join(","));
        }
        let what = match &ns {
            Some(ns) => format!("{} in namespace {ns}", resolved.resource.plural),
            None => resolved.resource.plural.clone(),
        };
        let list = api_request(
            self.name(),
            &format!("list {what}"),
            || api.list(&params),
            |e| api_error(self.name(), "list", &what, e),
        )
        .await?;
        let (group, kind) = (&resolved.resource.group, &resolved.resource.kind);
        let planned = self.overlay.of_kind(group, kind, ns.as_deref());
        if planned.is_empty() {
            return Ok(list.items.into_iter().map(to_value).collect());
        }
        // A dry run lists what the run would leave: planned objects replace live ones.
        let mut items: Vec<Value> = list
            .items
            .into_iter()
            .map(to_value)
            .filter(|item| {
                let key = PlanKey::new(
                    group,
                    kind,
                    item.pointer("/metadata/namespace").and_then(Value::as_str),
                    item.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                );
                !planned.iter().any(|(k, _)| *k == key)
            })
            .collect();
        items.extend(
            planned
                .into_iter()
                .filter_map(|(_, object)| object)
                .filter(|object| has_labels(object, labels)),
        );
        let place = |o: &Value| {
            let text = |p: &str| {
                o.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (text("/metadata/namespace"), text("/metadata/name"))
        };
        items.sort_by_key(place);
        Ok(items)
    }

    /// Deletes an object; returns whether there was one. A dry run only reports it, and the
    /// plan's later reads find it gone.
    pub async fn delete(
        &self,
        session: &Session<'_>,
        kind: &str,
        name: &str,
        namespace: &str,
        options: &DeleteOptions,
    ) -> HostResult<bool> {
        let object = self.locate(kind, name, namespace).await?;
        let (api, label, ns, resolved) = (
            &object.api,
            &object.label,
            &object.namespace,
            &object.resolved,
        );
        self.announce(session);
        if session.dry_run {
            if object.current(self).await?.is_none() {
                return Ok(false);
            }
            self.overlay.delete(object.key());
            session.reporter.object(
                self.name(),
                &resolved.resource.kind,
                ns.as_deref(),
                name,
                Action::Deleted,
                true,
            );
            return Ok(true);
        }
        let live = object.read(self).await?;
        let Some(live) = live else {
            return Ok(false);
        };
        api_request(
            self.name(),
            &format!("delete {label}"),
            || async {
                match api.delete(name, &DeleteParams::default()).await {
                    Err(e) if is_not_found(&e) => Ok(()),
                    other => other.map(|_| ()),
                }
            },
            |e| api_error(self.name(), "delete", label, e),
        )
        .await?;
        session.reporter.object(
            self.name(),
            &resolved.resource.kind,
            ns.as_deref(),
            name,
            Action::Deleted,
            false,
        );
        if options.wait {
            self.wait_deleted(
                session,
                resolved,
                ns.as_deref(),
                name,
                live.metadata.uid,
                options.timeout_secs,
            )
            .await?;
        }
        Ok(true)
    }

    /// A JSON merge patch; returns the object after it. A dry run shows the diff instead.
    pub async fn patch(
        &self,
        session: &Session<'_>,
        kind: &str,
        name: &str,
        namespace: &str,
        patch: &Value,
    ) -> HostResult<Value> {
        let object = self.locate(kind, name, namespace).await?;
        let (api, label, ns, resolved) = (
            &object.api,
            &object.label,
            &object.namespace,
            &object.resolved,
        );
        self.announce(session);
        let missing = || {
            HostError::new(format!(
                "{}: cannot patch {label}: it does not exist",
                self.name()
            ))
        };
        let action = if session.dry_run {
            let (before, after) = match self.overlay.get(&object.key()) {
                // Planned by this run: the server has not seen what the patch applies to.
                Some(planned) => {
                    let before = planned.ok_or_else(missing)?;
                    let mut after = before.clone();
                    json_patch::merge(&mut after, patch);
                    (before, after)
                }
                None => {
                    let live = object.read(self).await?.ok_or_else(missing)?;
                    let params = PatchParams {
                        dry_run: true,
                        ..Default::default()
                    };
                    let merge = Patch::Merge(patch);
                    let after = api_request(
                        self.name(),
                        &format!("dry-run patch {label}"),
                        || api.patch(name, &params, &merge),
                        |e| api_error(self.name(), "patch", label, e),
                    )
                    .await?;
                    (to_value(live), to_value(after))
                }
            };
            let (changed, diff) = plan_diff(Some(&before), &after);
            if changed {
                session.reporter.diff(self.name(), label, &diff);
            }
            self.overlay.put(object.key(), after.clone());
            let action = if changed {
                Action::Configured
            } else {
                Action::Unchanged
            };
            (action, after)
        } else {
            let live = object.read(self).await?.ok_or_else(missing)?;
            let merge = Patch::Merge(patch);
            let params = PatchParams::default();
            let after = api_request(
                self.name(),
                &format!("patch {label}"),
                || api.patch(name, &params, &merge),
                |e| api_error(self.name(), "patch", label, e),
            )
            .await?;
            let unchanged = after.metadata.resource_version == live.metadata.resource_version;
            let action = if unchanged {
                Action::Unchanged
            } else {
                Action::Configured
            };
            (action, to_value(after))
        };
        let (action, after) = action;
        session.reporter.object(
            self.name(),
            &resolved.resource.kind,
            ns.as_deref(),
            name,
            action,
            session.dry_run,
        );
        Ok(after)
    }

    /// Sets labels (a null value removes one).
    pub async fn label(
        &self,
        session: &Session<'_>,
        kind: &str,
        name: &str,
        namespace: &str,
        labels: &Value,
    ) -> HostResult<Value> {
        self.patch(
            session,
            kind,
            name,
            namespace,
            &json!({"metadata": {"labels": labels}}),
        )
        .await
    }

    /// Sets annotations (a null value removes one).
    pub async fn annotate(
        &self,
        session: &Session<'_>,
        kind: &str,
        name: &str,
        namespace: &str,
        annotations: &Value,
    ) -> HostResult<Value> {
        self.patch(
            session,
            kind,
            name,
            namespace,
            &json!({"metadata": {"annotations": annotations}}),
        )
        .await
    }
}
