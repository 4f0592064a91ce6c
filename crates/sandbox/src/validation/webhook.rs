//! admissionregistration/v1 webhook configurations: names, client configs, side effects, review
//! versions and timeouts.
use crate::status::FieldError;
use serde_json::{json, Value};

const SIDE_EFFECTS: [&str; 2] = ["None", "NoneOnDryRun"];
const REVIEW_VERSIONS: [&str; 2] = ["v1", "v1beta1"];

pub(super) fn validate(obj: &Value, causes: &mut Vec<FieldError>) {
    let mut names: Vec<&str> = Vec::new();
    for (i, hook) in obj["webhooks"].as_array().into_iter().flatten().enumerate() {
        let at = format!("webhooks[{i}]");
        let name = hook["name"].as_str().unwrap_or("");
        name_check(name, &at, causes);
        if let Some(timeout) = hook["timeoutSeconds"]
            .as_i64()
            .filter(|t| !(1..=30).contains(t))
        {
            causes.push(FieldError::invalid_value(
                &format!("{at}.timeoutSeconds"),
                &json!(timeout),
                "the timeout value must be between 1 and 30 seconds",
            ));
        }
        match &hook["sideEffects"] {
            Value::Null => causes.push(FieldError::required_because(
                &format!("{at}.sideEffects"),
                "must specify one of None, NoneOnDryRun",
            )),
            Value::String(s) if SIDE_EFFECTS.contains(&s.as_str()) => {}
            other => causes.push(FieldError::not_supported(
                &format!("{at}.sideEffects"),
                other,
                &SIDE_EFFECTS,
            )),
        }
        review_versions(&hook["admissionReviewVersions"], &at, causes);
        client_config(&hook["clientConfig"], &format!("{at}.clientConfig"), causes);
        if !name.is_empty() && names.contains(&name) {
            causes.push(FieldError::duplicate(
                &format!("{at}.name"),
                &format!("\"{name}\""),
            ));
        }
        names.push(name);
    }
}

/// A webhook's name is a qualified domain name of at least three segments.
fn name_check(name: &str, at: &str, causes: &mut Vec<FieldError>) {
    let field = format!("{at}.name");
    if name.is_empty() {
        causes.push(FieldError::required(&field));
    } else if !super::is_subdomain(name) {
        causes.push(FieldError::invalid(&field, name, super::SUBDOMAIN_MSG));
    } else if name.split('.').count() < 3 {
        causes.push(FieldError::invalid(
            &field,
            name,
            "should be a domain with at least three segments separated by dots",
        ));
    }
}

fn review_versions(versions: &Value, at: &str, causes: &mut Vec<FieldError>) {
    let field = format!("{at}.admissionReviewVersions");
    let listed: Vec<&str> = versions
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if listed.is_empty() {
        causes.push(FieldError::required_because(
            &field,
            "must specify one of v1, v1beta1",
        ));
    } else if !listed.iter().any(|v| REVIEW_VERSIONS.contains(v)) {
        causes.push(FieldError::invalid_value(
            &field,
            versions,
            "must include at least one of v1, v1beta1",
        ));
    }
}

fn client_config(config: &Value, at: &str, causes: &mut Vec<FieldError>) {
    match (&config["url"], &config["service"]) {
        (Value::String(url), Value::Null) => {
            let scheme = url.split_once("://").map_or("", |(s, _)| s);
            if scheme != "https" {
                causes.push(FieldError::invalid(
                    &format!("{at}.url"),
                    scheme,
                    "'https' is the only allowed URL scheme; desired format: https://host[/path]",
                ));
            }
        }
        (Value::Null, Value::Object(service)) => {
            if let Some(port) = service.get("port").and_then(Value::as_i64) {
                if !(1..=65535).contains(&port) {
                    causes.push(FieldError::invalid_value(
                        &format!("{at}.service.port"),
                        &json!(port),
                        "port is not valid: must be between 1 and 65535, inclusive",
                    ));
                }
            }
        }
        _ => causes.push(FieldError::required_because(
            at,
            "exactly one of url or service is required",
        )),
    }
}
