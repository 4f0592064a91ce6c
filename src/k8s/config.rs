//! Kubeconfig files and the allow-list of contexts a run may change.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use crate::error::{HostError, HostResult};

/// How playbook cluster names map to kubeconfig contexts, and how their clients retry.
#[derive(Clone, Debug, Default)]
pub struct KubeOptions {
    /// `--kubeconfig`; otherwise KUBECONFIG (several files) or ~/.kube/config.
    pub kubeconfig: Option<PathBuf>,
    /// `--context NAME=CONTEXT` pairs.
    pub contexts: Vec<(String, String)>,
    /// `--allow-context PATTERN`: contexts the run may change (glob patterns).
    pub allow_contexts: Vec<String>,
    /// `--retries`, `--retry-backoff`, `--request-timeout`: every client of the run retries so.
    pub retry: super::RetryPolicy,
}

/// The kubeconfig of this run: `--kubeconfig FILE`, else every file of KUBECONFIG merged the
/// way kubectl merges them (first file to set a name wins), else ~/.kube/config.
/// No file at all gives an empty kubeconfig: clusters may still come from a provisioner.
pub fn load_kubeconfig(options: &KubeOptions) -> HostResult<Kubeconfig> {
    if let Some(file) = &options.kubeconfig {
        if !file.is_file() {
            return Err(
                HostError::cluster(format!("kubeconfig {} not found", file.display()))
                    .with_hint("--kubeconfig must name an existing kubeconfig file"),
            );
        }
        return read_file(file);
    }
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let files: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !files.is_empty() {
            let mut merged = Kubeconfig::default();
            for file in files.iter().filter(|f| f.exists()) {
                merged = merged.merge(read_file(file)?).map_err(|e| {
                    HostError::from_error(&e)
                        .context(format!("cannot merge kubeconfig {}", file.display()))
                })?;
            }
            return Ok(merged);
        }
    }
    match home_kubeconfig() {
        Some(file) if file.is_file() => read_file(&file),
        _ => Ok(Kubeconfig::default()),
    }
}

fn home_kubeconfig() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".kube").join("config"))
}

fn read_file(file: &Path) -> HostResult<Kubeconfig> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        HostError::from_error(&e).context(format!("cannot read kubeconfig {}", file.display()))
    })?;
    parse(&text).map_err(|why| {
        HostError::cluster(format!("kubeconfig {}:{why}", file.display()))
            .with_hint("fix the file at that line (kubectl config view shows what it reads)")
    })
}

/// Parses a kubeconfig; the error says where it is wrong (`LINE:COLUMN: what`) and never
/// quotes the text: parser messages show the values around a fault, and a kubeconfig's
/// values are tokens, passwords and keys.
pub fn parse(text: &str) -> Result<Kubeconfig, String> {
    if let Err(deep) = crate::bounds::check_flow_nesting(text) {
        return Err(format!(
            "{}:{}: nested deeper than {} levels",
            deep.line,
            deep.column,
            crate::bounds::MAX_NESTING
        ));
    }
    if let Some((line, column, _)) = crate::bounds::first_control_char(text) {
        return Err(format!(
            "{line}:{column}: a control character is not allowed"
        ));
    }
    Kubeconfig::from_yaml(text).map_err(|_| where_invalid(text))
}

fn where_invalid(text: &str) -> String {
    let located = |e: serde_yaml::Error, what: &str| match e.location() {
        Some(at) => format!("{}:{}: {what}", at.line(), at.column()),
        None => format!(" {what}"),
    };
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = match serde::Deserialize::deserialize(document) {
            Ok(value) => value,
            Err(e) => return located(e, "not valid YAML"),
        };
        let _: serde_yaml::Value = value;
    }
    for document in serde_yaml::Deserializer::from_str(text) {
        let parsed: Result<Kubeconfig, _> = serde::Deserialize::deserialize(document);
        if let Err(e) = parsed {
            return located(
                e,
                "a field has the wrong type or an unknown shape for a kubeconfig",
            );
        }
    }
    // Well-formed and well-typed, yet refused by kube (a kind other than Config, an empty name).
    " not a kubeconfig (kube refused it: check apiVersion: v1, kind: Config and that every entry has a name)".to_string()
}

/// Whether `context` matches one of the glob `patterns`.
pub fn context_allowed(context: &str, patterns: &[String]) -> HostResult<bool> {
    for pattern in patterns {
        let glob = glob::Pattern::new(pattern)
            .map_err(|e| HostError::cluster(format!("invalid context pattern {pattern:?}: {e}")))?;
        if glob.matches(context) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Checks that each declared allow-list (from the command line, from the playbook) admits
/// `context`; an empty list admits everything.
pub(super) fn check_allowed(
    cluster: &str,
    context: &str,
    lists: &[(&str, &[String])],
) -> HostResult<()> {
    for (source, patterns) in lists {
        if patterns.is_empty() || context_allowed(context, patterns)? {
            continue;
        }
        return Err(HostError::cluster(format!(
            "cluster {cluster:?} (context {context:?}) is not allowed by {source}: allowed contexts are {}",
            patterns.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ")
        ))
        .with_hint("nothing was changed in this cluster; add its context to the allow-list or map the cluster to another context with --context NAME=CONTEXT"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns_match_contexts() {
        let patterns = vec!["prod-*".to_string(), "kind-dev".to_string()];
        assert!(context_allowed("prod-east", &patterns).unwrap());
        assert!(context_allowed("kind-dev", &patterns).unwrap());
        assert!(!context_allowed("staging", &patterns).unwrap());
    }

    #[test]
    fn refusal_names_context_and_list() {
        let cli = vec!["prod-*".to_string()];
        let err = check_allowed("east", "staging-east", &[("--allow-context", &cli)]).unwrap_err();
        let text = err.full_message();
        assert!(text.contains("staging-east"), "{text}");
        assert!(text.contains("\"prod-*\""), "{text}");
        assert!(check_allowed(
            "east",
            "prod-east",
            &[("--allow-context", &cli), ("allow_contexts", &[])]
        )
        .is_ok());
    }

    #[test]
    fn invalid_pattern_is_an_error() {
        let err = context_allowed("x", &["[".to_string()]).unwrap_err();
        assert!(err.full_message().contains("invalid context pattern"));
    }
}
