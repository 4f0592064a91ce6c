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
            // Overloads with as many parameters (`to_string`): Rhai's metadata order varies.
            .then_with(|| a.params.cmp(&b.params))
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
        let lines: Vec<String> = f
            .get("docComments")
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter_map(Value::as_str)
                    .flat_map(|block| block.lines())
                    .map(|l| l.trim_start_matches("///").trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let stated: Vec<Stated> = lines.iter().filter_map(|l| stated_type(l)).collect();
        let doc = lines
            .iter()
            .filter(|l| stated_type(l).is_none())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let params = f
            .get("params")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let n = p.get("name").and_then(Value::as_str).unwrap_or("_");
                        // A parameter named after a Rust keyword (`type`) is written `r#type`.
                        let n = n.trim_start_matches("r#");
                        let stated = stated.iter().find_map(|s| match s {
                            Stated::Param(name, t) if name == n => Some(t.clone()),
                            _ => None,
                        });
                        match (stated, p.get("type").and_then(Value::as_str)) {
                            (Some(t), _) => format!("{n}: {t}"),
                            (None, Some(t)) => format!("{n}: {}", playbook_type(t)),
                            (None, None) => n.to_string(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let returns = stated
            .iter()
            .find_map(|s| match s {
                Stated::Returns(t) => Some(t.clone()),
                Stated::Param(..) => None,
            })
            .unwrap_or_else(|| {
                playbook_type(f.get("returnType").and_then(Value::as_str).unwrap_or("()"))
            });
        docs.push(FunctionDoc {
            name,
            params,
            returns,
            doc,
        });
    }
}

/// A type a doc comment states where the Rust type says less than the truth: a binding that
/// takes or returns `Dynamic` because a playbook may pass or get `Map or ()`.
#[derive(Debug, PartialEq)]
enum Stated {
    /// `/// @param live: Map or ()`
    Param(String, String),
    /// `/// @returns Map or ()`
    Returns(String),
}

fn stated_type(line: &str) -> Option<Stated> {
    if let Some(t) = line.strip_prefix("@returns ") {
        return Some(Stated::Returns(t.trim().to_string()));
    }
    let (name, t) = line.strip_prefix("@param ")?.split_once(':')?;
    Some(Stated::Param(name.trim().to_string(), t.trim().to_string()))
}

/// The playbook's name for a Rust type in Rhai's metadata (which drops spaces in types):
/// `&str` is a String, `Result<Array,Box<EvalAltResult>>` an Array, `&mut Cluster` a Cluster.
fn playbook_type(rust_type: &str) -> String {
    let t: String = rust_type.chars().filter(|c| !c.is_whitespace()).collect();
    let t = t.trim_start_matches("rhai::");
    let t = t.strip_prefix("&mut").unwrap_or(t);
    if let Some(inner) = t
        .strip_prefix("Result<")
        .and_then(|r| r.strip_suffix(",Box<EvalAltResult>>"))
    {
        return playbook_type(inner);
    }
    for alias in ["RhaiResult<", "RhaiResultOf<"] {
        if let Some(inner) = t.strip_prefix(alias).and_then(|r| r.strip_suffix('>')) {
            return playbook_type(inner);
        }
    }
    match t {
        "&str" | "str" | "ImmutableString" | "String" => "String".to_string(),
        "INT" => "i64".to_string(),
        "FLOAT" => "f64".to_string(),
        "" => "()".to_string(),
        // Hand-registered signatures write alternatives as `Map|()`.
        other => other.replace('|', " or "),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_types_read_as_playbook_types() {
        for (rust, playbook) in [
            ("&str", "String"),
            ("ImmutableString", "String"),
            ("Result<Array,Box<EvalAltResult>>", "Array"),
            ("Result<rhai::Map, Box<EvalAltResult>>", "Map"),
            ("RhaiResult<RootCa>", "RootCa"),
            ("&mut Cluster", "Cluster"),
            ("INT", "i64"),
            ("", "()"),
            ("Map|()", "Map or ()"),
        ] {
            assert_eq!(playbook_type(rust), playbook, "{rust}");
        }
    }

    #[test]
    fn doc_lines_state_types() {
        assert_eq!(
            stated_type("@param live: Map or ()"),
            Some(Stated::Param("live".into(), "Map or ()".into()))
        );
        assert_eq!(
            stated_type("@returns Map or ()"),
            Some(Stated::Returns("Map or ()".into()))
        );
        assert_eq!(stated_type("Returns #{status}."), None);
    }
}
