//! The mesh's root CA: loaded when present, created otherwise, never replaced.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{Issuer, KeyPair};
use serde::Serialize;

use super::chain::check_issued_by;
use super::expiry::expiry_check;
use super::file_names::{ROOT_CERT, ROOT_KEY};
use super::files::{self, Content};
use super::info::{describe, CertInfo};
use super::pem::{self, Origin};
use super::{profile, CaOptions, CertError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RootStatus {
    Created,
    Loaded,
}

/// The root CA with its private key in memory (needed to sign intermediates).
/// `Debug` and serialisation leave the key out; clones share the key.
#[derive(Clone, Serialize)]
pub struct RootCa {
    pub status: RootStatus,
    pub dir: PathBuf,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert: CertInfo,
    pub warnings: Vec<String>,
    #[serde(skip)]
    cert_pem: String,
    #[serde(skip)]
    cert_der: Vec<u8>,
    #[serde(skip)]
    not_after_unix: i64,
    #[serde(skip)]
    key: Arc<KeyPair>,
}

impl fmt::Debug for RootCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCa")
            .field("status", &self.status)
            .field("dir", &self.dir)
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("cert", &self.cert)
            .field("warnings", &self.warnings)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl RootCa {
    /// The root certificate exactly as stored in `root-cert.pem`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub(crate) fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub(crate) fn not_after_unix(&self) -> i64 {
        self.not_after_unix
    }

    pub(crate) fn issuer(&self) -> Result<Issuer<'static, &KeyPair>> {
        Issuer::from_ca_cert_der(&self.cert_der.clone().into(), self.key.as_ref()).map_err(|e| {
            CertError::crypto(format!("using the root CA {}", self.cert_path.display()), e)
        })
    }
}

/// Loads `dir/root-cert.pem` and `dir/root-key.pem` when both exist, creates them when neither
/// does, and refuses when only one exists (a new root would silently split the mesh).
pub fn root_ca(dir: impl AsRef<Path>, options: &CaOptions) -> Result<RootCa> {
    let dir = dir.as_ref();
    let cert_path = dir.join(ROOT_CERT);
    let key_path = dir.join(ROOT_KEY);
    // Bad options are refused before the directory is created (to hold the lock).
    profile::root_params(options)?;
    // Held until this process exits: every later write under `dir` is this runner's alone.
    files::lock_ca_dir(
        dir,
        std::time::Duration::from_secs(options.lock_wait_secs.into()),
    )?;
    match (exists(&cert_path)?, exists(&key_path)?) {
        (true, true) => load(dir, cert_path, key_path, options),
        (false, false) => make(dir, cert_path, key_path, options, Write::Files),
        (true, false) => Err(half_present(&cert_path, &key_path)),
        (false, true) => Err(half_present(&key_path, &cert_path)),
    }
}

/// What `root_ca` would do, with nothing written: an existing root is loaded (read only), a
/// missing one is made in memory (a plan signs with it and forgets it).
pub fn plan_root_ca(dir: impl AsRef<Path>, options: &CaOptions) -> Result<RootCa> {
    let dir = dir.as_ref();
    let cert_path = dir.join(ROOT_CERT);
    let key_path = dir.join(ROOT_KEY);
    match (exists(&cert_path)?, exists(&key_path)?) {
        (true, true) => load(dir, cert_path, key_path, options),
        (false, false) => make(dir, cert_path, key_path, options, Write::Nothing),
        (true, false) => Err(half_present(&cert_path, &key_path)),
        (false, true) => Err(half_present(&key_path, &cert_path)),
    }
}

/// Whether creating a CA writes its files (a run) or keeps them in memory (a plan).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    Files,
    Nothing,
}

pub(crate) fn exists(path: &Path) -> Result<bool> {
    path.try_exists().map_err(|e| CertError::io(path, e))
}

fn half_present(present: &Path, missing: &Path) -> CertError {
    CertError::Incomplete(format!(
        "{} exists but {} is missing; refusing to create a new root CA that would replace the \
         existing one and break mTLS across the mesh. Restore the missing file, or move {} away \
         to start a new mesh root deliberately",
        present.display(),
        missing.display(),
        present.display()
    ))
}

fn load(dir: &Path, cert_path: PathBuf, key_path: PathBuf, options: &CaOptions) -> Result<RootCa> {
    let origin = Origin::File(cert_path.clone());
    let cert_pem = files::read_text(&cert_path)?;
    let cert_der = pem::single_certificate(&cert_pem, &origin)?;
    let key = pem::read_key(&key_path)?;
    let cert = pem::parse(&cert_der, &origin)?;
    let not_after_unix = cert.validity().not_after.timestamp();
    if !pem::key_matches(&key, &cert) {
        return Err(CertError::KeyMismatch {
            cert: cert_path,
            key: key_path,
        });
    }
    check_issued_by(&cert, &cert, 0)
        .map_err(|reason| origin.error(format!("is not a self-signed CA certificate: {reason}")))?;
    let info = describe(&cert_der, &origin)?;
    let mut warnings = Vec::new();
    expiry_check(
        &info,
        &cert_path,
        options.expiry_warn_days,
        "root CA",
        ROOT_EXPIRED_HINT,
        &mut warnings,
    )?;
    warnings.extend(files::key_mode_warning(&key_path));
    if info.key_type != Some(options.key_type) {
        warnings.push(format!(
            "the existing root CA key is {}-{}; the key_type option ({}) only applies to new CAs",
            info.key_algorithm, info.key_bits, options.key_type
        ));
    }
    Ok(RootCa {
        status: RootStatus::Loaded,
        dir: dir.to_path_buf(),
        cert_path,
        key_path,
        cert: info,
        warnings,
        cert_pem,
        cert_der,
        not_after_unix,
        key: Arc::new(key),
    })
}

const ROOT_EXPIRED_HINT: &str = "an expired root cannot sign intermediates and every cluster \
    trusting it fails mTLS; a new mesh root must be created and rolled out deliberately";

fn make(
    dir: &Path,
    cert_path: PathBuf,
    key_path: PathBuf,
    options: &CaOptions,
    write: Write,
) -> Result<RootCa> {
    let params = profile::root_params(options)?;
    let mut warnings = Vec::new();
    let key = options.key_type.generate()?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| CertError::crypto("signing the root CA certificate", e))?;
    let cert_pem = cert.pem();
    let cert_der = cert.der().to_vec();
    if write == Write::Files {
        warnings = files::ensure_private_dir(dir)?;
        files::write_new(
            &key_path,
            key.serialize_pem().as_bytes(),
            Content::PrivateKey,
        )?;
        if let Err(e) = files::write_new(&cert_path, cert_pem.as_bytes(), Content::Certificate) {
            // Without its certificate the key would block every later run as a half-present root.
            let _ = std::fs::remove_file(&key_path);
            return Err(e);
        }
    }
    let info = describe(&cert_der, &Origin::File(cert_path.clone()))?;
    let not_after_unix = params.not_after.unix_timestamp();
    expiry_check(
        &info,
        &cert_path,
        options.expiry_warn_days,
        "root CA",
        ROOT_EXPIRED_HINT,
        &mut warnings,
    )?;
    Ok(RootCa {
        status: RootStatus::Created,
        dir: dir.to_path_buf(),
        cert_path,
        key_path,
        cert: info,
        warnings,
        cert_pem,
        cert_der,
        not_after_unix,
        key: Arc::new(key),
    })
}
