//! Where a play lives: the project root, its templates directory, and the rule that
//! playbook file access stays inside the root.

use std::path::{Component, Path, PathBuf};

use crate::error::{HostError, HostResult};

#[derive(Clone, Debug)]
pub struct Project {
    /// Canonical project root: the nearest ancestor of the playbook with `templates/` or `playbooks/`.
    pub root: PathBuf,
    /// The playbook as the user named it (for messages).
    pub playbook: PathBuf,
    /// Canonical templates directory.
    pub templates_dir: PathBuf,
}

impl Project {
    pub fn discover(playbook: &Path, templates: Option<&Path>) -> HostResult<Project> {
        let canonical = playbook.canonicalize().map_err(|e| {
            HostError::from_error(&e)
                .context(format!("cannot read playbook {}", playbook.display()))
        })?;
        if !canonical.is_file() {
            return Err(
                HostError::new(format!("{} is not a file", playbook.display()))
                    .with_hint("pass the path of a .rhai playbook"),
            );
        }
        let start = canonical.parent().unwrap_or(Path::new("/")).to_path_buf();
        let root = start
            .ancestors()
            .find(|dir| dir.join("templates").is_dir() || dir.join("playbooks").is_dir())
            .unwrap_or(&start)
            .to_path_buf();
        let templates_dir = match templates {
            Some(dir) => dir.canonicalize().map_err(|e| {
                HostError::from_error(&e).context(format!("templates directory {}", dir.display()))
            })?,
            None => root.join("templates"),
        };
        Ok(Project {
            root,
            playbook: playbook.to_path_buf(),
            templates_dir,
        })
    }

    /// Resolves a path given by a playbook, refusing anything outside the project root.
    pub fn resolve(&self, path: &str) -> HostResult<PathBuf> {
        let joined = self.root.join(path);
        let normal = normalize(&joined);
        let refuse = || {
            HostError::new(format!(
                "path {path:?} is outside the project root {}",
                self.root.display()
            ))
            .with_hint("playbooks may only read and write files inside their project; use a path relative to the project root")
        };
        if !normal.starts_with(&self.root) {
            return Err(refuse());
        }
        // A symbolic link inside the root may still point outside it.
        let existing = normal
            .ancestors()
            .find(|p| p.exists())
            .unwrap_or(&self.root);
        let real = existing.canonicalize().map_err(HostError::from)?;
        if !real.starts_with(&self.root) {
            return Err(refuse());
        }
        Ok(normal)
    }

    /// A path as a user would like to read it: relative to the project root when inside it.
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string())
    }
}

/// Removes `.` and resolves `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl Project {
    /// A project rooted at the current directory, for commands that run no playbook.
    pub fn detached() -> Project {
        let root = std::env::current_dir().unwrap_or_default();
        Project {
            templates_dir: root.join("templates"),
            playbook: root.join("playbook.rhai"),
            root,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_root_above_playbooks_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("playbooks")).unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        let playbook = dir.path().join("playbooks/p.rhai");
        std::fs::write(&playbook, "").unwrap();
        let project = Project::discover(&playbook, None).unwrap();
        assert_eq!(project.root, dir.path().canonicalize().unwrap());
        assert!(project.resolve("../etc/passwd").is_err());
        assert!(project.resolve("/etc/passwd").is_err());
        assert!(project.resolve("certs/root.pem").is_ok());
    }
}
