//! Field paths and sets in the `fieldsV1` encoding used by managedFields.
//!
//! A path is a list of fieldsV1 keys: `f:NAME` for a map field, `k:{"key":value}` for an item of an
//! associative list, and a trailing `.` for ownership of a list item itself.
use super::schema::builtin::{self, Shape};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) type Path = Vec<String>;
pub(crate) type FieldSet = BTreeSet<Path>;

/// Metadata fields a field manager can own; the rest belong to the server.
const MANAGED_METADATA: [&str; 5] = [
    "generateName",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
];

/// The merge key of a list known to be associative, or None for an atomic list.
pub(crate) fn list_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let key = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "webhooks"
        | "versions" => "name",
        "volumeMounts" => "mountPath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "ports" => {
            if items.iter().all(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    };
    items
        .iter()
        .all(|i| i.get(key).is_some_and(|k| !k.is_null()))
        .then_some(key)
}

/// Which part of an object a write may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The whole object (kinds without a status subresource).
    Everything,
    /// Everything except `status`.
    Main,
    /// Only `status`.
    Status,
}

/// Every owned leaf path of `obj` with its value (list-item markers map to null), as an apply
/// owns them.
pub(crate) fn leaves(obj: &Value, scope: Scope) -> BTreeMap<Path, Value> {
    owned(obj, scope, false)
}

/// What an update (create, replace, patch) owns: the leaves and, as the real server records it,
/// every non-empty map and associative list itself (a `.` marker; structs get none).
pub(crate) fn update_leaves(obj: &Value, scope: Scope) -> BTreeMap<Path, Value> {
    owned(obj, scope, true)
}

/// The shape of the field at `path`; for kinds without a Go type (custom resources) every
/// object is a map and lists are associative by the conventional keys.
fn shape_of(obj: &Value, path: &Path, name: &str, value: &Value) -> Shape {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    if let Some(shape) = builtin::shape(api_version, kind, path) {
        return shape;
    }
    match value {
        Value::Object(_) => Shape::Map,
        Value::Array(items) => match list_key(name, items) {
            Some(key) => Shape::Keyed(vec![key.to_string()]),
            None => Shape::Atomic,
        },
        _ => Shape::Atomic,
    }
}

struct Owned<'a> {
    root: &'a Value,
    markers: bool,
    out: BTreeMap<Path, Value>,
}

fn owned(obj: &Value, scope: Scope, markers: bool) -> BTreeMap<Path, Value> {
    let mut owned = Owned {
        root: obj,
        markers,
        out: BTreeMap::new(),
    };
    let Some(map) = obj.as_object() else {
        return owned.out;
    };
    for (name, value) in map {
        let wanted = match name.as_str() {
            "apiVersion" | "kind" => false,
            "status" => scope != Scope::Main,
            _ => scope != Scope::Status,
        };
        if !wanted {
            continue;
        }
        let path = vec![format!("f:{name}")];
        if name == "metadata" {
            if let Some(meta) = value.as_object() {
                for (field, v) in meta {
                    if MANAGED_METADATA.contains(&field.as_str()) {
                        let mut p = path.clone();
                        p.push(format!("f:{field}"));
                        owned.walk(field, v, p);
                    }
                }
            }
            continue;
        }
        owned.walk(name, value, path);
    }
    owned.out
}

/// An item's value for a list-map key; `protocol` keys default to TCP, as every Go type having
/// one defaults it.
fn key_value(item: &Value, key: &str) -> Option<Value> {
    match item.get(key).filter(|v| !v.is_null()) {
        Some(v) => Some(v.clone()),
        None if key == "protocol" => Some(json!("TCP")),
        None => None,
    }
}

/// The fieldsV1 key of an associative list's item: `k:{"port":80,"protocol":"TCP"}`.
fn item_key(keys: &[String], item: &Value) -> String {
    let mut m = Map::new();
    for key in keys {
        if let Some(v) = key_value(item, key) {
            m.insert(key.clone(), v);
        }
    }
    format!("k:{}", Value::Object(m))
}

