//! Variables, templates, files and messages.

use rhai::plugin::{export_module, exported_module, NativeCallContext};
use rhai::{Array, Dynamic, Engine, Map};
use serde_json::Value;

use crate::context::PlayContext;
use crate::error::{HostError, HostResult};
use crate::local_files;

pub(super) fn install(engine: &mut Engine) {
    engine.register_type_with_name::<HostError>("Error");
    engine.register_global_module(exported_module!(error_api).into());
    engine.register_global_module(exported_module!(core_api).into());
    engine.register_static_module("play", exported_module!(play_api).into());
}

#[export_module]
mod error_api {
    // Playbooks know the type as Error; runner api prints the name written here.
    use crate::error::HostError as Error;

    /// The error's message and causes.
    #[rhai_fn(name = "to_string", pure)]
    pub(super) fn to_string(error: &mut Error) -> String {
        error.full_message()
    }

    /// The error's message and causes.
    #[rhai_fn(name = "to_debug", pure)]
    pub(super) fn to_debug(error: &mut Error) -> String {
        error.full_message()
    }

    /// The error's own message, without causes.
    #[rhai_fn(get = "message", pure)]
    pub(super) fn message(value: &mut Error) -> String {
        value.message.clone()
    }

    /// The messages of the error's causes, outermost first.
    #[rhai_fn(get = "causes", pure)]
    pub(super) fn causes(value: &mut Error) -> Array {
        value.causes().into_iter().map(Dynamic::from).collect()
    }

    /// What kind of failure it is, to decide on instead of its message: "api_status" (an
    /// API server refused a request), "cluster" (reaching a cluster failed), "template",
    /// "variables", "certificates", "io", "playbook" or "internal".
    #[rhai_fn(get = "kind", pure)]
    pub(super) fn kind(value: &mut Error) -> String {
        value.kind.playbook_name()
    }

    /// The HTTP status an API server answered with (404, 409, …); () for another kind.
    /// @returns i64 or ()
    #[rhai_fn(get = "status", pure)]
    pub(super) fn status(value: &mut Error) -> Dynamic {
        match value.kind.root() {
            crate::error::ErrorKind::ApiStatus(status) => Dynamic::from(i64::from(status.code)),
            _ => Dynamic::UNIT,
        }
    }

    /// The reason an API server gave ("NotFound", "Conflict", "Invalid", …); () for another
    /// kind or when the server gave none.
    /// @returns String or ()
    #[rhai_fn(get = "reason", pure)]
    pub(super) fn reason(value: &mut Error) -> Dynamic {
        match value.kind.root() {
            crate::error::ErrorKind::ApiStatus(status) if !status.reason.is_empty() => {
                Dynamic::from(status.reason.clone())
            }
            _ => Dynamic::UNIT,
        }
    }
}

#[export_module]
mod core_api {
    use crate::engine::convert::{play_context, throw, to_dynamic, to_json, IntoRhai, RhaiResult};
    use crate::error::HostError;
    use serde_json::Value;

