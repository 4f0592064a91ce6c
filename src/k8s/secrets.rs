//! Opaque Secrets built from values or files, and read back decoded.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::apply::{Applied, ApplyOptions};
use super::cluster::Cluster;
use super::Session;
use crate::error::{HostError, HostResult};

/// Secret data with one key per file, named as the file, as
/// `kubectl create secret generic --from-file` makes it; two files of one name are an error.
pub fn data_from_files(
    files: &[std::path::PathBuf],
    show: impl Fn(&std::path::Path) -> String,
) -> HostResult<BTreeMap<String, Vec<u8>>> {
    let mut data = BTreeMap::new();
    for file in files {
        let key = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| HostError::new(format!("{} has no file name", show(file))))?;
        let bytes = std::fs::read(file).map_err(|e| {
            HostError::from_error(&e).context(format!("cannot read {}", show(file)))
        })?;
        if data.insert(key.clone(), bytes).is_some() {
            return Err(HostError::new(format!("two files are named {key:?}")));
        }
    }
    Ok(data)
}

/// An Opaque Secret manifest; values are base64-encoded into `data`.
pub(super) fn opaque_secret(
    namespace: &str,
    name: &str,
    data: &BTreeMap<String, Vec<u8>>,
) -> Value {
    let encoded: Map<String, Value> = data
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
            )
        })
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": encoded,
    })
}

/// Decodes a Secret's `data` into text values.
pub(super) fn decode_secret(secret: &Value, label: &str) -> HostResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(data) = secret.get("data").and_then(Value::as_object) else {
        return Ok(out);
    };
    for (key, value) in data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .map_err(|_| HostError::new(format!("{label}: key {key:?} is not valid base64")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| HostError::new(format!("{label}: key {key:?} is binary, not text")))?;
        out.insert(key.clone(), text);
    }
    Ok(out)
}

impl Cluster {
    /// Applies an Opaque Secret with exactly these keys.
    pub async fn secret(
        &self,
        session: &Session<'_>,
        namespace: &str,
        name: &str,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> HostResult<Applied> {
        let namespace = if namespace.is_empty() {
            self.namespace()
        } else {
            namespace
        };
        let manifest = opaque_secret(namespace, name, data);
        let mut applied = self
            .apply(session, vec![manifest], &ApplyOptions::default())
            .await?;
        applied.pop().ok_or_else(|| {
            HostError::new(format!(
                "{}: applying Secret {namespace}/{name} returned nothing",
                self.name()
            ))
        })
    }

    /// The Secret's data decoded, or None when it does not exist.
    pub async fn read_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> HostResult<Option<BTreeMap<String, String>>> {
        let Some(secret) = self.get("v1/Secret", name, namespace).await? else {
            return Ok(None);
        };
        let label = format!("{}: Secret {namespace}/{name}", self.name());
        decode_secret(&secret, &label).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_file_named_as_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("a/ca.crt", "one"),
            ("b/ca.crt", "two"),
            ("b/tls.key", "three"),
        ] {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        let show = |p: &std::path::Path| p.display().to_string();
        let data = data_from_files(
            &[dir.path().join("a/ca.crt"), dir.path().join("b/tls.key")],
            show,
        )
        .unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["ca.crt", "tls.key"]);
        assert_eq!(data["tls.key"], b"three");
        let twice = data_from_files(
            &[dir.path().join("a/ca.crt"), dir.path().join("b/ca.crt")],
            show,
        )
        .unwrap_err();
        assert_eq!(twice.message, "two files are named \"ca.crt\"");
    }

    #[test]
    fn round_trip() {
        let mut data = BTreeMap::new();
        data.insert("ca.crt".to_string(), b"-----BEGIN".to_vec());
        let secret = opaque_secret("ns", "s", &data);
        assert_eq!(secret["data"]["ca.crt"], "LS0tLS1CRUdJTg==");
        let decoded = decode_secret(&secret, "s").unwrap();
        assert_eq!(decoded["ca.crt"], "-----BEGIN");
    }

    #[test]
    fn binary_values_are_an_error() {
        let secret =
            json!({"data": {"k": base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe])}});
        let err = decode_secret(&secret, "c1: Secret a/b").unwrap_err();
        assert_eq!(err.message, "c1: Secret a/b: key \"k\" is binary, not text");
    }
}
