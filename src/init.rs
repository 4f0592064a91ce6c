//! `runner init [DIR]`: a project to start from: a small playbook with its variables and their
//! schema, its templates, a .gitignore that keeps CA keys and rendered files out of git, and a
//! README. `runner play playbooks/hello.rhai --sandbox` works on it at once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::{Context, HostError};

/// Each file of the scaffold: its path in the project and its content.
const FILES: [(&str, &str); 7] = [
    ("playbooks/hello.rhai", include_str!("init/hello.rhai")),
    (
        "playbooks/hello.vars.yaml",
        include_str!("init/hello.vars.yaml"),
    ),
    (
        "playbooks/hello.vars.schema.yaml",
        include_str!("init/hello.vars.schema.yaml"),
    ),
    (
        "templates/hello/namespace.yaml.j2",
        include_str!("init/namespace.yaml.j2"),
    ),
    (
        "templates/hello/configmap.yaml.j2",
        include_str!("init/configmap.yaml.j2"),
    ),
    (".gitignore", include_str!("init/gitignore")),
    ("README.md", include_str!("init/README.md")),
];

/// Writes the scaffold into `dir`; nothing is written when any of its files exists already.
pub(crate) fn scaffold(dir: &Path) -> Result<Vec<PathBuf>, HostError> {
    let existing: Vec<String> = (FILES.iter())
        .map(|(path, _)| dir.join(path))
        .filter(|path| path.exists())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(HostError::new(format!(
            "runner init would overwrite {}",
            existing.join(", ")
        ))
        .with_hint("nothing was written; run it in an empty directory, or move these files away"));
    }
    let mut written = Vec::new();
    for (path, content) in FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, content)
            .with_context(|| format!("cannot write {}", target.display()))?;
        written.push(target);
    }
    Ok(written)
}

/// The command: prints what it wrote and what to run next.
pub(crate) fn command(dir: &Path) -> ExitCode {
    match scaffold(dir) {
        Ok(written) => {
            for path in written {
                crate::stdout::line(format_args!("created {}", path.display()));
            }
            let cd = if dir == Path::new(".") {
                String::new()
            } else {
                format!("cd {} && ", dir.display())
            };
            crate::stdout::line(format_args!(
                "next: {cd}runner play playbooks/hello.rhai --sandbox"
            ));
            ExitCode::SUCCESS
        }
        Err(e) => crate::exit::usage_error(e),
    }
}
