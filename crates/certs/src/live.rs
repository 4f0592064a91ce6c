//! What a cluster's live `cacerts` Secret holds, in either layout istiod reads, and whether the
//! play may write its own there.
//!
//! istiod signs with `tls.crt`/`tls.key` (root `ca.crt`) whenever `tls.crt` exists — the layout
//! cert-manager writes — and otherwise with `ca-cert.pem`/`ca-key.pem` (root `root-cert.pem`).
//! A Secret's CA is replaced only by an explicit rotation: a different intermediate under the
//! same root still changes what istiod signs with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::chain::RootIdentity;
use super::file_names::{CA_CERT, ROOT_CERT};
use super::info::{fingerprint, rfc3339};
use super::pem::{self, Origin};
use super::{files, CertError, Result};

pub(crate) const TLS_CERT: &str = "tls.crt";
pub(crate) const TLS_KEY: &str = "tls.key";
pub(crate) const TLS_ROOT: &str = "ca.crt";

/// Which of istiod's two layouts a `cacerts` Secret uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `ca-cert.pem`, `ca-key.pem`, `cert-chain.pem`, `root-cert.pem` (Istio's Makefile, runner).
    Istio,
    /// `tls.crt`, `tls.key`, `ca.crt` (a `kubernetes.io/tls` Secret, cert-manager).
    Tls,
}

/// The CA a live `cacerts` Secret makes istiod use; no key material.
#[derive(Clone, Debug, Serialize)]
pub struct LiveCacerts {
    pub layout: Layout,
    pub keys: Vec<String>,
    /// The certificate istiod signs with (`ca-cert.pem` or `tls.crt`).
    pub intermediate: RootIdentity,
    /// Every root of the root file (`root-cert.pem` or `ca.crt`); several during a root rotation.
    pub roots: Vec<RootIdentity>,
}

impl LiveCacerts {
    fn signing_key(&self) -> &'static str {
        match self.layout {
            Layout::Istio => CA_CERT,
            Layout::Tls => TLS_CERT,
        }
    }

    fn root_key(&self) -> &'static str {
        match self.layout {
            Layout::Istio => ROOT_CERT,
            Layout::Tls => TLS_ROOT,
        }
    }

    /// One line naming the intermediate: subject and SHA-256 fingerprint.
    pub fn describe(&self) -> String {
        format!(
            "{:?} (SHA-256 {}, {} layout)",
            self.intermediate.subject,
            self.intermediate.fingerprint_sha256,
            match self.layout {
                Layout::Istio => "ca-cert.pem",
                Layout::Tls => "tls.crt",
            }
        )
    }
}

/// Reads a live `cacerts` Secret's decoded data as istiod would. `cluster` names it in errors.
pub fn inspect_cacerts(cluster: &str, data: &BTreeMap<String, String>) -> Result<LiveCacerts> {
    let keys: Vec<String> = data.keys().cloned().collect();
    let layout = if data.contains_key(TLS_CERT) {
        Layout::Tls
    } else if data.contains_key(CA_CERT) {
        Layout::Istio
    } else {
        return Err(CertError::LiveCacerts(format!(
            "{cluster}: istio-system/cacerts has neither {TLS_CERT} nor {CA_CERT} (keys: {}); istiod \
             cannot sign with it and the play will not add its keys to it. Delete it, or give it \
             the keys of one layout (tls.crt/tls.key/ca.crt or ca-cert.pem/ca-key.pem/cert-chain.pem/root-cert.pem)",
            keys.join(", ")
        )));
    };
    let mut live = LiveCacerts {
        layout,
        keys,
        intermediate: RootIdentity {
            subject: String::new(),
            fingerprint_sha256: String::new(),
            not_after: String::new(),
        },
        roots: Vec::new(),
    };
    let text = |key: &str| {
        data.get(key).ok_or_else(|| {
            CertError::LiveCacerts(format!(
                "{cluster}: istio-system/cacerts has {} but no {key}: istiod cannot use it",
                live_signing_key(layout)
            ))
        })
    };
    let signing_origin = Origin::Input(format!("{cluster}: cacerts {}", live.signing_key()));
    let signing = pem::certificates(text(live.signing_key())?, &signing_origin)?;
    live.intermediate = identity(&signing[0], &signing_origin)?;
    let root_origin = Origin::Input(format!("{cluster}: cacerts {}", live.root_key()));
    for der in pem::certificates(text(live.root_key())?, &root_origin)? {
        live.roots.push(identity(&der, &root_origin)?);
    }
    Ok(live)
}

fn live_signing_key(layout: Layout) -> &'static str {
    match layout {
        Layout::Istio => CA_CERT,
        Layout::Tls => TLS_CERT,
    }
}

