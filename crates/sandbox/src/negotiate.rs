//! Content negotiation on `Accept`. The sandbox encodes JSON only: it answers JSON (or a JSON
//! Table) whenever the client lists JSON or a wildcard, and 406 when it lists only protobuf,
//! where a real server encodes protobuf for built-in kinds (see the known differences).
use super::status::ApiError;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Object,
    Table,
    /// `as=PartialObjectMetadata` (or its List): metadata only, as `list_metadata` asks.
    Metadata,
}

pub(crate) fn choose(accept: &str) -> Result<Answer, ApiError> {
    if accept.trim().is_empty() {
        return Ok(Answer::Object);
    }
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<&str> = parts.collect();
        let as_kind = params
            .iter()
            .find_map(|p| p.replace(' ', "").strip_prefix("as=").map(str::to_string));
        let json = matches!(media, "application/json" | "application/*" | "*/*");
        match as_kind.as_deref() {
            Some("Table") if json => return Ok(Answer::Table),
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") if json => {
                return Ok(Answer::Metadata)
            }
            _ => {}
        }
        match media {
            // Any other `as=` (e.g. PartialObjectMetadata) is not served; try the next entry.
            _ if params.iter().any(|p| p.starts_with("as=")) => continue,
            "application/json" | "application/*" | "*/*" => return Ok(Answer::Object),
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable())
}

/// An object as `PartialObjectMetadata`: its metadata only.
pub(crate) fn metadata_only(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
}

/// A list as `PartialObjectMetadataList`.
pub(crate) fn metadata_list(list: Value) -> Value {
    let items: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(metadata_only)
        .collect();
    json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list["metadata"], "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_wins_when_listed_after_protobuf() {
        assert_eq!(
            choose("application/vnd.kubernetes.protobuf, application/json").unwrap(),
            Answer::Object
        );
        assert_eq!(
            choose(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json"
            )
            .unwrap(),
            Answer::Object
        );
        assert_eq!(
            choose("application/json;as=Table;v=v1;g=meta.k8s.io,application/json").unwrap(),
            Answer::Table
        );
    }

    #[test]
    fn metadata_only_for_list_metadata() {
        assert_eq!(
            choose("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").unwrap(),
            Answer::Metadata
        );
    }

    #[test]
    fn protobuf_alone_is_not_acceptable() {
        assert_eq!(
            choose("application/vnd.kubernetes.protobuf")
                .unwrap_err()
                .code,
            406
        );
    }
}
