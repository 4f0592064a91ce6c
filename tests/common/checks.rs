//! Independent looks at what a run left on disk: file checksums, and openssl's view of a
//! certificate (openssl is installed here as a checker that shares no code with runner).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

/// SHA-256 of every file under `root`, by path relative to it.
pub(crate) fn checksums(root: &Path) -> BTreeMap<String, String> {
    let mut sums = BTreeMap::new();
    add_checksums(root, root, &mut sums);
    sums
}

fn add_checksums(root: &Path, dir: &Path, sums: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            add_checksums(root, &path, sums);
        } else {
            let digest = Sha256::digest(std::fs::read(&path).unwrap());
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            sums.insert(rel, hex::encode(digest));
        }
    }
}

/// openssl run in `cwd`; its stdout.
pub(crate) fn openssl(args: &[&str], cwd: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A certificate's SHA-256 fingerprint as openssl prints it (AA:BB:...).
pub(crate) fn fingerprint(cert: &Path) -> String {
    let text = openssl(
        &[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            cert.to_str().unwrap(),
        ],
        Path::new("."),
    );
    text.trim()
        .split_once('=')
        .map(|(_, fp)| fp.to_string())
        .unwrap()
}
