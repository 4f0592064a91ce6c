//! The verbs: get, list, create, update, patch (incl. server-side apply), delete.
use super::core::{ClusterCore, ControllerTask, Inner, LastApply, CRD_KEY};
use super::fields::Scope;
use super::managed::{self, ApplyRequest};
use super::meta;
use super::resources::ResourceType;
use super::schema::{self, FieldValidation};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, FieldError};
use super::store::ObjKey;
use super::validation as validate;
use serde_json::{json, Value};

/// What a request addresses.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub rt: ResourceType,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Target {
    fn key(&self, name: &str) -> ObjKey {
        (
            self.rt.storage_key(),
            self.namespace.clone().unwrap_or_default(),
            name.to_string(),
        )
    }

    fn scope(&self) -> Scope {
        match (self.rt.has_status, self.subresource.as_deref()) {
            (_, Some("status")) => Scope::Status,
            (true, _) => Scope::Main,
            (false, _) => Scope::Everything,
        }
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(&self.rt.group, &self.rt.plural, name)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub force: bool,
    pub user_agent: String,
    pub field_validation: FieldValidation,
}

/// What a write answers: the object, whether it was created, and the `Warning`s to send.
#[derive(Debug)]
pub(crate) struct Written {
    pub object: Value,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// Decodes a body as the real server's codec does for this kind: built-ins against their Go
/// types, custom resources against their CRD's structural schema (pruned and defaulted).
/// The defaults a decoded object gets (before an update's managedFields are recorded): the Go
/// defaulters for built-ins, the schema's `default`s for custom resources.
fn decode_defaults(rt: &ResourceType, obj: &mut Value) {
    match &rt.schema {
        Some(structural) => schema::structural::default(structural, obj),
        None => meta::decode_defaults(&rt.group, &rt.kind, obj),
    }
}

/// `body` is the raw request body, for fields given twice (JSON only; empty for patches).
fn decode(
    t: &Target,
    obj: &mut Value,
    body: &[u8],
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let rt = &t.rt;
    let duplicate = match body.first() {
        Some(b'{') => schema::duplicates::find(body),
        _ => Vec::new(),
    };
    match &rt.schema {
        Some(structural) => schema::structural::decode(
            structural,
            &rt.version,
            &rt.kind,
            obj,
            duplicate,
            validation,
        ),
        None => {
            schema::builtin::decode(&rt.group, &rt.version, &rt.kind, obj, duplicate, validation)
        }
    }
}

impl WriteOptions {
    /// The real default: the user agent up to its first '/'.
    fn manager(&self) -> String {
        self.field_manager.clone().unwrap_or_else(|| {
            let ua = self.user_agent.split('/').next().unwrap_or("");
            if ua.is_empty() {
                "unknown".into()
            } else {
                ua.to_string()
            }
        })
    }
}

/// Presents a stored object in the version the request asked for.
pub(crate) fn present(rt: &ResourceType, mut obj: Value) -> Value {
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    obj
}

pub(crate) fn get(core: &ClusterCore, t: &Target) -> Result<Value, ApiError> {
    let name = t.name.as_deref().unwrap_or("");
    let inner = core.lock();
    let entry = inner
        .store
        .get(&t.key(name))
        .ok_or_else(|| t.not_found(name))?;
    Ok(present(&t.rt, entry.value.clone()))
}

/// A page of a list: at most `limit` items (all when None), from where `continue` says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// The continue token: where the next page starts (namespace/name), as the real server's opaque
/// base64 JSON token does.
fn continue_token(rv: u64, namespace: &str, name: &str) -> String {
    let token =
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{namespace}/{name}\u{0}")});
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE,
        token.to_string(),
    )
}

fn continue_start(token: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE, token)
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let start = value["start"].as_str().ok_or_else(bad)?;
    let start = start.trim_end_matches('\u{0}');
    let (namespace, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((namespace.to_string(), name.to_string()))
}

