//! Kubeconfig exec plugins (`users[].user.exec`), run by runner rather than by kube.
//!
//! kube-client runs the plugin with `std::process::Command::output()`: no timeout, and on a
//! blocking call inside the async runtime, so a plugin that never answers hangs the play and a
//! second Ctrl-C leaves it running. runner runs it in its own process group, bounded in time;
//! on timeout or cancellation the whole group is killed, and the kernel kills the plugin when
//! runner itself is killed.
//!
//! As kubectl (client-go) does, the credential a plugin prints is kept for every connection
//! that uses the same plugin until its `expirationTimestamp`, and fetched again when the API
//! server answers 401 to it (`RefreshLayer`, in each such client's stack). A client
//! certificate is handed to kube as it is, for the connection's life.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;
use tower::{BoxError, Layer, Service, ServiceExt};

use base64::Engine as _;
use kube::config::{AuthInfo, ExecConfig, Kubeconfig};

use crate::error::{HostError, HostResult};

/// How long a plugin may take to print a credential (cloud CLIs answer in a few seconds).
pub(super) const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// Replaces the exec plugin of `context`'s user, if it has one, by the credential it prints
/// (or printed before, if still valid). A token comes with the plugin that refreshes it.
pub(super) async fn resolve(
    kubeconfig: &mut Kubeconfig,
    context: &str,
) -> HostResult<Option<Plugin>> {
    let Some(user) = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())
    else {
        return Ok(None);
    };
    let Some(auth) = kubeconfig
        .auth_infos
        .iter_mut()
        .find(|a| a.name == user)
        .and_then(|a| a.auth_info.as_mut())
    else {
        return Ok(None);
    };
    let Some(exec) = auth.exec.take() else {
        return Ok(None);
    };
    let plugin = Plugin::new(exec, user);
    let credential = plugin.credential().await?;
    let refreshes = credential.token.is_some();
    apply(auth, credential);
    Ok(refreshes.then_some(plugin))
}

/// The credential slot of each plugin, by the plugin's configuration (command, arguments,
/// environment): what kubectl keeps in memory for the life of the process. Each plugin has its
/// own slot and lock, so a plugin that hangs holds up only the clusters that use it.
static CACHE: LazyLock<std::sync::Mutex<HashMap<String, Slot>>> = LazyLock::new(Default::default);

type Slot = Arc<tokio::sync::Mutex<Option<Credential>>>;

/// One kubeconfig user's exec plugin, and where its credential is kept.
#[derive(Clone)]
pub(super) struct Plugin(Arc<PluginConfig>);

struct PluginConfig {
    exec: ExecConfig,
    user: String,
    slot: Slot,
}

impl Plugin {
    fn new(exec: ExecConfig, user: String) -> Plugin {
        let key = serde_json::to_string(&exec).unwrap_or_default();
        // A panic elsewhere while the map was held leaves it usable: it only maps keys to slots.
        let slot = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        Plugin(Arc::new(PluginConfig { exec, user, slot }))
    }

