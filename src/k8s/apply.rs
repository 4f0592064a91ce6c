//! Server-side apply of any kind, in kapp's order, with measured actions.

use std::collections::{HashMap, HashSet};

use futures::stream::{self, StreamExt};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, ValidationDirective};
use serde::Serialize;
use serde_json::Value;

use super::cluster::Cluster;
use super::diff::plan_diff;
use super::documents::{identity, Identity};
use super::errors::{api_error, object_label};
use super::kinds::Resolved;
use super::order::rank;
use super::plan::Planned;
use super::plan::{
    as_stored, fill_unknowns, holds_unknowns, substitute, PlanKey, KNOWN_AFTER_APPLY, STAND_IN,
};
use super::retry::request as api_request;
use super::transport::with_warnings;
use super::Session;
use crate::error::{HostError, HostResult};
use crate::ledger::{content_hash, ObjectKey};
use crate::report::Action;

pub(super) const FIELD_MANAGER: &str = "runner";
/// Requests in flight at once for one rank of objects.
const CONCURRENCY: usize = 16;
/// Lists replace per-object reads when a kind/namespace has at least this many objects.
const LIST_THRESHOLD: usize = 3;
const CRD_TIMEOUT_SECS: u64 = 60;

#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Take over fields other managers own instead of failing with a conflict.
    pub force: bool,
    /// What the server does with fields the object's type does not have.
    pub field_validation: FieldValidation,
}

/// The `fieldValidation` an apply sends. Strict by default, as kubectl: a field the type does
/// not have is a mistake to stop at, not something to drop silently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Refuse the object (HTTP 400) naming every unknown or duplicate field.
    #[default]
    Strict,
    /// Drop them, and say so in a `Warning` per field.
    Warn,
    /// Drop them silently.
    Ignore,
}

impl FieldValidation {
    const NAMES: [&'static str; 3] = ["Strict", "Warn", "Ignore"];

    /// The directive named as the API names it (`Strict`, `Warn`, `Ignore`).
    pub fn named(name: &str) -> HostResult<FieldValidation> {
        match name {
            "Strict" => Ok(FieldValidation::Strict),
            "Warn" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            _ => Err(HostError::new(format!(
                "apply: option field_validation must be one of {}, not {name:?}",
                Self::NAMES.map(|n| format!("{n:?}")).join(", ")
            ))),
        }
    }

    fn directive(self) -> ValidationDirective {
        match self {
            FieldValidation::Strict => ValidationDirective::Strict,
            FieldValidation::Warn => ValidationDirective::Warn,
            FieldValidation::Ignore => ValidationDirective::Ignore,
        }
    }
}

/// What apply did to one object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Applied {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub action: Action,
}

struct Item {
    index: usize,
    id: Identity,
    object: Value,
    /// None in a dry run when the object's kind or namespace is only planned in this batch.
    resolved: Option<Resolved>,
    namespace: Option<String>,
    /// The object's identity and content hash for the ledger.
    key: Option<ObjectKey>,
    hash: String,
    /// Applied with this exact content by the last successful run of a watch: no write needed.
    skip: bool,
}

impl Item {
    fn label(&self) -> String {
        object_label(&self.id.kind, self.namespace.as_deref(), &self.id.name)
    }
}

/// resourceVersions by item index (None: absent).
type Versions = Vec<(usize, Option<String>)>;

struct Outcome {
    index: usize,
    result: HostResult<(Applied, Option<String>)>,
    /// What the API server's `Warning` headers said about the object.
    warnings: Vec<String>,
}

/// A runtime task that is cancelled when its handle is dropped (as when Ctrl-C abandons a
/// playbook's wait), so no request outlives the run that made it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = HostResult<T>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.map_err(|e| HostError::new(format!("internal error: a write task failed: {e}")))
        })
    }
}

/// The part of an API answer that tells whether a write changed anything.
#[derive(serde::Deserialize)]
struct VersionOnly {
    metadata: VersionMeta,
}

