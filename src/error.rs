//! runner's one error type: what went wrong (its kind), the message with its causes, a hint,
//! and where. Decisions (the exit code, whether a play was interrupted, which step failed) are
//! made on the kind, never on the message.

use std::fmt;

/// What kind of failure an error is. The exit code and the report follow from it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Ctrl-C or SIGTERM abandoned the work (exit 130, or 143 after SIGTERM).
    Interrupted,
    /// The command line, or a file it names, is wrong; nothing ran (exit 2).
    Usage,
    /// A step of the play failed; `cause` is the kind of what failed inside it.
    StepFailed { step: String, cause: Box<ErrorKind> },
    /// An API server answered a request with an error Status.
    ApiStatus(Box<ApiStatus>),
    /// Reaching a cluster failed: its kubeconfig, the connection, TLS, credentials.
    Cluster,
    /// A template failed to load or render.
    Template,
    /// The play's variables (vars files, --var, the schema) are wrong.
    Variables,
    /// Creating, reading or checking certificates failed.
    Certificates,
    /// Reading or writing a file failed.
    Io,
    /// The playbook itself: a script error, a bad argument, a thrown value, a limit reached.
    Playbook,
    /// A bug in runner.
    Internal,
}

impl ErrorKind {
    /// The kind beneath any step: what actually failed.
    pub fn root(&self) -> &ErrorKind {
        match self {
            ErrorKind::StepFailed { cause, .. } => cause.root(),
            other => other,
        }
    }

    pub fn is_interrupted(&self) -> bool {
        *self.root() == ErrorKind::Interrupted
    }

    /// The innermost failed step, when the error happened in one.
    pub fn step(&self) -> Option<&str> {
        match self {
            ErrorKind::StepFailed { step, cause } => cause.step().or(Some(step)),
            _ => None,
        }
    }

    /// The exit code the README documents: 2 usage, 130 interrupted, 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self.root() {
            ErrorKind::Usage => EXIT_USAGE,
            ErrorKind::Interrupted => EXIT_INTERRUPTED,
            _ => EXIT_FAILED,
        }
    }

    /// A short name for machines (`--output json`).
    pub fn name(&self) -> &'static str {
        match self.root() {
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::Usage => "usage",
            ErrorKind::StepFailed { .. } => "step-failed",
            ErrorKind::ApiStatus(_) => "api-status",
            ErrorKind::Cluster => "cluster",
            ErrorKind::Template => "template",
            ErrorKind::Variables => "variables",
            ErrorKind::Certificates => "certificates",
            ErrorKind::Io => "io",
            ErrorKind::Playbook => "playbook",
            ErrorKind::Internal => "internal",
        }
    }
}

/// What an API server refused: a request about `object` (`Kind namespace/name`) in `cluster`,
/// answered with HTTP `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiStatus {
    pub cluster: String,
    pub object: String,
    pub code: u16,
}

use crate::exit::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE};

/// An error raised by a runtime capability (Kubernetes, certificates, templates, files).
///
/// It travels through Rhai as the thrown value, so a playbook that catches it gets the
/// message, and the final report can still show the whole cause chain.
#[derive(Debug, Clone, PartialEq)]
pub struct HostError {
    pub kind: ErrorKind,
    pub message: String,
    /// The messages of its causes, outermost first; each said once.
    pub causes: Vec<String>,
    /// What to do about it (miette's `help`).
    pub hint: Option<String>,
    /// A place in a file other than the playbook (a template line) that the report should show.
    pub location: Option<Box<SourceLocation>>,
}

/// A line in a file, with an optional byte range inside the file for the caret.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceLocation {
    pub path: std::path::PathBuf,
    pub line: usize,
    pub range: Option<std::ops::Range<usize>>,
}

pub(crate) type HostResult<T> = Result<T, HostError>;

impl HostError {
    /// An error of the playbook's own making (most failures a host function reports).
    pub fn new(message: impl Into<String>) -> Self {
        HostError::of(ErrorKind::Playbook, message)
    }

