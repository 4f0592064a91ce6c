//! Field paths and sets in the `fieldsV1` encoding used by managedFields.
//!
//! A path is a list of fieldsV1 keys: `f:NAME` for a map field, `k:{"key":value}` for an item of an
//! associative list, and a trailing `.` for ownership of a list item itself.
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// Metadata fields a field manager can own; the rest belong to the server.
const MANAGED_METADATA: [&str; 4] = ["labels", "annotations", "finalizers", "ownerReferences"];

/// The merge key of a list known to be associative, or None for an atomic list.
pub fn list_key(field: &str, items: &[Value]) -> Option<&'static str> {
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

fn item_key(key: &str, item: &Value) -> String {
    let mut m = Map::new();
    m.insert(key.to_string(), item[key].clone());
    format!("k:{}", Value::Object(m))
}

/// Which part of an object a write may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole object (kinds without a status subresource).
    Everything,
    /// Everything except `status`.
    Main,
    /// Only `status`.
    Status,
}

/// Every owned leaf path of `obj` with its value (list-item markers map to null), as an apply
/// owns them.
pub fn leaves(obj: &Value, scope: Scope) -> BTreeMap<Path, Value> {
    owned(obj, scope, &|_| false)
}

/// What an update (create, replace, patch) owns: the leaves and, as the real server records it,
/// every non-empty map itself (a `.` marker; structs get none, and all objects of a custom
/// resource are maps).
pub fn update_leaves(obj: &Value, scope: Scope) -> BTreeMap<Path, Value> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    owned(obj, scope, &|path: &Path| {
        crate::sandbox::schema::builtin::is_map(api_version, kind, path).unwrap_or(true)
    })
}

fn owned(obj: &Value, scope: Scope, is_map: &dyn Fn(&Path) -> bool) -> BTreeMap<Path, Value> {
    let mut out = BTreeMap::new();
    let Some(map) = obj.as_object() else {
        return out;
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
                        walk(field, v, p, is_map, &mut out);
                    }
                }
            }
            continue;
        }
        walk(name, value, path, is_map, &mut out);
    }
    out
}

/// A map (not a struct) is owned itself as well as its entries: a `.` marker, as in the real
/// server's managedFields.
fn walk(
    name: &str,
    value: &Value,
    path: Path,
    is_map: &dyn Fn(&Path) -> bool,
    out: &mut BTreeMap<Path, Value>,
) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            if is_map(&path) {
                let mut marker = path.clone();
                marker.push(".".into());
                out.insert(marker, Value::Null);
            }
            for (k, v) in map {
                let mut p = path.clone();
                p.push(format!("f:{k}"));
                walk(k, v, p, is_map, out);
            }
        }
        Value::Array(items) if !items.is_empty() => match list_key(name, items) {
            Some(key) => {
                for item in items {
                    let mut p = path.clone();
                    p.push(item_key(key, item));
                    let mut marker = p.clone();
                    marker.push(".".into());
                    out.insert(marker, Value::Null);
                    if let Some(fields) = item.as_object() {
                        for (k, v) in fields {
                            let mut fp = p.clone();
                            fp.push(format!("f:{k}"));
                            walk(k, v, fp, is_map, out);
                        }
                    }
                }
            }
            None => {
                out.insert(path, value.clone());
            }
        },
        _ => {
            out.insert(path, value.clone());
        }
    }
}

fn find_item(items: &[Value], step: &str) -> Option<usize> {
    let wanted: Value = serde_json::from_str(step.strip_prefix("k:")?).ok()?;
    let wanted = wanted.as_object()?;
    items.iter().position(|item| {
        wanted
            .iter()
            .all(|(k, v)| item.get(k).is_some_and(|iv| iv == v))
    })
}

/// The value at `path` (a list-item marker yields the item).
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
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
pub fn remove_at(obj: &mut Value, path: &[String]) {
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
}

/// Merges an applied configuration into the live object: maps recursively, associative lists by key,
/// everything else replaced.
pub fn merge_applied(live: &mut Value, applied: &Value) {
    let (Some(live_map), Some(applied_map)) = (live.as_object_mut(), applied.as_object()) else {
        *live = applied.clone();
        return;
    };
    for (k, v) in applied_map {
        match live_map.get_mut(k) {
            Some(existing) => merge_field(k, existing, v),
            None => {
                live_map.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_field(name: &str, live: &mut Value, applied: &Value) {
    if live.is_object() && applied.is_object() {
        merge_applied(live, applied);
        return;
    }
    if let (Some(live_items), Some(applied_items)) = (live.as_array_mut(), applied.as_array()) {
        let key = list_key(name, applied_items).filter(|_| list_key(name, live_items).is_some());
        if let Some(key) = key {
            for item in applied_items {
                match live_items.iter_mut().find(|l| l.get(key) == item.get(key)) {
                    Some(existing) => merge_applied(existing, item),
                    None => live_items.push(item.clone()),
                }
            }
            return;
        }
    }
    *live = applied.clone();
}

pub fn to_fields_v1(set: &FieldSet) -> Value {
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

pub fn from_fields_v1(tree: &Value) -> FieldSet {
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
pub fn display(path: &[String]) -> String {
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
pub fn covers(path: &[String], owned: &[String]) -> bool {
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
