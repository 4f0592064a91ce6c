//! `yaml::` and `json::` — parsing and printing data.

use rhai::{Array, Dynamic, Engine, Module, NativeCallContext};
use serde_json::Value;

use crate::engine::api::register_in;
use crate::engine::convert::{to_dynamic, to_json, IntoRhai, RhaiResult};
use crate::error::{HostError, HostResult};

pub(super) fn install(engine: &mut Engine) {
    let mut yaml = Module::new();
    register_in(
        &mut yaml,
        "parse(text: String) -> Array",
        "Parses YAML text into an array of documents (multi-document; empty documents skipped).",
        |text: &str| -> RhaiResult<Array> {
            crate::k8s::parse_yaml_stream(text)
                .into_rhai()?
                .iter()
                .map(to_dynamic)
                .collect::<RhaiResult<Array>>()
        },
    );
    register_in(
        &mut yaml,
        "dump(value: Dynamic) -> String",
        "Prints a value as one YAML document.",
        |call: NativeCallContext, value: Dynamic| -> RhaiResult<String> {
            dump_yaml(&to_json(&value).map_err(|e| at_call(&call, e))?).into_rhai()
        },
    );
    register_in(
        &mut yaml,
        "dump_all(documents: Array) -> String",
        "Prints each element as its own YAML document, separated by ---.",
        |documents: Array| -> RhaiResult<String> {
            let mut out = String::new();
            for doc in &documents {
                out.push_str("---\n");
                out.push_str(&dump_yaml(&to_json(doc).into_rhai()?).into_rhai()?);
            }
            Ok(out)
        },
    );
    engine.register_static_module("yaml", yaml.into());

    let mut json = Module::new();
    register_in(
        &mut json,
        "parse(text: String) -> Dynamic",
        "Parses JSON text.",
        |text: &str| -> RhaiResult<Dynamic> {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| {
                    HostError::new(format!(
                        "invalid JSON at line {} column {}: {e}",
                        e.line(),
                        e.column()
                    ))
                })
                .into_rhai()?;
            to_dynamic(&value)
        },
    );
    register_in(
        &mut json,
        "dump(value: Dynamic) -> String",
        "Prints a value as pretty JSON.",
        |call: NativeCallContext, value: Dynamic| -> RhaiResult<String> {
            serde_json::to_string_pretty(&to_json(&value).map_err(|e| at_call(&call, e))?)
                .map_err(|e| HostError::new(e.to_string()))
                .into_rhai()
        },
    );
    engine.register_static_module("json", json.into());
}

/// A host error placed at the call: Rhai leaves qualified (`json::dump`) calls unplaced.
fn at_call(call: &NativeCallContext, error: HostError) -> Box<rhai::EvalAltResult> {
    rhai::EvalAltResult::ErrorRuntime(Dynamic::from(error), call.call_position()).into()
}

pub(super) fn dump_yaml(value: &Value) -> HostResult<String> {
    serde_yaml::to_string(value).map_err(|e| HostError::new(format!("cannot print YAML: {e}")))
}
