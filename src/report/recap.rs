//! The per-cluster tally printed at the end of a play, in the spirit of Ansible's PLAY RECAP.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Action, Changes, StepStatus, LOCAL_HOST};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostTally {
    pub host: String,
    /// Steps that used this cluster and changed nothing in it.
    pub ok: u64,
    /// Steps that changed something in this cluster.
    pub changed: u64,
    /// Steps that failed while working on this cluster.
    pub failed: u64,
    /// Steps that failed but whose error the playbook caught.
    pub rescued: u64,
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

    pub(super) fn record_loose_object(&mut self, cluster: &str, action: Action) {
        let host = self.host(cluster);
        if action.is_change() {
            host.changed += 1;
        } else {
            host.ok += 1;
        }
    }

    pub(super) fn record_step(
        &mut self,
        _step: &str,
        clusters: &BTreeMap<String, Changes>,
        local_change: bool,
        status: &StepStatus,
    ) {
        let mut hosts: Vec<String> = clusters.keys().cloned().collect();
        if hosts.is_empty() || local_change {
            hosts.push(LOCAL_HOST.to_string());
        }
        let failed = matches!(status, StepStatus::Failed | StepStatus::Interrupted);
        for name in &hosts {
            let changed = match clusters.get(name) {
                Some(changes) => changes.changed() > 0,
                None => local_change,
            };
            let host = self.host(name);
            if failed {
                host.failed += 1;
            } else if changed {
                host.changed += 1;
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

    pub fn hosts(&self) -> Vec<&HostTally> {
        self.hosts.values().collect()
    }

    pub fn host_tally(&self, name: &str) -> Option<&HostTally> {
        self.hosts.get(name)
    }

    pub fn total_changed(&self) -> u64 {
        self.hosts.values().map(|h| h.changed).sum()
    }
}
