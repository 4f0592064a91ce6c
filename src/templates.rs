//! Manifest templates: minijinja files under the project's `templates/` directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value as JValue};
use sha2::Digest;

use crate::error::{HostError, HostResult, SourceLocation};

/// Files a run has read, shared with watch mode.
pub type FilesRead = Arc<Mutex<BTreeSet<PathBuf>>>;

pub struct Templates {
    env: RwLock<Environment<'static>>,
    dir: PathBuf,
}

impl Templates {
    pub fn new(dir: &Path, files_read: FilesRead) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // A template is data from the project, not a program: bound its work and its depth.
        env.set_fuel(Some(crate::bounds::TEMPLATE_FUEL));
        env.set_recursion_limit(crate::bounds::TEMPLATE_RECURSION);
        // Manifests are YAML, not HTML: never escape.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        let base = dir.to_path_buf();
        let real_base = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        env.set_loader(move |name| {
            let Some(path) = safe_join(&base, name) else {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("template name {name:?} may not contain '..', '\\' or hidden parts"),
                ));
            };
            // A link under templates/ may point anywhere; only what really lies inside renders.
            if let Err(outside) = crate::project::confine(&real_base, &path) {
                let refused = outside.explain(name, &real_base);
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    refused.message,
                ));
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    if let Ok(mut read) = files_read.lock() {
                        read.insert(path);
                    }
                    Ok(Some(text))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("cannot read {}: {e}", path.display()),
                )),
            }
        });
        register_filters(&mut env);
        Templates {
            env: RwLock::new(env),
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Forgets compiled templates so the next render reads the files again.
    pub fn reload(&self) {
        if let Ok(mut env) = self.env.write() {
            env.clear_templates();
        }
    }

    /// Renders `name` with `context`; errors name the template file and line.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> HostResult<String> {
        let env = self
            .env
            .read()
            .map_err(|_| HostError::template("template engine unavailable"))?;
        let template = env.get_template(name).map_err(|e| self.explain(name, &e))?;
        template
            .render(JValue::from(minijinja::value::Serde(context)))
            .map_err(|e| {
                let source = undefined_source(&env, &e);
                let undefined = name_undefined(source.as_deref(), &e, context);
                self.explain_undefined(name, &e, undefined)
            })
    }

    /// Loads and parses a template (and what it includes or extends when rendered) without
    /// rendering it: syntax errors name the file and line.
    pub fn parse(&self, name: &str) -> HostResult<()> {
        let env = self
            .env
            .read()
            .map_err(|_| HostError::template("template engine unavailable"))?;
        env.get_template(name)
            .map(drop)
            .map_err(|e| self.explain(name, &e))
    }

    /// Renders a template file that lives outside the templates directory (a manifests
    /// directory); includes still resolve in the templates directory.
    pub fn render_file(&self, path: &Path, context: &serde_json::Value) -> HostResult<String> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            HostError::from_error(&e).context(format!("cannot read {}", display_rel(path)))
        })?;
        let env = self
            .env
            .read()
            .map_err(|_| HostError::template("template engine unavailable"))?;
        let name = path.display().to_string();
        env.render_named_str(
            &name,
            &source,
            JValue::from(minijinja::value::Serde(context)),
        )
        .map_err(|e| self.explain_at(path, &e, name_undefined(Some(&source), &e, context)))
    }

    fn explain_at(
        &self,
        path: &Path,
        error: &minijinja::Error,
        undefined: Option<String>,
    ) -> HostError {
        let mut err = self.explain_undefined(&path.display().to_string(), error, undefined);
        if let Some(location) = err.location.as_mut() {
            location.path = path.to_path_buf();
        }
        err.message = err
            .message
            .replace(&display_rel(&self.dir.join(path)), &display_rel(path));
        err
    }

    fn explain(&self, requested: &str, error: &minijinja::Error) -> HostError {
        self.explain_undefined(requested, error, None)
    }

    /// `undefined` says what an undefined value is, better than minijinja can (see
    /// `name_undefined`).
    fn explain_undefined(
        &self,
        requested: &str,
        error: &minijinja::Error,
        undefined: Option<String>,
    ) -> HostError {
        if error.kind() == ErrorKind::TemplateNotFound {
            let name = error.name().unwrap_or(requested);
            let err = HostError::template(format!(
                "template {name:?} not found in {}",
                self.dir.display()
            ))
            .with_hint("templates are looked up in the project's templates/ directory (or --templates DIR)");
            return err;
        }
        // The innermost error names the template that actually failed (an include, a parent).
        let mut inner: &minijinja::Error = error;
        while let Some(next) =
            std::error::Error::source(inner).and_then(|s| s.downcast_ref::<minijinja::Error>())
        {
            inner = next;
        }
        let name = inner
            .name()
            .or(error.name())
            .unwrap_or(requested)
            .to_string();
        let path = self.dir.join(&name);
        let line = inner.line().or(error.line());
        let detail = inner
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| inner.kind().to_string());
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        let what = match inner.kind() {
            ErrorKind::UndefinedError => {
                undefined.unwrap_or_else(|| format!("undefined value: {detail}"))
            }
            ErrorKind::SyntaxError => format!("syntax error: {detail}"),
            ErrorKind::OutOfFuel => format!(
                "the template ran more than {} instructions (loops too long?); rendering stopped",
                crate::bounds::TEMPLATE_FUEL
            ),
            _ => detail,
        };
        let mut err = HostError::template(format!("template {}{at}: {what}", display_rel(&path)));
        if inner.kind() == ErrorKind::UndefinedError {
            err = err.with_hint("define the value in the play's variables (vars file or --var) or pass it in the template() context");
        }
        if let Some(line) = line {
            err = err.at(SourceLocation {
                path,
                line,
                range: inner.range(),
            });
        }
        err
    }
}

