use super::{CertError, Result};

const MAX_CLUSTER_NAME: usize = 63;

/// Cluster names become directory names and the intermediate's `L=` field: allow what a
/// Kubernetes label value allows, which rules out separators, `..` and hidden names.
pub fn validate_cluster_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| CertError::InvalidClusterName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_CLUSTER_NAME {
        return Err(invalid("it is longer than 63 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(
            "only letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    let starts_and_ends_alphanumeric = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !starts_and_ends_alphanumeric {
        return Err(invalid("it must start and end with a letter or digit"));
    }
    Ok(())
}
