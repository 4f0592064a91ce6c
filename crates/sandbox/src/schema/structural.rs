//! Custom resources against their CRD's structural schema, in the real server's order: unknown
//! fields are pruned (reported under Warn, refused under Strict), defaults filled in, then the
//! object validated (types, enums, bounds, patterns, required fields) into 422 causes.
use super::super::status::{ApiError, FieldError};
use super::{builtin, FieldValidation, UnknownFields};
use serde_json::{json, Value};

/// Prunes `obj` (a custom resource of `kind`, served at `version`) as the real
/// decoder does; returns the warnings to send, or the 400 that Strict asks for.
pub(crate) fn decode(
    schema: &Value,
    version: &str,
    kind: &str,
    obj: &mut Value,
    duplicate: Vec<String>,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let mut unknown = Vec::new();
    if let Some(root) = obj.as_object_mut() {
        for key in root.keys().cloned().collect::<Vec<_>>() {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if !allows(schema, &key) {
                root.remove(&key);
                unknown.push(key);
                continue;
            }
            let child_schema = match schema["properties"].get(&key) {
                Some(s) => s,
                None if schema["additionalProperties"].is_object() => {
                    &schema["additionalProperties"]
                }
                None => continue,
            };
            if let Some(child) = root.get_mut(&key) {
                prune(child_schema, child, &key, &mut unknown);
            }
        }
        if let Some(meta) = root.get_mut("metadata") {
            let dropped = builtin::object_meta(kind, meta)
                .map_err(|e| builtin::decode_error(kind, version, &e))?;
            unknown.extend(dropped);
        }
    }
    UnknownFields { unknown, duplicate }.resolve(kind, version, validation)
}

/// Validates a decoded custom resource against the schema: a 422 with one cause per problem.
pub(crate) fn validate(
    schema: &Value,
    group: &str,
    kind: &str,
    obj: &Value,
) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if let Some(root) = obj.as_object() {
        for (key, child) in root {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(s) = schema["properties"].get(key) {
                check(s, child, key, &mut causes);
            }
        }
        required(schema, root, "", &mut causes);
    }
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    Err(ApiError::invalid(group, kind, name, causes))
}

fn preserves_unknown(schema: &Value) -> bool {
    schema["x-kubernetes-preserve-unknown-fields"] == true
}

fn allows(schema: &Value, key: &str) -> bool {
    preserves_unknown(schema)
        || schema["properties"].get(key).is_some()
        || schema["additionalProperties"].is_object()
        || schema["additionalProperties"] == true
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Drops fields the schema does not declare; nulls of non-nullable fields go too, as the real
/// server drops them before defaulting.
fn prune(schema: &Value, v: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if schema["x-kubernetes-int-or-string"] == true {
        return;
    }
    match v {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let field_path = child_path(path, &key);
                let child_schema = match schema["properties"].get(&key) {
                    Some(s) => s,
                    None if schema["additionalProperties"].is_object() => {
                        &schema["additionalProperties"]
                    }
                    None if allows(schema, &key) => continue,
                    None => {
                        map.remove(&key);
                        unknown.push(field_path);
                        continue;
                    }
                };
                if map[&key].is_null() && child_schema["nullable"] != true {
                    map.remove(&key);
                    continue;
                }
                if let Some(child) = map.get_mut(&key) {
                    prune(child_schema, child, &field_path, unknown);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                prune(&schema["items"], item, &format!("{path}[{i}]"), unknown);
            }
        }
        _ => {}
    }
}

/// Fills `default`s of absent properties, depth first, as structural defaulting does.
pub(crate) fn default(schema: &Value, v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(properties) = schema["properties"].as_object() {
                for (key, s) in properties {
                    if !map.contains_key(key) {
                        if let Some(d) = s.get("default") {
                            map.insert(key.clone(), d.clone());
                        }
                    }
                }
                for (key, child) in map.iter_mut() {
                    if let Some(s) = properties.get(key) {
                        default(s, child);
                    }
                }
            } else if schema["additionalProperties"].is_object() {
                for child in map.values_mut() {
                    default(&schema["additionalProperties"], child);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                default(&schema["items"], item);
            }
        }
        _ => {}
    }
}

