//! The HTTP transport under each cluster's `kube::Client`.
//!
//! kube's default stack speaks HTTP/1.1 only, so N concurrent requests open N connections and
//! pay N TLS handshakes. Every kube-apiserver offers HTTP/2 (client-go and kubectl use it), so
//! this stack lets ALPN choose: one multiplexed connection per cluster where the server offers
//! h2, HTTP/1.1 otherwise. A cluster reached through a proxy (kubeconfig `proxy-url`, http or
//! socks5) gets the same stack over a tunnel through the proxy.
//!
//! Clients of one play that reach the same server and verify it the same way (same CA
//! certificates, server name and timeouts, no client certificate) share one HTTP client, and so
//! its connection: probing a remote secret that trusts the same CA as runner's own kubeconfig
//! is then one request with the secret's token, not another TLS handshake. Whether the server
//! is trusted depends on nothing else, so the probe still tests what its reader would see.
//!
//! Every request goes through one retry policy (`retry.rs`), below authentication so that a
//! retried request carries a fresh token.
//!
//! Commands in pods (`pods/exec`) upgrade their connection to a WebSocket, which takes an
//! HTTP/1.1 connection of its own: each cluster has a second client for them (`Upgrades`),
//! built on first use with the same layers over a connection that offers only HTTP/1.1.
//!
//! The stack also hands the API server's `Warning` headers (deprecated APIs, unknown fields
//! under `fieldValidation=Warn`) to whoever awaits the request inside `with_warnings`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use hyper_rustls::HttpsConnector;
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::{Client, Config};
use tower::ServiceBuilder;

use super::exec_plugin::{Plugin, RefreshLayer};
use super::retry::{RetryLayer, RetryPolicy};

type HttpClient = HttpClientOver<HttpConnector>;
type HttpClientOver<C> =
    hyper_util::client::legacy::Client<TimeoutConnector<HttpsConnector<C>>, kube::client::Body>;

/// Which HTTP versions a client's connections offer.
#[derive(Clone, Copy, PartialEq)]
enum Versions {
    /// h2 when the server offers it (ALPN), HTTP/1.1 otherwise.
    Negotiated,
    /// HTTP/1.1 only: the one version whose connections can be upgraded to a WebSocket.
    Upgradable,
}

/// The HTTP clients of one play, by how they trust their server.
#[derive(Default)]
pub struct Transports {
    shared: Mutex<HashMap<Trust, HttpClient>>,
    retry: RetryPolicy,
}

/// Everything an HTTP client's connections depend on. Clients with a client certificate (or an
/// exec plugin, which may supply one) or a CA file that is re-read are never shared.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Trust {
    server: String,
    root_certificates: Option<Vec<Vec<u8>>>,
    accept_invalid_certs: bool,
    server_name: Option<String>,
    timeouts: [Option<Duration>; 3],
    reset_reader_on_write: bool,
}

impl Trust {
    fn of(config: &Config) -> Option<Trust> {
        let auth = &config.auth_info;
        let identity = auth.client_certificate.is_some()
            || auth.client_certificate_data.is_some()
            || auth.client_key.is_some()
            || auth.client_key_data.is_some()
            || auth.exec.is_some();
        if identity || config.root_cert_file.is_some() {
            return None;
        }
        Some(Trust {
            server: config.cluster_url.to_string(),
            root_certificates: config.root_cert.clone(),
            accept_invalid_certs: config.accept_invalid_certs,
            server_name: config.tls_server_name.clone(),
            timeouts: [
                config.connect_timeout,
                config.read_timeout,
                config.write_timeout,
            ],
            reset_reader_on_write: config.reset_reader_on_write,
        })
    }
}

impl Transports {
    /// Transports whose clients retry by `retry` rather than the default policy.
    pub fn with_retry(retry: RetryPolicy) -> Self {
        Transports {
            shared: Mutex::default(),
            retry,
        }
    }

    /// A client for `config`, over the HTTP client of an earlier one that trusts its server the
    /// same way, or over a new one.
    pub fn client(&self, config: Config) -> Result<Client, kube::Error> {
        self.client_refreshed_by(config, None)
    }

    /// As `client`, with each request's token from `plugin` (see `exec_plugin`) when given.
    pub(super) fn client_refreshed_by(
        &self,
        config: Config,
        plugin: Option<Plugin>,
    ) -> Result<Client, kube::Error> {
        if let Some(proxy) = config.proxy_url.clone() {
            return self.through_proxy(&proxy, config, plugin, Versions::Negotiated);
        }
        let http = match Trust::of(&config) {
            Some(trust) => {
                let existing = self.shared().get(&trust).cloned();
                match existing {
                    Some(http) => http,
                    // Built without the lock; if another thread built one meanwhile, theirs wins.
                    None => {
                        let built = http_client(&config, Versions::Negotiated)?;
                        self.shared().entry(trust).or_insert(built).clone()
                    }
                }
            }
            None => http_client(&config, Versions::Negotiated)?,
        };
        self.over(http, config, plugin)
    }

