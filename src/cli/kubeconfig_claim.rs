//! The kubeconfig `runner sandbox up` writes: at an absolute path (it is pasted into other
//! shells), never over the kubeconfig of sandboxes that still answer, and removed when they stop
//! so that nothing is left pointing at dead ports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::HostError;

/// How long a server named in an existing kubeconfig gets to accept a connection.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

pub(super) struct KubeconfigClaim {
    path: PathBuf,
    written: Option<Vec<u8>>,
}

impl KubeconfigClaim {
    /// Claims `path` (made absolute); refuses when it holds a kubeconfig whose servers answer.
    pub(super) async fn claim(path: &Path) -> Result<Self, HostError> {
        let path = std::path::absolute(path)
            .map_err(|e| HostError::new(format!("cannot resolve {}: {e}", path.display())))?;
        if let Some(server) = answering_server(&path).await {
            return Err(HostError::new(format!(
                "{} belongs to sandbox clusters that are still running ({server} answers)",
                path.display()
            ))
            .with_hint("stop them first (Ctrl-C where `runner sandbox up` runs), or write another file with --kubeconfig FILE"));
        }
        Ok(KubeconfigClaim {
            path,
            written: None,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Remembers what was written, so that only that is removed later.
    pub(super) fn written(&mut self) {
        self.written = std::fs::read(&self.path).ok();
    }

    /// Removes the kubeconfig if it still holds what was written; says what happened.
    pub(super) fn release(self) -> String {
        let current = std::fs::read(&self.path).ok();
        match (&self.written, current) {
            (Some(written), Some(current)) if *written == current => {
                match std::fs::remove_file(&self.path) {
                    Ok(()) => format!("removed {}", self.path.display()),
                    Err(e) => format!("could not remove {}: {e}", self.path.display()),
                }
            }
            (Some(_), Some(_)) => format!("left {} (it was changed since)", self.path.display()),
            _ => format!("{} is gone already", self.path.display()),
        }
    }
}

/// The first server of the kubeconfig at `path` that accepts a TCP connection, if any.
async fn answering_server(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let config: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    let servers: Vec<String> = config
        .get("clusters")?
        .as_sequence()?
        .iter()
        .filter_map(|c| {
            c.get("cluster")?
                .get("server")?
                .as_str()
                .map(str::to_string)
        })
        .collect();
    for server in servers {
        let Some(address) = server
            .strip_prefix("https://")
            .or_else(|| server.strip_prefix("http://"))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
        else {
            continue;
        };
        let connect = tokio::net::TcpStream::connect(address);
        if let Ok(Ok(_)) = tokio::time::timeout(PROBE_TIMEOUT, connect).await {
            return Some(server);
        }
    }
    None
}
