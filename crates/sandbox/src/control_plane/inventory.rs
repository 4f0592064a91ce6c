//! What a real cluster holds: every object of every listable resource, by discovery.

use futures::future::join_all;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{verbs, Discovery, Scope};
use kube::Client;

use super::ControlPlaneError;
use crate::InventoryEntry;

/// Events come and go with what controllers do; they are not what a play left behind.
const SKIPPED_GROUPS: [&str; 1] = ["events.k8s.io"];

/// Labels of objects the API server makes itself for others: the APIService of each CRD group
/// version, the IPAddress of each Service's cluster IP.
const MADE_BY_THE_SERVER: [(&str, &str); 2] = [
    ("kube-aggregator.kubernetes.io/automanaged", ""),
    ("ipaddress.kubernetes.io/managed-by", "ipallocator.k8s.io"),
];

fn made_by_the_server(labels: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    labels.is_some_and(|labels| {
        MADE_BY_THE_SERVER.iter().any(|(key, value)| {
            labels
                .get(*key)
                .is_some_and(|v| value.is_empty() || v == value)
        })
    })
}

pub(super) async fn objects(
    cluster: &str,
    client: Client,
) -> Result<Vec<InventoryEntry>, ControlPlaneError> {
    let failed = |e: kube::Error| ControlPlaneError::Inventory {
        cluster: cluster.to_string(),
        message: e.to_string(),
    };
    let discovery = Discovery::new(client.clone()).run().await.map_err(failed)?;
    let mut lists = Vec::new();
    for group in discovery.groups() {
        if SKIPPED_GROUPS.contains(&group.name()) {
            continue;
        }
        for (resource, capabilities) in group.recommended_resources() {
            let is_event = resource.group.is_empty() && resource.kind == "Event";
            if is_event || !capabilities.supports_operation(verbs::LIST) {
                continue;
            }
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let namespaced = capabilities.scope == Scope::Namespaced;
            lists.push(async move {
                let list = api.list_metadata(&ListParams::default()).await?;
                Ok::<_, kube::Error>(
                    list.items
                        .into_iter()
                        .filter(|object| !made_by_the_server(object.metadata.labels.as_ref()))
                        .map(|object| InventoryEntry {
                            cluster: cluster.to_string(),
                            api_version: resource.api_version.clone(),
                            kind: resource.kind.clone(),
                            namespace: object.metadata.namespace.filter(|_| namespaced),
                            name: object.metadata.name.unwrap_or_default(),
                        })
                        .collect::<Vec<_>>(),
                )
            });
        }
    }
    let mut entries = Vec::new();
    for listed in join_all(lists).await {
        entries.extend(listed.map_err(failed)?);
    }
    entries.sort();
    Ok(entries)
}
