//! Server-filled metadata: uids, timestamps, defaults a real API server applies.
use serde_json::{json, Value};

pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn new_uid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        (b[8] & 0x3) | 0x8,
        &h[17..20],
        &h[20..32]
    )
}

/// Seconds since an RFC 3339 timestamp, for the Age column.
pub(crate) fn age_of(timestamp: &str) -> String {
    let Ok(then) =
        time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
    else {
        return "<unknown>".into();
    };
    let secs = (time::OffsetDateTime::now_utc() - then)
        .whole_seconds()
        .max(0);
    human_duration(secs)
}

/// kubectl's HumanDuration.
pub(crate) fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

/// A real server stores `stringData` as base64 `data` (stringData wins per key) and never
/// returns `stringData`.
fn secret_string_data(obj: &mut Value) {
    use base64::Engine as _;
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    for (key, value) in strings {
        let text = value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        data[key.as_str()] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// Everything the real server fills in on create (and keeps on update): the decoder's defaults
/// and what the kind's strategy sets.
pub(crate) fn apply_defaults(group: &str, kind: &str, obj: &mut Value, old: Option<&Value>) {
    decode_defaults(group, kind, obj);
    match (group, kind) {
        ("", "Namespace") => {
            if obj["spec"]["finalizers"].is_null() {
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            if obj["status"]["phase"].is_null() {
                obj["status"]["phase"] = json!("Active");
            }
        }
        ("", "Service") => service_allocations(obj, old),
        ("apps", "Deployment") | ("", "ResourceQuota") => fill(obj, "status", json!({})),
        _ => {}
    }
}

/// The Go defaulters, which run while a body is decoded: what they fill in is recorded in
/// managedFields as the writer's, as the real server records it.
pub(crate) fn decode_defaults(group: &str, kind: &str, obj: &mut Value) {
    match (group, kind) {
        ("", "Namespace") => {
            let name = obj["metadata"]["name"].clone();
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
        }
        ("", "Secret") => {
            fill(obj, "type", json!("Opaque"));
            secret_string_data(obj);
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            // Go's lists without omitempty: an absent list is stored and answered as null.
            fill(obj, "endpoints", Value::Null);
            fill(obj, "ports", Value::Null);
            for endpoint in items(obj, "endpoints") {
                fill(endpoint, "conditions", json!({}));
            }
            for port in items(obj, "ports") {
                fill(port, "protocol", json!("TCP"));
                fill(port, "name", json!(""));
            }
        }
        ("", "Service") => service_defaults(obj),
        ("apps", "Deployment") => {
            let spec = &mut obj["spec"];
            fill(spec, "replicas", json!(1));
            fill(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
            fill(spec, "revisionHistoryLimit", json!(10));
            fill(spec, "progressDeadlineSeconds", json!(600));
            if let Some(template) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
                pod_spec_defaults(template);
            }
        }
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec_defaults(spec);
            }
        }
        ("admissionregistration.k8s.io", kind) => webhook_defaults(kind, obj),
        _ => {}
    }
}

fn fill(obj: &mut Value, field: &str, value: Value) {
    if obj.is_object() && obj.get(field).is_none_or(Value::is_null) {
        obj[field] = value;
    }
}

/// Each item of the array at `obj[field]`, if there is one (never adds the field).
fn items<'a>(obj: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    obj.get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// What the real server fills into a pod spec (of a Pod or a workload's template).
fn pod_spec_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    fill(spec, "restartPolicy", json!("Always"));
    fill(spec, "terminationGracePeriodSeconds", json!(30));
    fill(spec, "dnsPolicy", json!("ClusterFirst"));
    fill(spec, "securityContext", json!({}));
    fill(spec, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        for c in items(spec, list) {
            fill(c, "resources", json!({}));
            fill(c, "terminationMessagePath", json!("/dev/termination-log"));
            fill(c, "terminationMessagePolicy", json!("File"));
            let image = c["image"].as_str().unwrap_or("");
            let last = image.rsplit('/').next().unwrap_or("");
            let tagged = last.contains(':') && !last.ends_with(":latest");
            let policy = if tagged || image.contains('@') {
                "IfNotPresent"
            } else {
                "Always"
            };
            fill(c, "imagePullPolicy", json!(policy));
            for port in items(c, "ports") {
                fill(port, "protocol", json!("TCP"));
            }
            for env in items(c, "env") {
                if let Some(field_ref) =
                    env.get_mut("valueFrom").and_then(|v| v.get_mut("fieldRef"))
                {
                    fill(field_ref, "apiVersion", json!("v1"));
                }
            }
        }
    }
    for volume in items(spec, "volumes") {
        for source in ["configMap", "secret", "projected", "downwardAPI"] {
            if let Some(source) = volume.get_mut(source).filter(|s| s.is_object()) {
                fill(source, "defaultMode", json!(420));
            }
        }
    }
}

/// The Service defaulter: type, session affinity, port protocols and target ports, traffic
/// policies.
fn service_defaults(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    fill(spec, "type", json!("ClusterIP"));
    fill(spec, "sessionAffinity", json!("None"));
    for port in items(spec, "ports") {
        fill(port, "protocol", json!("TCP"));
        let number = port["port"].clone();
        fill(port, "targetPort", number);
    }
    if spec["type"] == "ExternalName" {
        return;
    }
    fill(spec, "internalTrafficPolicy", json!("Cluster"));
    if matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer")) {
        fill(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if spec["type"] == "LoadBalancer" {
        fill(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

/// What the Service strategy allocates: a cluster IP (kept across updates) and its family.
fn service_allocations(obj: &mut Value, old: Option<&Value>) {
    if obj["status"]["loadBalancer"].is_null() {
        obj["status"]["loadBalancer"] = json!({});
    }
    let spec = &mut obj["spec"];
    if spec["type"] == "ExternalName" {
        return;
    }
    if spec["clusterIP"].is_null() {
        let ip = old
            .map(|o| o["spec"]["clusterIP"].clone())
            .filter(serde_json::Value::is_string)
            .unwrap_or_else(|| {
                let b: [u8; 2] = rand::random();
                json!(format!("10.96.{}.{}", b[0], b[1].max(2)))
            });
        spec["clusterIP"] = ip.clone();
        spec["clusterIPs"] = json!([ip]);
    }
    let ip = spec["clusterIP"].clone();
    fill(spec, "clusterIPs", json!([ip]));
    fill(spec, "ipFamilies", json!(["IPv4"]));
    fill(spec, "ipFamilyPolicy", json!("SingleStack"));
}

/// What the real server fills into each webhook of a (Mutating|Validating)WebhookConfiguration.
fn webhook_defaults(kind: &str, obj: &mut Value) {
    for hook in items(obj, "webhooks") {
        fill(hook, "failurePolicy", json!("Fail"));
        fill(hook, "matchPolicy", json!("Equivalent"));
        fill(hook, "namespaceSelector", json!({}));
        fill(hook, "objectSelector", json!({}));
        fill(hook, "timeoutSeconds", json!(10));
        if kind == "MutatingWebhookConfiguration" {
            fill(hook, "reinvocationPolicy", json!("Never"));
        }
        if let Some(service) = hook
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
            .filter(|s| s.is_object())
        {
            fill(service, "port", json!(443));
        }
        for rule in items(hook, "rules") {
            fill(rule, "scope", json!("*"));
        }
    }
}
