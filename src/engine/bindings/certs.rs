//! `certs::` — the mesh's CA hierarchy, from the `runner_certs` crate.
//!
//! Paths are relative to the project root. In a dry run nothing is written anywhere: existing
//! CAs are read where they are, missing ones are made in memory and forgotten at exit.

use std::path::PathBuf;

use rhai::plugin::{export_module, exported_module, NativeCallContext};
use rhai::{Dynamic, Engine, Map};
use serde_json::Value;

use crate::context::PlayContext;
use crate::engine::convert::{to_dynamic, to_json};
use crate::engine::options::Options;
use crate::error::{HostError, HostResult};
use runner_certs::{self as certs, CaOptions, RootCa};

const OPTION_KEYS: &[&str] = &[
    "key_type",
    "validity_days",
    "organization",
    "common_name",
    "country",
    "state",
    "locality",
    "expiry_warn_days",
    "lock_wait_secs",
];

pub(super) fn install(engine: &mut Engine) {
    engine.register_type_with_name::<RootCa>("RootCa");
    engine.register_global_module(exported_module!(root_ca_properties).into());
    engine.register_static_module("certs", exported_module!(certs_api).into());
}

#[export_module]
mod root_ca_properties {
    use crate::engine::convert::to_dynamic;
    use runner_certs::{RootCa, RootStatus};

    /// "created" or "loaded".
    #[rhai_fn(get = "status", pure)]
    pub(super) fn status(value: &mut RootCa) -> String {
        match value.status {
            RootStatus::Created => "created".to_string(),
            RootStatus::Loaded => "loaded".to_string(),
        }
    }

    /// The root certificate (PEM); never the key.
    #[rhai_fn(get = "cert_pem", pure)]
    pub(super) fn cert_pem(value: &mut RootCa) -> String {
        value.cert_pem().to_string()
    }

    /// What certs::inspect says of the root certificate.
    #[rhai_fn(volatile, get = "cert", pure)]
    pub(super) fn cert(value: &mut RootCa) -> Map {
        serde_json::to_value(&value.cert)
            .ok()
            .and_then(|json| to_dynamic(&json).ok())
            .and_then(rhai::Dynamic::try_cast::<Map>)
            .unwrap_or_default()
    }
}

#[export_module]
mod certs_api {
    use crate::engine::convert::{play_context, IntoRhai, RhaiResult};
    use runner_certs::{self as certs, RootCa};

    /// Loads the root CA from dir (root-cert.pem, root-key.pem) or creates it with Istio's
    /// defaults (RSA 4096, SHA-256, 3650 days, O=Istio, CN=Root CA); never overwrites an
    /// existing one.
    #[rhai_fn(volatile, name = "ensure_root_ca", return_raw)]
    pub(super) fn ensure_root_ca(call: NativeCallContext, dir: &str) -> RhaiResult<RootCa> {
        super::root_ca(&*play_context(&call)?, dir, Map::new()).into_rhai()
    }

    /// Like certs::ensure_root_ca(dir); options: key_type, validity_days, organization,
    /// common_name, country, state, locality, expiry_warn_days, lock_wait_secs.
    #[rhai_fn(volatile, name = "ensure_root_ca", return_raw)]
    pub(super) fn ensure_root_ca_with(
        call: NativeCallContext,
        dir: &str,
        options: Map,
    ) -> RhaiResult<RootCa> {
        super::root_ca(&*play_context(&call)?, dir, options).into_rhai()
    }

    /// Loads or creates dir/<cluster>/ (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)
    /// signed by root; files signed by another root are an error, never overwritten. Returns
    /// #{status, dir, ca_cert_pem, cert_chain_pem, ...}.
    #[rhai_fn(volatile, name = "ensure_intermediate_ca", return_raw)]
    pub(super) fn ensure_intermediate_ca(
        call: NativeCallContext,
        root: RootCa,
        dir: &str,
        cluster: &str,
    ) -> RhaiResult<Map> {
        ensure_intermediate_ca_with(call, root, dir, cluster, Map::new())
    }

    /// Like the form without options; options as for certs::ensure_root_ca.
    #[rhai_fn(volatile, name = "ensure_intermediate_ca", return_raw)]
    pub(super) fn ensure_intermediate_ca_with(
        call: NativeCallContext,
        root: RootCa,
        dir: &str,
        cluster: &str,
        options: Map,
    ) -> RhaiResult<Map> {
        let ctx = play_context(&call)?;
        let function = "certs::ensure_intermediate_ca";
        super::intermediate(&ctx, function, &root, dir, cluster, options, false).into_rhai()
    }

    /// Issues a new intermediate for cluster under the same root, moving the previous files
    /// into a dated backup folder. Returns what certs::ensure_intermediate_ca returns.
    #[rhai_fn(volatile, name = "rotate_intermediate", return_raw)]
    pub(super) fn rotate_intermediate(
        call: NativeCallContext,
        root: RootCa,
        dir: &str,
        cluster: &str,
    ) -> RhaiResult<Map> {
        rotate_intermediate_with(call, root, dir, cluster, Map::new())
    }

