//! `exec(program, args[, options])`: external programs such as istioctl and helm.

use rhai::plugin::{export_module, exported_module, NativeCallContext};
use rhai::{Array, Dynamic, Engine, Map};

use crate::context::PlayContext;
use crate::engine::convert::{IntoRhai, RhaiResult};
use crate::engine::options::{strings, Options};
use crate::exec::{run_in_play, ExecOptions, ExecOutput};

pub(super) fn install(engine: &mut Engine) {
    engine.register_global_module(exported_module!(exec_api).into());
}

#[export_module]
mod exec_api {
    use crate::engine::convert::{play_context, RhaiResult};

    /// Runs a program and returns #{stdout, stderr, code}; a non-zero exit is an error. In a
    /// dry run the command is only printed.
    #[rhai_fn(volatile, name = "exec", return_raw)]
    pub(super) fn exec(call: NativeCallContext, program: &str, args: Array) -> RhaiResult<Map> {
        super::exec(&*play_context(&call)?, program, args, Map::new())
    }

    /// Like exec(program, args); options: env (map), cwd (relative to the project root),
    /// timeout (seconds), stdin (text), check (false: return non-zero exits).
    #[rhai_fn(volatile, name = "exec", return_raw)]
    pub(super) fn exec_with(
        call: NativeCallContext,
        program: &str,
        args: Array,
        options: Map,
    ) -> RhaiResult<Map> {
        super::exec(&*play_context(&call)?, program, args, options)
    }
}

fn exec(ctx: &PlayContext, program: &str, args: Array, options: Map) -> RhaiResult<Map> {
    let args = strings("exec", "args", args)?;
    let mut options = exec_options(ctx, options)?;
    if ctx.dry_run() {
        ctx.reporter.log(&planned_command(ctx, program, &args));
        ctx.skip_program();
        return output_map(&crate::exec::ExecOutput::default());
    }
    if let Some(cluster) = limited_out_context(ctx, &args) {
        ctx.reporter.log(&format!(
            "not in --limit ({cluster}): {}",
            planned_command(ctx, program, &args)
        ));
        ctx.skip_program();
        return output_map(&crate::exec::ExecOutput::default());
    }
    // Tools like istioctl must reach the clusters this run uses (the sandbox's, or
    // --kubeconfig's), never some other default; the playbook's own env still wins.
    if let Some(kubeconfig) = &ctx.options.kube.kubeconfig {
        ctx.write_kubeconfig_for_programs().into_rhai()?;
        options
            .env
            .insert(0, ("KUBECONFIG".into(), kubeconfig.display().to_string()));
    }
    let output = ctx
        .block_on(run_in_play(
            &ctx.reporter,
            ctx.dry_run(),
            program,
            &args,
            &options,
        ))
        .into_rhai()?;
    output_map(&output)
}

/// The cluster outside `--limit` whose context the arguments name (`--context X`,
/// `--context=X`): the program would change it, so it is not run.
fn limited_out_context(ctx: &PlayContext, args: &[String]) -> Option<String> {
    if ctx.options.limit.is_empty() {
        return None;
    }
    let named: Vec<&str> = args
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match a.strip_prefix("--context=") {
            Some(context) => Some(context),
            None if a == "--context" => args.get(i + 1).map(String::as_str),
            None => None,
        })
        .collect();
    (ctx.clusters.names().into_iter())
        .filter(|name| ctx.outside_limit(name))
        .find(|name| {
            ctx.cluster(name)
                .is_ok_and(|c| named.contains(&c.context()))
        })
}

/// What a dry run says instead of running a program; a file the plan would write first is
/// named as such, since it does not exist yet.
fn planned_command(ctx: &PlayContext, program: &str, args: &[String]) -> String {
    let planned = ctx
        .planned_files
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pending: Vec<String> = args
        .iter()
        .filter(|a| planned.contains(std::path::Path::new(a.as_str())))
        .map(|a| ctx.project.show(std::path::Path::new(a.as_str())))
        .collect();
    let line = format!("would run: {}", crate::exec::command_line(program, args));
    match pending.as_slice() {
        [] => line,
        files => format!(
            "{line} (with {}, which the run writes first)",
            files.join(", ")
        ),
    }
}

fn exec_options(ctx: &PlayContext, options: Map) -> RhaiResult<ExecOptions> {
    let options = Options::check(
        "exec",
        options,
        &["env", "cwd", "timeout", "stdin", "check"],
    )?;
    let cwd = match options.string("cwd")? {
        Some(dir) => Some(ctx.project.resolve(&dir).into_rhai()?),
        None => None,
    };
    Ok(ExecOptions {
        env: options
            .string_map("env")?
            .unwrap_or_default()
            .into_iter()
            .collect(),
        cwd,
        timeout: options.timeout()?,
        stdin: options.string("stdin")?,
        check: options.bool("check")?.unwrap_or(true),
    })
}

pub(super) fn output_map(output: &ExecOutput) -> RhaiResult<Map> {
    let mut map = Map::new();
    map.insert("stdout".into(), Dynamic::from(output.stdout.clone()));
    map.insert("stderr".into(), Dynamic::from(output.stderr.clone()));
    map.insert("code".into(), Dynamic::from(output.code));
    Ok(map)
}
