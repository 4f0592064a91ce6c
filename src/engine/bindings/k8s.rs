//! `cluster("name")` and the methods of a `Cluster` handle.

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext};
use serde_json::Value;

use super::exec::{exec_options, output_map};
use crate::context::PlayContext;
use crate::engine::api::register;
use crate::engine::convert::{throw, to_dynamic, to_json, IntoRhai, RhaiResult};
use crate::error::{HostError, HostResult};
use crate::k8s::{
    parse_documents, Applied, ApplyOptions, Cluster, DeleteOptions, FieldValidation, Session,
};

const DEFAULT_WAIT_SECS: i64 = 300;

/// A playbook's handle on one cluster.
#[derive(Clone)]
pub struct ClusterHandle(pub(crate) Arc<Cluster>);

/// A cluster that `--limit` leaves out is worked on as in a dry run: its writes are checked by
/// its API server and never stored, and later reads see them, so the rest of the play goes on as
/// it would; the reporter says each was skipped.
pub(super) fn session<'a>(ctx: &'a PlayContext, cluster: &Cluster) -> Session<'a> {
    Session {
        reporter: &ctx.reporter,
        dry_run: ctx.dry_run() || ctx.outside_limit(cluster.name()),
        ledger: ctx.ledger(),
        owner: ctx.owner(),
        programs_skipped: ctx.programs_skipped(),
        limited_out: ctx.outside_limit(cluster.name()),
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

fn seconds(value: i64, what: &str) -> RhaiResult<u64> {
    u64::try_from(value).ok().filter(|s| *s > 0).ok_or_else(|| {
        throw(HostError::new(format!(
            "{what} must be a positive number of seconds, not {value}"
        )))
    })
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
    let mut out = Vec::new();
    let items: Vec<Dynamic> = match objects.clone().try_cast::<Array>() {
        Some(array) => array,
        None => vec![objects.clone()],
    };
    for item in items {
        if let Some(text) = item.clone().try_cast::<rhai::ImmutableString>() {
            out.extend(parse_documents(&text)?);
        } else if item.is_map() {
            let value = to_json(&item)?;
            crate::k8s::push_manifest(&mut out, value);
        } else {
            return Err(HostError::new(format!(
                "apply takes YAML text, a map or an array of maps, not {}",
                item.type_name()
            )));
        }
    }
    Ok(out)
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

fn check_keys(options: &Map, allowed: &[&str], function: &str) -> RhaiResult<()> {
    for key in options.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(throw(HostError::new(format!(
                "{function}: unknown option {key:?} (options: {})",
                allowed.join(", ")
            ))));
        }
    }
    Ok(())
}

pub fn install(engine: &mut Engine, ctx: &Arc<PlayContext>) {
    engine.register_type_with_name::<ClusterHandle>("Cluster");
    install_handles(engine, ctx);
    install_objects(engine, ctx);
    install_secrets(engine, ctx);
    install_waits(engine, ctx);
}

fn install_handles(engine: &mut Engine, ctx: &Arc<PlayContext>) {
    let c = ctx.clone();
    register(
        engine,
        "cluster(name: &str) -> Cluster",
        "The cluster of kubeconfig context `name` (or the context --context name=CONTEXT maps it to); refused when the context is not allowed.",
        move |name: &str| -> RhaiResult<ClusterHandle> { c.clusters.cluster(name).map(ClusterHandle).into_rhai() },
    );
    let c = ctx.clone();
    register(
        engine,
        "allow_contexts(patterns: Array)",
        "Declares the kubeconfig contexts this playbook may change (glob patterns such as \"prod-*\"); other clusters are refused.",
        move |patterns: Array| -> RhaiResult<()> {
            let patterns = patterns
                .into_iter()
                .map(|p| p.into_string().map_err(|t| throw(HostError::new(format!("allow_contexts takes strings, not {t}")))))
                .collect::<RhaiResult<Vec<String>>>()?;
            c.clusters.allow_contexts(patterns).into_rhai()
        },
    );
    register(
        engine,
        "name(c: Cluster) -> String",
        "The playbook's name for the cluster.",
        |h: &mut ClusterHandle| h.0.name().to_string(),
    );
    register(
        engine,
        "context(c: Cluster) -> String",
        "The kubeconfig context of the cluster.",
        |h: &mut ClusterHandle| h.0.context().to_string(),
    );
    register(
        engine,
        "server(c: Cluster) -> String",
        "The API server URL of the cluster.",
        |h: &mut ClusterHandle| h.0.server().to_string(),
    );
    register(
        engine,
        "namespace(c: Cluster) -> String",
        "The context's namespace, or \"default\".",
        |h: &mut ClusterHandle| h.0.namespace().to_string(),
    );
    register(
        engine,
        "to_string(c: Cluster) -> String",
        "The cluster's name and context.",
        |h: &mut ClusterHandle| format!("cluster {} (context {})", h.0.name(), h.0.context()),
    );
}

