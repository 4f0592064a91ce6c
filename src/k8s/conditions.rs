//! What runner's waits wait for, as kube-runtime `Condition`s over the watched object.
//!
//! Kube's own conditions are used where their meaning is runner's: `is_deleted` (by uid) and
//! `is_crd_established`. Its `is_deployment_completed` reads the Progressing condition, which
//! the sandbox does not keep and which a paused rollout keeps stale, so the rollout wait is
//! `kubectl rollout status`'s arithmetic; its `is_service_loadbalancer_provisioned` holds for an
//! empty ingress list, where runner keeps waiting for an address.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::DynamicObject;
use kube::runtime::wait::{conditions, Condition};
use serde_json::Value;

/// `status.conditions` has `type` with `status` (the status compared case-insensitively, as
/// `kubectl wait --for=condition=` does).
pub(super) struct HasCondition<'a> {
    pub condition: &'a str,
    pub status: &'a str,
}

impl Condition<DynamicObject> for HasCondition<'_> {
    fn matches_object(&self, object: Option<&DynamicObject>) -> bool {
        object.is_some_and(|o| {
            o.data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|conditions| {
                    conditions.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some(self.condition)
                            && c.get("status")
                                .and_then(Value::as_str)
                                .is_some_and(|s| s.eq_ignore_ascii_case(self.status))
                    })
                })
        })
    }
}

/// A Deployment rolled out like `kubectl rollout status` sees it: the latest spec observed, all
/// wanted replicas updated and available, no old replica left.
pub(super) struct RolloutComplete;

impl Condition<DynamicObject> for RolloutComplete {
    fn matches_object(&self, object: Option<&DynamicObject>) -> bool {
        let Some(deployment) = object else {
            return false;
        };
        let number = |path: &str| deployment.data.pointer(path).and_then(Value::as_i64);
        let generation = deployment.metadata.generation.unwrap_or(0);
        let observed = number("/status/observedGeneration").unwrap_or(-1);
        let wanted = number("/spec/replicas").unwrap_or(1);
        let updated = number("/status/updatedReplicas").unwrap_or(0);
        let available = number("/status/availableReplicas").unwrap_or(0);
        let total = number("/status/replicas").unwrap_or(0);
        observed >= generation && updated >= wanted && available >= wanted && total <= updated
    }
}

/// A Service the load balancer wait can answer for: one not of type LoadBalancer (an error),
/// or a load balancer with an IP, or with only a hostname (an error).
pub(super) struct LoadBalancerSettled;

impl Condition<DynamicObject> for LoadBalancerSettled {
    fn matches_object(&self, object: Option<&DynamicObject>) -> bool {
        let Some(service) = object else {
            return false;
        };
        service_type(service) != "LoadBalancer"
            || ingress(service).iter().any(|i| {
                i.get("ip").is_some_and(Value::is_string)
                    || i.get("hostname").is_some_and(Value::is_string)
            })
    }
}

