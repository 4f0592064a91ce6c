//! Turns a failed play into one report: `file:line:col`, the source line with a caret,
//! the step, and the cause chain with each message once.

use std::path::{Path, PathBuf};

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, NamedSource, SourceSpan};
use rhai::{EvalAltResult, ParseError, Position};

use crate::error::{ErrorKind, HostError, SourceLocation};

/// A place in a script.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptLocation {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// Everything the report says about a failure.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What failed; the exit code, the step and whether the play was interrupted follow from it.
    pub kind: ErrorKind,
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub location: Option<ScriptLocation>,
    pub extra_location: Option<SourceLocation>,
}

impl Failure {
    pub fn plain(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            location: None,
            extra_location: None,
        }
    }

    pub fn from_host(error: HostError) -> Self {
        let causes = error.causes();
        Failure {
            kind: error.kind,
            message: error.message,
            causes,
            hint: error.hint,
            location: None,
            extra_location: error.location.map(|l| *l),
        }
    }

    /// The innermost step the failure happened in.
    pub fn step(&self) -> Option<&str> {
        self.kind.step()
    }

    pub fn is_interrupted(&self) -> bool {
        self.kind.is_interrupted()
    }

    /// Says that the failure ended step `step` (an outer step keeps the inner one's name).
    pub fn in_step(&mut self, step: &str) {
        let cause = std::mem::replace(&mut self.kind, ErrorKind::Internal);
        self.kind = ErrorKind::StepFailed {
            step: step.to_string(),
            cause: Box::new(cause),
        };
    }

    /// A syntax error in `file` (the playbook or a module).
    pub fn from_parse(error: &ParseError, file: &Path) -> Self {
        let mut failure = Failure::plain(
            ErrorKind::Playbook,
            format!("syntax error: {}", error.err_type()),
        );
        failure.location = location_of(file, error.position());
        failure
    }

    /// A runtime error from a script whose main file is `file`.
    pub fn from_eval(error: &EvalAltResult, file: &Path, max_operations: u64) -> Self {
        let mut source: PathBuf = file.to_path_buf();
        let mut outer_position = Position::NONE;
        let mut outer_source = source.clone();
        let mut current = error;
        loop {
            match current {
                EvalAltResult::ErrorInFunctionCall(_, fn_source, inner, pos) => {
                    if !pos.is_none() {
                        outer_position = *pos;
                        outer_source = source.clone();
                    }
                    if !fn_source.is_empty() {
                        source = PathBuf::from(fn_source);
                    }
                    current = inner;
                }
                EvalAltResult::ErrorInModule(module, inner, pos) => {
                    if !pos.is_none() {
                        outer_position = *pos;
                        outer_source = source.clone();
                    }
                    if !module.is_empty() {
                        source = PathBuf::from(module);
                    }
                    current = inner;
                }
                _ => break,
            }
        }
        let mut failure = match current {
            EvalAltResult::ErrorRuntime(value, _) => match value.clone().try_cast::<HostError>() {
                Some(host) => Failure::from_host(host),
                None => Failure::plain(ErrorKind::Playbook, value.to_string()),
            },
            EvalAltResult::ErrorTooManyOperations(_) => {
                let mut f = Failure::plain(
                    ErrorKind::Playbook,
                    format!(
                        "the playbook ran more than {max_operations} operations and was stopped"
                    ),
                );
                f.hint = Some(
                    "look for a loop that never ends; a playbook that really needs more can raise the limit with --max-operations".into(),
                );
                f
            }
            EvalAltResult::ErrorTerminated(value, _) if value.is::<HostError>() => {
                Failure::from_host(value.clone().cast::<HostError>())
            }
            EvalAltResult::ErrorTerminated(..) => Failure::from_host(HostError::interrupted()),
            EvalAltResult::ErrorParsing(kind, _) => {
                Failure::plain(ErrorKind::Playbook, format!("syntax error: {kind}"))
            }
            EvalAltResult::ErrorFunctionNotFound(signature, _) => Failure::plain(
                ErrorKind::Playbook,
                crate::function_names::function_not_found(signature),
            ),
            other => Failure::plain(ErrorKind::Playbook, without_position(other)),
        };
        let leaf_position = current.position();
        failure.location = if leaf_position.is_none() {
            location_of(&outer_source, outer_position)
        } else {
            location_of(&source, leaf_position)
        };
        failure
    }

    /// Where the failure is, for machines: the script position when there is one, else the
    /// other file's line (a template's, a vars file's), whose column is not known.
    pub fn position(&self) -> (Option<String>, Option<usize>, Option<usize>) {
        if let Some(at) = &self.location {
            return (
                Some(at.file.display().to_string()),
                Some(at.line),
                Some(at.column),
            );
        }
        match &self.extra_location {
            Some(at) => (Some(at.path.display().to_string()), Some(at.line), None),
            None => (None, None, None),
        }
    }

    /// The message followed by its causes, on one line.
    pub fn one_line(&self) -> String {
        let mut out = self.message.clone();
        for cause in &self.causes {
            out.push_str(": ");
            out.push_str(cause);
        }
        out
    }

    /// Renders the report for a person: like `just`, the line of the playbook with a caret.
    pub fn render(&self, color: bool) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        // Wrapped lines are for a person at a terminal; logs and pipes get each message whole.
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_context_lines(1)
            .with_wrap_lines(color);
        let report = Report::from(self);
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            out = self.one_line();
        }
        out
    }
}

