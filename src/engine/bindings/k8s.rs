//! `cluster("name")` and the methods of a `Cluster` handle.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::DynamicObject;
use kube::runtime::wait::Condition;
use rhai::plugin::{export_module, exported_module};
use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext};
use serde_json::Value;

use super::exec::output_map;
use crate::context::PlayContext;
use crate::engine::convert::{throw, to_dynamic, to_json, IntoRhai, RhaiResult};
use crate::engine::options::{strings, Options, Scope};
use crate::error::{HostError, HostResult};
use crate::exec::ExecOptions;
use crate::k8s::{
    manifests_of, Applied, ApplyOptions, Cluster, DeleteOptions, FieldValidation, ManifestSource,
    Session,
};

/// A playbook's handle on one cluster.
#[derive(Clone)]
pub(super) struct ClusterHandle(pub(crate) Arc<Cluster>);

/// How the play works on this cluster (see `Session::of_play`).
pub(super) fn session<'a>(ctx: &'a PlayContext, cluster: &Cluster) -> Session<'a> {
    let limited_out = ctx.outside_limit(cluster.name());
    Session {
        ledger: ctx.ledger(),
        programs_skipped: ctx.programs_skipped(),
        ..Session::of_play(&ctx.reporter, ctx.dry_run(), limited_out, ctx.owner())
    }
}

/// Runs an operation on the cluster from the playbook's thread (Ctrl-C abandons it).
fn on<T>(
    ctx: &PlayContext,
    handle: &ClusterHandle,
    op: impl AsyncFnOnce(&Cluster, &Session<'_>) -> HostResult<T>,
) -> RhaiResult<T> {
    ctx.reporter.touch(handle.0.name());
    let session = session(ctx, &handle.0);
    ctx.block_on(op(&handle.0, &session)).into_rhai()
}

fn value_of(map: &Map) -> RhaiResult<Value> {
    to_json(&Dynamic::from_map(map.clone())).into_rhai()
}

fn string_map(map: &Map, what: &str) -> RhaiResult<BTreeMap<String, String>> {
    map.iter()
        .map(|(k, v)| {
            let text = v.clone().into_string().map_err(|t| {
                throw(HostError::new(format!(
                    "{what}: value of {k:?} must be a string, not {t}"
                )))
            })?;
            Ok((k.to_string(), text))
        })
        .collect()
}

/// YAML text, a map, or an array of either, as manifests.
fn manifests(objects: &Dynamic) -> HostResult<Vec<Value>> {
    let items: Vec<Dynamic> = match objects.clone().try_cast::<Array>() {
        Some(array) => array,
        None => vec![objects.clone()],
    };
    let sources = items
        .into_iter()
        .map(|item| {
            if let Some(text) = item.clone().try_cast::<rhai::ImmutableString>() {
                Ok(ManifestSource::Text(text.to_string()))
            } else if item.is_map() {
                Ok(ManifestSource::Object(to_json(&item)?))
            } else {
                Err(HostError::new(format!(
                    "apply takes YAML text, a map or an array of maps, not {}",
                    item.type_name()
                )))
            }
        })
        .collect::<HostResult<Vec<_>>>()?;
    manifests_of(sources)
}

fn applied_map(applied: &Applied) -> RhaiResult<Dynamic> {
    to_dynamic(&serde_json::to_value(applied).unwrap_or(Value::Null))
}

fn optional(value: Option<Value>) -> RhaiResult<Dynamic> {
    match value {
        Some(v) => to_dynamic(&v),
        None => Ok(Dynamic::UNIT),
    }
}

pub(super) fn install(engine: &mut Engine) {
    engine.register_type_with_name::<ClusterHandle>("Cluster");
    engine.register_global_module(exported_module!(handles_api).into());
    engine.register_global_module(exported_module!(objects_api).into());
    engine.register_global_module(exported_module!(secrets_api).into());
    engine.register_global_module(exported_module!(waits_api).into());
}

#[export_module]
mod handles_api {
    // Playbooks know the handle as Cluster; runner api prints the name written here.
    use super::ClusterHandle as Cluster;
    use crate::engine::convert::{play_context, IntoRhai, RhaiResult};
    use crate::engine::options::strings;

    /// The cluster of kubeconfig context `name` (or the context --context name=CONTEXT maps it
    /// to); refused when the context is not allowed.
    #[rhai_fn(volatile, name = "cluster", return_raw)]
    pub(super) fn cluster(call: NativeCallContext, name: &str) -> RhaiResult<Cluster> {
        let ctx = play_context(&call)?;
        ctx.cluster(name).map(Cluster).into_rhai()
    }

    /// Declares the kubeconfig contexts this playbook may change (glob patterns such as
    /// "prod-*"); other clusters are refused.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn allow_contexts(call: NativeCallContext, patterns: Array) -> RhaiResult<()> {
        let patterns = strings("allow_contexts", "patterns", patterns)?;
        play_context(&call)?
            .clusters
            .allow_contexts(patterns)
            .into_rhai()
    }

    /// The playbook's name for the cluster.
    #[rhai_fn(get = "name", pure)]
    pub(super) fn name(value: &mut Cluster) -> String {
        value.0.name().to_string()
    }

    /// The kubeconfig context of the cluster.
    #[rhai_fn(get = "context", pure)]
    pub(super) fn context_name(value: &mut Cluster) -> String {
        value.0.context().to_string()
    }

    /// The API server URL of the cluster.
    #[rhai_fn(get = "server", pure)]
    pub(super) fn server(value: &mut Cluster) -> String {
        value.0.server().to_string()
    }

    /// The context's namespace, or "default": where namespaced objects are when the options
    /// name no namespace.
    #[rhai_fn(get = "namespace", pure)]
    pub(super) fn namespace(value: &mut Cluster) -> String {
        value.0.namespace().to_string()
    }

    /// The cluster's name and context.
    #[rhai_fn(name = "to_string", pure)]
    pub(super) fn to_string(c: &mut Cluster) -> String {
        format!("cluster {} (context {})", c.0.name(), c.0.context())
    }
}

