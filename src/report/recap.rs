//! The tally printed at the end of a play, like Ansible's PLAY RECAP and kapp's summary: per
//! cluster, the objects created, configured, unchanged and deleted, and the steps that ended ok,
//! failed, or failed with the error caught. The `local` row counts files and certificates
//! written on this machine, and steps that touched no cluster.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Action, Changes, StepStatus, LOCAL_HOST};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostTally {
    pub host: String,
    pub created: u64,
    pub configured: u64,
    pub unchanged: u64,
    pub deleted: u64,
    /// Steps that used this host and ended without an error.
    pub ok: u64,
    /// Steps that failed while working on this host.
    pub failed: u64,
    /// Steps that failed but whose error the playbook caught.
    pub rescued: u64,
    /// Objects `--limit` kept the play from changing.
    pub skipped: u64,
}

impl HostTally {
    fn count(&mut self, changes: &Changes) {
        self.created += changes.created;
        self.configured += changes.configured;
        self.unchanged += changes.unchanged;
        self.deleted += changes.deleted;
    }

    /// Objects (or local files) this host had created, configured or deleted.
    pub fn changed(&self) -> u64 {
        self.created + self.configured + self.deleted
    }
}

#[derive(Clone, Debug, Default)]
pub struct Recap {
    hosts: BTreeMap<String, HostTally>,
    /// Hosts of each failed step, in order, so that caught failures become `rescued`.
    failures: Vec<Vec<String>>,
}

impl Recap {
    fn host(&mut self, name: &str) -> &mut HostTally {
        self.hosts
            .entry(name.to_string())
            .or_insert_with(|| HostTally {
                host: name.to_string(),
                ..HostTally::default()
            })
    }

    pub(super) fn touch(&mut self, cluster: &str) {
        self.host(cluster);
    }

    /// An object of a cluster `--limit` leaves out.
    pub(super) fn record_skipped(&mut self, cluster: &str, action: Action) {
        if action.is_change() {
            self.host(cluster).skipped += 1;
        }
    }

    /// An object changed outside any step.
    pub(super) fn record_loose_object(&mut self, cluster: &str, action: Action) {
        let mut changes = Changes::default();
        changes.add(action);
        self.host(cluster).count(&changes);
    }

    /// A finished top-level or nested step: its objects per cluster, its local files when it
    /// changed any, and how it ended.
    pub(super) fn record_step(
        &mut self,
        clusters: &BTreeMap<String, Changes>,
        local: Option<&Changes>,
        status: &StepStatus,
    ) {
        let mut hosts: Vec<String> = clusters.keys().cloned().collect();
        if hosts.is_empty() || local.is_some() {
            hosts.push(LOCAL_HOST.to_string());
        }
        let failed = matches!(status, StepStatus::Failed | StepStatus::Interrupted);
        for name in &hosts {
            let changes = match clusters.get(name) {
                Some(changes) => Some(changes),
                None => local,
            };
            let host = self.host(name);
            if let Some(changes) = changes {
                host.count(changes);
            }
            if failed {
                host.failed += 1;
            } else {
                host.ok += 1;
            }
        }
        if failed {
            self.failures.push(hosts);
        }
    }

    /// Failures the play survived were caught by the playbook: they count as rescued.
    pub(super) fn finish(&mut self, success: bool) {
        let failures = std::mem::take(&mut self.failures);
        let survived = if success {
            failures.len()
        } else {
            failures.len().saturating_sub(1)
        };
        for hosts in failures.iter().take(survived) {
            for name in hosts {
                let host = self.host(name);
                host.failed = host.failed.saturating_sub(1);
                host.rescued += 1;
            }
        }
    }

    /// Clusters by name, then `local`.
    pub fn hosts(&self) -> Vec<&HostTally> {
        let (local, clusters): (Vec<&HostTally>, Vec<&HostTally>) =
            self.hosts.values().partition(|h| h.host == LOCAL_HOST);
        clusters.into_iter().chain(local).collect()
    }

    pub fn total_changed(&self) -> u64 {
        self.hosts.values().map(HostTally::changed).sum()
    }
}
