//! Which certificate a private key belongs to, read from the key's structure.
//!
//! Reusing an intermediate CA only needs to know that `ca-key.pem` is `ca-cert.pem`'s key: runner
//! never signs with it (istiod does). Loading an RSA key for signing validates its private
//! numbers, which takes milliseconds for RSA-4096 and dominated a play's certificate step; the
//! public numbers stored in the key answer the question exactly, and checking that its primes
//! multiply to the modulus still catches a damaged key.

use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::ber::{BerObject, BerObjectContent};
use x509_parser::der_parser::num_bigint::BigUint;
use x509_parser::der_parser::{oid, parse_der};
use x509_parser::public_key::PublicKey;

/// The public half of a private key, in the form a certificate states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicHalf {
    /// The subjectPublicKey bits as an SPKI carries them (EC points, and keys loaded by rcgen).
    Spki(Vec<u8>),
    /// An RSA modulus and public exponent, big-endian without leading zeros.
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
}

impl PublicHalf {
    /// Whether `cert` certifies this public key.
    pub(crate) fn matches(&self, cert: &X509Certificate<'_>) -> bool {
        let spki = cert.public_key();
        match self {
            PublicHalf::Spki(bits) => bits.as_slice() == spki.subject_public_key.data.as_ref(),
            PublicHalf::Rsa { modulus, exponent } => match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => {
                    unsigned(rsa.modulus) == modulus.as_slice()
                        && unsigned(rsa.exponent) == exponent.as_slice()
                }
                _ => false,
            },
        }
    }
}

/// The RSA public numbers of a PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY") key, when
/// `der` is a well-formed two-prime RSA private key whose primes multiply to its modulus;
/// `None` for other key types and for damaged keys.
pub(crate) fn rsa_public_half(label: &str, der: &[u8]) -> Option<PublicHalf> {
    let rsa_private_key = match label {
        "RSA PRIVATE KEY" => der.to_vec(),
        "PRIVATE KEY" => pkcs8_rsa_key(der)?,
        _ => return None,
    };
    let (rest, key) = parse_der(&rsa_private_key).ok()?;
    if !rest.is_empty() {
        return None;
    }
    // RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, privateExponent, prime1,
    // prime2, exponent1, exponent2, coefficient } (RFC 8017, A.1.2); version 0 is two-prime.
    let fields = key.as_sequence().ok()?;
    let integers: Vec<&[u8]> = fields
        .iter()
        .map(integer_bytes)
        .collect::<Option<Vec<_>>>()?;
    let [version, modulus, exponent, _d, prime1, prime2, _dp, _dq, _qinv] = integers[..] else {
        return None;
    };
    if !unsigned(version).is_empty() {
        return None;
    }
    let product = BigUint::from_bytes_be(prime1) * BigUint::from_bytes_be(prime2);
    if product != BigUint::from_bytes_be(modulus) {
        return None;
    }
    Some(PublicHalf::Rsa {
        modulus: unsigned(modulus).to_vec(),
        exponent: unsigned(exponent).to_vec(),
    })
}

/// The RSAPrivateKey inside a PKCS#8 PrivateKeyInfo whose algorithm is rsaEncryption.
fn pkcs8_rsa_key(der: &[u8]) -> Option<Vec<u8>> {
    let (rest, info) = parse_der(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    // PrivateKeyInfo ::= SEQUENCE { version, privateKeyAlgorithm, privateKey OCTET STRING, ... }
    let fields = info.as_sequence().ok()?;
    let algorithm = fields.get(1)?.as_sequence().ok()?;
    if algorithm.first()?.as_oid().ok()? != &oid!(1.2.840 .113549 .1 .1 .1) {
        return None;
    }
    Some(fields.get(2)?.as_slice().ok()?.to_vec())
}

fn integer_bytes<'a>(object: &'a BerObject<'_>) -> Option<&'a [u8]> {
    match object.content {
        BerObjectContent::Integer(bytes) => Some(bytes),
        _ => None,
    }
}

/// Big-endian bytes without the leading zeros DER adds to keep an INTEGER positive.
fn unsigned(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}