    /// Like the form without options; options as for certs::ensure_root_ca.
    #[rhai_fn(volatile, name = "rotate_intermediate", return_raw)]
    pub(super) fn rotate_intermediate_with(
        call: NativeCallContext,
        root: RootCa,
        dir: &str,
        cluster: &str,
        options: Map,
    ) -> RhaiResult<Map> {
        let ctx = play_context(&call)?;
        let function = "certs::rotate_intermediate";
        super::intermediate(&ctx, function, &root, dir, cluster, options, true).into_rhai()
    }

    /// Subject, issuer, serial, validity, days left, CA flag, pathlen, SANs, key type and size,
    /// SHA-256 fingerprint of a PEM certificate.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn inspect(pem: &str) -> RhaiResult<Map> {
        super::map_of(certs::inspect(pem).map_err(super::host)).into_rhai()
    }

    /// certs::inspect of a certificate file (relative to the project root).
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn inspect_file(call: NativeCallContext, path: &str) -> RhaiResult<Map> {
        let file = play_context(&call)?.project.resolve(path).into_rhai()?;
        super::map_of(certs::inspect_file(&file).map_err(super::host)).into_rhai()
    }

    /// Checks that each certificate of the chain is signed by the next, up to the root, and
    /// that all are within their validity; throws the reason otherwise.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn verify_chain(chain_pem: &str, root_pem: &str) -> RhaiResult<()> {
        certs::verify_chain(chain_pem, root_pem)
            .map_err(super::host)
            .into_rhai()
    }

    /// The `cacerts` Secret for istio-system with the four keys istiod reads, from a cluster's
    /// intermediate directory.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn cacerts_secret(call: NativeCallContext, cluster_dir: &str) -> RhaiResult<Map> {
        let ctx = play_context(&call)?;
        super::map_of(super::cacerts_secret(&ctx, cluster_dir)).into_rhai()
    }

    /// Compares our root certificate with a cluster's (for example the root-cert.pem of its
    /// cacerts): #{same, message, ...}.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn compare_roots(ours_pem: &str, live_pem: &str) -> RhaiResult<Map> {
        super::map_of(certs::compare_roots(ours_pem, live_pem).map_err(super::host)).into_rhai()
    }

    /// Whether our cacerts (root in certs_dir, intermediate in certs_dir/cert_dir, which may
    /// not exist yet) may be written over a cluster's live cacerts data (read_secret's
    /// result, or ()): #{action: "apply"|"keep", live, notes}. Throws, with the ways forward, on a
    /// foreign root in either layout istiod reads and on an intermediate other than ours;
    /// options: rotation (true: another intermediate under our root may be replaced). Reads
    /// files only.
    /// @param live: Map or ()
    #[rhai_fn(volatile, name = "check_cacerts", return_raw)]
    pub(super) fn check_cacerts_with(
        call: NativeCallContext,
        cluster: &str,
        context: &str,
        certs_dir: &str,
        cert_dir: &str,
        live: Dynamic,
        options: Map,
    ) -> RhaiResult<Map> {
        let ctx = play_context(&call)?;
        let verdict =
            super::check_cacerts(&ctx, cluster, context, certs_dir, cert_dir, live, options);
        super::map_of(verdict).into_rhai()
    }

    /// certs::check_cacerts with no options.
    /// @param live: Map or ()
    #[rhai_fn(volatile, name = "check_cacerts", return_raw)]
    pub(super) fn check_cacerts(
        call: NativeCallContext,
        cluster: &str,
        context: &str,
        certs_dir: &str,
        cert_dir: &str,
        live: Dynamic,
    ) -> RhaiResult<Map> {
        check_cacerts_with(
            call,
            cluster,
            context,
            certs_dir,
            cert_dir,
            live,
            Map::new(),
        )
    }

    /// What a live cacerts Secret's data (read_secret's result) makes istiod use, in either
    /// layout (tls.crt/tls.key/ca.crt first, as istiod): #{layout, keys, intermediate:
    /// #{subject, fingerprint_sha256, not_after}, roots: [...]}.
    #[rhai_fn(volatile, return_raw)]
    pub(super) fn inspect_cacerts(cluster: &str, live: Map) -> RhaiResult<Map> {
        let data = super::string_map(live).into_rhai()?;
        super::map_of(certs::inspect_cacerts(cluster, &data).map_err(super::host)).into_rhai()
    }
}

fn string_map(map: Map) -> HostResult<std::collections::BTreeMap<String, String>> {
    map.into_iter()
        .map(|(k, v)| {
            let key = k.to_string();
            v.into_string()
                .map(|text| (key.clone(), text))
                .map_err(|_| HostError::new(format!("cacerts key {key:?} is not text")))
        })
        .collect()
}