fn identity(der: &[u8], origin: &Origin) -> Result<RootIdentity> {
    let cert = pem::parse(der, origin)?;
    Ok(RootIdentity {
        subject: cert.subject().to_string(),
        fingerprint_sha256: fingerprint(der),
        not_after: rfc3339(cert.validity().not_after.timestamp()),
    })
}

/// Our side of the comparison: the certificates of `<certs_dir>/root-cert.pem` and of
/// `<certs_dir>/<cert_dir>/ca-cert.pem`, either of which may not exist yet.
pub struct Ours {
    pub certs_dir: PathBuf,
    pub cert_dir: String,
    pub root_pem: Option<String>,
    pub intermediate_pem: Option<String>,
}

impl Ours {
    /// Reads what exists on disk; nothing is created.
    pub fn read(certs_dir: &Path, cert_dir: &str) -> Result<Ours> {
        let read = |path: PathBuf| -> Result<Option<String>> {
            if path.exists() {
                files::read_text(&path).map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(Ours {
            certs_dir: certs_dir.to_path_buf(),
            cert_dir: cert_dir.to_string(),
            root_pem: read(certs_dir.join(ROOT_CERT))?,
            intermediate_pem: read(certs_dir.join(cert_dir).join(CA_CERT))?,
        })
    }
}

/// Who the cluster is, for the commands an explanation gives.
pub struct Target<'a> {
    pub cluster: &'a str,
    pub context: &'a str,
    /// How the playbook names certs.dir and the cluster's directory (relative to the project root).
    pub shown_certs_dir: &'a str,
    pub shown_dir: &'a str,
}

/// What the play may do with a cluster's `cacerts`.
#[derive(Clone, Debug, Serialize)]
pub struct CacertsVerdict {
    /// `apply`: write ours (creates it, or changes nothing the server holds differently);
    /// `keep`: leave the live Secret alone (a root bundle, or another layout with our root).
    pub action: &'static str,
    pub live: Option<LiveCacerts>,
    /// What a playbook should tell the user about the live Secret.
    pub notes: Vec<String>,
}

/// Decides whether our `cacerts` may be written over the live one. Refuses (nothing written)
/// a foreign root in either layout, and any intermediate other than ours unless `rotation`.
pub fn check_cacerts(
    target: &Target<'_>,
    ours: &Ours,
    live_data: Option<&BTreeMap<String, String>>,
    rotation: bool,
) -> Result<CacertsVerdict> {
    let Some(data) = live_data else {
        return Ok(CacertsVerdict {
            action: "apply",
            live: None,
            notes: Vec::new(),
        });
    };
    let live = inspect_cacerts(target.cluster, data)?;
    let mut notes = Vec::new();
    let Some(root_pem) = &ours.root_pem else {
        return Err(CertError::ForeignRoot(format!(
            "{}: istio-system/cacerts already holds a CA (intermediate {}, root {}), and {} has \
             no root CA: a new one would be a second root, and replacing the secret would break \
             mTLS between this cluster and the mesh. Nothing was written. Put the root this \
             secret was made with (root-cert.pem and root-key.pem, for example from Istio's \
             Makefile directory) into {}, and run again",
            target.cluster,
            live.describe(),
            roots_text(&live.roots),
            target.shown_certs_dir,
            target.shown_certs_dir
        )));
    };
    let ours_root = pem::single_certificate(root_pem, &Origin::input("our root-cert.pem"))?;
    let ours_root_fp = fingerprint(&ours_root);
    if !live
        .roots
        .iter()
        .any(|r| r.fingerprint_sha256 == ours_root_fp)
    {
        return Err(CertError::ForeignRoot(format!(
            "{}: istio-system/cacerts ({}) holds a different root CA: live {}; ours SHA-256 {}. \
             Replacing it would break mTLS between this cluster and the mesh; nothing was \
             written. Remove the secret yourself if you really mean to re-key this cluster",
            target.cluster,
            live.root_key(),
            roots_text(&live.roots),
            ours_root_fp
        )));
    }
    if live.roots.len() > 1 {
        let others: Vec<RootIdentity> = live
            .roots
            .iter()
            .filter(|r| r.fingerprint_sha256 != ours_root_fp)
            .cloned()
            .collect();
        notes.push(format!(
            "{}: cacerts {} is a bundle of {} roots: ours and {}",
            target.cluster,
            live.root_key(),
            live.roots.len(),
            roots_text(&others)
        ));
    }
    if rotation && live.roots.len() > 1 {
        return Err(CertError::LiveCacerts(format!(
            "{}: istio-system/cacerts {} holds {} roots: a root rotation is under way. Replacing it \
             with a single root would end that rotation for this cluster; nothing was written. \
             Finish the root rotation first, then rotate the intermediate",
            target.cluster,
            live.root_key(),
            live.roots.len()
        )));
    }
    if rotation && live.layout == Layout::Tls {
        return Err(CertError::LiveCacerts(format!(
            "{}: istio-system/cacerts is kept by its owner in another layout ({TLS_CERT}/{TLS_KEY}/{TLS_ROOT}, \
             as cert-manager writes); rotate its intermediate there. Nothing was written",
            target.cluster
        )));
    }
    if live.layout == Layout::Tls {
        notes.push(format!(
            "{}: istio-system/cacerts is a {TLS_CERT}/{TLS_KEY}/{TLS_ROOT} secret (as cert-manager \
             writes) under our root; istiod signs with its intermediate {}. It is left as it is: \
             its owner renews it, and keys of another layout are never merged into it",
            target.cluster,
            live.describe()
        ));
        return Ok(CacertsVerdict {
            action: "keep",
            live: Some(live),
            notes,
        });
    }
    let ours_intermediate = match &ours.intermediate_pem {
        Some(text) => Some(fingerprint(
            &pem::certificates(
                text,
                &Origin::File(ours.certs_dir.join(&ours.cert_dir).join(CA_CERT)),
            )?[0],
        )),
        None => None,
    };
    let same_intermediate =
        ours_intermediate.as_deref() == Some(live.intermediate.fingerprint_sha256.as_str());
    if !same_intermediate && !rotation {
        return Err(CertError::IntermediateDiffers(intermediate_explanation(
            target,
            ours,
            &live,
            ours_intermediate.as_deref(),
        )));
    }
    // A root bundle is a rotation of the root in progress: our single root must not undo it.
    let action = if live.roots.len() > 1 {
        "keep"
    } else {
        "apply"
    };
    Ok(CacertsVerdict {
        action,
        live: Some(live),
        notes,
    })
}

fn roots_text(roots: &[RootIdentity]) -> String {
    roots
        .iter()
        .map(|r| format!("{:?} (SHA-256 {})", r.subject, r.fingerprint_sha256))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The two ways forward when the live intermediate is not ours: adopt it, or rotate on purpose.
fn intermediate_explanation(
    target: &Target<'_>,
    ours: &Ours,
    live: &LiveCacerts,
    ours_fingerprint: Option<&str>,
) -> String {
    let dir = target.shown_dir;
    let what_we_have = match ours_fingerprint {
        Some(fp) => format!("{dir} holds another one (SHA-256 {fp})"),
        None => format!("{dir} does not exist, so the play would make a new one"),
    };
    let mut text = format!(
        "{}: istio-system/cacerts holds the intermediate CA {} under our root; {what_we_have}. \
         Replacing the live one would change the CA istiod signs workload certificates with, so \
         nothing was written. Either:\n",
        target.cluster,
        live.describe()
    );
    let certs_dir = target.shown_certs_dir;
    match find_directory_holding(&ours.certs_dir, &live.intermediate.fingerprint_sha256) {
        Some(found) => text.push_str(&format!(
            "  - adopt it: {certs_dir}/{found} already holds exactly this intermediate (Istio's \
             Makefile names directories this way); add `cert_dir: {found}` to {} in the vars \
             and run again, or\n",
            target.cluster
        )),
        None => {
            let context = if target.context.is_empty() {
                target.cluster
            } else {
                target.context
            };
            text.push_str(&format!(
                "  - adopt it: copy the live CA into {dir}{}:\n      mkdir -m 700 -p {dir}\n",
                if ours_fingerprint.is_some() {
                    " after moving that directory away"
                } else {
                    ""
                }
            ));
            for key in [
                "ca-cert.pem",
                "ca-key.pem",
                "cert-chain.pem",
                "root-cert.pem",
            ] {
                let escaped = key.replace('.', "\\.");
                text.push_str(&format!(
                    "      kubectl --context {context} -n istio-system get secret cacerts -o jsonpath='{{.data.{escaped}}}' | base64 -d > {dir}/{key}\n"
                ));
            }
            text.push_str(&format!(
                "      chmod 600 {dir}/ca-key.pem\n    (or set `cert_dir` for {} in the vars to a directory that already holds it), or\n",
                target.cluster
            ));
        }
    }
    text.push_str(&format!(
        "  - rotate deliberately: a step calling mesh::rotate_intermediate(cluster, spec, vars.certs, \
         wait_seconds) from playbooks/lib/mesh.rhai makes a new intermediate in {dir} under the \
         same root, replaces cacerts with it as a rotation and restarts istiod (workloads keep \
         their certificates until they renew them, all under the same root)"
    ));
    text
}

/// A directory under `certs_dir` whose `ca-cert.pem` is the certificate with this fingerprint.
fn find_directory_holding(certs_dir: &Path, wanted: &str) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(certs_dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names.into_iter().find(|name| {
        let path = certs_dir.join(name).join(CA_CERT);
        files::read_text(&path)
            .ok()
            .and_then(|text| pem::certificates(&text, &Origin::File(path.clone())).ok())
            .is_some_and(|ders| fingerprint(&ders[0]) == wanted)
    })
}
