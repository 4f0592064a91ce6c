//! Waiting for objects to reach a state, through kube's watcher (with its backoff), each wait
//! bounded by a timeout whose error names what was seen last. What a wait waits for is a
//! kube-runtime `Condition` over the watched object (see `conditions`).

use std::time::Duration;

use futures::StreamExt;
use kube::api::DynamicObject;
use kube::runtime::wait::Condition;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::Value;

use super::cluster::Cluster;
use super::conditions::{
    ingress, service_type, CrdEstablished, Deleted, HasCondition, LoadBalancerSettled,
    RolloutComplete,
};
use super::errors::{api_error, object_label};
use super::kinds::Resolved;
use super::plan::{PlanKey, KNOWN_AFTER_APPLY};
use super::retry::{is_transient, request as api_request};
use super::Session;
use crate::error::{HostError, HostResult};

/// Compact text of what a wait last saw (the object's status, never Secret data).
fn describe_state(last: &Option<Option<Value>>, last_error: &Option<String>) -> String {
    match last {
        None => match last_error {
            Some(e) => format!("never observed ({e})"),
            None => "never observed".into(),
        },
        Some(None) => "absent".into(),
        Some(Some(object)) => {
            let mut text = match object.get("status") {
                Some(status) => format!("status {status}"),
                None => "exists, without status".into(),
            };
            if object.pointer("/metadata/deletionTimestamp").is_some() {
                text.push_str(" (being deleted)");
            }
            if text.len() > 600 {
                let mut end = 600;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                text.push('…');
            }
            text
        }
    }
}

/// The object a wait is about.
struct Target<'a> {
    resolved: &'a Resolved,
    namespace: Option<&'a str>,
    name: &'a str,
    what: &'a str,
}

/// The state a wait ends with, made from the object it starts from (dry runs only).
type Settle<'a> = &'a (dyn Fn(&Value) -> Value + Sync);

impl Cluster {
    /// Watches one object until `condition` matches it (`None` while the object is absent),
    /// then returns what `finish` makes of the object it matched; an error from `finish` ends
    /// the wait with that error.
    ///
    /// A dry run does not wait: it checks the object as the run would find it (planned, or
    /// live) once, and returns None when that does not match (see `wait_settled`).
    #[allow(clippy::too_many_arguments)]
    pub async fn wait_for<T>(
        &self,
        session: &Session<'_>,
        resolved: &Resolved,
        namespace: Option<&str>,
        name: &str,
        what: &str,
        timeout_secs: u64,
        condition: &impl Condition<DynamicObject>,
        finish: impl FnOnce(Option<&DynamicObject>) -> HostResult<T>,
    ) -> HostResult<Option<T>> {
        let target = Target {
            resolved,
            namespace,
            name,
            what,
        };
        self.wait_settled(session, target, timeout_secs, condition, finish, None)
            .await
    }

