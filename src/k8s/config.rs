//! Kubeconfig files and the allow-list of contexts a run may change.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use crate::context::KubeOptions;
use crate::error::{HostError, HostResult};

/// The kubeconfig of this run: `--kubeconfig FILE`, else every file of KUBECONFIG merged the
/// way kubectl merges them (first file to set a name wins), else ~/.kube/config.
/// No file at all gives an empty kubeconfig: clusters may still come from a provisioner.
pub fn load_kubeconfig(options: &KubeOptions) -> HostResult<Kubeconfig> {
    if let Some(file) = &options.kubeconfig {
        if !file.is_file() {
            return Err(
                HostError::new(format!("kubeconfig {} not found", file.display()))
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
    Kubeconfig::read_from(file).map_err(|e| {
        HostError::from_error(&e).context(format!("cannot read kubeconfig {}", file.display()))
    })
}

/// Whether `context` matches one of the glob `patterns`.
pub fn context_allowed(context: &str, patterns: &[String]) -> HostResult<bool> {
    for pattern in patterns {
        let glob = glob::Pattern::new(pattern)
            .map_err(|e| HostError::new(format!("invalid context pattern {pattern:?}: {e}")))?;
        if glob.matches(context) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Checks that each declared allow-list (from the command line, from the playbook) admits
/// `context`; an empty list admits everything.
pub fn check_allowed(cluster: &str, context: &str, lists: &[(&str, &[String])]) -> HostResult<()> {
    for (source, patterns) in lists {
        if patterns.is_empty() || context_allowed(context, patterns)? {
            continue;
        }
        return Err(HostError::new(format!(
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
