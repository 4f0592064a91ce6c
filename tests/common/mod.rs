//! A temporary project directory and the built `runner` binary run inside it.
#![allow(dead_code)]

use std::path::Path;

/// Copies a directory tree, as a user copies the repository's playbooks to customise them.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Copies the repository's `playbooks/` and `templates/` into `project`.
pub(crate) fn copy_shipped(project: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["playbooks", "templates"] {
        copy_dir(&repo.join(dir), &project.join(dir));
    }
}

#[macro_use]
pub(crate) mod backend;
pub(crate) mod checks;
pub(crate) mod fixture;
pub(crate) mod leaks;
pub(crate) mod processes;
pub(crate) mod run;
pub(crate) mod sandbox;

pub(crate) use fixture::Fixture;
pub(crate) use run::{runner, Runner};
