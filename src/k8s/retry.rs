//! One retry policy for every request to an API server: a tower layer under each cluster's
//! `kube::Client` (see `transport.rs`), so probes, discovery, sandbox detection, reads, applies
//! and the requests behind waits all retry the same way, within the same bound.
//!
//! Which answers are retried depends on whether repeating the request is safe:
//! - idempotent requests (GET, HEAD, PUT, server-side apply and merge PATCHes, DELETE, and the
//!   POSTs that persist nothing: reviews, TokenRequests, dry runs) on 429, 5xx (but 501), a
//!   connection error and an attempt that got no answer in time;
//! - other requests (a POST that creates, a JSON patch, and a connection upgrade such as a
//!   command in a pod, a GET that runs something) only when the server cannot have acted on
//!   them: the connection was never made, or it answered 429. An upgraded connection (101) is
//!   an answer like any other, handed up once: nothing here sees or repeats what flows on it.
//!
//! Backoff doubles from `first_backoff` up to `max_backoff`, with up to 50% jitter; a
//! `Retry-After` header is honoured within the same cap. The user sets the policy with
//! `--retries`, `--retry-backoff` and `--request-timeout` (`cli/retry.rs`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use tower::{BoxError, Layer, Service, ServiceExt};

use crate::error::{HostError, HostResult};

/// How often and how patiently one request is tried (the default is `runner play`'s).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Tries of one request, the first included.
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How long one try may wait for the answer's headers (a watch's events are not bounded).
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 8 tries: under 20% failing answers, one request in ~400,000 still fails. The
        // backoff totals about 8 s, so a dead server is reported within ~10 s.
        RetryPolicy {
            attempts: 8,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let doubled = self
            .first_backoff
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX));
        let base = retry_after.unwrap_or(doubled).min(self.max_backoff);
        let jitter: f64 = rand::random::<f64>() * 0.5;
        base + base.mul_f64(jitter)
    }
}

/// The layer that retries by a `RetryPolicy`.
#[derive(Clone)]
pub(super) struct RetryLayer {
    policy: RetryPolicy,
}

impl RetryLayer {
    pub(super) fn new(policy: RetryPolicy) -> Self {
        RetryLayer { policy }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;
    fn layer(&self, inner: S) -> Retry<S> {
        Retry {
            inner,
            policy: self.policy.clone(),
        }
    }
}

#[derive(Clone)]
pub(super) struct Retry<S> {
    inner: S,
    policy: RetryPolicy,
}

/// The last try of a request failed for a reason worth retrying, and no try is left.
#[derive(Debug, thiserror::Error)]
#[error("gave up after {attempts} {}", tries(.attempts))]
pub(super) struct RetriesSpent {
    pub attempts: u32,
    #[source]
    pub last: BoxError,
}

// thiserror hands the field over by reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn tries(attempts: &u32) -> &'static str {
    if *attempts == 1 {
        "try"
    } else {
        "tries"
    }
}

/// One try got no answer within the policy's `attempt_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("no answer within {}s", .0.as_secs())]
pub(super) struct NoAnswer(pub Duration);

#[derive(Clone, Copy, PartialEq)]
enum Safety {
    /// Repeating it changes nothing the first did not.
    Idempotent,
    /// Retried only when the server cannot have acted on it.
    BeforeProcessing,
}

fn safety(request: &Request<Body>) -> Safety {
    if request.headers().contains_key(http::header::UPGRADE) {
        return Safety::BeforeProcessing;
    }
    let method = request.method();
    if [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
    {
        return Safety::Idempotent;
    }
    let query = request.uri().query().unwrap_or("");
    if query.split('&').any(|pair| pair == "dryRun=All") {
        return Safety::Idempotent;
    }
    if *method == Method::PATCH {
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // A JSON patch may test and move; the others state an outcome.
        return if content_type.starts_with("application/json-patch") {
            Safety::BeforeProcessing
        } else {
            Safety::Idempotent
        };
    }
    let path = request.uri().path();
    let persists_nothing = path.ends_with("/token")
        || path.ends_with("reviews")
        || path.contains("/apis/authorization.k8s.io/")
        || path.contains("/apis/authentication.k8s.io/");
    if *method == Method::POST && persists_nothing {
        return Safety::Idempotent;
    }
    Safety::BeforeProcessing
}

fn retryable_status(status: StatusCode, safety: Safety) -> bool {
    match safety {
        _ if status == StatusCode::TOO_MANY_REQUESTS => true,
        Safety::Idempotent => status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED,
        Safety::BeforeProcessing => false,
    }
}

fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// Whether a transport error is worth another try of a request of `safety`.
fn retryable_error(error: &BoxError, safety: Safety) -> bool {
    if is_tls_rejection(error.as_ref()) {
        return false;
    }
    if error.is::<NoAnswer>() {
        return safety == Safety::Idempotent;
    }
    let connect = error
        .downcast_ref::<hyper_util::client::legacy::Error>()
        .is_some_and(hyper_util::client::legacy::Error::is_connect);
    connect || safety == Safety::Idempotent
}

/// A failed TLS handshake (a certificate either side rejects, no protocol both speak) fails the
/// same way again: not worth retrying. A connection lost during the handshake is an I/O error,
/// not a TLS one, and is retried.
fn is_tls_rejection(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        // tokio-rustls hands rustls' error inside an io::Error, whose `source()` skips it.
        let wrapped = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .is_some_and(<dyn std::error::Error + Send + Sync>::is::<rustls::Error>);
        if e.is::<rustls::Error>() || wrapped {
            return true;
        }
        current = e.source();
    }
    false
}

