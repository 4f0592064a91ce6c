//! `runner sandbox up`: the built-in sandbox, or real control planes (`--control-plane real`).
use crate::error::HostError;
use runner_sandbox::control_plane::{ControlPlaneOptions, ControlPlanes};
use runner_sandbox::{ExecMode, Faults, Sandbox, SandboxOptions};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which API servers a rehearsal runs against.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ControlPlaneKind {
    /// runner's own API server, in-process: nothing to download
    #[default]
    Builtin,
    /// Real etcd, kube-apiserver and kube-controller-manager from --assets or KUBEBUILDER_ASSETS
    Real,
}

/// What the built-in sandbox does with a command in a pod (`pods/exec`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodExec {
    /// Answer as a real API server does for a pod that no node runs: nothing runs
    #[default]
    Refuse,
    /// Run the command as a process of this machine (not in any container), in a scratch
    /// directory of the pod's own, with the container's literal env values
    Host,
}

impl From<PodExec> for ExecMode {
    fn from(exec: PodExec) -> ExecMode {
        match exec {
            PodExec::Refuse => ExecMode::Refuse,
            PodExec::Host => ExecMode::Host,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Cluster names; each becomes a kubeconfig context.
    #[arg(long, value_delimiter = ',', default_value = "cluster-1,cluster-2")]
    pub clusters: Vec<String>,
    /// Where to write the kubeconfig [default: ./sandbox.kubeconfig]
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Keep objects, certificates and tokens in this directory across restarts (built-in only).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Milliseconds before a LoadBalancer Service gets its address (built-in only).
    #[arg(long, default_value_t = 50)]
    pub lb_delay_ms: u64,
    /// Give load balancers hostnames instead of IPs.
    #[arg(long)]
    pub lb_hostname: bool,
    /// Let ServiceAccount tokens do anything (no RBAC checks; built-in only).
    #[arg(long)]
    pub no_rbac: bool,
    /// Which API servers to start: runner's built-in sandbox, or real Kubernetes control planes.
    #[arg(long, value_enum, default_value_t = ControlPlaneKind::Builtin)]
    pub control_plane: ControlPlaneKind,
    /// Answer some requests with injected faults, to rehearse against a flaky API server:
    /// shares of 5xx, 429 and stalled answers, and a seed to repeat a run
    /// (e.g. 5xx=0.1,429=0.1,stall=0.01,seed=7; built-in only).
    #[arg(long, value_name = "SPEC", value_parser = parse_faults)]
    pub faults: Option<Faults>,
    /// What a command in a pod (exec) does: nothing runs pods here, so by default it is refused
    /// as a real API server refuses it for a pod without a node; `host` runs it on this
    /// machine instead (built-in only).
    #[arg(long, value_enum, value_name = "MODE", default_value_t = PodExec::Refuse)]
    pub exec: PodExec,
    /// With --control-plane real: the directory holding etcd, kube-apiserver and
    /// kube-controller-manager [default: $KUBEBUILDER_ASSETS]
    #[arg(long, value_name = "DIR")]
    pub assets: Option<PathBuf>,
}

/// Starts the clusters, writes their kubeconfig, tells how to use them, and serves until
/// `shutdown`; then stops everything it started.
pub async fn up(args: UpArgs, shutdown: impl Future<Output = ()>) -> Result<(), HostError> {
    check_flags(&args)?;
    let path = args
        .kubeconfig
        .clone()
        .unwrap_or_else(|| PathBuf::from("sandbox.kubeconfig"));
    let mut claim = super::kubeconfig_claim::KubeconfigClaim::claim(&path).await?;
    let path = claim.path().to_path_buf();
    match args.control_plane {
        ControlPlaneKind::Builtin => {
            let sandbox = Sandbox::start(SandboxOptions {
                clusters: args.clusters,
                state_dir: args.state,
                lb_delay: Duration::from_millis(args.lb_delay_ms),
                lb_hostname: args.lb_hostname,
                rbac: !args.no_rbac,
                faults: args.faults,
                exec: args.exec.into(),
            })
            .await
            .map_err(|e| HostError::from_error(&e))?;
            sandbox
                .write_kubeconfig(&path)
                .map_err(|e| HostError::from_error(&e))?;
            claim.written();
            let servers: Vec<(String, String)> = sandbox
                .clusters()
                .map(|c| (c.name().to_string(), c.server_url().clone()))
                .collect();
            crate::stdout::line(instructions("Sandbox clusters are up", &servers, &path));
            shutdown.await;
            crate::stdout::line("\nStopping the sandbox clusters.");
            // Open watches would hold a graceful shutdown; the process is ending anyway.
            let _ = tokio::time::timeout(Duration::from_millis(200), sandbox.shutdown()).await;
            crate::stdout::line(format_args!("Stopped; {}.", claim.release()));
        }
        ControlPlaneKind::Real => {
            let starting = ControlPlanes::start(ControlPlaneOptions {
                clusters: args.clusters,
                assets: args.assets,
                ..ControlPlaneOptions::default()
            });
            // Stopping while they start drops the half-started clusters, which stops them.
            let mut shutdown = std::pin::pin!(shutdown);
            let planes = tokio::select! {
                started = starting => started.map_err(|e| HostError::from(&e))?,
                () = &mut shutdown => return Ok(()),
            };
            planes.set_lb_hostname(args.lb_hostname);
            let written = planes.write_kubeconfig(&path);
            if let Err(e) = written {
                planes.shutdown().await;
                return Err(HostError::from_error(&e));
            }
            claim.written();
            let servers: Vec<(String, String)> = planes
                .names()
                .map(|n| (n.to_string(), planes.server_url(n).unwrap_or_default()))
                .collect();
            crate::stdout::line(instructions(
                "Real control planes are up (etcd, kube-apiserver, kube-controller-manager)",
                &servers,
                &path,
            ));
            shutdown.await;
            crate::stdout::line("\nStopping the control planes.");
            planes.shutdown().await;
            crate::stdout::line(format_args!("Stopped; {}.", claim.release()));
        }
    }
    Ok(())
}

/// `--faults SPEC`, checked before anything starts.
pub fn parse_faults(spec: &str) -> Result<Faults, String> {
    spec.parse()
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM: either stops what `up` started.
pub async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Flags that only the built-in sandbox understands are refused with real control planes, and
/// `--assets` without them, before anything starts.
fn check_flags(args: &UpArgs) -> Result<(), HostError> {
    let builtin_only = [
        ("--state", args.state.is_some()),
        ("--no-rbac", args.no_rbac),
        ("--faults", args.faults.is_some()),
        ("--exec host", args.exec == PodExec::Host),
    ];
    match args.control_plane {
        ControlPlaneKind::Real => {
            if let Some((flag, _)) = builtin_only.iter().find(|(_, given)| *given) {
                return Err(HostError::new(format!(
                    "{flag} works with the built-in sandbox only, not with --control-plane real"
                ))
                .with_hint(format!("drop {flag}, or leave out --control-plane real")));
            }
        }
        ControlPlaneKind::Builtin => check_assets_flag(args.assets.as_deref(), args.control_plane)?,
    }
    Ok(())
}

/// `--assets` names binaries only real control planes use.
pub fn check_assets_flag(assets: Option<&Path>, kind: ControlPlaneKind) -> Result<(), HostError> {
    if assets.is_some() && kind == ControlPlaneKind::Builtin {
        return Err(
            HostError::new("--assets is used only with --control-plane real")
                .with_hint("add --control-plane real to rehearse on real API servers"),
        );
    }
    Ok(())
}

fn instructions(title: &str, servers: &[(String, String)], path: &Path) -> String {
    let mut out = format!("{title}:\n");
    for (name, url) in servers {
        out.push_str(&format!("  {name:<16} {url}\n"));
    }
    let first = servers.first().map(|(n, _)| n.as_str()).unwrap_or("");
    out.push_str(&format!(
        "\nUse them with:\n  export KUBECONFIG={}\n  kubectl --context {first} get ns\n\nPress Ctrl-C to stop.",
        path.display()
    ));
    out
}