/// The context `template()` renders with: the play's variables at the top level and as
/// `vars`, with the call's own context laid over them.
pub fn context_of(vars: &serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let mut context = vars.clone();
    if !context.is_object() {
        context = serde_json::Value::Object(Default::default());
    }
    if let serde_json::Value::Object(map) = &mut context {
        map.insert("vars".into(), vars.clone());
    }
    if !extra.is_null() {
        crate::vars::deep_merge(&mut context, extra);
    }
    context
}

/// The source of the template an undefined-value error happened in (an include, a parent).
fn undefined_source(env: &Environment<'static>, error: &minijinja::Error) -> Option<String> {
    let inner = innermost(error);
    if inner.kind() != ErrorKind::UndefinedError {
        return None;
    }
    let name = inner.name()?;
    env.get_template(name).ok().map(|t| t.source().to_string())
}

fn innermost(error: &minijinja::Error) -> &minijinja::Error {
    let mut inner: &minijinja::Error = error;
    while let Some(next) =
        std::error::Error::source(inner).and_then(|s| s.downcast_ref::<minijinja::Error>())
    {
        inner = next;
    }
    inner
}

/// Which key an "undefined value" error misses and which keys exist beside it, when the
/// failing expression is a plain dotted name (`apps.backnd`).
fn name_undefined(
    source: Option<&str>,
    error: &minijinja::Error,
    context: &serde_json::Value,
) -> Option<String> {
    let inner = innermost(error);
    if inner.kind() != ErrorKind::UndefinedError {
        return None;
    }
    let text = source.zip(inner.range()).and_then(|(s, r)| s.get(r))?;
    missing_in(text.trim(), context)
}

/// For `a.b.c` where `a.b` has no `c`: "a.b has no key c; did you mean ...? (keys: ...)".
fn missing_in(expression: &str, context: &serde_json::Value) -> Option<String> {
    let parts: Vec<&str> = expression.split('.').map(str::trim).collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !p.starts_with(|c: char| c.is_ascii_digit())
    };
    if !parts.iter().all(plain) {
        return None;
    }
    let mut current = context;
    for (i, part) in parts.iter().enumerate() {
        let serde_json::Value::Object(map) = current else {
            return None;
        };
        match map.get(*part) {
            Some(next) => current = next,
            None => {
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                let suggestion = crate::vars::schema::closest(part, keys.iter().copied())
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default();
                return Some(if i == 0 {
                    format!("undefined variable {part}{suggestion}")
                } else {
                    format!(
                        "{} has no key {part}{suggestion} (keys: {})",
                        parts[..i].join("."),
                        keys.join(", ")
                    )
                });
            }
        }
    }
    None
}

/// Joins a template name to the templates directory, refusing names that could leave it.
fn safe_join(base: &Path, name: &str) -> Option<PathBuf> {
    let mut path = base.to_path_buf();
    for part in name.split('/') {
        if part.is_empty() || part.starts_with('.') || part.contains('\\') {
            return None;
        }
        path.push(part);
    }
    Some(path)
}

