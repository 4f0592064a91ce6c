//! The functions a playbook can call, by name, and Rhai's "Function not found" in playbook
//! terms: for `runner check` and for the errors of a running play alike.

use std::collections::BTreeSet;

use rhai::Engine;

use crate::vars::schema::closest;

/// Functions Rhai itself provides that no package lists.
const BUILT_IN: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_fn",
    "is_def_var",
    "this",
];

/// Every function a playbook can call by name: registered, standard, built in.
fn callable_names(engine: &Engine) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = engine
        .gen_fn_signatures(true)
        .iter()
        .filter_map(|s| s.split('(').next())
        .map(|n| n.trim().to_string())
        .collect();
    names.extend(BUILT_IN.iter().map(std::string::ToString::to_string));
    names
}

/// The engine's function names: (documented in `runner api`, all callable). One engine per
/// process registers the same functions, so they are collected once.
static NAMES: std::sync::OnceLock<(BTreeSet<String>, BTreeSet<String>)> =
    std::sync::OnceLock::new();

pub(crate) fn names(engine: &Engine) -> &'static (BTreeSet<String>, BTreeSet<String>) {
    NAMES.get_or_init(|| {
        let documented = crate::api_reference::collect(engine)
            .into_iter()
            .map(|d| d.name)
            .filter(|n| !n.starts_with('.'))
            .collect();
        (documented, callable_names(engine))
    })
}

/// Remembers the engine's function names for the messages of errors raised while it runs.
pub(crate) fn remember_names(engine: &Engine) {
    names(engine);
}

/// Rhai's "Function not found: apply_template (Cluster, &str | ImmutableString | String, map)"
/// in playbook terms, with the closest names and where to read about them.
pub(crate) fn function_not_found(signature: &str) -> String {
    let (name, args) = match signature.split_once(" (") {
        Some((name, args)) => (name.trim(), args.trim_end_matches(')')),
        None => (signature.trim(), ""),
    };
    let args: Vec<String> = args
        .split(", ")
        .filter(|a| !a.is_empty())
        .map(playbook_type)
        .collect();
    let call = format!("{name}({})", args.join(", "));
    let Some((documented, callable)) = NAMES.get() else {
        return format!("no function {call}");
    };
    if documented.contains(name) {
        return format!(
            "no function {call}: {name} takes other arguments (see: runner api {name})"
        );
    }
    if callable.contains(name) {
        return format!("no function {call}: {name} takes other arguments");
    }
    let suggestion = closest(name, documented.iter().map(String::as_str))
        .map(|c| format!("; did you mean {c}? (see: runner api {c})"))
        .or_else(|| {
            closest(name, callable.iter().map(String::as_str))
                .map(|c| format!("; did you mean {c}?"))
        })
        .unwrap_or_else(|| " (see: runner api, which lists every function)".into());
    format!("no function {call}{suggestion}")
}

/// A Rhai type name as a playbook author knows it.
fn playbook_type(rhai_type: &str) -> String {
    let t = rhai_type.trim();
    let known = if t.contains("str") || t.contains("String") || t == "char" {
        "string"
    } else if t.eq_ignore_ascii_case("map") {
        "map"
    } else if t.eq_ignore_ascii_case("array") {
        "array"
    } else if t == "i64" || t == "int" {
        "integer"
    } else if t == "f64" || t == "float" {
        "float"
    } else if t == "Fn" || t.contains("FnPtr") {
        "function"
    } else {
        return t.to_lowercase();
    };
    known.to_string()
}
