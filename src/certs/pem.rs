//! Reading certificates and keys from PEM text, with errors naming where the text came from.

use std::path::{Path, PathBuf};

use rcgen::{KeyPair, PublicKeyData};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;

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
    let mut blocks = Pem::iter_from_buffer(text.as_bytes());
    let label = match blocks.next() {
        Some(Ok(block)) => block.label,
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
    KeyPair::from_pem(&text)
        .map_err(|_| origin.error("holds an unreadable or unsupported private key"))
}

/// Whether `key` is the private half of `cert`'s public key.
pub(crate) fn key_matches(key: &KeyPair, cert: &X509Certificate<'_>) -> bool {
    key.der_bytes() == cert.public_key().subject_public_key.data.as_ref()
}
