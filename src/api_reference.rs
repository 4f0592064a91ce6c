//! `runner api`: the reference of every function a playbook can call, from Rhai's metadata.

use rhai::Engine;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct FunctionDoc {
    /// `certs::root_ca`, `apply`, ...
    pub name: String,
    pub params: Vec<String>,
    pub returns: String,
    pub doc: String,
}

/// The rules every function follows (the README's playbook guide says the same, at length).
pub(crate) const CONVENTION: &str = "\
# Every function: required arguments in order (kind, name, then what to do), then one optional
# options map; unknown keys and wrong types are errors. namespace: an option, the context's when
# left out; all namespaces only as list's all_namespaces: true. timeout: an option, whole seconds.
# Handles (Cluster, RootCa, Error) have properties: c.name. Functions that write start with a verb.
# `Map or ()` may be absent: read it with ?. and ??.

";

pub(crate) fn collect(engine: &Engine) -> Vec<FunctionDoc> {
    let json = engine.gen_fn_metadata_to_json(false).unwrap_or_default();
    let metadata: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    let mut docs = Vec::new();
    if let Some(modules) = metadata.get("modules").and_then(Value::as_object) {
        for (module, content) in modules {
            collect_functions(content, Some(module), &mut docs);
        }
    }
    collect_functions(&metadata, None, &mut docs);
    docs.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.params.len().cmp(&b.params.len()))
    });
    docs
}

fn collect_functions(content: &Value, module: Option<&str>, docs: &mut Vec<FunctionDoc>) {
    let Some(functions) = content.get("functions").and_then(Value::as_array) else {
        return;
    };
    for f in functions {
        let Some(raw_name) = f.get("name").and_then(Value::as_str) else {
            continue;
        };
        let name = match raw_name.strip_prefix("get$") {
            Some(property) => format!(".{property}"),
            None => raw_name.to_string(),
        };
        let name = match module {
            Some(m) => format!("{m}::{name}"),
            None => name,
        };
        let params = f
            .get("params")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let n = p.get("name").and_then(Value::as_str).unwrap_or("_");
                        match p.get("type").and_then(Value::as_str) {
                            Some(t) => format!("{n}: {}", alternatives(t)),
                            None => n.to_string(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let returns = alternatives(f.get("returnType").and_then(Value::as_str).unwrap_or("()"));
        let doc = f
            .get("docComments")
            .and_then(Value::as_array)
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(Value::as_str)
                    .flat_map(|block| block.lines())
                    .map(|l| l.trim_start_matches("///").trim())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        docs.push(FunctionDoc {
            name,
            params,
            returns,
            doc,
        });
    }
}

/// Signatures write alternative types as `Map|()` (Rhai's metadata drops spaces in types);
/// the reference reads `Map or ()`.
fn alternatives(type_name: &str) -> String {
    type_name.replace('|', " or ")
}

pub(crate) fn render(docs: &[FunctionDoc]) -> String {
    let mut out = String::new();
    for doc in docs {
        let returns = if doc.returns == "()" || doc.returns.is_empty() {
            String::new()
        } else {
            format!(" -> {}", doc.returns)
        };
        out.push_str(&format!(
            "{}({}){returns}\n",
            doc.name,
            doc.params.join(", ")
        ));
        if !doc.doc.is_empty() {
            out.push_str(&format!("    {}\n", doc.doc));
        }
    }
    out
}