pub(crate) fn list(
    core: &ClusterCore,
    t: &Target,
    labels: &LabelSelector,
    fields: &FieldSelector,
    page: &Page,
) -> Result<Value, ApiError> {
    let storage_key = t.rt.storage_key();
    let start = page
        .continue_token
        .as_deref()
        .map(continue_start)
        .transpose()?;
    let inner = core.lock();
    let rv = inner.store.resource_version();
    let mut matching = inner
        .store
        .list(&storage_key, t.namespace.as_deref())
        .filter(|e| {
            let ns = e.value["metadata"]["namespace"].as_str().unwrap_or("");
            let name = e.value["metadata"]["name"].as_str().unwrap_or("");
            start
                .as_ref()
                .is_none_or(|(sn, sname)| (ns, name) >= (sn.as_str(), sname.as_str()))
        })
        .filter(|e| labels.matches(&e.value) && fields.matches(&e.value));
    let limit = page.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
    let items: Vec<Value> = matching
        .by_ref()
        .take(limit)
        .map(|e| list_item(&t.rt, &e.value))
        .collect();
    let rest: Vec<&Value> = matching.map(|e| &e.value).collect();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some(next) = rest.first() {
        let ns = next["metadata"]["namespace"].as_str().unwrap_or("");
        let name = next["metadata"]["name"].as_str().unwrap_or("");
        metadata["continue"] = json!(continue_token(rv, ns, name));
        metadata["remainingItemCount"] = json!(rest.len());
    }
    Ok(json!({
        "kind": format!("{}List", t.rt.kind),
        "apiVersion": t.rt.api_version(),
        "metadata": metadata,
        "items": items,
    }))
}

/// Items of a built-in kind's list carry no apiVersion and kind (the list says them); custom
/// resources keep theirs, as on a real server.
fn list_item(rt: &ResourceType, stored: &Value) -> Value {
    let mut item = present(rt, stored.clone());
    if !rt.custom {
        if let Some(m) = item.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
    }
    item
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .or_else(|_| serde_yaml::from_slice(body))
        .map_err(|e| {
            ApiError::bad_request(format!("the request body could not be decoded: {e}"))
        })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    }
    Ok(value)
}

/// Checks the object's name and namespace against the URL and fills them in.
fn bind_identity(t: &Target, obj: &mut Value) -> Result<String, ApiError> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if let Some(url_name) = &t.name {
        match obj["metadata"]["name"].as_str() {
            Some(n) if n != url_name => {
                return Err(ApiError::bad_request(
                    "the name of the object does not match the name on the URL",
                ))
            }
            _ => obj["metadata"]["name"] = json!(url_name),
        }
    }
    if obj["metadata"]["name"].as_str().unwrap_or("").is_empty() {
        if let Some(prefix) = obj["metadata"]["generateName"].as_str() {
            let suffix: String = (0..5)
                .map(|_| {
                    let chars = b"bcdfghjklmnpqrstvwxz2456789";
                    chars[rand::random::<usize>() % chars.len()] as char
                })
                .collect();
            obj["metadata"]["name"] = json!(format!("{prefix}{suffix}"));
        }
    }
    if t.rt.namespaced {
        let ns = t.namespace.clone().unwrap_or_default();
        match obj["metadata"]["namespace"].as_str() {
            Some(n) if !n.is_empty() && n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => obj["metadata"]["namespace"] = json!(ns),
        }
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    Ok(obj["metadata"]["name"].as_str().unwrap_or("").to_string())
}

/// New objects need a namespace that exists and is not being deleted, as the real
/// NamespaceLifecycle admission plugin enforces.
fn require_namespace(inner: &Inner, t: &Target, name: &str) -> Result<(), ApiError> {
    let Some(ns) = t.namespace.as_ref().filter(|_| t.rt.namespaced) else {
        return Ok(());
    };
    let key = ("/namespaces".to_string(), String::new(), ns.clone());
    let Some(namespace) = inner.store.get(&key) else {
        return Err(ApiError::not_found("", "namespaces", ns));
    };
    if namespace.value["metadata"]["deletionTimestamp"].is_null() {
        return Ok(());
    }
    Err(ApiError::namespace_terminating(
        &t.rt.group,
        &t.rt.plural,
        name,
        ns,
    ))
}

/// Everything but metadata and status; a change here bumps generation.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

/// Whether `new` says nothing `old` does not, ignoring what every write touches anyway.
fn unchanged(old: &Value, new: &Value) -> bool {
    fn comparable(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            if let Some(Value::Array(fields)) = meta.get_mut("managedFields") {
                for entry in fields.iter_mut().filter_map(Value::as_object_mut) {
                    entry.remove("time");
                }
            }
        }
        v
    }
    comparable(old) == comparable(new)
}

