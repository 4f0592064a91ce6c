//! Per-cluster intermediate CAs, laid out as Istio's `<cluster>-cacerts` Make target does.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::chain::check_issued_by;
use super::cluster_name::validate_cluster_name;
use super::expiry::expiry_check;
use super::file_names::{CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT};
use super::files::{self, Content};
use super::info::{describe, fingerprint, CertInfo};
use super::pem::{self, Origin};
use super::root::{exists, Write};
use super::{profile, CaOptions, CertError, Result, RootCa};

const CLUSTER_FILES: [&str; 4] = [CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN];
const EXPIRED_HINT: &str =
    "rotate it with rotate_intermediate (the old files are kept in a backup folder)";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IntermediateStatus {
    Created,
    Reused,
    Rotated,
}

/// A cluster's intermediate CA on disk. Holds no key material.
#[derive(Clone, Debug, Serialize)]
pub struct IntermediateCa {
    pub status: IntermediateStatus,
    pub cluster: String,
    pub dir: PathBuf,
    pub ca_cert_path: PathBuf,
    pub ca_key_path: PathBuf,
    pub root_cert_path: PathBuf,
    pub cert_chain_path: PathBuf,
    pub cert: CertInfo,
    /// Where rotation moved the previous files.
    pub backup_dir: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// The four files of a cluster's intermediate as a plan made them, in memory only. Holds the
/// private key: `Debug` leaves it out, and nothing here is ever written.
#[derive(Clone)]
pub struct PlannedFiles {
    pub ca_cert: String,
    pub ca_key: String,
    pub cert_chain: String,
    pub root_cert: String,
}

impl std::fmt::Debug for PlannedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedFiles")
            .field("ca_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

pub(crate) struct Layout {
    pub(crate) cluster: String,
    pub(crate) dir: PathBuf,
    pub(crate) ca_cert: PathBuf,
    pub(crate) ca_key: PathBuf,
    pub(crate) root_cert: PathBuf,
    pub(crate) cert_chain: PathBuf,
}

impl Layout {
    pub(crate) fn new(dir: &Path, cluster: &str) -> Result<Self> {
        validate_cluster_name(cluster)?;
        let cluster_dir = dir.join(cluster);
        Ok(Layout {
            cluster: cluster.to_string(),
            ca_cert: cluster_dir.join(CA_CERT),
            ca_key: cluster_dir.join(CA_KEY),
            root_cert: cluster_dir.join(ROOT_CERT),
            cert_chain: cluster_dir.join(CERT_CHAIN),
            dir: cluster_dir,
        })
    }

    pub(crate) fn present(&self) -> Result<Vec<PathBuf>> {
        let mut present = Vec::new();
        for name in CLUSTER_FILES {
            let path = self.dir.join(name);
            if exists(&path)? {
                present.push(path);
            }
        }
        Ok(present)
    }

    fn result(
        &self,
        status: IntermediateStatus,
        cert: CertInfo,
        warnings: Vec<String>,
    ) -> IntermediateCa {
        IntermediateCa {
            status,
            cluster: self.cluster.clone(),
            dir: self.dir.clone(),
            ca_cert_path: self.ca_cert.clone(),
            ca_key_path: self.ca_key.clone(),
            root_cert_path: self.root_cert.clone(),
            cert_chain_path: self.cert_chain.clone(),
            cert,
            backup_dir: None,
            warnings,
        }
    }
}

/// Returns `<dir>/<cluster>/`'s intermediate: reused byte-identical when it was issued by `root`,
/// created when no file exists, refused (files untouched) when it belongs to another root or is
/// incomplete.
pub fn intermediate_ca(
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
    check_complete(&layout, &present)?;
    reuse(root, &layout, options)
}

/// What `intermediate_ca` would do, with nothing written: existing files are checked and reused
/// (read only); a missing intermediate is made in memory and returned with its files.
pub fn plan_intermediate_ca(
    root: &RootCa,
    dir: impl AsRef<Path>,
    cluster: &str,
    options: &CaOptions,
) -> Result<(IntermediateCa, Option<PlannedFiles>)> {
    let layout = Layout::new(dir.as_ref(), cluster)?;
    let present = layout.present()?;
    if present.is_empty() {
        let (ca, planned) = make(
            root,
            &layout,
            options,
            IntermediateStatus::Created,
            Write::Nothing,
        )?;
        return Ok((ca, Some(planned)));
    }
    check_complete(&layout, &present)?;
    Ok((reuse(root, &layout, options)?, None))
}

/// A partial set of files is refused: overwriting the ones that exist could lose a key.
fn check_complete(layout: &Layout, present: &[PathBuf]) -> Result<()> {
    if present.len() < CLUSTER_FILES.len() {
        let missing: Vec<String> = CLUSTER_FILES
            .iter()
            .map(|name| layout.dir.join(name))
            .filter(|path| !present.contains(path))
            .map(|path| path.display().to_string())
            .collect();
        return Err(CertError::Incomplete(format!(
            "cluster {:?}: the intermediate CA in {} is incomplete (missing {}); refusing to \
             overwrite the files that exist. Restore the missing files, or replace the \
             intermediate with rotate_intermediate (the current files go to a backup folder)",
            layout.cluster,
            layout.dir.display(),
            missing.join(", ")
        )));
    }
    Ok(())
}

fn reuse(root: &RootCa, layout: &Layout, options: &CaOptions) -> Result<IntermediateCa> {
    let ca_origin = Origin::File(layout.ca_cert.clone());
    let ca_der = pem::read_single_certificate(&layout.ca_cert)?;
    let ca_cert = pem::parse(&ca_der, &ca_origin)?;
    let key = pem::public_key_of(&layout.ca_key)?;
    if !key.matches(&ca_cert) {
        return Err(CertError::KeyMismatch {
            cert: layout.ca_cert.clone(),
            key: layout.ca_key.clone(),
        });
    }
    if !ca_cert.is_ca() {
        return Err(ca_origin.error("is not a CA certificate (basicConstraints CA:true missing)"));
    }
    check_signed_by_root(root, layout, &ca_der)?;

    let root_copy = pem::read_single_certificate(&layout.root_cert)?;
    if root_copy != root.cert_der() {
        return Err(foreign(
            root,
            layout,
            &layout.root_cert,
            &format!(
                "holds a different root (SHA-256 {})",
                fingerprint(&root_copy)
            ),
        ));
    }
    let chain_text = files::read_text(&layout.cert_chain)?;
    let chain = pem::certificates(&chain_text, &Origin::File(layout.cert_chain.clone()))?;
    if chain != [ca_der.clone(), root.cert_der().to_vec()] {
        let problem = format!(
            "is not {} followed by the mesh root",
            layout.ca_cert.display()
        );
        let chain_origin = Origin::File(layout.cert_chain.clone());
        let ends_at_other_root = match chain.last() {
            Some(last) if last != root.cert_der() => {
                let cert = pem::parse(last, &chain_origin)?;
                cert.subject().as_raw() == cert.issuer().as_raw()
            }
            _ => false,
        };
        return Err(if ends_at_other_root {
            foreign(root, layout, &layout.cert_chain, &problem)
        } else {
            CertError::corrupt(
                &layout.cert_chain,
                format!("{problem}; left untouched: restore it or use rotate_intermediate"),
            )
        });
    }

    let info = describe(&ca_der, &ca_origin)?;
    let mut warnings = Vec::new();
    expiry_check(
        &info,
        &layout.ca_cert,
        options.expiry_warn_days,
        &format!("intermediate CA of cluster {:?}", layout.cluster),
        EXPIRED_HINT,
        &mut warnings,
    )?;
    warnings.extend(files::key_mode_warning(&layout.ca_key));
    if info.key_type != Some(options.key_type) {
        warnings.push(format!(
            "the existing intermediate CA key of cluster {:?} is {}-{}; the key_type option ({}) \
             only applies to new CAs",
            layout.cluster, info.key_algorithm, info.key_bits, options.key_type
        ));
    }
    Ok(layout.result(IntermediateStatus::Reused, info, warnings))
}

pub(crate) fn check_signed_by_root(root: &RootCa, layout: &Layout, ca_der: &[u8]) -> Result<()> {
    let ca_cert = pem::parse(ca_der, &Origin::File(layout.ca_cert.clone()))?;
    let root_cert = pem::parse(root.cert_der(), &Origin::File(root.cert_path.clone()))?;
    check_issued_by(&ca_cert, &root_cert, 1).map_err(|reason| {
        foreign(
            root,
            layout,
            &layout.ca_cert,
            &format!(
                "was not issued by the mesh root ({reason}; its issuer is {:?})",
                ca_cert.issuer().to_string()
            ),
        )
    })
}

fn foreign(root: &RootCa, layout: &Layout, file: &Path, problem: &str) -> CertError {
    CertError::ForeignRoot(format!(
        "cluster {:?}: {} {problem}. The mesh root is {} ({:?}, SHA-256 {}). The files in {} \
         belong to another CA and were left untouched: replacing them would break mTLS between \
         this cluster and the mesh. Move that directory away deliberately, or use the root CA \
         they were made with",
        layout.cluster,
        file.display(),
        root.cert_path.display(),
        root.cert.subject,
        root.cert.fingerprint_sha256,
        layout.dir.display()
    ))
}

pub(crate) fn create(
    root: &RootCa,
    layout: &Layout,
    options: &CaOptions,
    status: IntermediateStatus,
) -> Result<IntermediateCa> {
    make(root, layout, options, status, Write::Files).map(|(ca, _)| ca)
}

pub(crate) fn make(
    root: &RootCa,
    layout: &Layout,
    options: &CaOptions,
    status: IntermediateStatus,
    write: Write,
) -> Result<(IntermediateCa, PlannedFiles)> {
    let (params, cap_warning) =
        profile::intermediate_params(options, &layout.cluster, root.not_after_unix())?;
    let mut warnings = match write {
        Write::Files => files::ensure_private_dir(&layout.dir)?,
        Write::Nothing => Vec::new(),
    };
    warnings.extend(cap_warning);
    let key = options.key_type.generate()?;
    let issuer = root.issuer()?;
    let cert = params.signed_by(&key, &issuer).map_err(|e| {
        CertError::crypto(
            format!(
                "signing the intermediate CA of cluster {:?}",
                layout.cluster
            ),
            e,
        )
    })?;
    let ca_pem = cert.pem();
    let root_pem = root.cert_pem();
    let mut chain_pem = ca_pem.clone();
    if !chain_pem.ends_with('\n') {
        chain_pem.push('\n');
    }
    chain_pem.push_str(root_pem);

    let key_pem = key.serialize_pem();
    let writes: [(&Path, &[u8], Content); 4] = [
        (&layout.ca_key, key_pem.as_bytes(), Content::PrivateKey),
        (&layout.ca_cert, ca_pem.as_bytes(), Content::Certificate),
        (&layout.root_cert, root_pem.as_bytes(), Content::Certificate),
        (
            &layout.cert_chain,
            chain_pem.as_bytes(),
            Content::Certificate,
        ),
    ];
    if write == Write::Files {
        write_all_or_nothing(&writes)?;
    }

    let info = describe(cert.der(), &Origin::File(layout.ca_cert.clone()))?;
    expiry_check(
        &info,
        &layout.ca_cert,
        options.expiry_warn_days,
        &format!("intermediate CA of cluster {:?}", layout.cluster),
        EXPIRED_HINT,
        &mut warnings,
    )?;
    let planned = PlannedFiles {
        root_cert: root_pem.to_string(),
        ca_cert: ca_pem,
        ca_key: key_pem,
        cert_chain: chain_pem,
    };
    Ok((layout.result(status, info, warnings), planned))
}

/// A half-written set would block later runs as incomplete, so files written by a failed
/// attempt are removed again.
fn write_all_or_nothing(writes: &[(&Path, &[u8], Content)]) -> Result<()> {
    for (done, (path, bytes, content)) in writes.iter().enumerate() {
        if let Err(e) = files::write_new(path, bytes, *content) {
            for (written, _, _) in &writes[..done] {
                let _ = fs::remove_file(written);
            }
            return Err(e);
        }
    }
    Ok(())
}