    /// What `config`'s cluster needs for upgraded connections; the client itself is built
    /// when a first exec needs it.
    pub(super) fn upgrades(&self, config: Config, plugin: Option<Plugin>) -> Upgrades {
        Upgrades {
            retry: self.retry.clone(),
            config,
            plugin,
            client: OnceLock::new(),
        }
    }

    /// A client whose connections offer only HTTP/1.1, never shared: an upgraded connection
    /// belongs to its one exec. It has no read timeout, so that a command may be quiet for as
    /// long as it runs (the playbook's `timeout` bounds it).
    fn upgradable_client(
        &self,
        mut config: Config,
        plugin: Option<Plugin>,
    ) -> Result<Client, kube::Error> {
        config.read_timeout = None;
        if let Some(proxy) = config.proxy_url.clone() {
            return self.through_proxy(&proxy, config, plugin, Versions::Upgradable);
        }
        let http = http_client(&config, Versions::Upgradable)?;
        self.over(http, config, plugin)
    }

    /// A client whose connections are tunnelled through `proxy`, with the same layers (retry
    /// included) as every other. Never shared: the proxy is part of how the server is reached.
    fn through_proxy(
        &self,
        proxy: &http::Uri,
        config: Config,
        plugin: Option<Plugin>,
        versions: Versions,
    ) -> Result<Client, kube::Error> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        match proxy.scheme_str() {
            Some("http") => {
                let mut tunnel = Tunnel::new(proxy.clone(), tcp);
                if let Some(credentials) = proxy_userinfo(proxy) {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
                    if let Ok(value) = http::HeaderValue::from_str(&format!("Basic {encoded}")) {
                        tunnel = tunnel.with_auth(value);
                    }
                }
                self.over(http_client_over(&config, tunnel, versions)?, config, plugin)
            }
            Some("socks5") => {
                let mut socks = SocksV5::new(proxy.clone(), tcp).local_dns(true);
                if let Some((user, password)) = proxy_userinfo(proxy).and_then(|u| {
                    u.split_once(':')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                }) {
                    socks = socks.with_auth(user, password);
                }
                self.over(http_client_over(&config, socks, versions)?, config, plugin)
            }
            _ => Err(kube::Error::ProxyProtocolUnsupported {
                proxy_url: Box::new(without_userinfo(proxy)),
            }),
        }
    }

    fn over<C>(
        &self,
        http: HttpClientOver<C>,
        config: Config,
        plugin: Option<Plugin>,
    ) -> Result<Client, kube::Error>
    where
        C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
        C::Response: hyper_util::client::legacy::connect::Connection
            + hyper::rt::Read
            + hyper::rt::Write
            + Send
            + Unpin
            + 'static,
        C::Future: Send + Unpin + 'static,
        C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let service = ServiceBuilder::new()
            .map_response(record_warnings)
            .layer(config.base_uri_layer())
            .option_layer(config.auth_layer()?)
            .layer(config.extra_headers_layer()?)
            // Below kube's auth layer, so that the plugin's current token is the one sent.
            .option_layer(plugin.map(RefreshLayer))
            // Each try is logged (-v), so retries show as the requests they are.
            .layer(RetryLayer::new(self.retry.clone()))
            .layer(super::request_log::RequestLog)
            .service(http);
        Ok(Client::new(service, config.default_namespace))
    }

    /// Forgets every HTTP client (watch mode's next run starts afresh).
    pub fn clear(&self) {
        self.shared().clear();
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, HashMap<Trust, HttpClient>> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One cluster's client for upgraded connections (exec), built on first use.
pub(super) struct Upgrades {
    retry: RetryPolicy,
    config: Config,
    plugin: Option<Plugin>,
    client: OnceLock<Client>,
}

impl Upgrades {
    pub(super) fn client(&self) -> Result<Client, kube::Error> {
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let transports = Transports::with_retry(self.retry.clone());
        let built = transports.upgradable_client(self.config.clone(), self.plugin.clone())?;
        // Two first execs at once may both build one; either serves.
        Ok(self.client.get_or_init(|| built).clone())
    }
}

/// `proxy` without its `user:password@`, to be shown in an error.
fn without_userinfo(proxy: &http::Uri) -> http::Uri {
    let Some(userinfo) = proxy_userinfo(proxy) else {
        return proxy.clone();
    };
    let shown = proxy.to_string().replacen(&format!("{userinfo}@"), "", 1);
    shown.parse().unwrap_or_default()
}

/// The `user:password` of a proxy URL, if it has one.
fn proxy_userinfo(proxy: &http::Uri) -> Option<&str> {
    proxy
        .authority()
        .and_then(|a| a.as_str().rsplit_once('@'))
        .map(|(userinfo, _)| userinfo)
}

fn http_client(config: &Config, versions: Versions) -> Result<HttpClient, kube::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http_client_over(config, http, versions)
}

