//! What can be known about a playbook without running it: every module compiles and no import
//! cycle; every function called exists; every template it names parses (and renders, where its
//! variables are known); every `vars.a.b` it reads exists; the variables fit the schema.
//!
//! `runner check` reports all of it; `runner play` checks modules, functions, that templates
//! parse and variable keys before its first step, so a typo never costs a half-applied cluster.

mod functions;
mod modules;
mod steps;
mod templates;
mod var_keys;

use crate::error::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{Engine, Position, Scope, AST};
use serde_json::Value;

use crate::context::{PlayContext, PlayOptions};
use crate::diagnostic::{Failure, ScriptLocation};
use crate::project::Project;
use crate::report::{OutputMode, Reporter};
use crate::vars::schema::Schema;

pub(crate) use functions::unknown_functions;
use modules::load_from;
pub(crate) use modules::{load, Source};
pub(crate) use steps::{listed_steps, selection_error};
pub(crate) use templates::templates;
pub(crate) use var_keys::unknown_var_keys;

/// `runner check PLAYBOOK... [--vars FILE]... [--var KEY=VALUE]...`: prints every problem.
pub(crate) fn command(
    playbooks: &[PathBuf],
    vars_files: &[PathBuf],
    assignments: &[String],
    color: bool,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let usage = |error: crate::error::HostError| {
        eprint!("{}", Failure::from_host(error).render(color));
        ExitCode::from(crate::exit::EXIT_USAGE)
    };
    for file in vars_files {
        if !file.is_file() {
            return usage(crate::error::HostError::new(format!(
                "variables file {} not found",
                file.display()
            )));
        }
    }
    let mut failures = Vec::new();
    for playbook in playbooks {
        if !playbook.exists() {
            return usage(crate::error::HostError::new(format!(
                "playbook {} not found",
                playbook.display()
            )));
        }
        match check_playbook(playbook, vars_files, assignments) {
            Ok(found) => failures.extend(found),
            Err(e) => return usage(e),
        }
    }
    if failures.is_empty() {
        let names: Vec<String> = playbooks.iter().map(|p| p.display().to_string()).collect();
        crate::stdout::line(format_args!("ok: {}", names.join(", ")));
        return ExitCode::SUCCESS;
    }
    for failure in &failures {
        eprint!("{}", failure.render(color));
    }
    eprintln!("{} error(s)", failures.len());
    ExitCode::from(crate::exit::EXIT_FAILED)
}

/// Every check of one playbook; returns the failures.
fn check_playbook(
    playbook: &Path,
    vars_files: &[PathBuf],
    assignments: &[String],
) -> Result<Vec<Failure>, crate::error::HostError> {
    let project = Project::discover(playbook, None)?;
    let mut failures = Vec::new();
    let layered = match crate::vars::layer(
        crate::vars::defaults_file(playbook).as_deref(),
        vars_files,
        assignments,
    ) {
        Ok(layered) => Some(layered),
        Err(e) => {
            failures.push(Failure::from_host(e));
            None
        }
    };
    let schema = match Schema::beside(playbook) {
        Ok(schema) => schema,
        Err(e) => {
            failures.push(Failure::from_host(e));
            None
        }
    };
    if let (Some(schema), Some(layered)) = (&schema, &layered) {
        if let Err(e) = schema.check(layered) {
            failures.push(Failure::from_host(e));
        }
    }
    let vars = layered
        .as_ref()
        .map(|l| l.value.clone())
        .unwrap_or_else(|| Value::Object(Default::default()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| crate::error::HostError::new(format!("cannot start the runtime: {e}")))?;
    let ctx = PlayContext::new(
        rt.handle().clone(),
        Reporter::new(OutputMode::Human),
        project,
        PlayOptions::default(),
        vars.clone(),
    );
    let engine = crate::engine::build(&ctx);
    let program = load(&engine, playbook, &initial_scope(&vars));
    failures.extend(program.failures.iter().cloned());
    failures.extend(unknown_functions(&engine, &program.sources));
    if layered.is_some() {
        failures.extend(unknown_var_keys(&program.sources, &vars, schema.as_ref()));
        failures.extend(templates(&ctx, &program.sources, &vars, true));
    }
    Ok(failures)
}

/// What `runner play` checks after compiling the playbook and before running it.
pub(crate) fn before_run(
    engine: &Engine,
    ctx: &Arc<PlayContext>,
    main: &AST,
) -> Result<(), Box<Failure>> {
    crate::function_names::remember_names(engine);
    let playbook = &ctx.project.playbook;
    let mut program = load_from(engine, playbook, main.clone());
    if !program.failures.is_empty() {
        return Err(Box::new(program.failures.remove(0)));
    }
    if let Some(first) = unknown_functions(engine, &program.sources)
        .into_iter()
        .next()
    {
        return Err(Box::new(first));
    }
    let listed = listed_steps(playbook, &program.sources);
    if let Some(known) = steps::known_names(&listed) {
        if let Some(failure) = selection_error(&ctx.options, &known) {
            return Err(Box::new(failure));
        }
    }
    if let Some(first) = templates(ctx, &program.sources, &Value::Null, false)
        .into_iter()
        .next()
    {
        return Err(Box::new(first));
    }
    let schema = Schema::beside(playbook).map_err(|e| Box::new(Failure::from_host(e)))?;
    let vars = ctx.vars();
    if let Some(first) = unknown_var_keys(&program.sources, &vars, schema.as_ref())
        .into_iter()
        .next()
    {
        return Err(Box::new(first));
    }
    Ok(())
}

/// The scope a playbook is compiled and run with: `vars`.
pub(crate) fn initial_scope(vars: &Value) -> Scope<'static> {
    let mut scope = Scope::new();
    let value = crate::engine::convert::to_dynamic(vars)
        .unwrap_or_else(|_| rhai::Dynamic::from_map(rhai::Map::new()));
    scope.push("vars", value);
    scope
}

fn show(path: &Path) -> String {
    crate::vars::shown(path)
}

fn location(file: &Path, pos: Position) -> Option<ScriptLocation> {
    Some(ScriptLocation {
        file: file.to_path_buf(),
        line: pos.line()?,
        column: pos.position().unwrap_or(1),
    })
}

/// `runner play PLAYBOOK --list-steps`: the steps in play order, without touching a cluster.
pub(crate) fn list_steps(playbook: &Path, mode: OutputMode, color: bool) -> std::process::ExitCode {
    use std::process::ExitCode;
    let failed = |failure: Failure, code: u8| {
        eprint!("{}", failure.render(color));
        ExitCode::from(code)
    };
    let project = match Project::discover(playbook, None) {
        Ok(project) => project,
        Err(e) => return failed(Failure::from_host(e), crate::exit::EXIT_USAGE),
    };
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            let failure = Failure::plain(
                ErrorKind::Internal,
                format!("cannot start the runtime: {e}"),
            );
            return failed(failure, crate::exit::EXIT_FAILED);
        }
    };
    let vars = Value::Object(Default::default());
    let ctx = PlayContext::new(
        rt.handle().clone(),
        Reporter::new(OutputMode::Human),
        project,
        PlayOptions::default(),
        vars.clone(),
    );
    let engine = crate::engine::build(&ctx);
    let mut program = load(&engine, playbook, &initial_scope(&vars));
    if !program.failures.is_empty() {
        return failed(program.failures.remove(0), crate::exit::EXIT_FAILED);
    }
    steps::print(playbook, &listed_steps(playbook, &program.sources), mode);
    ExitCode::SUCCESS
}
