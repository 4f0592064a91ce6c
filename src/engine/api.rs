//! Registers host functions with the signature and one-line doc that `runner api` prints.
//!
//! The doc lives next to the registration, in Rhai's own metadata, so the reference
//! cannot drift from the functions a playbook can call.

use rhai::{Engine, FuncRegistration, Module, RhaiNativeFunc, Variant};

/// Splits `"name(a: T, b: U) -> R"` into the name and Rhai's `params_info` list.
fn parse_signature(signature: &str) -> (String, Vec<String>) {
    let (head, ret) = match signature.split_once("->") {
        Some((head, ret)) => (head.trim(), ret.trim()),
        None => (signature.trim(), "()"),
    };
    let (name, params) = match head.split_once('(') {
        Some((name, rest)) => (name.trim(), rest.strip_suffix(')').unwrap_or(rest)),
        None => (head, ""),
    };
    let mut info: Vec<String> = params
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    info.push(ret.to_string());
    (name.to_string(), info)
}

fn registration(signature: &str, doc: &str) -> FuncRegistration {
    let (name, info) = parse_signature(signature);
    let comments: Vec<String> = doc.lines().map(|l| format!("/// {}", l.trim())).collect();
    FuncRegistration::new(name)
        .with_params_info(info)
        .with_comments([comments.join("\n")])
        .with_volatility(true)
}

/// Registers a global function (or a method on a custom type when its first parameter is `&mut T`).
pub(crate) fn register<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
    engine: &mut Engine,
    signature: &str,
    doc: &str,
    func: FUNC,
) where
    R: Variant + Clone,
    FUNC: RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
{
    registration(signature, doc).register_into_engine(engine, func);
}

/// Registers a read-only property, `"Type.name -> R"`, for example `"Error.message -> String"`.
pub(crate) fn register_property<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
    engine: &mut Engine,
    signature: &str,
    doc: &str,
    func: FUNC,
) where
    R: Variant + Clone,
    FUNC: RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
{
    let (target, ret) = signature.split_once("->").unwrap_or((signature, "?"));
    let (type_name, property) = target
        .trim()
        .split_once('.')
        .unwrap_or(("?", target.trim()));
    FuncRegistration::new_getter(property)
        .with_params_info([format!("value: {type_name}"), ret.trim().to_string()])
        .with_comments([format!("/// {doc}")])
        .register_into_engine(engine, func);
}

/// Registers a function in a module such as `certs` or `yaml`.
pub(crate) fn register_in<A: 'static, const N: usize, const X: bool, R, const F: bool, FUNC>(
    module: &mut Module,
    signature: &str,
    doc: &str,
    func: FUNC,
) where
    R: Variant + Clone,
    FUNC: RhaiNativeFunc<A, N, X, R, F> + Send + Sync + 'static,
{
    registration(signature, doc).set_into_module(module, func);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_parts() {
        let (name, info) = parse_signature("apply(c: Cluster, objects: ?) -> Array");
        assert_eq!(name, "apply");
        assert_eq!(info, vec!["c: Cluster", "objects: ?", "Array"]);
        let (name, info) = parse_signature("read_secret(c: Cluster, live: Map|()) -> Map|()");
        assert_eq!(name, "read_secret");
        assert_eq!(info, vec!["c: Cluster", "live: Map|()", "Map|()"]);
        let (name, info) = parse_signature("now()");
        assert_eq!((name.as_str(), info), ("now", vec!["()".to_string()]));
    }
}