    /// Like `wait_for`; in a dry run, `settle` turns an object the wait would see into the state
    /// the wait ends with (a rolled-out Deployment, an Established CRD, a load balancer with an
    /// address known after apply): the plan goes on as the run would, and later reads see it.
    async fn wait_settled<T>(
        &self,
        session: &Session<'_>,
        target: Target<'_>,
        timeout_secs: u64,
        condition: &impl Condition<DynamicObject>,
        finish: impl FnOnce(Option<&DynamicObject>) -> HostResult<T>,
        settle: Option<Settle<'_>>,
    ) -> HostResult<Option<T>> {
        if session.dry_run {
            return self
                .plan_wait(session, target, condition, finish, settle)
                .await;
        }
        let Target {
            resolved,
            namespace,
            name,
            what,
        } = target;
        let namespace = self.namespace_for(resolved, namespace);
        let label = object_label(&resolved.resource.kind, namespace.as_deref(), name);
        let subject = format!("{what} of {label} in {}", self.name());
        let guard = session.reporter.wait(&subject);
        let api = self.api(resolved, namespace.as_deref());
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut events = std::pin::pin!(watcher::watcher(api, config).default_backoff());
        let mut last: Option<Option<DynamicObject>> = None;
        let mut last_error: Option<String> = None;
        let mut seen_in_init = false;
        let outcome = tokio::time::timeout(Duration::from_secs(timeout_secs), async {
            while let Some(event) = events.next().await {
                let observed = match event {
                    Ok(Event::Apply(o) | Event::InitApply(o)) => {
                        seen_in_init = true;
                        Some(o)
                    }
                    Ok(Event::Delete(_)) => None,
                    Ok(Event::Init) => {
                        seen_in_init = false;
                        continue;
                    }
                    Ok(Event::InitDone) if !seen_in_init => None,
                    Ok(Event::InitDone) => continue,
                    // A list or watch the retry layer could not get through: waiting longer
                    // only hides why. Other errors (a watch cut mid-stream) the watcher resumes.
                    Err(
                        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e),
                    ) if is_transient(&e) => {
                        return Err(HostError::from_error(&e)
                            .context("the API server cannot be reached")
                            .with_hint(format!(
                                "the API server of {} is unreachable or overloaded; check it and run the play again",
                                self.name()
                            )));
                    }
                    Err(e) => {
                        last_error = Some(HostError::from_error(&e).full_message());
                        continue;
                    }
                };
                if condition.matches_object(observed.as_ref()) {
                    return finish(observed.as_ref()).map(Some);
                }
                last = Some(observed);
            }
            Err(HostError::new("the watch ended unexpectedly"))
        })
        .await;
        match outcome {
            Ok(Ok(result)) => {
                guard.finish(true);
                Ok(result)
            }
            Ok(Err(e)) => Err(e.context(format!("{}: waiting for {what} of {label}", self.name()))),
            Err(_) => Err(HostError::new(format!(
                "{}: timed out after {timeout_secs}s waiting for {what} of {label}; last observed: {}",
                self.name(),
                describe_state(&last.map(|o| o.map(to_value)), &last_error)
            ))),
        }
    }

    /// A dry run's wait: one look at the object as the run would find it.
    async fn plan_wait<T>(
        &self,
        session: &Session<'_>,
        target: Target<'_>,
        condition: &impl Condition<DynamicObject>,
        finish: impl FnOnce(Option<&DynamicObject>) -> HostResult<T>,
        settle: Option<Settle<'_>>,
    ) -> HostResult<Option<T>> {
        let Target {
            resolved,
            namespace,
            name,
            what,
        } = target;
        let namespace = self.namespace_for(resolved, namespace);
        let label = object_label(&resolved.resource.kind, namespace.as_deref(), name);
        let subject = format!("{what} of {label} in {}", self.name());
        let key = PlanKey::new(
            &resolved.resource.group,
            &resolved.resource.kind,
            namespace.as_deref(),
            name,
        );
        let current = match self.overlay.get(&key) {
            Some(planned) => planned,
            None => {
                let api = self.api(resolved, namespace.as_deref());
                api_request(
                    self.name(),
                    &format!("read {label}"),
                    || api.get_opt(name),
                    |e| api_error(self.name(), "read", &label, e),
                )
                .await?
                .map(to_value)
            }
        };
        let watched = |object: &Value| {
            serde_json::from_value::<DynamicObject>(object.clone()).map_err(|e| {
                HostError::new(format!(
                    "{}: the planned {label} is not a Kubernetes object: {e}",
                    self.name()
                ))
            })
        };
        let observed = current.as_ref().map(watched).transpose()?;
        if condition.matches_object(observed.as_ref()) {
            return finish(observed.as_ref()).map(Some);
        }
        let (why, goes_on) = if session.limited_out {
            ("not in --limit", "play")
        } else {
            ("dry run", "plan")
        };
        if let (Some(object), Some(settle)) = (&current, settle) {
            let settled = settle(object);
            let observed = watched(&settled)?;
            if condition.matches_object(Some(&observed)) {
                let result = finish(Some(&observed))?;
                session.reporter.log(&format!(
                    "{why}: not waiting for {subject}; the {goes_on} goes on as if it completed"
                ));
                self.overlay.put(key, settled);
                return Ok(Some(result));
            }
        }
        session.reporter.log(&format!(
            "{why}: not waiting for {subject} (now: {})",
            describe_state(&Some(current), &None)
        ));
        Ok(None)
    }

    /// Waits until `status.conditions` has `type` with `status`; returns the object.
    #[allow(clippy::too_many_arguments)]
    pub async fn wait_condition(
        &self,
        session: &Session<'_>,
        kind: &str,
        name: &str,
        namespace: &str,
        condition: &str,
        status: &str,
        timeout_secs: u64,
    ) -> HostResult<Option<Value>> {
        let resolved = self.resolve(kind).await?;
        let what = format!("condition {condition}={status}");
        let settle = |o: &Value| with_condition(o, condition, status);
        self.wait_settled(
            session,
            Target {
                resolved: &resolved,
                namespace: Some(namespace),
                name,
                what: &what,
            },
            timeout_secs,
            &HasCondition { condition, status },
            |object| Ok(object.map(to_value).unwrap_or(Value::Null)),
            Some(&settle),
        )
        .await
    }

    /// Waits like `kubectl rollout status`: the latest spec observed, all replicas updated and available.
    pub async fn wait_rollout(
        &self,
        session: &Session<'_>,
        namespace: &str,
        name: &str,
        timeout_secs: u64,
    ) -> HostResult<Option<Value>> {
        let resolved = self.resolve("apps/v1/Deployment").await?;
        self.wait_settled(
            session,
            Target {
                resolved: &resolved,
                namespace: Some(namespace),
                name,
                what: "rollout",
            },
            timeout_secs,
            &RolloutComplete,
            |object| Ok(object.map(to_value).unwrap_or(Value::Null)),
            Some(&rolled_out),
        )
        .await
    }

    /// Waits for a load balancer's IP. A hostname-only load balancer is an error: Istio's
    /// remotePilotAddress needs an IP.
    pub async fn wait_loadbalancer(
        &self,
        session: &Session<'_>,
        namespace: &str,
        name: &str,
        timeout_secs: u64,
    ) -> HostResult<Option<String>> {
        let resolved = self.resolve("v1/Service").await?;
        let cluster = self.name().to_string();
        let target = Target {
            resolved: &resolved,
            namespace: Some(namespace),
            name,
            what: "a load balancer IP",
        };
        let finish = |object: Option<&DynamicObject>| {
            let Some(service) = object else {
                return Err(HostError::new(format!(
                    "{cluster}: Service {namespace}/{name} is absent"
                )));
            };
            let service_type = service_type(service);
            if service_type != "LoadBalancer" {
                return Err(HostError::new(format!(
                    "{cluster}: Service {namespace}/{name} is of type {service_type}, not LoadBalancer"
                )));
            }
            let ingress = ingress(service);
            if let Some(ip) = ingress
                .iter()
                .find_map(|i| i.get("ip").and_then(Value::as_str))
            {
                return Ok(ip.to_string());
            }
            let host = ingress
                .iter()
                .find_map(|i| i.get("hostname").and_then(Value::as_str))
                .unwrap_or_default();
            Err(HostError::new(format!(
                "{cluster}: the load balancer of Service {namespace}/{name} has only a hostname ({host}), no IP"
            ))
            .with_hint("Istio's remotePilotAddress needs an IP address: resolve the hostname to an IP, or use a load balancer that assigns IPs"))
        };
        self.wait_settled(
            session,
            target,
            timeout_secs,
            &LoadBalancerSettled,
            finish,
            Some(&with_pending_address),
        )
        .await
    }

    /// Waits until a CustomResourceDefinition is Established.
    pub async fn wait_crd(
        &self,
        session: &Session<'_>,
        name: &str,
        timeout_secs: u64,
    ) -> HostResult<Option<()>> {
        let resolved = self
            .resolve("apiextensions.k8s.io/v1/CustomResourceDefinition")
            .await?;
        let settle = |o: &Value| with_condition(o, "Established", "True");
        self.wait_settled(
            session,
            Target {
                resolved: &resolved,
                namespace: None,
                name,
                what: "condition Established",
            },
            timeout_secs,
            &CrdEstablished,
            |_| Ok(()),
            Some(&settle),
        )
        .await
    }

    /// Waits until the object with `uid` is gone.
    pub(super) async fn wait_deleted(
        &self,
        session: &Session<'_>,
        resolved: &Resolved,
        namespace: Option<&str>,
        name: &str,
        uid: Option<String>,
        timeout_secs: u64,
    ) -> HostResult<()> {
        self.wait_for(
            session,
            resolved,
            namespace,
            name,
            "deletion",
            timeout_secs,
            &Deleted {
                uid: uid.as_deref(),
            },
            |_| Ok(()),
        )
        .await
        .map(|_| ())
    }
}

