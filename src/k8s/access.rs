//! Credentials for reading a cluster from elsewhere: TokenRequests for a ServiceAccount, and
//! probing a kubeconfig (as istiod would use it) with a real, authenticated request.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Api;

use super::cluster::Cluster;
use super::transport::Transports;
use crate::error::{HostError, HostResult};

impl Cluster {
    /// `create_token` as a play asks for it: a dry run (`--dry-run`) requests none and gets
    /// "(known after apply)". A cluster `--limit` leaves out still gives its token: the
    /// clusters the run does change read it (a remote secret on the primary).
    pub async fn request_token(
        &self,
        reporter: &crate::report::Reporter,
        dry_run: bool,
        namespace: &str,
        service_account: &str,
        seconds: i64,
    ) -> HostResult<String> {
        check_token_seconds(seconds)?;
        if dry_run {
            reporter.log(&format!(
                "{}: would request a {seconds}s token for {namespace}/{service_account}",
                self.name()
            ));
            return Ok(super::KNOWN_AFTER_APPLY.to_string());
        }
        self.create_token(namespace, service_account, seconds).await
    }

    /// A bound token for `namespace/service_account`, valid for `seconds` (a TokenRequest).
    pub async fn create_token(
        &self,
        namespace: &str,
        service_account: &str,
        seconds: i64,
    ) -> HostResult<String> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(seconds),
                ..Default::default()
            }),
            ..Default::default()
        };
        let response = api
            .create_token_request(service_account, &PostParams::default(), &request)
            .await
            .map_err(|e| {
                HostError::from_error(&e).context(format!(
                    "cluster {:?}: cannot request a token for ServiceAccount {namespace}/{service_account}",
                    self.name()
                ))
            })?;
        response
            .status
            .and_then(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                HostError::new(format!(
                    "cluster {:?}: the TokenRequest for {namespace}/{service_account} returned no token",
                    self.name()
                ))
            })
    }
}

/// A token is asked for a positive number of seconds.
fn check_token_seconds(seconds: i64) -> HostResult<()> {
    if seconds <= 0 {
        return Err(HostError::new(format!(
            "create_token: seconds must be a positive number, not {seconds}"
        )));
    }
    Ok(())
}

/// What probing a kubeconfig found.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Probe {
    pub ok: bool,
    pub server: String,
    pub error: String,
    /// The HTTP status the API server refused the request with (none when it did not answer).
    #[serde(skip)]
    pub status: Option<u16>,
}

/// Uses a kubeconfig exactly as its reader would: its current context, its CA and its token,
/// and makes one authenticated request (listing namespaces). The request may go over a
/// connection of `transports` that verified the same server with the same CA.
pub async fn probe_kubeconfig(text: &str, transports: &Transports) -> Probe {
    let kubeconfig = match crate::k8s::config::parse(text) {
        Ok(k) => k,
        Err(why) => return failed("", format!("not a kubeconfig: line {why}")),
    };
    let server = server_of(&kubeconfig);
    let config =
        match kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await
        {
            Ok(c) => c,
            Err(e) => return failed(&server, HostError::from_error(&e).full_message()),
        };
    let client = match transports.client(config) {
        Ok(c) => c,
        Err(e) => return failed(&server, HostError::from_error(&e).full_message()),
    };
    let namespaces: Api<Namespace> = Api::all(client);
    let params = ListParams::default().limit(1);
    // The client's retry layer bounds this request and retries what is transient.
    match namespaces.list_metadata(&params).await {
        Ok(_) => Probe {
            ok: true,
            server,
            error: String::new(),
            status: None,
        },
        Err(kube::Error::Api(status)) => Probe {
            status: Some(status.code),
            ..failed(
                &server,
                format!("HTTP {} {}: {}", status.code, status.reason, status.message),
            )
        },
        Err(e) => failed(&server, HostError::from_error(&e).full_message()),
    }
}

/// `probe_kubeconfig` as a play asks for it: a dry run does not probe credentials that are
/// known only after apply (a token it did not request); they count as working.
pub async fn probe_in_play(
    reporter: &crate::report::Reporter,
    dry_run: bool,
    text: &str,
    transports: &Transports,
) -> Probe {
    match planned_probe(dry_run, text) {
        Some(probe) => {
            reporter.log(&format!(
                "dry run: not probing {}: the credentials are known after apply",
                probe.server
            ));
            probe
        }
        None => probe_kubeconfig(text, transports).await,
    }
}