impl Owned<'_> {
    /// An update owns a map, list or pointer struct it adds as well as what is inside.
    fn marker(&mut self, path: &Path) {
        let api_version = self.root["apiVersion"].as_str().unwrap_or("");
        let kind = self.root["kind"].as_str().unwrap_or("");
        let in_zero = builtin::present_in_zero(api_version, kind, path).unwrap_or(false);
        if self.markers && !in_zero {
            let mut marker = path.clone();
            marker.push(".".into());
            self.out.insert(marker, Value::Null);
        }
    }

    fn walk(&mut self, name: &str, value: &Value, path: Path) {
        // A null is an unset field (a Go list without omitempty), owned by nobody.
        if value.is_null() {
            return;
        }
        let empty = match value {
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => true,
        };
        if empty {
            self.out.insert(path, value.clone());
            return;
        }
        match (shape_of(self.root, &path, name, value), value) {
            (Shape::Map | Shape::Struct, Value::Object(map)) => {
                self.marker(&path);
                for (k, v) in map {
                    let mut p = path.clone();
                    p.push(format!("f:{k}"));
                    self.walk(k, v, p);
                }
            }
            (Shape::Set, Value::Array(items)) => {
                self.marker(&path);
                for item in items {
                    let mut p = path.clone();
                    p.push(format!("v:{item}"));
                    self.out.insert(p, item.clone());
                }
            }
            (Shape::Keyed(keys), Value::Array(items)) => {
                self.marker(&path);
                for item in items {
                    let mut p = path.clone();
                    p.push(item_key(&keys, item));
                    let mut marker = p.clone();
                    marker.push(".".into());
                    self.out.insert(marker, Value::Null);
                    if let Some(fields) = item.as_object() {
                        for (k, v) in fields {
                            let mut fp = p.clone();
                            fp.push(format!("f:{k}"));
                            self.walk(k, v, fp);
                        }
                    }
                }
            }
            _ => {
                self.out.insert(path, value.clone());
            }
        }
    }
}

fn find_item(items: &[Value], step: &str) -> Option<usize> {
    if let Some(value) = step.strip_prefix("v:") {
        let value: Value = serde_json::from_str(value).ok()?;
        return items.iter().position(|item| *item == value);
    }
    let wanted: Value = serde_json::from_str(step.strip_prefix("k:")?).ok()?;
    let wanted = wanted.as_object()?;
    items.iter().position(|item| {
        wanted
            .iter()
            .all(|(k, v)| key_value(item, k).is_some_and(|iv| iv == *v))
    })
}

/// The value at `path` (a list-item marker yields the item).
pub(crate) fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for step in path {
        if step == "." {
            return Some(cur);
        }
        cur = if let Some(field) = step.strip_prefix("f:") {
            cur.get(field)?
        } else {
            let items = cur.as_array()?;
            &items[find_item(items, step)?]
        };
    }
    Some(cur)
}

fn value_at_mut<'a>(obj: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for step in path {
        cur = if let Some(field) = step.strip_prefix("f:") {
            cur.get_mut(field)?
        } else {
            let idx = find_item(cur.as_array()?, step)?;
            cur.as_array_mut()?.get_mut(idx)?
        };
    }
    Some(cur)
}

/// Removes the field (or list item, for a marker path) at `path`, if present.
pub(crate) fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    if last == "." {
        let Some((item, list_path)) = parent.split_last() else {
            return;
        };
        if let Some(Value::Array(items)) = value_at_mut(obj, list_path) {
            if let Some(idx) = find_item(items, item) {
                items.remove(idx);
            }
        }
        return;
    }
    if let Some(field) = last.strip_prefix("f:") {
        if let Some(Value::Object(map)) = value_at_mut(obj, parent) {
            map.remove(field);
        }
    }
    if last.starts_with("v:") {
        if let Some(Value::Array(items)) = value_at_mut(obj, parent) {
            if let Some(idx) = find_item(items, last) {
                items.remove(idx);
            }
        }
    }
}

