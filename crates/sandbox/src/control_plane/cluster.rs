//! One real control plane: etcd, kube-apiserver and (when present) kube-controller-manager,
//! on free loopback ports, with files in a private temporary directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use kube::config::{AuthInfo, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::assets::Assets;
use super::pki::{Pki, FRONT_PROXY_CLIENT};
use super::process::{Component, PrivateDir};
use super::ControlPlaneError;
use crate::write_private;

/// The Service IP range; its first address becomes the `kubernetes` Service's.
const SERVICE_CLUSTER_IP_RANGE: &str = "10.96.0.0/16";

/// The controllers a cluster without nodes can run: ServiceAccount tokens and default accounts,
/// namespace deletion, garbage collection, the root CA ConfigMap, aggregated ClusterRoles. The
/// ones that need Pods or cloud load balancers stay off; runner plays their part in status.
const CONTROLLERS: &str = "serviceaccount-token-controller,serviceaccount-controller,namespace-controller,garbage-collector-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller";

/// On two busy cores kube-apiserver takes about 5 s; give it room when several start at once.
/// Every write, once, with its request URI (its query parameters), not its body.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
";
const AUDIT_LOG: &str = "audit.log";

const START_TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(100);

pub(super) struct Cluster {
    pub name: String,
    pub server_url: String,
    pub ca_pem: String,
    admin_cert_pem: String,
    admin_key_pem: String,
    /// Stopped in reverse start order; each one is also killed when dropped.
    components: Vec<Component>,
    // Dropped after the components (fields drop in declaration order): nothing still writes here.
    dir: PrivateDir,
}

impl Cluster {
    pub(super) async fn start(
        name: &str,
        assets: &Assets,
        controller_manager: bool,
        audit: bool,
    ) -> Result<Cluster, ControlPlaneError> {
        let io = |action: &str| {
            let (cluster, action) = (name.to_string(), action.to_string());
            move |source| ControlPlaneError::Io {
                cluster,
                action,
                source,
            }
        };
        // Keys inside are for this process only.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}{name}-", super::DIRECTORY_PREFIX))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(io("create a temporary directory"))?;
        let pki = {
            let owned = name.to_string();
            tokio::task::spawn_blocking(move || Pki::generate(&owned))
                .await
                .map_err(|e| ControlPlaneError::Certificate {
                    cluster: name.to_string(),
                    message: e.to_string(),
                })??
        };
        let files = Files::write(dir.path(), &pki).map_err(io("write certificates"))?;
        let ports = free_ports(4).map_err(io("find free loopback ports"))?;
        let (etcd_port, peer_port, api_port, cm_port) = (ports[0], ports[1], ports[2], ports[3]);
        let server_url = format!("https://127.0.0.1:{api_port}");
        let mut cluster = Cluster {
            name: name.to_string(),
            server_url: server_url.clone(),
            ca_pem: pki.ca_pem.clone(),
            admin_cert_pem: pki.admin.cert_pem.clone(),
            admin_key_pem: pki.admin.key_pem.clone(),
            components: Vec::new(),
            dir: PrivateDir::new(dir),
        };
        let dir = cluster.dir.path().to_path_buf();
        let with_cm = controller_manager && assets.controller_manager.is_some();

        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd_args = vec![
            format!("--name={name}"),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster={name}={peer_url}"),
            // The data dies with the directory: durability buys nothing and costs every write.
            "--unsafe-no-fsync".to_string(),
            "--log-level=warn".to_string(),
        ];
        cluster.components.push(Component::spawn(
            name,
            "etcd",
            &assets.etcd,
            &etcd_args,
            dir.join("etcd.log"),
        )?);
        cluster.wait_for_etcd(etcd_port).await?;

        let mut api_args = vec![
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_string(),
            "--advertise-address=127.0.0.1".to_string(),
            format!("--secure-port={api_port}"),
            format!("--cert-dir={}", dir.join("apiserver-certs").display()),
            format!("--tls-cert-file={}", files.serving_cert.display()),
            format!("--tls-private-key-file={}", files.serving_key.display()),
            format!("--client-ca-file={}", files.ca.display()),
            "--authorization-mode=RBAC".to_string(),
            format!("--service-account-issuer={server_url}"),
            format!("--service-account-key-file={}", files.sa_public.display()),
            format!(
                "--service-account-signing-key-file={}",
                files.sa_key.display()
            ),
            format!("--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"),
            // A 127.0.0.1 endpoint for the kubernetes Service fails validation every 10 s.
            "--endpoint-reconciler-type=none".to_string(),
            "--allow-privileged=true".to_string(),
        ];
        if audit {
            let policy = dir.join("audit-policy.yaml");
            write_private(&policy, AUDIT_POLICY.as_bytes())
                .map_err(io("write the audit policy"))?;
            api_args.extend([
                format!("--audit-policy-file={}", policy.display()),
                format!("--audit-log-path={}", dir.join(AUDIT_LOG).display()),
            ]);
        }
        if with_cm {
            api_args.extend([
                format!(
                    "--requestheader-client-ca-file={}",
                    files.front_proxy_ca.display()
                ),
                format!("--requestheader-allowed-names={FRONT_PROXY_CLIENT}"),
                "--requestheader-username-headers=X-Remote-User".to_string(),
                "--requestheader-group-headers=X-Remote-Group".to_string(),
                "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_string(),
                format!(
                    "--proxy-client-cert-file={}",
                    files.front_proxy_cert.display()
                ),
                format!(
                    "--proxy-client-key-file={}",
                    files.front_proxy_key.display()
                ),
            ]);
        }
        cluster.components.push(Component::spawn(
            name,
            "kube-apiserver",
            &assets.apiserver,
            &api_args,
            dir.join("kube-apiserver.log"),
        )?);
        let client = cluster.client().await?;
        cluster.wait_for_apiserver(&client).await?;

        if let (true, Some(binary)) = (with_cm, &assets.controller_manager) {
            let kubeconfig = dir.join("controller-manager.kubeconfig");
            let text = serde_json::to_string(&kubeconfig_of([&cluster]))
                .map_err(|e| ControlPlaneError::KubeconfigShape(e.to_string()))?;
            write_private(&kubeconfig, text.as_bytes()).map_err(io("write a kubeconfig"))?;
            let k = kubeconfig.display();
            let cm_args = vec![
                format!("--kubeconfig={k}"),
                format!("--authentication-kubeconfig={k}"),
                format!("--authorization-kubeconfig={k}"),
                "--bind-address=127.0.0.1".to_string(),
                format!("--secure-port={cm_port}"),
                format!(
                    "--cert-dir={}",
                    dir.join("controller-manager-certs").display()
                ),
                "--leader-elect=false".to_string(),
                format!(
                    "--service-account-private-key-file={}",
                    files.sa_key.display()
                ),
                format!("--root-ca-file={}", files.ca.display()),
                "--use-service-account-credentials".to_string(),
                format!("--controllers={CONTROLLERS}"),
            ];
            cluster.components.push(Component::spawn(
                name,
                "kube-controller-manager",
                binary,
                &cm_args,
                dir.join("kube-controller-manager.log"),
            )?);
            cluster.wait_for_default_service_account(&client).await?;
        }
        Ok(cluster)
    }