#[export_module]
mod objects_api {
    use super::ClusterHandle as Cluster;
    use super::{Edit, DELETE_OPTIONS, LIST_OPTIONS, NAMESPACE};
    use crate::engine::convert::{play_context, RhaiResult};
    use crate::engine::options::Options;

    /// Server-side applies YAML text, a map or an array of maps (CRDs and Namespaces first);
    /// returns #{kind, namespace, name, action} per object.
    /// @param objects: String or Map or Array
    #[rhai_fn(volatile, name = "apply", pure, return_raw)]
    pub(super) fn apply(
        call: NativeCallContext,
        c: &mut Cluster,
        objects: Dynamic,
    ) -> RhaiResult<Array> {
        super::apply(&*play_context(&call)?, c, &objects, Map::new())
    }

    /// Like apply(objects); options: force (take over fields other managers own),
    /// field_validation ("Strict", the default as in kubectl: fields the type lacks are an
    /// error; "Warn": dropped with the server's warning shown; "Ignore").
    /// @param objects: String or Map or Array
    #[rhai_fn(volatile, name = "apply", pure, return_raw)]
    pub(super) fn apply_with(
        call: NativeCallContext,
        c: &mut Cluster,
        objects: Dynamic,
        options: Map,
    ) -> RhaiResult<Array> {
        super::apply(&*play_context(&call)?, c, &objects, options)
    }

