//! Where `ExecMode::Host` runs commands: a private scratch directory per pod.

use std::path::PathBuf;

/// The scratch directories of `ExecMode::Host`, one per pod under one temporary root.
#[derive(Debug)]
pub(crate) struct HostExec {
    root: tempfile::TempDir,
}

impl HostExec {
    pub(crate) fn new(cluster: &str) -> std::io::Result<HostExec> {
        use std::os::unix::fs::PermissionsExt;
        // Private: what commands leave there is no one else's to read.
        let root = tempfile::Builder::new()
            .prefix(&format!("runner-sandbox-{cluster}-exec-"))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        Ok(HostExec { root })
    }

    pub(crate) fn pod_dir(&self, namespace: &str, pod: &str) -> PathBuf {
        self.root.path().join(namespace).join(pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pod_has_its_own_scratch_directory() {
        let host = HostExec::new("c1").unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(host.root.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let a = host.pod_dir("default", "a");
        let b = host.pod_dir("other", "a");
        assert_ne!(a, b);
        assert!(a.starts_with(host.root.path()) && b.starts_with(host.root.path()));
    }
}
