//! Content negotiation on `Accept`. The sandbox encodes JSON only: it answers JSON (or a JSON
//! Table) whenever the client lists JSON or a wildcard, and 406 when it lists only protobuf,
//! where a real server encodes protobuf for built-in kinds (see the known differences).
use super::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Object,
    Table,
}

pub fn choose(accept: &str) -> Result<Answer, ApiError> {
    if accept.trim().is_empty() {
        return Ok(Answer::Object);
    }
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<&str> = parts.collect();
        let table = params.iter().any(|p| p.replace(' ', "") == "as=Table");
        match media {
            "application/json" | "application/*" | "*/*" if table => return Ok(Answer::Table),
            // Any other `as=` (e.g. PartialObjectMetadata) is not served; try the next entry.
            _ if params.iter().any(|p| p.starts_with("as=")) => continue,
            "application/json" | "application/*" | "*/*" => return Ok(Answer::Object),
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable())
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
    fn protobuf_alone_is_not_acceptable() {
        assert_eq!(
            choose("application/vnd.kubernetes.protobuf")
                .unwrap_err()
                .code,
            406
        );
    }
}
