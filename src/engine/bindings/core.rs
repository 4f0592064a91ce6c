//! Variables, templates, files and messages.

use std::sync::Arc;

use rhai::{Dynamic, Engine, Map, Module};
use serde_json::Value;

use crate::context::PlayContext;
use crate::engine::api::{register, register_in, register_property};
use crate::engine::convert::{throw, to_dynamic, to_json, IntoRhai, RhaiResult};
use crate::error::{HostError, HostResult};
use crate::local_files;
use crate::vars::with_defaults;

pub(super) fn install(engine: &mut Engine, ctx: &Arc<PlayContext>) {
    register_error_type(engine);

    let c = ctx.clone();
    register(
        engine,
        "with_defaults(defaults: Map) -> Map",
        "Returns the play's variables laid over `defaults` (values given by vars files and --var win); templates see the result too.",
        move |defaults: Map| -> RhaiResult<Map> {
            let defaults = to_json(&Dynamic::from_map(defaults)).into_rhai()?;
            let merged = with_defaults(defaults, c.vars());
            c.set_vars(merged.clone());
            to_dynamic(&merged)?.try_cast::<Map>().ok_or_else(|| throw(HostError::new("variables are not a map")))
        },
    );

    let c = ctx.clone();
    register(
        engine,
        "template(name: String, context: Map) -> String",
        "Renders templates/<name> with the play's variables, overridden by `context`.",
        move |name: &str, context: Map| -> RhaiResult<String> {
            let extra = to_json(&Dynamic::from_map(context)).into_rhai()?;
            render(&c, name, extra).into_rhai()
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "template(name: String) -> String",
        "Renders templates/<name> with the play's variables.",
        move |name: &str| -> RhaiResult<String> { render(&c, name, Value::Null).into_rhai() },
    );

    let c = ctx.clone();
    register(
        engine,
        "read_file(path: String) -> String",
        "Reads a text file; the path is relative to the project root and may not leave it.",
        move |path: &str| -> RhaiResult<String> { read_file(&c, path).into_rhai() },
    );
    let c = ctx.clone();
    register(
        engine,
        "write_file(path: String, text: String)",
        "Writes a text file relative to the project root (not in a dry run); unchanged content is not rewritten.",
        move |path: &str, text: &str| -> RhaiResult<()> { write_file(&c, path, text).into_rhai() },
    );
    let c = ctx.clone();
    register(
        engine,
        "file_exists(path: String) -> bool",
        "Whether a file exists, relative to the project root.",
        move |path: &str| -> RhaiResult<bool> { Ok(c.project.resolve(path).into_rhai()?.exists()) },
    );

    let c = ctx.clone();
    register(
        engine,
        "read_manifests(dir: String, context: Map) -> String",
        "Reads every manifest in a directory (relative to the project root), in file-name order, as one multi-document YAML text: .yaml/.yml files as they are, .j2 files rendered with the play's variables and `context`.",
        move |dir: &str, context: Map| -> RhaiResult<String> {
            let extra = to_json(&Dynamic::from_map(context)).into_rhai()?;
            read_manifests(&c, dir, extra).into_rhai()
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "project_path(path: String) -> String",
        "The absolute path of a file inside the project root (for external programs such as istioctl).",
        move |path: &str| -> RhaiResult<String> {
            Ok(c.project.resolve(path).into_rhai()?.display().to_string())
        },
    );
    register(
        engine,
        "sha256(text: String) -> String",
        "The SHA-256 digest of a text, in hex.",
        |text: &str| -> String {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(text.as_bytes()))
        },
    );
    register(
        engine,
        "base64_encode(text: String) -> String",
        "Encodes a text in standard base64.",
        |text: &str| -> String {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
        },
    );
    register(
        engine,
        "base64_decode(text: String) -> String",
        "Decodes standard base64 into a text (an error if the bytes are not UTF-8).",
        |text: &str| -> RhaiResult<String> {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| HostError::new(format!("invalid base64: {e}")))
                .into_rhai()?;
            String::from_utf8(bytes)
                .map_err(|_| HostError::new("the decoded bytes are not UTF-8 text"))
                .into_rhai()
        },
    );

    let c = ctx.clone();
    register(
        engine,
        "warn(message: String)",
        "Reports a warning; the play goes on.",
        move |message: &str| c.reporter.warn(message),
    );
    let c = ctx.clone();
    register(
        engine,
        "warn_real_clusters(message: String)",
        "Reports a warning that only concerns real clusters (a loopback API server address, an empty caBundle); in a rehearsal (--sandbox) it is printed as expected there. The play goes on.",
        move |message: &str| c.reporter.warn_real_clusters(message, c.is_sandbox()),
    );
    let mut play = Module::new();
    let c = ctx.clone();
    register_in(
        &mut play,
        "dry_run() -> bool",
        "Whether this run is a dry run (--dry-run): nothing is written anywhere.",
        move || c.dry_run(),
    );
    engine.register_static_module("play", play.into());
}

fn register_error_type(engine: &mut Engine) {
    engine.register_type_with_name::<HostError>("Error");
    register(
        engine,
        "to_string(error: Error) -> String",
        "The error's message and causes.",
        |e: &mut HostError| e.full_message(),
    );
    register(
        engine,
        "to_debug(error: Error) -> String",
        "The error's message and causes.",
        |e: &mut HostError| e.full_message(),
    );
    register_property(
        engine,
        "Error.message -> String",
        "The error's own message, without causes.",
        |e: &mut HostError| e.message.clone(),
    );
    register_property(
        engine,
        "Error.causes -> Array",
        "The messages of the error's causes, outermost first.",
        |e: &mut HostError| {
            e.causes
                .iter()
                .map(|c| Dynamic::from(c.clone()))
                .collect::<rhai::Array>()
        },
    );
}

fn render(ctx: &PlayContext, name: &str, extra: Value) -> HostResult<String> {
    ctx.templates.render(name, &template_context(ctx, extra))
}

fn template_context(ctx: &PlayContext, extra: Value) -> Value {
    crate::templates::context_of(&ctx.vars(), extra)
}

fn read_manifests(ctx: &PlayContext, dir: &str, extra: Value) -> HostResult<String> {
    let directory = ctx.project.resolve(dir)?;
    let files = local_files::manifest_files(&directory, &ctx.project.show(&directory))?;
    let context = template_context(ctx, extra);
    let mut texts = Vec::new();
    for file in files {
        ctx.project.confine(&file)?;
        let text = if local_files::is_template(&file) {
            ctx.templates.render_file(&file, &context)?
        } else {
            std::fs::read_to_string(&file).map_err(|e| {
                HostError::from_error(&e)
                    .context(format!("cannot read {}", ctx.project.show(&file)))
            })?
        };
        ctx.record_read(file);
        texts.push(text);
    }
    Ok(local_files::join_documents(
        texts.iter().map(String::as_str),
    ))
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
    let action = local_files::change_of(&file, text);
    let what = format!("file {shown}");
    if ctx.dry_run() {
        if action.is_change() {
            ctx.planned_files
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(file);
        }
        ctx.reporter
            .planned_local_change(&format!("would write {what}"), &what, action);
        return Ok(());
    }
    local_files::write(&file, text, action, &shown)?;
    ctx.record_written(file);
    ctx.reporter.local_change(&what, action);
    Ok(())
}
