//! Bounded retries of transient API failures: connection errors, timeouts, 429 and 5xx.

use std::future::Future;
use std::time::Duration;

use crate::error::{HostError, HostResult};

const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// One request may not take longer than this (watches are not retried here).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why one attempt failed.
pub enum Failure {
    Api(kube::Error),
    TimedOut,
}

fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            status.code == 429 || (500..=599).contains(&status.code) && status.code != 501
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => !is_tls_rejection(error),
        _ => false,
    }
}

/// A certificate the client rejects will be rejected again: not worth retrying.
fn is_tls_rejection(error: &kube::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("certificate") {
            return true;
        }
        current = e.source();
    }
    false
}

/// Runs `op` until it succeeds, fails for good, or `ATTEMPTS` transient failures pass
/// (about 4 s of backoff). `describe` turns the final error into the message.
pub async fn retry<T, F, Fut>(
    cluster: &str,
    what: &str,
    mut op: F,
    describe: impl Fn(&kube::Error) -> HostError,
) -> HostResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let failure = match tokio::time::timeout(REQUEST_TIMEOUT, op()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) if !is_transient(&error) => return Err(describe(&error)),
            Ok(Err(error)) => Failure::Api(error),
            Err(_) => Failure::TimedOut,
        };
        if attempt >= ATTEMPTS {
            let last = match &failure {
                Failure::Api(error) => describe(error),
                Failure::TimedOut => HostError::new(format!(
                    "{cluster}: {what}: no answer within {}s",
                    REQUEST_TIMEOUT.as_secs()
                )),
            };
            return Err(last
                .context(format!("{cluster}: {what} failed {ATTEMPTS} times in a row"))
                .with_hint(format!(
                    "the API server of {cluster} is unreachable or overloaded; check it and run the play again"
                )));
        }
        tracing::info!(cluster, what, attempt, "transient failure, retrying");
        tokio::time::sleep(backoff).await;
        backoff *= 2;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn status(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: format!("code {code}"),
            ..Default::default()
        }))
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let value = retry(
            "c1",
            "get x",
            || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        Err(status(503))
                    } else {
                        Ok(7)
                    }
                }
            },
            |e| HostError::from_error(e),
        )
        .await
        .unwrap();
        assert_eq!((value, calls.load(Ordering::SeqCst)), (7, 3));
    }

    #[tokio::test]
    async fn bound_gives_one_clear_error() {
        let calls = AtomicU32::new(0);
        let err = retry::<(), _, _>(
            "c1",
            "get x",
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(status(500)) }
            },
            |e| HostError::from_error(e),
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
        assert!(
            err.message.contains("c1: get x failed 5 times"),
            "{}",
            err.full_message()
        );
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let err = retry::<(), _, _>(
            "c1",
            "get x",
            || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(status(422)) }
            },
            |e| HostError::from_error(e),
        )
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(err.full_message().contains("code 422"));
    }
}
