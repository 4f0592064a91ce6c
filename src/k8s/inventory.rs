//! The inventory a cluster keeps of what one playbook applied to it, as kapp records an app: a
//! ConfigMap `runner-inventory-<playbook>` in `kube-system`.
//!
//! `kube-system` exists in every cluster (no namespace of runner's own to create and never
//! prune) and, unlike `kube-public`, is not readable by every authenticated user. The ConfigMap
//! does not carry the ownership label: it is bookkeeping, never an object a run could prune.
//! Writes carry the resourceVersion they read, so two runs at once cannot lose each other's
//! records: a conflict re-reads the stored list and merges into it.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use serde::{Deserialize, Serialize};

use super::cluster::Cluster;
use super::errors::{api_error, status_code};
use super::retry::{is_transient, request as api_request};
use crate::error::{HostError, HostResult};
use crate::ledger::ObjectKey;

pub const INVENTORY_NAMESPACE: &str = "kube-system";
/// The label that finds inventories (`kubectl get cm -n kube-system -l runner.dev/inventory`).
pub const INVENTORY_LABEL: &str = "runner.dev/inventory";
const OBJECTS_KEY: &str = "objects";
/// Conflicting writes by concurrent runs: each one re-reads, so a few attempts are plenty.
const ATTEMPTS: usize = 5;

pub fn inventory_name(owner: &str) -> String {
    format!("runner-inventory-{owner}")
}

/// One recorded object, as stored (the cluster is the one holding the inventory).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    name: String,
}

/// What a cluster's inventory held when it was read.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub objects: BTreeSet<ObjectKey>,
    resource_version: Option<String>,
}

impl Cluster {
    fn inventory_api(&self) -> Api<ConfigMap> {
        Api::namespaced(self.client.clone(), INVENTORY_NAMESPACE)
    }

    fn inventory_label(owner: &str) -> String {
        format!("ConfigMap {INVENTORY_NAMESPACE}/{}", inventory_name(owner))
    }

    /// The objects `owner` recorded in this cluster (none when it has no inventory yet).
    pub async fn read_inventory(&self, owner: &str) -> HostResult<Inventory> {
        let api = self.inventory_api();
        let name = inventory_name(owner);
        let label = Self::inventory_label(owner);
        let stored = api_request(
            self.name(),
            &format!("read {label}"),
            || api.get_opt(&name),
            |e| api_error(self.name(), "read", &label, e),
        )
        .await?;
        let Some(stored) = stored else {
            return Ok(Inventory::default());
        };
        let text = stored
            .data
            .as_ref()
            .and_then(|d| d.get(OBJECTS_KEY))
            .map(String::as_str)
            .unwrap_or("[]");
        let entries: Vec<Entry> = serde_json::from_str(text).map_err(|e| {
            HostError::new(format!(
                "{}: {label} is not an inventory runner wrote: key {OBJECTS_KEY:?}: {e}",
                self.name()
            ))
            .with_hint(format!(
                "delete it (kubectl -n {INVENTORY_NAMESPACE} delete configmap {name}) and run \
                 again: the run records what it applies anew, and objects of earlier runs are \
                 then no longer pruned"
            ))
        })?;
        Ok(Inventory {
            objects: entries
                .into_iter()
                .map(|e| ObjectKey {
                    cluster: self.name().to_string(),
                    api_version: e.api_version,
                    kind: e.kind,
                    namespace: e.namespace,
                    name: e.name,
                })
                .collect(),
            resource_version: stored.metadata.resource_version,
        })
    }

    /// Stores `update(stored objects)` as the inventory, with the resourceVersion of `read` as
    /// the precondition; when another run wrote in between, re-reads and applies `update` to
    /// what it wrote. Returns whether anything was written.
    pub async fn write_inventory(
        &self,
        owner: &str,
        mut read: Inventory,
        update: impl Fn(&BTreeSet<ObjectKey>) -> BTreeSet<ObjectKey>,
    ) -> HostResult<bool> {
        let api = self.inventory_api();
        let label = Self::inventory_label(owner);
        for _ in 0..ATTEMPTS {
            let wanted = update(&read.objects);
            let unchanged = match read.resource_version {
                Some(_) => wanted == read.objects,
                None => wanted.is_empty(),
            };
            if unchanged {
                return Ok(false);
            }
            let config_map = self.inventory_object(owner, &wanted, read.resource_version.clone());
            let result = match &read.resource_version {
                None => api.create(&PostParams::default(), &config_map).await,
                Some(_) => {
                    api.replace(&inventory_name(owner), &PostParams::default(), &config_map)
                        .await
                }
            };
            match result {
                Ok(_) => return Ok(true),
                // Another run wrote first (Conflict) or created it first (AlreadyExists).
                Err(e) if status_code(&e) == Some(409) => {
                    read = self.read_inventory(owner).await?;
                }
                // The retry layer does not repeat a create (it may have landed); this one can
                // be, since a create that did land answers AlreadyExists the next time.
                Err(e) if read.resource_version.is_none() && is_transient(&e) => {
                    read = self.read_inventory(owner).await?;
                }
                Err(e) => return Err(api_error(self.name(), "write", &label, &e)),
            }
        }
        Err(HostError::new(format!(
            "{}: cannot write {label}: other runs changed it {ATTEMPTS} times while this one \
             tried to record what it applied",
            self.name()
        ))
        .with_hint("run the play again once the other runs of this playbook are done"))
    }

    fn inventory_object(
        &self,
        owner: &str,
        objects: &BTreeSet<ObjectKey>,
        resource_version: Option<String>,
    ) -> ConfigMap {
        let entries: Vec<Entry> = objects
            .iter()
            .map(|k| Entry {
                api_version: k.api_version.clone(),
                kind: k.kind.clone(),
                namespace: k.namespace.clone(),
                name: k.name.clone(),
            })
            .collect();
        let text = serde_json::to_string_pretty(&entries).unwrap_or_else(|_| "[]".into());
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(inventory_name(owner)),
                namespace: Some(INVENTORY_NAMESPACE.to_string()),
                labels: Some([(INVENTORY_LABEL.to_string(), owner.to_string())].into()),
                resource_version,
                ..Default::default()
            },
            data: Some([(OBJECTS_KEY.to_string(), text)].into()),
            ..Default::default()
        }
    }
}