    /// The object as a map, or () when absent, in the context's namespace. `kind`: Kind,
    /// apps/v1/Deployment, Deployment.apps, plural or short name. In a dry run, objects the
    /// plan creates, changes or deletes read as planned.
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "get", pure, return_raw)]
    pub(super) fn get(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("get", NAMESPACE);
        super::get(&*play_context(&call)?, c, kind, name, options)
    }

    /// Like get(kind, name); options: namespace.
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "get", pure, return_raw)]
    pub(super) fn get_with(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("get", options, NAMESPACE)?;
        super::get(&*play_context(&call)?, c, kind, name, options)
    }

    /// Whether the object exists, in the context's namespace.
    #[rhai_fn(volatile, name = "exists", pure, return_raw)]
    pub(super) fn exists(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
    ) -> RhaiResult<bool> {
        let options = Options::none("exists", NAMESPACE);
        super::exists(&*play_context(&call)?, c, kind, name, options)
    }

    /// Like exists(kind, name); options: namespace.
    #[rhai_fn(volatile, name = "exists", pure, return_raw)]
    pub(super) fn exists_with(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        options: Map,
    ) -> RhaiResult<bool> {
        let options = Options::check("exists", options, NAMESPACE)?;
        super::exists(&*play_context(&call)?, c, kind, name, options)
    }

    /// Objects of a kind in the context's namespace (all of them for cluster-scoped kinds).
    #[rhai_fn(volatile, name = "list", pure, return_raw)]
    pub(super) fn list(call: NativeCallContext, c: &mut Cluster, kind: &str) -> RhaiResult<Array> {
        let options = Options::none("list", LIST_OPTIONS);
        super::list(&*play_context(&call)?, c, kind, options)
    }

    /// Like list(kind); options: namespace, all_namespaces (true: every namespace), labels (a
    /// map the objects' labels must match).
    #[rhai_fn(volatile, name = "list", pure, return_raw)]
    pub(super) fn list_with(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        options: Map,
    ) -> RhaiResult<Array> {
        let options = Options::check("list", options, LIST_OPTIONS)?;
        super::list(&*play_context(&call)?, c, kind, options)
    }

    /// Deletes the object, in the context's namespace; returns whether it existed.
    #[rhai_fn(volatile, name = "delete", pure, return_raw)]
    pub(super) fn delete(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
    ) -> RhaiResult<bool> {
        let options = Options::none("delete", DELETE_OPTIONS);
        super::delete(&*play_context(&call)?, c, kind, name, options)
    }

    /// Like delete(kind, name); options: namespace, wait (true: until it is gone), timeout
    /// (seconds the wait may take, default 60).
    #[rhai_fn(volatile, name = "delete", pure, return_raw)]
    pub(super) fn delete_with(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        options: Map,
    ) -> RhaiResult<bool> {
        let options = Options::check("delete", options, DELETE_OPTIONS)?;
        super::delete(&*play_context(&call)?, c, kind, name, options)
    }

    /// Applies a JSON merge patch to the object; returns the object after it. Options:
    /// namespace.
    /// @returns Map
    #[rhai_fn(volatile, name = "patch", pure, return_raw)]
    pub(super) fn patch(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        patch: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("patch", NAMESPACE);
        super::edit_object(
            &*play_context(&call)?,
            c,
            kind,
            name,
            patch,
            options,
            Edit::Patch,
        )
    }

    /// Applies a JSON merge patch to the object; returns the object after it. Options:
    /// namespace.
    /// @returns Map
    #[rhai_fn(volatile, name = "patch", pure, return_raw)]
    pub(super) fn patch_with(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        patch: Map,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("patch", options, NAMESPACE)?;
        super::edit_object(
            &*play_context(&call)?,
            c,
            kind,
            name,
            patch,
            options,
            Edit::Patch,
        )
    }

    /// Sets labels on the object (a () value removes one); returns the object. Options:
    /// namespace.
    /// @returns Map
    #[rhai_fn(volatile, name = "label", pure, return_raw)]
    pub(super) fn label(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        labels: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("label", NAMESPACE);
        super::edit_object(
            &*play_context(&call)?,
            c,
            kind,
            name,
            labels,
            options,
            Edit::Label,
        )
    }

    /// Sets labels on the object (a () value removes one); returns the object. Options:
    /// namespace.
    /// @returns Map
    #[rhai_fn(volatile, name = "label", pure, return_raw)]
    pub(super) fn label_with(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        labels: Map,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("label", options, NAMESPACE)?;
        super::edit_object(
            &*play_context(&call)?,
            c,
            kind,
            name,
            labels,
            options,
            Edit::Label,
        )
    }

    /// Sets annotations on the object (a () value removes one); returns the object. Options:
    /// namespace.
    /// @returns Map
    #[rhai_fn(volatile, name = "annotate", pure, return_raw)]
    pub(super) fn annotate(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        annotations: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("annotate", NAMESPACE);
        let ctx = play_context(&call)?;
        super::edit_object(&ctx, c, kind, name, annotations, options, Edit::Annotate)
    }

    /// Sets annotations on the object (a () value removes one); returns the object. Options:
    /// namespace.
    /// @returns Map
    #[rhai_fn(volatile, name = "annotate", pure, return_raw)]
    pub(super) fn annotate_with(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        annotations: Map,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("annotate", options, NAMESPACE)?;
        let ctx = play_context(&call)?;
        super::edit_object(&ctx, c, kind, name, annotations, options, Edit::Annotate)
    }

    /// Runs a command in a pod through the API server's exec (as kubectl exec does, without
    /// kubectl), in the context's namespace and the pod's default container; returns
    /// #{stdout, stderr, code}; a non-zero exit is an error. A dry run runs nothing and prints
    /// the command.
    #[rhai_fn(volatile, name = "exec_pod", pure, return_raw)]
    pub(super) fn exec_pod(
        call: NativeCallContext,
        c: &mut Cluster,
        pod: &str,
        command: Array,
    ) -> RhaiResult<Map> {
        super::exec_pod(&*play_context(&call)?, c, pod, command, Map::new())
    }

    /// Like exec_pod(pod, command); options: namespace, container, timeout (seconds: then the
    /// connection is closed), stdin (text), check (false: return non-zero exits).
    #[rhai_fn(volatile, name = "exec_pod", pure, return_raw)]
    pub(super) fn exec_pod_with(
        call: NativeCallContext,
        c: &mut Cluster,
        pod: &str,
        command: Array,
        options: Map,
    ) -> RhaiResult<Map> {
        super::exec_pod(&*play_context(&call)?, c, pod, command, options)
    }
}

