//! Chain verification and root comparison.

use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use super::info::{fingerprint, rfc3339};
use super::pem::{self, Origin};
use super::{CertError, Result};

/// Checks that each certificate of `chain_pem` is signed by the next one and the last by the root
/// in `root_pem` (the chain may or may not end with the root itself), that every issuer is a CA
/// whose path length allows the certificates below it, and that all of them are valid now.
pub fn verify_chain(chain_pem: &str, root_pem: &str) -> Result<()> {
    let chain_origin = Origin::input("certificate chain");
    let root_origin = Origin::input("root certificate");
    let mut ders = pem::certificates(chain_pem, &chain_origin)?;
    let root = pem::single_certificate(root_pem, &root_origin)?;
    if ders.last() == Some(&root) {
        ders.pop();
    } else if let Some(last) = ders.last() {
        let last_cert = pem::parse(last, &chain_origin)?;
        if last_cert.subject().as_raw() == last_cert.issuer().as_raw() {
            return Err(CertError::InvalidChain(format!(
                "it ends at a different root ({:?}, SHA-256 {}) than the expected root (SHA-256 {})",
                last_cert.subject().to_string(),
                fingerprint(last),
                fingerprint(&root)
            )));
        }
    }
    let mut certs = Vec::with_capacity(ders.len() + 1);
    for der in &ders {
        certs.push(pem::parse(der, &chain_origin)?);
    }
    certs.push(pem::parse(&root, &root_origin)?);

    let now = OffsetDateTime::now_utc().unix_timestamp();
    for (position, cert) in certs.iter().enumerate() {
        check_valid_at(cert, now).map_err(|reason| {
            CertError::InvalidChain(format!("{}: {reason}", describe(position, cert)))
        })?;
    }
    for (position, pair) in certs.windows(2).enumerate() {
        let (child, issuer) = (&pair[0], &pair[1]);
        let issuer_position = position + 1;
        check_issued_by(child, issuer, position + 1).map_err(|reason| {
            CertError::InvalidChain(format!(
                "{} is not validly issued by {}: {reason}",
                describe(position, child),
                describe(issuer_position, issuer)
            ))
        })?;
    }
    let root_cert = &certs[certs.len() - 1];
    check_issued_by(root_cert, root_cert, 0).map_err(|reason| {
        CertError::InvalidChain(format!(
            "the root {} is not a self-signed CA: {reason}",
            describe(certs.len() - 1, root_cert)
        ))
    })
}

fn describe(position: usize, cert: &X509Certificate<'_>) -> String {
    format!(
        "certificate {} ({:?})",
        position + 1,
        cert.subject().to_string()
    )
}

pub(crate) fn check_valid_at(
    cert: &X509Certificate<'_>,
    now: i64,
) -> std::result::Result<(), String> {
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if now < not_before {
        return Err(format!("not valid before {}", rfc3339(not_before)));
    }
    if now > not_after {
        return Err(format!("expired on {}", rfc3339(not_after)));
    }
    Ok(())
}

/// `certs_below` counts the certificates below `issuer` down to and including the leaf (0 for a
/// self-signature check), so the issuer's pathlen can be checked; the leaf does not count.
pub(crate) fn check_issued_by(
    child: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    certs_below: usize,
) -> std::result::Result<(), String> {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(format!("its issuer is {:?}", child.issuer().to_string()));
    }
    let constraints = issuer
        .basic_constraints()
        .map_err(|e| format!("the issuer's basicConstraints are unreadable ({e})"))?
        .map(|ext| ext.value);
    let Some(constraints) = constraints.filter(|c| c.ca) else {
        return Err("the issuer is not a CA".to_string());
    };
    if let Some(path_len) = constraints.path_len_constraint {
        let intermediates_below = certs_below.saturating_sub(1) as u64;
        if intermediates_below > u64::from(path_len) {
            return Err(format!(
                "the issuer's pathlen:{path_len} forbids this chain length"
            ));
        }
    }
    child
        .verify_signature(Some(issuer.public_key()))
        .map_err(|e| format!("signature check failed ({e})"))
}

/// One root certificate, as shown when comparing roots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RootIdentity {
    pub subject: String,
    pub fingerprint_sha256: String,
    pub not_after: String,
}

/// Our root against the root(s) found in a cluster's live `cacerts` Secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RootComparison {
    /// True only when the live root is exactly our root (same certificate).
    pub same: bool,
    /// True when our root is one of several live roots (a root bundle during a migration).
    pub ours_included: bool,
    pub ours: RootIdentity,
    pub live: Vec<RootIdentity>,
    /// One sentence a playbook can show.
    pub message: String,
}

/// Compares our root with the `root-cert.pem` of a cluster's existing `cacerts` Secret, so a
/// playbook can refuse to overwrite a Secret whose root differs.
pub fn compare_roots(ours_pem: &str, live_root_pem: &str) -> Result<RootComparison> {
    let ours_origin = Origin::input("our root certificate");
    let live_origin = Origin::input("live cacerts root-cert.pem");
    let ours_der = pem::single_certificate(ours_pem, &ours_origin)?;
    let live_ders = pem::certificates(live_root_pem, &live_origin)?;
    let ours = identity(&ours_der, &ours_origin)?;
    let live = live_ders
        .iter()
        .map(|der| identity(der, &live_origin))
        .collect::<Result<Vec<_>>>()?;
    let ours_included = live_ders.contains(&ours_der);
    let same = ours_included && live_ders.len() == 1;
    let message = if same {
        format!("the live root is our root ({})", ours.fingerprint_sha256)
    } else if ours_included {
        format!(
            "the live root bundle holds {} certificates, ours ({}) among them",
            live.len(),
            ours.fingerprint_sha256
        )
    } else {
        let live_text = live
            .iter()
            .map(|r| format!("{:?} {}", r.subject, r.fingerprint_sha256))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "the live root differs from ours: live {live_text}; ours {:?} {}",
            ours.subject, ours.fingerprint_sha256
        )
    };
    Ok(RootComparison {
        same,
        ours_included,
        ours,
        live,
        message,
    })
}

fn identity(der: &[u8], origin: &Origin) -> Result<RootIdentity> {
    let cert = pem::parse(der, origin)?;
    Ok(RootIdentity {
        subject: cert.subject().to_string(),
        fingerprint_sha256: fingerprint(der),
        not_after: rfc3339(cert.validity().not_after.timestamp()),
    })
}
