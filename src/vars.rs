//! Play variables: playbook defaults < `--vars` files < `--var KEY=VALUE`, later wins.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{HostError, HostResult};

/// Parses `KEY=VALUE`; VALUE is read as a YAML scalar or flow value (`3`, `true`, `[a, b]`),
/// KEY may be dotted to set a nested value.
pub fn parse_assignment(text: &str) -> Result<(Vec<String>, Value), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "invalid --var {text:?}: expected KEY=VALUE, for example --var mesh_id=mesh1"
        ));
    };
    let path: Vec<String> = key.split('.').map(|s| s.trim().to_string()).collect();
    if path.iter().any(|segment| segment.is_empty()) {
        return Err(format!(
            "invalid --var {text:?}: the key {key:?} has an empty part; use KEY=VALUE or a.b.c=VALUE"
        ));
    }
    if let Some(bad) = path.iter().find(|s| {
        !s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(format!(
            "invalid --var {text:?}: {bad:?} is not a valid key (letters, digits, '_' and '-' only)"
        ));
    }
    let value = if value.is_empty() {
        Value::String(String::new())
    } else {
        match serde_yaml::from_str::<Value>(value) {
            Ok(Value::Null) if value != "null" && value != "~" => Value::String(value.to_string()),
            Ok(v) => v,
            Err(_) => Value::String(value.to_string()),
        }
    };
    Ok((path, value))
}

/// Sets `value` at `path`, creating maps on the way; a number segment indexes an existing array.
pub fn set_path(root: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = root;
    for segment in parents {
        current = child_mut(current, segment);
    }
    match current {
        Value::Array(items) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < items.len() {
                    items[i] = value;
                    return;
                }
            }
            let mut map = Map::new();
            map.insert(last.clone(), value);
            *current = Value::Object(map);
        }
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        other => {
            let mut map = Map::new();
            map.insert(last.clone(), value);
            *other = Value::Object(map);
        }
    }
}

fn child_mut<'a>(value: &'a mut Value, segment: &str) -> &'a mut Value {
    let index = match (&*value, segment.parse::<usize>()) {
        (Value::Array(items), Ok(i)) if i < items.len() => Some(i),
        _ => None,
    };
    if let Some(i) = index {
        if let Value::Array(items) = value {
            return &mut items[i];
        }
        unreachable!("index is only set for arrays");
    }
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map
            .entry(segment.to_string())
            .or_insert(Value::Object(Map::new())),
        _ => unreachable!("just made an object"),
    }
}

/// Merges `over` into `base`: maps merge key by key, anything else is replaced.
pub fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// Reads a YAML variables file, which must hold a mapping at the top.
pub fn load_file(path: &Path) -> HostResult<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        HostError::from_error(&e).context(format!("cannot read variables file {}", path.display()))
    })?;
    let value: Value = serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        HostError::new(format!("{}{at}: invalid YAML", path.display())).context_cause(e.to_string())
    })?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err(HostError::new(format!(
            "{}: a variables file must be a mapping of names to values",
            path.display()
        ))),
    }
}

impl HostError {
    /// Adds a cause below the message.
    pub fn context_cause(mut self, cause: impl Into<String>) -> Self {
        let cause = cause.into();
        if !self.causes.contains(&cause) && cause != self.message {
            self.causes.push(cause);
        }
        self
    }
}

/// Layers the sources in order; each later source wins.
pub fn layer(
    defaults_file: Option<&Path>,
    files: &[impl AsRef<Path>],
    assignments: &[String],
) -> HostResult<Value> {
    let mut vars = Value::Object(Map::new());
    if let Some(path) = defaults_file {
        deep_merge(&mut vars, load_file(path)?);
    }
    for file in files {
        deep_merge(&mut vars, load_file(file.as_ref())?);
    }
    for assignment in assignments {
        let (path, value) = parse_assignment(assignment).map_err(HostError::new)?;
        set_path(&mut vars, &path, value);
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_keys_set_nested_values_and_later_wins() {
        let mut vars = json!({"primary": {"name": "cluster-1", "network": "net1"}});
        for a in [
            "primary.network=net2",
            "replicas=3",
            "replicas=5",
            "flag=true",
            "name=mesh",
        ] {
            let (p, v) = parse_assignment(a).unwrap();
            set_path(&mut vars, &p, v);
        }
        assert_eq!(
            vars,
            json!({"primary": {"name": "cluster-1", "network": "net2"}, "replicas": 5, "flag": true, "name": "mesh"})
        );
    }

    #[test]
    fn bad_assignments_are_refused() {
        assert!(parse_assignment("novalue").is_err());
        assert!(parse_assignment("a..b=1").is_err());
        assert!(parse_assignment("=1").is_err());
        assert!(parse_assignment("a b=1").is_err());
    }

    #[test]
    fn merge_keeps_sibling_keys() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "l": [1, 2]});
        deep_merge(&mut base, json!({"a": {"y": 3}, "l": [9]}));
        assert_eq!(base, json!({"a": {"x": 1, "y": 3}, "l": [9]}));
    }
}
