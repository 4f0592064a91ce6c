//! core/v1 Services: type, ports (range, protocol, names, duplicates by port and protocol).
use super::pod::is_port_name;
use crate::status::FieldError;
use serde_json::{json, Value};

const TYPES: [&str; 4] = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const TARGET_PORT_NAME_MSG: &str =
    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";

pub(super) fn validate(obj: &Value, causes: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    let kind = spec["type"].as_str().unwrap_or("ClusterIP");
    let ports = spec["ports"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if ports.is_empty() && kind != "ExternalName" && spec["clusterIP"] != "None" {
        causes.push(FieldError::required("spec.ports"));
    }
    let many = ports.len() > 1;
    let mut names: Vec<&str> = Vec::new();
    let mut keys: Vec<(i64, &str)> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        let name = port["name"].as_str().unwrap_or("");
        if name.is_empty() && many {
            causes.push(FieldError::required(&format!("{at}.name")));
        } else if !name.is_empty() && names.contains(&name) {
            causes.push(FieldError::duplicate(
                &format!("{at}.name"),
                &format!("\"{name}\""),
            ));
        }
        names.push(name);
        let number = port["port"].as_i64().unwrap_or(0);
        if !(1..=65535).contains(&number) {
            causes.push(FieldError::invalid_value(
                &format!("{at}.port"),
                &port["port"],
                super::PORT_RANGE_MSG,
            ));
        }
        let protocol = port["protocol"].as_str().unwrap_or("TCP");
        if !PROTOCOLS.contains(&protocol) {
            causes.push(FieldError::not_supported(
                &format!("{at}.protocol"),
                &json!(protocol),
                &PROTOCOLS,
            ));
        }
        match &port["targetPort"] {
            Value::Number(n) if !(1..=65535).contains(&n.as_i64().unwrap_or(0)) => {
                causes.push(FieldError::invalid_value(
                    &format!("{at}.targetPort"),
                    &port["targetPort"],
                    super::PORT_RANGE_MSG,
                ));
            }
            Value::String(s) if !is_port_name(s) => causes.push(FieldError::invalid(
                &format!("{at}.targetPort"),
                s,
                TARGET_PORT_NAME_MSG,
            )),
            _ => {}
        }
        if keys.contains(&(number, protocol)) {
            causes.push(FieldError::duplicate(&at, &go_service_port(port)));
        }
        keys.push((number, protocol));
    }
    if !TYPES.contains(&kind) {
        causes.push(FieldError::not_supported("spec.type", &json!(kind), &TYPES));
    }
    load_balancer_status(&obj["status"]["loadBalancer"], causes);
}

/// Since v1.32 an ingress with an IP says how it is reached (`ipMode`).
fn load_balancer_status(status: &Value, causes: &mut Vec<FieldError>) {
    for (i, ingress) in status["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("status.loadBalancer.ingress[{i}].ipMode");
        match &ingress["ipMode"] {
            Value::Null if ingress["ip"].is_string() => causes.push(FieldError::required_because(
                &at,
                "must be specified when `ip` is set",
            )),
            Value::Null => {}
            Value::String(m) if m == "VIP" || m == "Proxy" => {}
            other => causes.push(FieldError::not_supported(&at, other, &["Proxy", "VIP"])),
        }
    }
}

/// How the real server prints a duplicate `ServicePort` (its Go struct, before defaulting).
fn go_service_port(port: &Value) -> String {
    let target = match &port["targetPort"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("\"{s}\""),
        _ => "0".into(),
    };
    format!(
        "{{\"Name\":{},\"Protocol\":{},\"AppProtocol\":{},\"Port\":{},\"TargetPort\":{target},\"NodePort\":{}}}",
        json!(port["name"].as_str().unwrap_or("")),
        json!(port["protocol"].as_str().unwrap_or("TCP")),
        if port["appProtocol"].is_string() { port["appProtocol"].to_string() } else { "null".into() },
        port["port"].as_i64().unwrap_or(0),
        port["nodePort"].as_i64().unwrap_or(0),
    )
}
