//! Explicit rotation of a cluster's intermediate, keeping the root and a backup of the old files.

use std::fs::{self, DirBuilder};
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use time::macros::format_description;
use time::OffsetDateTime;

use super::intermediate::{
    check_signed_by_root, create, make, IntermediateCa, IntermediateStatus, Layout, PlannedFiles,
};
use super::pem;
use super::root::Write;
use super::{files, profile, CaOptions, CertError, Result, RootCa};

/// Replaces `<dir>/<cluster>/`'s intermediate with a new one issued by the same root, moving
/// the previous files into `<cluster>/backup-<UTC timestamp>/`. An intermediate issued by
/// another root is refused, as in [`super::intermediate_ca`]; unreadable or expired ones are rotated.
pub fn rotate_intermediate(
    root: &RootCa,
    dir: impl AsRef<Path>,
    cluster: &str,
    options: &CaOptions,
) -> Result<IntermediateCa> {
    let layout = Layout::new(dir.as_ref(), cluster)?;
    let present = layout.present()?;
    if present.is_empty() {
        return create(root, &layout, options, IntermediateStatus::Created);
    }
    refuse_foreign(root, &layout, &present)?;
    // Validate options before moving anything, so a bad option leaves the files in place.
    profile::intermediate_params(options, &layout.cluster, i64::MAX)?;
    let backup = create_backup_dir(&layout.dir)?;
    for path in &present {
        let Some(name) = path.file_name() else {
            continue;
        };
        let target = backup.join(name);
        fs::rename(path, &target).map_err(|e| CertError::io(path, e))?;
    }
    files::sync_dir(&backup)?;
    files::sync_dir(&layout.dir)?;
    let mut rotated = create(root, &layout, options, IntermediateStatus::Rotated)?;
    rotated.backup_dir = Some(backup);
    Ok(rotated)
}

/// What `rotate_intermediate` would do, with nothing moved or written: the new intermediate is
/// made in memory.
pub fn plan_rotate_intermediate(
    root: &RootCa,
    dir: impl AsRef<Path>,
    cluster: &str,
    options: &CaOptions,
) -> Result<(IntermediateCa, PlannedFiles)> {
    let layout = Layout::new(dir.as_ref(), cluster)?;
    let present = layout.present()?;
    let status = if present.is_empty() {
        IntermediateStatus::Created
    } else {
        refuse_foreign(root, &layout, &present)?;
        IntermediateStatus::Rotated
    };
    make(root, &layout, options, status, Write::Nothing)
}

/// Only a readable certificate that names another issuer proves a foreign root; anything less
/// (missing, corrupt) is what rotation exists to repair.
fn refuse_foreign(root: &RootCa, layout: &Layout, present: &[PathBuf]) -> Result<()> {
    if !present.contains(&layout.ca_cert) {
        return Ok(());
    }
    let Ok(ca_der) = pem::read_single_certificate(&layout.ca_cert) else {
        return Ok(());
    };
    check_signed_by_root(root, layout, &ca_der)
}

fn create_backup_dir(cluster_dir: &Path) -> Result<PathBuf> {
    let stamp = OffsetDateTime::now_utc()
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|e| CertError::crypto("formatting the backup time", e))?;
    for attempt in 0..100 {
        let name = if attempt == 0 {
            format!("backup-{stamp}")
        } else {
            format!("backup-{stamp}-{attempt}")
        };
        let path = cluster_dir.join(name);
        match DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CertError::io(&path, e)),
        }
    }
    Err(CertError::Incomplete(format!(
        "could not find a free backup folder name in {}",
        cluster_dir.display()
    )))
}
