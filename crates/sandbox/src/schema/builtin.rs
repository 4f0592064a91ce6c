//! Decoding built-in kinds as kube-apiserver's typed decoder does: wrong JSON types and malformed
//! quantities or base64 are a 400, fields the Go types lack are dropped (with a warning, or a 400
//! under `fieldValidation=Strict`).
//!
//! The types come from the real kube-apiserver v1.36 OpenAPI v3 documents, compacted into
//! `builtin.json` (only what decoding and managedFields need: types, formats, properties, items,
//! maps, list types and keys, required fields, which struct fields are not pointers). The
//! differential suite compacts the real server's documents the same way and fails when they
//! differ, writing the regenerated file to `target/differential/builtin.json`.
use super::super::status::ApiError;
use super::super::validation::quantity;
use super::{FieldValidation, UnknownFields};
use base64::Engine as _;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";

struct Schemas {
    /// `group/version/Kind` to the definition of its top-level type.
    kinds: HashMap<String, String>,
    definitions: Map<String, Value>,
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        // Embedded at build time and checked by the differential suite against the real server.
        let doc: Value = serde_json::from_str(include_str!("builtin.json")).unwrap_or_default();
        let kinds = doc["kinds"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let definitions = doc["definitions"].as_object().cloned().unwrap_or_default();
        Schemas { kinds, definitions }
    })
}

/// A decoding failure, rendered as the real server renders it.
pub(crate) fn decode_error(kind: &str, version: &str, message: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: {message}"
    ))
}

/// Checks `obj` against its Go type, dropping unknown fields; returns the warnings to send.
pub(crate) fn decode(
    group: &str,
    version: &str,
    kind: &str,
    obj: &mut Value,
    duplicate: Vec<String>,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let s = schemas();
    let Some(root) = s.kinds.get(&format!("{group}/{version}/{kind}")) else {
        return UnknownFields {
            unknown: Vec::new(),
            duplicate,
        }
        .resolve(kind, version, validation);
    };
    let mut walk = Walk {
        unknown: Vec::new(),
        path: Vec::new(),
        struct_name: String::new(),
    };
    walk.value(&reference(root), obj)
        .map_err(|message| decode_error(kind, version, &message))?;
    UnknownFields {
        unknown: walk.unknown,
        duplicate,
    }
    .resolve(kind, version, validation)
}

fn reference(name: &str) -> Value {
    serde_json::json!({ "ref": name })
}

struct Walk {
    unknown: Vec<String>,
    /// Field names from the root; array indexes are kept for unknown-field paths only.
    path: Vec<String>,
    struct_name: String,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// The Go type the decoder names in its error, e.g. `int32`, `v1.ObjectMeta`, `map[string]string`.
fn go_type(schema: &Value) -> String {
    if let Some(name) = schema["ref"].as_str() {
        let mut parts = name.rsplit('.');
        let short = parts.next().unwrap_or(name);
        return match name {
            QUANTITY => "resource.Quantity".into(),
            INT_OR_STRING => "intstr.IntOrString".into(),
            _ => format!("{}.{short}", parts.next().unwrap_or("v1")),
        };
    }
    match (schema["type"].as_str(), schema["format"].as_str()) {
        (Some("integer"), Some(f)) => f.into(),
        (Some("integer"), None) => "int".into(),
        (Some("number"), _) => "float64".into(),
        (Some("boolean"), _) => "bool".into(),
        (Some("string"), Some("byte")) => "[]uint8".into(),
        (Some("string"), _) => "string".into(),
        (Some("array"), _) => format!("[]{}", go_type(&schema["items"])),
        (Some("object"), _) if schema["additionalProperties"].is_object() => {
            format!("map[string]{}", go_type(&schema["additionalProperties"]))
        }
        _ => "interface {}".into(),
    }
}

impl Walk {
    fn type_error(&self, found: &Value, schema: &Value) -> String {
        let found = match found {
            Value::Number(n) if !n.is_i64() && !n.is_u64() => format!("number {n}"),
            other => json_type(other).to_string(),
        };
        let path: Vec<&str> = self
            .path
            .iter()
            .filter(|p| !p.starts_with('[') && !p.starts_with('{'))
            .map(String::as_str)
            .collect();
        format!(
            "json: cannot unmarshal {found} into Go struct field {}.{} of type {}",
            self.struct_name,
            path.join("."),
            go_type(schema)
        )
    }