const NAMESPACE: &[&str] = &["namespace"];
const LIST_OPTIONS: &[&str] = &["namespace", "all_namespaces", "labels"];
const DELETE_OPTIONS: &[&str] = &["namespace", "wait", "timeout"];
const WAIT_OPTIONS: &[&str] = &["namespace", "timeout"];
const TIMEOUT: &[&str] = &["timeout"];

/// The namespace the options name, or the context's.
pub(super) fn namespace_of(h: &ClusterHandle, options: &Options) -> RhaiResult<String> {
    Ok(match options.scope()? {
        Scope::Namespace(ns) => ns,
        Scope::ContextNamespace | Scope::AllNamespaces => h.0.namespace().to_string(),
    })
}

fn wait_secs(options: &Options) -> RhaiResult<u64> {
    Ok(crate::k8s::wait_secs(options.timeout()?))
}

fn get(
    ctx: &PlayContext,
    h: &ClusterHandle,
    kind: &str,
    name: &str,
    options: Options,
) -> RhaiResult<Dynamic> {
    let ns = namespace_of(h, &options)?;
    optional(on(ctx, h, async |cl, _| cl.get(kind, name, &ns).await)?)
}

fn exists(
    ctx: &PlayContext,
    h: &ClusterHandle,
    kind: &str,
    name: &str,
    options: Options,
) -> RhaiResult<bool> {
    let ns = namespace_of(h, &options)?;
    on(ctx, h, async |cl, _| cl.exists(kind, name, &ns).await)
}

fn edit_object(
    ctx: &PlayContext,
    h: &ClusterHandle,
    kind: &str,
    name: &str,
    value: Map,
    options: Options,
    edit: Edit,
) -> RhaiResult<Dynamic> {
    let ns = namespace_of(h, &options)?;
    let value = value_of(&value)?;
    to_dynamic(&on(ctx, h, async |cl, s| match edit {
        Edit::Patch => cl.patch(s, kind, name, &ns, &value).await,
        Edit::Label => cl.label(s, kind, name, &ns, &value).await,
        Edit::Annotate => cl.annotate(s, kind, name, &ns, &value).await,
    })?)
}

#[derive(Clone, Copy)]
enum Edit {
    Patch,
    Label,
    Annotate,
}