fn to_value(object: impl serde::Serialize) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// The object once a condition holds (what a wait for it ends with).
fn with_condition(object: &Value, condition: &str, status: &str) -> Value {
    let mut out = object.clone();
    let mut conditions: Vec<Value> = out
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some(condition));
    conditions.push(serde_json::json!({"type": condition, "status": status}));
    set_status(&mut out, "conditions", Value::Array(conditions));
    out
}

/// A Deployment once rolled out: every wanted replica updated and available.
fn rolled_out(deployment: &Value) -> Value {
    let mut out = deployment.clone();
    let number = |path: &str| deployment.pointer(path).and_then(Value::as_i64);
    let wanted = number("/spec/replicas").unwrap_or(1);
    let generation = number("/metadata/generation").unwrap_or(1);
    for (field, value) in [
        ("observedGeneration", generation),
        ("replicas", wanted),
        ("updatedReplicas", wanted),
        ("readyReplicas", wanted),
        ("availableReplicas", wanted),
    ] {
        set_status(&mut out, field, Value::from(value));
    }
    out
}

/// A LoadBalancer Service once provisioned: its address is known after apply.
fn with_pending_address(service: &Value) -> Value {
    let mut out = service.clone();
    if service.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer") {
        set_status(
            &mut out,
            "loadBalancer",
            serde_json::json!({"ingress": [{"ip": KNOWN_AFTER_APPLY}]}),
        );
    }
    out
}