impl<S, B> Service<Request<Body>> for Retry<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The readied service serves the first try; clones serve the retries.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let policy = self.policy.clone();
        Box::pin(async move {
            let safety = safety(&request);
            let (parts, body) = request.into_parts();
            // A streamed body cannot be sent twice: such a request gets one try.
            let replayable = body.try_clone();
            let attempts = if replayable.is_some() {
                policy.attempts.max(1)
            } else {
                1
            };
            let mut body = Some(body);
            let mut attempt = 1;
            let mut first = true;
            loop {
                let this_body = match &replayable {
                    Some(replay) => replay.try_clone(),
                    None => body.take(),
                }
                .unwrap_or_else(Body::empty);
                let try_request = Request::from_parts(parts.clone(), this_body);
                if !first {
                    inner.ready().await.map_err(Into::into)?;
                }
                first = false;
                let answer =
                    match tokio::time::timeout(policy.attempt_timeout, inner.call(try_request))
                        .await
                    {
                        Ok(Ok(response)) => Ok(response),
                        Ok(Err(error)) => Err(error.into()),
                        Err(_) => Err(BoxError::from(NoAnswer(policy.attempt_timeout))),
                    };
                let wait_hint = match &answer {
                    Ok(response) if retryable_status(response.status(), safety) => {
                        Some(retry_after(response.headers()))
                    }
                    Ok(_) => None,
                    Err(error) if retryable_error(error, safety) => Some(None),
                    Err(_) => None,
                };
                let Some(wait_hint) = wait_hint else {
                    return answer;
                };
                if attempt >= attempts {
                    // A failing answer is the API server's word (kube turns its Status into the
                    // error); a transport failure says how many tries it took.
                    return answer.map_err(|last| {
                        BoxError::from(RetriesSpent {
                            attempts: attempt,
                            last,
                        })
                    });
                }
                // Shown with -v, beside the request log's line for each try.
                tracing::info!(
                    method = %parts.method,
                    path = parts.uri.path(),
                    attempt,
                    "transient failure, retrying"
                );
                tokio::time::sleep(policy.backoff(attempt - 1, wait_hint)).await;
                attempt += 1;
            }
        })
    }
}

/// Whether `error` is one the layer retries: when a call site sees one, its retries are spent.
pub(super) fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            status.code == 429 || (500..=599).contains(&status.code) && status.code != 501
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => !is_tls_rejection(error),
        _ => false,
    }
}