fn check_cacerts(
    ctx: &PlayContext,
    cluster: &str,
    context: &str,
    certs_dir: &str,
    cert_dir: &str,
    live: Dynamic,
    options_map: Map,
) -> HostResult<certs::CacertsVerdict> {
    let options = Options::check("certs::check_cacerts", options_map, &["rotation"])
        .and_then(|o| o.bool("rotation"))
        .map_err(|e| host_error(*e))?;
    let rotation = options.unwrap_or(false);
    let ours = ctx
        .certs
        .ours(&ctx.project.resolve(certs_dir)?, cert_dir)
        .map_err(host)?;
    let live = if live.is_unit() {
        None
    } else {
        let map = live
            .try_cast::<Map>()
            .ok_or_else(|| HostError::new("check_cacerts: live must be a map|()"))?;
        Some(string_map(map)?)
    };
    let shown = shown_dir(certs_dir, cert_dir);
    let target = certs::Target {
        cluster,
        context,
        shown_certs_dir: certs_dir.trim_end_matches('/'),
        shown_dir: &shown,
    };
    certs::check_cacerts(&target, &ours, live.as_ref(), rotation).map_err(host)
}

/// A cluster's directory as the playbook names it.
fn shown_dir(certs_dir: &str, cluster: &str) -> String {
    format!("{}/{}", certs_dir.trim_end_matches('/'), cluster)
}

fn host(error: certs::CertError) -> HostError {
    HostError::from_error(&error)
}

fn map_of<T: serde::Serialize>(value: HostResult<T>) -> HostResult<Map> {
    let json = serde_json::to_value(value?).map_err(|e| HostError::new(e.to_string()))?;
    to_dynamic(&json)
        .map_err(|e| HostError::new(e.to_string()))?
        .try_cast::<Map>()
        .ok_or_else(|| HostError::new("expected a map"))
}

fn options(function: &'static str, map: Map) -> HostResult<CaOptions> {
    Options::check(function, map.clone(), OPTION_KEYS).map_err(|e| host_error(*e))?;
    let json = to_json(&Dynamic::from_map(map))?;
    serde_json::from_value(json).map_err(|e| {
        HostError::new(format!("{function}: invalid options: {e}"))
            .with_hint(format!("options: {}", OPTION_KEYS.join(", ")))
    })
}

/// The host error an option check threw.
fn host_error(error: rhai::EvalAltResult) -> HostError {
    match error {
        rhai::EvalAltResult::ErrorRuntime(value, _) if value.is::<HostError>() => {
            value.cast::<HostError>()
        }
        other => HostError::new(other.to_string()),
    }
}

fn cacerts_secret(ctx: &PlayContext, dir: &str) -> HostResult<Value> {
    let path = ctx.project.resolve(dir)?;
    ctx.certs.cacerts_secret(&path).map_err(host)
}

fn root_ca(ctx: &PlayContext, dir: &str, options_map: Map) -> HostResult<RootCa> {
    let options = options("certs::ensure_root_ca", options_map)?;
    let path = ctx.project.resolve(dir)?;
    let root = ctx.certs.root_ca(&path, &options).map_err(host)?;
    for warning in &root.ca.warnings {
        ctx.reporter.warn(warning);
    }
    let shown = format!(
        "root CA {}",
        ctx.project.show(&path.join(certs::file_names::ROOT_CERT))
    );
    ctx.reporter
        .ca_change(&shown, root.ca.status.into(), ctx.dry_run());
    record_files(ctx, &root.files);
    Ok(root.ca)
}

fn intermediate(
    ctx: &PlayContext,
    function: &'static str,
    root: &RootCa,
    dir: &str,
    cluster: &str,
    options_map: Map,
    rotate: bool,
) -> HostResult<Map> {
    let options = options(function, options_map)?;
    let path = ctx.project.resolve(dir)?;
    let ensured = if rotate {
        ctx.certs
            .rotate_intermediate(root, &path, cluster, &options)
    } else {
        ctx.certs.intermediate_ca(root, &path, cluster, &options)
    }
    .map_err(host)?;
    let ca = &ensured.ca.ca;
    for warning in &ca.warnings {
        ctx.reporter.warn(&format!("{cluster}: {warning}"));
    }
    let shown = format!("intermediate CA {}", ctx.project.show(&path.join(cluster)));
    ctx.reporter
        .ca_change(&shown, ca.status.into(), ctx.dry_run());
    record_files(ctx, &ensured.files);
    let mut map = map_of(Ok(ca))?;
    map.insert("ca_cert_pem".into(), ensured.ca.ca_cert_pem.into());
    map.insert("cert_chain_pem".into(), ensured.ca.cert_chain_pem.into());
    map.insert("dir".into(), shown_dir(dir, cluster).into());
    Ok(map)
}

/// Certificates are read and written by the run itself: watch mode must never re-run for them.
fn record_files(ctx: &PlayContext, files: &[PathBuf]) {
    for file in files {
        ctx.record_written(file.canonicalize().unwrap_or_else(|_| file.clone()));
    }
}
