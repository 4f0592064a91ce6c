//! What a playbook applied in this run, per cluster and object, with a hash of the rendered
//! content.
//!
//! Every run records what it rendered here; at its end `crate::prune` compares that with the
//! inventory each cluster keeps (`k8s::inventory`) to find orphans, the one mechanism for plain
//! runs and watch mode alike. Watch re-runs also use the hashes to skip objects whose rendered
//! content has not changed since their last successful apply.

use std::collections::{BTreeMap, BTreeSet};
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

impl ObjectKey {
    /// The API group ("" for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(group, _)| group)
            .unwrap_or("")
    }

    /// What makes two keys the same object: a new API version of the same kind is the same
    /// object, never an orphan of the old version.
    pub fn identity(&self) -> (&str, &str, &str, Option<&str>, &str) {
        (
            &self.cluster,
            self.group(),
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }
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
    /// Hashes of what the last successful run applied (watch re-runs skip these).
    previous: BTreeMap<ObjectKey, String>,
    /// Objects this run rendered (applied, planned, or skipped as unchanged).
    current: BTreeMap<ObjectKey, String>,
    /// Whether unchanged objects may skip their write (watch re-runs only).
    skip_unchanged: bool,
}

#[derive(Default)]
pub struct Ledger {
    state: Mutex<State>,
}

/// What a finished run left behind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    /// In a cluster's inventory, not rendered by this run, and still there.
    pub orphans: Vec<ObjectKey>,
    /// How many objects this run rendered.
    pub rendered: usize,
}

impl Ledger {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    /// Records that this run rendered (and applied, planned, or found unchanged) `key`.
    pub fn record(&self, key: ObjectKey, hash: String) {
        self.state().current.insert(key, hash);
    }

    /// Forgets an object (it was deleted).
    pub fn forget(&self, key: &ObjectKey) {
        let mut state = self.state();
        state.previous.retain(|k, _| k.identity() != key.identity());
        state.current.retain(|k, _| k.identity() != key.identity());
    }

    /// What this run rendered so far.
    pub fn rendered(&self) -> BTreeSet<ObjectKey> {
        self.state().current.keys().cloned().collect()
    }

    /// Ends a run. Only a successful real run's hashes let a later watch re-run skip writes; a
    /// failed one keeps the hashes it had, so nothing is skipped that may not have been applied.
    pub fn finish_run(&self, applied_successfully: bool) {
        let mut state = self.state();
        let current = std::mem::take(&mut state.current);
        if applied_successfully {
            state.previous = current;
        }
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
        assert_eq!(ledger.rendered(), BTreeSet::from([key("a"), key("b")]));
        ledger.finish_run(true);

        ledger.start_run(true);
        assert!(ledger.is_unchanged(&key("a"), "h1"));
        assert!(!ledger.is_unchanged(&key("a"), "h9"));
        ledger.finish_run(false);
        assert!(
            ledger.is_unchanged(&key("b"), "h2"),
            "a failed run keeps the hashes"
        );

        ledger.forget(&key("b"));
        ledger.start_run(true);
        assert!(!ledger.is_unchanged(&key("b"), "h2"));
    }

    #[test]
    fn a_new_api_version_is_the_same_object() {
        let mut newer = key("a");
        newer.api_version = "v2".into();
        assert_eq!(newer.identity(), key("a").identity());
        let mut grouped = key("a");
        grouped.api_version = "example.com/v1".into();
        assert_ne!(grouped.identity(), key("a").identity());
    }
}
