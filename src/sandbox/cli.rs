//! `runner sandbox up`.
use super::{Sandbox, SandboxError, SandboxOptions};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Cluster names; each becomes a kubeconfig context.
    #[arg(long, value_delimiter = ',', default_value = "cluster-1,cluster-2")]
    pub clusters: Vec<String>,
    /// Where to write the kubeconfig [default: ./sandbox.kubeconfig]
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Keep objects, certificates and tokens in this directory across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Milliseconds before a LoadBalancer Service gets its address.
    #[arg(long, default_value_t = 50)]
    pub lb_delay_ms: u64,
    /// Give load balancers hostnames instead of IPs.
    #[arg(long)]
    pub lb_hostname: bool,
    /// Let ServiceAccount tokens do anything (no RBAC checks).
    #[arg(long)]
    pub no_rbac: bool,
}

/// Starts the sandbox, writes its kubeconfig, tells how to use it, and serves until `shutdown`.
pub async fn up(args: UpArgs, shutdown: impl Future<Output = ()>) -> Result<(), SandboxError> {
    let sandbox = Sandbox::start(SandboxOptions {
        clusters: args.clusters,
        state_dir: args.state,
        lb_delay: Duration::from_millis(args.lb_delay_ms),
        lb_hostname: args.lb_hostname,
        rbac: !args.no_rbac,
    })
    .await?;
    let path = args
        .kubeconfig
        .unwrap_or_else(|| PathBuf::from("sandbox.kubeconfig"));
    sandbox.write_kubeconfig(&path)?;
    println!("{}", instructions(&sandbox, &path));
    shutdown.await;
    sandbox.shutdown().await;
    Ok(())
}

fn instructions(sandbox: &Sandbox, path: &std::path::Path) -> String {
    let mut out = String::from("Sandbox clusters are up:\n");
    for c in sandbox.clusters() {
        out.push_str(&format!("  {:<16} {}\n", c.name(), c.server_url()));
    }
    let first = sandbox.clusters().next().map(|c| c.name()).unwrap_or("");
    out.push_str(&format!(
        "\nUse them with:\n  export KUBECONFIG={}\n  kubectl --context {first} get ns\n\nPress Ctrl-C to stop.",
        path.display()
    ));
    out
}
