//! What a body must look like before validation sees it: built-in kinds against their Go types
//! (`builtin`), custom resources against their CRD's structural schema (`structural`).
pub mod builtin;
pub mod structural;

use super::status::ApiError;

/// The `fieldValidation` query parameter; a real server warns when the client does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Strict,
    #[default]
    Warn,
    Ignore,
}

impl FieldValidation {
    pub fn parse(value: Option<&str>) -> Result<FieldValidation, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}"
            ))),
        }
    }
}

/// Paths of fields a body had that its type lacks (already dropped from the body).
pub struct UnknownFields(pub Vec<String>);

impl UnknownFields {
    /// A 400 under Strict, one warning per field under Warn, nothing under Ignore.
    pub fn resolve(
        mut self,
        kind: &str,
        version: &str,
        validation: FieldValidation,
    ) -> Result<Vec<String>, ApiError> {
        self.0.sort();
        self.0.dedup();
        let rendered = self.0.iter().map(|f| format!("unknown field \"{f}\""));
        match validation {
            _ if self.0.is_empty() => Ok(Vec::new()),
            FieldValidation::Ignore => Ok(Vec::new()),
            FieldValidation::Warn => Ok(rendered.collect()),
            FieldValidation::Strict => Err(builtin::decode_error(
                kind,
                version,
                &format!(
                    "strict decoding error: {}",
                    rendered.collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
}
