//! What a playbook applied, per cluster and object, with a hash of the rendered content.
//!
//! Watch mode uses it to skip objects whose rendered content has not changed since their last
//! successful apply, and to find objects an earlier run applied that the current run no longer
//! renders (orphans, which `--prune` deletes).

use std::collections::BTreeMap;
use std::sync::Mutex;

use sha2::Digest;

/// Identifies one object in one cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub cluster: String,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {} {}/{}", self.cluster, self.kind, ns, self.name),
            None => write!(f, "{} {} {}", self.cluster, self.kind, self.name),
        }
    }
}

/// The content hash of a rendered object (what was sent, not what the server stored).
pub fn content_hash(object: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(&bytes))
}

#[derive(Default)]
struct State {
    /// Objects and hashes of the last successful run.
    previous: BTreeMap<ObjectKey, String>,
    /// Objects this run rendered (applied or skipped as unchanged).
    current: BTreeMap<ObjectKey, String>,
    /// Whether unchanged objects may skip their write (watch re-runs only).
    skip_unchanged: bool,
}

#[derive(Default)]
pub struct Ledger {
    state: Mutex<State>,
}

/// What a finished run left behind.
#[derive(Debug, Default, PartialEq)]
pub struct RunSummary {
    /// Applied by an earlier run, not rendered by this one.
    pub orphans: Vec<ObjectKey>,
    /// How many objects this run rendered.
    pub rendered: usize,
}

impl Ledger {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a run; `skip_unchanged` lets apply skip objects whose content is unchanged.
    pub fn start_run(&self, skip_unchanged: bool) {
        let mut state = self.state();
        state.current.clear();
        state.skip_unchanged = skip_unchanged;
    }

    /// Whether `key` was applied with exactly this content by the last successful run.
    pub fn is_unchanged(&self, key: &ObjectKey, hash: &str) -> bool {
        let state = self.state();
        state.skip_unchanged && state.previous.get(key).is_some_and(|h| h == hash)
    }

    /// Records that this run rendered (and applied, or found unchanged) `key`.
    pub fn record(&self, key: ObjectKey, hash: String) {
        self.state().current.insert(key, hash);
    }

    /// Forgets an object (it was deleted).
    pub fn forget(&self, key: &ObjectKey) {
        let mut state = self.state();
        state.previous.remove(key);
        state.current.remove(key);
    }

    /// Ends a run. A successful run becomes the reference for the next one; a failed run only
    /// adds what it applied, so nothing is reported orphaned because of a failure.
    pub fn finish_run(&self, success: bool) -> RunSummary {
        let mut state = self.state();
        let current = std::mem::take(&mut state.current);
        let rendered = current.len();
        if !success {
            state.previous.extend(current);
            return RunSummary {
                orphans: Vec::new(),
                rendered,
            };
        }
        let orphans = state
            .previous
            .keys()
            .filter(|k| !current.contains_key(*k))
            .cloned()
            .collect();
        state.previous.extend(current.clone());
        // Orphans stay known until they are pruned, so they keep being reported.
        RunSummary { orphans, rendered }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            cluster: "c1".into(),
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("default".into()),
            name: name.into(),
        }
    }

    #[test]
    fn unchanged_objects_are_known_only_after_a_successful_run() {
        let ledger = Ledger::default();
        ledger.start_run(true);
        assert!(!ledger.is_unchanged(&key("a"), "h1"));
        ledger.record(key("a"), "h1".into());
        ledger.record(key("b"), "h2".into());
        assert_eq!(ledger.finish_run(true).orphans, vec![]);

        ledger.start_run(true);
        assert!(ledger.is_unchanged(&key("a"), "h1"));
        assert!(!ledger.is_unchanged(&key("a"), "h9"));
        ledger.record(key("a"), "h1".into());
        let summary = ledger.finish_run(true);
        assert_eq!(summary.orphans, vec![key("b")]);
        assert_eq!(summary.rendered, 1);

        ledger.forget(&key("b"));
        ledger.start_run(true);
        ledger.record(key("a"), "h1".into());
        assert_eq!(ledger.finish_run(true).orphans, vec![]);
    }

    #[test]
    fn a_failed_run_orphans_nothing() {
        let ledger = Ledger::default();
        ledger.start_run(false);
        ledger.record(key("a"), "h1".into());
        ledger.finish_run(true);
        ledger.start_run(true);
        assert!(ledger.finish_run(false).orphans.is_empty());
    }
}
