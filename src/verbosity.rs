//! `-v`, `-vv` and `RUST_LOG`: runner's own tracing events on stderr (requests, retries, what
//! the sandbox logs), and the Kubernetes client's debug events.
//!
//! HTTP libraries (hyper, h2, rustls) log request headers at trace level, and a request's
//! Authorization header is a bearer token: only runner's targets and kube's, capped at debug
//! (kube logs response headers at trace), are ever enabled, whatever RUST_LOG says.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Starts logging for the process: runner's warnings (a sandbox that cannot save its state)
/// always, more with `-v` or RUST_LOG.
pub(crate) fn init(verbose: u8) {
    let from_env = std::env::var("RUST_LOG").ok();
    let directives = directives(verbose, from_env.as_deref());
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::OFF.into())
        .parse_lossy(directives.join(","));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The filter's directives: runner's warnings, `-v` runner at info, `-vv` runner and kube at
/// debug; RUST_LOG's directives for runner's crates and kube are added (a bare level means runner's),
/// any other dropped.
pub(crate) fn directives(verbose: u8, rust_log: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = match verbose {
        0 => Vec::new(),
        1 => vec!["runner=info".into()],
        _ => vec!["runner=debug".into(), "kube=debug".into()],
    };
    for directive in rust_log.unwrap_or("").split(',').map(str::trim) {
        let (target, level) = match directive.split_once('=') {
            Some((target, level)) => (target.trim(), level.trim().to_ascii_lowercase()),
            None => ("runner", directive.to_ascii_lowercase()),
        };
        if !LEVELS.contains(&level.as_str()) {
            continue;
        }
        // runner's crates: runner, runner_sandbox, runner_certs, and their modules.
        let own =
            target == "runner" || target.starts_with("runner::") || target.starts_with("runner_");
        let client =
            target == "kube" || target.starts_with("kube_") || target.starts_with("kube::");
        if own {
            out.push(format!("{target}={level}"));
        } else if client {
            let capped = if level == "trace" {
                "debug"
            } else {
                level.as_str()
            };
            out.push(format!("{target}={capped}"));
        }
    }
    if !out.iter().any(|d| d.starts_with("runner=")) {
        out.insert(0, "runner=warn".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn only_runner_and_kube_targets_are_ever_enabled() {
        assert_eq!(
            directives(
                0,
                Some("trace,h2=trace,hyper=debug,kube=trace,runner::http=debug,x[y]")
            ),
            vec!["runner=trace", "kube=debug", "runner::http=debug"]
        );
        assert_eq!(directives(1, None), vec!["runner=info"]);
        assert_eq!(
            directives(
                0,
                Some("runner_sandbox=debug,runner_certs::lock=info,runnerx=debug")
            ),
            vec![
                "runner=warn",
                "runner_sandbox=debug",
                "runner_certs::lock=info"
            ]
        );
        assert_eq!(directives(2, Some("")), vec!["runner=debug", "kube=debug"]);
        assert_eq!(
            directives(0, Some("kube=info")),
            vec!["runner=warn", "kube=info"]
        );
        assert_eq!(directives(0, Some("runner=off")), vec!["runner=off"]);
        assert_eq!(directives(0, None), vec!["runner=warn"]);
    }
}
