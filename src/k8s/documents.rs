//! Manifests as JSON values: multi-document YAML, `kind: List` expanded.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{HostError, HostResult};

/// Parses YAML text with any number of documents; empty documents are skipped.
pub fn parse_documents(text: &str) -> HostResult<Vec<Value>> {
    let mut out = Vec::new();
    crate::bounds::check_flow_nesting(text)
        .map_err(|deep| HostError::new(format!("YAML is not valid: {deep}")))?;
    if let Some((line, column, c)) = crate::bounds::first_control_char(text) {
        return Err(HostError::new(format!(
            "YAML is not valid: line {line} column {column}: control character {c:?} is not allowed"
        )));
    }
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" (line {} column {})", l.line(), l.column()))
                .unwrap_or_default();
            HostError::new(format!("YAML document {} is not valid{at}: {e}", index + 1))
        })?;
        push_expanded(&mut out, value);
    }
    Ok(out)
}

/// Adds an object, or the items of a `List`.
pub fn push_expanded(out: &mut Vec<Value>, value: Value) {
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
pub struct Identity {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

pub fn identity(index: usize, object: &Value) -> HostResult<Identity> {
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
    fn bad_yaml_names_the_document() {
        let err = parse_documents("a: 1\n---\n: : :\n  - x").unwrap_err();
        assert!(
            err.message.starts_with("YAML document 2"),
            "{}",
            err.message
        );
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