/// An HTTP client speaking TLS over connections `tcp` opens: h2 or HTTP/1.1 by ALPN, or
/// HTTP/1.1 only.
fn http_client_over<C>(
    config: &Config,
    tcp: C,
    versions: Versions,
) -> Result<HttpClientOver<C>, kube::Error>
where
    C: tower::Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper_util::client::legacy::connect::Connection
        + hyper::rt::Read
        + hyper::rt::Write
        + Send
        + Unpin
        + 'static,
    C::Future: Send + Unpin + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Only fails when another thread installed one first, which is as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    let https = match &config.tls_server_name {
        Some(name) => {
            let name = rustls::pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(e))
            })?;
            https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
        }
        None => https,
    };
    let https = match versions {
        Versions::Negotiated => https.enable_all_versions().wrap_connector(tcp),
        Versions::Upgradable => https.enable_http1().wrap_connector(tcp),
    };
    let mut connector = TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    Ok(hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector))
}

tokio::task_local! {
    /// The `Warning`s of the latest answer to a request awaited inside `with_warnings`.
    static WARNINGS: Arc<Mutex<Vec<String>>>;
}

/// Runs `request` and returns its output with the `Warning`s of the last answer it got (a
/// retried request reports what the answer that counted said, once).
pub(super) async fn with_warnings<F: std::future::Future>(request: F) -> (F::Output, Vec<String>) {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let output = WARNINGS.scope(sink.clone(), request).await;
    let warnings = std::mem::take(
        &mut *sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    (output, warnings)
}

fn record_warnings<B>(response: http::Response<B>) -> http::Response<B> {
    // Outside `with_warnings` there is no one to tell: the headers are not even parsed.
    let _ = WARNINGS.try_with(|sink| {
        let warnings = response
            .headers()
            .get_all(http::header::WARNING)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(parse_warning_header)
            .collect();
        *sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = warnings;
    });
    response
}

/// The texts of one `Warning` header value (RFC 9111: `code agent "text" ["date"]`, comma
/// separated), as kube-apiserver sends them: `299 - "unknown field \"spec.x\""`.
fn parse_warning_header(value: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        // Skip the code and the agent, up to the opening quote of the text.
        let Some(open) = rest.find('"') else { break };
        let mut text = String::new();
        let mut chars = rest[open + 1..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        text.push(escaped);
                    }
                }
                '"' => {
                    end = Some(open + 1 + i + 1);
                    break;
                }
                c => text.push(c),
            }
        }
        let Some(end) = end else { break };
        texts.push(text);
        rest = rest[end..].trim_start();
        // An optional quoted date, then a comma before the next warning.
        if rest.starts_with('"') {
            match rest[1..].find('"') {
                Some(close) => rest = rest[close + 2..].trim_start(),
                None => break,
            }
        }
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::{parse_warning_header, without_userinfo};

    #[test]
    fn a_proxy_password_is_never_shown() {
        let proxy: http::Uri = "https://user:s3cret@proxy.example:3128".parse().unwrap();
        assert_eq!(
            without_userinfo(&proxy).to_string(),
            "https://proxy.example:3128/"
        );
    }

    #[test]
    fn warning_headers_give_their_unescaped_texts() {
        assert_eq!(
            parse_warning_header(r#"299 - "unknown field \"spec.foo\"""#),
            vec![r#"unknown field "spec.foo""#]
        );
        assert_eq!(
            parse_warning_header(
                r#"299 - "policy/v1beta1 PodSecurityPolicy is deprecated", 299 - "second" "Sat, 01 Jan 2000 00:00:00 GMT""#
            ),
            vec!["policy/v1beta1 PodSecurityPolicy is deprecated", "second"]
        );
        assert_eq!(
            parse_warning_header("299 - no quotes"),
            Vec::<String>::new()
        );
        assert_eq!(
            parse_warning_header(r#"299 - "unterminated"#),
            Vec::<String>::new()
        );
    }
}
