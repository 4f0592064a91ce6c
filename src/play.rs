//! Running a playbook from start to end, and checking one without running it.

use std::path::Path;
use std::sync::Arc;

use rhai::{Engine, Scope, AST};

use crate::context::PlayContext;
use crate::diagnostic::Failure;
use crate::engine::convert::to_dynamic;
use crate::error::ErrorKind;
use crate::report::Recap;

pub enum Outcome {
    Success(Recap),
    Failed(Box<Failure>),
    Interrupted(Box<Failure>),
}

/// The scope a playbook starts with: `vars`.
fn initial_scope(vars: &serde_json::Value) -> Scope<'static> {
    let mut scope = Scope::new();
    let value = to_dynamic(vars).unwrap_or_else(|_| rhai::Dynamic::from_map(rhai::Map::new()));
    scope.push("vars", value);
    scope
}

/// Compiles a script file, naming it as its source so errors point at it.
fn compile(engine: &Engine, scope: &Scope, file: &Path) -> Result<AST, Box<Failure>> {
    let text = crate::bounds::read_script(file)
        .map_err(|why| Box::new(Failure::plain(ErrorKind::Io, why)))?;
    let mut ast = engine
        .compile_with_scope(scope, &text)
        .map_err(|e| Box::new(Failure::from_parse(&e, file)))?;
    ast.set_source(file.display().to_string());
    Ok(ast)
}

pub(crate) fn run(ctx: &Arc<PlayContext>, engine: &Engine) -> Outcome {
    let playbook = ctx.project.playbook.clone();
    ctx.reporter
        .play_started(&playbook.display().to_string(), ctx.dry_run());
    ctx.record_read(playbook.canonicalize().unwrap_or_else(|_| playbook.clone()));
    let mut scope = initial_scope(&ctx.vars());
    let result = compile(engine, &scope, &playbook).and_then(|ast| {
        crate::check::before_run(engine, ctx, &ast)?;
        engine
            .run_ast_with_scope(&mut scope, &ast)
            .map_err(|e| Box::new(Failure::from_eval(&e, &playbook, ctx.max_operations())))
    });
    let result = result.and_then(|()| check_selection(ctx));
    // Plays that declare their clusters had this checked in their preflight.
    let result = result.and_then(|()| {
        let used = ctx.clusters.names();
        let used: Vec<&str> = used.iter().map(String::as_str).collect();
        match crate::preflight::unused_context_flag(ctx, &used)
            .or_else(|| crate::preflight::unknown_limit(ctx, &used))
        {
            Some(error) => Err(Box::new(Failure::from_host(error))),
            None => Ok(()),
        }
    });
    let result = finish_run(ctx, result);
    match result {
        Ok(()) => Outcome::Success(ctx.reporter.play_finished(true, false)),
        Err(mut failure) => {
            blame_script_error(ctx, &mut failure);
            let interrupted = failure.is_interrupted() || ctx.is_cancelled();
            ctx.reporter.error(&failure);
            ctx.reporter.play_finished(false, interrupted);
            if interrupted {
                Outcome::Interrupted(failure)
            } else {
                Outcome::Failed(failure)
            }
        }
    }
}

/// A script error (not a host error, which carries its step) that ended a step at the same
/// place in the script is that step's failure.
fn blame_script_error(ctx: &PlayContext, failure: &mut Failure) {
    if failure.step().is_some() {
        return;
    }
    let failed = ctx
        .failed_step
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((step, at)) = failed.as_ref() {
        if *at == failure.location {
            failure.in_step(step);
        }
    }
}

/// Lists or prunes orphans and records what the run applied in each cluster's inventory, after
/// a failed run too (what it applied before failing must be pruneable later).
fn finish_run(ctx: &PlayContext, result: Result<(), Box<Failure>>) -> Result<(), Box<Failure>> {
    let finished = crate::prune::finish_run(ctx, result.is_ok());
    match (result, finished) {
        (Ok(()), Ok(summary)) => {
            if let Ok(mut last) = ctx.last_run.lock() {
                *last = summary;
            }
            Ok(())
        }
        (Ok(()), Err(error)) => Err(Box::new(Failure::from_host(error))),
        (Err(failure), Ok(summary)) => {
            if let Ok(mut last) = ctx.last_run.lock() {
                *last = summary;
            }
            Err(failure)
        }
        (Err(failure), Err(error)) => {
            ctx.reporter.warn(&error.full_message());
            Err(failure)
        }
    }
}

/// Runs the play on a blocking thread (host functions block on the runtime from there).
pub(crate) async fn run_on_blocking_thread(ctx: Arc<PlayContext>, engine: Arc<Engine>) -> Outcome {
    let task = tokio::task::spawn_blocking(move || run(&ctx, &engine));
    task.await.unwrap_or_else(|e| {
        Outcome::Failed(Box::new(Failure::plain(
            ErrorKind::Internal,
            format!("internal error: the play stopped unexpectedly: {e}"),
        )))
    })
}

/// `--only` and `--start-at` must name steps that exist (steps named at run time are only
/// known now).
fn check_selection(ctx: &PlayContext) -> Result<(), Box<Failure>> {
    let steps = ctx
        .steps
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let known: Vec<&str> = steps.seen.iter().map(String::as_str).collect();
    match crate::check::selection_error(&ctx.options, &known) {
        Some(failure) => Err(Box::new(failure)),
        None => Ok(()),
    }
}
