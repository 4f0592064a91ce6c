//! Manifests as JSON values: multi-document YAML, `kind: List` expanded.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{HostError, HostResult};

/// Parses a YAML stream into its documents, in order; empty documents are skipped. The one
/// YAML stream parser: `yaml::parse` returns its documents, `apply` expands their Lists.
pub fn parse_yaml_stream(text: &str) -> HostResult<Vec<Value>> {
    crate::bounds::check_flow_nesting(text)
        .map_err(|deep| HostError::new(format!("invalid YAML at {deep}")))?;
    if let Some((line, column, c)) = crate::bounds::first_control_char(text) {
        return Err(HostError::new(format!(
            "invalid YAML at line {line} column {column}: control character {c:?} is not allowed"
        )));
    }
    let mut documents = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or_default();
            HostError::new(format!("invalid YAML in document {}{at}", index + 1))
                .with_cause(e.to_string())
        })?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// Manifests of YAML text: its documents, with `kind: List` expanded into its items.
pub fn parse_documents(text: &str) -> HostResult<Vec<Value>> {
    let mut out = Vec::new();
    for value in parse_yaml_stream(text)? {
        push_expanded(&mut out, value);
    }
    Ok(out)
}

/// What `apply` takes: YAML text or one object, as many as a playbook passes.
pub enum ManifestSource {
    Text(String),
    Object(Value),
}

/// The manifests of what a playbook passed to apply, in order.
pub fn manifests_of(sources: Vec<ManifestSource>) -> HostResult<Vec<Value>> {
    let mut out = Vec::new();
    for source in sources {
        match source {
            ManifestSource::Text(text) => out.extend(parse_documents(&text)?),
            ManifestSource::Object(value) => push_expanded(&mut out, value),
        }
    }
    Ok(out)
}

/// Adds an object, or the items of a `List`.
pub(super) fn push_expanded(out: &mut Vec<Value>, value: Value) {
    match value {
        Value::Null => {}
        Value::Object(ref map)
            if map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = value.get("items").cloned() {
                for item in items {
                    push_expanded(out, item);
                }
            }
        }
        other => out.push(other),
    }
}

/// What apply needs of a manifest; errors say which document is wrong.
#[derive(Debug)]
pub(super) struct Identity {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

pub(super) fn identity(index: usize, object: &Value) -> HostResult<Identity> {
    let which = || {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("?");
        format!("object {} ({kind})", index + 1)
    };
    if !object.is_object() {
        return Err(HostError::new(format!(
            "object {} is not a map: apply takes YAML text, a map or an array of maps",
            index + 1
        )));
    }
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let api_version = text(object.get("apiVersion"))
        .ok_or_else(|| HostError::new(format!("{} has no apiVersion", which())))?;
    let kind = text(object.get("kind"))
        .ok_or_else(|| HostError::new(format!("{} has no kind", which())))?;
    let metadata = object.get("metadata");
    let name = text(metadata.and_then(|m| m.get("name")))
        .ok_or_else(|| HostError::new(format!("{} has no metadata.name", which())))?;
    let namespace = text(metadata.and_then(|m| m.get("namespace")));
    Ok(Identity {
        api_version,
        kind,
        name,
        namespace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists() {
        let docs = parse_documents(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["kind"], "Secret");
    }

    #[test]
    fn bad_yaml_names_the_document_and_its_place() {
        let err = parse_documents("a: 1\n---\n: : :\n  - x").unwrap_err();
        assert_eq!(err.message, "invalid YAML in document 2 at line 3 column 1");
        assert_eq!(err.causes().len(), 1);
    }

    #[test]
    fn a_stream_keeps_lists_and_skips_empty_documents() {
        let docs = parse_yaml_stream("---\n---\nkind: List\nitems: [1]\n").unwrap();
        assert_eq!(
            docs,
            vec![serde_json::json!({"kind": "List", "items": [1]})]
        );
    }

    #[test]
    fn text_and_objects_become_manifests_in_order() {
        let docs = manifests_of(vec![
            ManifestSource::Object(serde_json::json!({"kind": "A"})),
            ManifestSource::Text("kind: B\n---\nkind: C\n".into()),
            ManifestSource::Object(serde_json::json!({"kind": "List", "items": [{"kind": "D"}]})),
        ])
        .unwrap();
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["A", "B", "C", "D"]);
    }

    #[test]
    fn identity_requires_name() {
        let err = identity(
            0,
            &serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
        )
        .unwrap_err();
        assert_eq!(err.message, "object 1 (ConfigMap) has no metadata.name");
    }
}
