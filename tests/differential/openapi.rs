//! The sandbox decodes built-in kinds with types taken from the real server's OpenAPI v3,
//! compacted into `crates/sandbox/src/schema/builtin.json`. This compacts the real server's documents
//! the same way and compares: a newer kube-apiserver with changed types fails here, and the
//! regenerated file is written to `target/differential/builtin.json` to copy over.
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The group-versions and kinds the sandbox serves.
const SERVED: [(&str, &[&str]); 6] = [
    (
        "api/v1",
        &[
            "ConfigMap",
            "Namespace",
            "Pod",
            "ResourceQuota",
            "Secret",
            "ServiceAccount",
            "Service",
        ],
    ),
    ("apis/apps/v1", &["Deployment"]),
    ("apis/discovery.k8s.io/v1", &["EndpointSlice"]),
    (
        "apis/rbac.authorization.k8s.io/v1",
        &["ClusterRoleBinding", "ClusterRole", "RoleBinding", "Role"],
    ),
    (
        "apis/admissionregistration.k8s.io/v1",
        &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ],
    ),
    (
        "apis/apiextensions.k8s.io/v1",
        &["CustomResourceDefinition"],
    ),
];

const KEPT: [&str; 7] = [
    "type",
    "format",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
];

fn reference(node: &Value) -> Option<String> {
    let target = node["$ref"].as_str().or_else(|| {
        let all = node["allOf"].as_array().filter(|a| a.len() == 1)?;
        all[0]["$ref"].as_str()
    })?;
    target.rsplit('/').next().map(str::to_string)
}

struct Compactor<'a> {
    all: &'a Map<String, Value>,
    definitions: BTreeMap<String, Value>,
    todo: Vec<String>,
}

impl Compactor<'_> {
    fn want(&mut self, name: &str) {
        if !self.definitions.contains_key(name) {
            self.definitions.insert(name.to_string(), Value::Null);
            self.todo.push(name.to_string());
        }
    }

    fn compact(&mut self, node: &Value) -> Value {
        if let Some(name) = reference(node) {
            self.want(&name);
            // A non-pointer struct field is present (as {}) in its parent's zero value.
            return if node.get("default") == Some(&json!({})) {
                json!({"ref": name, "zero": true})
            } else {
                json!({"ref": name})
            };
        }
        let mut out = Map::new();
        for key in KEPT {
            if let Some(v) = node.get(key) {
                out.insert(key.into(), v.clone());
            }
        }
        if node["required"].as_array().is_some_and(|r| !r.is_empty()) {
            out.insert("required".into(), node["required"].clone());
        }
        if let Some(properties) = node["properties"].as_object() {
            let compacted: Map<String, Value> = properties
                .iter()
                .map(|(k, v)| (k.clone(), self.compact(v)))
                .collect();
            out.insert("properties".into(), Value::Object(compacted));
        }
        if node.get("items").is_some() {
            out.insert("items".into(), self.compact(&node["items"]));
        }
        if node["additionalProperties"].is_object() {
            out.insert(
                "additionalProperties".into(),
                self.compact(&node["additionalProperties"]),
            );
        }
        if let (Some(one_of), false) = (node["oneOf"].as_array(), out.contains_key("type")) {
            let types: Vec<Value> = one_of.iter().map(|t| t["type"].clone()).collect();
            out.insert("oneOf".into(), Value::Array(types));
        }
        Value::Object(out)
    }
}

/// Compacts the real server's documents (group-version path to document) as builtin.json holds them.
pub(crate) fn compact(documents: &BTreeMap<String, Value>) -> Value {
    let mut all = Map::new();
    let mut kinds = BTreeMap::new();
    for (gv, served) in SERVED {
        let Some(schemas) = documents
            .get(gv)
            .and_then(|d| d["components"]["schemas"].as_object())
        else {
            continue;
        };
        for (name, def) in schemas {
            all.insert(name.clone(), def.clone());
            let Some([gvk]) = def["x-kubernetes-group-version-kind"]
                .as_array()
                .map(Vec::as_slice)
            else {
                continue;
            };
            let kind = gvk["kind"].as_str().unwrap_or("");
            if served.contains(&kind) && !name.ends_with("List") {
                let key = format!(
                    "{}/{}/{kind}",
                    gvk["group"].as_str().unwrap_or(""),
                    gvk["version"].as_str().unwrap_or("")
                );
                kinds.insert(key, json!(name));
            }
        }
    }
    let mut compactor = Compactor {
        all: &all,
        definitions: BTreeMap::new(),
        todo: Vec::new(),
    };
    for name in kinds.values().filter_map(Value::as_str) {
        compactor.want(name);
    }
    while let Some(name) = compactor.todo.pop() {
        let def = compactor.all.get(&name).cloned().unwrap_or(Value::Null);
        let compacted = compactor.compact(&def);
        compactor.definitions.insert(name, compacted);
    }
    json!({"kinds": kinds, "definitions": compactor.definitions})
}

pub(crate) fn group_versions() -> impl Iterator<Item = &'static str> {
    SERVED.iter().map(|(gv, _)| *gv)
}