fn display_rel(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

fn register_filters(env: &mut Environment<'static>) {
    env.add_filter("b64encode", |value: String| {
        base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
    });
    env.add_filter(
        "b64decode",
        |value: String| -> Result<String, minijinja::Error> {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map_err(|e| {
                    minijinja::Error::new(ErrorKind::InvalidOperation, format!("b64decode: {e}"))
                })?;
            String::from_utf8(bytes).map_err(|_| {
                minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "b64decode: the decoded bytes are not UTF-8 text",
                )
            })
        },
    );
    env.add_filter(
        "to_yaml",
        |value: JValue| -> Result<String, minijinja::Error> {
            let text = serde_yaml::to_string(&value).map_err(|e| {
                minijinja::Error::new(ErrorKind::InvalidOperation, format!("to_yaml: {e}"))
            })?;
            Ok(text.trim_end().to_string())
        },
    );
    env.add_filter(
        "to_json",
        |value: JValue| -> Result<String, minijinja::Error> {
            serde_json::to_string(&value).map_err(|e| {
                minijinja::Error::new(ErrorKind::InvalidOperation, format!("to_json: {e}"))
            })
        },
    );
    env.add_filter("sha256", |value: String| {
        hex::encode(sha2::Sha256::digest(value.as_bytes()))
    });
    env.add_filter("quote", |value: JValue| -> String {
        let text = value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        serde_json::to_string(&text).unwrap_or_default()
    });
    env.add_filter(
        "required",
        |value: JValue, message: Option<String>| -> Result<JValue, minijinja::Error> {
            let empty = value.is_undefined()
                || value.is_none()
                || value.as_str().is_some_and(|s| s.trim().is_empty())
                || value.len() == Some(0);
            if empty {
                let message = message.unwrap_or_else(|| "a required value is empty".to_string());
                return Err(minijinja::Error::new(ErrorKind::InvalidOperation, message));
            }
            Ok(value)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates(files: &[(&str, &str)]) -> (tempfile::TempDir, Templates, FilesRead) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let read = FilesRead::default();
        let t = Templates::new(dir.path(), read.clone());
        (dir, t, read)
    }

    #[test]
    fn renders_with_filters_and_includes() {
        let (_d, t, read) = templates(&[
            (
                "base.j2",
                "kind: {{ kind | quote }}\n{% include 'inc.j2' %}",
            ),
            (
                "inc.j2",
                "data: {{ secret | b64encode }} {{ 'x' | sha256 | length }} <{{ html }}>",
            ),
        ]);
        let out = t
            .render(
                "base.j2",
                &json!({"kind": "Secret", "secret": "s3", "html": "<b>"}),
            )
            .unwrap();
        assert_eq!(out, "kind: \"Secret\"\ndata: czM= 64 <<b>>");
        assert_eq!(read.lock().unwrap().len(), 2);
    }

    #[test]
    fn templates_extend_each_other() {
        let (_d, t, _) = templates(&[
            (
                "base.j2",
                "kind: ConfigMap\ndata:\n{% block data %}{% endblock %}",
            ),
            (
                "child.j2",
                "{% extends 'base.j2' %}{% block data %}  a: {{ a }}\n{% endblock %}",
            ),
        ]);
        assert_eq!(
            t.render("child.j2", &json!({"a": 1})).unwrap(),
            "kind: ConfigMap\ndata:\n  a: 1\n"
        );
    }

    #[test]
    fn undefined_value_names_template_and_line() {
        let (_d, t, _) = templates(&[("a.yaml.j2", "a: 1\nb: {{ missing }}\n")]);
        let err = t.render("a.yaml.j2", &json!({})).unwrap_err();
        assert!(err.message.contains("a.yaml.j2:2"), "{}", err.message);
        assert!(err.message.contains("undefined"), "{}", err.message);
        assert_eq!(err.location.unwrap().line, 2);
    }

    #[test]
    fn required_filter_fails_with_its_message() {
        let (_d, t, _) = templates(&[("r.j2", "{{ ip | required('istiod needs an IP') }}")]);
        let err = t.render("r.j2", &json!({"ip": ""})).unwrap_err();
        assert!(
            err.message.contains("istiod needs an IP"),
            "{}",
            err.message
        );
    }
}