/// Fills server-owned fields of `new` (replacing `old`, if any) and stores it.
fn commit(
    core: &ClusterCore,
    inner: &mut Inner,
    t: &Target,
    old: Option<&Value>,
    mut new: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let rt = &t.rt;
    let now = meta::now_rfc3339();
    new["apiVersion"] = json!(rt.api_version());
    new["kind"] = json!(rt.kind);
    match old {
        None => {
            validate::name(rt, &new)?;
            if rt.storage_key() == CRD_KEY {
                validate::crd(&new)?;
            }
            let m = &mut new["metadata"];
            m["uid"] = json!(meta::new_uid());
            m["creationTimestamp"] = json!(now);
            if let Some(meta) = m.as_object_mut() {
                meta.remove("resourceVersion");
                meta.remove("deletionTimestamp");
            }
            if rt.generation {
                new["metadata"]["generation"] = json!(1);
            }
            if rt.has_status && t.subresource.is_none() && rt.kind != "Namespace" {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        Some(old) => {
            validate::update(rt, old, &new)?;
            if rt.storage_key() == CRD_KEY {
                validate::crd(&new)?;
            }
            for field in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match old["metadata"].get(field) {
                    Some(v) => new["metadata"][field] = v.clone(),
                    None => {
                        if let Some(m) = new["metadata"].as_object_mut() {
                            m.remove(field);
                        }
                    }
                }
            }
            if rt.generation {
                let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
                let bumped = spec_part(old) != spec_part(&new);
                new["metadata"]["generation"] =
                    json!(if bumped { generation + 1 } else { generation });
            }
        }
    }
    meta::apply_defaults(&rt.group, &rt.kind, &mut new, old);
    if let Some(structural) = &rt.schema {
        schema::structural::default(structural, &mut new);
    }
    if rt.group.is_empty() && rt.kind == "Service" {
        allocate_node_ports(inner, &mut new, old);
    }
    validate::metadata(rt, &new)?;
    validate::object(rt, &new, old)?;
    if let Some(structural) = &rt.schema {
        schema::structural::validate(structural, &rt.group, &rt.kind, &new)?;
    }
    // A real server skips writes that change nothing: same resourceVersion, no event.
    if let Some(old) = old {
        if unchanged(old, &new) {
            return Ok(present(rt, old.clone()));
        }
    }
    if dry_run {
        if let Some(old) = old {
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        }
        return Ok(new);
    }
    let stored = inner.store.put(&rt.storage_key(), new);
    if !stored["metadata"]["deletionTimestamp"].is_null() && !has_finalizers(&stored) {
        // The last finalizer is gone: the pending deletion completes.
        let removed = inner
            .store
            .remove(&t.key(stored["metadata"]["name"].as_str().unwrap_or("")));
        core.changed.notify_one();
        return Ok(present(rt, removed.unwrap_or(stored)));
    }
    let mut tasks = Vec::new();
    let ns = stored["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let name = stored["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Namespace") if old.is_none() => populate_namespace(core, inner, &name),
        ("", "Service") => tasks.push(ControllerTask::LoadBalancer {
            namespace: ns,
            name,
        }),
        ("", "Secret")
            if stored["type"] == "kubernetes.io/service-account-token"
                && stored["data"]["token"].is_null() =>
        {
            tasks.push(ControllerTask::ServiceAccountTokenSecret {
                namespace: ns,
                name,
            });
        }
        ("apps", "Deployment") => tasks.push(ControllerTask::Deployment {
            namespace: ns,
            name,
        }),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            inner.rebuild_registry();
            tasks.push(ControllerTask::Crd { name });
        }
        _ => {}
    }
    core.queue(tasks);
    core.changed.notify_one();
    Ok(present(rt, stored))
}