fn apply(
    ctx: &PlayContext,
    h: &ClusterHandle,
    objects: &Dynamic,
    options: Map,
) -> RhaiResult<Array> {
    let options = Options::check("apply", options, &["force", "field_validation"])?;
    let force = options.bool("force")?.unwrap_or(false);
    let field_validation = match options.string("field_validation")? {
        None => FieldValidation::default(),
        Some(name) => FieldValidation::named(&name).into_rhai()?,
    };
    let manifests = manifests(objects).into_rhai()?;
    let options = ApplyOptions {
        force,
        field_validation,
    };
    let applied = on(ctx, h, async |cl, s| cl.apply(s, manifests, &options).await)?;
    applied.iter().map(applied_map).collect()
}

fn list(ctx: &PlayContext, h: &ClusterHandle, kind: &str, options: Options) -> RhaiResult<Array> {
    let labels = options.string_map("labels")?.unwrap_or_default();
    let ns = match options.scope()? {
        Scope::AllNamespaces => String::new(),
        Scope::Namespace(ns) => ns,
        Scope::ContextNamespace => h.0.namespace().to_string(),
    };
    let items = on(ctx, h, async |cl, _| {
        cl.list(kind, Some(&ns), &labels).await
    })?;
    items.iter().map(to_dynamic).collect()
}

fn delete(
    ctx: &PlayContext,
    h: &ClusterHandle,
    kind: &str,
    name: &str,
    options: Options,
) -> RhaiResult<bool> {
    let ns = namespace_of(h, &options)?;
    let mut opts = DeleteOptions::default();
    if let Some(wait) = options.bool("wait")? {
        opts.wait = wait;
    }
    if let Some(timeout) = options.timeout()? {
        opts.timeout_secs = timeout.as_secs();
    }
    on(ctx, h, async |cl, s| {
        cl.delete(s, kind, name, &ns, &opts).await
    })
}

fn exec_pod(
    ctx: &PlayContext,
    h: &ClusterHandle,
    pod: &str,
    command: Array,
    options: Map,
) -> RhaiResult<Map> {
    let command = strings("exec_pod", "command", command)?;
    let options = Options::check(
        "exec_pod",
        options,
        &["namespace", "container", "timeout", "stdin", "check"],
    )?;
    let ns = namespace_of(h, &options)?;
    let container = options.string("container")?.unwrap_or_default();
    let exec = ExecOptions {
        timeout: options.timeout()?,
        stdin: options.string("stdin")?,
        check: options.bool("check")?.unwrap_or(true),
        ..ExecOptions::default()
    };
    let output = on(ctx, h, async |cl, s| {
        cl.exec_pod(s, &ns, pod, &container, &command, &exec).await
    })?;
    output_map(&output)
}

#[export_module]
mod secrets_api {
    use super::ClusterHandle as Cluster;
    use super::NAMESPACE;
    use crate::engine::convert::{play_context, RhaiResult};
    use crate::engine::options::Options;

    /// Applies an Opaque Secret, in the context's namespace, with these keys and string values;
    /// values never appear in any output. Returns #{kind, namespace, name, action}.
    /// @returns Map
    #[rhai_fn(volatile, name = "apply_secret", pure, return_raw)]
    pub(super) fn apply_secret(
        call: NativeCallContext,
        c: &mut Cluster,
        name: &str,
        data: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("apply_secret", NAMESPACE);
        super::apply_secret(&*play_context(&call)?, c, name, data, options)
    }

    /// Like apply_secret(name, data); options: namespace.
    /// @returns Map
    #[rhai_fn(volatile, name = "apply_secret", pure, return_raw)]
    pub(super) fn apply_secret_with(
        call: NativeCallContext,
        c: &mut Cluster,
        name: &str,
        data: Map,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("apply_secret", options, NAMESPACE)?;
        super::apply_secret(&*play_context(&call)?, c, name, data, options)
    }

    /// Applies an Opaque Secret, in the context's namespace, with one key per file (key = file
    /// name), like kubectl create secret generic --from-file.
    /// @returns Map
    #[rhai_fn(volatile, name = "apply_secret_from_files", pure, return_raw)]
    pub(super) fn apply_secret_from_files(
        call: NativeCallContext,
        c: &mut Cluster,
        name: &str,
        paths: Array,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("apply_secret_from_files", NAMESPACE);
        super::apply_secret_from_files(&*play_context(&call)?, c, name, paths, options)
    }

