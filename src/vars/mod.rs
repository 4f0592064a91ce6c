//! Play variables: playbook defaults < `--vars` files < `--var KEY=VALUE`, later wins.
//!
//! Every value remembers where it came from (a file and line, or the `--var` that set it), so
//! that the schema check and the playbook's key check can point there.

mod origins;
mod positions;
pub mod schema;

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{HostError, HostResult};
pub use origins::{show_path, shown, Origin, Origins, Segment};

/// The play's variables and where each came from.
#[derive(Clone, Debug, Default)]
pub struct Layered {
    pub value: Value,
    pub origins: Origins,
}

/// Parses `KEY=VALUE`; VALUE is read as YAML (`3`, `true`, `[a, b]`, `'text'`), KEY may be
/// dotted to set a nested value (`a.b.c`) or an item of a list (`remotes.0.name`).
pub fn parse_assignment(text: &str) -> Result<(Vec<String>, Value), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "invalid --var {text:?}: expected KEY=VALUE, for example --var mesh_id=mesh1"
        ));
    };
    let path: Vec<String> = key.split('.').map(|s| s.trim().to_string()).collect();
    if path.iter().any(std::string::String::is_empty) {
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
    if value.trim().is_empty() {
        return Err(format!(
            "invalid --var {text:?}: no value after '='; for an empty string write --var \"{key}=''\""
        ));
    }
    if let Err(deep) = crate::bounds::check_flow_nesting(value) {
        return Err(format!(
            "invalid --var {key}=…: the value is nested too deeply (at {deep}); pass at most {} levels",
            crate::bounds::MAX_NESTING
        ));
    }
    let parsed = serde_yaml::from_str::<Value>(value).map_err(|e| {
        format!(
            "invalid --var {text:?}: the value is not valid YAML ({}); to pass it as text, quote it: --var \"{key}='{value}'\"",
            first_line(&e.to_string())
        )
    })?;
    let literal_null = matches!(value.trim(), "null" | "Null" | "NULL" | "~");
    if parsed.is_null() && !literal_null {
        return Err(format!(
            "invalid --var {text:?}: the value reads as nothing in YAML (a comment?); to pass it as text, quote it: --var \"{key}='{value}'\""
        ));
    }
    Ok((path, parsed))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Sets `value` at `path`, creating maps on the way. A number indexes an existing list item;
/// an index out of range, or a key below a value that is not a map, is an error.
pub fn set_path(root: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut current = root;
    let mut walked: Vec<Segment> = Vec::new();
    for segment in parents {
        let step = descend(current, &walked, segment)?;
        walked.push(step.clone());
        current = match (current, step) {
            (Value::Array(items), Segment::Index(i)) => &mut items[i],
            (Value::Object(map), Segment::Key(key)) => {
                map.entry(key).or_insert(Value::Object(Map::new()))
            }
            (other, Segment::Key(key)) => {
                *other = Value::Object(Map::new());
                match other {
                    Value::Object(map) => map.entry(key).or_insert(Value::Object(Map::new())),
                    _ => return Err("internal error: a map was just made".into()),
                }
            }
            (_, Segment::Index(_)) => return Err("internal error: index of a non-list".into()),
        };
    }
    match (descend(current, &walked, last)?, current) {
        (Segment::Index(i), Value::Array(items)) => items[i] = value,
        (Segment::Key(key), Value::Object(map)) => {
            map.insert(key, value);
        }
        (Segment::Key(key), other) => {
            let mut map = Map::new();
            map.insert(key, value);
            *other = Value::Object(map);
        }
        (Segment::Index(_), _) => return Err("internal error: index of a non-list".into()),
    }
    Ok(())
}

/// How `segment` continues the path `walked` into `value`, or why it cannot.
fn descend(value: &Value, walked: &[Segment], segment: &str) -> Result<Segment, String> {
    let here = show_path(walked);
    match value {
        Value::Array(items) => match segment.parse::<usize>() {
            Ok(i) if i < items.len() => Ok(Segment::Index(i)),
            Ok(i) => Err(format!(
                "{here} has {} item(s), so index {i} is out of range{}; to change the whole list, set {here} itself",
                items.len(),
                match items.len() {
                    0 => String::new(),
                    n => format!(" (0 to {})", n - 1),
                }
            )),
            Err(_) => Err(format!(
                "{here} is a list: give an item's index, for example {}.0.{segment}",
                dotted(walked)
            )),
        },
        Value::Object(_) | Value::Null => Ok(Segment::Key(segment.to_string())),
        other => Err(format!(
            "{here} is {}, not a map, so it has no key {segment}",
            describe(other)
        )),
    }
}

fn dotted(path: &[Segment]) -> String {
    path.iter()
        .map(|s| match s {
            Segment::Key(k) => k.clone(),
            Segment::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// "a string (\"x\")", "a number (3)", for messages about a value.
pub fn describe(value: &Value) -> String {
    let shown = short(value);
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(_) => format!("a boolean ({shown})"),
        Value::Number(_) => format!("a number ({shown})"),
        Value::String(_) => format!("a string ({shown})"),
        Value::Array(_) => format!("a list ({shown})"),
        Value::Object(_) => format!("a map ({shown})"),
    }
}

/// A value as compact JSON, cut to a readable length.
pub fn short(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_default();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// A playbook's `with_defaults(defaults)`: the play's variables (vars files and --var) laid
/// over the playbook's defaults, so that what the user gave wins key by key.
pub fn with_defaults(defaults: Value, vars: Value) -> Value {
    let mut merged = defaults;
    deep_merge(&mut merged, vars);
    merged
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

/// Reads a YAML variables file, which must hold a mapping at the top; records the line of
/// every value. Duplicate keys are errors.
pub fn load_file(path: &Path) -> HostResult<(Value, Origins)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        HostError::from_error(&e).context(format!("cannot read variables file {}", path.display()))
    })?;
    if let Err(deep) = crate::bounds::check_flow_nesting(&text) {
        return Err(HostError::variables(format!(
            "{}:{}:{}: values nested deeper than {} levels",
            path.display(),
            deep.line,
            deep.column,
            crate::bounds::MAX_NESTING
        ))
        .with_hint("flatten the value; no variable needs that depth"));
    }
    let value: Value = serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        HostError::variables(format!("{}{at}: invalid YAML", path.display()))
            .with_cause(e.to_string())
    })?;
    let origins = positions::lines_of(&text, path)?;
    match value {
        Value::Object(_) => Ok((value, origins)),
        Value::Null => Ok((Value::Object(Map::new()), origins)),
        _ => Err(HostError::variables(format!(
            "{}: a variables file must be a mapping of names to values",
            path.display()
        ))),
    }
}

