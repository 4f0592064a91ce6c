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

/// What probing a kubeconfig found.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Probe {
    pub ok: bool,
    pub server: String,
    pub error: String,
}

/// Uses a kubeconfig exactly as its reader would: its current context, its CA and its token,
/// and makes one authenticated request (listing namespaces). The request may go over a
/// connection of `transports` that verified the same server with the same CA.
pub async fn probe_kubeconfig(text: &str, transports: &Transports) -> Probe {
    let kubeconfig = match Kubeconfig::from_yaml(text) {
        Ok(k) => k,
        Err(e) => return failed("", format!("not a kubeconfig: {e}")),
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
    let request = namespaces.list_metadata(&params);
    match tokio::time::timeout(std::time::Duration::from_secs(10), request).await {
        Ok(Ok(_)) => Probe {
            ok: true,
            server,
            error: String::new(),
        },
        Ok(Err(kube::Error::Api(status))) => failed(
            &server,
            format!("HTTP {} {}: {}", status.code, status.reason, status.message),
        ),
        Ok(Err(e)) => failed(&server, HostError::from_error(&e).full_message()),
        Err(_) => failed(&server, "no answer within 10 s".to_string()),
    }
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

fn failed(server: &str, error: String) -> Probe {
    Probe {
        ok: false,
        server: server.to_string(),
        error,
    }
}

impl Cluster {
    /// Whether the API server is a runner sandbox (it says so in its version), or a real one
    /// runner started for a rehearsal (its kubeconfig says so).
    pub async fn is_sandbox(&self) -> bool {
        if crate::control_plane::is_rehearsal(self.kubeconfig()) {
            return true;
        }
        match self.client.apiserver_version().await {
            Ok(info) => info.git_version.ends_with("-sandbox"),
            Err(_) => false,
        }
    }
}