#[derive(serde::Deserialize)]
struct VersionMeta {
    name: Option<String>,
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// The part of a list that tells which objects exist, at which resourceVersion.
#[derive(serde::Deserialize)]
struct NamesAndVersions {
    #[serde(default)]
    items: Vec<VersionOnly>,
}

/// A retried request is sent again: http::Request is not Clone.
fn clone_request(request: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Puts the playbook's ownership label on an object (what `--prune` looks for).
fn mark_owner(object: &mut Value, owner: &str) {
    if owner.is_empty() {
        return;
    }
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    if labels.is_null() {
        *labels = Value::Object(Default::default());
    }
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(super::OWNER_LABEL.into(), Value::String(owner.to_string()));
    }
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

impl Cluster {
    /// Applies `objects` (server-side apply, field manager `runner`) and returns what happened to
    /// each, in the order given. In a dry run the server validates (dryRun=All) and a diff shows.
    pub async fn apply(
        &self,
        session: &Session<'_>,
        objects: Vec<Value>,
        options: &ApplyOptions,
    ) -> HostResult<Vec<Applied>> {
        let mut items = Vec::with_capacity(objects.len());
        for (index, mut object) in objects.into_iter().enumerate() {
            let id = identity(index, &object)?;
            mark_owner(&mut object, session.owner);
            items.push(Item {
                index,
                id,
                object,
                resolved: None,
                namespace: None,
                key: None,
                hash: String::new(),
                skip: false,
            });
        }
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.announce(session);
        let mut by_rank: [Vec<Item>; 3] = Default::default();
        for item in items {
            by_rank[rank(&item.id.api_version, &item.id.kind) as usize].push(item);
        }
        let mut results: Vec<(usize, Applied)> = Vec::new();
        let mut planned = self.planned();
        // Namespaces this call created hold nothing yet: their objects need no read first.
        let mut fresh_namespaces: HashSet<String> = HashSet::new();
        for (rank_index, mut batch) in by_rank.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            for item in &mut batch {
                self.prepare(session, item, &planned).await?;
                self.consult_ledger(session, item);
            }
            let applied = self
                .apply_batch(session, &batch, options, &fresh_namespaces)
                .await?;
            if rank_index == 0 {
                fresh_namespaces.extend(
                    applied
                        .iter()
                        .filter(|(_, a)| a.kind == "Namespace" && a.action == Action::Created)
                        .map(|(_, a)| a.name.clone()),
                );
                self.after_definitions(session, &batch, &applied, &mut planned)
                    .await?;
                self.remember_planned(&planned);
            }
            results.extend(applied);
        }
        results.sort_by_key(|(index, _)| *index);
        Ok(results.into_iter().map(|(_, a)| a).collect())
    }

    /// Resolves the kind and settles the namespace.
    async fn prepare(
        &self,
        session: &Session<'_>,
        item: &mut Item,
        planned: &Planned,
    ) -> HostResult<()> {
        let pending_kind =
            session.dry_run && planned.groups.contains(group_of(&item.id.api_version));
        let resolved = match self
            .kinds
            .for_object(&item.id.api_version, &item.id.kind)
            .await
        {
            Ok(resolved) => Some(resolved),
            Err(_) if pending_kind => None,
            Err(_) if session.dry_run && session.programs_skipped => {
                session.reporter.log(&format!(
                    "dry run: {}: {} {} is not served yet; the plan assumes a program the run starts installs it",
                    self.name(),
                    item.id.api_version,
                    item.id.kind
                ));
                None
            }
            Err(e) => {
                return Err(e.context(format!("{}: cannot apply {}", self.name(), item.label())))
            }
        };
        item.namespace = match &resolved {
            Some(r) => self.namespace_for(r, item.id.namespace.as_deref()),
            None => Some(
                item.id
                    .namespace
                    .clone()
                    .unwrap_or_else(|| self.namespace().to_string()),
            ),
        };
        if let Some(metadata) = item
            .object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
        {
            match &item.namespace {
                Some(ns) => {
                    metadata.insert("namespace".into(), Value::String(ns.clone()));
                }
                None => {
                    metadata.remove("namespace");
                }
            }
        }
        let namespace_pending = session.dry_run
            && item
                .namespace
                .as_ref()
                .is_some_and(|ns| planned.namespaces.contains(ns));
        item.resolved = if namespace_pending { None } else { resolved };
        Ok(())
    }

    /// Identifies the object for the ledger and decides whether its write can be skipped.
    fn consult_ledger(&self, session: &Session<'_>, item: &mut Item) {
        let Some(ledger) = session.ledger else {
            return;
        };
        let key = ObjectKey {
            cluster: self.name().to_string(),
            api_version: item.id.api_version.clone(),
            kind: item.id.kind.clone(),
            namespace: item.namespace.clone(),
            name: item.id.name.clone(),
        };
        item.hash = content_hash(&item.object);
        item.skip = !session.dry_run && ledger.is_unchanged(&key, &item.hash);
        item.key = Some(key);
    }

    /// Applies one rank concurrently, reports each object in order, fails if any failed.
    async fn apply_batch(
        &self,
        session: &Session<'_>,
        batch: &[Item],
        options: &ApplyOptions,
        fresh_namespaces: &HashSet<String>,
    ) -> HostResult<Vec<(usize, Applied)>> {
        let (skipped, pending): (Vec<&Item>, Vec<&Item>) = batch.iter().partition(|i| i.skip);
        let mut outcomes: Vec<Outcome> = skipped
            .into_iter()
            .map(|item| Outcome {
                index: item.index,
                result: Ok((self.applied(item, Action::Unchanged), None)),
                warnings: Vec::new(),
            })
            .collect();
        if session.dry_run {
            let planned: Vec<Outcome> = stream::iter(pending)
                .map(|item| async move {
                    let (result, warnings) =
                        with_warnings(self.plan_one(session, item, options)).await;
                    Outcome {
                        index: item.index,
                        result,
                        warnings,
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            outcomes.extend(planned);
        } else {
            outcomes.extend(self.write_all(&pending, options, fresh_namespaces).await?);
        }
        outcomes.sort_by_key(|o| o.index);
        let identities: HashMap<usize, (&ObjectKey, &str)> = batch
            .iter()
            .filter_map(|i| i.key.as_ref().map(|k| (i.index, (k, i.hash.as_str()))))
            .collect();
        let mut applied = Vec::new();
        let mut errors: Vec<HostError> = Vec::new();
        for outcome in outcomes {
            match outcome.result {
                Ok((done, diff)) => {
                    // A plan records too: its orphans are what the run would find.
                    if let (Some(ledger), Some((key, hash))) =
                        (session.ledger, identities.get(&outcome.index))
                    {
                        ledger.record((*key).clone(), hash.to_string());
                    }
                    let label = object_label(&done.kind, done.namespace.as_deref(), &done.name);
                    if let Some(diff) = diff.filter(|d| !d.is_empty()) {
                        session.reporter.diff(self.name(), &label, &diff);
                    }
                    session.reporter.object(
                        self.name(),
                        &done.kind,
                        done.namespace.as_deref(),
                        &done.name,
                        done.action,
                        session.dry_run,
                    );
                    self.report_warnings(session, &done, &outcome.warnings);
                    applied.push((outcome.index, done));
                }
                Err(e) => errors.push(e),
            }
        }
        match errors.len() {
            0 => Ok(applied),
            1 => Err(errors.remove(0)),
            n => {
                let first = errors.remove(0);
                Err(first.with_cause(format!(
                    "{} more objects failed too; the first of them: {}",
                    n - 1,
                    errors[0].full_message()
                )))
            }
        }
    }

    /// Applies every item of a batch that needs a write. The requests run as one task on the
    /// runtime: polled from the playbook's thread instead, every answer would wake that thread.
    async fn write_all(
        &self,
        batch: &[&Item],
        options: &ApplyOptions,
        fresh_namespaces: &HashSet<String>,
    ) -> HostResult<Vec<Outcome>> {
        let before = self.live_versions(batch, fresh_namespaces).await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut writes = Vec::new();
        for &item in batch {
            match self.write_request(item, options) {
                Ok(request) => writes.push((item.index, item.label(), request)),
                Err(e) => outcomes.push(Outcome {
                    index: item.index,
                    result: Err(e),
                    warnings: Vec::new(),
                }),
            }
        }
        let client = self.client.clone();
        let cluster = self.name().to_string();
        let task = tokio::spawn(async move {
            stream::iter(writes)
                .map(|(index, label, request)| {
                    let client = client.clone();
                    let cluster = cluster.clone();
                    async move {
                        let (answer, warnings) = with_warnings(api_request(
                            &cluster,
                            &format!("apply {label}"),
                            || client.request::<VersionOnly>(clone_request(&request)),
                            |e| api_error(&cluster, "apply", &label, e),
                        ))
                        .await;
                        let answer: HostResult<VersionOnly> = answer;
                        (index, answer.map(|a| a.metadata.resource_version), warnings)
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await
        });
        let answers = AbortOnDrop(task).await?;
        let by_index: HashMap<usize, &Item> = batch.iter().map(|i| (i.index, *i)).collect();
        for (index, answer, warnings) in answers {
            let item = by_index[&index];
            let result = answer.map(|after| {
                let action = match before.get(&index).cloned().flatten() {
                    None => Action::Created,
                    Some(rv) if after.as_deref() == Some(rv.as_str()) => Action::Unchanged,
                    Some(_) => Action::Configured,
                };
                (self.applied(item, action), None)
            });
            outcomes.push(Outcome {
                index,
                result,
                warnings,
            });
        }
        Ok(outcomes)
    }

    /// The server-side apply request for one item.
    fn write_request(
        &self,
        item: &Item,
        options: &ApplyOptions,
    ) -> HostResult<http::Request<Vec<u8>>> {
        let label = item.label();
        let resolved = item.resolved.as_ref().ok_or_else(|| {
            HostError::new(format!(
                "{}: cannot apply {label}: unknown kind",
                self.name()
            ))
        })?;
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = options.force;
        params.field_validation = Some(options.field_validation.directive());
        let patch = Patch::Apply(&item.object);
        // Only the resourceVersion of the answer matters: reading just that spares decoding
        // every applied object in full.
        let url = <DynamicObject as kube::Resource>::url_path(
            &resolved.resource,
            item.namespace.as_deref(),
        );
        kube::core::Request::new(url)
            .patch(&item.id.name, &params, &patch)
            .map_err(|e| {
                HostError::from_error(&e).context(format!("{}: cannot apply {label}", self.name()))
            })
    }

    /// A dry run: the server's answer to dryRun=All, as a diff against the object as the run
    /// would find it (planned by an earlier apply of this plan, or else live). The answer is
    /// kept for the plan's later reads.
    async fn plan_one(
        &self,
        session: &Session<'_>,
        item: &Item,
        options: &ApplyOptions,
    ) -> HostResult<(Applied, Option<String>)> {
        let key = PlanKey::new(
            group_of(&item.id.api_version),
            &item.id.kind,
            item.namespace.as_deref(),
            &item.id.name,
        );
        let earlier = self.overlay.get(&key);
        let (before, mut planned) = match &item.resolved {
            // Its CRD or namespace is itself only planned: the server cannot judge it yet.
            None => (earlier.flatten(), as_stored(&item.object)),
            Some(resolved) => {
                let api = self.api(resolved, item.namespace.as_deref());
                let label = item.label();
                let before = match earlier {
                    Some(planned) => planned,
                    None => api_request(
                        self.name(),
                        &format!("read {label}"),
                        || api.get_opt(&item.id.name),
                        |e| api_error(self.name(), "read", &label, e),
                    )
                    .await?
                    .map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
                };
                let mut params = PatchParams::apply(FIELD_MANAGER).dry_run();
                params.force = options.force;
                params.field_validation = Some(options.field_validation.directive());
                let patch = Patch::Apply(&item.object);
                let invalid = std::sync::atomic::AtomicBool::new(false);
                let answer: HostResult<DynamicObject> = api_request(
                    self.name(),
                    &format!("dry-run apply {label}"),
                    || api.patch(&item.id.name, &params, &patch),
                    |e| {
                        let refused = matches!(e, kube::Error::Api(s) if s.code == 422);
                        invalid.store(refused, std::sync::atomic::Ordering::Relaxed);
                        api_error(self.name(), "apply", &label, e)
                    },
                )
                .await;
                let planned = match answer {
                    Ok(planned) => serde_json::to_value(planned).unwrap_or(Value::Null),
                    // A value only the run can know is no valid address or URL yet: the server
                    // judges the object with a stand-in in its place, and only that.
                    Err(refused)
                        if invalid.load(std::sync::atomic::Ordering::Relaxed)
                            && holds_unknowns(&item.object) =>
                    {
                        let stand_in = substitute(&item.object, KNOWN_AFTER_APPLY, STAND_IN);
                        let patch = Patch::Apply(&stand_in);
                        let judged: DynamicObject = api_request(
                            self.name(),
                            &format!("dry-run apply {label}"),
                            || api.patch(&item.id.name, &params, &patch),
                            |e| api_error(self.name(), "apply", &label, e),
                        )
                        .await
                        .map_err(|_| refused)?;
                        session.reporter.log(&format!(
                            "dry run: {}: {label} holds values known after apply; the server judged it with {STAND_IN} in their place",
                            self.name()
                        ));
                        let judged = serde_json::to_value(judged).unwrap_or(Value::Null);
                        substitute(&judged, STAND_IN, KNOWN_AFTER_APPLY)
                    }
                    Err(e) => return Err(e),
                };
                (before, planned)
            }
        };
        if let Some(before) = &before {
            fill_unknowns(&mut planned, before);
        }
        let (changed, diff) = plan_diff(before.as_ref(), &planned);
        let action = match (&before, changed) {
            (None, _) => Action::Created,
            (Some(_), true) => Action::Configured,
            (Some(_), false) => Action::Unchanged,
        };
        self.overlay.put(key, planned);
        Ok((self.applied(item, action), Some(diff)))
    }

    /// Shows what the API server warned about one object (a deprecated API, a dropped field).
    fn report_warnings(&self, session: &Session<'_>, done: &Applied, warnings: &[String]) {
        for warning in warnings {
            session.reporter.server_warning(
                self.name(),
                &done.kind,
                done.namespace.as_deref(),
                &done.name,
                warning,
            );
        }
    }

    fn applied(&self, item: &Item, action: Action) -> Applied {
        Applied {
            kind: item.id.kind.clone(),
            namespace: item.namespace.clone(),
            name: item.id.name.clone(),
            action,
        }
    }

    /// resourceVersions of the objects that exist, by item: one GET per object, or one LIST
    /// per kind and namespace when a batch has several of them.
    async fn live_versions(
        &self,
        batch: &[&Item],
        fresh_namespaces: &HashSet<String>,
    ) -> HostResult<HashMap<usize, Option<String>>> {
        let mut groups: HashMap<(String, String, Option<String>), Vec<&Item>> = HashMap::new();
        let in_fresh_namespace = |item: &Item| {
            item.namespace
                .as_ref()
                .is_some_and(|ns| fresh_namespaces.contains(ns))
        };
        for &item in batch.iter().filter(|i| !in_fresh_namespace(i)) {
            let Some(resolved) = &item.resolved else {
                continue;
            };
            let key = (
                resolved.resource.api_version.clone(),
                resolved.resource.plural.clone(),
                item.namespace.clone(),
            );
            groups.entry(key).or_default().push(item);
        }
        let found: Vec<HostResult<Versions>> = stream::iter(groups.into_values())
            .map(|members| self.versions_of(members))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut out = HashMap::new();
        for result in found {
            out.extend(result?);
        }
        Ok(out)
    }

    async fn versions_of(&self, members: Vec<&Item>) -> HostResult<Versions> {
        let Some(first) = members.first() else {
            return Ok(Vec::new());
        };
        let Some(resolved) = &first.resolved else {
            return Ok(Vec::new());
        };
        let api = self.api(resolved, first.namespace.as_deref());
        if members.len() < LIST_THRESHOLD {
            let mut out = Vec::new();
            for item in members {
                let label = item.label();
                let live = api_request(
                    self.name(),
                    &format!("read {label}"),
                    || api.get_opt(&item.id.name),
                    |e| api_error(self.name(), "read", &label, e),
                )
                .await?;
                out.push((item.index, live.and_then(|o| o.metadata.resource_version)));
            }
            return Ok(out);
        }
        let what = match &first.namespace {
            Some(ns) => format!("{} in namespace {ns}", resolved.resource.plural),
            None => resolved.resource.plural.clone(),
        };
        let url = <DynamicObject as kube::Resource>::url_path(
            &resolved.resource,
            first.namespace.as_deref(),
        );
        let request = kube::core::Request::new(url)
            .list(&ListParams::default())
            .map_err(|e| {
                HostError::from_error(&e).context(format!("{}: cannot list {what}", self.name()))
            })?;
        let list: NamesAndVersions = api_request(
            self.name(),
            &format!("list {what}"),
            || {
                self.client
                    .request::<NamesAndVersions>(clone_request(&request))
            },
            |e| api_error(self.name(), "list", &what, e),
        )
        .await?;
        let versions: HashMap<String, Option<String>> = list
            .items
            .into_iter()
            .filter_map(|o| Some((o.metadata.name?, o.metadata.resource_version)))
            .collect();
        Ok(members
            .iter()
            .map(|item| (item.index, versions.get(&item.id.name).cloned().flatten()))
            .collect())
    }

    /// After CRDs and Namespaces: wait until new CRDs serve their kinds, and let discovery see them.
    async fn after_definitions(
        &self,
        session: &Session<'_>,
        batch: &[Item],
        applied: &[(usize, Applied)],
        planned: &mut Planned,
    ) -> HostResult<()> {
        let actions: HashMap<usize, Action> = applied.iter().map(|(i, a)| (*i, a.action)).collect();
        let mut crds: Vec<(&str, &str, &Value)> = Vec::new();
        for item in batch {
            let action = actions
                .get(&item.index)
                .copied()
                .unwrap_or(Action::Unchanged);
            if item.id.kind == "Namespace" {
                if session.dry_run && action == Action::Created {
                    planned.namespaces.insert(item.id.name.clone());
                }
                continue;
            }
            let Some(group) = item.object.pointer("/spec/group").and_then(Value::as_str) else {
                continue;
            };
            if session.dry_run {
                if action == Action::Created {
                    planned.groups.insert(group.to_string());
                }
                continue;
            }
            crds.push((item.id.name.as_str(), group, &item.object));
        }
        let waits: Vec<HostResult<Option<()>>> = stream::iter(crds.iter())
            .map(|(name, _, _)| self.wait_crd(session, name, CRD_TIMEOUT_SECS))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for result in waits {
            result?;
        }
        for (_, group, _) in &crds {
            self.kinds.forget_group(group);
        }
        // Established is not yet served: later objects of these kinds need discovery to know them.
        let served: Vec<(String, &str)> = crds
            .iter()
            .filter_map(|(_, group, crd)| {
                let kind = crd.pointer("/spec/names/kind").and_then(Value::as_str)?;
                Some((group, crd, kind))
            })
            .flat_map(|(group, crd, kind)| {
                crd.pointer("/spec/versions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|v| v["served"] == true)
                    .filter_map(move |v| Some((format!("{group}/{}", v["name"].as_str()?), kind)))
            })
            .collect();
        let timeout = std::time::Duration::from_secs(CRD_TIMEOUT_SECS);
        let waits: Vec<HostResult<()>> = stream::iter(served.iter())
            .map(|(api_version, kind)| self.kinds.wait_served(api_version, kind, timeout))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for result in waits {
            result?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_validation_is_named_as_the_api_names_it() {
        assert_eq!(
            FieldValidation::named("Strict").unwrap(),
            FieldValidation::Strict
        );
        assert_eq!(
            FieldValidation::named("Warn").unwrap(),
            FieldValidation::Warn
        );
        assert_eq!(
            FieldValidation::named("Ignore").unwrap(),
            FieldValidation::Ignore
        );
        assert_eq!(
            FieldValidation::named("strict").unwrap_err().message,
            r#"apply: option field_validation must be one of "Strict", "Warn", "Ignore", not "strict""#
        );
    }
}