/// Layers the sources in order; each later source wins.
pub fn layer(
    defaults_file: Option<&Path>,
    files: &[impl AsRef<Path>],
    assignments: &[String],
) -> HostResult<Layered> {
    let mut layered = Layered {
        value: Value::Object(Map::new()),
        origins: Origins::default(),
    };
    let sources = defaults_file
        .into_iter()
        .chain(files.iter().map(AsRef::as_ref));
    for path in sources {
        let (value, origins) = load_file(path)?;
        layered.origins.overlay(&value, origins);
        deep_merge(&mut layered.value, value);
    }
    for assignment in assignments {
        let (path, value) = parse_assignment(assignment).map_err(HostError::variables)?;
        set_path(&mut layered.value, &path, value)
            .map_err(|why| HostError::variables(format!("invalid --var {assignment:?}: {why}")))?;
        layered.origins.assigned(&layered.value, &path, assignment);
    }
    Ok(layered)
}

/// The variables of a play of `playbook`: its defaults file (`NAME.vars.yaml`), then `files`,
/// then `assignments`; checked against its schema (`NAME.vars.schema.yaml`) when it has one.
pub fn for_playbook(
    playbook: &Path,
    files: &[std::path::PathBuf],
    assignments: &[String],
) -> HostResult<Layered> {
    for file in files {
        if !file.is_file() {
            return Err(HostError::variables(format!(
                "variables file {} not found",
                file.display()
            )));
        }
    }
    let layered = layer(defaults_file(playbook).as_deref(), files, assignments)?;
    if let Some(schema) = schema::Schema::beside(playbook)? {
        schema.check(&layered)?;
    }
    Ok(layered)
}