/// Rhai's message without the " (line 3, position 7)" its Display appends for the error's own
/// position: the report shows the place itself.
fn without_position(error: &EvalAltResult) -> String {
    let text = error.to_string();
    let position = error.position();
    if position.is_none() {
        return text;
    }
    let suffix = format!(" ({position})");
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

fn location_of(file: &Path, position: Position) -> Option<ScriptLocation> {
    let line = position.line()?;
    Some(ScriptLocation {
        file: file.to_path_buf(),
        line,
        column: position.position().unwrap_or(1),
    })
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Cause {
    message: String,
    #[source]
    next: Option<Box<Cause>>,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
struct Report {
    message: String,
    #[source_code]
    source_code: Option<NamedSource<String>>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: Option<String>,
    #[source]
    cause: Option<Cause>,
    #[related]
    related: Vec<Snippet>,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
struct Snippet {
    message: String,
    #[source_code]
    source_code: NamedSource<String>,
    #[label("here")]
    span: SourceSpan,
}

impl From<&Failure> for Report {
    fn from(failure: &Failure) -> Self {
        let mut cause: Option<Cause> = None;
        for message in failure.causes.iter().rev() {
            cause = Some(Cause {
                message: message.clone(),
                next: cause.map(Box::new),
            });
        }
        let mut message = failure.message.clone();
        if let (Some(_), Some(call)) = (&failure.extra_location, &failure.location) {
            let step = failure
                .step()
                .map(|s| format!(" in step [{s}]"))
                .unwrap_or_default();
            let called = format!(
                "called from {}:{}:{}{step}",
                show(&call.file),
                call.line,
                call.column
            );
            cause = Some(Cause {
                message: called,
                next: cause.map(Box::new),
            });
            return Report::template_first(failure, message, cause);
        }
        if let Some(step) = failure.step() {
            message = format!("step [{step}] failed: {message}");
        }
        let (source_code, span) = match &failure.location {
            Some(loc) => match std::fs::read_to_string(&loc.file) {
                Ok(text) => {
                    let span = span_at(&text, loc.line, loc.column);
                    (Some(NamedSource::new(show(&loc.file), text)), Some(span))
                }
                Err(_) => {
                    message = format!(
                        "{message}\n  at {}:{}:{}",
                        show(&loc.file),
                        loc.line,
                        loc.column
                    );
                    (None, None)
                }
            },
            None => (None, None),
        };
        let label = match failure.step() {
            Some(step) => format!("in step [{step}]"),
            None => "here".to_string(),
        };
        let related = failure
            .extra_location
            .as_ref()
            .and_then(|loc| {
                let text = std::fs::read_to_string(&loc.path).ok()?;
                let span = match &loc.range {
                    Some(r) if r.end <= text.len() => SourceSpan::from(r.start..r.end),
                    _ => span_at(&text, loc.line, 1),
                };
                Some(Snippet {
                    message: format!("in {}:{}", show(&loc.path), loc.line),
                    source_code: NamedSource::new(show(&loc.path), text),
                    span,
                })
            })
            .into_iter()
            .collect();
        Report {
            message,
            source_code,
            span,
            label,
            help: failure.hint.clone(),
            cause,
            related,
        }
    }
}

impl Report {
    /// For a template error the template line gets the caret; the playbook call is a cause.
    fn template_first(failure: &Failure, mut message: String, cause: Option<Cause>) -> Report {
        if let Some(step) = failure.step() {
            message = format!("step [{step}] failed: {message}");
        }
        let mut report = Report {
            message,
            source_code: None,
            span: None,
            label: "here".to_string(),
            help: failure.hint.clone(),
            cause,
            related: Vec::new(),
        };
        if let Some(loc) = &failure.extra_location {
            if let Ok(text) = std::fs::read_to_string(&loc.path) {
                let span = match &loc.range {
                    Some(r) if r.end <= text.len() => SourceSpan::from(r.start..r.end),
                    _ => span_at(&text, loc.line, 1),
                };
                report.source_code = Some(NamedSource::new(show(&loc.path), text));
                report.span = Some(span);
            }
        }
        report
    }
}

fn show(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

/// The byte span of the word starting at `line`:`column` (both 1-based, column in characters).
fn span_at(text: &str, line: usize, column: usize) -> SourceSpan {
    let mut offset = 0;
    for (index, content) in text.split_inclusive('\n').enumerate() {
        if index + 1 == line {
            let start = offset
                + content
                    .char_indices()
                    .nth(column.saturating_sub(1))
                    .map(|(i, _)| i)
                    .unwrap_or(0);
            let rest = &text[start..];
            let len = rest
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                .map(|(i, _)| i)
                .unwrap_or(rest.len())
                .max(1)
                .min(rest.len());
            return SourceSpan::from(start..start + len);
        }
        offset += content.len();
    }
    SourceSpan::from(text.len()..text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_points_at_the_word() {
        let text = "let a = 1;\nlet b = missing + 1;\n";
        let span = span_at(text, 2, 9);
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "missing");
    }
}
