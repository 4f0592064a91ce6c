//! `yaml::` and `json::` — parsing and printing data.

use rhai::plugin::{export_module, exported_module, NativeCallContext};
use rhai::{Array, Dynamic, Engine};

use crate::error::{HostError, HostResult};

pub(super) fn install(engine: &mut Engine) {
    engine.register_static_module("yaml", exported_module!(yaml).into());
    engine.register_static_module("json", exported_module!(json).into());
}

#[export_module]
mod yaml {
    use crate::engine::convert::{throw_at, to_dynamic, to_json, IntoRhai, RhaiResult};

    /// Parses YAML text into an array of documents (multi-document; empty documents skipped).
    #[rhai_fn(return_raw)]
    pub(super) fn parse(text: &str) -> RhaiResult<Array> {
        crate::k8s::parse_yaml_stream(text)
            .into_rhai()?
            .iter()
            .map(to_dynamic)
            .collect::<RhaiResult<Array>>()
    }

    /// Prints a value as one YAML document.
    #[rhai_fn(return_raw)]
    pub(super) fn dump(call: NativeCallContext, value: Dynamic) -> RhaiResult<String> {
        let json = to_json(&value).map_err(|e| throw_at(&call, e))?;
        super::dump_yaml(&json).into_rhai()
    }

    /// Prints each element as its own YAML document, separated by ---.
    #[rhai_fn(return_raw)]
    pub(super) fn dump_all(documents: Array) -> RhaiResult<String> {
        let mut out = String::new();
        for doc in &documents {
            out.push_str("---\n");
            out.push_str(&super::dump_yaml(&to_json(doc).into_rhai()?).into_rhai()?);
        }
        Ok(out)
    }
}

#[export_module]
mod json {
    use crate::engine::convert::{throw_at, to_dynamic, to_json, IntoRhai, RhaiResult};
    use crate::error::HostError;

    /// Parses JSON text.
    #[rhai_fn(return_raw)]
    pub(super) fn parse(text: &str) -> RhaiResult<Dynamic> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| {
                HostError::new(format!(
                    "invalid JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ))
            })
            .into_rhai()?;
        to_dynamic(&value)
    }

    /// Prints a value as pretty JSON.
    #[rhai_fn(return_raw)]
    pub(super) fn dump(call: NativeCallContext, value: Dynamic) -> RhaiResult<String> {
        let json = to_json(&value).map_err(|e| throw_at(&call, e))?;
        serde_json::to_string_pretty(&json)
            .map_err(|e| HostError::new(e.to_string()))
            .into_rhai()
    }
}

pub(super) fn dump_yaml(value: &serde_json::Value) -> HostResult<String> {
    serde_yaml::to_string(value).map_err(|e| HostError::new(format!("cannot print YAML: {e}")))
}
