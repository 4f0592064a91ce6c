//! `--retries`, `--retry-backoff` and `--request-timeout`: how patiently every request to an API
//! server is tried (the layer in `k8s/retry.rs`). A slow or flaky link wants more patience; a
//! test that rehearses failures wants the same retries in milliseconds.

use std::time::Duration;

use clap::Args;

use crate::k8s::RetryPolicy;

/// The most retries one request may get: beyond it a dead server takes hours to report.
const MAX_RETRIES: u32 = 100;
/// The longest backoff or request timeout: past it a run waits on an outage, not a blip.
const MAX_WAIT: Duration = Duration::from_secs(600);

#[derive(Args, Debug, Clone, PartialEq)]
pub struct RetryArgs {
    /// How often a request that failed for a transient reason (HTTP 429 or 5xx, a lost
    /// connection, no answer in time) is tried again before the play fails
    #[arg(
        long,
        value_name = "N",
        env = "RUNNER_RETRIES",
        default_value = "7",
        value_parser = parse_retries
    )]
    pub retries: u32,
    /// The wait before the first retry and the longest wait: it doubles from MIN to MAX, with
    /// up to 50% jitter (a server's Retry-After is honoured up to MAX)
    #[arg(
        long,
        value_name = "MIN..MAX",
        env = "RUNNER_RETRY_BACKOFF",
        default_value = "100ms..2s",
        value_parser = parse_backoff
    )]
    pub retry_backoff: Backoff,
    /// How long one try of a request may wait for the API server's answer before it is
    /// abandoned and, if safe, tried again (a watch's stream of events is not bounded)
    #[arg(
        long,
        value_name = "DURATION",
        env = "RUNNER_REQUEST_TIMEOUT",
        default_value = "15s",
        value_parser = parse_request_timeout
    )]
    pub request_timeout: Duration,
}

/// `--retry-backoff MIN..MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl RetryArgs {
    /// The policy every client of the run retries by.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            attempts: self.retries + 1,
            first_backoff: self.retry_backoff.first,
            max_backoff: self.retry_backoff.max,
            attempt_timeout: self.request_timeout,
        }
    }
}

fn parse_retries(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n <= MAX_RETRIES => Ok(n),
        _ => Err(format!(
            "the number of retries is a whole number from 0 to {MAX_RETRIES}"
        )),
    }
}

fn parse_backoff(text: &str) -> Result<Backoff, String> {
    let Some((first, max)) = text.split_once("..") else {
        return Err("expected MIN..MAX, for example 100ms..2s".into());
    };
    let first = duration(first, "MIN")?;
    let max = duration(max, "MAX")?;
    if first > max {
        return Err(format!(
            "MIN ({}) is longer than MAX ({})",
            shown(first),
            shown(max)
        ));
    }
    Ok(Backoff { first, max })
}

fn parse_request_timeout(text: &str) -> Result<Duration, String> {
    duration(text, "the timeout")
}

/// A duration from 1ms to `MAX_WAIT`, written as 250ms, 2s, 1m30s or 1.5s.
fn duration(text: &str, what: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = text
        .parse::<jiff::SignedDuration>()
        .ok()
        .and_then(|d| Duration::try_from(d).ok());
    let Some(duration) = parsed else {
        return Err(format!(
            "{what} {text:?} is not a duration (write it as 250ms, 2s or 1m)"
        ));
    };
    if duration < Duration::from_millis(1) {
        return Err(format!("{what} must be at least 1ms"));
    }
    if duration > MAX_WAIT {
        return Err(format!("{what} must be at most {}", shown(MAX_WAIT)));
    }
    Ok(duration)
}

/// A duration as a person writes it: 100ms, 2s, 1m30s.
fn shown(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms % 1000 != 0 || ms == 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        retry: RetryArgs,
    }

    #[test]
    fn the_defaults_are_the_policy_s_defaults() {
        let cli = Cli::try_parse_from(["runner"]).unwrap();
        assert_eq!(cli.retry.policy(), RetryPolicy::default());
    }

    #[test]
    fn flags_set_the_policy() {
        let cli = Cli::try_parse_from([
            "runner",
            "--retries",
            "0",
            "--retry-backoff",
            "5ms..1m30s",
            "--request-timeout",
            "1.5s",
        ])
        .unwrap();
        assert_eq!(
            cli.retry.policy(),
            RetryPolicy {
                attempts: 1,
                first_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_secs(90),
                attempt_timeout: Duration::from_millis(1500),
            }
        );
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        assert_eq!(
            parse_retries("101").unwrap_err(),
            "the number of retries is a whole number from 0 to 100"
        );
        assert_eq!(
            parse_backoff("2s").unwrap_err(),
            "expected MIN..MAX, for example 100ms..2s"
        );
        assert_eq!(
            parse_backoff("2s..100ms").unwrap_err(),
            "MIN (2s) is longer than MAX (100ms)"
        );
        assert_eq!(
            parse_backoff("fast..2s").unwrap_err(),
            "MIN \"fast\" is not a duration (write it as 250ms, 2s or 1m)"
        );
        assert_eq!(
            parse_backoff("0s..2s").unwrap_err(),
            "MIN must be at least 1ms"
        );
        assert_eq!(
            parse_request_timeout("11m").unwrap_err(),
            "the timeout must be at most 10m"
        );
        assert_eq!(
            parse_request_timeout("-1s").unwrap_err(),
            "the timeout \"-1s\" is not a duration (write it as 250ms, 2s or 1m)"
        );
    }

    #[test]
    fn durations_are_shown_as_written() {
        let cases = [
            (1, "1ms"),
            (1500, "1500ms"),
            (2000, "2s"),
            (90_000, "1m30s"),
        ];
        for (ms, text) in cases {
            assert_eq!(shown(Duration::from_millis(ms)), text);
        }
    }
}