/// What a dry run takes a kubeconfig it cannot probe yet to answer.
fn planned_probe(dry_run: bool, text: &str) -> Option<Probe> {
    (dry_run && text.contains(super::KNOWN_AFTER_APPLY)).then(|| Probe {
        ok: true,
        server: kubeconfig_server(text),
        error: String::new(),
        status: None,
    })
}

/// The server of a kubeconfig's current context ("" when it has none).
fn server_of(kubeconfig: &Kubeconfig) -> String {
    kubeconfig
        .current_context
        .as_ref()
        .and_then(|ctx| kubeconfig.contexts.iter().find(|c| &c.name == ctx))
        .and_then(|ctx| ctx.context.as_ref().map(|c| c.cluster.clone()))
        .and_then(|name| kubeconfig.clusters.iter().find(|c| c.name == name))
        .and_then(|c| c.cluster.as_ref().and_then(|c| c.server.clone()))
        .unwrap_or_default()
}

/// The server a kubeconfig text's current context points at ("" when unreadable).
pub fn kubeconfig_server(text: &str) -> String {
    Kubeconfig::from_yaml(text)
        .map(|k| server_of(&k))
        .unwrap_or_default()
}

/// When a bearer token stops working, read from its JWT `exp` claim (the signature is the
/// server's business: this only tells a user when to renew).
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct TokenExpiry {
    /// False for tokens without an `exp` claim (the token controller's Secrets).
    pub expires: bool,
    /// RFC 3339, UTC; "" when it does not expire.
    pub expires_at: String,
    /// Days until then, a day begun counting as one (a token requested for 40 days has 40
    /// left all through its first day); negative once expired, 0 when it does not expire.
    pub days_left: i64,
}

/// `token_expiry` as a play asks for it: `None` for the token a dry run did not request
/// ("(known after apply)").
pub fn token_expiry_in_play(
    dry_run: bool,
    token: &str,
    now_unix: i64,
) -> HostResult<Option<TokenExpiry>> {
    if dry_run && token.contains(super::KNOWN_AFTER_APPLY) {
        return Ok(None);
    }
    token_expiry(token, now_unix).map(Some)
}

/// The patch `kubectl rollout restart` makes: the pod template's restartedAt annotation set
/// to `now`, so that the Deployment rolls out new pods.
pub fn rollout_restart_patch(now: time::OffsetDateTime) -> HostResult<serde_json::Value> {
    let now = now
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| HostError::new(e.to_string()))?;
    Ok(serde_json::json!({
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}
    }))
}

/// The annotation `kubectl rollout restart` sets on a Deployment's pod template.
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Reads the `exp` claim of a JWT bearer token; a token that is not a JWT is an error.
pub fn token_expiry(token: &str, now_unix: i64) -> HostResult<TokenExpiry> {
    use base64::Engine as _;
    let not_jwt = || HostError::new("the token is not a JWT: its expiry cannot be read");
    let payload = token.trim().split('.').nth(1).ok_or_else(not_jwt)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| not_jwt())?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| not_jwt())?;
    let Some(exp) = claims.get("exp") else {
        return Ok(TokenExpiry {
            expires: false,
            expires_at: String::new(),
            days_left: 0,
        });
    };
    let exp = exp
        .as_i64()
        .ok_or_else(|| HostError::new("the token's exp claim is not a number"))?;
    let expires_at = time::OffsetDateTime::from_unix_timestamp(exp)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .ok_or_else(|| HostError::new("the token's exp claim is out of range"))?;
    Ok(TokenExpiry {
        expires: true,
        expires_at,
        days_left: if exp > now_unix {
            (exp - now_unix + 86_399).div_euclid(86_400)
        } else {
            (exp - now_unix).div_euclid(86_400)
        },
    })
}

fn failed(server: &str, error: String) -> Probe {
    Probe {
        ok: false,
        server: server.to_string(),
        error,
        status: None,
    }
}

