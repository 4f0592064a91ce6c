//! The schema of a playbook's variables: `NAME.vars.schema.yaml` beside `NAME.rhai`, a JSON
//! Schema written in YAML, checked after the variables are layered and before anything runs.
//!
//! A subschema's `description` is what the messages say was expected. One keyword is runner's
//! own: `x-unique` at the top maps a name to key paths (`*` for every list item) whose values
//! must all differ, e.g. `cluster names: [primary.name, remotes.*.name]`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::origins::{at, show_path, shown, Segment};
use super::{describe, Layered};
use crate::error::{HostError, HostResult};

pub struct Schema {
    file: PathBuf,
    raw: Value,
    validator: jsonschema::Validator,
}

/// The schema file of a playbook, whether or not it exists.
pub fn file_beside(playbook: &Path) -> Option<PathBuf> {
    let stem = playbook.file_stem()?.to_str()?;
    Some(playbook.with_file_name(format!("{stem}.vars.schema.yaml")))
}

/// The keys a map at some key path may have, as far as the schema says.
pub struct KnownKeys {
    pub keys: Vec<String>,
    /// Whether other keys are allowed too.
    pub open: bool,
}

impl Schema {
    /// The schema beside `playbook`, if it has one.
    pub fn beside(playbook: &Path) -> HostResult<Option<Schema>> {
        match file_beside(playbook) {
            Some(file) if file.is_file() => Schema::load(&file).map(Some),
            _ => Ok(None),
        }
    }

