//! The end of every run: what it rendered is compared with each cluster's inventory
//! (`k8s::inventory`), orphans are listed (or deleted with `--prune`), and the inventory is
//! brought up to date. Plain runs and watch re-runs go through here alike.
//!
//! An orphan is an object this playbook's inventory records in a cluster the run used, that a
//! complete, successful run no longer renders, and that still carries the playbook's label
//! `runner.dev/playbook`. Objects without that label, or never recorded, are never touched.
//! Namespaces are deleted only with `--prune-namespaces` (deleting one deletes everything in
//! it, including what others put there).

use std::collections::BTreeSet;

use crate::context::PlayContext;
use crate::error::{HostError, HostResult};
use crate::k8s::{DeleteOptions, Session, OWNER_LABEL};
use crate::ledger::{ObjectKey, RunSummary};

/// What became of one orphan.
enum Fate {
    /// Deleted (or, in a dry run, would be).
    Deleted,
    /// Already gone, or no longer labelled as ours: no longer recorded.
    Forgotten,
    /// Listed and kept in the inventory (no `--prune`, or a namespace without its flag).
    Kept,
}

/// Ends a run: finds and handles orphans, records what the run applied. `applied` is whether
/// the playbook itself ran to its end without an error.
pub(crate) fn finish_run(ctx: &PlayContext, applied: bool) -> HostResult<RunSummary> {
    let rendered = ctx.ledger.rendered();
    let complete = applied && ctx.options.only.is_empty() && ctx.options.start_at.is_none();
    let mut summary = RunSummary {
        orphans: Vec::new(),
        rendered: rendered.len(),
    };
    let mut errors: Vec<HostError> = Vec::new();
    // A failed run only records what it applied; a cluster it wrote nothing to is left alone
    // (it may be the unreachable one that failed the run).
    let mut clusters: Vec<String> = if applied {
        ctx.clusters.names()
    } else {
        rendered.iter().map(|k| k.cluster.clone()).collect()
    };
    clusters.sort();
    clusters.dedup();
    if complete && rendered.is_empty() {
        let recorded: usize = clusters
            .iter()
            .filter_map(|name| inventory_of(ctx, name).ok())
            .map(|(_, inventory)| inventory.objects.len())
            .sum();
        if recorded > 0 {
            // A playbook that suddenly renders nothing is far more likely broken than meant
            // to delete everything it ever applied.
            ctx.reporter.warn(&format!(
                "not pruning {recorded} object(s): this run rendered no objects at all"
            ));
        }
        ctx.ledger.finish_run(applied && !ctx.dry_run());
        return Ok(summary);
    }
    let mut pruning_step = false;
    for name in &clusters {
        let mine: BTreeSet<ObjectKey> = rendered
            .iter()
            .filter(|k| &k.cluster == name)
            .cloned()
            .collect();
        let result = finish_cluster(ctx, name, &mine, complete, &mut summary, &mut pruning_step);
        if let Err(error) = result {
            errors.push(error);
        }
    }
    if pruning_step {
        let failure = errors.first().map(HostError::full_message);
        ctx.reporter.step_finished(failure.as_deref(), false);
    }
    ctx.ledger.finish_run(applied && !ctx.dry_run());
    match errors.into_iter().next() {
        None => Ok(summary),
        Some(first) => Err(first),
    }
}

fn inventory_of(
    ctx: &PlayContext,
    name: &str,
) -> HostResult<(std::sync::Arc<crate::k8s::Cluster>, crate::k8s::Inventory)> {
    let cluster = ctx.cluster(name)?;
    // Not cancellable: a run interrupted halfway still records what it applied.
    let inventory = ctx.runtime.block_on(cluster.read_inventory(ctx.owner()))?;
    Ok((cluster, inventory))
}

