//! Conversions between Rhai values, JSON values and host errors.

use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, NativeCallContext, Position};
use serde_json::Value;

use crate::context::PlayContext;
use crate::error::HostError;

pub(crate) type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

pub(crate) fn to_dynamic(value: &Value) -> RhaiResult<Dynamic> {
    rhai::serde::to_dynamic(value)
}

pub(crate) fn to_json(value: &Dynamic) -> Result<Value, HostError> {
    if !crate::bounds::dynamic_within(value, crate::bounds::MAX_NESTING) {
        return Err(HostError::new(format!(
            "cannot convert a {} to data: it is nested deeper than {} levels",
            value.type_name(),
            crate::bounds::MAX_NESTING
        )));
    }
    rhai::serde::from_dynamic::<Value>(value).map_err(|e| {
        HostError::new(format!(
            "cannot convert a {} to data: {e}",
            value.type_name()
        ))
    })
}

/// Throws a host error into the script; a playbook's `catch (e)` receives it.
pub(crate) fn throw(error: HostError) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(error), Position::NONE).into()
}

/// Converts a host result into a Rhai result.
pub(crate) trait IntoRhai<T> {
    fn into_rhai(self) -> RhaiResult<T>;
}

impl<T> IntoRhai<T> for Result<T, HostError> {
    fn into_rhai(self) -> RhaiResult<T> {
        self.map_err(throw)
    }
}

/// The play a plugin function is called in: `engine::build` leaves it in the engine's tag,
/// because plugin functions, unlike closures, capture nothing.
pub(crate) fn play_context(call: &NativeCallContext) -> RhaiResult<Arc<PlayContext>> {
    call.engine()
        .default_tag()
        .clone()
        .try_cast::<Arc<PlayContext>>()
        .ok_or_else(|| {
            throw(HostError::new(
                "internal error: the engine was built without a play",
            ))
        })
}

/// A host error placed at the call: Rhai leaves qualified (`json::dump`) calls unplaced.
pub(crate) fn throw_at(call: &NativeCallContext, error: HostError) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(Dynamic::from(error), call.call_position()).into()
}