    pub fn of(kind: ErrorKind, message: impl Into<String>) -> Self {
        HostError {
            kind,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            location: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        HostError::of(ErrorKind::Usage, message)
    }

    pub fn interrupted() -> Self {
        HostError::of(ErrorKind::Interrupted, "interrupted")
    }

    pub fn template(message: impl Into<String>) -> Self {
        HostError::of(ErrorKind::Template, message)
    }

    pub fn variables(message: impl Into<String>) -> Self {
        HostError::of(ErrorKind::Variables, message)
    }

    pub fn certificates(message: impl Into<String>) -> Self {
        HostError::of(ErrorKind::Certificates, message)
    }

    pub fn cluster(message: impl Into<String>) -> Self {
        HostError::of(ErrorKind::Cluster, message)
    }

    pub fn io(message: impl Into<String>) -> Self {
        HostError::of(ErrorKind::Io, message)
    }

    /// The API server refused a request about `object` in `cluster` with HTTP `code`.
    pub fn api_status(
        cluster: impl Into<String>,
        object: impl Into<String>,
        code: u16,
        message: impl Into<String>,
    ) -> Self {
        let kind = ErrorKind::ApiStatus(Box::new(ApiStatus {
            cluster: cluster.into(),
            object: object.into(),
            code,
        }));
        HostError::of(kind, message)
    }

    /// Builds a host error from any error, keeping each message of its source chain once; the
    /// kind follows the error's type (an I/O error is `Io`, a certificate error `Certificates`).
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        let kind = kind_of(error);
        let mut messages: Vec<String> = Vec::new();
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = current {
            let message = e.to_string();
            let message = message.trim();
            // Some libraries (kube, hyper) print their source inside their own message too.
            let said = messages.iter().any(|m| m.ends_with(message));
            if !message.is_empty() && !said {
                messages.push(message.to_string());
            }
            current = e.source();
        }
        let message = if messages.is_empty() {
            String::new()
        } else {
            messages.remove(0)
        };
        HostError {
            causes: messages,
            ..HostError::of(kind, message)
        }
    }

    /// Puts `context` in front: the current message becomes the first cause. The kind stays.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        let context = context.into();
        let previous = std::mem::replace(&mut self.message, context);
        if previous != self.message && !self.causes.contains(&previous) {
            self.causes.insert(0, previous);
        }
        self
    }

    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn at(mut self, location: SourceLocation) -> Self {
        self.location = Some(Box::new(location));
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The message followed by its causes, as one line.
    pub fn full_message(&self) -> String {
        let mut out = self.message.clone();
        for cause in &self.causes {
            out.push_str(": ");
            out.push_str(cause);
        }
        out
    }
}

/// The kind of a library's error, by its type.
fn kind_of(error: &(dyn std::error::Error + 'static)) -> ErrorKind {
    if let Some(host) = error.downcast_ref::<HostError>() {
        host.kind.clone()
    } else if error.is::<std::io::Error>() {
        ErrorKind::Io
    } else if error.is::<runner_certs::CertError>() {
        ErrorKind::Certificates
    } else if error.is::<runner_sandbox::SandboxError>()
        || error.is::<runner_sandbox::control_plane::ControlPlaneError>()
    {
        ErrorKind::Cluster
    } else if error.is::<minijinja::Error>() {
        ErrorKind::Template
    } else if error.is::<kube::Error>() || error.is::<kube::config::KubeconfigError>() {
        ErrorKind::Cluster
    } else {
        ErrorKind::Playbook
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_message())
    }
}

impl std::error::Error for HostError {}

impl From<std::io::Error> for HostError {
    fn from(e: std::io::Error) -> Self {
        HostError::from_error(&e)
    }
}

impl From<runner_certs::CertError> for HostError {
    fn from(e: runner_certs::CertError) -> Self {
        HostError::from_error(&e)
    }
}

/// Adds context to any fallible result, turning it into a [`HostError`] whose kind follows the
/// error's type.
pub(crate) trait Context<T> {
    fn with_context<F: FnOnce() -> String>(self, f: F) -> HostResult<T>;
}

impl<T, E: std::error::Error + 'static> Context<T> for Result<T, E> {
    fn with_context<F: FnOnce() -> String>(self, f: F) -> HostResult<T> {
        self.map_err(|e| HostError::from_error(&e).context(f()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_each_message_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = HostError::from_error(&io)
            .context("reading templates/a.yaml.j2")
            .context("step cacerts");
        assert_eq!(
            err.full_message(),
            "step cacerts: reading templates/a.yaml.j2: no such file"
        );
        assert_eq!(err.kind, ErrorKind::Io);
    }

    #[test]
    fn repeated_cause_is_said_once() {
        let err = HostError::new("connection refused").context("connection refused");
        assert_eq!(err.full_message(), "connection refused");
    }

    #[test]
    fn a_certificate_error_says_its_io_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let err = HostError::from(runner_certs::CertError::Io {
            path: "certs/root-key.pem".into(),
            source: io,
        });
        assert_eq!(err.kind, ErrorKind::Certificates);
        assert_eq!(err.message, "certs/root-key.pem");
        assert_eq!(err.causes, vec!["permission denied".to_string()]);
    }

    #[test]
    fn kinds_decide_exit_codes_and_steps() {
        let inner = ErrorKind::StepFailed {
            step: "inner".into(),
            cause: Box::new(ErrorKind::Interrupted),
        };
        let outer = ErrorKind::StepFailed {
            step: "outer".into(),
            cause: Box::new(inner),
        };
        assert_eq!(outer.step(), Some("inner"));
        assert!(outer.is_interrupted());
        assert_eq!(outer.exit_code(), EXIT_INTERRUPTED);
        assert_eq!(ErrorKind::Usage.exit_code(), EXIT_USAGE);
        assert_eq!(ErrorKind::Template.exit_code(), EXIT_FAILED);
    }
}
