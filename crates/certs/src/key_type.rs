use std::fmt;
use std::str::FromStr;

use rcgen::{KeyPair, RsaKeySize};
use serde::{Deserialize, Serialize};

use super::CertError;

/// Private key algorithm and size of a CA. Istio's Makefiles use RSA 4096.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KeyType {
    Rsa2048,
    Rsa3072,
    #[default]
    Rsa4096,
    EcdsaP256,
    EcdsaP384,
}

impl KeyType {
    pub const ALL: [KeyType; 5] = [
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
        }
    }

    /// Generates a fresh key pair. RSA keys are signed with SHA-256 as in Istio's `default_md`;
    /// ECDSA keys use the hash matching their curve.
    pub fn generate(self) -> Result<KeyPair, CertError> {
        let rsa = |size| KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size);
        let generated = match self {
            KeyType::Rsa2048 => rsa(RsaKeySize::_2048),
            KeyType::Rsa3072 => rsa(RsaKeySize::_3072),
            KeyType::Rsa4096 => rsa(RsaKeySize::_4096),
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        };
        generated.map_err(|e| CertError::crypto(format!("generating a {self} key"), e))
    }

    /// The key type of a certificate's public key, from its algorithm name and size in bits
    /// (as reported by [`super::CertInfo`]).
    pub fn from_algorithm(algorithm: &str, bits: usize) -> Option<KeyType> {
        match (algorithm, bits) {
            ("rsa", 2048) => Some(KeyType::Rsa2048),
            ("rsa", 3072) => Some(KeyType::Rsa3072),
            ("rsa", 4096) => Some(KeyType::Rsa4096),
            ("ecdsa", 256) => Some(KeyType::EcdsaP256),
            ("ecdsa", 384) => Some(KeyType::EcdsaP384),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = CertError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str() == wanted)
            .ok_or_else(|| CertError::UnknownKeyType {
                given: s.to_string(),
            })
    }
}

impl TryFrom<String> for KeyType {
    type Error = CertError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<KeyType> for String {
    fn from(k: KeyType) -> String {
        k.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_name_and_round_trips() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().ok(), Some(k));
            assert_eq!(
                k.to_string().to_uppercase().parse::<KeyType>().ok(),
                Some(k)
            );
        }
        assert_eq!(KeyType::default(), KeyType::Rsa4096);
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "rsa-1024".parse::<KeyType>().unwrap_err().to_string();
        assert!(err.contains("\"rsa-1024\""), "{err}");
        for k in KeyType::ALL {
            assert!(err.contains(k.as_str()), "{err}");
        }
    }

    #[test]
    fn serde_uses_the_same_names() {
        let json = serde_json::to_string(&KeyType::EcdsaP384).unwrap();
        assert_eq!(json, "\"ecdsa-p384\"");
        let back: KeyType = serde_json::from_str("\"rsa-2048\"").unwrap();
        assert_eq!(back, KeyType::Rsa2048);
        assert!(serde_json::from_str::<KeyType>("\"dsa\"").is_err());
    }
}
