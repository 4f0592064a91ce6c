//! Pod specs, as in Pods and the templates of workloads: the checks users run into.
use super::{is_label, is_name_part, LABEL_MSG};
use crate::status::FieldError;
use serde_json::Value;

const IANA_SVC_NAME_MSG: &str =
    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";

/// Checks `spec` (a PodSpec at `path`); `restart_always` for workload templates.
pub(super) fn spec(spec: &Value, path: &str, restart_always: bool, causes: &mut Vec<FieldError>) {
    let containers = spec["containers"].as_array().filter(|c| !c.is_empty());
    let Some(containers) = containers else {
        causes.push(FieldError::required(&format!("{path}.containers")));
        return;
    };
    let mut names: Vec<&str> = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let at = format!("{path}.containers[{i}]");
        container(c, &at, causes);
        let name = c["name"].as_str().unwrap_or("");
        if !name.is_empty() && names.contains(&name) {
            causes.push(FieldError::duplicate(
                &format!("{at}.name"),
                &format!("\"{name}\""),
            ));
        }
        names.push(name);
    }
    for (i, c) in spec["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        container(c, &format!("{path}.initContainers[{i}]"), causes);
    }
    if restart_always {
        if let Some(policy) = spec["restartPolicy"].as_str().filter(|p| *p != "Always") {
            causes.push(FieldError::not_supported(
                &format!("{path}.restartPolicy"),
                &Value::from(policy),
                &["Always"],
            ));
        }
    }
}

fn container(c: &Value, at: &str, causes: &mut Vec<FieldError>) {
    match c["name"].as_str().unwrap_or("") {
        "" => causes.push(FieldError::required(&format!("{at}.name"))),
        name if !is_label(name) => {
            causes.push(FieldError::invalid(&format!("{at}.name"), name, LABEL_MSG));
        }
        _ => {}
    }
    if c["image"].as_str().unwrap_or("").trim().is_empty() {
        causes.push(FieldError::required(&format!("{at}.image")));
    }
    for (i, port) in c["ports"].as_array().into_iter().flatten().enumerate() {
        let p = &port["containerPort"];
        if !(1..=65535).contains(&p.as_i64().unwrap_or(0)) {
            causes.push(FieldError::invalid_value(
                &format!("{at}.ports[{i}].containerPort"),
                p,
                super::PORT_RANGE_MSG,
            ));
        }
        if let Some(name) = port["name"].as_str() {
            if !is_port_name(name) {
                causes.push(FieldError::invalid(
                    &format!("{at}.ports[{i}].name"),
                    name,
                    IANA_SVC_NAME_MSG,
                ));
            }
        }
    }
}

/// An IANA service name: at most 15 characters, lowercase letters, digits and inner hyphens,
/// at least one letter.
pub(super) fn is_port_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && is_name_part(name)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.contains("--")
}