    /// Returns the play's variables laid over `defaults` (values given by vars files and
    /// --var win); templates see the result too.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn with_defaults(call: NativeCallContext, defaults: Map) -> RhaiResult<Map> {
        let ctx = play_context(&call)?;
        let defaults = to_json(&Dynamic::from_map(defaults)).into_rhai()?;
        let merged = crate::vars::with_defaults(defaults, ctx.vars());
        ctx.set_vars(merged.clone());
        to_dynamic(&merged)?
            .try_cast::<Map>()
            .ok_or_else(|| throw(HostError::new("variables are not a map")))
    }

    /// Renders templates/<name> with the play's variables, overridden by `context`.
    #[rhai_fn(volatile, name = "template", return_raw)]
    pub(super) fn template_with(
        call: NativeCallContext,
        name: &str,
        context: Map,
    ) -> RhaiResult<String> {
        let extra = to_json(&Dynamic::from_map(context)).into_rhai()?;
        super::render(&*play_context(&call)?, name, extra).into_rhai()
    }

    /// Renders templates/<name> with the play's variables.
    #[rhai_fn(volatile, name = "template", return_raw)]
    pub(super) fn template(call: NativeCallContext, name: &str) -> RhaiResult<String> {
        super::render(&*play_context(&call)?, name, Value::Null).into_rhai()
    }

    /// Reads a text file; the path is relative to the project root and may not leave it.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn read_file(call: NativeCallContext, path: &str) -> RhaiResult<String> {
        super::read_file(&*play_context(&call)?, path).into_rhai()
    }

    /// Writes a text file relative to the project root (not in a dry run); unchanged content
    /// is not rewritten.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn write_file(call: NativeCallContext, path: &str, text: &str) -> RhaiResult<()> {
        super::write_file(&*play_context(&call)?, path, text).into_rhai()
    }

    /// Whether a file exists, relative to the project root.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn file_exists(call: NativeCallContext, path: &str) -> RhaiResult<bool> {
        Ok(play_context(&call)?
            .project
            .resolve(path)
            .into_rhai()?
            .exists())
    }

    /// Reads every manifest in a directory (relative to the project root), in file-name order,
    /// as one multi-document YAML text: .yaml/.yml files as they are, .j2 files rendered with
    /// the play's variables and `context`.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn read_manifests(
        call: NativeCallContext,
        dir: &str,
        context: Map,
    ) -> RhaiResult<String> {
        let extra = to_json(&Dynamic::from_map(context)).into_rhai()?;
        super::read_manifests(&*play_context(&call)?, dir, extra).into_rhai()
    }

    /// The absolute path of a file inside the project root (for external programs such as
    /// istioctl).
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn project_path(call: NativeCallContext, path: &str) -> RhaiResult<String> {
        let file = play_context(&call)?.project.resolve(path).into_rhai()?;
        Ok(file.display().to_string())
    }

    /// The SHA-256 digest of a text, in hex.
    pub(super) fn sha256(text: &str) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    }

    /// Encodes a text in standard base64.
    pub(super) fn base64_encode(text: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    }

    /// Decodes standard base64 into a text (an error if the bytes are not UTF-8).
    #[rhai_fn(return_raw)]
    pub(super) fn base64_decode(text: &str) -> RhaiResult<String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| HostError::new(format!("invalid base64: {e}")))
            .into_rhai()?;
        String::from_utf8(bytes)
            .map_err(|_| HostError::new("the decoded bytes are not UTF-8 text"))
            .into_rhai()
    }

    /// Reports a warning; the play goes on.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn warn(call: NativeCallContext, message: &str) -> RhaiResult<()> {
        play_context(&call)?.reporter.warn(message);
        Ok(())
    }

    /// Reports a warning that only concerns real clusters (a loopback API server address, an
    /// empty caBundle); in a rehearsal (--sandbox) it is printed as expected there. The play
    /// goes on.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn warn_real_clusters(call: NativeCallContext, message: &str) -> RhaiResult<()> {
        let ctx = play_context(&call)?;
        ctx.reporter.warn_real_clusters(message, ctx.is_sandbox());
        Ok(())
    }
}

#[export_module]
mod play_api {
    use crate::engine::convert::{play_context, RhaiResult};

    /// Whether this run is a dry run (--dry-run): nothing is written anywhere.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn dry_run(call: NativeCallContext) -> RhaiResult<bool> {
        Ok(play_context(&call)?.dry_run())
    }
}

fn render(ctx: &PlayContext, name: &str, extra: Value) -> HostResult<String> {
    ctx.templates.render(name, &template_context(ctx, extra))
}

fn template_context(ctx: &PlayContext, extra: Value) -> Value {
    crate::templates::context_of(&ctx.vars(), extra)
}

fn read_manifests(ctx: &PlayContext, dir: &str, extra: Value) -> HostResult<String> {
    let directory = ctx.project.resolve(dir)?;
    let context = template_context(ctx, extra);
    local_files::read_manifests(&ctx.project, &ctx.templates, &directory, &context, |file| {
        ctx.record_read(file);
    })
}

fn read_file(ctx: &PlayContext, path: &str) -> HostResult<String> {
    let file = ctx.project.resolve(path)?;
    let text = std::fs::read_to_string(&file).map_err(|e| {
        HostError::from_error(&e).context(format!("cannot read {}", ctx.project.show(&file)))
    })?;
    ctx.record_read(file);
    Ok(text)
}

fn write_file(ctx: &PlayContext, path: &str, text: &str) -> HostResult<()> {
    let file = ctx.project.resolve(path)?;
    let shown = ctx.project.show(&file);
    let action = local_files::write_text(&file, text, &shown, ctx.dry_run())?;
    ctx.reporter
        .file_change(&format!("file {shown}"), action, ctx.dry_run());
    ctx.record_file_change(file, action);
    Ok(())
}