    fn unknown_path(&self, field: &str) -> String {
        let mut out = String::new();
        for p in self.path.iter().map(String::as_str).chain([field]) {
            let p = p
                .strip_prefix('{')
                .and_then(|k| k.strip_suffix('}'))
                .unwrap_or(p);
            if !out.is_empty() && !p.starts_with('[') {
                out.push('.');
            }
            out.push_str(p);
        }
        out
    }

    fn value(&mut self, schema: &Value, v: &mut Value) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        if let Some(name) = schema["ref"].as_str() {
            return self.definition(name, schema, v);
        }
        if schema["x-kubernetes-int-or-string"] == true {
            return self.int_or_string(v);
        }
        match schema["type"].as_str() {
            Some("object") => self.object(schema, v),
            Some("array") => {
                let Value::Array(items) = v else {
                    return Err(self.type_error(v, schema));
                };
                for (i, item) in items.iter_mut().enumerate() {
                    self.path.push(format!("[{i}]"));
                    let r = self.value(&schema["items"], item);
                    self.path.pop();
                    r?;
                }
                Ok(())
            }
            Some("string") => match v {
                Value::String(s) if schema["format"] == "byte" => {
                    base64::engine::general_purpose::STANDARD
                        .decode(s.as_bytes())
                        .map(|_| ())
                        .map_err(|e| base64_error(&e))
                }
                Value::String(_) => Ok(()),
                _ => Err(self.type_error(v, schema)),
            },
            Some("integer") => match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => Ok(()),
                _ => Err(self.type_error(v, schema)),
            },
            Some("number") if v.is_number() => Ok(()),
            Some("boolean") if v.is_boolean() => Ok(()),
            Some(_) => Err(self.type_error(v, schema)),
            None => Ok(()),
        }
    }

    fn definition(&mut self, name: &str, schema: &Value, v: &mut Value) -> Result<(), String> {
        match name {
            QUANTITY => {
                return match v {
                    Value::String(s) => quantity::parse(s).map(|_| ()).map_err(|e| e.to_string()),
                    Value::Number(_) => Ok(()),
                    _ => Err(self.type_error(v, schema)),
                }
            }
            INT_OR_STRING => return self.int_or_string(v),
            _ => {}
        }
        let Some(def) = schemas().definitions.get(name) else {
            return Ok(());
        };
        if def["type"] == "object" && def["properties"].is_object() {
            if !v.is_object() {
                return Err(self.type_error(v, schema));
            }
            let outer = std::mem::replace(&mut self.struct_name, short_name(name).to_string());
            let r = self.object(def, v);
            self.struct_name = outer;
            return r;
        }
        self.value(def, v)
    }

    fn int_or_string(&mut self, v: &Value) -> Result<(), String> {
        match v {
            Value::String(_) => Ok(()),
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(()),
            _ => Err(self.type_error(v, &reference(INT_OR_STRING))),
        }
    }

    fn object(&mut self, schema: &Value, v: &mut Value) -> Result<(), String> {
        let Value::Object(map) = v else {
            return Err(self.type_error(v, schema));
        };
        if let Some(properties) = schema["properties"].as_object() {
            let mut dropped = Vec::new();
            for (key, field) in map.iter_mut() {
                match properties.get(key) {
                    Some(field_schema) => {
                        self.path.push(key.clone());
                        let r = self.value(field_schema, field);
                        self.path.pop();
                        r?;
                    }
                    None => dropped.push(key.clone()),
                }
            }
            for key in dropped {
                self.unknown.push(self.unknown_path(&key));
                map.remove(&key);
            }
        } else if schema["additionalProperties"].is_object() {
            for (key, field) in map.iter_mut() {
                // Go names the map field, not its key, in decoding errors.
                self.path.push(format!("{{{key}}}"));
                let r = self.value(&schema["additionalProperties"], field);
                self.path.pop();
                r?;
            }
        }
        Ok(())
    }
}

fn short_name(definition: &str) -> &str {
    definition.rsplit('.').next().unwrap_or(definition)
}

