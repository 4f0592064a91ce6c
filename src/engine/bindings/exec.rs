//! `exec(program, args[, options])`: external programs such as istioctl and helm.

use rhai::plugin::{export_module, exported_module, NativeCallContext};
use rhai::{Array, Dynamic, Engine, Map};

use crate::context::PlayContext;
use crate::engine::convert::{IntoRhai, RhaiResult};
use crate::engine::options::{strings, Options};
use crate::exec::{launch, run, ExecOptions, ExecOutput, Launch};

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
    let options = exec_options(ctx, options)?;
    match launch(program, &args, options, &ctx.exec_view()) {
        Launch::Skip(line) => {
            ctx.reporter.log(&line);
            ctx.skip_program();
            output_map(&ExecOutput::default())
        }
        Launch::Run(options) => {
            ctx.write_kubeconfig_for_programs().into_rhai()?;
            let output = ctx.block_on(run(program, &args, &options)).into_rhai()?;
            output_map(&output)
        }
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
        check: options
            .bool("check")?
            .unwrap_or(ExecOptions::default().check),
    })
}

pub(super) fn output_map(output: &ExecOutput) -> RhaiResult<Map> {
    let mut map = Map::new();
    map.insert("stdout".into(), Dynamic::from(output.stdout.clone()));
    map.insert("stderr".into(), Dynamic::from(output.stderr.clone()));
    map.insert("code".into(), Dynamic::from(output.code));
    Ok(map)
}
