//! `--state DIR`: certificates, token key, port and objects of each cluster, kept across restarts.
use super::core::ClusterCore;
use super::error::SandboxError;
use super::tls::Pki;
use crate::private_file::write_private;
use serde_json::{json, Value};
use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What a cluster brings back from its state directory.
pub(crate) struct Loaded {
    pub pki: Pki,
    pub token_key: Vec<u8>,
    pub port: u16,
    pub resource_version: u64,
    pub objects: Vec<(String, Value)>,
}

/// Makes this process the one sandbox serving the state in `root` (created 0700 when missing):
/// two would fight over its ports and overwrite each other's objects. The lock goes with the
/// returned file, and with the process (`kill -9` included).
pub(crate) fn lock(root: &Path) -> Result<fs::File, SandboxError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|source| SandboxError::StateWrite {
            path: root.to_path_buf(),
            source,
        })?;
    let path = root.join(".runner.lock");
    let write_err = |source| SandboxError::StateWrite {
        path: path.clone(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(write_err)?;
    // SAFETY: flock on a descriptor owned here; LOCK_NB never blocks.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        return Err(SandboxError::StateLocked {
            dir: root.to_path_buf(),
            pid: holder.trim().to_string(),
        });
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(write_err)?;
    Ok(file)
}

pub(crate) fn cluster_dir(root: &Path, cluster: &str) -> PathBuf {
    root.join(cluster)
}

fn read_err(path: &Path, message: impl ToString) -> SandboxError {
    SandboxError::StateRead {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn read(path: &Path) -> Result<String, SandboxError> {
    fs::read_to_string(path).map_err(|e| read_err(path, e))
}

/// None when the directory holds no cluster yet.
pub(crate) fn load(dir: &Path) -> Result<Option<Loaded>, SandboxError> {
    let pki_path = dir.join("pki.json");
    if !pki_path.exists() {
        if dir.exists() && !dir.is_dir() {
            return Err(read_err(dir, "not a directory"));
        }
        return Ok(None);
    }
    let pki: Value = serde_json::from_str(&read(&pki_path)?).map_err(|e| read_err(&pki_path, e))?;
    let field = |name: &str| -> Result<String, SandboxError> {
        pki[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| read_err(&pki_path, format!("missing {name}")))
    };
    let token_key = hex::decode(field("tokenKey")?).map_err(|e| read_err(&pki_path, e))?;
    let port = pki["port"].as_u64().unwrap_or(0) as u16;
    let objects_path = dir.join("objects.json");
    let (resource_version, objects) = if objects_path.exists() {
        let doc: Value =
            serde_json::from_str(&read(&objects_path)?).map_err(|e| read_err(&objects_path, e))?;
        let rv = doc["resourceVersion"].as_u64().unwrap_or(0);
        let objects = doc["objects"]
            .as_array()
            .ok_or_else(|| read_err(&objects_path, "missing objects"))?
            .iter()
            .filter_map(|o| Some((o["key"].as_str()?.to_string(), o["object"].clone())))
            .collect();
        (rv, objects)
    } else {
        (0, Vec::new())
    };
    Ok(Some(Loaded {
        pki: Pki {
            ca_pem: field("caCert")?,
            ca_key_pem: field("caKey")?,
            cert_pem: field("cert")?,
            key_pem: field("key")?,
        },
        token_key,
        port,
        resource_version,
        objects,
    }))
}

pub(crate) fn ensure_dir(dir: &Path) -> Result<(), SandboxError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| SandboxError::StateWrite {
            path: dir.to_path_buf(),
            source,
        })
}

pub(crate) fn save_identity(
    dir: &Path,
    pki: &Pki,
    token_key: &[u8],
    port: u16,
) -> Result<(), SandboxError> {
    ensure_dir(dir)?;
    let doc = json!({
        "caCert": pki.ca_pem, "caKey": pki.ca_key_pem, "cert": pki.cert_pem, "key": pki.key_pem,
        "tokenKey": hex::encode(token_key), "port": port,
    });
    let path = dir.join("pki.json");
    write_private(&path, doc.to_string().as_bytes())
        .map_err(|source| SandboxError::StateWrite { path, source })
}

/// Writes the objects if anything changed since `written`; returns the generation written.
pub(crate) fn save_objects(
    core: &ClusterCore,
    dir: &Path,
    written: u64,
) -> Result<u64, SandboxError> {
    let (generation, doc) = {
        let inner = core.lock();
        if inner.store.generation == written {
            return Ok(written);
        }
        let objects: Vec<Value> = inner
            .store
            .all()
            .map(|((key, _, _), e)| json!({"key": key, "object": e.value}))
            .collect();
        (
            inner.store.generation,
            json!({"resourceVersion": inner.store.resource_version(), "objects": objects}),
        )
    };
    let path = dir.join("objects.json");
    write_private(&path, doc.to_string().as_bytes())
        .map_err(|source| SandboxError::StateWrite { path, source })?;
    Ok(generation)
}

/// Writes the objects shortly after each change (batched), until aborted.
pub(crate) async fn persist_loop(core: Arc<ClusterCore>, dir: PathBuf) {
    let mut written = 0;
    loop {
        core.changed.notified().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (c, d) = (core.clone(), dir.clone());
        match tokio::task::spawn_blocking(move || save_objects(&c, &d, written)).await {
            Ok(Ok(generation)) => written = generation,
            Ok(Err(e)) => tracing::warn!(
                target: "runner::sandbox",
                "sandbox cluster {}: {}",
                core.name,
                e.with_causes()
            ),
            Err(_) => return,
        }
    }
}