/// Go's `base64.CorruptInputError` text.
fn base64_error(e: &base64::DecodeError) -> String {
    let offset = match e {
        base64::DecodeError::InvalidByte(at, _) => *at,
        base64::DecodeError::InvalidLength(at) => *at,
        base64::DecodeError::InvalidLastSymbol(at, _) => *at,
        base64::DecodeError::InvalidPadding => 0,
    };
    format!("illegal base64 data at input byte {offset}")
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Checks a custom resource's `metadata` as the real server does (it is always an ObjectMeta);
/// returns the paths of unknown fields it dropped, or the decoding error's text.
pub(crate) fn object_meta(kind: &str, metadata: &mut Value) -> Result<Vec<String>, String> {
    let mut walk = Walk {
        unknown: Vec::new(),
        path: vec!["metadata".into()],
        struct_name: kind.to_string(),
    };
    walk.value(&reference(OBJECT_META), metadata)?;
    Ok(walk.unknown)
}

/// How server-side apply and managedFields treat a field of a built-in kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A map of free keys (labels, data): owned itself as well as per key.
    Map,
    /// A struct: owned per field only.
    Struct,
    /// Replaced and owned as a whole (atomic structs such as a LabelSelector, atomic lists, sets).
    Atomic,
    /// An associative list, its items keyed by these fields (ports by port and protocol).
    Keyed(Vec<String>),
    /// A list of unique scalars (finalizers), its items owned by value.
    Set,
}

/// The schema node of the field at `path` (fieldsV1 steps: `f:name`, `k:{..}`/`v:..` for list
/// items) of an `api_version`/`kind` object, with the struct or map holding it; None when the
/// kind has no Go type (custom resources).
fn navigate(
    api_version: &str,
    kind: &str,
    path: &[String],
) -> Option<(&'static Value, &'static Value)> {
    static NULL: Value = Value::Null;
    let s = schemas();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let root = s.kinds.get(&format!("{group}/{version}/{kind}"))?;
    let mut node = s.definitions.get(root.as_str())?;
    let mut parent = &NULL;
    for step in path {
        parent = resolve(node);
        node = match step.strip_prefix("f:") {
            Some(name) => parent["properties"]
                .get(name)
                .unwrap_or(&parent["additionalProperties"]),
            None => &parent["items"],
        };
    }
    Some((parent, node))
}

/// A `{"ref": name}` node's definition; any other node itself.
fn resolve(node: &'static Value) -> &'static Value {
    match node["ref"].as_str() {
        Some(name) => schemas().definitions.get(name).unwrap_or(node),
        None => node,
    }
}

/// The shape of the field at `path`; None when the kind has no Go type (custom resources).
pub(crate) fn shape(api_version: &str, kind: &str, path: &[String]) -> Option<Shape> {
    let (_, node) = navigate(api_version, kind, path)?;
    let resolved = resolve(node);
    let atomic = |v: &Value| v["x-kubernetes-map-type"] == "atomic";
    Some(match resolved["type"].as_str() {
        _ if atomic(node) || atomic(resolved) => Shape::Atomic,
        Some("array") => match resolved["x-kubernetes-list-map-keys"].as_array() {
            Some(keys) if resolved["x-kubernetes-list-type"] == "map" => Shape::Keyed(
                keys.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect(),
            ),
            _ if resolved["x-kubernetes-list-type"] == "set" => Shape::Set,
            _ => Shape::Atomic,
        },
        Some("object") if resolved["properties"].is_object() => Shape::Struct,
        Some("object") if resolved["additionalProperties"].is_object() => Shape::Map,
        _ => Shape::Atomic,
    })
}

/// Whether the field at `path` is present in the Go zero value of its parent (a required field,
/// or a non-pointer struct): such a field is not added by a write, so an update's managedFields
/// own only what is inside it, never the field itself. None for kinds without a Go type.
pub(crate) fn present_in_zero(api_version: &str, kind: &str, path: &[String]) -> Option<bool> {
    let (parent, node) = navigate(api_version, kind, path)?;
    // A list item is added whole: nothing in it was there before.
    if path
        .iter()
        .any(|p| p.starts_with("k:") || p.starts_with("v:"))
    {
        return Some(false);
    }
    let name = path.last().and_then(|p| p.strip_prefix("f:")).unwrap_or("");
    let required = parent["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|f| f == name));
    Some(required || node["zero"] == true)
}
