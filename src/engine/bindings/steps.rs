//! `step("name", || { ... })`: named, reported units of a play.

use std::sync::Arc;

use rhai::plugin::{export_module, exported_module};
use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, NativeCallContext};

use crate::context::PlayContext;

pub(super) fn install(engine: &mut Engine) {
    engine.register_global_module(exported_module!(steps_api).into());
}

#[export_module]
mod steps_api {
    use crate::engine::convert::{play_context, RhaiResult};

    /// Runs `body` as a named step: reports what it changed in which cluster and how long it
    /// took; returns what `body` returns.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn step(call: NativeCallContext, name: &str, body: FnPtr) -> RhaiResult<Dynamic> {
        super::run_step(&play_context(&call)?, &call, name, body)
    }

    /// Calls `body(item)` for every item concurrently (at most 8 at once) and returns the
    /// results in order; if any call fails, the first failure is thrown once all have
    /// finished. Each call works on its own copy of the variables `body` captures: what it
    /// assigns to them stays inside that call.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn parallel(
        call: NativeCallContext,
        items: Array,
        body: FnPtr,
    ) -> RhaiResult<Array> {
        crate::engine::parallel::run(&*play_context(&call)?, &call, items, body)
    }
}

fn run_step(
    ctx: &Arc<PlayContext>,
    call: &NativeCallContext,
    name: &str,
    body: FnPtr,
) -> Result<Dynamic, Box<EvalAltResult>> {
    if let Err(reason) = ctx.select_step(name) {
        ctx.reporter.step_skipped(name, reason);
        return Ok(Dynamic::UNIT);
    }
    ctx.reporter.step_started(name);
    match body.call_within_context::<Dynamic>(call, ()) {
        Ok(value) => {
            ctx.reporter.step_finished(None, false);
            Ok(value)
        }
        Err(error) => {
            let interrupted = ctx.is_cancelled();
            let (message, error) = crate::engine::step_failure::step_failed(ctx, name, error);
            ctx.reporter.step_finished(Some(&message), interrupted);
            Err(error)
        }
    }
}