    /// The kept credential while it is valid, else a new one from the plugin. Runs of one
    /// plugin wait for each other, so that concurrent connections run it once.
    async fn credential(&self) -> HostResult<Credential> {
        let mut kept = self.0.slot.lock().await;
        if let Some(credential) = kept.as_ref() {
            if credential.valid_at(time::OffsetDateTime::now_utc()) {
                return Ok(credential.clone());
            }
        }
        let fresh = run(&self.0.exec, &self.0.user, EXEC_TIMEOUT).await?;
        *kept = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets `token` (the server refused it), unless a newer one replaced it already.
    async fn forget(&self, token: &str) {
        let mut kept = self.0.slot.lock().await;
        if kept
            .as_ref()
            .is_some_and(|credential| credential.token.as_deref() == Some(token))
        {
            *kept = None;
        }
    }
}

#[derive(Clone)]
struct Credential {
    token: Option<String>,
    certificate: Option<String>,
    key: Option<String>,
    /// `status.expirationTimestamp`; none means valid for the life of the process.
    expires: Option<time::OffsetDateTime>,
}

impl Credential {
    fn valid_at(&self, now: time::OffsetDateTime) -> bool {
        self.expires.is_none_or(|expires| now < expires)
    }
}

fn apply(auth: &mut AuthInfo, credential: Credential) {
    let encode = |pem: String| base64::engine::general_purpose::STANDARD.encode(pem);
    if let Some(token) = credential.token {
        auth.token = Some(token.into());
    }
    if let (Some(cert), Some(key)) = (credential.certificate, credential.key) {
        auth.client_certificate_data = Some(encode(cert));
        auth.client_key_data = Some(encode(key).into());
    }
}

/// Kills the plugin's process group unless it finished: on timeout, error and cancellation.
struct GroupGuard {
    pgid: Option<libc::pid_t>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: signals the process group runner created for the plugin.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

/// Has the kernel kill the plugin when runner dies, SIGKILL included, when no guard can run.
/// The signal follows the thread that started the plugin; that thread awaits the plugin (or
/// kills it) before it can end, so the plugin never outlives it otherwise.
fn die_with_runner(cmd: &mut tokio::process::Command) {
    let runner = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: between fork and exec the closure calls only prctl, getppid and _exit, which are
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // runner died before prctl took effect: there is no one left to answer.
            if libc::getppid() != runner {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

async fn run(exec: &ExecConfig, user: &str, timeout: Duration) -> HostResult<Credential> {
    let command = exec.command.clone().unwrap_or_default();
    let what = format!("kubeconfig user {user:?}: exec plugin {command:?}");
    if command.is_empty() {
        return Err(HostError::new(format!("{what}: no command given")));
    }
    let mut cmd = tokio::process::Command::new(&command);
    cmd.args(exec.args.iter().flatten());
    for pair in exec.env.iter().flatten() {
        if let (Some(name), Some(value)) = (pair.get("name"), pair.get("value")) {
            cmd.env(name, value);
        }
    }
    for name in exec.drop_env.iter().flatten() {
        cmd.env_remove(name);
    }
    let api_version = exec
        .api_version
        .clone()
        .unwrap_or_else(|| "client.authentication.k8s.io/v1".to_string());
    cmd.env(
        "KUBERNETES_EXEC_INFO",
        serde_json::json!({
            "apiVersion": api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": false},
        })
        .to_string(),
    );
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    die_with_runner(&mut cmd);
    let child = cmd
        .spawn()
        .map_err(|e| HostError::from_error(&e).context(format!("{what}: cannot start")))?;
    let mut guard = GroupGuard {
        pgid: child.id().map(|id| id as libc::pid_t),
    };
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(output) => output.map_err(|e| HostError::from_error(&e).context(what.clone()))?,
        Err(_) => {
            return Err(HostError::new(format!(
                "{what} printed no credential within {timeout:?}; runner killed it and its process group"
            ))
            .with_hint("run the plugin by hand to see what it waits for (a login prompt?)"));
        }
    };
    // The plugin exited; what it left running in its group goes with the guard.
    if let Some(pgid) = guard.pgid.take() {
        // SAFETY: signals the process group runner created for the plugin.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    if !output.status.success() {
        return Err(HostError::new(format!("{what} failed ({})", output.status)));
    }
    // Never quote the output: it is a credential.
    let parsed: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        HostError::new(format!(
            "{what} printed something that is not an ExecCredential (JSON error at line {} column {})",
            e.line(),
            e.column()
        ))
    })?;
    let status = parsed.get("status");
    let field = |name: &str| {
        status
            .and_then(|s| s.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let expires = match field("expirationTimestamp") {
        None => None,
        Some(text) => Some(
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    HostError::new(format!(
                        "{what} printed an ExecCredential whose status.expirationTimestamp is not an RFC 3339 time"
                    ))
                })?,
        ),
    };
    let credential = Credential {
        token: field("token"),
        certificate: field("clientCertificateData"),
        key: field("clientKeyData"),
        expires,
    };
    if credential.token.is_none() && (credential.certificate.is_none() || credential.key.is_none())
    {
        return Err(HostError::new(format!(
            "{what} printed an ExecCredential without status.token or status.clientCertificateData and clientKeyData"
        )));
    }
    Ok(credential)
}

/// Sends each request with the plugin's current token, and once more with a new one when the
/// server answers 401 to a token the plugin printed.
#[derive(Clone)]
pub(super) struct RefreshLayer(pub Plugin);

impl<S> Layer<S> for RefreshLayer {
    type Service = Refresh<S>;
    fn layer(&self, inner: S) -> Refresh<S> {
        Refresh {
            inner,
            plugin: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(super) struct Refresh<S> {
    inner: S,
    plugin: Plugin,
}

impl<S, B> Service<Request<Body>> for Refresh<S>
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
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let plugin = self.plugin.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let replay = body.try_clone();
            let token = plugin.credential().await?.token.unwrap_or_default();
            set_bearer(&mut parts.headers, &token)?;
            let answer = inner
                .call(Request::from_parts(parts.clone(), body))
                .await
                .map_err(Into::into)?;
            let Some(replay) = replay.filter(|_| answer.status() == StatusCode::UNAUTHORIZED)
            else {
                return Ok(answer);
            };
            plugin.forget(&token).await;
            let fresh = plugin.credential().await?.token.unwrap_or_default();
            if fresh == token {
                return Ok(answer);
            }
            set_bearer(&mut parts.headers, &fresh)?;
            inner.ready().await.map_err(Into::into)?;
            inner
                .call(Request::from_parts(parts, replay))
                .await
                .map_err(Into::into)
        })
    }
}

