//! The project files a play reads and writes itself: a directory of manifests read as one YAML
//! stream, and a text file written only when its content changes.

use std::path::{Path, PathBuf};

use crate::error::{HostError, HostResult};
use crate::report::Action;

/// The manifests of a directory, in file-name order: `.yaml`, `.yml` and their `.j2`
/// templates; hidden files are left out.
pub(crate) fn manifest_files(directory: &Path, shown: &str) -> HostResult<Vec<PathBuf>> {
    let entries = std::fs::read_dir(directory).map_err(|e| {
        HostError::from_error(&e).context(format!("cannot read manifests directory {shown}"))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_manifest(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(HostError::new(format!(
            "manifests directory {shown} holds no .yaml, .yml or .j2 files"
        )));
    }
    Ok(files)
}

fn is_manifest(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    !name.starts_with('.')
        && [".yaml", ".yml", ".yaml.j2", ".yml.j2"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

/// Whether a manifest is a template to render first.
pub(crate) fn is_template(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "j2")
}

/// Documents joined as one stream, each opened by `---` and closed by a newline.
pub(crate) fn join_documents<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for text in texts {
        out.push_str("---\n");
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// What writing `text` to `file` would do: unchanged content is not rewritten.
pub(crate) fn change_of(file: &Path, text: &str) -> Action {
    match std::fs::read_to_string(file) {
        Ok(existing) if existing == text => Action::Unchanged,
        Ok(_) => Action::Configured,
        Err(_) => Action::Created,
    }
}

/// Writes `text` when `action` is a change, making the file's directory first.
pub(crate) fn write(file: &Path, text: &str, action: Action, shown: &str) -> HostResult<()> {
    if !action.is_change() {
        return Ok(());
    }
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            HostError::from_error(&e).context(format!("cannot create {}", parent.display()))
        })?;
    }
    std::fs::write(file, text)
        .map_err(|e| HostError::from_error(&e).context(format!("cannot write {shown}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_in_name_order_without_hidden_or_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b.yaml",
            "a.yml.j2",
            ".hidden.yaml",
            "notes.txt",
            "c.yaml.j2",
        ] {
            std::fs::write(dir.path().join(name), "x: 1").unwrap();
        }
        let names: Vec<String> = manifest_files(dir.path(), "m")
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.yml.j2", "b.yaml", "c.yaml.j2"]);
        assert!(is_template(&dir.path().join("a.yml.j2")));
        assert!(!is_template(&dir.path().join("b.yaml")));
    }

    #[test]
    fn an_empty_or_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = manifest_files(dir.path(), "manifests/none").unwrap_err();
        assert_eq!(
            empty.message,
            "manifests directory manifests/none holds no .yaml, .yml or .j2 files"
        );
        let missing = manifest_files(&dir.path().join("nope"), "manifests/nope").unwrap_err();
        assert_eq!(
            missing.message,
            "cannot read manifests directory manifests/nope"
        );
    }

    #[test]
    fn documents_are_joined_as_one_stream() {
        assert_eq!(join_documents(["a: 1", "b: 2\n"]), "---\na: 1\n---\nb: 2\n");
    }

    #[test]
    fn a_file_is_written_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/out.txt");
        assert_eq!(change_of(&file, "one"), Action::Created);
        write(&file, "one", Action::Created, "sub/out.txt").unwrap();
        assert_eq!(change_of(&file, "one"), Action::Unchanged);
        assert_eq!(change_of(&file, "two"), Action::Configured);
        std::fs::write(&file, "kept").unwrap();
        write(&file, "ignored", Action::Unchanged, "sub/out.txt").unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "kept");
    }
}
