//! The project files a play reads and writes itself: a directory of manifests read as one YAML
//! stream, and a text file written only when its content changes.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{HostError, HostResult};
use crate::project::Project;
use crate::report::Action;
use crate::templates::Templates;

/// Every manifest of `directory` (see [`manifest_files`]) as one multi-document YAML text:
/// `.yaml`/`.yml` files as they are, `.j2` files rendered with `context`. `read` is told of
/// each file read (watch mode follows them), up to a failure.
pub(crate) fn read_manifests(
    project: &Project,
    templates: &Templates,
    directory: &Path,
    context: &Value,
    mut read: impl FnMut(PathBuf),
) -> HostResult<String> {
    let files = manifest_files(directory, &project.show(directory))?;
    let mut texts = Vec::new();
    for file in files {
        // A listed entry may be a link out of the project.
        project.confine(&file)?;
        let text = if is_template(&file) {
            templates.render_file(&file, context)?
        } else {
            std::fs::read_to_string(&file).map_err(|e| {
                HostError::from_error(&e).context(format!("cannot read {}", project.show(&file)))
            })?
        };
        read(file);
        texts.push(text);
    }
    Ok(join_documents(texts.iter().map(String::as_str)))
}

/// Writes `text` to `file` unless its content is already that, or unless this is a plan
/// (`dry_run`), which writes nothing. Returns what the write did, or would do.
pub(crate) fn write_text(
    file: &Path,
    text: &str,
    shown: &str,
    dry_run: bool,
) -> HostResult<Action> {
    let action = change_of(file, text);
    if !dry_run {
        write(file, text, action, shown)?;
    }
    Ok(action)
}

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
fn write(file: &Path, text: &str, action: Action, shown: &str) -> HostResult<()> {
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

    fn project(root: &Path) -> (Project, Templates) {
        let root = root.canonicalize().unwrap();
        let project = Project {
            playbook: root.join("play.rhai"),
            templates_dir: root.join("templates"),
            root,
        };
        let templates = Templates::new(&project.templates_dir, Default::default());
        (project, templates)
    }

    #[test]
    fn manifests_are_read_and_rendered_as_one_stream() {
        let tmp = tempfile::tempdir().unwrap();
        let (project, templates) = project(tmp.path());
        let dir = project.root.join("manifests");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), "kind: A").unwrap();
        std::fs::write(dir.join("b.yaml.j2"), "name: {{ name }}\n").unwrap();
        std::fs::write(dir.join(".c.yaml"), "hidden: true").unwrap();
        let mut read = Vec::new();
        let context = serde_json::json!({"name": "east"});
        let text = read_manifests(&project, &templates, &dir, &context, |f| read.push(f)).unwrap();
        assert_eq!(text, "---\nkind: A\n---\nname: east\n");
        assert_eq!(read, [dir.join("a.yaml"), dir.join("b.yaml.j2")]);
    }

    #[test]
    fn a_manifest_that_fails_stops_the_read_after_the_ones_before_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (project, templates) = project(tmp.path());
        let dir = project.root.join("manifests");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), "kind: A").unwrap();
        std::fs::write(dir.join("b.yaml.j2"), "name: {{ missing }}").unwrap();
        let mut read = Vec::new();
        let err =
            read_manifests(&project, &templates, &dir, &Value::Null, |f| read.push(f)).unwrap_err();
        assert_eq!(
            err.full_message(),
            format!(
                "template {}/b.yaml.j2:1: undefined value: `missing` is undefined",
                dir.display()
            )
        );
        assert_eq!(read, [dir.join("a.yaml")]);
    }

    #[test]
    fn a_manifest_linked_from_outside_the_project_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.yaml"), "kind: Secret").unwrap();
        let (project, templates) = project(tmp.path());
        let dir = project.root.join("manifests");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), dir.join("a.yaml")).unwrap();
        let err = read_manifests(&project, &templates, &dir, &Value::Null, |_| {
            panic!("read a file outside the project")
        })
        .unwrap_err();
        assert_eq!(
            err.full_message(),
            format!(
                "path \"manifests/a.yaml\" leads outside the project root {root}: \
                 {root}/manifests/a.yaml is a symbolic link to {}/secret.yaml",
                outside.path().display(),
                root = project.root.display()
            )
        );
    }

    #[test]
    fn a_plan_writes_nothing_and_says_what_the_write_would_do() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out/mesh.yaml");
        assert_eq!(
            write_text(&file, "a", "out/mesh.yaml", true).unwrap(),
            Action::Created
        );
        assert!(!file.exists() && !dir.path().join("out").exists());
        assert_eq!(
            write_text(&file, "a", "out/mesh.yaml", false).unwrap(),
            Action::Created
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "a");
        assert_eq!(
            write_text(&file, "b", "out/mesh.yaml", true).unwrap(),
            Action::Configured
        );
        assert_eq!(
            write_text(&file, "a", "out/mesh.yaml", false).unwrap(),
            Action::Unchanged
        );
        assert_eq!(
            write_text(&file, "b", "out/mesh.yaml", false).unwrap(),
            Action::Configured
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "b");
        std::fs::create_dir(dir.path().join("taken")).unwrap();
        let err = write_text(&dir.path().join("taken"), "x", "taken", false).unwrap_err();
        assert_eq!(
            err.full_message(),
            "cannot write taken: Is a directory (os error 21)"
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