fn set_bearer(headers: &mut http::HeaderMap, token: &str) -> Result<(), BoxError> {
    let mut value = http::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| BoxError::from("the exec plugin's token is not a valid header value"))?;
    value.set_sensitive(true);
    headers.insert(http::header::AUTHORIZATION, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(script: &str) -> ExecConfig {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "sh",
            "args": ["-c", script],
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_plugin_that_never_answers_is_killed_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("grandchild.pid");
        let script = format!("sleep 300 & echo $! > {}; wait", marker.display());
        let error = run(&plugin(&script), "u", Duration::from_millis(500))
            .await
            .err()
            .unwrap();
        assert_eq!(
            error.message,
            "kubeconfig user \"u\": exec plugin \"sh\" printed no credential within 500ms; runner killed it and its process group"
        );
        let grandchild: libc::pid_t = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The sleeping grandchild got SIGKILL with its group; once reaped by init it is gone.
        let mut gone = false;
        for _ in 0..100 {
            // SAFETY: signal 0 only checks existence.
            let alive = unsafe { libc::kill(grandchild, 0) } == 0;
            let zombie = std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true);
            if !alive || zombie {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone, "the plugin's child {grandchild} still runs");
    }

    #[tokio::test]
    async fn a_token_is_handed_over_and_output_is_never_quoted() {
        let ok = run(
            &plugin(r#"echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t0k3n"}}'"#),
            "u",
            EXEC_TIMEOUT,
        )
        .await
        .unwrap();
        assert_eq!(ok.token.as_deref(), Some("t0k3n"));
        let bad = run(&plugin("echo not-json-secret-value"), "u", EXEC_TIMEOUT)
            .await
            .err()
            .unwrap();
        assert_eq!(
            bad.message,
            "kubeconfig user \"u\": exec plugin \"sh\" printed something that is not an ExecCredential (JSON error at line 1 column 2)"
        );
    }

    #[tokio::test]
    async fn an_expiration_that_is_not_a_time_is_refused_without_quoting_it() {
        let bad = run(
            &plugin(r#"echo '{"kind":"ExecCredential","status":{"token":"t0k3n","expirationTimestamp":"soon"}}'"#),
            "u",
            EXEC_TIMEOUT,
        )
        .await
        .err()
        .unwrap();
        assert_eq!(
            bad.message,
            "kubeconfig user \"u\": exec plugin \"sh\" printed an ExecCredential whose status.expirationTimestamp is not an RFC 3339 time"
        );
        let ok = run(
            &plugin(r#"echo '{"kind":"ExecCredential","status":{"token":"t0k3n","expirationTimestamp":"2030-01-02T03:04:05Z"}}'"#),
            "u",
            EXEC_TIMEOUT,
        )
        .await
        .unwrap();
        assert!(ok.valid_at(time::macros::datetime!(2030-01-02 03:04:04 UTC)));
        assert!(!ok.valid_at(time::macros::datetime!(2030-01-02 03:04:05 UTC)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_plugin_holds_up_only_its_own_users() {
        let dir = tempfile::tempdir().unwrap();
        let started = dir.path().join("started");
        let hanging = Plugin::new(
            plugin(&format!("touch {}; exec sleep 300", started.display())),
            "stuck".into(),
        );
        let held = tokio::spawn({
            let hanging = hanging.clone();
            async move { hanging.credential().await.map(|_| ()) }
        });
        while !started.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let answering = Plugin::new(
            plugin(
                r#"echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"other"}}'"#,
            ),
            "free".into(),
        );
        let credential = answering.credential().await.unwrap();
        assert_eq!(credential.token.as_deref(), Some("other"));
        assert!(
            !held.is_finished(),
            "the other plugin answered only after the hanging one ended"
        );
        // Dropping the held run kills the plugin's group.
        held.abort();
    }
}
