//! What a user wants to know about a certificate, in a serialisable form.

use serde::Serialize;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid2sn, oid_registry};
use x509_parser::public_key::PublicKey;

use super::pem::{self, Origin};
use super::{KeyType, Result};

const SECONDS_PER_DAY: i64 = 86_400;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Upper-case hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    /// Whole days until `not_after`; negative once expired.
    pub days_left: i64,
    pub is_ca: bool,
    pub path_len: Option<u32>,
    /// `DNS:name`, `IP:addr`, `URI:uri`, `email:addr`, as openssl prints them.
    pub sans: Vec<String>,
    /// `rsa`, `ecdsa` or the algorithm's OID name.
    pub key_algorithm: String,
    pub key_bits: usize,
    /// Set when the key is one of the [`KeyType`]s this library creates.
    pub key_type: Option<KeyType>,
    pub signature_algorithm: String,
    /// SHA-256 of the DER, colon-separated upper-case hex like `openssl x509 -fingerprint -sha256`.
    pub fingerprint_sha256: String,
}

/// Describes the first certificate of a PEM text (a chain's leaf).
pub fn inspect(pem_text: &str) -> Result<CertInfo> {
    let origin = Origin::input("certificate to inspect");
    let ders = pem::certificates(pem_text, &origin)?;
    describe(&ders[0], &origin)
}

/// Describes the first certificate of a PEM file; errors name the file.
pub fn inspect_file(path: impl AsRef<std::path::Path>) -> Result<CertInfo> {
    let path = path.as_ref();
    let origin = Origin::File(path.to_path_buf());
    let ders = pem::certificates(&super::files::read_text(path)?, &origin)?;
    describe(&ders[0], &origin)
}

pub(crate) fn describe(der: &[u8], origin: &Origin) -> Result<CertInfo> {
    let cert = pem::parse(der, origin)?;
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (key_algorithm, key_bits) = key_description(&cert);
    let basic = cert.basic_constraints().ok().flatten().map(|ext| ext.value);
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: hex::encode_upper(cert.raw_serial()),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_left: (not_after - now).div_euclid(SECONDS_PER_DAY),
        is_ca: basic.is_some_and(|b| b.ca),
        path_len: basic.and_then(|b| b.path_len_constraint),
        sans: subject_alt_names(&cert),
        key_type: KeyType::from_algorithm(&key_algorithm, key_bits),
        key_algorithm,
        key_bits,
        signature_algorithm: oid_name(&cert.signature_algorithm.algorithm),
        fingerprint_sha256: fingerprint(der),
    })
}

pub(crate) fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{unix}"))
}

fn key_description(cert: &X509Certificate<'_>) -> (String, usize) {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("rsa".to_string(), rsa.key_size()),
        Ok(PublicKey::EC(point)) => ("ecdsa".to_string(), point.key_size()),
        Ok(other) => (oid_name(&spki.algorithm.algorithm), other.key_size()),
        Err(_) => (oid_name(&spki.algorithm.algorithm), 0),
    }
}

fn oid_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    oid2sn(oid, oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

fn subject_alt_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(d) => format!("DNS:{d}"),
            GeneralName::URI(u) => format!("URI:{u}"),
            GeneralName::RFC822Name(e) => format!("email:{e}"),
            GeneralName::IPAddress(bytes) => format!("IP:{}", ip_text(bytes)),
            other => other.to_string(),
        })
        .collect()
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => {
            let octets: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
            std::net::Ipv4Addr::from(octets).to_string()
        }
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(octets).to_string()
        }
        _ => hex::encode(bytes),
    }
}
