//! One log line per request to an API server (`-v`): method, URL and status or error, and how
//! long it took. Headers are never logged: they carry bearer tokens.

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RequestLog;

impl<S> tower::Layer<S> for RequestLog {
    type Service = Logged<S>;
    fn layer(&self, inner: S) -> Logged<S> {
        Logged { inner }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Logged<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for Logged<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.method().clone();
        let uri = request.uri().clone();
        let started = Instant::now();
        tracing::debug!(target: "runner::http", "{method} {uri}");
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let ms = started.elapsed().as_millis();
            match &result {
                Ok(answer) => tracing::info!(
                    target: "runner::http",
                    "{method} {uri} -> {} ({ms} ms)",
                    answer.status().as_u16()
                ),
                Err(e) => {
                    tracing::info!(target: "runner::http", "{method} {uri} failed: {e} ({ms} ms)");
                }
            }
            result
        })
    }
}
