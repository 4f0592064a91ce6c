//! Errors raised by host functions and the report a user sees when a play fails.

use std::fmt;

/// An error raised by a runtime capability (Kubernetes, certificates, templates, files).
///
/// It travels through Rhai as the thrown value, so a playbook that catches it gets the
/// message, and the final report can still show the whole cause chain.
#[derive(Debug, Clone, PartialEq)]
pub struct HostError {
    pub message: String,
    pub causes: Vec<String>,
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

pub type HostResult<T> = Result<T, HostError>;

impl HostError {
    pub fn new(message: impl Into<String>) -> Self {
        HostError {
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            location: None,
        }
    }

    /// Builds a host error from any error, keeping each message of its source chain once.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut messages: Vec<String> = Vec::new();
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = current {
            push_unique(&mut messages, e.to_string());
            current = e.source();
        }
        let message = messages.remove(0);
        HostError {
            message,
            causes: messages,
            hint: None,
            location: None,
        }
    }

    /// Puts `context` in front: the current message becomes the first cause.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        let previous = std::mem::replace(&mut self.message, context.into());
        let mut causes = vec![previous];
        causes.append(&mut self.causes);
        self.causes = Vec::new();
        for cause in causes {
            push_unique(&mut self.causes, cause);
        }
        self.causes.retain(|c| c != &self.message);
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

/// Adds `message` unless it is already said: equal to, or contained in, the message before it.
fn push_unique(messages: &mut Vec<String>, message: String) {
    let message = message.trim().to_string();
    if message.is_empty() {
        return;
    }
    if messages
        .iter()
        .any(|m| m == &message || m.ends_with(&message))
    {
        return;
    }
    messages.push(message);
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
    }

    #[test]
    fn repeated_cause_is_said_once() {
        let err = HostError::new("connection refused").context("connection refused");
        assert_eq!(err.full_message(), "connection refused");
    }
}
