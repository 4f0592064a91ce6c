//! Objects of one sandbox cluster, the cluster-wide resourceVersion counter and the watch history.
use super::status::ApiError;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

/// How many past events a watch can resume from before it gets 410 Expired.
const HISTORY: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub kind: EventType,
    pub storage_key: String,
    pub namespace: String,
    pub object: Value,
}

pub(crate) type EventReceiver = broadcast::Receiver<Arc<Event>>;

/// (storage key "group/plural", namespace or "", name)
pub(crate) type ObjKey = (String, String, String);

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub rv: u64,
    pub value: Value,
}

pub(crate) struct Store {
    objects: BTreeMap<ObjKey, Entry>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    /// Highest resourceVersion no longer in `history`.
    compacted: u64,
    events: broadcast::Sender<Arc<Event>>,
    /// Bumped on every change, so the persister knows what it has written.
    pub generation: u64,
}

impl Store {
    pub(crate) fn new(objects: Vec<(String, Value)>, rv: u64) -> Store {
        let (events, _) = broadcast::channel(4096);
        let mut store = Store {
            objects: BTreeMap::new(),
            rv,
            history: VecDeque::new(),
            compacted: rv,
            events,
            generation: 0,
        };
        for (storage_key, obj) in objects {
            let key = key_for(&storage_key, &obj);
            let obj_rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            store.rv = store.rv.max(obj_rv);
            store.objects.insert(
                key,
                Entry {
                    rv: obj_rv,
                    value: obj,
                },
            );
        }
        store.compacted = store.rv;
        store
    }

    pub(crate) fn resource_version(&self) -> u64 {
        self.rv
    }

    pub(crate) fn get(&self, key: &ObjKey) -> Option<&Entry> {
        self.objects.get(key)
    }

    /// Objects of one storage key, optionally one namespace, in namespace/name order.
    pub(crate) fn list<'a>(
        &'a self,
        storage_key: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        let start = (
            storage_key.to_string(),
            namespace.unwrap_or("").to_string(),
            String::new(),
        );
        self.objects
            .range(start..)
            .take_while(move |((k, ns, _), _)| {
                k == storage_key && namespace.is_none_or(|want| ns == want)
            })
            .map(|(_, e)| e)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = (&ObjKey, &Entry)> {
        self.objects.iter()
    }

    /// Stores `obj` under a new resourceVersion and tells watchers.
    pub(crate) fn put(&mut self, storage_key: &str, mut obj: Value) -> Value {
        self.rv += 1;
        let rv = self.rv;
        obj["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let namespace = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let key = (storage_key.to_string(), namespace.clone(), name);
        let kind = if self.objects.contains_key(&key) {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.objects.insert(
            key,
            Entry {
                rv,
                value: obj.clone(),
            },
        );
        self.emit(Event {
            rv,
            kind,
            storage_key: storage_key.to_string(),
            namespace,
            object: obj.clone(),
        });
        obj
    }

    pub(crate) fn remove(&mut self, key: &ObjKey) -> Option<Value> {
        let mut entry = self.objects.remove(key)?;
        self.rv += 1;
        entry.value["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.emit(Event {
            rv: self.rv,
            kind: EventType::Deleted,
            storage_key: key.0.clone(),
            namespace: key.1.clone(),
            object: entry.value.clone(),
        });
        Some(entry.value)
    }

    fn emit(&mut self, event: Event) {
        self.generation += 1;
        let event = Arc::new(event);
        if self.history.len() >= HISTORY {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        self.history.push_back(event.clone());
        // No receivers is normal: nobody is watching.
        let _ = self.events.send(event);
    }

    /// Events after `since` plus a receiver for later ones, taken atomically.
    pub(crate) fn watch_from(
        &self,
        since: u64,
    ) -> Result<(Vec<Arc<Event>>, EventReceiver), ApiError> {
        if since < self.compacted {
            return Err(ApiError::expired(since, self.compacted + 1));
        }
        let backlog = self
            .history
            .iter()
            .filter(|e| e.rv > since)
            .cloned()
            .collect();
        Ok((backlog, self.events.subscribe()))
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }
}

/// Key of an object stored under `storage_key`.
pub(crate) fn key_for(storage_key: &str, obj: &Value) -> ObjKey {
    (
        storage_key.to_string(),
        obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
    )
}
