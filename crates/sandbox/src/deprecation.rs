//! The `Warning` a real API server sends with every request for a deprecated version of a custom
//! resource: the CRD's `deprecationWarning`, or "GROUP/VERSION KIND is deprecated; use
//! GROUP/NEWER KIND" naming the highest served version that is not deprecated and sorts after
//! it, as apiextensions-apiserver words it.

use std::cmp::Ordering;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde_json::Value;

use super::core::{ClusterCore, CRD_KEY};

/// The warning for a request to `path`, when it names a resource of a deprecated CRD version.
pub(crate) fn warning(core: &ClusterCore, path: &str) -> Option<String> {
    let mut segments = path.trim_matches('/').split('/');
    let (Some("apis"), Some(group), Some(version), Some(_resource)) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    let inner = core.lock();
    let crd = inner
        .store
        .list(CRD_KEY, None)
        .map(|entry| &entry.value)
        .find(|crd| crd["spec"]["group"] == group && version_of(crd, version).is_some())?;
    let served = version_of(crd, version)?;
    if served["deprecated"] != true {
        return None;
    }
    if let Some(custom) = served["deprecationWarning"].as_str() {
        return Some(custom.to_string());
    }
    let kind = crd["spec"]["names"]["kind"].as_str().unwrap_or_default();
    let mut message = format!("{group}/{version} {kind} is deprecated");
    let newest = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"] == true && v["deprecated"] != true)
        .filter_map(|v| v["name"].as_str())
        .filter(|name| compare_versions(version, name) == Ordering::Less)
        .max_by(|a, b| compare_versions(a, b));
    if let Some(newest) = newest {
        message.push_str(&format!("; use {group}/{newest} {kind}"));
    }
    Some(message)
}

fn version_of<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == version && v["served"] == true)
}

/// Adds `warning` as kube-apiserver sends it: `299 - "text"`.
pub(crate) fn add_header(response: &mut Response, warning: &str) {
    let quoted = format!("299 - {}", Value::from(warning));
    if let Ok(value) = HeaderValue::from_str(&quoted) {
        response.headers_mut().append(header::WARNING, value);
    }
}

/// Kubernetes' version order (`CompareKubeAwareVersionStrings`): GA before beta before alpha, each
/// by major then minor version (v10 > v2 > v1 > v11beta2 > v10beta3 > v12alpha1), then anything
/// not shaped like a Kubernetes version, in reverse alphabetical order.
fn compare_versions(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => b.cmp(a),
    }
}

/// (stability: alpha 0 < beta 1 < GA 2, major, minor) of `vMAJOR[(alpha|beta)MINOR]`.
fn parse(version: &str) -> Option<(u8, u64, u64)> {
    let rest = version.strip_prefix('v')?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let major = rest[..digits].parse::<u64>().ok().filter(|m| *m > 0)?;
    let tail = &rest[digits..];
    if tail.is_empty() {
        return Some((2, major, 0));
    }
    let (stability, minor) = if let Some(minor) = tail.strip_prefix("beta") {
        (1, minor)
    } else {
        (0, tail.strip_prefix("alpha")?)
    };
    Some((
        stability,
        major,
        minor.parse::<u64>().ok().filter(|m| *m > 0)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::compare_versions;
    use std::cmp::Ordering::*;

    #[test]
    fn kubernetes_versions_sort_ga_then_beta_then_alpha_then_the_rest() {
        for (a, b, order) in [
            ("v1", "v1beta1", Greater),
            ("v2", "v1", Greater),
            ("v1beta2", "v1beta1", Greater),
            ("v1beta1", "v1alpha3", Greater),
            ("v1alpha1", "foo", Greater),
            ("v10", "v11beta2", Greater),
            ("v11beta2", "v10beta3", Greater),
            ("v3beta1", "v12alpha1", Greater),
            ("foo1", "foo10", Greater),
            ("foo", "bar", Less),
            ("v1", "v1", Equal),
        ] {
            assert_eq!(compare_versions(a, b), order, "{a} vs {b}");
        }
    }
}