/// NodePort and LoadBalancer Services get a node port per port from 30000-32767, unique in the
/// cluster, as the real allocator hands them out; other types hold none.
fn allocate_node_ports(inner: &Inner, svc: &mut Value, old: Option<&Value>) {
    let wants = matches!(
        svc["spec"]["type"].as_str(),
        Some("NodePort" | "LoadBalancer")
    ) && svc["spec"]["allocateLoadBalancerNodePorts"] != false;
    let Some(ports) = svc["spec"]["ports"].as_array_mut() else {
        return;
    };
    if !wants {
        return;
    }
    // An update that leaves a port's nodePort out keeps the one it had.
    let previous = old.and_then(|o| o["spec"]["ports"].as_array());
    for port in ports.iter_mut().filter(|p| p["nodePort"].is_null()) {
        let kept = previous
            .into_iter()
            .flatten()
            .find(|p| p["port"] == port["port"] && p["protocol"] == port["protocol"]);
        if let Some(kept) = kept.filter(|p| p["nodePort"].is_i64()) {
            port["nodePort"] = kept["nodePort"].clone();
        }
    }
    let mut taken: std::collections::HashSet<i64> = inner
        .store
        .list("/services", None)
        .flat_map(|e| {
            e.value["spec"]["ports"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p["nodePort"].as_i64())
        .collect();
    taken.extend(ports.iter().filter_map(|p| p["nodePort"].as_i64()));
    for port in ports.iter_mut().filter(|p| p["nodePort"].is_null()) {
        let start = 30000 + rand::random::<i64>().rem_euclid(2768);
        let free = (0..2768)
            .map(|i| 30000 + (start - 30000 + i) % 2768)
            .find(|p| !taken.contains(p));
        if let Some(free) = free {
            taken.insert(free);
            port["nodePort"] = json!(free);
        }
    }
}

/// Every namespace gets a `default` ServiceAccount and the cluster CA ConfigMap, as real controllers add.
pub(crate) fn populate_namespace(core: &ClusterCore, inner: &mut Inner, ns: &str) {
    let now = meta::now_rfc3339();
    let sa = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": ns, "uid": meta::new_uid(), "creationTimestamp": now},
    });
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": ns, "uid": meta::new_uid(), "creationTimestamp": now,
            "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
        "data": {"ca.crt": core.pki.ca_pem},
    });
    let mut cm = cm;
    cm["metadata"]["managedFields"] = json!([{
        "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {".": {}, "f:ca.crt": {}}, "f:metadata": {"f:annotations": {".": {}, "f:kubernetes.io/description": {}}}},
    }]);
    for (key, obj) in [("/serviceaccounts", sa), ("/configmaps", cm)] {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        if inner
            .store
            .get(&(key.to_string(), ns.to_string(), name))
            .is_none()
        {
            inner.store.put(key, obj);
        }
    }
}

pub(crate) fn create(
    core: &ClusterCore,
    t: &Target,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let mut obj = parse_body(body)?;
    let warnings = decode(t, &mut obj, body, opts.field_validation)?;
    obj["apiVersion"] = json!(t.rt.api_version());
    obj["kind"] = json!(t.rt.kind);
    let target = Target {
        name: None,
        ..t.clone()
    };
    let name = bind_identity(&target, &mut obj)?;
    let mut inner = core.lock();
    require_namespace(&inner, t, &name)?;
    if inner.store.get(&t.key(&name)).is_some() {
        return Err(ApiError::already_exists(&t.rt.group, &t.rt.plural, &name));
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    decode_defaults(&t.rt, &mut obj);
    managed::record_update(
        None,
        &mut obj,
        &opts.manager(),
        &t.rt.api_version(),
        &meta::now_rfc3339(),
        t.scope(),
    );
    Ok(Written {
        object: commit(core, &mut inner, t, None, obj, opts.dry_run)?,
        created: true,
        warnings,
    })
}

/// Replaces the part of `old` that `t` addresses with the same part of `new`.
fn scoped_replacement(t: &Target, old: &Value, mut new: Value) -> Value {
    match t.scope() {
        Scope::Status => {
            let mut out = old.clone();
            out["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            if out["status"].is_null() {
                if let Some(m) = out.as_object_mut() {
                    m.remove("status");
                }
            }
            out
        }
        Scope::Main => {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            new
        }
        Scope::Everything => new,
    }
}

pub(crate) fn update(
    core: &ClusterCore,
    t: &Target,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let mut obj = parse_body(body)?;
    let warnings = decode(t, &mut obj, body, opts.field_validation)?;
    obj["apiVersion"] = json!(t.rt.api_version());
    obj["kind"] = json!(t.rt.kind);
    let name = bind_identity(t, &mut obj)?;
    let mut inner = core.lock();
    let old = inner
        .store
        .get(&t.key(&name))
        .ok_or_else(|| t.not_found(&name))?
        .clone();
    if let Some(rv) = obj["metadata"]["resourceVersion"].as_str() {
        if rv.parse::<u64>().ok() != Some(old.rv) {
            return Err(ApiError::conflict(&t.rt.group, &t.rt.plural, &name));
        }
    } else if t.rt.custom {
        // Custom resources allow no unconditional update, unlike most built-in kinds.
        return Err(ApiError::invalid(
            &t.rt.group,
            &t.rt.kind,
            &name,
            vec![FieldError {
                reason: "FieldValueInvalid",
                field: "metadata.resourceVersion".into(),
                message: "Invalid value: 0x0: must be specified for an update".into(),
            }],
        ));
    }
    let mut new = scoped_replacement(t, &old.value, obj);
    new["metadata"]["managedFields"] = old.value["metadata"]["managedFields"].clone();
    decode_defaults(&t.rt, &mut new);
    managed::record_update(
        Some(&old.value),
        &mut new,
        &opts.manager(),
        &t.rt.api_version(),
        &meta::now_rfc3339(),
        t.scope(),
    );
    Ok(Written {
        object: commit(core, &mut inner, t, Some(&old.value), new, opts.dry_run)?,
        created: false,
        warnings,
    })
}

pub(crate) enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub(crate) fn from_content_type(ct: &str) -> Option<PatchKind> {
        let base = ct.split(';').next().unwrap_or("").trim();
        Some(match base {
            "application/json-patch+json" => PatchKind::Json,
            "application/merge-patch+json" => PatchKind::Merge,
            "application/strategic-merge-patch+json" => PatchKind::Strategic,
            "application/apply-patch+yaml" | "application/apply-patch+json" => PatchKind::Apply,
            _ => return None,
        })
    }
}