    /// The API server's audit log (written only when started with `audit`).
    pub(super) fn audit_log(&self) -> PathBuf {
        self.dir.path().join(AUDIT_LOG)
    }

    /// The process ids of the running components (etcd, kube-apiserver, kube-controller-manager).
    pub(super) fn pids(&self) -> Vec<u32> {
        self.components.iter().filter_map(Component::pid).collect()
    }

    pub(super) async fn stop(&mut self) {
        for component in self.components.iter_mut().rev() {
            component.stop().await;
        }
    }

    /// This cluster's entries of a kubeconfig: cluster, user and context all named after it,
    /// the user holding the admin client certificate.
    pub(super) fn kubeconfig_entries(&self) -> (NamedCluster, NamedAuthInfo, NamedContext) {
        let user = format!("{}-admin", self.name);
        let cluster = NamedCluster {
            name: self.name.clone(),
            cluster: Some(kube::config::Cluster {
                server: Some(self.server_url.clone()),
                certificate_authority_data: Some(STANDARD.encode(&self.ca_pem)),
                extensions: Some(vec![super::rehearsal_marker()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let auth_info = NamedAuthInfo {
            name: user.clone(),
            auth_info: Some(AuthInfo {
                client_certificate_data: Some(STANDARD.encode(&self.admin_cert_pem)),
                client_key_data: Some(STANDARD.encode(&self.admin_key_pem).into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let context = NamedContext {
            name: self.name.clone(),
            context: Some(Context {
                cluster: self.name.clone(),
                user: Some(user),
                namespace: Some("default".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        (cluster, auth_info, context)
    }

    /// An admin client for this cluster.
    pub(super) async fn client(&self) -> Result<kube::Client, ControlPlaneError> {
        let kubeconfig = kubeconfig_of([self]);
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|e| ControlPlaneError::KubeconfigShape(e.to_string()))?;
        kube::Client::try_from(config)
            .map_err(|e| ControlPlaneError::KubeconfigShape(e.to_string()))
    }

    async fn wait_for_etcd(&mut self, port: u16) -> Result<(), ControlPlaneError> {
        self.wait("etcd", || async move {
            match etcd_health(port).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("GET /health does not answer health true yet".to_string()),
                Err(e) => Err(format!("GET /health: {e}")),
            }
        })
        .await
    }

    async fn wait_for_apiserver(&mut self, client: &kube::Client) -> Result<(), ControlPlaneError> {
        self.wait("kube-apiserver", || async move {
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| e.to_string())?;
            match client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => Ok(()),
                Ok(body) => Err(format!("GET /readyz answered {body:?}")),
                Err(e) => Err(format!("GET /readyz: {e}")),
            }
        })
        .await
    }

    /// The controller-manager is working once the `default` namespace has its ServiceAccount:
    /// a play that starts right away then finds what it would find on a real cluster.
    async fn wait_for_default_service_account(
        &mut self,
        client: &kube::Client,
    ) -> Result<(), ControlPlaneError> {
        use k8s_openapi::api::core::v1::ServiceAccount;
        let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), "default");
        self.wait("kube-controller-manager", || {
            let accounts = accounts.clone();
            async move {
                match accounts.get_opt("default").await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("no ServiceAccount default/default yet".to_string()),
                    Err(e) => Err(format!("GET ServiceAccount default/default: {e}")),
                }
            }
        })
        .await
    }

    /// Polls `ready` until it succeeds, failing early when the component exits.
    async fn wait<F, Fut>(
        &mut self,
        component: &'static str,
        ready: F,
    ) -> Result<(), ControlPlaneError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let started = Instant::now();
        loop {
            let last = match ready().await {
                Ok(()) => return Ok(()),
                Err(last) => last,
            };
            for running in &mut self.components {
                running.check_running()?;
            }
            if started.elapsed() > START_TIMEOUT {
                let log_tail = self
                    .components
                    .iter()
                    .find(|c| c.name == component)
                    .map(Component::log_tail)
                    .unwrap_or_default();
                return Err(ControlPlaneError::NotReady {
                    cluster: self.name.clone(),
                    component,
                    seconds: START_TIMEOUT.as_secs(),
                    last,
                    log_tail,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The files the components read, written into the control plane's private directory.
struct Files {
    ca: PathBuf,
    serving_cert: PathBuf,
    serving_key: PathBuf,
    sa_key: PathBuf,
    sa_public: PathBuf,
    front_proxy_ca: PathBuf,
    front_proxy_cert: PathBuf,
    front_proxy_key: PathBuf,
}

impl Files {
    fn write(dir: &Path, pki: &Pki) -> std::io::Result<Files> {
        let file = |name: &str, text: &str| -> std::io::Result<PathBuf> {
            let path = dir.join(name);
            write_private(&path, text.as_bytes())?;
            Ok(path)
        };
        Ok(Files {
            ca: file("ca.crt", &pki.ca_pem)?,
            serving_cert: file("apiserver.crt", &pki.serving.cert_pem)?,
            serving_key: file("apiserver.key", &pki.serving.key_pem)?,
            sa_key: file("service-account.key", &pki.service_account_key_pem)?,
            sa_public: file("service-account.pub", &pki.service_account_public_pem)?,
            front_proxy_ca: file("front-proxy-ca.crt", &pki.front_proxy_ca_pem)?,
            front_proxy_cert: file("front-proxy-client.crt", &pki.front_proxy_client.cert_pem)?,
            front_proxy_key: file("front-proxy-client.key", &pki.front_proxy_client.key_pem)?,
        })
    }
}

/// Ports free right now: all held open together, so that they differ from one another.
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// etcd's health endpoint over plain HTTP/1.0 on loopback: one request, read to the end.
async fn etcd_health(port: u16) -> std::io::Result<bool> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 5 s"))??;
    let answer = String::from_utf8_lossy(&answer);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    Ok(serde_json::from_str::<Value>(body)
        .map(|v| v["health"] == "true")
        .unwrap_or(false))
}

/// A kubeconfig with one context per cluster, the first one current.
pub(super) fn kubeconfig_of<'a>(clusters: impl IntoIterator<Item = &'a Cluster>) -> Kubeconfig {
    let mut kubeconfig = Kubeconfig {
        api_version: Some("v1".to_string()),
        kind: Some("Config".to_string()),
        ..Kubeconfig::default()
    };
    for cluster in clusters {
        let (named_cluster, auth_info, context) = cluster.kubeconfig_entries();
        if kubeconfig.current_context.is_none() {
            kubeconfig.current_context = Some(context.name.clone());
        }
        kubeconfig.clusters.push(named_cluster);
        kubeconfig.auth_infos.push(auth_info);
        kubeconfig.contexts.push(context);
    }
    kubeconfig
}