fn finish_cluster(
    ctx: &PlayContext,
    name: &str,
    rendered: &BTreeSet<ObjectKey>,
    complete: bool,
    summary: &mut RunSummary,
    pruning_step: &mut bool,
) -> HostResult<()> {
    let (cluster, inventory) = inventory_of(ctx, name)?;
    let mut forgotten: Vec<ObjectKey> = Vec::new();
    if complete {
        let rendered_ids: BTreeSet<_> = rendered.iter().map(ObjectKey::identity).collect();
        let mut orphans: Vec<&ObjectKey> = inventory
            .objects
            .iter()
            .filter(|k| !rendered_ids.contains(&k.identity()))
            .collect();
        // Reverse dependency order: what uses a thing goes before the thing.
        orphans.sort_by_key(|k| std::cmp::Reverse(crate::k8s::apply_rank(&k.api_version, &k.kind)));
        for key in orphans {
            match handle_orphan(ctx, &cluster, key, pruning_step)? {
                Fate::Deleted | Fate::Forgotten => forgotten.push(key.clone()),
                Fate::Kept => summary.orphans.push(key.clone()),
            }
        }
    }
    // A dry run, and a cluster --limit leaves out, only plan: their inventory stays as it is.
    if ctx.dry_run() || ctx.outside_limit(name) {
        return Ok(());
    }
    let forgotten_ids: BTreeSet<_> = forgotten.iter().map(ObjectKey::identity).collect();
    let rendered_ids: BTreeSet<_> = rendered.iter().map(ObjectKey::identity).collect();
    ctx.runtime
        .block_on(cluster.write_inventory(ctx.owner(), inventory, |stored| {
            // What another run recorded meanwhile stays; what this run deleted goes.
            let mut objects: BTreeSet<ObjectKey> = stored
                .iter()
                .filter(|k| {
                    !forgotten_ids.contains(&k.identity()) && !rendered_ids.contains(&k.identity())
                })
                .cloned()
                .collect();
            objects.extend(rendered.iter().cloned());
            objects
        }))
        .map(|_| ())
        .map_err(|e| e.context(format!("recording what this run applied to {name}")))
}

fn handle_orphan(
    ctx: &PlayContext,
    cluster: &crate::k8s::Cluster,
    key: &ObjectKey,
    pruning_step: &mut bool,
) -> HostResult<Fate> {
    let kind = format!("{}/{}", key.api_version, key.kind);
    let namespace = key.namespace.clone().unwrap_or_default();
    let live = match ctx.block_on(cluster.get(&kind, &key.name, &namespace)) {
        Ok(live) => live,
        // Unreadable (its kind no longer served, the server unreachable): kept, never forgotten
        // on an error, and never in the way of the run.
        Err(e) => {
            ctx.reporter.warn(&format!(
                "orphaned, kept (cannot read it to check it: {}): {key}",
                e.full_message()
            ));
            return Ok(Fate::Kept);
        }
    };
    let Some(live) = live else {
        return Ok(Fate::Forgotten);
    };
    let owner = live
        .pointer(&format!(
            "/metadata/labels/{}",
            OWNER_LABEL.replace('/', "~1")
        ))
        .and_then(|v| v.as_str());
    if owner != Some(ctx.owner()) {
        ctx.reporter.warn(&format!(
            "not pruning {key}: it no longer carries the label {OWNER_LABEL}={}; it is no \
             longer recorded as this playbook's",
            ctx.owner()
        ));
        return Ok(Fate::Forgotten);
    }
    if !ctx.options.prune {
        ctx.reporter.warn(&format!(
            "orphaned (no longer rendered; --prune deletes it): {key}"
        ));
        return Ok(Fate::Kept);
    }
    if key.kind == "Namespace" && key.group().is_empty() && !ctx.options.prune_namespaces {
        ctx.reporter.warn(&format!(
            "orphaned, kept (namespaces are deleted only with --prune-namespaces): {key}"
        ));
        return Ok(Fate::Kept);
    }
    if !*pruning_step {
        ctx.reporter.step_started("prune");
        *pruning_step = true;
    }
    let limited_out = ctx.outside_limit(cluster.name());
    let session = Session::of_play(&ctx.reporter, ctx.dry_run(), limited_out, ctx.owner());
    ctx.block_on(cluster.delete(
        &session,
        &kind,
        &key.name,
        &namespace,
        &DeleteOptions::default(),
    ))?;
    ctx.ledger.forget(key);
    Ok(Fate::Deleted)
}
