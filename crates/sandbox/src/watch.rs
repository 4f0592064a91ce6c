//! Streaming watches: newline-delimited JSON events, resumable by resourceVersion.
use super::core::ClusterCore;
use super::ops::{present, Target};
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{Event, EventType};
use super::table;
use axum::body::{Body, Bytes};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct WatchParams {
    /// None (or "0") starts with ADDED events for what exists now.
    pub since: Option<u64>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub as_table: bool,
}

struct Filter {
    target: Target,
    labels: LabelSelector,
    fields: FieldSelector,
    as_table: bool,
}

impl Filter {
    fn matches(&self, event: &Event) -> bool {
        event.storage_key == self.target.rt.storage_key()
            && self
                .target
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == event.namespace)
            && self.labels.matches(&event.object)
            && self.fields.matches(&event.object)
    }

    fn line(&self, kind: &str, object: &Value) -> Bytes {
        let object = present(&self.target.rt, object.clone());
        let object = if self.as_table {
            let rv = object["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string();
            table::table(&self.target.rt, &[object], &rv)
        } else {
            object
        };
        let mut line = json!({"type": kind, "object": object}).to_string();
        line.push('\n');
        Bytes::from(line)
    }
}

struct State {
    pending: VecDeque<Bytes>,
    events: broadcast::Receiver<Arc<Event>>,
    filter: Filter,
    deadline: Instant,
    bookmarks: bool,
    last_rv: u64,
    ended: bool,
}

/// Starts a watch; the body ends on timeout, on shutdown, or when the watcher falls too far behind.
pub(crate) fn start(core: &ClusterCore, target: Target, params: WatchParams) -> Body {
    let filter = Filter {
        target,
        labels: params.labels,
        fields: params.fields,
        as_table: params.as_table,
    };
    let mut pending = VecDeque::new();
    let inner = core.lock();
    let current = inner.store.resource_version();
    let events = match params.since.filter(|rv| *rv > 0) {
        Some(since) => match inner.store.watch_from(since) {
            Ok((backlog, rx)) => {
                for event in backlog.iter().filter(|e| filter.matches(e)) {
                    pending.push_back(filter.line(event.kind.as_str(), &event.object));
                }
                rx
            }
            Err(expired) => {
                let mut line = json!({"type": "ERROR", "object": expired.to_status()}).to_string();
                line.push('\n');
                pending.push_back(Bytes::from(line));
                let rx = inner.store.subscribe();
                drop(inner);
                return body(State {
                    pending,
                    events: rx,
                    filter,
                    deadline: Instant::now(),
                    bookmarks: false,
                    last_rv: current,
                    ended: true,
                });
            }
        },
        None => {
            let storage_key = filter.target.rt.storage_key();
            for entry in inner
                .store
                .list(&storage_key, filter.target.namespace.as_deref())
            {
                if filter.labels.matches(&entry.value) && filter.fields.matches(&entry.value) {
                    pending.push_back(filter.line(EventType::Added.as_str(), &entry.value));
                }
            }
            inner.store.subscribe()
        }
    };
    drop(inner);
    body(State {
        pending,
        events,
        filter,
        deadline: Instant::now() + params.timeout,
        bookmarks: params.bookmarks,
        last_rv: current,
        ended: false,
    })
}

fn body(state: State) -> Body {
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.pending.pop_front() {
                return Some((Ok::<Bytes, Infallible>(line), st));
            }
            if st.ended {
                return None;
            }
            let bookmark_at = Instant::now() + BOOKMARK_EVERY;
            tokio::select! {
                received = st.events.recv() => match received {
                    Ok(event) => {
                        st.last_rv = event.rv;
                        if st.filter.matches(&event) {
                            st.pending.push_back(st.filter.line(event.kind.as_str(), &event.object));
                        }
                    }
                    // Closed: the cluster stopped. Lagged: the client re-lists, like after a real server's watch drop.
                    Err(_) => return None,
                },
                () = tokio::time::sleep_until(st.deadline) => return None,
                () = tokio::time::sleep_until(bookmark_at), if st.bookmarks => {
                    let rt = &st.filter.target.rt;
                    let mut line = json!({"type": "BOOKMARK", "object": {
                        "kind": rt.kind, "apiVersion": rt.api_version(),
                        "metadata": {"resourceVersion": st.last_rv.to_string()},
                    }}).to_string();
                    line.push('\n');
                    st.pending.push_back(Bytes::from(line));
                }
            }
        }
    });
    Body::from_stream(stream)
}
