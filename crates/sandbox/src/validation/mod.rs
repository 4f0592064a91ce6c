//! Object validation as kube-apiserver's strategies do it, one file per kind family; names,
//! labels and annotations for every kind here.
mod config;
mod deployment;
mod endpoint_slice;
mod pod;
pub(crate) mod quantity;
mod rbac;
mod service;
mod webhook;

use super::resources::ResourceType;
use super::status::{ApiError, FieldError};
use serde_json::Value;

const PORT_RANGE_MSG: &str = "must be between 1 and 65535, inclusive";

/// The kind's own checks on a (defaulted) object; `old` is the stored object on update.
pub(crate) fn object(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => deployment::validate(obj, &mut causes),
        ("", "Pod") => pod::spec(&obj["spec"], "spec", false, &mut causes),
        ("", "Service") => service::validate(obj, &mut causes),
        ("", "ConfigMap") => config::keys(obj, &["data", "binaryData"], &mut causes),
        ("", "Secret") => config::keys(obj, &["data"], &mut causes),
        ("admissionregistration.k8s.io", _) => webhook::validate(obj, &mut causes),
        ("discovery.k8s.io", "EndpointSlice") => endpoint_slice::validate(obj, &mut causes),
        ("rbac.authorization.k8s.io", "Role") => rbac::role(obj, true, &mut causes),
        ("rbac.authorization.k8s.io", "ClusterRole") => rbac::role(obj, false, &mut causes),
        ("rbac.authorization.k8s.io", kind @ ("RoleBinding" | "ClusterRoleBinding")) => {
            rbac::binding(obj, kind == "RoleBinding", &mut causes);
            if let Some(old) = old {
                rbac::binding_update(old, obj, &mut causes);
            }
        }
        _ => {}
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &rt.group,
        &rt.kind,
        obj["metadata"]["name"].as_str().unwrap_or(""),
        causes,
    ))
}

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

/// Checks the name of `obj` (of type `rt`) as the real server's strategies do.
pub(crate) fn name(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            "",
            vec![FieldError::required("metadata.name")],
        ));
    }
    let problem = match rt.kind.as_str() {
        // Service names are RFC 1123 labels since v1.34 (RelaxedServiceNameValidation).
        "Namespace" | "Service" if !is_label(name) => Some(LABEL_MSG),
        // RBAC objects allow path-segment names; everything else is a subdomain.
        "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding" => {
            (name.contains('/') || name.contains('%') || name == "." || name == "..")
                .then_some("may not contain '/' or '%'")
        }
        _ if !is_subdomain(name) => Some(SUBDOMAIN_MSG),
        _ => None,
    };
    match problem {
        Some(why) => Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            vec![FieldError::invalid("metadata.name", name, why)],
        )),
        None => Ok(()),
    }
}

/// Kind-specific checks on an update from `old` to `new`.
pub(crate) fn update(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), ApiError> {
    if rt.kind == "Secret" && rt.group.is_empty() {
        let old_type = old["type"].as_str().unwrap_or("Opaque");
        let new_type = new["type"].as_str().unwrap_or("Opaque");
        if old_type != new_type {
            return Err(ApiError::invalid(
                "",
                "Secret",
                new["metadata"]["name"].as_str().unwrap_or(""),
                vec![FieldError::invalid("type", new_type, "field is immutable")],
            ));
        }
    }
    Ok(())
}

/// CRD names must be `<plural>.<group>`.
pub(crate) fn crd(obj: &Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let plural = obj["spec"]["names"]["plural"].as_str().unwrap_or("");
    let group = obj["spec"]["group"].as_str().unwrap_or("");
    let mut causes = Vec::new();
    if plural.is_empty() {
        causes.push(FieldError::required("spec.names.plural"));
    }
    if obj["spec"]["names"]["kind"]
        .as_str()
        .unwrap_or("")
        .is_empty()
    {
        causes.push(FieldError::required("spec.names.kind"));
    }
    if group.is_empty() {
        causes.push(FieldError::required("spec.group"));
    }
    if causes.is_empty() && name != format!("{plural}.{group}") {
        causes.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            causes,
        ))
    }
}

const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters.
fn is_name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_qualified_name(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => !prefix.is_empty() && is_subdomain(prefix) && is_name_part(name),
        None => is_name_part(key),
    }
}

/// Label keys and values and annotation keys, as every write checks them.
pub(crate) fn metadata(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    for (field, map) in [
        ("metadata.labels", &obj["metadata"]["labels"]),
        ("metadata.annotations", &obj["metadata"]["annotations"]),
    ] {
        for (key, value) in map.as_object().into_iter().flatten() {
            if !is_qualified_name(key) {
                causes.push(FieldError::invalid(field, key, QUALIFIED_NAME_MSG));
            }
            if field == "metadata.labels" {
                let text = value.as_str().unwrap_or("");
                if !(text.is_empty() || is_name_part(text)) {
                    causes.push(FieldError::invalid(field, text, LABEL_VALUE_MSG));
                }
            }
        }
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &rt.group,
        &rt.kind,
        obj["metadata"]["name"].as_str().unwrap_or(""),
        causes,
    ))
}