fn set_status(object: &mut Value, field: &str, value: Value) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let status = map
        .entry("status")
        .or_insert_with(|| Value::Object(Default::default()));
    if !status.is_object() {
        *status = Value::Object(Default::default());
    }
    if let Some(status) = status.as_object_mut() {
        status.insert(field.to_string(), value);
    }
}

/// How long a wait takes at most when the playbook does not say: five minutes.
const DEFAULT_WAIT_SECS: u64 = 300;

/// The seconds a wait may take: the playbook's `timeout`, or [`DEFAULT_WAIT_SECS`].
pub fn wait_secs(timeout: Option<Duration>) -> u64 {
    timeout.map_or(DEFAULT_WAIT_SECS, |timeout| timeout.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_wait_takes_five_minutes_unless_told() {
        assert_eq!(wait_secs(None), 300);
        assert_eq!(wait_secs(Some(Duration::from_secs(42))), 42);
        assert_eq!(wait_secs(Some(Duration::from_millis(1500))), 1);
    }

    #[test]
    fn last_state_is_the_status() {
        let state = describe_state(
            &Some(Some(json!({"kind": "Secret", "data": {"k": "c2VjcmV0"}}))),
            &None,
        );
        assert_eq!(state, "exists, without status");
        assert_eq!(describe_state(&Some(None), &None), "absent");
    }
}
