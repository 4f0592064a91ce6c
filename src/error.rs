//! runner's one error type: what went wrong (its kind), the message with its causes, a hint,
//! and where. Decisions (the exit code, whether a play was interrupted, which step failed) are
//! made on the kind, never on the message.

use std::fmt;
use std::sync::Arc;

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

    /// The name a playbook reads as `e.kind` in `try { } catch (e)`: the root kind's name,
    /// spelled as a Rhai identifier (`api_status`).
    pub fn playbook_name(&self) -> String {
        self.name().replace('-', "_")
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

/// What an API server refused: a request about `object` (`Kind namespace/name`) in `cluster`
/// (each empty where not known), answered with HTTP `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiStatus {
    pub cluster: String,
    pub object: String,
    pub code: u16,
    /// The Status's reason (`NotFound`, `Conflict`, `Invalid`, …); empty when it has none.
    pub reason: String,
}

/// An error raised by a runtime capability (Kubernetes, certificates, templates, files).
///
/// It travels through Rhai as the thrown value, so a playbook that catches it gets the
/// message and the kind, and the final report can still show the whole cause chain.
///
/// Context makes a chain: `context` puts a new message in front and the error it was becomes
/// the `source()` below it, so each message is said once, by the link that owns it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostError {
    pub kind: ErrorKind,
    pub message: String,
    /// What to do about it (miette's `help`).
    pub hint: Option<String>,
    /// A place in a file other than the playbook (a template line) that the report should show.
    pub location: Option<Box<SourceLocation>>,
    /// What caused it: the next link of the chain.
    source: Option<Arc<HostError>>,
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
            hint: None,
            location: None,
            source: None,
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

    /// The API server refused a request about `object` in `cluster` with HTTP `code` and the
    /// Status `reason` (such as `NotFound` or `Conflict`; empty when it gave none).
    pub fn api_status(
        cluster: impl Into<String>,
        object: impl Into<String>,
        code: u16,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let kind = ErrorKind::ApiStatus(Box::new(ApiStatus {
            cluster: cluster.into(),
            object: object.into(),
            code,
            reason: reason.into(),
        }));
        HostError::of(kind, message)
    }

    /// Builds a host error from any error, one link per error of its source chain; each link's
    /// kind follows its error's type (an I/O error is `Io`, a certificate error `Certificates`).
    /// A host error comes back whole: its chain, hint and place.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        if let Some(host) = error.downcast_ref::<HostError>() {
            return host.clone();
        }
        let mut links: Vec<HostError> = Vec::new();
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = current {
            if let Some(host) = e.downcast_ref::<HostError>() {
                links.push(host.clone());
                break;
            }
            let message = e.to_string();
            let message = message.trim();
            // Some libraries (kube, hyper) print their source inside their own message too: the
            // source is then said by the link above, not again. This shapes the report only.
            let said = links.iter().any(|link| link.message.ends_with(message));
            if !message.is_empty() && !said {
                links.push(HostError::of(kind_of(e), message));
            }
            current = e.source();
        }
        let mut chain = links
            .pop()
            .unwrap_or_else(|| HostError::of(kind_of(error), ""));
        while let Some(mut outer) = links.pop() {
            outer.source = Some(Arc::new(chain));
            chain = outer;
        }
        chain.kind = kind_of(error);
        chain
    }

    /// Puts `context` in front: the error so far becomes its source. The kind, the hint and
    /// the place stay with the front of the chain.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        let context = context.into();
        if context == self.message {
            return self;
        }
        HostError {
            kind: self.kind.clone(),
            message: context,
            hint: self.hint.take(),
            location: self.location.take(),
            source: Some(Arc::new(self)),
        }
    }

    /// Adds `cause` at the end of the chain, below every cause so far (unless it is said).
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        let cause = cause.into();
        if self.message == cause || self.causes().contains(&cause) {
            return self;
        }
        let last = HostError::of(self.kind.clone(), cause);
        append(&mut self, last);
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

    /// The messages of its causes, outermost first.
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut link = self.source.as_deref();
        while let Some(cause) = link {
            out.push(cause.message.clone());
            link = cause.source.as_deref();
        }
        out
    }

    /// The message followed by its causes, as one line.
    pub fn full_message(&self) -> String {
        let mut out = self.message.clone();
        for cause in self.causes() {
            out.push_str(": ");
            out.push_str(&cause);
        }
        out
    }
}

/// Puts `last` at the end of the chain that starts at `link`.
fn append(link: &mut HostError, last: HostError) {
    if let Some(next) = link.source.as_mut() {
        return append(Arc::make_mut(next), last);
    }
    link.source = Some(Arc::new(last));
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
    } else if let Some(kube::Error::Api(status)) = error.downcast_ref::<kube::Error>() {
        // The cluster and the object are added by whoever knows them (`k8s::errors`).
        ErrorKind::ApiStatus(Box::new(ApiStatus {
            cluster: String::new(),
            object: String::new(),
            code: status.code,
            reason: status.reason.clone(),
        }))
    } else if error.is::<kube::Error>() || error.is::<kube::config::KubeconfigError>() {
        ErrorKind::Cluster
    } else {
        ErrorKind::Playbook
    }
}

/// Its own message: the causes are its `source()` chain (`full_message` says them all).
impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}

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
        assert_eq!(err.causes(), vec!["permission denied".to_string()]);
    }

    #[test]
    fn the_chain_is_the_source_chain_each_message_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = HostError::from_error(&io)
            .context("reading templates/a.yaml.j2")
            .with_hint("create it")
            .context("rendering");
        let mut said = Vec::new();
        let mut link: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(e) = link {
            said.push(e.to_string());
            link = e.source();
        }
        assert_eq!(
            said,
            ["rendering", "reading templates/a.yaml.j2", "no such file"]
        );
        assert_eq!(err.hint.as_deref(), Some("create it"));
        // A host error inside another error comes back whole.
        let again = HostError::from_error(&err);
        assert_eq!(again, err);
    }

    #[test]
    fn a_cause_is_added_below_the_others_once() {
        let err = HostError::new("program failed")
            .context("step install")
            .with_cause("stderr: boom")
            .with_cause("stderr: boom");
        assert_eq!(err.causes(), ["program failed", "stderr: boom"]);
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
    }
}
