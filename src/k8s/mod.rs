//! Kubernetes for playbooks: many clusters by kubeconfig context, server-side apply of any kind,
//! reads, deletes, patches, secrets, waits and commands in pods.
//!
//! Plain async Rust; `engine::bindings::k8s` only converts types for Rhai.

mod access;
mod apply;
mod cluster;
mod conditions;
mod config;
mod diff;
mod documents;
mod errors;
mod exec_plugin;
mod inventory;
mod kinds;
mod objects;
mod order;
mod plan;
mod pod_exec;
mod registry;
mod request_log;
mod retry;
mod secrets;
mod transport;
mod wait;

pub use access::{
    kubeconfig_server, probe_in_play, probe_kubeconfig, rollout_restart_patch, token_expiry,
    token_expiry_in_play, Probe, TokenExpiry,
};
pub use apply::{Applied, ApplyOptions, FieldValidation};
pub use cluster::Cluster;
pub use config::{context_allowed, load_kubeconfig, parse as parse_kubeconfig, KubeOptions};
pub use diff::{mask_secret, plan_diff};
pub use documents::{manifests_of, parse_documents, parse_yaml_stream, ManifestSource};
pub use inventory::{inventory_name, Inventory, INVENTORY_LABEL, INVENTORY_NAMESPACE};
pub use kinds::Resolved;
pub use objects::DeleteOptions;
pub use order::rank as apply_rank;
pub use plan::KNOWN_AFTER_APPLY;
pub use registry::{Provisioner, Registry};
pub use retry::RetryPolicy;
pub use secrets::data_from_files as secret_data_from_files;
pub use transport::Transports;
pub use wait::wait_secs;

use crate::report::Reporter;

/// What an operation may do in this run and where it reports.
#[derive(Clone, Copy)]
pub struct Session<'a> {
    pub reporter: &'a Reporter,
    /// `--dry-run`: the server validates every write (dryRun=All) and nothing is stored.
    pub dry_run: bool,
    /// What this run applies, for the inventory (watch re-runs also skip unchanged objects).
    pub ledger: Option<&'a crate::ledger::Ledger>,
    /// The value of the ownership label put on every applied object ("" for none).
    pub owner: &'a str,
    /// A dry run skipped a program (istioctl, helm) that may install kinds the plan then
    /// applies: those are planned without the server's judgement instead of failing.
    pub programs_skipped: bool,
    /// `--limit` leaves this cluster out: `dry_run` is set so that nothing is written to it.
    pub limited_out: bool,
}

impl<'a> Session<'a> {
    /// How a play works on a cluster: a cluster `--limit` leaves out is worked on as in a dry
    /// run (its writes are checked by its API server and never stored, and later reads see
    /// them, so the rest of the play goes on as it would); the reporter says each was skipped.
    pub fn of_play(
        reporter: &'a Reporter,
        dry_run: bool,
        limited_out: bool,
        owner: &'a str,
    ) -> Self {
        Session {
            reporter,
            dry_run: dry_run || limited_out,
            ledger: None,
            owner,
            programs_skipped: false,
            limited_out,
        }
    }
}

/// The label that marks objects a playbook applied; `--prune` deletes only objects carrying it.
pub const OWNER_LABEL: &str = "runner.dev/playbook";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_outside_the_limit_is_worked_on_as_in_a_dry_run() {
        let reporter = Reporter::new(crate::report::OutputMode::Json);
        let cases = [
            // (--dry-run, outside --limit) -> dry run there
            ((false, false), false),
            ((true, false), true),
            ((false, true), true),
            ((true, true), true),
        ];
        for ((dry_run, limited_out), planned) in cases {
            let session = Session::of_play(&reporter, dry_run, limited_out, "mesh");
            assert_eq!(
                (session.dry_run, session.limited_out, session.owner),
                (planned, limited_out, "mesh"),
                "--dry-run {dry_run}, outside --limit {limited_out}"
            );
            assert!(session.ledger.is_none() && !session.programs_skipped);
        }
    }
}