impl Cluster {
    /// Whether the API server is a runner sandbox (it says so in its version), or a real one
    /// runner started for a rehearsal (its kubeconfig says so). A server that cannot say
    /// (after the client's retries) is an error, never taken for "not a sandbox": that would
    /// switch the installer.
    pub async fn is_sandbox(&self) -> HostResult<bool> {
        if runner_sandbox::control_plane::is_rehearsal(self.kubeconfig()) {
            return Ok(true);
        }
        let name = self.name().to_string();
        let info = super::retry::request(
            &name,
            "reading the server version (is it a sandbox?)",
            || self.client.apiserver_version(),
            |e| match e {
                kube::Error::Api(status) => HostError::new(format!(
                    "HTTP {} {}: {}",
                    status.code, status.reason, status.message
                )),
                other => HostError::from_error(other),
            },
        )
        .await?;
        Ok(info.git_version.ends_with("-sandbox"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn jwt(claims: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", b64(r#"{"alg":"RS256"}"#), b64(claims))
    }

    #[test]
    fn expiry_counts_a_begun_day_and_goes_negative_once_expired() {
        let now = 1_000_000;
        let in_40_days =
            token_expiry(&jwt(&format!("{{\"exp\":{}}}", now + 40 * 86_400)), now).unwrap();
        assert_eq!((in_40_days.expires, in_40_days.days_left), (true, 40));
        let almost =
            token_expiry(&jwt(&format!("{{\"exp\":{}}}", now + 40 * 86_400 - 1)), now).unwrap();
        assert_eq!(almost.days_left, 40);
        let expired = token_expiry(&jwt(&format!("{{\"exp\":{}}}", now - 1)), now).unwrap();
        assert_eq!(expired.days_left, -1);
        assert_eq!(expired.expires_at, "1970-01-12T13:46:39Z");
    }

    #[test]
    fn a_token_is_asked_for_a_positive_number_of_seconds() {
        assert!(check_token_seconds(1).is_ok());
        for bad in [0, -3600] {
            assert_eq!(
                check_token_seconds(bad).unwrap_err().message,
                format!("create_token: seconds must be a positive number, not {bad}")
            );
        }
    }

    const PLANNED_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
        contexts: [{name: c, context: {cluster: k, user: u}}]\n\
        clusters: [{name: k, cluster: {server: 'https://10.0.0.1:6443'}}]\n\
        users: [{name: u, user: {token: '(known after apply)'}}]\n";

    #[test]
    fn a_dry_run_takes_credentials_known_after_apply_as_working() {
        assert_eq!(
            planned_probe(true, PLANNED_KUBECONFIG),
            Some(Probe {
                ok: true,
                server: "https://10.0.0.1:6443".into(),
                error: String::new(),
                status: None,
            })
        );
        assert_eq!(planned_probe(false, PLANNED_KUBECONFIG), None);
        let real = PLANNED_KUBECONFIG.replace("(known after apply)", "abc");
        assert_eq!(planned_probe(true, &real), None);
    }

    #[test]
    fn a_dry_runs_token_has_no_expiry_yet() {
        assert_eq!(
            token_expiry_in_play(true, "(known after apply)", 0).unwrap(),
            None
        );
        let err = token_expiry_in_play(false, "(known after apply)", 0).unwrap_err();
        assert_eq!(
            err.message,
            "the token is not a JWT: its expiry cannot be read"
        );
        let expiry = token_expiry_in_play(true, &jwt(r#"{"exp":86400}"#), 0).unwrap();
        assert_eq!(
            expiry,
            Some(TokenExpiry {
                expires: true,
                expires_at: "1970-01-02T00:00:00Z".into(),
                days_left: 1,
            })
        );
    }

    #[test]
    fn a_rollout_restart_annotates_the_pod_template_with_now() {
        let now = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(
            rollout_restart_patch(now).unwrap(),
            serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2023-11-14T22:13:20Z"
            }}}}})
        );
    }

    #[test]
    fn a_token_without_exp_does_not_expire_and_a_non_jwt_is_an_error() {
        let forever = token_expiry(&jwt(r#"{"sub":"system:serviceaccount:a:b"}"#), 0).unwrap();
        assert_eq!((forever.expires, forever.expires_at.as_str()), (false, ""));
        let err = token_expiry("opaque-token", 0).unwrap_err();
        assert_eq!(
            err.message,
            "the token is not a JWT: its expiry cannot be read"
        );
    }
}
