//! Server-filled metadata: uids, timestamps, defaults a real API server applies.
use serde_json::{json, Value};

pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn new_uid() -> String {
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
pub fn age_of(timestamp: &str) -> String {
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
pub fn human_duration(secs: i64) -> String {
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
/// returns `stringData`; a Secret without `type` is Opaque.
fn secret_defaults(obj: &mut Value) {
    use base64::Engine as _;
    if obj["type"].is_null() {
        obj["type"] = json!("Opaque");
    }
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

/// Defaults the real server fills in on create (and keeps on update).
pub fn apply_defaults(group: &str, kind: &str, obj: &mut Value, old: Option<&Value>) {
    match (group, kind) {
        ("", "Namespace") => {
            let name = obj["metadata"]["name"].clone();
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            if obj["spec"]["finalizers"].is_null() {
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            if obj["status"]["phase"].is_null() {
                obj["status"]["phase"] = json!("Active");
            }
        }
        ("", "Secret") => secret_defaults(obj),
        ("", "Service") => service_defaults(obj, old),
        ("admissionregistration.k8s.io", kind) => webhook_defaults(kind, obj),
        ("apps", "Deployment") => {
            if obj["spec"]["replicas"].is_null() {
                obj["spec"]["replicas"] = json!(1);
            }
            if obj["spec"]["strategy"].is_null() {
                obj["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}});
            }
            if obj["spec"]["revisionHistoryLimit"].is_null() {
                obj["spec"]["revisionHistoryLimit"] = json!(10);
            }
            if obj["spec"]["progressDeadlineSeconds"].is_null() {
                obj["spec"]["progressDeadlineSeconds"] = json!(600);
            }
        }
        _ => {}
    }
}

fn service_defaults(obj: &mut Value, old: Option<&Value>) {
    if obj["spec"]["type"].is_null() {
        obj["spec"]["type"] = json!("ClusterIP");
    }
    if obj["spec"]["sessionAffinity"].is_null() {
        obj["spec"]["sessionAffinity"] = json!("None");
    }
    if obj["spec"]["clusterIP"].is_null() {
        let ip = old
            .map(|o| o["spec"]["clusterIP"].clone())
            .filter(|ip| ip.is_string())
            .unwrap_or_else(|| {
                let b: [u8; 2] = rand::random();
                json!(format!("10.96.{}.{}", b[0], b[1].max(2)))
            });
        obj["spec"]["clusterIP"] = ip.clone();
        obj["spec"]["clusterIPs"] = json!([ip]);
    }
    if let Some(ports) = obj["spec"]["ports"].as_array_mut() {
        for port in ports {
            if port["protocol"].is_null() {
                port["protocol"] = json!("TCP");
            }
            if port["targetPort"].is_null() {
                port["targetPort"] = port["port"].clone();
            }
        }
    }
    if obj["status"]["loadBalancer"].is_null() {
        obj["status"]["loadBalancer"] = json!({});
    }
    let spec = &mut obj["spec"];
    if spec["type"] == "ExternalName" {
        return;
    }
    if spec["ipFamilies"].is_null() {
        spec["ipFamilies"] = json!(["IPv4"]);
    }
    if spec["ipFamilyPolicy"].is_null() {
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
    if spec["internalTrafficPolicy"].is_null() {
        spec["internalTrafficPolicy"] = json!("Cluster");
    }
    let external = matches!(spec["type"].as_str(), Some("NodePort" | "LoadBalancer"));
    if external && spec["externalTrafficPolicy"].is_null() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    if spec["type"] == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"].is_null() {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }
}

/// What the real server fills into each webhook of a (Mutating|Validating)WebhookConfiguration.
fn webhook_defaults(kind: &str, obj: &mut Value) {
    for hook in obj["webhooks"].as_array_mut().into_iter().flatten() {
        let mut fill = |field: &str, value: Value| {
            if hook[field].is_null() {
                hook[field] = value;
            }
        };
        fill("failurePolicy", json!("Fail"));
        fill("matchPolicy", json!("Equivalent"));
        fill("namespaceSelector", json!({}));
        fill("objectSelector", json!({}));
        fill("timeoutSeconds", json!(10));
        if kind == "MutatingWebhookConfiguration" {
            fill("reinvocationPolicy", json!("Never"));
        }
        if hook["clientConfig"]["service"].is_object()
            && hook["clientConfig"]["service"]["port"].is_null()
        {
            hook["clientConfig"]["service"]["port"] = json!(443);
        }
        for rule in hook["rules"].as_array_mut().into_iter().flatten() {
            if rule["scope"].is_null() {
                rule["scope"] = json!("*");
            }
        }
    }
}
