//! `declare_clusters([...])`: a playbook names every cluster it will touch, up front, so the
//! preflight checks them all before the first write.

use rhai::plugin::{export_module, exported_module, NativeCallContext};
use rhai::{Array, Dynamic, Engine, Map};

use super::k8s::ClusterHandle;
use crate::error::HostError;
use crate::preflight::Declared;

pub(super) fn install(engine: &mut Engine) {
    engine.register_global_module(exported_module!(preflight_api).into());
}

#[export_module]
mod preflight_api {
    use super::ClusterHandle;
    use crate::engine::convert::{play_context, throw, IntoRhai, RhaiResult};
    use crate::preflight;

    /// Declares every cluster the play will touch (names, or maps #{name, context}) and runs
    /// the preflight: each context exists and is allowed, each API server answers and accepts
    /// its credentials; returns their Cluster handles. Call it before the first step.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn declare_clusters(call: NativeCallContext, clusters: Array) -> RhaiResult<Array> {
        let declared = clusters
            .iter()
            .map(super::declared)
            .collect::<Result<Vec<_>, _>>()
            .map_err(throw)?;
        let handles = preflight::run(&*play_context(&call)?, &declared).into_rhai()?;
        Ok(handles
            .into_iter()
            .map(|cluster| Dynamic::from(ClusterHandle(cluster)))
            .collect())
    }
}

fn declared(item: &Dynamic) -> Result<Declared, HostError> {
    if let Some(name) = item.clone().try_cast::<rhai::ImmutableString>() {
        return Ok(Declared {
            name: name.to_string(),
            context: None,
        });
    }
    let Some(map) = item.clone().try_cast::<Map>() else {
        return Err(HostError::new(format!(
            "declare_clusters takes names or maps #{{name, context}}, not {}",
            item.type_name()
        )));
    };
    let text = |key: &str| -> Result<Option<String>, HostError> {
        match map.get(key) {
            None => Ok(None),
            Some(v) if v.is_unit() => Ok(None),
            Some(v) => v.clone().into_string().map(Some).map_err(|t| {
                HostError::new(format!("declare_clusters: {key} must be a string, not {t}"))
            }),
        }
    };
    let name = text("name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| HostError::new("declare_clusters: every cluster needs a name"))?;
    Ok(Declared {
        name,
        context: text("context")?,
    })
}
