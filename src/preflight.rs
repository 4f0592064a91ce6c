//! The preflight: before a play's first write, every cluster it declares is resolved and shown
//! (name, context, server), and each must pass: its context exists, the allow-lists admit it,
//! its API server answers, and its credentials are accepted. One failure stops the play with
//! one error naming the cluster and what failed.

use std::sync::Arc;

use crate::context::PlayContext;
use crate::error::{HostError, HostResult};
use crate::k8s::Cluster;

/// A cluster a playbook declares: its name, and the context its variables give (if any).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Declared {
    pub name: String,
    pub context: Option<String>,
}

/// Runs the preflight for the declared clusters; returns their handles, in order.
pub(crate) fn run(ctx: &PlayContext, declared: &[Declared]) -> HostResult<Vec<Arc<Cluster>>> {
    let names: Vec<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    if let Some(unused) = unused_context_flag(ctx, &names) {
        return Err(unused);
    }
    if let Some(unknown) = unknown_limit(ctx, &names) {
        return Err(unknown);
    }
    ctx.clusters.declare(names.iter().map(|n| (*n).to_string()));
    let mut clusters = Vec::new();
    for spec in declared {
        if let Some(context) = &spec.context {
            (ctx.clusters).set_playbook_context(&spec.name, context, ctx.is_sandbox());
        }
        // The registry's errors already name the cluster.
        let cluster = ctx.cluster(&spec.name).map_err(|mut e| {
            e.message = format!("preflight: {}", e.message);
            e
        })?;
        clusters.push(cluster);
    }
    let transports = ctx.clusters.transports();
    let probes = ctx.block_on(async {
        let each = clusters.iter().map(|cluster| async move {
            let text = serde_yaml::to_string(cluster.kubeconfig()).unwrap_or_default();
            crate::k8s::probe_kubeconfig(&text, transports).await
        });
        Ok(futures::future::join_all(each).await)
    })?;
    for (cluster, probe) in clusters.iter().zip(&probes) {
        show(ctx, cluster, probe.ok);
    }
    for (cluster, probe) in clusters.iter().zip(probes) {
        if !probe.ok {
            return Err(HostError::cluster(format!(
                "preflight: cluster {:?} (context {}, {}): {}",
                cluster.name(),
                cluster.context(),
                cluster.server(),
                what_failed(&probe)
            ))
            .with_hint("nothing was changed; fix the cluster's access (kubeconfig, context, network) and run again"));
        }
    }
    Ok(clusters)
}

fn show(ctx: &PlayContext, cluster: &Cluster, ok: bool) {
    ctx.reporter
        .target_checked(cluster.name(), cluster.context(), cluster.server(), ok);
}

/// A probe's error, said as what it means for the play.
fn what_failed(probe: &crate::k8s::Probe) -> String {
    let error = &probe.error;
    match probe.status {
        Some(401) => format!("the API server rejected the credentials ({error})"),
        Some(403) => format!("the credentials may not list namespaces ({error})"),
        Some(_) => format!("the API server answered with an error ({error})"),
        None => format!("the API server does not answer: {error}"),
    }
}

/// A `--context NAME=CTX` whose NAME is none of the play's clusters: the flag would be ignored,
/// and the play would fall back to another context.
pub(crate) fn unused_context_flag(ctx: &PlayContext, used: &[&str]) -> Option<HostError> {
    let unused: Vec<String> = (ctx.options.kube.contexts.iter())
        .filter(|(name, _)| !used.contains(&name.as_str()))
        .map(|(name, context)| format!("--context {name}={context}"))
        .collect();
    if unused.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = used.to_vec();
    names.sort_unstable();
    names.dedup();
    let uses = if names.is_empty() {
        "it uses no cluster".to_string()
    } else {
        format!("its clusters: {}", names.join(", "))
    };
    Some(HostError::new(format!(
        "{}: this play has no cluster of that name ({uses})",
        unused.join(", ")
    )))
}

/// A `--limit` name that is none of the play's clusters: the user meant another cluster.
pub(crate) fn unknown_limit(ctx: &PlayContext, used: &[&str]) -> Option<HostError> {
    let unknown: Vec<&str> = (ctx.options.limit.iter())
        .map(String::as_str)
        .filter(|name| !used.contains(name))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = used.to_vec();
    names.sort_unstable();
    names.dedup();
    Some(HostError::new(format!(
        "--limit {}: this play has no cluster of that name (its clusters: {})",
        unknown.join(","),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )))
}