/// The OpenAPI type name of a JSON value, as the real validator reports what it found.
fn found_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

fn type_matches(expected: &str, v: &Value) -> bool {
    match expected {
        "string" => v.is_string(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn type_error(path: &str, expected: &str, v: &Value) -> FieldError {
    let found = found_type(v);
    FieldError {
        reason: "FieldValueTypeInvalid",
        field: path.to_string(),
        message: format!(
            "Invalid value: \"{found}\": {path} in body must be of type {expected}: \"{found}\""
        ),
    }
}

fn check(schema: &Value, v: &Value, path: &str, causes: &mut Vec<FieldError>) {
    if v.is_null() && schema["nullable"] == true {
        return;
    }
    if schema["x-kubernetes-int-or-string"] == true {
        if !(v.is_string() || v.as_i64().is_some()) {
            causes.push(type_error(path, "integer,string", v));
        }
        return;
    }
    if let Some(expected) = schema["type"].as_str() {
        if !type_matches(expected, v) {
            causes.push(type_error(path, expected, v));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            causes.push(FieldError {
                reason: "FieldValueNotSupported",
                field: path.into(),
                message: format!(
                    "Unsupported value: {v}: supported values: {}",
                    list.join(", ")
                ),
            });
        }
    }
    bounds(schema, v, path, causes);
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                let s = match schema["properties"].get(key) {
                    Some(s) => s,
                    None if schema["additionalProperties"].is_object() => {
                        &schema["additionalProperties"]
                    }
                    None => continue,
                };
                check(s, child, &child_path(path, key), causes);
            }
            required(schema, map, path, causes);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(&schema["items"], item, &format!("{path}[{i}]"), causes);
            }
        }
        _ => {}
    }
}

fn required(
    schema: &Value,
    map: &serde_json::Map<String, Value>,
    path: &str,
    causes: &mut Vec<FieldError>,
) {
    for field in schema["required"].as_array().into_iter().flatten() {
        if let Some(field) = field.as_str() {
            if !map.contains_key(field) {
                causes.push(FieldError::required(&child_path(path, field)));
            }
        }
    }
}

fn invalid(path: &str, v: &Value, why: String) -> FieldError {
    FieldError {
        reason: "FieldValueInvalid",
        field: path.into(),
        message: format!("Invalid value: {v}: {path} in body {why}"),
    }
}

/// minimum/maximum, minLength/maxLength, pattern, minItems/maxItems.
fn bounds(schema: &Value, v: &Value, path: &str, causes: &mut Vec<FieldError>) {
    if let Some(n) = v.as_f64() {
        if let Some(min) = schema["minimum"].as_f64() {
            if n < min {
                let why = format!("should be greater than or equal to {}", schema["minimum"]);
                causes.push(invalid(path, v, why));
            }
        }
        if let Some(max) = schema["maximum"].as_f64() {
            if n > max {
                let why = format!("should be less than or equal to {}", schema["maximum"]);
                causes.push(invalid(path, v, why));
            }
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = schema["minLength"].as_u64().filter(|m| len < *m) {
            causes.push(invalid(
                path,
                v,
                format!("should be at least {min} chars long"),
            ));
        }
        if let Some(max) = schema["maxLength"].as_u64().filter(|m| len > *m) {
            causes.push(invalid(path, v, format!("may not be longer than {max}")));
        }
        if let Some(pattern) = schema["pattern"].as_str() {
            if regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(s)) {
                causes.push(invalid(path, v, format!("should match '{pattern}'")));
            }
        }
    }
    if let Some(items) = v.as_array() {
        let n = items.len() as u64;
        if let Some(min) = schema["minItems"].as_u64().filter(|m| n < *m) {
            causes.push(invalid(
                path,
                &json!(n),
                format!("should have at least {min} items"),
            ));
        }
        if let Some(max) = schema["maxItems"].as_u64().filter(|m| n > *m) {
            causes.push(invalid(
                path,
                &json!(n),
                format!("should have at most {max} items"),
            ));
        }
    }
}
