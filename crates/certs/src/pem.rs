//! Reading certificates and keys from PEM text, with errors naming where the text came from.

use std::path::{Path, PathBuf};

use rcgen::{KeyPair, PublicKeyData};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;

use super::public_half::{self, PublicHalf};
use super::{files, CertError, Result};

/// Where PEM text came from, so errors can name it.
#[derive(Clone, Debug)]
pub(crate) enum Origin {
    File(PathBuf),
    Input(String),
}

impl Origin {
    pub(crate) fn input(what: &str) -> Self {
        Origin::Input(what.to_string())
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> CertError {
        match self {
            Origin::File(path) => CertError::corrupt(path, reason),
            Origin::Input(what) => CertError::InvalidPem {
                what: what.clone(),
                reason: reason.into(),
            },
        }
    }
}

/// The DER bytes of every `CERTIFICATE` block in `text`; at least one is required and each must
/// parse as X.509.
pub(crate) fn certificates(text: &str, origin: &Origin) -> Result<Vec<Vec<u8>>> {
    let mut ders = Vec::new();
    for block in Pem::iter_from_buffer(text.as_bytes()) {
        let block = block.map_err(|e| origin.error(format!("is not valid PEM ({e})")))?;
        if block.label != "CERTIFICATE" {
            return Err(origin.error(format!(
                "contains a {:?} PEM block where only certificates are expected",
                block.label
            )));
        }
        parse(&block.contents, origin)?;
        ders.push(block.contents);
    }
    if ders.is_empty() {
        return Err(origin.error("contains no PEM certificate"));
    }
    Ok(ders)
}

/// The single certificate in `text`.
pub(crate) fn single_certificate(text: &str, origin: &Origin) -> Result<Vec<u8>> {
    let mut ders = certificates(text, origin)?;
    if ders.len() != 1 {
        return Err(origin.error(format!(
            "contains {} certificates where exactly one is expected",
            ders.len()
        )));
    }
    Ok(ders.remove(0))
}

pub(crate) fn parse<'a>(der: &'a [u8], origin: &Origin) -> Result<X509Certificate<'a>> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(origin.error("has trailing bytes after the certificate")),
        Err(e) => Err(origin.error(format!("is not a valid X.509 certificate ({e})"))),
    }
}

pub(crate) fn read_single_certificate(path: &Path) -> Result<Vec<u8>> {
    let text = files::read_text(path)?;
    single_certificate(&text, &Origin::File(path.to_path_buf()))
}

/// Loads a private key. Parser details are dropped from errors: they could echo key bytes.
pub(crate) fn read_key(path: &Path) -> Result<KeyPair> {
    let text = files::read_text(path)?;
    let origin = Origin::File(path.to_path_buf());
    let (label, der) = private_key_block(&text, &origin)?;
    key_pair(&text, &label, &der, &origin)
}

/// The label and DER of the single unencrypted private key block in `text`.
fn private_key_block(text: &str, origin: &Origin) -> Result<(String, Vec<u8>)> {
    let mut blocks = Pem::iter_from_buffer(text.as_bytes());
    let (label, der) = match blocks.next() {
        Some(Ok(block)) => (block.label, block.contents),
        Some(Err(_)) => return Err(origin.error("is not a valid PEM private key")),
        None => return Err(origin.error("contains no PEM private key")),
    };
    if !matches!(
        label.as_str(),
        "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
    ) {
        return Err(origin.error(format!(
            "contains a {label:?} PEM block where an unencrypted private key is expected"
        )));
    }
    if blocks.next().is_some() {
        return Err(origin.error("contains more than one PEM block; expected one private key"));
    }
    Ok((label, der))
}

fn unreadable_key(origin: &Origin) -> CertError {
    origin.error("holds an unreadable or unsupported private key")
}

fn key_pair(text: &str, label: &str, der: &[u8], origin: &Origin) -> Result<KeyPair> {
    // Telling rcgen the algorithm spares it trying each one in turn: a failed ECDSA parse of an
    // RSA key costs more than the RSA parse itself.
    match key_algorithm(label, der) {
        Some(algorithm) => KeyPair::from_pem_and_sign_algo(text, algorithm),
        None => KeyPair::from_pem(text),
    }
    .map_err(|_| unreadable_key(origin))
}

/// The public half of the private key in `path`, for telling which certificate it belongs to
/// (see `public_half`).
pub(crate) fn public_key_of(path: &Path) -> Result<PublicHalf> {
    public_key_in(&files::read_text(path)?, &Origin::File(path.to_path_buf()))
}

/// The public half of the private key PEM `text`. Text already read in this process is not
/// parsed again: a play reads each intermediate's key more than once.
pub(crate) fn public_key_in(text: &str, origin: &Origin) -> Result<PublicHalf> {
    use sha2::Digest;
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashMap<[u8; 32], PublicHalf>>> = OnceLock::new();
    let digest: [u8; 32] = sha2::Sha256::digest(text.as_bytes()).into();
    let seen = SEEN.get_or_init(Default::default);
    if let Some(public) = seen.lock().ok().and_then(|s| s.get(&digest).cloned()) {
        return Ok(public);
    }
    let (label, der) = private_key_block(text, origin)?;
    let public = if key_algorithm(&label, &der) == Some(&rcgen::PKCS_RSA_SHA256) {
        public_half::rsa_public_half(&label, &der).ok_or_else(|| unreadable_key(origin))?
    } else {
        PublicHalf::Spki(key_pair(text, &label, &der, origin)?.der_bytes().to_vec())
    };
    if let Ok(mut seen) = seen.lock() {
        seen.insert(digest, public.clone());
    }
    Ok(public)
}

/// The signature algorithm a private key is for, from its PEM label and the OIDs in its DER.
fn key_algorithm(label: &str, der: &[u8]) -> Option<&'static rcgen::SignatureAlgorithm> {
    const RSA_ENCRYPTION: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    let contains = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
    match label {
        "RSA PRIVATE KEY" => Some(&rcgen::PKCS_RSA_SHA256),
        _ if contains(RSA_ENCRYPTION) => Some(&rcgen::PKCS_RSA_SHA256),
        _ if contains(P256) => Some(&rcgen::PKCS_ECDSA_P256_SHA256),
        _ if contains(P384) => Some(&rcgen::PKCS_ECDSA_P384_SHA384),
        _ => None,
    }
}

/// Whether `key` is the private half of `cert`'s public key.
pub(crate) fn key_matches(key: &KeyPair, cert: &X509Certificate<'_>) -> bool {
    key.der_bytes() == cert.public_key().subject_public_key.data.as_ref()
}