    pub fn load(file: &Path) -> HostResult<Schema> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            HostError::from_error(&e).context(format!("cannot read schema {}", shown(file)))
        })?;
        let raw: Value = serde_yaml::from_str(&text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            HostError::variables(format!("{}{at}: invalid YAML", shown(file)))
                .with_cause(e.to_string())
        })?;
        let validator = jsonschema::validator_for(&raw).map_err(|e| {
            HostError::variables(format!("{}: not a valid JSON Schema: {e}", shown(file)))
        })?;
        Ok(Schema {
            file: file.to_path_buf(),
            raw,
            validator,
        })
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Every way the variables break the schema, each with the place the value came from.
    pub fn problems(&self, vars: &Layered) -> Vec<String> {
        let mut problems = Vec::new();
        for error in self.validator.iter_errors(&vars.value) {
            let path = segments(&vars.value, &error.instance_path().to_string());
            let subschema = self.subschema_of(&error.schema_path().to_string());
            problems.extend(self.explain(vars, &path, error.kind(), subschema, &error));
        }
        problems.extend(self.duplicates(vars));
        // Two keywords can fail the same way for one value (minLength and pattern): say it once.
        let mut said = std::collections::HashSet::new();
        problems.retain(|p| said.insert(p.clone()));
        problems
    }

    /// Checks the variables; one error listing every problem.
    pub fn check(&self, vars: &Layered) -> HostResult<()> {
        let problems = self.problems(vars);
        if problems.is_empty() {
            return Ok(());
        }
        let message = if problems.len() == 1 {
            problems[0].clone()
        } else {
            format!(
                "{} problems with the play's variables:\n{}",
                problems.len(),
                problems
                    .iter()
                    .map(|p| format!("  - {p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        };
        Err(HostError::variables(message).with_hint(format!(
            "the variables are described by {}",
            shown(&self.file)
        )))
    }

    fn explain(
        &self,
        vars: &Layered,
        path: &[Segment],
        kind: &jsonschema::error::ValidationErrorKind,
        subschema: Option<&Value>,
        error: &jsonschema::ValidationError<'_>,
    ) -> Vec<String> {
        use jsonschema::error::ValidationErrorKind as Kind;
        let place = |path: &[Segment]| {
            vars.origins
                .find(path)
                .map(|o| format!("{o}: "))
                .unwrap_or_default()
        };
        match kind {
            Kind::AdditionalProperties { unexpected } => {
                let known: Vec<String> = subschema
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().collect())
                    .unwrap_or_default();
                unexpected
                    .iter()
                    .map(|key| {
                        let mut full = path.to_vec();
                        full.push(Segment::Key(key.clone()));
                        format!("{}{}", place(&full), no_such_key(path, key, &known))
                    })
                    .collect()
            }
            Kind::Required { property } => {
                let key = property.as_str().unwrap_or_default().to_string();
                let expected = subschema
                    .and_then(|s| s.get("properties"))
                    .and_then(|p| p.get(&key))
                    .and_then(|p| p.get("description"))
                    .and_then(Value::as_str)
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default();
                vec![format!(
                    "{}{} needs the key {key}{expected}",
                    place(path),
                    show_path(path)
                )]
            }
            _ => {
                let found = at(&vars.value, path)
                    .map(describe)
                    .unwrap_or_else(|| "nothing".into());
                let expected = subschema
                    .and_then(|s| s.get("description"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| match kind {
                        Kind::Type { .. } => subschema.and_then(|s| s.get("type")).map(type_words),
                        Kind::Enum { options } => options.as_array().map(|options| {
                            let options: Vec<String> = options.iter().map(plain).collect();
                            format!("one of {}", options.join(", "))
                        }),
                        Kind::Constant { expected_value } => {
                            Some(format!("exactly {}", plain(expected_value)))
                        }
                        _ => None,
                    });
                // Without words for what was expected, the validator's own sentence says it.
                let problem = match expected {
                    Some(expected) => format!("expected {expected}, not {found}"),
                    None => error.to_string(),
                };
                vec![format!("{}{}: {problem}", place(path), show_path(path))]
            }
        }
    }

    /// The subschema holding the keyword at `pointer` (`/properties/a/minimum` → `a`'s schema).
    fn subschema_of(&self, pointer: &str) -> Option<&Value> {
        let parent = match pointer.rfind('/') {
            Some(i) => &pointer[..i],
            None => "",
        };
        self.raw.pointer(parent)
    }

    /// `x-unique`: values that must differ across key paths.
    fn duplicates(&self, vars: &Layered) -> Vec<String> {
        let Some(groups) = self.raw.get("x-unique").and_then(Value::as_object) else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        for (what, patterns) in groups {
            let mut seen: Vec<(Vec<Segment>, &Value)> = Vec::new();
            for pattern in patterns.as_array().into_iter().flatten() {
                let Some(pattern) = pattern.as_str() else {
                    continue;
                };
                for (path, value) in expand(&vars.value, pattern) {
                    if let Some((first, _)) = seen.iter().find(|(_, v)| *v == value) {
                        let origin = vars
                            .origins
                            .find(&path)
                            .map(|o| format!("{o}: "))
                            .unwrap_or_default();
                        problems.push(format!(
                            "{origin}{}: {} is also {}; {what} must be unique",
                            show_path(&path),
                            super::short(value),
                            show_path(first)
                        ));
                    } else {
                        seen.push((path, value));
                    }
                }
            }
        }
        problems
    }

    /// What the schema says the map at `path` holds; `None` when it says nothing.
    pub fn keys_at(&self, path: &[Segment]) -> Option<KnownKeys> {
        let mut current = self.resolve(&self.raw);
        for segment in path {
            let next =
                match segment {
                    Segment::Key(key) => current
                        .get("properties")
                        .and_then(|p| p.get(key))
                        .or_else(|| {
                            current
                                .get("additionalProperties")
                                .filter(|a| a.is_object())
                        }),
                    Segment::Index(_) => current.get("items"),
                }?;
            current = self.resolve(next);
        }
        let properties = current.get("properties").and_then(Value::as_object)?;
        Some(KnownKeys {
            keys: properties.keys().cloned().collect(),
            open: current.get("additionalProperties") != Some(&Value::Bool(false)),
        })
    }

    /// Follows a local `$ref` (`#/$defs/cluster`).
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| self.raw.pointer(pointer))
            .unwrap_or(schema)
    }
}

/// A schema's `type` in words: "a map", "a string or a whole number".
fn type_words(types: &Value) -> String {
    let word = |t: &str| match t {
        "object" => "a map",
        "array" => "a list",
        "string" => "a string",
        "integer" => "a whole number",
        "number" => "a number",
        "boolean" => "true or false",
        "null" => "null",
        _ => "a value",
    };
    match types {
        Value::String(t) => word(t).to_string(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(word)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "a value".to_string(),
    }
}

/// A value as a user wrote it in YAML: a string without quotes, anything else as JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `vars.apps has no key backnd; did you mean backend? (keys: namespace, frontend, backend)`
pub fn no_such_key(parent: &[Segment], key: &str, known: &[String]) -> String {
    let suggestion = closest(key, known.iter().map(String::as_str))
        .map(|c| format!("; did you mean {c}?"))
        .unwrap_or_default();
    let keys = if known.is_empty() {
        "it has no keys".to_string()
    } else {
        format!("keys: {}", known.join(", "))
    };
    format!(
        "{} has no key {key}{suggestion} ({keys})",
        show_path(parent)
    )
}

/// The known name closest to `name`, if one is close enough to be a likely typo.
pub fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(distance, k)| *distance <= (name.len().max(k.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// A JSON pointer into `value` as key path segments (list indices where the value has lists).
fn segments(value: &Value, pointer: &str) -> Vec<Segment> {
    let mut path = Vec::new();
    let mut current = Some(value);
    for raw in pointer.split('/').skip(1) {
        let part = raw.replace("~1", "/").replace("~0", "~");
        let segment = match (current, part.parse::<usize>()) {
            (Some(Value::Array(_)), Ok(i)) => Segment::Index(i),
            _ => Segment::Key(part),
        };
        current = current.and_then(|v| at(v, std::slice::from_ref(&segment)));
        path.push(segment);
    }
    path
}

/// Every value matching a dotted pattern, `*` standing for each item of a list.
fn expand<'v>(value: &'v Value, pattern: &str) -> Vec<(Vec<Segment>, &'v Value)> {
    let mut found = vec![(Vec::new(), value)];
    for part in pattern.split('.') {
        let mut next = Vec::new();
        for (path, current) in found {
            match (part, current) {
                ("*", Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let mut p = path.clone();
                        p.push(Segment::Index(i));
                        next.push((p, item));
                    }
                }
                (key, Value::Object(map)) => {
                    if let Some(child) = map.get(key) {
                        let mut p = path.clone();
                        p.push(Segment::Key(key.to_string()));
                        next.push((p, child));
                    }
                }
                _ => {}
            }
        }
        found = next;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names_are_typos_only() {
        let known = ["namespace", "frontend", "backend"];
        assert_eq!(closest("backnd", known.into_iter()), Some("backend"));
        assert_eq!(closest("zzz", known.into_iter()), None);
        assert_eq!(
            no_such_key(
                &[Segment::Key("apps".into())],
                "backnd",
                &known.map(String::from)
            ),
            "vars.apps has no key backnd; did you mean backend? (keys: namespace, frontend, backend)"
        );
    }

    fn problems_of(schema: &str, assignments: &[&str]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("play.vars.schema.yaml");
        std::fs::write(&file, schema).unwrap();
        let assignments: Vec<String> = assignments.iter().map(|a| (*a).to_string()).collect();
        let vars = super::super::layer(None, &[] as &[&Path], &assignments).unwrap();
        Schema::load(&file).unwrap().problems(&vars)
    }

    #[test]
    fn keywords_without_a_description_are_said_in_words() {
        let schema = "type: object\nproperties:\n  team: {enum: [blue, green, 3]}\n  tier: {const: gold}\n  replicas: {minimum: 2}\n";
        assert_eq!(
            problems_of(schema, &["team=red", "tier=silver", "replicas=1"]),
            [
                "--var team=red: vars.team: expected one of blue, green, 3, not a string (\"red\")",
                "--var tier=silver: vars.tier: expected exactly gold, not a string (\"silver\")",
                "--var replicas=1: vars.replicas: 1 is less than the minimum of 2",
            ]
        );
    }
}
