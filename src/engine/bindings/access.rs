//! Cluster handles named with a context, sandbox detection, reader tokens and kubeconfig probes.

use std::sync::Arc;

use rhai::{Dynamic, Engine, Map, Module};

use super::k8s::{namespace_of, ClusterHandle};
use crate::context::PlayContext;
use crate::engine::api::{register, register_in, register_property};
use crate::engine::convert::{throw, to_dynamic, IntoRhai, RhaiResult};
use crate::engine::options::Options;
use crate::error::HostError;

use crate::k8s::KNOWN_AFTER_APPLY;

/// The annotation `kubectl rollout restart` sets on a Deployment's pod template.
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

pub(super) fn install(engine: &mut Engine, ctx: &Arc<PlayContext>) {
    let c = ctx.clone();
    register(
        engine,
        "cluster(name: String, options: Map) -> Cluster",
        "Like cluster(name); options: context (the kubeconfig context the playbook calls `name`; --context name=CONTEXT wins; ignored on sandbox clusters).",
        move |name: &str, options: Map| -> RhaiResult<ClusterHandle> {
            let options = Options::check("cluster", options, &["context"])?;
            let context = options.string("context")?.unwrap_or_default();
            if !c.is_sandbox() && !context.is_empty() {
                c.clusters.set_playbook_context(name, &context);
            }
            c.clusters.cluster(name).map(ClusterHandle).into_rhai()
        },
    );
    let c = ctx.clone();
    register_property(
        engine,
        "Cluster.is_sandbox -> bool",
        "Whether the cluster is a runner sandbox cluster (--sandbox, or `runner sandbox up`), where no istioctl or container runs.",
        move |cluster: &mut ClusterHandle| -> RhaiResult<bool> {
            if c.is_sandbox() {
                return Ok(true);
            }
            let cluster = cluster.0.clone();
            c.block_on(async move { cluster.is_sandbox().await }).into_rhai()
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "create_token(c: Cluster, service_account: String, seconds: i64) -> String",
        "Requests a token for a ServiceAccount, in the context's namespace, valid for `seconds` (a TokenRequest); a dry run requests none and returns \"(known after apply)\".",
        move |cluster: &mut ClusterHandle, service_account: &str, seconds: i64| -> RhaiResult<String> {
            create_token(&c, cluster, service_account, seconds, Options::none("create_token", NAMESPACE))
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "create_token(c: Cluster, service_account: String, seconds: i64, options: Map) -> String",
        "Like create_token(service_account, seconds); options: namespace.",
        move |cluster: &mut ClusterHandle,
              service_account: &str,
              seconds: i64,
              options: Map|
              -> RhaiResult<String> {
            create_token(
                &c,
                cluster,
                service_account,
                seconds,
                Options::check("create_token", options, NAMESPACE)?,
            )
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "rollout_restart(c: Cluster, deployment: String) -> Map",
        "Restarts a Deployment's pods, in the context's namespace, as `kubectl rollout restart` does (the pod template's kubectl.kubernetes.io/restartedAt annotation set to now); returns the Deployment. Await it with wait_rollout.",
        move |cluster: &mut ClusterHandle, deployment: &str| -> RhaiResult<Dynamic> {
            rollout_restart(&c, cluster, deployment, Options::none("rollout_restart", NAMESPACE))
        },
    );
    let c = ctx.clone();
    register(
        engine,
        "rollout_restart(c: Cluster, deployment: String, options: Map) -> Map",
        "Like rollout_restart(deployment); options: namespace.",
        move |cluster: &mut ClusterHandle, deployment: &str, options: Map| -> RhaiResult<Dynamic> {
            rollout_restart(
                &c,
                cluster,
                deployment,
                Options::check("rollout_restart", options, NAMESPACE)?,
            )
        },
    );

    let mut k8s = Module::new();
    let c = ctx.clone();
    register_in(
        &mut k8s,
        "probe(kubeconfig: String) -> Map",
        "Makes one authenticated request with a kubeconfig's current context, CA and token: #{ok, server, error}. In a dry run, credentials known only after apply are not probed and count as working.",
        move |kubeconfig: &str| -> RhaiResult<Map> {
            let text = kubeconfig.to_string();
            if c.dry_run() && text.contains(KNOWN_AFTER_APPLY) {
                let server = crate::k8s::kubeconfig_server(&text);
                c.reporter.log(&format!("dry run: not probing {server}: the credentials are known after apply"));
                let mut map = Map::new();
                map.insert("ok".into(), true.into());
                map.insert("server".into(), server.into());
                map.insert("error".into(), "".into());
                return Ok(map);
            }
            let transports = c.clusters.transports();
            let probe = c.block_on(async { Ok(crate::k8s::probe_kubeconfig(&text, transports).await) }).into_rhai()?;
            let json = serde_json::to_value(probe).map_err(|e| HostError::new(e.to_string())).into_rhai()?;
            to_dynamic(&json)?.try_cast::<Map>().ok_or_else(|| crate::engine::convert::throw(HostError::new("probe result")))
        },
    );
    let c = ctx.clone();
    register_in(
        &mut k8s,
        "token_expiry(token: String) -> Map",
        "When a bearer token expires, from its JWT exp claim: #{expires, expires_at (RFC 3339), days_left}; a token without exp does not expire. \"(known after apply)\" in a dry run reads as () fields.",
        move |token: &str| -> RhaiResult<Map> {
            let mut map = Map::new();
            if c.dry_run() && token.contains(KNOWN_AFTER_APPLY) {
                map.insert("expires".into(), Dynamic::UNIT);
                map.insert("expires_at".into(), KNOWN_AFTER_APPLY.into());
                map.insert("days_left".into(), Dynamic::UNIT);
                return Ok(map);
            }
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let expiry = crate::k8s::token_expiry(token, now).into_rhai()?;
            map.insert("expires".into(), expiry.expires.into());
            map.insert("expires_at".into(), expiry.expires_at.into());
            map.insert("days_left".into(), expiry.days_left.into());
            Ok(map)
        },
    );
    engine.register_static_module("k8s", k8s.into());
}

const NAMESPACE: &[&str] = &["namespace"];

fn create_token(
    ctx: &PlayContext,
    cluster: &ClusterHandle,
    service_account: &str,
    seconds: i64,
    options: Options,
) -> RhaiResult<String> {
    let namespace = namespace_of(cluster, &options)?;
    if seconds <= 0 {
        return Err(throw(HostError::new(format!(
            "create_token: seconds must be a positive number, not {seconds}"
        ))));
    }
    let cl = cluster.0.clone();
    ctx.block_on(async {
        cl.request_token(
            &ctx.reporter,
            ctx.dry_run(),
            &namespace,
            service_account,
            seconds,
        )
        .await
    })
    .into_rhai()
}

fn rollout_restart(
    ctx: &PlayContext,
    cluster: &ClusterHandle,
    deployment: &str,
    options: Options,
) -> RhaiResult<Dynamic> {
    let namespace = namespace_of(cluster, &options)?;
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| HostError::new(e.to_string()))
        .into_rhai()?;
    let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}});
    ctx.reporter.touch(cluster.0.name());
    let session = super::k8s::session(ctx, &cluster.0);
    let cl = cluster.0.clone();
    let after = ctx
        .block_on(async {
            cl.patch(&session, "Deployment", deployment, &namespace, &patch)
                .await
        })
        .into_rhai()?;
    to_dynamic(&after)
}
