//! API server errors as messages that name the cluster, the object and the server's reason.

use crate::error::{ErrorKind, HostError};

/// `Kind namespace/name` or `Kind name`.
pub(super) fn object_label(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}

/// The HTTP code of an API error, if the server answered with a Status.
pub(super) fn status_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

pub(super) fn is_not_found(error: &kube::Error) -> bool {
    status_code(error) == Some(404)
}

/// `cluster-1: cannot apply Deployment default/web: <server message> (reason Conflict, HTTP 409)`.
pub(super) fn api_error(cluster: &str, verb: &str, object: &str, error: &kube::Error) -> HostError {
    let head = format!("{cluster}: cannot {verb} {object}");
    match error {
        kube::Error::Api(status) => {
            let mut detail = status.message.clone();
            if detail.is_empty() {
                detail = "the API server refused the request".into();
            }
            let reason = if status.reason.is_empty() {
                format!("HTTP {}", status.code)
            } else {
                format!("reason {}, HTTP {}", status.reason, status.code)
            };
            let message = format!("{head}: {detail} ({reason})");
            let mut err =
                HostError::api_status(cluster, object, status.code, &status.reason, message);
            if status.code == 409 && status.reason == "Conflict" && verb == "apply" {
                err = err.with_hint(
                    "another field manager owns these fields; pass #{force: true} to apply to take them over",
                );
            }
            err
        }
        other => HostError::from_error(other)
            .context(head)
            .with_kind(ErrorKind::Cluster),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiStatus;

    #[test]
    fn api_error_names_cluster_object_and_reason() {
        let status = kube::core::Status {
            code: 409,
            reason: "Conflict".into(),
            message: "Apply failed with 1 conflict: conflict with \"kubectl\"".into(),
            ..Default::default()
        };
        let err = api_error(
            "cluster-1",
            "apply",
            &object_label("ConfigMap", Some("default"), "cfg"),
            &kube::Error::Api(Box::new(status)),
        );
        assert_eq!(
            err.full_message(),
            "cluster-1: cannot apply ConfigMap default/cfg: Apply failed with 1 conflict: conflict with \"kubectl\" (reason Conflict, HTTP 409)"
        );
        assert_eq!(
            err.kind,
            ErrorKind::ApiStatus(Box::new(ApiStatus {
                cluster: "cluster-1".into(),
                object: "ConfigMap default/cfg".into(),
                code: 409,
                reason: "Conflict".into(),
            }))
        );
        assert!(err.hint.unwrap().contains("force: true"));
    }
}
