use std::path::Path;

use super::{CertError, CertInfo, Result};

/// Errors on an expired certificate, warns when fewer than `warn_days` remain.
pub(crate) fn expiry_check(
    info: &CertInfo,
    path: &Path,
    warn_days: u32,
    what: &str,
    expired_hint: &str,
    warnings: &mut Vec<String>,
) -> Result<()> {
    if info.days_left < 0 {
        return Err(CertError::Expired {
            path: path.to_path_buf(),
            subject: info.subject.clone(),
            not_after: info.not_after.clone(),
            hint: expired_hint.to_string(),
        });
    }
    if info.days_left < i64::from(warn_days) {
        warnings.push(format!(
            "the {what} {} expires in {} days ({}), within the {warn_days}-day warning period",
            path.display(),
            info.days_left,
            info.not_after
        ));
    }
    Ok(())
}