/// Returns the patched object and whether it was created (server-side apply of a new object).
pub(crate) fn patch(
    core: &ClusterCore,
    t: &Target,
    kind: PatchKind,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let name = t.name.clone().unwrap_or_default();
    if let PatchKind::Apply = kind {
        return apply(core, t, body, opts);
    }
    if let (PatchKind::Strategic, true) = (&kind, t.rt.custom) {
        return Err(ApiError::unsupported_patch(
            "application/strategic-merge-patch+json",
        ));
    }
    let mut inner = core.lock();
    let old = inner
        .store
        .get(&t.key(&name))
        .ok_or_else(|| t.not_found(&name))?
        .clone();
    let mut patched = present(&t.rt, old.value.clone());
    match kind {
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("the request body could not be decoded: {e}"))
            })?;
            json_patch::patch(&mut patched, &ops).map_err(|e| {
                ApiError::internal(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
        }
        PatchKind::Strategic => {
            let p = parse_body(body)?;
            super::patch::strategic_merge(&mut patched, &p);
        }
        _ => {
            let p = parse_body(body)?;
            json_patch::merge(&mut patched, &p);
        }
    }
    if let Some(rv) = patched["metadata"]["resourceVersion"].as_str() {
        if rv.parse::<u64>().ok() != Some(old.rv) {
            return Err(ApiError::conflict(&t.rt.group, &t.rt.plural, &name));
        }
    }
    // The real server reports a patched object it cannot decode against the patch.
    let warnings = decode(t, &mut patched, &[], opts.field_validation).map_err(|e| {
        ApiError::invalid(
            &t.rt.group,
            &t.rt.kind,
            &name,
            vec![FieldError::invalid(
                "patch",
                &String::from_utf8_lossy(body),
                &e.message,
            )],
        )
    })?;
    bind_identity(t, &mut patched)?;
    let mut new = scoped_replacement(t, &old.value, patched);
    new["metadata"]["managedFields"] = old.value["metadata"]["managedFields"].clone();
    decode_defaults(&t.rt, &mut new);
    managed::record_update(
        Some(&old.value),
        &mut new,
        &opts.manager(),
        &t.rt.api_version(),
        &meta::now_rfc3339(),
        t.scope(),
    );
    Ok(Written {
        object: commit(core, &mut inner, t, Some(&old.value), new, opts.dry_run)?,
        created: false,
        warnings,
    })
}

