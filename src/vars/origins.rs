//! Where each variable came from: a line of a vars file, or a `--var`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

/// One step of a key path: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// `vars.remotes[0].name`: a key path as the playbook writes it.
pub fn show_path(path: &[Segment]) -> String {
    let mut out = String::from("vars");
    for segment in path {
        match segment {
            Segment::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    File { path: PathBuf, line: usize },
    Assignment(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", shown(path)),
            Origin::Assignment(text) => write!(f, "--var {text}"),
        }
    }
}

/// A path relative to the working directory when it is below it.
pub fn shown(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

/// The origin of every value that has one, by key path.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    by_path: BTreeMap<Vec<Segment>, Origin>,
}

impl Origins {
    pub fn insert(&mut self, path: Vec<Segment>, origin: Origin) {
        self.by_path.insert(path, origin);
    }

    /// Where the value at `path` came from: its own origin, else that of the first value
    /// below it (a `--var a.b.c` made `a.b`), else its nearest parent's.
    pub fn find(&self, path: &[Segment]) -> Option<&Origin> {
        self.by_path
            .get(path)
            .or_else(|| {
                (self.by_path.range(path.to_vec()..))
                    .find(|(p, _)| p.starts_with(path))
                    .map(|(_, o)| o)
            })
            .or_else(|| {
                (0..path.len())
                    .rev()
                    .find_map(|len| self.by_path.get(&path[..len]))
            })
    }

    /// A later vars file, whose values are `value`: what it replaces forgets its old origins.
    pub fn overlay(&mut self, value: &Value, newer: Origins) {
        for path in newer.by_path.keys() {
            if !at(value, path).is_some_and(Value::is_object) {
                self.forget_below(path);
            }
        }
        self.by_path.extend(newer.by_path);
    }

    /// A `--var` set the value at `keys` (already applied to `value`).
    pub fn assigned(&mut self, value: &Value, keys: &[String], text: &str) {
        let mut path = Vec::new();
        let mut current = Some(value);
        for key in keys {
            let segment = match (current, key.parse::<usize>()) {
                (Some(Value::Array(_)), Ok(i)) => Segment::Index(i),
                _ => Segment::Key(key.clone()),
            };
            current = current.and_then(|v| step(v, &segment));
            path.push(segment);
        }
        self.forget_below(&path);
        self.by_path
            .insert(path, Origin::Assignment(text.to_string()));
    }

    fn forget_below(&mut self, path: &[Segment]) {
        self.by_path
            .retain(|p, _| !(p.len() > path.len() && p.starts_with(path)));
    }
}

fn step<'v>(value: &'v Value, segment: &Segment) -> Option<&'v Value> {
    match (value, segment) {
        (Value::Object(map), Segment::Key(key)) => map.get(key),
        (Value::Array(items), Segment::Index(i)) => items.get(*i),
        _ => None,
    }
}

/// The value at `path`, if there is one.
pub(super) fn at<'v>(value: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    path.iter().try_fold(value, step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_sources_replace_the_origins_below_them() {
        let file = |line| Origin::File {
            path: "a.yaml".into(),
            line,
        };
        let key = |k: &str| Segment::Key(k.into());
        let mut origins = Origins::default();
        origins.insert(vec![key("l")], file(1));
        origins.insert(vec![key("l"), Segment::Index(1)], file(3));
        let value = json!({"l": [1, 2]});
        origins.assigned(&value, &["l".into(), "1".into()], "l.1=2");
        assert_eq!(
            origins.find(&[key("l"), Segment::Index(1)]),
            Some(&Origin::Assignment("l.1=2".into()))
        );
        assert_eq!(origins.find(&[key("l"), Segment::Index(0)]), Some(&file(1)));
        assert_eq!(
            show_path(&[key("remotes"), Segment::Index(0), key("name")]),
            "vars.remotes[0].name"
        );
    }
}