fn install_objects(engine: &mut Engine, ctx: &Arc<PlayContext>) {
    let c = ctx.clone();
    register(
        engine,
        "apply(c: Cluster, objects: ?) -> Array",
        "Server-side applies YAML text, a map or an array of maps (CRDs and Namespaces first); returns #{kind, namespace, name, action} per object.",
        move |h: &mut ClusterHandle, objects: Dynamic| -> RhaiResult<Array> { apply(&c, h, &objects, Map::new()) },
    );
    let c = ctx.clone();
    register(
        engine,
        "apply(c: Cluster, objects: ?, options: Map) -> Array",
        "Like apply(objects); options: force (take over fields other managers own), field_validation (\"Strict\", the default as in kubectl: fields the type lacks are an error; \"Warn\": dropped with the server's warning shown; \"Ignore\").",
        move |h: &mut ClusterHandle, objects: Dynamic, options: Map| -> RhaiResult<Array> {
            apply(&c, h, &objects, options)
        },
    );

    let c = ctx.clone();
    register(
        engine,
        "get(c: Cluster, kind: &str, name: &str) -> ?",
        "The object as a map, or () when absent; namespaced kinds use the context's namespace. In a dry run, objects the plan creates, changes or deletes read as planned.",
        move |h: &mut ClusterHandle, kind: &str, name: &str| -> RhaiResult<Dynamic> {
            optional(on(&c, h, async |cl, _| cl.get(kind, name, "").await)?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "get(c: Cluster, kind: &str, name: &str, namespace: &str) -> ?",
        "The object as a map, or () when absent. `kind`: Kind, apps/v1/Deployment, Deployment.apps, plural or short name.",
        move |h: &mut ClusterHandle, kind: &str, name: &str, ns: &str| -> RhaiResult<Dynamic> {
            optional(on(&c, h, async |cl, _| cl.get(kind, name, ns).await)?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "exists(c: Cluster, kind: &str, name: &str) -> bool",
        "Whether the object exists (context's namespace).",
        move |h: &mut ClusterHandle, kind: &str, name: &str| -> RhaiResult<bool> {
            on(&c, h, async |cl, _| cl.exists(kind, name, "").await)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "exists(c: Cluster, kind: &str, name: &str, namespace: &str) -> bool",
        "Whether the object exists.",
        move |h: &mut ClusterHandle, kind: &str, name: &str, ns: &str| -> RhaiResult<bool> {
            on(&c, h, async |cl, _| cl.exists(kind, name, ns).await)
        },
    );

    let c = ctx.clone();
    register(
        engine,
        "list(c: Cluster, kind: &str) -> Array",
        "Objects of a kind in the context's namespace (all of them for cluster-scoped kinds).",
        move |h: &mut ClusterHandle, kind: &str| -> RhaiResult<Array> {
            list(&c, h, kind, None, &Map::new())
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "list(c: Cluster, kind: &str, namespace: &str) -> Array",
        "Objects of a kind in a namespace (\"\" for all namespaces).",
        move |h: &mut ClusterHandle, kind: &str, ns: &str| -> RhaiResult<Array> {
            list(&c, h, kind, Some(ns), &Map::new())
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "list(c: Cluster, kind: &str, labels: Map) -> Array",
        "Objects of a kind with these labels, in the context's namespace.",
        move |h: &mut ClusterHandle, kind: &str, labels: Map| -> RhaiResult<Array> {
            list(&c, h, kind, None, &labels)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "list(c: Cluster, kind: &str, namespace: &str, labels: Map) -> Array",
        "Objects of a kind with these labels in a namespace (\"\" for all namespaces).",
        move |h: &mut ClusterHandle, kind: &str, ns: &str, labels: Map| -> RhaiResult<Array> {
            list(&c, h, kind, Some(ns), &labels)
        },
    );

    let c = ctx.clone();
    register(
        engine,
        "delete(c: Cluster, kind: &str, name: &str) -> bool",
        "Deletes the object (context's namespace); returns whether it existed.",
        move |h: &mut ClusterHandle, kind: &str, name: &str| -> RhaiResult<bool> {
            delete(&c, h, kind, name, "", Map::new())
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "delete(c: Cluster, kind: &str, name: &str, namespace: &str) -> bool",
        "Deletes the object; returns whether it existed.",
        move |h: &mut ClusterHandle, kind: &str, name: &str, ns: &str| -> RhaiResult<bool> {
            delete(&c, h, kind, name, ns, Map::new())
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "delete(c: Cluster, kind: &str, name: &str, namespace: &str, options: Map) -> bool",
        "Deletes the object; options: wait (until it is gone), timeout (seconds, default 60).",
        move |h: &mut ClusterHandle,
              kind: &str,
              name: &str,
              ns: &str,
              options: Map|
              -> RhaiResult<bool> { delete(&c, h, kind, name, ns, options) },
    );

    let c = ctx.clone();
    register(
        engine,
        "patch(c: Cluster, kind: &str, name: &str, namespace: &str, patch: Map) -> Map",
        "Applies a JSON merge patch; returns the object after it.",
        move |h: &mut ClusterHandle,
              kind: &str,
              name: &str,
              ns: &str,
              patch: Map|
              -> RhaiResult<Dynamic> {
            let patch = value_of(&patch)?;
            to_dynamic(&on(&c, h, async |cl, s| {
                cl.patch(s, kind, name, ns, &patch).await
            })?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "label(c: Cluster, kind: &str, name: &str, namespace: &str, labels: Map) -> Map",
        "Sets labels on an object (a () value removes one); returns the object.",
        move |h: &mut ClusterHandle,
              kind: &str,
              name: &str,
              ns: &str,
              labels: Map|
              -> RhaiResult<Dynamic> {
            let labels = value_of(&labels)?;
            to_dynamic(&on(&c, h, async |cl, s| {
                cl.label(s, kind, name, ns, &labels).await
            })?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "annotate(c: Cluster, kind: &str, name: &str, namespace: &str, annotations: Map) -> Map",
        "Sets annotations on an object (a () value removes one); returns the object.",
        move |h: &mut ClusterHandle,
              kind: &str,
              name: &str,
              ns: &str,
              annotations: Map|
              -> RhaiResult<Dynamic> {
            let annotations = value_of(&annotations)?;
            to_dynamic(&on(&c, h, async |cl, s| {
                cl.annotate(s, kind, name, ns, &annotations).await
            })?)
        },
    );

    let c = ctx.clone();
    register(
        engine,
        "exec_pod(c: Cluster, namespace: &str, pod: &str, container: &str, command: Array) -> Map",
        "Runs a command in a pod's container (kubectl exec); returns #{stdout, stderr, code}.",
        move |h: &mut ClusterHandle,
              ns: &str,
              pod: &str,
              container: &str,
              command: Array|
              -> RhaiResult<Map> {
            exec_pod(&c, h, ns, pod, container, command, Map::new())
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "exec_pod(c: Cluster, namespace: &str, pod: &str, container: &str, command: Array, options: Map) -> Map",
        "Like exec_pod(...); options as for exec: timeout, stdin, check.",
        move |h: &mut ClusterHandle, ns: &str, pod: &str, container: &str, command: Array, options: Map| -> RhaiResult<Map> {
            exec_pod(&c, h, ns, pod, container, command, options)
        },
    );
}

fn apply(
    ctx: &PlayContext,
    h: &ClusterHandle,
    objects: &Dynamic,
    options: Map,
) -> RhaiResult<Array> {
    check_keys(&options, &["force", "field_validation"], "apply")?;
    let force = match options.get("force") {
        None => false,
        Some(v) => v.as_bool().map_err(|t| {
            throw(HostError::new(format!(
                "apply: force must be true or false, not {t}"
            )))
        })?,
    };
    let field_validation = match options.get("field_validation") {
        None => FieldValidation::default(),
        Some(v) => v
            .clone()
            .into_string()
            .ok()
            .and_then(|name| FieldValidation::from_name(&name))
            .ok_or_else(|| {
                throw(HostError::new(format!(
                    "apply: field_validation must be one of {}, not {v:?}",
                    FieldValidation::NAMES.map(|n| format!("{n:?}")).join(", ")
                )))
            })?,
    };
    let manifests = manifests(objects).into_rhai()?;
    let options = ApplyOptions {
        force,
        field_validation,
    };
    let applied = on(ctx, h, async |cl, s| cl.apply(s, manifests, &options).await)?;
    applied.iter().map(applied_map).collect()
}

fn list(
    ctx: &PlayContext,
    h: &ClusterHandle,
    kind: &str,
    ns: Option<&str>,
    labels: &Map,
) -> RhaiResult<Array> {
    let labels = string_map(labels, "list labels")?;
    let items = on(ctx, h, async |cl, _| cl.list(kind, ns, &labels).await)?;
    items.iter().map(to_dynamic).collect()
}

fn delete(
    ctx: &PlayContext,
    h: &ClusterHandle,
    kind: &str,
    name: &str,
    ns: &str,
    options: Map,
) -> RhaiResult<bool> {
    check_keys(&options, &["wait", "timeout"], "delete")?;
    let mut opts = DeleteOptions::default();
    if let Some(wait) = options.get("wait") {
        opts.wait = wait.as_bool().map_err(|t| {
            throw(HostError::new(format!(
                "delete: wait must be true or false, not {t}"
            )))
        })?;
    }
    if let Some(timeout) = options.get("timeout") {
        let secs = timeout.as_int().map_err(|t| {
            throw(HostError::new(format!(
                "delete: timeout must be a number of seconds, not {t}"
            )))
        })?;
        opts.timeout_secs = seconds(secs, "delete timeout")?;
    }
    on(ctx, h, async |cl, s| {
        cl.delete(s, kind, name, ns, &opts).await
    })
}

fn exec_pod(
    ctx: &PlayContext,
    h: &ClusterHandle,
    ns: &str,
    pod: &str,
    container: &str,
    command: Array,
    options: Map,
) -> RhaiResult<Map> {
    let command: Vec<String> = command.into_iter().map(|a| a.to_string()).collect();
    let options = exec_options(ctx, &options, "exec_pod")?;
    let output = on(ctx, h, async |cl, s| {
        cl.exec_pod(s, ns, pod, container, &command, &options).await
    })?;
    output_map(&output)
}

fn install_secrets(engine: &mut Engine, ctx: &Arc<PlayContext>) {
    let c = ctx.clone();
    register(
        engine,
        "secret(c: Cluster, namespace: &str, name: &str, data: Map) -> Map",
        "Applies an Opaque Secret with these keys and string values; values never appear in any output.",
        move |h: &mut ClusterHandle, ns: &str, name: &str, data: Map| -> RhaiResult<Dynamic> {
            let data: BTreeMap<String, Vec<u8>> = string_map(&data, "secret")?
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            applied_map(&on(&c, h, async |cl, s| cl.secret(s, ns, name, &data).await)?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "secret_from_files(c: Cluster, namespace: &str, name: &str, paths: Array) -> Map",
        "Applies an Opaque Secret with one key per file (key = file name), like kubectl create secret generic --from-file.",
        move |h: &mut ClusterHandle, ns: &str, name: &str, paths: Array| -> RhaiResult<Dynamic> {
            let data = read_files(&c, paths).into_rhai()?;
            applied_map(&on(&c, h, async |cl, s| cl.secret(s, ns, name, &data).await)?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "read_secret(c: Cluster, namespace: &str, name: &str) -> ?",
        "The Secret's data decoded to strings, or () when it does not exist.",
        move |h: &mut ClusterHandle, ns: &str, name: &str| -> RhaiResult<Dynamic> {
            match on(&c, h, async |cl, _| cl.read_secret(ns, name).await)? {
                None => Ok(Dynamic::UNIT),
                Some(data) => Ok(Dynamic::from_map(
                    data.into_iter()
                        .map(|(k, v)| (k.into(), Dynamic::from(v)))
                        .collect(),
                )),
            }
        },
    );
}

fn read_files(ctx: &PlayContext, paths: Array) -> HostResult<BTreeMap<String, Vec<u8>>> {
    let mut data = BTreeMap::new();
    for path in paths {
        let path = path.to_string();
        let file = ctx.project.resolve(&path)?;
        let key = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                HostError::new(format!("secret_from_files: {path:?} has no file name"))
            })?;
        let bytes = std::fs::read(&file).map_err(|e| {
            HostError::from_error(&e).context(format!("cannot read {}", ctx.project.show(&file)))
        })?;
        ctx.record_read(file);
        if data.insert(key.clone(), bytes).is_some() {
            return Err(HostError::new(format!(
                "secret_from_files: two files are named {key:?}"
            )));
        }
    }
    Ok(data)
}

fn install_waits(engine: &mut Engine, ctx: &Arc<PlayContext>) {
    let c = ctx.clone();
    register(
        engine,
        "wait_condition(c: Cluster, kind: &str, name: &str, namespace: &str, type: &str, status: &str) -> Map",
        "Waits (up to 300 s) until the object's status.conditions has `type` with `status`; returns the object (a dry run does not wait: it returns the object as planned, with the condition, or () when there is no such object).",
        move |h: &mut ClusterHandle, kind: &str, name: &str, ns: &str, t: &str, st: &str| -> RhaiResult<Dynamic> {
            optional(on(&c, h, async |cl, s| cl.wait_condition(s, kind, name, ns, t, st, DEFAULT_WAIT_SECS as u64).await)?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "wait_condition(c: Cluster, kind: &str, name: &str, namespace: &str, type: &str, status: &str, timeout_secs: i64) -> Map",
        "Waits until the object's status.conditions has `type` with `status`; returns the object.",
        move |h: &mut ClusterHandle, kind: &str, name: &str, ns: &str, t: &str, st: &str, timeout: i64| -> RhaiResult<Dynamic> {
            let secs = seconds(timeout, "wait_condition timeout")?;
            optional(on(&c, h, async |cl, s| cl.wait_condition(s, kind, name, ns, t, st, secs).await)?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "wait_rollout(c: Cluster, namespace: &str, deployment: &str) -> Map",
        "Waits (up to 300 s) until a Deployment is rolled out like kubectl rollout status; returns it (a dry run does not wait: it returns the Deployment as planned, rolled out, or () when there is none).",
        move |h: &mut ClusterHandle, ns: &str, name: &str| -> RhaiResult<Dynamic> {
            optional(on(&c, h, async |cl, s| cl.wait_rollout(s, ns, name, DEFAULT_WAIT_SECS as u64).await)?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "wait_rollout(c: Cluster, namespace: &str, deployment: &str, timeout_secs: i64) -> Map",
        "Waits until a Deployment is rolled out like kubectl rollout status; returns it.",
        move |h: &mut ClusterHandle, ns: &str, name: &str, timeout: i64| -> RhaiResult<Dynamic> {
            let secs = seconds(timeout, "wait_rollout timeout")?;
            optional(on(&c, h, async |cl, s| {
                cl.wait_rollout(s, ns, name, secs).await
            })?)
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "wait_loadbalancer(c: Cluster, namespace: &str, service: &str) -> ?",
        "Waits (up to 300 s) for a LoadBalancer Service's ingress IP and returns it; a hostname-only load balancer is an error (a dry run does not wait: a planned Service's IP is \"(known after apply)\"; () when there is no such Service).",
        move |h: &mut ClusterHandle, ns: &str, name: &str| -> RhaiResult<Dynamic> {
            Ok(on(&c, h, async |cl, s| cl.wait_loadbalancer(s, ns, name, DEFAULT_WAIT_SECS as u64).await)?
                .map(Dynamic::from)
                .unwrap_or(Dynamic::UNIT))
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "wait_loadbalancer(c: Cluster, namespace: &str, service: &str, timeout_secs: i64) -> ?",
        "Waits for a LoadBalancer Service's ingress IP and returns it; a hostname-only load balancer is an error.",
        move |h: &mut ClusterHandle, ns: &str, name: &str, timeout: i64| -> RhaiResult<Dynamic> {
            let secs = seconds(timeout, "wait_loadbalancer timeout")?;
            Ok(on(&c, h, async |cl, s| cl.wait_loadbalancer(s, ns, name, secs).await)?
                .map(Dynamic::from)
                .unwrap_or(Dynamic::UNIT))
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "wait_crd(c: Cluster, name: &str)",
        "Waits (up to 300 s) until a CustomResourceDefinition is Established.",
        move |h: &mut ClusterHandle, name: &str| -> RhaiResult<()> {
            on(&c, h, async |cl, s| {
                cl.wait_crd(s, name, DEFAULT_WAIT_SECS as u64).await
            })
            .map(|_| ())
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "wait_crd(c: Cluster, name: &str, timeout_secs: i64)",
        "Waits until a CustomResourceDefinition is Established.",
        move |h: &mut ClusterHandle, name: &str, timeout: i64| -> RhaiResult<()> {
            let secs = seconds(timeout, "wait_crd timeout")?;
            on(&c, h, async |cl, s| cl.wait_crd(s, name, secs).await).map(|_| ())
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "wait_until(c: Cluster, kind: &str, name: &str, namespace: &str, predicate: FnPtr, timeout_secs: i64) -> Map",
        "Waits until `predicate(object)` returns true (it is not called while the object is absent); returns the object (a dry run does not wait: it returns the object as planned or live when the predicate holds, () otherwise).",
        move |call: NativeCallContext, h: &mut ClusterHandle, kind: &str, name: &str, ns: &str, predicate: FnPtr, timeout: i64| -> RhaiResult<Dynamic> {
            let secs = seconds(timeout, "wait_until timeout")?;
            let found: Option<Value> = on(&c, h, async |cl, s| {
                let resolved = cl.resolve(kind).await?;
                cl.wait_for(s, &resolved, Some(ns), name, "the wait_until predicate", secs, |object| {
                    let Some(object) = object else { return Ok(None) };
                    let argument = to_dynamic(object).map_err(|e| HostError::new(e.to_string()))?;
                    let verdict = predicate
                        .call_within_context::<Dynamic>(&call, (argument,))
                        .map_err(|e| HostError::new(format!("the wait_until predicate failed: {e}")))?;
                    match verdict.as_bool() {
                        Ok(true) => Ok(Some(object.clone())),
                        Ok(false) => Ok(None),
                        Err(t) => Err(HostError::new(format!("the wait_until predicate must return true or false, not {t}"))),
                    }
                })
                .await
            })?;
            optional(found)
        },
    );
}