fn apply(
    core: &ClusterCore,
    t: &Target,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let Some(manager) = opts.field_manager.clone() else {
        return Err(ApiError::invalid(
            "meta.k8s.io",
            "PatchOptions",
            "",
            vec![FieldError::required_because(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    };
    if let Some(unchanged) = repeated_apply(core, t, body, &manager, opts) {
        return Ok(Written {
            object: unchanged,
            created: false,
            warnings: Vec::new(),
        });
    }
    let mut applied = parse_body(body)?;
    // An applied configuration must fit the type exactly, whatever fieldValidation says: the
    // real server cannot build its typed patch otherwise (and answers 500).
    let warnings = decode(t, &mut applied, body, FieldValidation::Strict).map_err(|e| {
        // Named as the real server names the patch object: its own namespace (usually none),
        // its name and its GroupVersionKind.
        ApiError::typed_patch(&format!(
            "failed to create typed patch object ({}/{}; {}/{}, Kind={}): {}",
            applied["metadata"]["namespace"].as_str().unwrap_or(""),
            t.name.as_deref().unwrap_or(""),
            t.rt.group,
            t.rt.version,
            t.rt.kind,
            e.message
        ))
    })?;
    let name = bind_identity(t, &mut applied)?;
    if applied["apiVersion"].as_str() != Some(&t.rt.api_version())
        || applied["kind"].as_str() != Some(&t.rt.kind)
    {
        return Err(ApiError::bad_request(format!(
            "apiVersion and kind must be {} {} for this resource",
            t.rt.api_version(),
            t.rt.kind
        )));
    }
    let mut inner = core.lock();
    let old = inner.store.get(&t.key(&name)).cloned();
    if old.is_none() {
        require_namespace(&inner, t, &name)?;
    }
    let now = meta::now_rfc3339();
    let api_version = t.rt.api_version();
    let req = ApplyRequest {
        manager: &manager,
        force: opts.force,
        api_version: &api_version,
        now: &now,
        scope: t.scope(),
    };
    let live = old.as_ref().map(|e| present(&t.rt, e.value.clone()));
    let merged = managed::apply(live.as_ref(), &applied, &req).map_err(|conflicts| {
        ApiError::apply_conflict(
            &t.rt.group,
            &t.rt.plural,
            &name,
            managed::conflict_message(&conflicts),
            managed::conflict_causes(&conflicts),
        )
    })?;
    if live.is_none() && t.subresource.is_some() {
        return Err(t.not_found(&name));
    }
    let created = live.is_none();
    let obj = commit(core, &mut inner, t, live.as_ref(), merged, opts.dry_run)?;
    let key = t.key(&name);
    let stored_rv = inner.store.get(&key).map(|e| e.rv);
    match stored_rv {
        Some(rv) if !opts.dry_run => {
            let last = LastApply {
                rv,
                manager,
                subresource: t.subresource.clone(),
                body: body.to_vec(),
            };
            inner.applies.insert(key, last);
        }
        _ => {}
    }
    Ok(Written {
        object: obj,
        created,
        warnings,
    })
}

/// The live object, when this apply repeats the last one exactly and nothing changed since.
fn repeated_apply(
    core: &ClusterCore,
    t: &Target,
    body: &[u8],
    manager: &str,
    opts: &WriteOptions,
) -> Option<Value> {
    if opts.dry_run {
        return None;
    }
    let key = t.key(t.name.as_deref()?);
    let inner = core.lock();
    let last = inner.applies.get(&key)?;
    let live = inner.store.get(&key)?;
    let repeat = last.rv == live.rv
        && last.manager == manager
        && last.subresource == t.subresource
        && last.body == body;
    repeat.then(|| present(&t.rt, live.value.clone()))
}

pub(crate) fn delete(
    core: &ClusterCore,
    t: &Target,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let name = t.name.clone().unwrap_or_default();
    let mut inner = core.lock();
    let key = t.key(&name);
    let existing = inner
        .store
        .get(&key)
        .ok_or_else(|| t.not_found(&name))?
        .value
        .clone();
    if opts.dry_run {
        return Ok(deleted_status(t, &existing));
    }
    if t.rt.group.is_empty() && t.rt.kind == "Namespace" {
        return Ok(present(
            &t.rt,
            terminate_namespace(core, &mut inner, existing),
        ));
    }
    if has_finalizers(&existing) {
        // Deletion waits for the finalizers to be removed; until then the object is "terminating".
        if !existing["metadata"]["deletionTimestamp"].is_null() {
            return Ok(present(&t.rt, existing));
        }
        let mut marked = existing;
        marked["metadata"]["deletionTimestamp"] = json!(meta::now_rfc3339());
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        let stored = inner.store.put(&t.rt.storage_key(), marked);
        core.changed.notify_one();
        return Ok(present(&t.rt, stored));
    }
    if t.rt.storage_key() == CRD_KEY {
        let storage = format!(
            "{}/{}",
            existing["spec"]["group"].as_str().unwrap_or(""),
            existing["spec"]["names"]["plural"].as_str().unwrap_or("")
        );
        let doomed: Vec<ObjKey> = inner
            .store
            .all()
            .filter(|((k, _, _), _)| *k == storage)
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            inner.remove_object(&k);
        }
    }
    let removed = inner.remove_object(&key).unwrap_or(existing);
    if t.rt.storage_key() == CRD_KEY {
        inner.rebuild_registry();
    }
    core.changed.notify_one();
    Ok(deleted_status(t, &removed))
}

/// Marks a namespace Terminating; the namespace controller then deletes what it holds and, once
/// that is gone (finalizers included), the namespace itself. Until then new content is refused.
fn terminate_namespace(core: &ClusterCore, inner: &mut Inner, mut ns: Value) -> Value {
    if !ns["metadata"]["deletionTimestamp"].is_null() {
        return ns;
    }
    ns["metadata"]["deletionTimestamp"] = json!(meta::now_rfc3339());
    ns["status"]["phase"] = json!("Terminating");
    let name = ns["metadata"]["name"].as_str().unwrap_or("").to_string();
    let stored = inner.store.put("/namespaces", ns);
    core.queue(vec![ControllerTask::NamespaceCleanup { name }]);
    core.changed.notify_one();
    stored
}

/// One pass of the namespace controller: deletes the namespace's content (objects with
/// finalizers are marked instead) and, when nothing is left, the namespace. Returns whether the
/// namespace is gone (or was never terminating).
pub(crate) fn finish_namespace(core: &ClusterCore, name: &str) -> bool {
    let mut inner = core.lock();
    let key = ("/namespaces".to_string(), String::new(), name.to_string());
    let Some(ns) = inner.store.get(&key).map(|e| e.value.clone()) else {
        return true;
    };
    if ns["metadata"]["deletionTimestamp"].is_null() {
        return true;
    }
    let content: Vec<(ObjKey, Value)> = inner
        .store
        .all()
        .filter(|((_, ns_of, _), _)| ns_of == name)
        .map(|(k, e)| (k.clone(), e.value.clone()))
        .collect();
    let mut left = 0;
    for (k, obj) in content {
        if has_finalizers(&obj) {
            left += 1;
            if obj["metadata"]["deletionTimestamp"].is_null() {
                let mut marked = obj;
                marked["metadata"]["deletionTimestamp"] = json!(meta::now_rfc3339());
                marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                inner.store.put(&k.0, marked);
            }
        } else {
            inner.remove_object(&k);
        }
    }
    if left == 0 && !has_finalizers(&ns) {
        inner.remove_object(&key);
    }
    core.changed.notify_one();
    left == 0 && !has_finalizers(&ns)
}

fn has_finalizers(obj: &Value) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

fn deleted_status(t: &Target, obj: &Value) -> Value {
    let mut details = json!({
        "name": obj["metadata"]["name"],
        "kind": t.rt.plural,
        "uid": obj["metadata"]["uid"],
    });
    if !t.rt.group.is_empty() {
        details["group"] = json!(t.rt.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

pub(crate) fn delete_collection(
    core: &ClusterCore,
    t: &Target,
    labels: &LabelSelector,
    fields: &FieldSelector,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let listed = list(core, t, labels, fields, &Page::default())?;
    for item in listed["items"].as_array().into_iter().flatten() {
        let name = item["metadata"]["name"].as_str().unwrap_or("").to_string();
        let one = Target {
            name: Some(name),
            namespace: item["metadata"]["namespace"].as_str().map(str::to_string),
            ..t.clone()
        };
        match delete(core, &one, opts) {
            Ok(_) | Err(ApiError { code: 404, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(listed)
}

/// Changes made by a controller: replaces the object's status (or more) and stores it.
pub(crate) fn controller_update(
    core: &ClusterCore,
    storage_key: &str,
    namespace: &str,
    name: &str,
    change: impl FnOnce(&mut Value) -> bool,
) {
    let mut inner = core.lock();
    let key = (
        storage_key.to_string(),
        namespace.to_string(),
        name.to_string(),
    );
    let Some(entry) = inner.store.get(&key) else {
        return;
    };
    let mut obj = entry.value.clone();
    if change(&mut obj) {
        inner.store.put(storage_key, obj);
        if storage_key == CRD_KEY {
            inner.rebuild_registry();
        }
        core.changed.notify_one();
    }
}
