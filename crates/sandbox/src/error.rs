use std::path::PathBuf;

/// Everything that can go wrong starting, running or persisting a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox needs at least one cluster name")]
    NoClusters,
    #[error("cluster name {0:?} is given twice")]
    DuplicateCluster(String),
    #[error("cluster name {0:?} is not a valid kubeconfig context name (use lowercase letters, digits and '-')")]
    InvalidClusterName(String),
    #[error("cluster {cluster}: cannot listen on {addr}")]
    Bind {
        cluster: String,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cluster {cluster}: cannot create certificates: {message}")]
    Certificate { cluster: String, message: String },
    #[error("cannot read sandbox state {path}: {message}")]
    StateRead { path: PathBuf, message: String },
    #[error("another runner holds {}/ (pid {pid}); stop it first, or use another --state directory", dir.display())]
    StateLocked { dir: PathBuf, pid: String },
    #[error("cannot write sandbox state {path}")]
    StateWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write kubeconfig {path}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("internal error: the sandbox kubeconfig does not parse: {0}")]
    KubeconfigShape(String),
    #[error("cluster {cluster}: cannot create the scratch directory for exec")]
    ExecScratch {
        cluster: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cluster {cluster}: TLS setup failed: {message}")]
    Tls { cluster: String, message: String },
}

impl SandboxError {
    /// The message followed by its causes, for a log line (the message itself leaves them out).
    pub fn with_causes(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        out
    }
}