pub(super) fn service_type(service: &DynamicObject) -> &str {
    service
        .data
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

pub(super) fn ingress(service: &DynamicObject) -> &[Value] {
    service
        .data
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A CustomResourceDefinition the API server serves: kube's `is_crd_established`, over the
/// watched object's status. Only the status is read, so a planned CRD (a dry run's, whose spec
/// the server has not defaulted) is judged as the live one is.
pub(super) struct CrdEstablished;

impl Condition<DynamicObject> for CrdEstablished {
    fn matches_object(&self, object: Option<&DynamicObject>) -> bool {
        let crd = object.map(|o| CustomResourceDefinition {
            metadata: o.metadata.clone(),
            status: o
                .data
                .get("status")
                .and_then(|status| serde_json::from_value(status.clone()).ok()),
            ..Default::default()
        });
        conditions::is_crd_established().matches_object(crd.as_ref())
    }
}

/// The object is gone: kube's `is_deleted` when its uid is known (a recreated object counts as
/// deleted), otherwise absent.
pub(super) struct Deleted<'a> {
    pub uid: Option<&'a str>,
}

impl Condition<DynamicObject> for Deleted<'_> {
    fn matches_object(&self, object: Option<&DynamicObject>) -> bool {
        match self.uid {
            Some(uid) => conditions::is_deleted(uid).matches_object(object),
            None => object.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).expect("an object")
    }

    #[test]
    fn rollout_needs_observed_generation_and_available_replicas() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "istiod", "namespace": "istio-system", "generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert!(!RolloutComplete.matches_object(Some(&object(d.clone()))));
        d["status"]["observedGeneration"] = json!(2);
        assert!(RolloutComplete.matches_object(Some(&object(d.clone()))));
        d["status"]["replicas"] = json!(3);
        assert!(
            !RolloutComplete.matches_object(Some(&object(d.clone()))),
            "an old replica is still there"
        );
        assert!(!RolloutComplete.matches_object(None));
    }

    #[test]
    fn conditions_match_type_and_status() {
        let crd = object(
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gateways.networking.istio.io"},
            "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "False"}]}}),
        );
        let established = HasCondition {
            condition: "Established",
            status: "True",
        };
        let accepted = HasCondition {
            condition: "NamesAccepted",
            status: "true",
        };
        assert!(!established.matches_object(Some(&crd)));
        assert!(accepted.matches_object(Some(&crd)));
        assert!(!accepted.matches_object(None));
    }

    #[test]
    fn crd_established_reads_the_established_condition() {
        let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gateways.networking.istio.io"},
            "spec": {"group": "networking.istio.io", "scope": "Namespaced",
                "names": {"plural": "gateways", "kind": "Gateway"},
                "versions": [{"name": "v1", "served": true, "storage": true}]},
            "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "False"}]}});
        assert!(!CrdEstablished.matches_object(Some(&object(crd.clone()))));
        crd["status"]["conditions"][1]["status"] = json!("True");
        assert!(CrdEstablished.matches_object(Some(&object(crd))));
        assert!(!CrdEstablished.matches_object(None));
        let planned = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gateways.networking.istio.io"},
            "spec": {"group": "networking.istio.io"},
            "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert!(
            CrdEstablished.matches_object(Some(&object(planned))),
            "a planned CRD settled as Established"
        );
    }

    #[test]
    fn load_balancer_settles_on_an_ip_a_hostname_or_another_type() {
        let mut service = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "istio-eastwestgateway", "namespace": "istio-system"},
            "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}});
        assert!(!LoadBalancerSettled.matches_object(Some(&object(service.clone()))));
        service["status"]["loadBalancer"]["ingress"] = json!([]);
        assert!(
            !LoadBalancerSettled.matches_object(Some(&object(service.clone()))),
            "an empty ingress list has no address yet"
        );
        service["status"]["loadBalancer"]["ingress"] = json!([{"ip": "203.0.113.7"}]);
        assert!(LoadBalancerSettled.matches_object(Some(&object(service.clone()))));
        service["status"]["loadBalancer"]["ingress"] = json!([{"hostname": "lb.example.com"}]);
        assert!(LoadBalancerSettled.matches_object(Some(&object(service.clone()))));
        service["spec"]["type"] = json!("ClusterIP");
        service["status"] = json!({});
        assert!(LoadBalancerSettled.matches_object(Some(&object(service))));
        assert!(!LoadBalancerSettled.matches_object(None));
    }

    #[test]
    fn deleted_by_uid_counts_a_recreated_object() {
        let pod = object(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "sleep", "namespace": "sample", "uid": "b5c4e0a2-1"}}));
        let by_uid = Deleted {
            uid: Some("b5c4e0a2-1"),
        };
        assert!(!by_uid.matches_object(Some(&pod)));
        assert!(by_uid.matches_object(None));
        let recreated = Deleted {
            uid: Some("0f00d000-0"),
        };
        assert!(recreated.matches_object(Some(&pod)));
        let by_name = Deleted { uid: None };
        assert!(!by_name.matches_object(Some(&pod)));
        assert!(by_name.matches_object(None));
    }
}
