//! TokenRequest (`serviceaccounts/NAME/token`) and the legacy token-Secret controller's output.
use super::core::ClusterCore;
use super::meta;
use super::status::{ApiError, FieldError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

const DEFAULT_EXPIRATION: i64 = 3600;
const MIN_EXPIRATION: i64 = 600;

fn claims(namespace: &str, sa: &Value) -> Value {
    json!({"kubernetes.io": {
        "namespace": namespace,
        "serviceaccount": {"name": sa["metadata"]["name"], "uid": sa["metadata"]["uid"]},
    }})
}

fn subject(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

pub(crate) fn token_request(
    core: &ClusterCore,
    namespace: &str,
    name: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Value, ApiError> {
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("the request body could not be decoded: {e}"))
        })?
    };
    let sa = {
        let inner = core.lock();
        inner
            .store
            .get(&("/serviceaccounts".into(), namespace.into(), name.into()))
            .map(|e| e.value.clone())
            .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?
    };
    let seconds = request["spec"]["expirationSeconds"]
        .as_i64()
        .unwrap_or(DEFAULT_EXPIRATION);
    if seconds < MIN_EXPIRATION {
        return Err(ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            name,
            vec![FieldError::invalid(
                "spec.expirationSeconds",
                &seconds.to_string(),
                "may not specify a duration less than 10 minutes",
            )],
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    let expires = now.unix_timestamp() + seconds;
    let token = if dry_run {
        String::new()
    } else {
        core.signer.issue(
            &subject(namespace, name),
            Some(expires),
            claims(namespace, &sa),
        )
    };
    let expiration = time::OffsetDateTime::from_unix_timestamp(expires)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let audiences = request["spec"]["audiences"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![json!("https://kubernetes.default.svc")]);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": meta::now_rfc3339()},
        "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": request["spec"]["boundObjectRef"]},
        "status": {"token": token, "expirationTimestamp": expiration},
    }))
}

/// Fills a `kubernetes.io/service-account-token` Secret once its ServiceAccount exists.
pub(crate) fn fill_token_secret(core: &ClusterCore, namespace: &str, name: &str) -> bool {
    let sa_name = {
        let inner = core.lock();
        let Some(secret) = inner
            .store
            .get(&("/secrets".into(), namespace.into(), name.into()))
        else {
            return true;
        };
        match secret.value["metadata"]["annotations"]["kubernetes.io/service-account.name"].as_str()
        {
            Some(sa) => sa.to_string(),
            None => return true,
        }
    };
    let sa = {
        let inner = core.lock();
        inner
            .store
            .get(&("/serviceaccounts".into(), namespace.into(), sa_name.clone()))
            .map(|e| e.value.clone())
    };
    let Some(sa) = sa else {
        // Not yet: the ServiceAccount may be created right after the Secret.
        return false;
    };
    let token = core
        .signer
        .issue(&subject(namespace, &sa_name), None, claims(namespace, &sa));
    let ca = core.pki.ca_pem.clone();
    super::ops::controller_update(core, "/secrets", namespace, name, |secret| {
        if !secret["data"].is_object() {
            secret["data"] = json!({});
        }
        secret["data"]["token"] = json!(STANDARD.encode(&token));
        secret["data"]["ca.crt"] = json!(STANDARD.encode(&ca));
        secret["data"]["namespace"] = json!(STANDARD.encode(namespace));
        secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"] =
            sa["metadata"]["uid"].clone();
        true
    });
    true
}
