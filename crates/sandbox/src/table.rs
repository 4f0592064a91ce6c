//! `as=Table` responses, the way kubectl's `get` asks for them.
use super::jsonpath;
use super::meta::age_of;
use super::resources::ResourceType;
use serde_json::{json, Value};

fn column(name: &str, kind: &str, format: &str, description: &str) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": description, "priority": 0})
}

fn columns(rt: &ResourceType) -> Vec<Value> {
    let name = column(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
    );
    let age = column(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    if rt.custom && !rt.printer_columns.is_empty() {
        let mut cols = vec![name];
        for c in &rt.printer_columns {
            let mut col = column(&c.name, &c.kind, "", "");
            col["priority"] = json!(c.priority);
            cols.push(col);
        }
        return cols;
    }
    let mut cols = vec![name];
    let extra: &[(&str, &str)] = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => &[("Status", "string")],
        ("", "Secret") => &[("Type", "string"), ("Data", "string")],
        ("", "ConfigMap") => &[("Data", "string")],
        ("", "ServiceAccount") => &[("Secrets", "string")],
        ("", "Service") => &[
            ("Type", "string"),
            ("Cluster-IP", "string"),
            ("External-IP", "string"),
            ("Port(s)", "string"),
        ],
        ("", "Pod") => &[
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "string"),
        ],
        ("apps", "Deployment") => &[
            ("Ready", "string"),
            ("Up-to-date", "string"),
            ("Available", "string"),
        ],
        _ => &[],
    };
    for (n, t) in extra {
        cols.push(column(n, t, "", ""));
    }
    cols.push(age);
    cols
}

fn count(v: &Value) -> usize {
    v.as_object().map(serde_json::Map::len).unwrap_or(0)
}

fn cells(rt: &ResourceType, obj: &Value) -> Vec<Value> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let num = |v: &Value| v.as_i64().unwrap_or(0);
    let mut cells = vec![json!(s(&obj["metadata"]["name"]))];
    if rt.custom && !rt.printer_columns.is_empty() {
        for c in &rt.printer_columns {
            let value = jsonpath::first(obj, &c.json_path)
                .cloned()
                .unwrap_or(Value::Null);
            cells.push(match (c.kind.as_str(), &value) {
                ("date", Value::String(ts)) => json!(age_of(ts)),
                _ => value,
            });
        }
        return cells;
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") => cells.push(json!(s(&obj["status"]["phase"]))),
        ("", "Secret") => {
            cells.push(json!(s(&obj["type"])));
            cells.push(json!(count(&obj["data"])));
        }
        ("", "ConfigMap") => cells.push(json!(count(&obj["data"]) + count(&obj["binaryData"]))),
        ("", "ServiceAccount") => cells.push(json!(obj["secrets"]
            .as_array()
            .map(std::vec::Vec::len)
            .unwrap_or(0))),
        ("", "Service") => {
            let ingress: Vec<String> = obj["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i["ip"]
                        .as_str()
                        .or(i["hostname"].as_str())
                        .map(str::to_string)
                })
                .collect();
            let external = match (s(&obj["spec"]["type"]).as_str(), ingress.is_empty()) {
                ("LoadBalancer", true) => "<pending>".to_string(),
                (_, false) => ingress.join(","),
                _ => "<none>".to_string(),
            };
            let ports: Vec<String> = obj["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| match p["nodePort"].as_i64() {
                    Some(np) => format!("{}:{}/{}", p["port"], np, s(&p["protocol"])),
                    None => format!("{}/{}", p["port"], s(&p["protocol"])),
                })
                .collect();
            cells.push(json!(s(&obj["spec"]["type"])));
            cells.push(json!(s(&obj["spec"]["clusterIP"])));
            cells.push(json!(external));
            cells.push(json!(if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            }));
        }
        ("", "Pod") => {
            cells.push(json!("0/1"));
            cells.push(json!(obj["status"]["phase"].as_str().unwrap_or("Pending")));
            cells.push(json!(0));
        }
        ("apps", "Deployment") => {
            cells.push(json!(format!(
                "{}/{}",
                num(&obj["status"]["readyReplicas"]),
                num(&obj["spec"]["replicas"])
            )));
            cells.push(json!(num(&obj["status"]["updatedReplicas"])));
            cells.push(json!(num(&obj["status"]["availableReplicas"])));
        }
        _ => {}
    }
    cells.push(json!(age_of(
        obj["metadata"]["creationTimestamp"].as_str().unwrap_or("")
    )));
    cells
}

fn row(rt: &ResourceType, obj: &Value) -> Value {
    let mut metadata = obj["metadata"].clone();
    if let Some(m) = metadata.as_object_mut() {
        m.remove("managedFields");
    }
    json!({
        "cells": cells(rt, obj),
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata},
    })
}

pub(crate) fn table(rt: &ResourceType, items: &[Value], resource_version: &str) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns(rt),
        "rows": items.iter().map(|o| row(rt, o)).collect::<Vec<_>>(),
    })
}