/// Awaits one request (the layer below has retried it) and explains its failure with
/// `describe`; a transient one also says that retrying did not help.
pub(super) async fn request<T, F, Fut>(
    cluster: &str,
    what: &str,
    op: F,
    describe: impl Fn(&kube::Error) -> HostError,
) -> HostResult<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    match op().await {
        Ok(value) => Ok(value),
        Err(error) if is_transient(&error) => Err(describe(&error)
            .context(format!("{cluster}: {what} kept failing"))
            .with_hint(format!(
                "the API server of {cluster} is unreachable or overloaded; check it and run the play again"
            ))),
        Err(error) => Err(describe(&error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(5),
        }
    }

    /// A server that answers the first `failures` requests with `status`, then 200.
    fn server(
        failures: u32,
        status: u16,
        calls: Arc<AtomicU32>,
    ) -> impl Service<
        Request<Body>,
        Response = Response<String>,
        Error = BoxError,
        Future = impl Future<Output = Result<Response<String>, BoxError>> + Send,
    > + Clone {
        tower::service_fn(move |_request: Request<Body>| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let code = if n < failures { status } else { 200 };
                let mut response = Response::new(String::new());
                *response.status_mut() = StatusCode::from_u16(code)?;
                Ok::<_, BoxError>(response)
            }
        })
    }

    fn request(method: Method, content_type: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri("https://cluster/api/v1/namespaces")
            .header(http::header::CONTENT_TYPE, content_type)
            .body(Body::from(b"{}".to_vec()))
            .unwrap()
    }

    async fn status_after(failures: u32, status: u16, request: Request<Body>) -> (StatusCode, u32) {
        let calls = Arc::new(AtomicU32::new(0));
        let mut service = RetryLayer::new(policy()).layer(server(failures, status, calls.clone()));
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        (response.status(), calls.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn idempotent_requests_are_retried_on_5xx_and_429_until_success() {
        let get = request(Method::GET, "application/json");
        assert_eq!(status_after(3, 503, get).await, (StatusCode::OK, 4));
        let apply = request(Method::PATCH, "application/apply-patch+yaml");
        assert_eq!(status_after(2, 500, apply).await, (StatusCode::OK, 3));
        let create = request(Method::POST, "application/json");
        assert_eq!(status_after(2, 429, create).await, (StatusCode::OK, 3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_is_not_repeated_after_a_5xx_and_501_is_final() {
        let create = request(Method::POST, "application/json");
        assert_eq!(
            status_after(1, 500, create).await,
            (StatusCode::INTERNAL_SERVER_ERROR, 1)
        );
        let json_patch = request(Method::PATCH, "application/json-patch+json");
        assert_eq!(
            status_after(1, 503, json_patch).await,
            (StatusCode::SERVICE_UNAVAILABLE, 1)
        );
        let get = request(Method::GET, "application/json");
        assert_eq!(
            status_after(1, 501, get).await,
            (StatusCode::NOT_IMPLEMENTED, 1)
        );
    }

    fn upgrade() -> Request<Body> {
        Request::builder()
            .method(Method::GET)
            .uri("https://cluster/api/v1/namespaces/default/pods/p/exec?command=ls")
            .header(http::header::CONNECTION, "Upgrade")
            .header(http::header::UPGRADE, "websocket")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn an_upgrade_runs_once_unless_the_server_cannot_have_acted() {
        assert_eq!(
            status_after(1, 503, upgrade()).await,
            (StatusCode::SERVICE_UNAVAILABLE, 1)
        );
        assert_eq!(status_after(1, 429, upgrade()).await, (StatusCode::OK, 2));
        // The upgraded connection is handed up as the answer it is, after one call.
        assert_eq!(
            status_after(1, 101, upgrade()).await,
            (StatusCode::SWITCHING_PROTOCOLS, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_bound_returns_the_last_answer_after_bounded_backoff() {
        let started = tokio::time::Instant::now();
        let get = request(Method::GET, "application/json");
        assert_eq!(
            status_after(100, 500, get).await,
            (StatusCode::INTERNAL_SERVER_ERROR, 4)
        );
        // Backoffs of 100, 200 and 400 ms, each with up to 50% jitter.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(700) && waited <= Duration::from_millis(1050),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_within_the_cap() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let inner = tower::service_fn(move |_request: Request<Body>| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut response = Response::new(String::new());
                if n == 0 {
                    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                    response
                        .headers_mut()
                        .insert(http::header::RETRY_AFTER, "30".parse()?);
                }
                Ok::<_, BoxError>(response)
            }
        });
        let mut service = RetryLayer::new(policy()).layer(inner);
        let started = tokio::time::Instant::now();
        let get = request(Method::GET, "application/json");
        let response = service.ready().await.unwrap().call(get).await.unwrap();
        assert_eq!(
            (response.status(), calls.load(Ordering::SeqCst)),
            (StatusCode::OK, 2)
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited <= Duration::from_millis(1500),
            "{waited:?}"
        );
    }

    /// An error whose source is `inner`, as the HTTP client wraps what its connector said.
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Wrapped(#[source] std::io::Error);

    #[test]
    fn a_rejected_certificate_is_final_whatever_its_message() {
        let rejected = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let error: BoxError = Box::new(Wrapped(rejected));
        assert!(!retryable_error(&error, Safety::Idempotent));
        // A message about a certificate that is not a TLS failure decides nothing.
        let reset = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset while reading the certificate",
        );
        let error: BoxError = Box::new(Wrapped(reset));
        assert!(retryable_error(&error, Safety::Idempotent));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_try_times_out_and_the_spent_bound_says_so() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let inner = tower::service_fn(move |_request: Request<Body>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, BoxError>(Response::new(String::new()))
            }
        });
        let mut service = RetryLayer::new(policy()).layer(inner);
        let get = request(Method::GET, "application/json");
        let error = service.ready().await.unwrap().call(get).await.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let spent = error.downcast_ref::<RetriesSpent>().unwrap();
        assert_eq!(
            (spent.to_string(), spent.last.to_string()),
            ("gave up after 4 tries".into(), "no answer within 5s".into())
        );
    }
}
