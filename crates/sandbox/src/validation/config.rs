//! ConfigMap and Secret keys: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
use crate::status::FieldError;
use serde_json::Value;

const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

pub(super) fn keys(obj: &Value, fields: &[&str], causes: &mut Vec<FieldError>) {
    for field in fields {
        for key in obj[*field]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let valid = !key.is_empty()
                && key.len() <= 253
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            let at = format!("{field}[{key}]");
            if !valid {
                causes.push(FieldError::invalid(&at, key, CONFIG_KEY_MSG));
            } else if key == "." || key == ".." {
                causes.push(FieldError::invalid(&at, key, "must not be '.' or '..'"));
            }
        }
    }
}
