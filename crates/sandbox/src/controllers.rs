//! Stand-ins for the controllers whose results users wait on: load balancers, Deployments, CRDs and
//! ServiceAccount token Secrets.
use super::core::{ClusterCore, ControllerTask, CRD_KEY};
use super::ops::controller_update;
use super::tokens;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub(crate) async fn run(
    core: Arc<ClusterCore>,
    mut tasks: mpsc::UnboundedReceiver<ControllerTask>,
) {
    while let Some(task) = tasks.recv().await {
        match task {
            ControllerTask::LoadBalancer { namespace, name } => {
                let core = core.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(core.lb_delay).await;
                    assign_load_balancer(&core, &namespace, &name);
                });
            }
            ControllerTask::Deployment { namespace, name } => controller_update(
                &core,
                "apps/deployments",
                &namespace,
                &name,
                deployment_status,
            ),
            ControllerTask::Crd { name } => {
                controller_update(&core, CRD_KEY, "", &name, crd_status);
            }
            ControllerTask::NamespaceCleanup { name } => {
                let core = core.clone();
                tokio::spawn(async move {
                    // Content held by finalizers keeps the namespace Terminating until released.
                    while !super::ops::finish_namespace(&core, &name) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                });
            }
            ControllerTask::ServiceAccountTokenSecret { namespace, name } => {
                let core = core.clone();
                tokio::spawn(async move {
                    // The ServiceAccount may be created just after its Secret; try for a while.
                    for _ in 0..100 {
                        if tokens::fill_token_secret(&core, &namespace, &name) {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                });
            }
        }
    }
}

/// What the controllers must look at again after a restart from `--state`: every object they
/// act on, as if it had just been written. A state saved mid-play (a LoadBalancer without its
/// address, a Deployment not yet available, a namespace half deleted) thus converges.
pub(crate) fn resume(core: &ClusterCore) {
    let tasks: Vec<ControllerTask> = {
        let inner = core.lock();
        inner
            .store
            .all()
            .filter_map(|((storage_key, namespace, name), entry)| {
                let (namespace, name) = (namespace.clone(), name.clone());
                let object = &entry.value;
                match storage_key.as_str() {
                    "/services" => Some(ControllerTask::LoadBalancer { namespace, name }),
                    "apps/deployments" => Some(ControllerTask::Deployment { namespace, name }),
                    CRD_KEY => Some(ControllerTask::Crd { name }),
                    "/namespaces" if !object["metadata"]["deletionTimestamp"].is_null() => {
                        Some(ControllerTask::NamespaceCleanup { name })
                    }
                    "/secrets"
                        if object["type"] == "kubernetes.io/service-account-token"
                            && object["data"]["token"].is_null() =>
                    {
                        Some(ControllerTask::ServiceAccountTokenSecret { namespace, name })
                    }
                    _ => None,
                }
            })
            .collect()
    };
    core.queue(tasks);
}

fn assign_load_balancer(core: &ClusterCore, namespace: &str, name: &str) {
    let hostname = core.lb_hostname.load(Ordering::Relaxed);
    controller_update(core, "/services", namespace, name, |svc| {
        if svc["spec"]["type"] != "LoadBalancer" {
            // No longer a load balancer: the address is released.
            let had = svc["status"]["loadBalancer"]["ingress"].is_array();
            if had {
                svc["status"]["loadBalancer"] = json!({});
            }
            return had;
        }
        let current = &svc["status"]["loadBalancer"]["ingress"][0];
        if (hostname && current["hostname"].is_string()) || (!hostname && current["ip"].is_string())
        {
            return false;
        }
        let ingress = if hostname {
            json!({"hostname": format!("{name}.{namespace}.lb.sandbox.invalid")})
        } else {
            let n = core.lb_counter.fetch_add(1, Ordering::Relaxed);
            // 198.18.0.0/15 is set aside for benchmarking (RFC 2544): never routed, nothing listens,
            // and unlike loopback a real API server accepts it as an endpoint (Istio's remote
            // istiod Service points an EndpointSlice at this address).
            json!({"ip": format!("198.18.{}.{}", (n / 250) % 256, n % 250 + 1), "ipMode": "VIP"})
        };
        svc["status"]["loadBalancer"] = json!({"ingress": [ingress]});
        true
    });
}

fn condition(kind: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": "True", "lastUpdateTime": now, "lastTransitionTime": now, "reason": reason, "message": message})
}

fn deployment_status(deploy: &mut Value) -> bool {
    let replicas = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
    let generation = deploy["metadata"]["generation"].as_i64().unwrap_or(1);
    let status = &deploy["status"];
    if status["observedGeneration"].as_i64() == Some(generation)
        && status["readyReplicas"].as_i64().unwrap_or(0) == replicas
        && status["replicas"].as_i64().unwrap_or(0) == replicas
    {
        return false;
    }
    let now = super::meta::now_rfc3339();
    let name = deploy["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut new = json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability.", &now),
            condition("Progressing", "NewReplicaSetAvailable", &format!("ReplicaSet \"{name}\" has successfully progressed."), &now),
        ],
    });
    if replicas == 0 {
        if let Some(m) = new.as_object_mut() {
            m.remove("readyReplicas");
            m.remove("availableReplicas");
        }
    }
    deploy["status"] = new;
    true
}

fn crd_status(crd: &mut Value) -> bool {
    let names = crd["spec"]["names"].clone();
    if crd["status"]["acceptedNames"] == names
        && crd["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.len() == 2)
    {
        return false;
    }
    let now = super::meta::now_rfc3339();
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    let cond = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    crd["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    });
    true
}
