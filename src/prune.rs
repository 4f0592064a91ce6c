//! `--prune` in watch mode: delete what an earlier run applied and the current run no longer
//! renders — only objects that still carry this playbook's ownership label.

use crate::context::PlayContext;
use crate::error::HostResult;
use crate::k8s::{DeleteOptions, Session, OWNER_LABEL};
use crate::ledger::{ObjectKey, RunSummary};

pub fn prune(ctx: &PlayContext, summary: &RunSummary) {
    if summary.orphans.is_empty() {
        return;
    }
    if summary.rendered == 0 {
        // A playbook that suddenly renders nothing is far more likely broken than meant to
        // delete everything it ever applied.
        ctx.reporter.warn(&format!(
            "not pruning {} object(s): this run rendered no objects at all",
            summary.orphans.len()
        ));
        return;
    }
    for key in &summary.orphans {
        match prune_one(ctx, key) {
            Ok(true) => ctx.ledger.forget(key),
            Ok(false) => {}
            Err(error) => ctx
                .reporter
                .warn(&format!("cannot prune {key}: {}", error.full_message())),
        }
    }
}

/// Deletes one orphan if it still carries our label; Ok(false) when it was left alone.
fn prune_one(ctx: &PlayContext, key: &ObjectKey) -> HostResult<bool> {
    let cluster = ctx.clusters.cluster(&key.cluster)?;
    let kind = format!("{}/{}", key.api_version, key.kind);
    let namespace = key.namespace.clone().unwrap_or_default();
    let session = Session {
        reporter: &ctx.reporter,
        dry_run: ctx.dry_run(),
        ledger: ctx.ledger(),
        owner: ctx.owner(),
        programs_skipped: false,
        limited_out: false,
    };
    ctx.block_on(async {
        let Some(live) = cluster.get(&kind, &key.name, &namespace).await? else {
            return Ok(true);
        };
        let owner = live
            .pointer(&format!(
                "/metadata/labels/{}",
                OWNER_LABEL.replace('/', "~1")
            ))
            .and_then(|v| v.as_str());
        if owner != Some(ctx.owner()) {
            ctx.reporter.warn(&format!(
                "not pruning {key}: it no longer carries the label {OWNER_LABEL}={}",
                ctx.owner()
            ));
            return Ok(false);
        }
        cluster
            .delete(
                &session,
                &kind,
                &key.name,
                &namespace,
                &DeleteOptions::default(),
            )
            .await
    })
}
