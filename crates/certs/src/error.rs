use std::path::PathBuf;

/// Every failure of the certificate library. Messages name the file or cluster involved and
/// never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("unknown key type {given:?}; valid key types: rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384")]
    UnknownKeyType { given: String },

    #[error("invalid option: {0}")]
    InvalidOption(String),

    #[error("invalid cluster name {name:?}: {reason}")]
    InvalidClusterName { name: String, reason: String },

    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },

    #[error("{0}")]
    Incomplete(String),

    #[error("{} does not belong to the certificate {}: the private key does not match the certificate's public key", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },

    #[error("{}: certificate {subject:?} expired on {not_after}; {hint}", path.display())]
    Expired {
        path: PathBuf,
        subject: String,
        not_after: String,
        hint: String,
    },

    /// Another process holds the CA directory's advisory lock.
    #[error("another runner holds {}/ (pid {pid}); waited {waited_secs}s for it. Let it finish (or stop it) and run again", dir.display())]
    Locked {
        dir: PathBuf,
        pid: String,
        waited_secs: u64,
    },

    #[error("{0}")]
    ForeignRoot(String),

    /// A live `cacerts` holds an intermediate other than ours (same root).
    #[error("{0}")]
    IntermediateDiffers(String),

    /// A live `cacerts` istiod cannot use, or that the play will not touch.
    #[error("{0}")]
    LiveCacerts(String),

    #[error("certificate chain is invalid: {0}")]
    InvalidChain(String),

    #[error("invalid PEM input ({what}): {reason}")]
    InvalidPem { what: String, reason: String },

    #[error("{context}: {reason}")]
    Crypto { context: String, reason: String },
}

impl CertError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CertError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        CertError::Corrupt {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn crypto(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        CertError::Crypto {
            context: context.into(),
            reason: err.to_string(),
        }
    }
}
