//! What a dry run shows: a unified diff of the live and planned objects, with server-managed
//! fields stripped and Secret values masked.

use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

const SERVER_FIELDS: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
];

/// Removes what the server maintains, so only intended changes show.
pub(super) fn strip(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove("status");
        if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
            for field in SERVER_FIELDS {
                metadata.remove(*field);
            }
            if metadata
                .get("annotations")
                .is_some_and(|a| a.as_object().is_some_and(serde_json::Map::is_empty))
            {
                metadata.remove("annotations");
            }
        }
    }
    out
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A random salt per process: fingerprints show whether a value changed between live and
/// planned, but a log holding them cannot be used to guess short secrets offline.
fn salt() -> &'static [u8; 32] {
    static SALT: OnceLock<[u8; 32]> = OnceLock::new();
    SALT.get_or_init(rand::random)
}

fn fingerprint(bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt());
    hasher.update(bytes);
    format!(
        "*** (salted sha256:{})",
        &hex::encode(hasher.finalize())[..12]
    )
}

/// Replaces every value of a Secret's `data` and `stringData` with a fingerprint, so a diff
/// shows that a value changed without showing the value.
pub fn mask_secret(object: &mut Value) {
    let is_secret = object.get("kind").and_then(Value::as_str) == Some("Secret");
    if !is_secret {
        return;
    }
    let Some(map) = object.as_object_mut() else {
        return;
    };
    // Client-side kubectl apply keeps the whole manifest, values included, in an annotation.
    if let Some(Value::Object(annotations)) = map
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        if let Some(value) = annotations.get_mut(LAST_APPLIED) {
            let raw = value.as_str().unwrap_or_default().to_string();
            *value = Value::String(fingerprint(raw.as_bytes()));
        }
    }
    if let Some(Value::Object(data)) = map.get_mut("data") {
        for value in data.values_mut() {
            let raw = value.as_str().unwrap_or_default();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap_or_else(|_| raw.as_bytes().to_vec());
            *value = Value::String(fingerprint(&decoded));
        }
    }
    if let Some(Value::Object(data)) = map.get_mut("stringData") {
        for value in data.values_mut() {
            let raw = match &*value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            *value = Value::String(fingerprint(raw.as_bytes()));
        }
    }
}

fn render(object: Option<&Value>) -> String {
    match object {
        None => String::new(),
        Some(object) => {
            let mut shown = strip(object);
            mask_secret(&mut shown);
            serde_yaml::to_string(&shown).unwrap_or_default()
        }
    }
}

/// Whether applying would change the object, and the diff to show (empty when unchanged).
pub fn plan_diff(live: Option<&Value>, planned: &Value) -> (bool, String) {
    let before = live.map(strip);
    let after = strip(planned);
    if before.as_ref() == Some(&after) {
        return (false, String::new());
    }
    let (old, new) = (render(live), render(Some(planned)));
    let diff = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .to_string();
    (true, diff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_never_show() {
        let live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "resourceVersion": "4"},
            "data": {"password": "aHVudGVyMg=="}});
        let planned = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "resourceVersion": "4"},
            "data": {"password": "czNjcjN0LXZhbHVl"}, "stringData": {"token": "plain-token"}});
        let mut live = live;
        live["metadata"]["annotations"] =
            json!({LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"});
        let (changed, diff) = plan_diff(Some(&live), &planned);
        assert!(changed);
        for secret in [
            "aHVudGVyMg==",
            "hunter2",
            "czNjcjN0LXZhbHVl",
            "s3cr3t-value",
            "plain-token",
        ] {
            assert!(!diff.contains(secret), "{secret} leaked: {diff}");
        }
        assert!(diff.contains("-  password: '*** (salted sha256:"), "{diff}");
        // The same value masks the same way within a run, so an unchanged value shows no change.
        let mut again = planned.clone();
        mask_secret(&mut again);
        let mut twice = planned.clone();
        mask_secret(&mut twice);
        assert_eq!(again, twice);
        assert!(!diff.contains("resourceVersion"));
    }

    #[test]
    fn server_fields_do_not_count_as_changes() {
        let live = json!({"kind": "ConfigMap", "metadata": {"name": "c", "uid": "1", "resourceVersion": "1",
            "managedFields": [{"manager": "runner"}]}, "data": {"a": "1"}});
        let planned = json!({"kind": "ConfigMap", "metadata": {"name": "c", "uid": "1", "resourceVersion": "2"}, "data": {"a": "1"}});
        assert_eq!(plan_diff(Some(&live), &planned), (false, String::new()));
        let changed = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
        let (is_change, diff) = plan_diff(Some(&live), &changed);
        assert!(is_change);
        assert!(
            diff.contains("-  a: '1'") && diff.contains("+  a: '2'"),
            "{diff}"
        );
    }

    #[test]
    fn new_objects_diff_against_nothing() {
        let (changed, diff) = plan_diff(
            None,
            &json!({"kind": "ConfigMap", "metadata": {"name": "c"}}),
        );
        assert!(changed);
        assert!(diff.contains("+kind: ConfigMap"), "{diff}");
    }
}