    /// Like apply_secret_from_files(name, paths); options: namespace.
    /// @returns Map
    #[rhai_fn(volatile, name = "apply_secret_from_files", pure, return_raw)]
    pub(super) fn apply_secret_from_files_with(
        call: NativeCallContext,
        c: &mut Cluster,
        name: &str,
        paths: Array,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("apply_secret_from_files", options, NAMESPACE)?;
        super::apply_secret_from_files(&*play_context(&call)?, c, name, paths, options)
    }

    /// The Secret's data decoded to strings, or () when it does not exist, in the context's
    /// namespace.
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "read_secret", pure, return_raw)]
    pub(super) fn read_secret(
        call: NativeCallContext,
        c: &mut Cluster,
        name: &str,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("read_secret", NAMESPACE);
        super::read_secret(&*play_context(&call)?, c, name, options)
    }

    /// Like read_secret(name); options: namespace.
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "read_secret", pure, return_raw)]
    pub(super) fn read_secret_with(
        call: NativeCallContext,
        c: &mut Cluster,
        name: &str,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("read_secret", options, NAMESPACE)?;
        super::read_secret(&*play_context(&call)?, c, name, options)
    }
}

#[export_module]
mod waits_api {
    use super::ClusterHandle as Cluster;
    use super::{TIMEOUT, WAIT_OPTIONS};
    use crate::engine::convert::{play_context, RhaiResult};
    use crate::engine::options::Options;

    /// Waits (up to 300 s) until the object's status.conditions has `type` with `status`;
    /// returns the object (a dry run does not wait: it returns the object as planned, with the
    /// condition, or () when there is no such object).
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "wait_condition", pure, return_raw)]
    pub(super) fn wait_condition(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        r#type: &str,
        status: &str,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("wait_condition", WAIT_OPTIONS);
        let ctx = play_context(&call)?;
        super::wait_condition(&ctx, c, kind, name, r#type, status, options)
    }

    /// Like wait_condition(kind, name, type, status); options: namespace, timeout (seconds,
    /// default 300).
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "wait_condition", pure, return_raw)]
    pub(super) fn wait_condition_with(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        r#type: &str,
        status: &str,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("wait_condition", options, WAIT_OPTIONS)?;
        let ctx = play_context(&call)?;
        super::wait_condition(&ctx, c, kind, name, r#type, status, options)
    }

    /// Waits (up to 300 s) until a Deployment is rolled out like kubectl rollout status;
    /// returns it (a dry run does not wait: it returns the Deployment as planned, rolled
    /// out, or () when there is none).
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "wait_rollout", pure, return_raw)]
    pub(super) fn wait_rollout(
        call: NativeCallContext,
        c: &mut Cluster,
        deployment: &str,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("wait_rollout", WAIT_OPTIONS);
        super::wait_rollout(&*play_context(&call)?, c, deployment, options)
    }

    /// Like wait_rollout(deployment); options: namespace, timeout (seconds, default 300).
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "wait_rollout", pure, return_raw)]
    pub(super) fn wait_rollout_with(
        call: NativeCallContext,
        c: &mut Cluster,
        deployment: &str,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("wait_rollout", options, WAIT_OPTIONS)?;
        super::wait_rollout(&*play_context(&call)?, c, deployment, options)
    }

    /// Waits (up to 300 s) for a LoadBalancer Service's ingress IP and returns it; a
    /// hostname-only load balancer is an error (a dry run does not wait: a planned Service's IP
    /// is "(known after apply)"; () when there is no such Service).
    /// @returns String or ()
    #[rhai_fn(volatile, name = "wait_loadbalancer", pure, return_raw)]
    pub(super) fn wait_loadbalancer(
        call: NativeCallContext,
        c: &mut Cluster,
        service: &str,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("wait_loadbalancer", WAIT_OPTIONS);
        super::wait_loadbalancer(&*play_context(&call)?, c, service, options)
    }

    /// Like wait_loadbalancer(service); options: namespace, timeout (seconds, default 300).
    /// @returns String or ()
    #[rhai_fn(volatile, name = "wait_loadbalancer", pure, return_raw)]
    pub(super) fn wait_loadbalancer_with(
        call: NativeCallContext,
        c: &mut Cluster,
        service: &str,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("wait_loadbalancer", options, WAIT_OPTIONS)?;
        super::wait_loadbalancer(&*play_context(&call)?, c, service, options)
    }

    /// Waits (up to 300 s) until a CustomResourceDefinition is Established.
    #[rhai_fn(volatile, name = "wait_crd", pure, return_raw)]
    pub(super) fn wait_crd(call: NativeCallContext, c: &mut Cluster, name: &str) -> RhaiResult<()> {
        let options = Options::none("wait_crd", TIMEOUT);
        super::wait_crd(&*play_context(&call)?, c, name, options)
    }

    /// Like wait_crd(name); options: timeout (seconds, default 300).
    #[rhai_fn(volatile, name = "wait_crd", pure, return_raw)]
    pub(super) fn wait_crd_with(
        call: NativeCallContext,
        c: &mut Cluster,
        name: &str,
        options: Map,
    ) -> RhaiResult<()> {
        let options = Options::check("wait_crd", options, TIMEOUT)?;
        super::wait_crd(&*play_context(&call)?, c, name, options)
    }

    /// Waits (up to 300 s) until `predicate(object)` returns true (it is not called while the
    /// object is absent); returns the object (a dry run does not wait: it returns the object as
    /// planned or live when the predicate holds, () otherwise).
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "wait_until", pure, return_raw)]
    pub(super) fn wait_until(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        predicate: FnPtr,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("wait_until", WAIT_OPTIONS);
        let ctx = play_context(&call)?;
        super::wait_until(&ctx, &call, c, kind, name, predicate, options)
    }

    /// Like wait_until(kind, name, predicate); options: namespace, timeout (seconds, default
    /// 300).
    /// @returns Map or ()
    #[rhai_fn(volatile, name = "wait_until", pure, return_raw)]
    pub(super) fn wait_until_with(
        call: NativeCallContext,
        c: &mut Cluster,
        kind: &str,
        name: &str,
        predicate: FnPtr,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("wait_until", options, WAIT_OPTIONS)?;
        let ctx = play_context(&call)?;
        super::wait_until(&ctx, &call, c, kind, name, predicate, options)
    }
}

