//! A dry run's view of one cluster: the objects the plan would create, change or delete, as the
//! server's dry run answered for them. Later reads of the same plan (get, exists, list,
//! read_secret, waits) see these instead of the live objects, so a plan sees what the run would.
//!
//! Only a dry run writes here; a real run's reads therefore always reach the server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde_json::Value;

/// What a plan shows for a value only a real run can know: an address a load balancer will get,
/// a token a controller will fill in.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// What a dry run would have created so far in this run: later objects in those namespaces
/// or of those kinds cannot be judged by the server, which has never seen them.
#[derive(Clone, Debug, Default)]
pub(super) struct Planned {
    pub(super) groups: BTreeSet<String>,
    pub(super) namespaces: BTreeSet<String>,
}

/// One object of a cluster: its API group, kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PlanKey {
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl PlanKey {
    pub(super) fn new(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        PlanKey {
            group: group.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }
}

/// What the plan says of one object: `Some` as it would be after the run, `None` deleted.
pub(super) type PlannedState = Option<Value>;

#[derive(Debug, Default)]
pub(super) struct Overlay {
    objects: Mutex<BTreeMap<PlanKey, PlannedState>>,
}

impl Overlay {
    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<PlanKey, PlannedState>> {
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `None`: the plan does not touch the object (read it live).
    pub(super) fn get(&self, key: &PlanKey) -> Option<PlannedState> {
        self.objects().get(key).cloned()
    }

    pub(super) fn put(&self, key: PlanKey, object: Value) {
        self.objects().insert(key, Some(object));
    }

    pub(super) fn delete(&self, key: PlanKey) {
        self.objects().insert(key, None);
    }

    /// Every planned object of a kind, in one namespace or in all (`None`).
    pub(super) fn of_kind(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Vec<(PlanKey, PlannedState)> {
        self.objects()
            .iter()
            .filter(|(k, _)| {
                k.group == group
                    && k.kind == kind
                    && (namespace.is_none() || k.namespace.as_deref() == namespace)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Planned objects of a kind the server does not serve yet (its CRD is only planned):
    /// `kind` as a playbook writes it (Kind, group/version/Kind, Kind.group, any case).
    pub(super) fn unserved(&self, kind: &str, namespace: &str, name: &str) -> Option<PlannedState> {
        let wanted = kind.to_ascii_lowercase();
        self.objects()
            .iter()
            .find(|(k, _)| {
                let lower = k.kind.to_ascii_lowercase();
                let matches_kind = wanted == lower
                    || wanted.ends_with(&format!("/{lower}"))
                    || wanted == format!("{lower}.{}", k.group);
                matches_kind
                    && k.name == name
                    && (namespace.is_empty() || k.namespace.as_deref() == Some(namespace))
            })
            .map(|(_, v)| v.clone())
    }
}

/// An object the server has not judged (its namespace or CRD is only planned) as the server
/// would store it, where later reads depend on it: a Secret's `stringData` becomes `data`.
pub(super) fn as_stored(object: &Value) -> Value {
    use base64::Engine as _;
    let mut out = object.clone();
    if out.get("kind").and_then(Value::as_str) != Some("Secret") {
        return out;
    }
    let Some(map) = out.as_object_mut() else {
        return out;
    };
    if let Some(Value::Object(strings)) = map.remove("stringData") {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(data) = data.as_object_mut() {
            for (key, value) in strings {
                let text = value.as_str().unwrap_or_default().to_string();
                let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                data.insert(key, Value::String(encoded));
            }
        }
    }
    map.entry("type")
        .or_insert_with(|| Value::String("Opaque".into()));
    out
}

/// What the server judges in place of a value known after apply: a documentation address
/// (RFC 5737), valid wherever an address, a host in a URL, a label value or a token goes.
pub(super) const STAND_IN: &str = "192.0.2.1";

/// The object with every `from` in its strings replaced by `to`.
pub(super) fn substitute(object: &Value, from: &str, to: &str) -> Value {
    match object {
        Value::String(s) => Value::String(s.replace(from, to)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute(v, from, to)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether any value of the object is known only after apply.
pub(super) fn holds_unknowns(object: &Value) -> bool {
    match object {
        Value::String(s) => s.contains(KNOWN_AFTER_APPLY),
        Value::Array(items) => items.iter().any(holds_unknowns),
        Value::Object(map) => map.values().any(holds_unknowns),
        _ => false,
    }
}

/// Whether every label of `selector` is on the object.
pub(super) fn has_labels(object: &Value, selector: &BTreeMap<String, String>) -> bool {
    let labels = object.pointer("/metadata/labels");
    selector.iter().all(|(k, v)| {
        labels
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            .is_some_and(|have| have == v)
    })
}

/// Puts the live value where the plan has one only a real run can know, so an unknown value
/// never makes an unchanged object look changed. Where the live object has no value, the
/// plan keeps showing it as known after apply.
pub(super) fn fill_unknowns(planned: &mut Value, live: &Value) {
    match planned {
        Value::String(s) if s.contains(KNOWN_AFTER_APPLY) => {
            if let Some(before) = live.as_str().filter(|l| fits(s, l)) {
                *planned = Value::String(before.to_string());
            } else if s == KNOWN_AFTER_APPLY && !live.is_null() {
                *planned = live.clone();
            }
        }
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if let Some(before) = live.get(key) {
                    fill_unknowns(value, before);
                }
            }
        }
        Value::Array(items) => {
            if let Some(before) = live.as_array() {
                for (value, old) in items.iter_mut().zip(before) {
                    fill_unknowns(value, old);
                }
            }
        }
        _ => {}
    }
}

/// Whether `live` is `planned` with each unknown part filled in (an address inside a URL).
fn fits(planned: &str, live: &str) -> bool {
    let parts: Vec<&str> = planned.split(KNOWN_AFTER_APPLY).collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if !live.starts_with(first) || !live.ends_with(last) || live.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &live[first.len()..live.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_values_take_the_live_value() {
        let mut planned = json!({"spec": {"ip": KNOWN_AFTER_APPLY, "ports": [{"port": 1}]}});
        fill_unknowns(&mut planned, &json!({"spec": {"ip": "10.0.0.1"}}));
        assert_eq!(
            planned,
            json!({"spec": {"ip": "10.0.0.1", "ports": [{"port": 1}]}})
        );
        let mut url = json!({"url": format!("https://{KNOWN_AFTER_APPLY}:15017/inject")});
        fill_unknowns(&mut url, &json!({"url": "https://10.0.0.1:15017/inject"}));
        assert_eq!(url, json!({"url": "https://10.0.0.1:15017/inject"}));
        let mut other = json!({"url": format!("https://{KNOWN_AFTER_APPLY}:15017/inject")});
        fill_unknowns(&mut other, &json!({"url": "https://10.0.0.1:443/other"}));
        assert_eq!(
            other,
            json!({"url": format!("https://{KNOWN_AFTER_APPLY}:15017/inject")})
        );
        let mut fresh = json!({"ip": KNOWN_AFTER_APPLY});
        fill_unknowns(&mut fresh, &json!({}));
        assert_eq!(fresh, json!({"ip": KNOWN_AFTER_APPLY}));
    }

    #[test]
    fn unknowns_are_found_and_stood_in_for_anywhere() {
        let object =
            json!({"spec": {"urls": [format!("https://{KNOWN_AFTER_APPLY}:1/x")], "n": 1}});
        assert!(holds_unknowns(&object));
        let stood_in = substitute(&object, KNOWN_AFTER_APPLY, STAND_IN);
        assert_eq!(
            stood_in,
            json!({"spec": {"urls": ["https://192.0.2.1:1/x"], "n": 1}})
        );
        assert!(!holds_unknowns(&stood_in));
        assert_eq!(substitute(&stood_in, STAND_IN, KNOWN_AFTER_APPLY), object);
    }

    #[test]
    fn secrets_are_stored_with_data() {
        let stored =
            as_stored(&json!({"kind": "Secret", "stringData": {"k": "v"}, "data": {"a": "Yg=="}}));
        assert_eq!(
            stored,
            json!({"kind": "Secret", "data": {"a": "Yg==", "k": "dg=="}, "type": "Opaque"})
        );
    }

    #[test]
    fn unserved_kinds_match_as_playbooks_write_them() {
        let overlay = Overlay::default();
        let key = PlanKey::new("networking.istio.io", "Gateway", Some("ns"), "g");
        overlay.put(key, json!({"kind": "Gateway"}));
        for kind in [
            "Gateway",
            "gateway",
            "networking.istio.io/v1/Gateway",
            "gateway.networking.istio.io",
        ] {
            assert!(overlay.unserved(kind, "ns", "g").is_some(), "{kind}");
        }
        assert!(overlay.unserved("Service", "ns", "g").is_none());
        assert!(overlay.unserved("Gateway", "other", "g").is_none());
    }
}
