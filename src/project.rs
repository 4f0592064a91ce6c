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

    /// Resolves a path given by a playbook, refusing anything whose real location (every
    /// symbolic link followed, dangling ones included) is outside the project root.
    pub fn resolve(&self, path: &str) -> HostResult<PathBuf> {
        let joined = self.root.join(path);
        confine(&self.root, &joined).map_err(|refused| refused.explain(path, &self.root))?;
        Ok(normalize(&joined))
    }

    /// Checks that a file found by listing a directory (a manifest) is really inside the project.
    pub fn confine(&self, file: &Path) -> HostResult<()> {
        confine(&self.root, file)
            .map(drop)
            .map_err(|refused| refused.explain(&self.show(file), &self.root))
    }

    /// A path as a user would like to read it: relative to the project root when inside it.
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string())
    }
}

/// Why a path was refused: the link that took it outside, if one did.
#[derive(Debug)]
pub(crate) struct Outside {
    pub link: Option<(PathBuf, PathBuf)>,
    pub too_many_links: bool,
}

impl Outside {
    pub(crate) fn explain(&self, path: &str, root: &Path) -> HostError {
        let message = match (&self.link, self.too_many_links) {
            (_, true) => format!("path {path:?} goes through more than {MAX_LINKS} symbolic links"),
            (Some((link, target)), _) => format!(
                "path {path:?} leads outside the project root {}: {} is a symbolic link to {}",
                root.display(),
                link.display(),
                target.display()
            ),
            (None, _) => format!(
                "path {path:?} is outside the project root {}",
                root.display()
            ),
        };
        HostError::new(message).with_hint(
            "playbooks may only read and write files inside their project; use a path relative to the project root",
        )
    }
}

const MAX_LINKS: usize = 40;

/// The real location of `path` (absolute), every component resolved, symbolic links followed
/// even when what they point to does not exist yet (a write would create it there); refused
/// when that location is not under `root` (itself a real path).
pub(crate) fn confine(root: &Path, path: &Path) -> Result<PathBuf, Outside> {
    use std::collections::VecDeque;
    let mut pending: VecDeque<std::ffi::OsString> = VecDeque::new();
    let mut real = PathBuf::from("/");
    let mut first_link: Option<(PathBuf, PathBuf)> = None;
    let mut links = 0usize;
    let push_front = |pending: &mut VecDeque<std::ffi::OsString>, real: &mut PathBuf, p: &Path| {
        let mut parts: Vec<std::ffi::OsString> = Vec::new();
        for component in p.components() {
            match component {
                Component::RootDir | Component::Prefix(_) => {
                    *real = PathBuf::from("/");
                    parts.clear();
                }
                Component::CurDir => {}
                Component::ParentDir => parts.push("..".into()),
                Component::Normal(name) => parts.push(name.to_os_string()),
            }
        }
        for part in parts.into_iter().rev() {
            pending.push_front(part);
        }
    };
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    push_front(&mut pending, &mut real, &absolute);
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            real.pop();
            continue;
        }
        let candidate = real.join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                let target = std::fs::read_link(&candidate).unwrap_or_default();
                if links > MAX_LINKS {
                    return Err(Outside {
                        link: first_link,
                        too_many_links: true,
                    });
                }
                // Name the link a user can do something about: the one that left the root.
                let leaves = !normalize(&real.join(&target)).starts_with(root);
                if leaves || first_link.is_none() {
                    first_link = Some((candidate.clone(), target.clone()));
                }
                push_front(&mut pending, &mut real, &target);
            }
            _ => real = candidate,
        }
    }
    if real.starts_with(root) {
        Ok(real)
    } else {
        let link = first_link.filter(|(link, _)| link.starts_with(root));
        Err(Outside {
            link,
            too_many_links: false,
        })
    }
}

/// Removes `.` and resolves `..` without touching the file system.
pub(crate) fn normalize(path: &Path) -> PathBuf {
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

    #[test]
    fn links_out_of_the_root_are_refused_even_when_dangling() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        let playbook = dir.path().join("p.rhai");
        std::fs::write(&playbook, "").unwrap();
        let dangling = outside.path().join("not-yet");
        std::os::unix::fs::symlink(&dangling, dir.path().join("rendered")).unwrap();
        std::os::unix::fs::symlink("templates", dir.path().join("inside")).unwrap();
        let project = Project::discover(&playbook, None).unwrap();
        let refused = project.resolve("rendered/c1/x.yaml").unwrap_err();
        assert_eq!(
            refused.message,
            format!(
                "path \"rendered/c1/x.yaml\" leads outside the project root {}: {} is a symbolic link to {}",
                project.root.display(),
                project.root.join("rendered").display(),
                dangling.display()
            )
        );
        assert!(project.resolve("inside/a.j2").is_ok());
        assert!(project.resolve("inside/../../x").is_err());
    }
}
