//! File system rules for CA material: private directories, atomic no-clobber writes.

use std::fs::{self, DirBuilder, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{CertError, Result};

const PRIVATE_DIR_MODE: u32 = 0o700;
const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;

/// Whether a file holds a private key (0600) or public certificates (0644).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Content {
    PrivateKey,
    Certificate,
}

/// Creates `dir` (and missing parents) with mode 0700. An existing directory is left as it is,
/// but a warning is returned when others can read it.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if dir.is_dir() {
        let mode = fs::metadata(dir)
            .map_err(|e| CertError::io(dir, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            warnings.push(format!(
                "{} is accessible by other users (mode {:o}); CA directories should be 0700",
                dir.display(),
                mode & 0o777
            ));
        }
        return Ok(warnings);
    }
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .map_err(|e| CertError::io(dir, e))?;
    Ok(warnings)
}

/// Writes a new file atomically (temporary file in the same directory, fsync, rename) and
/// refuses to replace an existing one, so a concurrent run can never clobber a CA.
pub(crate) fn write_new(path: &Path, bytes: &[u8], content: Content) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| CertError::corrupt(path, "has no parent directory"))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| CertError::io(dir, e))?;
    let mode = match content {
        Content::PrivateKey => KEY_MODE,
        Content::Certificate => CERT_MODE,
    };
    let tmp_path = tmp.path().to_path_buf();
    fs::set_permissions(&tmp_path, fs::Permissions::from_mode(mode))
        .map_err(|e| CertError::io(&tmp_path, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| CertError::io(&tmp_path, e))?;
    tmp.persist_noclobber(path)
        .map_err(|e| CertError::io(path, e.error))?;
    sync_dir(dir)
}

/// Makes renames in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| CertError::io(dir, e))
}

pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| CertError::io(path, e))?;
    String::from_utf8(bytes).map_err(|_| CertError::corrupt(path, "is not a PEM file (not text)"))
}

/// Returns a warning when a private key file is readable by other users.
pub(crate) fn key_mode_warning(path: &Path) -> Option<String> {
    let mode = fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is readable by other users (mode {:o}); private keys should be 0600",
            path.display(),
            mode & 0o777
        )
    })
}

/// The advisory lock file of a CA directory: it holds the pid of the runner that has it.
const LOCK_FILE: &str = ".runner.lock";

/// CA directories this process holds, until it exits (the kernel releases a lock with its
/// holder, `kill -9` included, so a stale lock file never blocks anyone).
static HELD: std::sync::Mutex<Vec<(std::path::PathBuf, File)>> = std::sync::Mutex::new(Vec::new());

/// Makes this process the one runner working with the CA in `dir` (created 0700 when missing):
/// another one holding it is waited for, up to `wait`, with a message, then refused with its
/// pid. Two first runs at once thus create one root, and the second loads it.
pub(crate) fn lock_ca_dir(dir: &Path, wait: std::time::Duration) -> Result<Vec<String>> {
    use std::io::{Read, Seek};
    use std::os::unix::io::AsRawFd;
    let warnings = ensure_private_dir(dir)?;
    let canonical = fs::canonicalize(dir).map_err(|e| CertError::io(dir, e))?;
    let mut held = HELD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if held.iter().any(|(path, _)| *path == canonical) {
        return Ok(warnings);
    }
    let path = dir.join(LOCK_FILE);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(KEY_MODE)
        .open(&path)
        .map_err(|e| CertError::io(&path, e))?;
    let deadline = std::time::Instant::now() + wait;
    let mut told = false;
    loop {
        // SAFETY: flock on a descriptor this function owns; it blocks nothing (LOCK_NB).
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if locked {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(CertError::io(&path, error));
        }
        let mut holder = String::new();
        let _ = file
            .rewind()
            .and_then(|()| file.read_to_string(&mut holder));
        let holder = holder.trim().to_string();
        if std::time::Instant::now() >= deadline {
            return Err(CertError::Locked {
                dir: shown(dir),
                pid: holder,
                waited_secs: wait.as_secs(),
            });
        }
        if !told {
            eprintln!(
                "waiting for another runner that holds {}/ (pid {holder}), up to {}s",
                shown(dir).display(),
                wait.as_secs()
            );
            told = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .and_then(|()| file.sync_all())
        .map_err(|e| CertError::io(&path, e))?;
    held.push((canonical, file));
    Ok(warnings)
}

/// `dir` as the user named it: relative to the working directory when under it.
fn shown(dir: &Path) -> std::path::PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| dir.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf())
}