/// Merges an applied configuration into the live object: maps and structs recursively,
/// associative lists by their keys, atomic fields replaced.
pub(crate) fn merge_applied(live: &mut Value, applied: &Value) {
    let root = json!({"apiVersion": applied["apiVersion"], "kind": applied["kind"]});
    merge_object(&root, &Vec::new(), live, applied);
}

fn merge_object(root: &Value, path: &Path, live: &mut Value, applied: &Value) {
    let (Some(live_map), Some(applied_map)) = (live.as_object_mut(), applied.as_object()) else {
        *live = applied.clone();
        return;
    };
    for (k, v) in applied_map {
        let mut p = path.clone();
        p.push(format!("f:{k}"));
        match live_map.get_mut(k) {
            Some(existing) => merge_field(root, &p, k, existing, v),
            None => {
                live_map.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_field(root: &Value, path: &Path, name: &str, live: &mut Value, applied: &Value) {
    let shape = shape_of(root, path, name, applied);
    if live.is_object() && applied.is_object() && shape != Shape::Atomic {
        merge_object(root, path, live, applied);
        return;
    }
    if let (Some(live_items), Some(applied_items), Shape::Keyed(keys)) =
        (live.as_array_mut(), applied.as_array(), &shape)
    {
        let same = |a: &Value, b: &Value| keys.iter().all(|k| key_value(a, k) == key_value(b, k));
        for item in applied_items {
            let mut p = path.clone();
            p.push(item_key(keys, item));
            match live_items.iter_mut().find(|l| same(l, item)) {
                Some(existing) => merge_object(root, &p, existing, item),
                None => live_items.push(item.clone()),
            }
        }
        return;
    }
    if let (Some(live_items), Some(applied_items), Shape::Set) =
        (live.as_array_mut(), applied.as_array(), &shape)
    {
        for item in applied_items {
            if !live_items.contains(item) {
                live_items.push(item.clone());
            }
        }
        return;
    }
    *live = applied.clone();
}

pub(crate) fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for step in path {
            let entry = cur
                .entry(step.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else {
                break;
            };
            cur = next;
        }
    }
    Value::Object(root)
}

pub(crate) fn from_fields_v1(tree: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    fn go(node: &Value, path: &mut Path, set: &mut FieldSet) {
        let Some(map) = node.as_object() else {
            return;
        };
        if map.is_empty() && !path.is_empty() {
            set.insert(path.clone());
            return;
        }
        for (k, v) in map {
            path.push(k.clone());
            go(v, path, set);
            path.pop();
        }
    }
    go(tree, &mut Vec::new(), &mut set);
    set
}

/// `.spec.containers[name="app"].image`, the way conflict messages name a field.
pub(crate) fn display(path: &[String]) -> String {
    let mut out = String::new();
    for step in path {
        if let Some(f) = step.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = step.strip_prefix("k:") {
            if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(k) {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
        }
    }
    out
}

/// True when `owned` is `path` itself or lies inside what `path` names.
pub(crate) fn covers(path: &[String], owned: &[String]) -> bool {
    let prefix = match path.split_last() {
        Some((last, parent)) if last == "." => parent,
        _ => path,
    };
    owned.starts_with(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_keyed_by_name_and_round_trip_through_fields_v1() {
        let obj = json!({"spec": {"containers": [{"name": "app", "image": "x"}]}, "metadata": {"name": "n", "labels": {"a": "b"}}});
        let set: FieldSet = leaves(&obj, Scope::Everything).into_keys().collect();
        let tree = to_fields_v1(&set);
        assert!(tree["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:image"].is_object());
        assert!(tree["f:metadata"]["f:labels"]["f:a"].is_object());
        assert!(tree["f:metadata"].get("f:name").is_none());
        assert_eq!(from_fields_v1(&tree), set);
    }

    #[test]
    fn removing_a_list_item_marker_drops_the_item() {
        let mut obj = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        remove_at(
            &mut obj,
            &[
                "f:spec".into(),
                "f:containers".into(),
                "k:{\"name\":\"a\"}".into(),
                ".".into(),
            ],
        );
        assert_eq!(obj, json!({"spec": {"containers": [{"name": "b"}]}}));
    }
}
