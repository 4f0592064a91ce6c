//! Cluster handles named with a context, sandbox detection, reader tokens and kubeconfig probes.

use rhai::plugin::{export_module, exported_module, NativeCallContext};
use rhai::{Dynamic, Engine, Map};

use super::k8s::{namespace_of, ClusterHandle};
use crate::context::PlayContext;
use crate::engine::convert::{to_dynamic, IntoRhai, RhaiResult};
use crate::engine::options::Options;

pub(super) fn install(engine: &mut Engine) {
    engine.register_global_module(exported_module!(access_api).into());
    engine.register_static_module("k8s", exported_module!(k8s_api).into());
}

#[export_module]
mod access_api {
    // Playbooks know the handle as Cluster; runner api prints the name written here.
    use super::ClusterHandle as Cluster;
    use super::NAMESPACE;
    use crate::engine::convert::{play_context, IntoRhai, RhaiResult};
    use crate::engine::options::Options;

    /// Like cluster(name); options: context (the kubeconfig context the playbook calls `name`;
    /// --context name=CONTEXT wins; ignored on sandbox clusters).
    #[rhai_fn(volatile, name = "cluster", return_raw)]
    pub(super) fn cluster_with(
        call: NativeCallContext,
        name: &str,
        options: Map,
    ) -> RhaiResult<Cluster> {
        let ctx = play_context(&call)?;
        let options = Options::check("cluster", options, &["context"])?;
        let context = options.string("context")?.unwrap_or_default();
        (ctx.clusters).set_playbook_context(name, &context, ctx.is_sandbox());
        ctx.cluster(name).map(Cluster).into_rhai()
    }

    /// Whether the cluster is a runner sandbox cluster (--sandbox, or `runner sandbox up`),
    /// where no istioctl or container runs.
    #[rhai_fn(volatile, get = "is_sandbox", pure, return_raw)]
    pub(super) fn is_sandbox(call: NativeCallContext, value: &mut Cluster) -> RhaiResult<bool> {
        let ctx = play_context(&call)?;
        if ctx.is_sandbox() {
            return Ok(true);
        }
        let cluster = value.0.clone();
        ctx.block_on(async move { cluster.is_sandbox().await })
            .into_rhai()
    }

    /// Requests a token for a ServiceAccount, in the context's namespace, valid for `seconds`
    /// (a TokenRequest); a dry run requests none and returns "(known after apply)".
    #[rhai_fn(volatile, name = "create_token", pure, return_raw)]
    pub(super) fn create_token(
        call: NativeCallContext,
        c: &mut Cluster,
        service_account: &str,
        seconds: i64,
    ) -> RhaiResult<String> {
        let options = Options::none("create_token", NAMESPACE);
        super::create_token(&*play_context(&call)?, c, service_account, seconds, options)
    }

    /// Like create_token(service_account, seconds); options: namespace.
    #[rhai_fn(volatile, name = "create_token", pure, return_raw)]
    pub(super) fn create_token_with(
        call: NativeCallContext,
        c: &mut Cluster,
        service_account: &str,
        seconds: i64,
        options: Map,
    ) -> RhaiResult<String> {
        let options = Options::check("create_token", options, NAMESPACE)?;
        super::create_token(&*play_context(&call)?, c, service_account, seconds, options)
    }

    /// Restarts a Deployment's pods, in the context's namespace, as `kubectl rollout restart`
    /// does (the pod template's kubectl.kubernetes.io/restartedAt annotation set to now);
    /// returns the Deployment. Await it with wait_rollout.
    /// @returns Map
    #[rhai_fn(volatile, name = "rollout_restart", pure, return_raw)]
    pub(super) fn rollout_restart(
        call: NativeCallContext,
        c: &mut Cluster,
        deployment: &str,
    ) -> RhaiResult<Dynamic> {
        let options = Options::none("rollout_restart", NAMESPACE);
        super::rollout_restart(&*play_context(&call)?, c, deployment, options)
    }

    /// Like rollout_restart(deployment); options: namespace.
    /// @returns Map
    #[rhai_fn(volatile, name = "rollout_restart", pure, return_raw)]
    pub(super) fn rollout_restart_with(
        call: NativeCallContext,
        c: &mut Cluster,
        deployment: &str,
        options: Map,
    ) -> RhaiResult<Dynamic> {
        let options = Options::check("rollout_restart", options, NAMESPACE)?;
        super::rollout_restart(&*play_context(&call)?, c, deployment, options)
    }
}

#[export_module]
mod k8s_api {
    use crate::engine::convert::{play_context, throw, to_dynamic, IntoRhai, RhaiResult};
    use crate::error::HostError;
    use crate::k8s::KNOWN_AFTER_APPLY;

    /// Makes one authenticated request with a kubeconfig's current context, CA and token:
    /// #{ok, server, error}. In a dry run, credentials known only after apply are not probed
    /// and count as working.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn probe(call: NativeCallContext, kubeconfig: &str) -> RhaiResult<Map> {
        let ctx = play_context(&call)?;
        let transports = ctx.clusters.transports();
        let probe = ctx
            .block_on(async {
                Ok(
                    crate::k8s::probe_in_play(&ctx.reporter, ctx.dry_run(), kubeconfig, transports)
                        .await,
                )
            })
            .into_rhai()?;
        let json = serde_json::to_value(probe)
            .map_err(|e| HostError::new(e.to_string()))
            .into_rhai()?;
        to_dynamic(&json)?
            .try_cast::<Map>()
            .ok_or_else(|| throw(HostError::new("probe result")))
    }

    /// When a bearer token expires, from its JWT exp claim: #{expires, expires_at (RFC 3339),
    /// days_left}; a token without exp does not expire. "(known after apply)" in a dry run
    /// reads as () fields.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn token_expiry(call: NativeCallContext, token: &str) -> RhaiResult<Map> {
        let ctx = play_context(&call)?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut map = Map::new();
        match crate::k8s::token_expiry_in_play(ctx.dry_run(), token, now).into_rhai()? {
            Some(expiry) => {
                map.insert("expires".into(), expiry.expires.into());
                map.insert("expires_at".into(), expiry.expires_at.into());
                map.insert("days_left".into(), expiry.days_left.into());
            }
            None => {
                map.insert("expires".into(), Dynamic::UNIT);
                map.insert("expires_at".into(), KNOWN_AFTER_APPLY.into());
                map.insert("days_left".into(), Dynamic::UNIT);
            }
        }
        Ok(map)
    }
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
    let patch = crate::k8s::rollout_restart_patch(time::OffsetDateTime::now_utc()).into_rhai()?;
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