fn apply_secret(
    ctx: &PlayContext,
    h: &ClusterHandle,
    name: &str,
    data: Map,
    options: Options,
) -> RhaiResult<Dynamic> {
    let ns = namespace_of(h, &options)?;
    let data: BTreeMap<String, Vec<u8>> = string_map(&data, "apply_secret")?
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    applied_map(&on(ctx, h, async |cl, s| {
        cl.secret(s, &ns, name, &data).await
    })?)
}

fn apply_secret_from_files(
    ctx: &PlayContext,
    h: &ClusterHandle,
    name: &str,
    paths: Array,
    options: Options,
) -> RhaiResult<Dynamic> {
    let ns = namespace_of(h, &options)?;
    let paths = strings("apply_secret_from_files", "paths", paths)?;
    let data = read_files(ctx, paths).into_rhai()?;
    applied_map(&on(ctx, h, async |cl, s| {
        cl.secret(s, &ns, name, &data).await
    })?)
}

fn read_secret(
    ctx: &PlayContext,
    h: &ClusterHandle,
    name: &str,
    options: Options,
) -> RhaiResult<Dynamic> {
    let ns = namespace_of(h, &options)?;
    match on(ctx, h, async |cl, _| cl.read_secret(&ns, name).await)? {
        None => Ok(Dynamic::UNIT),
        Some(data) => Ok(Dynamic::from_map(
            data.into_iter()
                .map(|(k, v)| (k.into(), Dynamic::from(v)))
                .collect(),
        )),
    }
}

