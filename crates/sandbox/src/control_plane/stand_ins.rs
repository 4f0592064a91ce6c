//! What nodes and a cloud would do on a real cluster, played through the status subresource: a
//! LoadBalancer Service gets an address, a Deployment becomes available. Nothing runs Pods or
//! provisions load balancers beside these control planes, and plays wait on both.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};

/// The field manager named in the objects' managedFields for what the stand-ins write.
const FIELD_MANAGER: &str = "runner-control-plane";

/// Load balancer addresses handed out in this process, so that no two Services share one.
static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

/// Runs both stand-ins for one cluster until the task is aborted. `lb_hostname` gives load
/// balancers hostnames instead of IPs, as some clouds do (Istio cannot use those).
pub(super) async fn run(client: Client, lb_hostname: Arc<AtomicBool>) {
    futures::join!(
        load_balancers(client.clone(), lb_hostname),
        deployments(client)
    );
}

async fn load_balancers(client: Client, lb_hostname: Arc<AtomicBool>) {
    let services: Api<Service> = Api::all(client.clone());
    let mut events = watcher(services, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let service = match event {
            Ok(Event::Apply(s) | Event::InitApply(s)) => s,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("load balancer stand-in: watch failed: {e}");
                continue;
            }
        };
        let hostname = lb_hostname.load(Ordering::Relaxed);
        if let Some(status) = load_balancer_status(&service, hostname) {
            write_status::<Service>(&client, &service, status).await;
        }
    }
}

/// The status a Service should get, or None when it has it already.
fn load_balancer_status(service: &Service, hostname: bool) -> Option<Value> {
    let is_load_balancer =
        service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    let has_address = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .is_some_and(|ingress| !ingress.is_empty());
    match (is_load_balancer, has_address) {
        (true, false) if hostname => {
            let (name, namespace) = (service.name_any(), service.namespace().unwrap_or_default());
            let hostname = format!("{name}.{namespace}.lb.control-plane.invalid");
            Some(json!({"loadBalancer": {"ingress": [{"hostname": hostname}]}}))
        }
        (true, false) => {
            let n = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed);
            // From 198.18.0.0/15 (RFC 2544, never routed), as the built-in sandbox: the real
            // server refuses loopback addresses in the EndpointSlices that point at them.
            let ip = format!("198.18.{}.{}", (n / 250) % 256, n % 250 + 1);
            Some(json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}))
        }
        // No longer a load balancer: the address is released.
        (false, true) => Some(json!({"loadBalancer": {"ingress": null}})),
        _ => None,
    }
}

async fn deployments(client: Client) {
    let deployments: Api<Deployment> = Api::all(client.clone());
    let mut events = watcher(deployments, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let deployment = match event {
            Ok(Event::Apply(d) | Event::InitApply(d)) => d,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("deployment stand-in: watch failed: {e}");
                continue;
            }
        };
        if let Some(status) = deployment_status(&deployment) {
            write_status::<Deployment>(&client, &deployment, status).await;
        }
    }
}

/// The status of a Deployment whose every replica is up, or None when it has it already.
fn deployment_status(deployment: &Deployment) -> Option<Value> {
    let replicas = deployment.spec.replicas.unwrap_or(1);
    let generation = deployment.metadata.generation.unwrap_or(1);
    let status = deployment.status.clone().unwrap_or_default();
    let ready = |n: Option<i32>| n.unwrap_or(0) == replicas;
    if deployment.metadata.deletion_timestamp.is_some()
        || (status.observed_generation == Some(generation)
            && ready(status.replicas)
            && ready(status.ready_replicas)
            && ready(status.available_replicas)
            && ready(status.updated_replicas))
    {
        return None;
    }
    let now = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default();
    let name = deployment.name_any();
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": "True", "lastUpdateTime": now,
               "lastTransitionTime": now, "reason": reason, "message": message})
    };
    // Zero replicas: the real controller leaves the ready and available counts out.
    let count = |n: i32| (n > 0).then_some(n);
    Some(json!({
        "observedGeneration": generation,
        "replicas": count(replicas),
        "updatedReplicas": count(replicas),
        "readyReplicas": count(replicas),
        "availableReplicas": count(replicas),
        "conditions": [
            condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
            condition("Progressing", "NewReplicaSetAvailable",
                      &format!("ReplicaSet \"{name}\" has successfully progressed.")),
        ],
    }))
}

/// Writes `status` through the status subresource. A failure (the object is gone, or changed
/// meanwhile) is retried by the next watch event for the object, or not needed any more.
async fn write_status<K>(client: &Client, object: &K, status: Value)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let namespace = object.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), &namespace);
    let patch = Patch::Merge(json!({ "status": status }));
    if let Err(e) = api
        .patch_status(
            &object.name_any(),
            &PatchParams::apply(FIELD_MANAGER),
            &patch,
        )
        .await
    {
        tracing::debug!(
            "stand-in: cannot write the status of {}: {e}",
            object.name_any()
        );
    }
}
