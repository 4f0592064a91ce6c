//! Just enough OpenAPI v3 for kubectl to see that the server validates fields itself
//! (`fieldValidation` on PATCH), so it skips client-side schema validation.
use super::resources::{Registry, ResourceType};
use serde_json::{json, Map, Value};

fn gv_path(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        format!("api/{}", rt.version)
    } else {
        format!("apis/{}/{}", rt.group, rt.version)
    }
}

pub(crate) fn root(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for rt in registry.types.iter() {
        let gv = gv_path(rt);
        paths.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash=sandbox")}),
        );
    }
    json!({"paths": paths})
}

pub(crate) fn group_version(registry: &Registry, gv: &str) -> Option<Value> {
    let mut paths = Map::new();
    for rt in registry.types.iter().filter(|rt| gv_path(rt) == gv) {
        let url = if rt.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("/{gv}/{}/{{name}}", rt.plural)
        };
        paths.insert(
            url,
            json!({"patch": {
                "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                ],
                "responses": {"200": {"description": "OK"}},
            }}),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