fn read_files(ctx: &PlayContext, paths: Vec<String>) -> HostResult<BTreeMap<String, Vec<u8>>> {
    let files = paths
        .iter()
        .map(|path| ctx.project.resolve(path))
        .collect::<HostResult<Vec<_>>>()?;
    let data = crate::k8s::secret_data_from_files(&files, |file| ctx.project.show(file)).map_err(
        |mut e| {
            e.message = format!("apply_secret_from_files: {}", e.message);
            e
        },
    )?;
    for file in files {
        ctx.record_read(file);
    }
    Ok(data)
}

fn wait_condition(
    ctx: &PlayContext,
    h: &ClusterHandle,
    kind: &str,
    name: &str,
    condition: &str,
    status: &str,
    options: Options,
) -> RhaiResult<Dynamic> {
    let (ns, secs) = (namespace_of(h, &options)?, wait_secs(&options)?);
    optional(on(ctx, h, async |cl, s| {
        cl.wait_condition(s, kind, name, &ns, condition, status, secs)
            .await
    })?)
}

fn wait_rollout(
    ctx: &PlayContext,
    h: &ClusterHandle,
    name: &str,
    options: Options,
) -> RhaiResult<Dynamic> {
    let (ns, secs) = (namespace_of(h, &options)?, wait_secs(&options)?);
    optional(on(ctx, h, async |cl, s| {
        cl.wait_rollout(s, &ns, name, secs).await
    })?)
}

fn wait_loadbalancer(
    ctx: &PlayContext,
    h: &ClusterHandle,
    name: &str,
    options: Options,
) -> RhaiResult<Dynamic> {
    let (ns, secs) = (namespace_of(h, &options)?, wait_secs(&options)?);
    Ok(on(ctx, h, async |cl, s| {
        cl.wait_loadbalancer(s, &ns, name, secs).await
    })?
    .map(Dynamic::from)
    .unwrap_or(Dynamic::UNIT))
}

fn wait_crd(ctx: &PlayContext, h: &ClusterHandle, name: &str, options: Options) -> RhaiResult<()> {
    let secs = wait_secs(&options)?;
    on(ctx, h, async |cl, s| cl.wait_crd(s, name, secs).await).map(|_| ())
}

/// A playbook's `wait_until` predicate as a kube `Condition`. A predicate that fails, or
/// answers other than true or false, ends the wait: it matches, and the wait's result is the
/// failure it kept.
struct ScriptPredicate<'a> {
    call: &'a NativeCallContext<'a>,
    predicate: &'a FnPtr,
    failure: RefCell<Option<HostError>>,
}

impl Condition<DynamicObject> for ScriptPredicate<'_> {
    fn matches_object(&self, object: Option<&DynamicObject>) -> bool {
        let Some(object) = object else {
            return false;
        };
        let verdict = to_dynamic(&to_value(object))
            .map_err(|e| HostError::new(e.to_string()))
            .and_then(|argument| {
                self.predicate
                    .call_within_context::<Dynamic>(self.call, (argument,))
                    .map_err(|e| HostError::new(format!("the wait_until predicate failed: {e}")))
            })
            .and_then(|verdict| {
                verdict.as_bool().map_err(|t| {
                    HostError::new(format!(
                        "the wait_until predicate must return true or false, not {t}"
                    ))
                })
            });
        match verdict {
            Ok(done) => done,
            Err(e) => {
                self.failure.replace(Some(e));
                true
            }
        }
    }
}

fn to_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

fn wait_until(
    ctx: &PlayContext,
    call: &NativeCallContext,
    h: &ClusterHandle,
    kind: &str,
    name: &str,
    predicate: FnPtr,
    options: Options,
) -> RhaiResult<Dynamic> {
    let (ns, secs) = (namespace_of(h, &options)?, wait_secs(&options)?);
    let until = ScriptPredicate {
        call,
        predicate: &predicate,
        failure: RefCell::new(None),
    };
    let found: Option<Value> = on(ctx, h, async |cl, s| {
        let resolved = cl.resolve(kind).await?;
        cl.wait_for(
            s,
            &resolved,
            Some(&ns),
            name,
            "the wait_until predicate",
            secs,
            &until,
            |object| match until.failure.take() {
                Some(e) => Err(e),
                None => Ok(object.map(to_value).unwrap_or(Value::Null)),
            },
        )
        .await
    })?;
    optional(found)
}
