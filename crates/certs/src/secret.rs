//! The `cacerts` Secret istiod reads its CA from.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};

use super::chain::verify_chain;
use super::file_names::{CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT};
use super::pem::{self, Origin};
use super::{files, CertError, PlannedFiles, Result};

/// The `cacerts` Secret manifest (namespace `istio-system`) built from a cluster directory made by
/// [`super::intermediate_ca`]. The files are checked to fit together (key matches certificate,
/// chain starts with the certificate and leads to the root) so istiod never gets a broken CA.
/// The result holds the intermediate's private key: callers must redact it in anything shown.
pub fn cacerts_secret(cluster_dir: impl AsRef<Path>) -> Result<Value> {
    let dir = cluster_dir.as_ref();
    let read = |name: &str| files::read_text(&dir.join(name));
    let files = PlannedFiles {
        ca_cert: read(CA_CERT)?,
        ca_key: read(CA_KEY)?,
        cert_chain: read(CERT_CHAIN)?,
        root_cert: read(ROOT_CERT)?,
    };
    cacerts_secret_of(dir, &files)
}

/// The `cacerts` Secret of an intermediate a plan made in memory; `cluster_dir` names it in errors.
pub fn cacerts_secret_of(cluster_dir: impl AsRef<Path>, files: &PlannedFiles) -> Result<Value> {
    let dir = cluster_dir.as_ref();
    let PlannedFiles {
        ca_cert,
        ca_key,
        cert_chain,
        root_cert,
    } = files;

    let ca_path = dir.join(CA_CERT);
    let chain_path = dir.join(CERT_CHAIN);
    let ca_origin = Origin::File(ca_path.clone());
    let ca_der = pem::single_certificate(ca_cert, &ca_origin)?;
    // The key text the secret will carry, not a second read that could see another file.
    let key = pem::public_key_in(ca_key, &Origin::File(dir.join(CA_KEY)))?;
    if !key.matches(&pem::parse(&ca_der, &ca_origin)?) {
        return Err(CertError::KeyMismatch {
            cert: ca_path,
            key: dir.join(CA_KEY),
        });
    }
    pem::single_certificate(root_cert, &Origin::File(dir.join(ROOT_CERT)))?;
    let chain = pem::certificates(cert_chain, &Origin::File(chain_path.clone()))?;
    if chain.first() != Some(&ca_der) {
        return Err(CertError::corrupt(
            &chain_path,
            format!("does not start with the certificate of {CA_CERT}"),
        ));
    }
    verify_chain(cert_chain, root_cert).map_err(|e| {
        CertError::corrupt(&chain_path, format!("cannot be used with {ROOT_CERT}: {e}"))
    })?;

    let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "cacerts",
            "namespace": "istio-system",
        },
        "type": "Opaque",
        "data": {
            CA_CERT: encode(ca_cert),
            CA_KEY: encode(ca_key),
            CERT_CHAIN: encode(cert_chain),
            ROOT_CERT: encode(root_cert),
        },
    }))
}
