//! HTTPS serving (rustls + hyper) and request handling (axum).
use super::core::ClusterCore;
use super::discovery;
use super::error::SandboxError;
use super::faults::Decision;
use super::negotiate::{self, Answer};
use super::openapi;
use super::ops::{self, PatchKind, WriteOptions, Written};
use super::protobuf;
use super::rbac::{self, ServiceAccountUser};
use super::routes::{route, Route};
use super::schema::FieldValidation;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, FieldError};
use super::table;
use super::tokens;
use super::watch::{self, WatchParams};
use axum::body::{Body, Bytes};
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

pub(crate) async fn bind(cluster: &str, port: u16) -> Result<TcpListener, SandboxError> {
    let addr = format!("127.0.0.1:{port}");
    TcpListener::bind(&addr)
        .await
        .map_err(|source| SandboxError::Bind {
            cluster: cluster.to_string(),
            addr,
            source,
        })
}

/// Accepts connections until the returned task is aborted; aborting it closes every connection.
pub(crate) fn serve(
    core: Arc<ClusterCore>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
) -> JoinHandle<()> {
    let acceptor = TlsAcceptor::from(tls);
    // A real kube-apiserver takes request bodies up to 3 MiB (large CRDs come close).
    let app = Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(3 * 1024 * 1024))
        .with_state(core.clone());
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let (tcp, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(_) => {
                        // E.g. out of file descriptors: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                // Reap finished connections so the set does not grow without bound.
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let app = app.clone();
            let core = core.clone();
            connections.spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                core.connections.fetch_add(1, Ordering::Relaxed);
                let service = TowerToHyperService::new(app);
                // With upgrades: an exec turns its HTTP/1.1 connection into a WebSocket.
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn json_response(code: u16, value: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// 201 for a creation, 200 otherwise, with one `Warning: 299 - "..."` header per warning.
fn written_response(written: Written) -> Response {
    let code = if written.created { 201 } else { 200 };
    let mut response = json_response(code, &written.object);
    for warning in &written.warnings {
        let quoted = format!("299 - {}", serde_json::Value::from(warning.as_str()));
        if let Ok(value) = header::HeaderValue::from_str(&quoted) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

fn error_response(err: &ApiError) -> Response {
    let mut response = json_response(err.code, &err.to_status());
    if err.code == 429 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// The caller: None for an invalid token, Some(None) for the admin, Some(Some(sa)) for a ServiceAccount.
fn authenticate(core: &ClusterCore, headers: &HeaderMap) -> Option<Option<ServiceAccountUser>> {
    let claims = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| core.signer.verify(token.trim()))?;
    if !service_account_alive(core, &claims) {
        return None;
    }
    Some(ServiceAccountUser::from_claims(&claims))
}

/// A ServiceAccount token is valid only while that ServiceAccount (same uid) exists, as with bound tokens.
fn service_account_alive(core: &ClusterCore, claims: &Value) -> bool {
    let sa = &claims["kubernetes.io"];
    let (Some(ns), Some(name)) = (
        sa["namespace"].as_str(),
        sa["serviceaccount"]["name"].as_str(),
    ) else {
        return true;
    };
    let inner = core.lock();
    inner
        .store
        .get(&("/serviceaccounts".into(), ns.into(), name.into()))
        .is_some_and(|e| e.value["metadata"]["uid"] == sa["serviceaccount"]["uid"])
}

async fn handle(
    State(core): State<Arc<ClusterCore>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    body: Bytes,
) -> Response {
    let faults = core
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if let Some(injector) = faults {
        let decision = injector.decide();
        if !matches!(decision, Decision::Pass) {
            tracing::info!(target: "runner::sandbox", "{}: injected fault for {method} {uri}: {decision:?}", core.name);
        }
        match decision {
            Decision::Fail500 => {
                return error_response(&ApiError::internal("injected fault: internal error"))
            }
            Decision::Throttle429 => return error_response(&ApiError::too_many_requests()),
            Decision::Stall(d) => tokio::time::sleep(d).await,
            Decision::Pass => {}
        }
    }
    let Some(user) = authenticate(&core, &headers) else {
        return error_response(&ApiError::unauthorized());
    };
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let body = if content_type.contains("protobuf") {
        match protobuf::decode(&body) {
            Some(obj) => Bytes::from(obj.to_string()),
            None => return error_response(&ApiError::unsupported_body(content_type)),
        }
    } else {
        body
    };
    let deprecation = super::deprecation::warning(&core, uri.path());
    let request = Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        upgrade: upgrade.ok(),
        body: &body,
    };
    let mut response = match dispatch(&core, user.as_ref(), request) {
        Ok(response) => response,
        Err(err) => error_response(&err),
    };
    if let Some(warning) = deprecation {
        super::deprecation::add_header(&mut response, &warning);
    }
    tracing::debug!(target: "runner::sandbox", "{}: {method} {uri} -> {}", core.name, response.status().as_u16());
    response
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// One request, as `dispatch` reads it.
struct Request<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    /// A WebSocket upgrade the request asks for (exec).
    upgrade: Option<WebSocketUpgrade>,
    body: &'a [u8],
}

fn dispatch(
    core: &Arc<ClusterCore>,
    user: Option<&ServiceAccountUser>,
    request: Request<'_>,
) -> Result<Response, ApiError> {
    let Request {
        method,
        uri,
        headers,
        upgrade,
        body,
    } = request;
    let registry = core.lock().registry.clone();
    let query: HashMap<String, String> = match uri.query() {
        Some(q) => axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
            .map(|q| q.0)
            .map_err(|e| ApiError::bad_request(format!("invalid query {q:?}: {e}")))?,
        None => HashMap::new(),
    };
    let get_only = |value: Option<Value>| -> Result<Response, ApiError> {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed());
        }
        value
            .map(|v| json_response(200, &v))
            .ok_or_else(ApiError::no_resource)
    };
    let target = match route(uri.path(), &registry)? {
        Route::Version => return get_only(Some(discovery::version())),
        Route::Health => return Ok((StatusCode::OK, "ok").into_response()),
        Route::OpenApiRoot => return get_only(Some(openapi::root(&registry))),
        Route::OpenApiGroupVersion(gv) => return get_only(openapi::group_version(&registry, &gv)),
        Route::CoreVersions | Route::GroupList
            if method == Method::GET
                && discovery::wants_aggregated(header_str(headers, header::ACCEPT)) =>
        {
            let core_group = uri.path().trim_matches('/') == "api";
            let mut response = json_response(200, &discovery::aggregated(&registry, core_group));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(discovery::AGGREGATED_CONTENT_TYPE),
            );
            return Ok(response);
        }
        Route::CoreVersions => {
            let port = core.port.load(Ordering::Relaxed);
            return get_only(Some(discovery::core_versions(&format!("127.0.0.1:{port}"))));
        }
        Route::GroupList => return get_only(Some(discovery::group_list(&registry))),
        Route::Group(g) => return get_only(discovery::group(&registry, &g)),
        Route::ResourceList { group, version } => {
            return get_only(discovery::resource_list(&registry, &group, &version))
        }
        Route::NotFound => {
            return Ok((
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "404 page not found\n",
            )
                .into_response())
        }
        Route::Resource(t) => *t,
    };
    let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    if let Some(user) = user.filter(|_| core.rbac) {
        let verb = match (method.as_str(), target.name.is_some()) {
            ("GET", true) => "get",
            ("GET", false) if watching => "watch",
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => "unknown",
        };
        if !rbac::allowed(&core.lock(), user, verb, &target) {
            return Err(rbac::forbidden(user, verb, &target));
        }
        // A WebSocket exec is a GET, and needs `create` as well, as on the real server.
        let websocket_exec = verb == "get" && target.subresource.as_deref() == Some("exec");
        if websocket_exec && !rbac::allowed(&core.lock(), user, "create", &target) {
            return Err(rbac::forbidden_without_reason(&target));
        }
    }
    if target.subresource.as_deref() == Some("exec") {
        return super::exec::answer(core, &target, method, uri, upgrade);
    }
    // DELETE carries its options (DeleteOptions) in the body.
    let body_dry_run = method == Method::DELETE
        && serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["dryRun"].as_array().cloned())
            .is_some_and(|d| d.iter().any(|x| x == "All"));
    let options_kind = match *method {
        Method::PUT => "UpdateOptions",
        Method::PATCH => "PatchOptions",
        Method::DELETE => "DeleteOptions",
        _ => "CreateOptions",
    };
    if let Some(other) = query.get("dryRun").filter(|v| *v != "All") {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            options_kind,
            "",
            vec![FieldError::not_supported(
                "dryRun",
                &Value::from(other.as_str()),
                &["All"],
            )],
        ));
    }
    let opts = WriteOptions {
        dry_run: body_dry_run || query.get("dryRun").is_some_and(|v| v == "All"),
        field_manager: query.get("fieldManager").cloned(),
        force: query.get("force").is_some_and(|v| v == "true"),
        user_agent: header_str(headers, header::USER_AGENT).to_string(),
        field_validation: FieldValidation::parse(
            query.get("fieldValidation").map(String::as_str),
            options_kind,
        )?,
    };
    let labels = LabelSelector::parse(query.get("labelSelector").map_or("", |s| s))?;
    let fields = FieldSelector::parse(query.get("fieldSelector").map_or("", |s| s))?;
    let answer = negotiate::choose(header_str(headers, header::ACCEPT))?;
    let as_table = answer == Answer::Table;
    let t = &target;
    match (method.clone(), t.name.is_some(), t.subresource.as_deref()) {
        (Method::GET, false, _) => {
            if watching {
                let params = WatchParams {
                    since: query.get("resourceVersion").and_then(|rv| rv.parse().ok()),
                    labels,
                    fields,
                    bookmarks: query
                        .get("allowWatchBookmarks")
                        .is_some_and(|v| v == "true"),
                    timeout: Duration::from_secs(
                        query
                            .get("timeoutSeconds")
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(1800),
                    ),
                    as_table,
                };
                let stream = watch::start(core, target, params);
                return Ok(Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(stream)
                    .unwrap_or_else(|_| Response::new(Body::empty())));
            }
            let page = ops::Page {
                limit: query.get("limit").and_then(|l| l.parse().ok()),
                continue_token: query.get("continue").filter(|c| !c.is_empty()).cloned(),
            };
            let list = ops::list(core, t, &labels, &fields, &page)?;
            if answer == Answer::Metadata {
                return Ok(json_response(200, &negotiate::metadata_list(list)));
            }
            if as_table {
                let items = list["items"].as_array().cloned().unwrap_or_default();
                let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("");
                return Ok(json_response(200, &table::table(&t.rt, &items, rv)));
            }
            Ok(json_response(200, &list))
        }
        (Method::GET, true, _) => {
            let obj = ops::get(core, t)?;
            if answer == Answer::Metadata {
                return Ok(json_response(200, &negotiate::metadata_only(&obj)));
            }
            if as_table {
                let rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("");
                return Ok(json_response(
                    200,
                    &table::table(&t.rt, std::slice::from_ref(&obj), rv),
                ));
            }
            Ok(json_response(200, &obj))
        }
        (Method::POST, false, None) => Ok(written_response(ops::create(core, t, body, &opts)?)),
        (Method::POST, true, Some("token")) => {
            let ns = t.namespace.as_deref().unwrap_or("");
            let name = t.name.as_deref().unwrap_or("");
            Ok(json_response(
                201,
                &tokens::token_request(core, ns, name, body, opts.dry_run)?,
            ))
        }
        (Method::PUT, true, None | Some("status")) => {
            Ok(written_response(ops::update(core, t, body, &opts)?))
        }
        (Method::PATCH, true, None | Some("status")) => {
            let content_type = header_str(headers, header::CONTENT_TYPE);
            let kind = PatchKind::from_content_type(content_type)
                .ok_or_else(|| ApiError::unsupported_patch(content_type))?;
            Ok(written_response(ops::patch(core, t, kind, body, &opts)?))
        }
        (Method::DELETE, true, None) => Ok(json_response(200, &ops::delete(core, t, &opts)?)),
        (Method::DELETE, false, None) => Ok(json_response(
            200,
            &ops::delete_collection(core, t, &labels, &fields, &opts)?,
        )),
        _ => Err(ApiError::method_not_allowed()),
    }
}
