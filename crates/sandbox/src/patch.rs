//! Strategic merge patch for built-in kinds, the way `kubectl apply` (client-side), `label` and
//! `annotate` send it: maps merge, associative lists merge by key, `$patch`, `$setElementOrder`,
//! `$retainKeys` and `$deleteFromPrimitiveList` directives are honoured.
use super::fields::list_key;
use serde_json::{Map, Value};

pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) {
    let Some(patch_map) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let retain: Option<Vec<String>> = patch_map.get("$retainKeys").and_then(|k| {
        k.as_array().map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
    });
    let Some(target_map) = target.as_object_mut() else {
        return;
    };
    if let Some(keep) = retain {
        target_map.retain(|k, _| keep.contains(k) || patch_map.contains_key(k));
    }
    for (key, value) in patch_map {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(gone)) =
                (target_map.get_mut(field), value.as_array())
            {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target_map.remove(key);
            continue;
        }
        match target_map.get_mut(key) {
            Some(existing) => merge_field(key, existing, value),
            None => {
                let mut fresh = Value::Null;
                merge_field(key, &mut fresh, value);
                target_map.insert(key.clone(), fresh);
            }
        }
    }
}

fn merge_field(name: &str, target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(_) => strategic_merge(target, patch),
        Value::Array(items) => {
            let key = list_key(name, &without_deletes(items));
            match (key, target.as_array_mut()) {
                (Some(key), Some(existing)) => merge_list(key, existing, items),
                _ => {
                    *target = Value::Array(
                        items
                            .iter()
                            .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                            .map(strip_directives)
                            .collect(),
                    );
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn without_deletes(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .map(|i| {
            let mut i = i.clone();
            if let Some(m) = i.as_object_mut() {
                m.remove("$patch");
            }
            i
        })
        .collect()
}

/// Items the patch adds go before the existing ones, as the real server orders them when the
/// patch carries no `$setElementOrder`.
fn merge_list(key: &str, existing: &mut Vec<Value>, items: &[Value]) {
    let mut added = Vec::new();
    for item in items {
        let id = item.get(key);
        let position = existing.iter().position(|e| e.get(key) == id);
        let directive = item.get("$patch").and_then(Value::as_str);
        match (directive, position) {
            (Some("delete"), Some(p)) => {
                existing.remove(p);
            }
            (Some("delete"), None) => {}
            (Some("replace"), Some(p)) => existing[p] = strip_directives(item),
            (_, Some(p)) => strategic_merge(&mut existing[p], item),
            (_, None) => added.push(strip_directives(item)),
        }
    }
    existing.splice(0..0, added);
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_directives_apply() {
        let mut live = json!({"spec": {"containers": [
            {"name": "app", "image": "nginx:0", "ports": [{"containerPort": 80}]},
            {"name": "old", "image": "x"}
        ]}});
        let patch = json!({"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"name": "app", "image": "nginx:1"}, {"$patch": "delete", "name": "old"}]
        }});
        strategic_merge(&mut live, &patch);
        assert_eq!(
            live,
            json!({"spec": {"containers": [{"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80}]}]}})
        );
    }

    #[test]
    fn null_deletes_and_replace_replaces() {
        let mut live = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}});
        strategic_merge(
            &mut live,
            &json!({"metadata": {"labels": {"a": null}}, "data": {"$patch": "replace", "y": "2"}}),
        );
        assert_eq!(
            live,
            json!({"metadata": {"labels": {"b": "2"}}, "data": {"y": "2"}})
        );
    }
}