/// The defaults a playbook ships beside itself: `NAME.vars.yaml` next to `NAME.rhai`.
pub fn defaults_file(playbook: &Path) -> Option<std::path::PathBuf> {
    let stem = playbook.file_stem()?.to_str()?;
    let file = playbook.with_file_name(format!("{stem}.vars.yaml"));
    file.is_file().then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_users_variables_win_over_the_playbooks_defaults_key_by_key() {
        let merged = with_defaults(
            json!({"istio": {"version": "1.27", "wait_seconds": 300}, "mode": "a"}),
            json!({"istio": {"version": "1.28"}, "extra": true}),
        );
        assert_eq!(
            merged,
            json!({"istio": {"version": "1.28", "wait_seconds": 300}, "mode": "a", "extra": true})
        );
    }

    fn assign(vars: &mut Value, text: &str) -> Result<(), String> {
        let (p, v) = parse_assignment(text)?;
        set_path(vars, &p, v)
    }

    #[test]
    fn dotted_keys_set_nested_values_and_later_wins() {
        let mut vars =
            json!({"primary": {"name": "cluster-1", "network": "net1"}, "l": [{"a": 1}]});
        for a in [
            "primary.network=net2",
            "replicas=3",
            "replicas=5",
            "flag=true",
            "name=mesh",
            "l.0.a=2",
            "empty=''",
        ] {
            assign(&mut vars, a).unwrap();
        }
        assert_eq!(
            vars,
            json!({"primary": {"name": "cluster-1", "network": "net2"}, "l": [{"a": 2}], "replicas": 5, "flag": true, "name": "mesh", "empty": ""})
        );
    }

    #[test]
    fn bad_assignments_are_refused() {
        assert!(parse_assignment("novalue").is_err());
        assert!(parse_assignment("a..b=1").is_err());
        assert!(parse_assignment("=1").is_err());
        assert!(parse_assignment("a b=1").is_err());
        assert!(parse_assignment("a=").is_err());
        assert!(parse_assignment("a=[1,").is_err());
        assert!(parse_assignment("a=#x").is_err());
        assert_eq!(parse_assignment("a=~").unwrap().1, Value::Null);
    }

    #[test]
    fn paths_that_do_not_fit_the_value_are_refused() {
        let mut vars = json!({"l": [{"a": 1}], "n": 3});
        assert_eq!(
            assign(&mut vars, "l.1.a=x").unwrap_err(),
            "vars.l has 1 item(s), so index 1 is out of range (0 to 0); to change the whole list, set vars.l itself"
        );
        assert_eq!(
            assign(&mut vars, "l.a=x").unwrap_err(),
            "vars.l is a list: give an item's index, for example l.0.a"
        );
        assert_eq!(
            assign(&mut vars, "n.x=1").unwrap_err(),
            "vars.n is a number (3), not a map, so it has no key x"
        );
        assert_eq!(vars, json!({"l": [{"a": 1}], "n": 3}));
    }

    #[test]
    fn merge_keeps_sibling_keys() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "l": [1, 2]});
        deep_merge(&mut base, json!({"a": {"y": 3}, "l": [9]}));
        assert_eq!(base, json!({"a": {"x": 1, "y": 3}, "l": [9]}));
    }
}
