//! rbac.authorization.k8s.io/v1: rules need verbs and, for resources, API groups; bindings need a
//! role reference of a known kind and subjects of known kinds.
use crate::status::FieldError;
use serde_json::{json, Value};

pub(super) fn role(obj: &Value, namespaced: bool, causes: &mut Vec<FieldError>) {
    for (i, rule) in obj["rules"].as_array().into_iter().flatten().enumerate() {
        let at = format!("rules[{i}]");
        let empty = |v: &Value| v.as_array().is_none_or(std::vec::Vec::is_empty);
        if empty(&rule["verbs"]) {
            causes.push(FieldError::required_because(
                &format!("{at}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = !empty(&rule["nonResourceURLs"]);
        if urls && namespaced {
            causes.push(FieldError::invalid_value(
                &format!("{at}.nonResourceURLs"),
                &rule["nonResourceURLs"],
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if urls && (!empty(&rule["resources"]) || !empty(&rule["apiGroups"])) {
            causes.push(FieldError::invalid_value(
                &format!("{at}.nonResourceURLs"),
                &rule["nonResourceURLs"],
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        if !urls && empty(&rule["resources"]) {
            causes.push(FieldError::required_because(
                &format!("{at}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
        if !urls && empty(&rule["apiGroups"]) {
            causes.push(FieldError::required_because(
                &format!("{at}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
    }
}

pub(super) fn binding(obj: &Value, namespaced: bool, causes: &mut Vec<FieldError>) {
    let role_ref = &obj["roleRef"];
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    match role_ref["kind"].as_str().unwrap_or("") {
        k if kinds.contains(&k) => {}
        k => causes.push(FieldError::not_supported("roleRef.kind", &json!(k), kinds)),
    }
    if role_ref["apiGroup"].as_str() != Some("rbac.authorization.k8s.io") {
        causes.push(FieldError::not_supported(
            "roleRef.apiGroup",
            &role_ref["apiGroup"]
                .as_str()
                .map_or(json!(""), |g| json!(g)),
            &["rbac.authorization.k8s.io"],
        ));
    }
    if role_ref["name"].as_str().unwrap_or("").is_empty() {
        causes.push(FieldError::required("roleRef.name"));
    }
    for (i, subject) in obj["subjects"].as_array().into_iter().flatten().enumerate() {
        let at = format!("subjects[{i}]");
        if subject["name"].as_str().unwrap_or("").is_empty() {
            causes.push(FieldError::required(&format!("{at}.name")));
        }
        match subject["kind"].as_str().unwrap_or("") {
            "ServiceAccount" => {
                if !namespaced && subject["namespace"].as_str().unwrap_or("").is_empty() {
                    causes.push(FieldError::required(&format!("{at}.namespace")));
                }
            }
            "User" | "Group" => {}
            other => causes.push(FieldError::not_supported(
                &format!("{at}.kind"),
                &json!(other),
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
}

/// A binding's role reference cannot change; a new binding is needed instead.
pub(super) fn binding_update(old: &Value, new: &Value, causes: &mut Vec<FieldError>) {
    if old["roleRef"] != new["roleRef"] {
        causes.push(FieldError::invalid_value(
            "roleRef",
            &new["roleRef"],
            "cannot change roleRef",
        ));
    }
}
