//! The Rhai engine: built once per process, with the project's functions registered.

pub(crate) mod bindings;
pub(crate) mod budget;
pub(crate) mod convert;
pub(crate) mod options;
pub(crate) mod parallel;
pub(crate) mod resolver;
pub(crate) mod step_failure;

use std::sync::Arc;

use rhai::{Dynamic, Engine};

use crate::context::PlayContext;

/// Builds the engine a play runs in. Host functions capture `ctx`, which records the engine.
pub(crate) fn build(ctx: &Arc<PlayContext>) -> Arc<Engine> {
    let mut engine = Engine::new();
    engine.set_strict_variables(true);
    engine.set_max_operations(ctx.max_operations());
    engine.set_max_call_levels(64);
    engine.set_max_expr_depths(128, 64);
    engine.set_max_string_size(16 * 1024 * 1024);
    engine.set_max_array_size(200_000);
    engine.set_max_map_size(200_000);
    engine.set_max_modules(256);

    let base = ctx
        .project
        .playbook
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    engine.set_module_resolver(
        resolver::PlaybookResolver::new(&base, ctx.files_read.clone())
            .confined_to(&ctx.project.root),
    );

    let printer = ctx.clone();
    engine.on_print(move |text| printer.reporter.log(text));
    let debugger = ctx.clone();
    engine.on_debug(move |text, _source, _pos| debugger.reporter.log(text));
    // Ctrl-C must also stop a playbook that is busy in pure script code, and so must a script
    // that overruns its processor time or memory (the error is the termination's value).
    let watcher = ctx.clone();
    engine.on_progress(move |_| {
        if watcher.is_cancelled() {
            return Some(Dynamic::from(crate::error::HostError::interrupted()));
        }
        budget::overrun(watcher.run()).map(Dynamic::from)
    });

    // Plugin functions find the play here (see `convert::play_context`); the context holds the
    // engine only weakly, so this makes no cycle.
    engine.set_default_tag(Dynamic::from(ctx.clone()));
    bindings::register_all(&mut engine);
    let engine = Arc::new(engine);
    ctx.set_engine(&engine);
    engine
}
