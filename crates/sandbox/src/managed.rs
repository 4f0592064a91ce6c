//! managedFields bookkeeping: server-side apply (with conflicts) and ownership changes by updates.
use super::fields::{self, FieldSet, Scope};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct ManagedEntry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    fields: FieldSet,
}

fn parse(obj: &Value) -> Vec<ManagedEntry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| ManagedEntry {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or("Update").to_string(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
            time: e["time"].as_str().unwrap_or_default().to_string(),
            subresource: e["subresource"].as_str().map(str::to_string),
            fields: fields::from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

/// Writes the entries in the real server's order: by operation (Apply first), time (to the
/// second; entries without one first), manager, apiVersion, subresource.
fn write(obj: &mut Value, mut entries: Vec<ManagedEntry>) {
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields::to_fields_v1(&e.fields),
            });
            if e.time.is_empty() {
                if let Some(m) = v.as_object_mut() {
                    m.remove("time");
                }
            }
            if let Some(sub) = e.subresource {
                v["subresource"] = json!(sub);
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn strip_managed(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    v
}

fn subresource_of(scope: Scope) -> Option<String> {
    (scope == Scope::Status).then(|| "status".to_string())
}

/// One field another manager owns with a different value.
#[derive(Debug, Clone)]
pub(crate) struct Conflict {
    /// The manager as the real server prints it, e.g. `"kubectl-create" using v1 at 2024-01-01T00:00:00Z`.
    pub manager: String,
    pub path: String,
}

fn print_manager(e: &ManagedEntry) -> String {
    let mut out = format!("{:?}", e.manager);
    if let Some(sub) = &e.subresource {
        out.push_str(&format!(" with subresource {sub:?}"));
    }
    if e.operation == "Update" {
        out.push_str(&format!(" using {}", e.api_version));
        if !e.time.is_empty() {
            out.push_str(&format!(" at {}", e.time));
        }
    }
    out
}

pub(crate) struct ApplyRequest<'a> {
    pub manager: &'a str,
    pub force: bool,
    pub api_version: &'a str,
    pub now: &'a str,
    pub scope: Scope,
}

/// Server-side apply of `applied` onto `live` (None when creating). Returns the merged object with
/// managedFields updated, or the conflicts when another manager owns differing fields.
pub(crate) fn apply(
    live: Option<&Value>,
    applied: &Value,
    req: &ApplyRequest,
) -> Result<Value, Vec<Conflict>> {
    let empty = json!({});
    let live_obj = live.unwrap_or(&empty);
    let mut entries = parse(live_obj);
    let applied_leaves = fields::leaves(applied, req.scope);
    let applied_set: FieldSet = applied_leaves.keys().cloned().collect();
    let subresource = subresource_of(req.scope);
    let is_mine = |e: &ManagedEntry| {
        e.manager == req.manager && e.operation == "Apply" && e.subresource == subresource
    };

    let mut conflicts = Vec::new();
    for entry in entries.iter_mut().filter(|e| !is_mine(e)) {
        let clashing: Vec<_> = entry
            .fields
            .intersection(&applied_set)
            .filter(|p| p.last().map(String::as_str) != Some("."))
            .filter(|p| fields::value_at(live_obj, p) != applied_leaves.get(*p))
            .cloned()
            .collect();
        for path in clashing {
            if req.force {
                entry.fields.remove(&path);
            } else {
                conflicts.push(Conflict {
                    manager: print_manager(entry),
                    path: fields::display(&path),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }

    let mut merged = live_obj.clone();
    let mut to_merge = applied.clone();
    if let Some(map) = to_merge.as_object_mut() {
        match req.scope {
            Scope::Main => {
                map.remove("status");
            }
            Scope::Status => map.retain(|k, _| k == "status"),
            Scope::Everything => {}
        }
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            meta.remove("resourceVersion");
            meta.remove("uid");
            meta.remove("creationTimestamp");
            meta.remove("generation");
        }
    }
    fields::merge_applied(&mut merged, &to_merge);

    let previous: FieldSet = entries
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut dropped: Vec<_> = previous.difference(&applied_set).cloned().collect();
    // Deepest first, so a removed item does not hide its own fields from the check.
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in dropped {
        let owned_elsewhere = entries
            .iter()
            .filter(|e| !is_mine(e))
            .any(|e| e.fields.iter().any(|o| fields::covers(&path, o)));
        let still_applied = applied_set.iter().any(|o| fields::covers(&path, o));
        if !owned_elsewhere && !still_applied {
            fields::remove_at(&mut merged, &path);
        }
    }

    // An apply that changes nothing leaves its manager's time as it was (none, if new).
    let changed = strip_managed(&merged) != strip_managed(live_obj);
    match entries.iter_mut().find(|e| is_mine(e)) {
        Some(mine) => {
            mine.fields = applied_set;
            if changed {
                mine.time = req.now.to_string();
            }
            mine.api_version = req.api_version.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: req.manager.to_string(),
            operation: "Apply".into(),
            api_version: req.api_version.to_string(),
            time: if changed {
                req.now.to_string()
            } else {
                String::new()
            },
            subresource,
            fields: applied_set,
        }),
    }
    write(&mut merged, entries);
    Ok(merged)
}

/// Records that `manager` changed `old` into `new` by a non-apply write: changed fields move to it.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
    scope: Scope,
) {
    let empty = json!({});
    let old_obj = old.unwrap_or(&empty);
    // An object whose managedFields are gone (none recorded, or cleared by a client) is not
    // tracked again by updates, as the real server does.
    if old.is_some() && old_obj["metadata"]["managedFields"].is_null() {
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        return;
    }
    let mut entries = parse(old_obj);
    let before = fields::update_leaves(old_obj, scope);
    let after = fields::update_leaves(new, scope);
    let changed: FieldSet = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    let removed: FieldSet = before
        .keys()
        .filter(|p| !after.contains_key(*p))
        .cloned()
        .collect();
    for entry in &mut entries {
        entry
            .fields
            .retain(|p| !changed.contains(p) && !removed.contains(p));
        // A field now owned as a whole also ends ownership of anything that was inside it.
        entry.fields.retain(|p| {
            !after.contains_key(p) || !changed.iter().any(|c| c != p && p.starts_with(c))
        });
    }
    let subresource = subresource_of(scope);
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| {
            e.manager == manager && e.operation == "Update" && e.subresource == subresource
        }) {
            Some(mine) => {
                mine.fields.extend(changed);
                mine.time = now.to_string();
                mine.api_version = api_version.to_string();
            }
            None => entries.push(ManagedEntry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource,
                fields: changed,
            }),
        }
    }
    write(new, entries);
}

/// The 409 message a real server gives for apply conflicts.
pub(crate) fn conflict_message(conflicts: &[Conflict]) -> String {
    if conflicts.len() == 1 {
        let c = &conflicts[0];
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager, c.path
        );
    }
    let mut msg = format!("Apply failed with {} conflicts: ", conflicts.len());
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    for (i, manager) in managers.iter().enumerate() {
        if i > 0 {
            msg.push('\n');
        }
        msg.push_str(&format!("conflicts with {manager}:"));
        for c in conflicts.iter().filter(|c| c.manager == *manager) {
            msg.push_str(&format!("\n- {}", c.path));
        }
    }
    msg
}

pub(crate) fn conflict_causes(conflicts: &[Conflict]) -> Vec<Value> {
    conflicts
        .iter()
        .map(|c| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {}", c.manager),
                "field": c.path,
            })
        })
        .collect()
}
