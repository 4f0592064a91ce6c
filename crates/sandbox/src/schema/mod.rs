//! What a body must look like before validation sees it: built-in kinds against their Go types
//! (`builtin`), custom resources against their CRD's structural schema (`structural`).
pub(crate) mod builtin;
pub(crate) mod duplicates;
pub(crate) mod structural;

use super::status::{ApiError, FieldError};

/// The `fieldValidation` query parameter; a real server warns when the client does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum FieldValidation {
    Strict,
    #[default]
    Warn,
    Ignore,
}

impl FieldValidation {
    /// `options` names the request's options kind (CreateOptions, UpdateOptions, PatchOptions),
    /// which the real server reports an unsupported value against.
    pub(crate) fn parse(value: Option<&str>, options: &str) -> Result<FieldValidation, ApiError> {
        match value {
            None | Some("" | "Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::invalid(
                "meta.k8s.io",
                options,
                "",
                vec![FieldError::not_supported(
                    "fieldValidation",
                    &serde_json::Value::from(other),
                    &["", "Ignore", "Strict", "Warn"],
                )],
            )),
        }
    }
}

/// Paths of fields a body had that its type lacks (already dropped from the body), and of fields
/// it gave twice.
pub(crate) struct UnknownFields {
    pub unknown: Vec<String>,
    pub duplicate: Vec<String>,
}

impl UnknownFields {
    /// A 400 under Strict, one warning per field under Warn, nothing under Ignore.
    pub(crate) fn resolve(
        mut self,
        kind: &str,
        version: &str,
        validation: FieldValidation,
    ) -> Result<Vec<String>, ApiError> {
        self.unknown.sort();
        self.unknown.dedup();
        let rendered: Vec<String> = self
            .duplicate
            .iter()
            .map(|f| format!("duplicate field \"{f}\""))
            .chain(
                self.unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\"")),
            )
            .collect();
        match validation {
            _ if rendered.is_empty() => Ok(Vec::new()),
            FieldValidation::Ignore => Ok(Vec::new()),
            FieldValidation::Warn => Ok(rendered),
            FieldValidation::Strict => Err(builtin::decode_error(
                kind,
                version,
                &format!("strict decoding error: {}", rendered.join(", ")),
            )),
        }
    }
}
