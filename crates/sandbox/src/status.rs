//! Kubernetes `Status` failures, shaped exactly like a real kube-apiserver's.
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if self.reason.is_empty() {
            if let Some(m) = status.as_object_mut() {
                m.remove("reason");
            }
        }
        status
    }

    fn new(code: u16, reason: &'static str, message: String, details: Option<Value>) -> Self {
        ApiError {
            code,
            reason,
            message,
            details,
        }
    }

    pub(crate) fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let mut details = json!({"name": name, "kind": plural});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
            Some(details),
        )
    }

    pub(crate) fn no_resource() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            Some(json!({})),
        )
    }

    pub(crate) fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let mut details = json!({"name": name, "kind": plural});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
            Some(details),
        )
    }

    pub(crate) fn conflict(group: &str, plural: &str, name: &str) -> Self {
        let mut details = json!({"name": name, "kind": plural});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(group, plural)
            ),
            Some(details),
        )
    }

    pub(crate) fn apply_conflict(
        group: &str,
        plural: &str,
        name: &str,
        message: String,
        causes: Vec<Value>,
    ) -> Self {
        let mut details = json!({"name": name, "kind": plural, "causes": causes});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(409, "Conflict", message, Some(details))
    }

    /// 422 with one cause per invalid field, as `field.ErrorList.ToAggregate()` renders it.
    pub(crate) fn invalid(group: &str, kind: &str, name: &str, causes: Vec<FieldError>) -> Self {
        let summary = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect::<Vec<_>>();
        let joined = if summary.len() == 1 {
            summary[0].clone()
        } else {
            format!("[{}]", summary.join(", "))
        };
        let mut details = json!({
            "name": name,
            "kind": kind,
            "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>(),
        });
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        let qualified_kind = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {joined}"),
            Some(details),
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), None)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized".into(), None)
    }

    pub(crate) fn forbidden(message: String, details: Value) -> Self {
        Self::new(403, "Forbidden", message, Some(details))
    }

    /// 403 from the NamespaceLifecycle admission plugin: the namespace is being deleted.
    pub(crate) fn namespace_terminating(
        group: &str,
        plural: &str,
        name: &str,
        namespace: &str,
    ) -> Self {
        let mut details = json!({
            "name": name,
            "kind": plural,
            "causes": [{
                "reason": "NamespaceTerminating",
                "message": format!("namespace {namespace} is being terminated"),
                "field": "metadata.namespace",
            }],
        });
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                qualified(group, plural)
            ),
            Some(details),
        )
    }

    pub(crate) fn not_acceptable() -> Self {
        Self::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf".into(),
            None,
        )
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            Some(json!({})),
        )
    }

    /// 415 for a PATCH body type the server does not take (here: strategic merge on custom resources).
    pub(crate) fn unsupported_patch(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"),
            None,
        )
    }

    /// 415 for a protobuf body of a kind the sandbox has no protobuf schema for.
    pub(crate) fn unsupported_body(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - the sandbox decodes {content_type} only for Namespace, ConfigMap, Secret, ServiceAccount, Service, Deployment, TokenRequest and RBAC roles and bindings; send application/json or application/yaml"),
            None,
        )
    }

    pub(crate) fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
            None,
        )
    }

    /// The 500 (without a reason) a real server answers for an apply it cannot type.
    pub(crate) fn typed_patch(message: &str) -> Self {
        Self::new(500, "", message.into(), None)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message.into(), None)
    }

    pub(crate) fn too_many_requests() -> Self {
        Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later".into(),
            Some(json!({"retryAfterSeconds": 1})),
        )
    }
}

/// One entry of `details.causes` in an Invalid response.
#[derive(Debug, Clone)]
pub(crate) struct FieldError {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub(crate) fn invalid(field: &str, value: &str, why: &str) -> Self {
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: \"{value}\": {why}"),
        }
    }

    /// An invalid value rendered as the real server renders it: numbers bare, maps as JSON.
    pub(crate) fn invalid_value(field: &str, value: &Value, why: &str) -> Self {
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {value}: {why}"),
        }
    }

    pub(crate) fn required_because(field: &str, why: &str) -> Self {
        FieldError {
            reason: "FieldValueRequired",
            field: field.into(),
            message: format!("Required value: {why}"),
        }
    }

    pub(crate) fn duplicate(field: &str, value: &str) -> Self {
        FieldError {
            reason: "FieldValueDuplicate",
            field: field.into(),
            message: format!("Duplicate value: {value}"),
        }
    }

    pub(crate) fn not_supported(field: &str, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        FieldError {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        }
    }

    pub(crate) fn required(field: &str) -> Self {
        FieldError {
            reason: "FieldValueRequired",
            field: field.into(),
            message: "Required value".into(),
        }
    }
}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}
