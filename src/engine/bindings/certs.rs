//! `certs::` — the mesh's CA hierarchy, from the `runner_certs` crate.
//!
//! Paths are relative to the project root. In a dry run nothing is written anywhere: existing
//! CAs are read where they are, missing ones are made in memory and forgotten at exit.

use std::path::PathBuf;
use std::sync::Arc;

use rhai::{Dynamic, Engine, Map, Module};
use serde_json::Value;

use crate::context::PlayContext;
use crate::engine::api::{register_in, register_property};
use crate::engine::convert::{to_dynamic, to_json, IntoRhai, RhaiResult};
use crate::engine::options::Options;
use crate::error::{HostError, HostResult};
use crate::report::Action;
use runner_certs::{self as certs, CaOptions, IntermediateStatus, RootCa, RootStatus};

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

pub(super) fn install(engine: &mut Engine, ctx: &Arc<PlayContext>) {
    engine.register_type_with_name::<RootCa>("RootCa");
    register_property(
        engine,
        "RootCa.status -> String",
        "\"created\" or \"loaded\".",
        |r: &mut RootCa| match r.status {
            RootStatus::Created => "created".to_string(),
            RootStatus::Loaded => "loaded".to_string(),
        },
    );
    register_property(
        engine,
        "RootCa.cert_pem -> String",
        "The root certificate (PEM); never the key.",
        |r: &mut RootCa| r.cert_pem().to_string(),
    );
    register_property(
        engine,
        "RootCa.cert -> Map",
        "What certs::inspect says of the root certificate.",
        |r: &mut RootCa| {
            to_dynamic(&serde_json::to_value(&r.cert).unwrap_or(Value::Null))
                .unwrap_or(Dynamic::UNIT)
        },
    );

    let mut module = Module::new();
    let c = ctx.clone();
    register_in(
        &mut module,
        "ensure_root_ca(dir: String) -> RootCa",
        "Loads the root CA from dir (root-cert.pem, root-key.pem) or creates it with Istio's defaults (RSA 4096, SHA-256, 3650 days, O=Istio, CN=Root CA); never overwrites an existing one.",
        move |dir: &str| -> RhaiResult<RootCa> { root_ca(&c, dir, Map::new()).into_rhai() },
    );
    let c = ctx.clone();
    register_in(
        &mut module,
        "ensure_root_ca(dir: String, options: Map) -> RootCa",
        "Like certs::ensure_root_ca(dir); options: key_type, validity_days, organization, common_name, country, state, locality, expiry_warn_days, lock_wait_secs.",
        move |dir: &str, options: Map| -> RhaiResult<RootCa> { root_ca(&c, dir, options).into_rhai() },
    );
    for (name, rotate, signature, doc) in [
        (
            "certs::ensure_intermediate_ca",
            false,
            "ensure_intermediate_ca(root: RootCa, dir: String, cluster: String",
            "Loads or creates dir/<cluster>/ (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem) signed by root; files signed by another root are an error, never overwritten. Returns #{status, dir, ca_cert_pem, cert_chain_pem, ...}.",
        ),
        (
            "certs::rotate_intermediate",
            true,
            "rotate_intermediate(root: RootCa, dir: String, cluster: String",
            "Issues a new intermediate for cluster under the same root, moving the previous files into a dated backup folder. Returns what certs::ensure_intermediate_ca returns.",
        ),
    ] {
        let c = ctx.clone();
        register_in(
            &mut module,
            &format!("{signature}) -> Map"),
            doc,
            move |root: RootCa, dir: &str, cluster: &str| -> RhaiResult<Map> {
                intermediate(&c, name, &root, dir, cluster, Map::new(), rotate).into_rhai()
            },
        );
        let c = ctx.clone();
        register_in(
            &mut module,
            &format!("{signature}, options: Map) -> Map"),
            "Like the form without options; options as for certs::ensure_root_ca.",
            move |root: RootCa, dir: &str, cluster: &str, options: Map| -> RhaiResult<Map> {
                intermediate(&c, name, &root, dir, cluster, options, rotate).into_rhai()
            },
        );
    }
    register_in(
        &mut module,
        "inspect(pem: String) -> Map",
        "Subject, issuer, serial, validity, days left, CA flag, pathlen, SANs, key type and size, SHA-256 fingerprint of a PEM certificate.",
        |pem: &str| -> RhaiResult<Map> { map_of(certs::inspect(pem).map_err(host)).into_rhai() },
    );
    let c = ctx.clone();
    register_in(
        &mut module,
        "inspect_file(path: String) -> Map",
        "certs::inspect of a certificate file (relative to the project root).",
        move |path: &str| -> RhaiResult<Map> {
            let file = c.project.resolve(path).into_rhai()?;
            map_of(certs::inspect_file(&file).map_err(host)).into_rhai()
        },
    );
    register_in(
        &mut module,
        "verify_chain(chain_pem: String, root_pem: String)",
        "Checks that each certificate of the chain is signed by the next, up to the root, and that all are within their validity; throws the reason otherwise.",
        |chain: &str, root: &str| -> RhaiResult<()> { certs::verify_chain(chain, root).map_err(host).into_rhai() },
    );
    let c = ctx.clone();
    register_in(
        &mut module,
        "cacerts_secret(cluster_dir: String) -> Map",
        "The `cacerts` Secret for istio-system with the four keys istiod reads, from a cluster's intermediate directory.",
        move |dir: &str| -> RhaiResult<Map> { map_of(cacerts_secret(&c, dir)).into_rhai() },
    );
    register_in(
        &mut module,
        "compare_roots(ours_pem: String, live_pem: String) -> Map",
        "Compares our root certificate with a cluster's (for example the root-cert.pem of its cacerts): #{same, message, ...}.",
        |ours: &str, live: &str| -> RhaiResult<Map> { map_of(certs::compare_roots(ours, live).map_err(host)).into_rhai() },
    );
    let c = ctx.clone();
    register_in(
        &mut module,
        "check_cacerts(cluster: String, context: String, certs_dir: String, cert_dir: String, live: Map|(), options: Map) -> Map",
        "Whether our cacerts (root in certs_dir, intermediate in certs_dir/cert_dir, which may not exist yet) may be written over a cluster's live cacerts data (read_secret's result,|()): #{action: \"apply\"|\"keep\", live, notes}. Throws, with the ways forward, on a foreign root in either layout istiod reads and on an intermediate other than ours; options: rotation (true: another intermediate under our root may be replaced). Reads files only.",
        move |cluster: &str, context: &str, certs_dir: &str, cert_dir: &str, live: Dynamic, options: Map| -> RhaiResult<Map> {
            map_of(check_cacerts(&c, cluster, context, certs_dir, cert_dir, live, options)).into_rhai()
        },
    );
    let c = ctx.clone();
    register_in(
        &mut module,
        "check_cacerts(cluster: String, context: String, certs_dir: String, cert_dir: String, live: Map|()) -> Map",
        "certs::check_cacerts with no options.",
        move |cluster: &str, context: &str, certs_dir: &str, cert_dir: &str, live: Dynamic| -> RhaiResult<Map> {
            map_of(check_cacerts(&c, cluster, context, certs_dir, cert_dir, live, Map::new())).into_rhai()
        },
    );
    register_in(
        &mut module,
        "inspect_cacerts(cluster: String, live: Map) -> Map",
        "What a live cacerts Secret's data (read_secret's result) makes istiod use, in either layout (tls.crt/tls.key/ca.crt first, as istiod): #{layout, keys, intermediate: #{subject, fingerprint_sha256, not_after}, roots: [...]}.",
        |cluster: &str, live: Map| -> RhaiResult<Map> {
            let data = string_map(live).into_rhai()?;
            map_of(certs::inspect_cacerts(cluster, &data).map_err(host)).into_rhai()
        },
    );
    engine.register_static_module("certs", module.into());
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

/// Reads our root and intermediate from the files, or from what this plan made in memory.
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
    certs::validate_cluster_name(cert_dir).map_err(host)?;
    let path = ctx.project.resolve(certs_dir)?;
    let mut ours = certs::Ours::read(&path, cert_dir).map_err(host)?;
    if let Some(planned) = ctx
        .planned_certs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&path.join(cert_dir))
    {
        ours.root_pem = Some(planned.root_cert.clone());
        ours.intermediate_pem = Some(planned.ca_cert.clone());
    }
    let live = if live.is_unit() {
        None
    } else {
        let map = live
            .try_cast::<Map>()
            .ok_or_else(|| HostError::new("check_cacerts: live must be a map|()"))?;
        Some(string_map(map)?)
    };
    let shown = format!("{}/{}", certs_dir.trim_end_matches('/'), cert_dir);
    let target = certs::Target {
        cluster,
        context,
        shown_certs_dir: certs_dir.trim_end_matches('/'),
        shown_dir: &shown,
    };
    certs::check_cacerts(&target, &ours, live.as_ref(), rotation).map_err(host)
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

/// From the files, or from an intermediate this plan made in memory.
fn cacerts_secret(ctx: &PlayContext, dir: &str) -> HostResult<Value> {
    let path = ctx.project.resolve(dir)?;
    let planned = ctx
        .planned_certs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&path)
        .cloned();
    match planned {
        Some(files) => certs::cacerts_secret_of(&path, &files),
        None => certs::cacerts_secret(&path),
    }
    .map_err(host)
}

fn root_ca(ctx: &PlayContext, dir: &str, options_map: Map) -> HostResult<RootCa> {
    let options = options("certs::ensure_root_ca", options_map)?;
    let path = ctx.project.resolve(dir)?;
    let root = if ctx.dry_run() {
        certs::plan_root_ca(&path, &options)
    } else {
        certs::root_ca(&path, &options)
    }
    .map_err(host)?;
    let shown = format!(
        "root CA {}",
        ctx.project
            .show(&ctx.project.resolve(dir)?.join(certs::file_names::ROOT_CERT))
    );
    for warning in &root.warnings {
        ctx.reporter.warn(warning);
    }
    let action = match root.status {
        RootStatus::Created => Action::Created,
        RootStatus::Loaded => Action::Unchanged,
    };
    report(ctx, &shown, action);
    if !ctx.dry_run() {
        record_files(ctx, &[&root.cert_path, &root.key_path]);
    }
    Ok(root)
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
    let (ca, planned) = match (ctx.dry_run(), rotate) {
        (false, true) => (
            certs::rotate_intermediate(root, &path, cluster, &options),
            None,
        ),
        (false, false) => (certs::intermediate_ca(root, &path, cluster, &options), None),
        (true, true) => match certs::plan_rotate_intermediate(root, &path, cluster, &options) {
            Ok((ca, files)) => (Ok(ca), Some(files)),
            Err(e) => (Err(e), None),
        },
        (true, false) => match certs::plan_intermediate_ca(root, &path, cluster, &options) {
            Ok((ca, files)) => (Ok(ca), files),
            Err(e) => (Err(e), None),
        },
    };
    let ca = ca.map_err(host)?;
    for warning in &ca.warnings {
        ctx.reporter.warn(&format!("{cluster}: {warning}"));
    }
    let action = match ca.status {
        IntermediateStatus::Created => Action::Created,
        IntermediateStatus::Rotated => Action::Configured,
        _ => Action::Unchanged,
    };
    let shown = format!(
        "intermediate CA {}",
        ctx.project.show(&ctx.project.resolve(dir)?.join(cluster))
    );
    report(ctx, &shown, action);
    let mut map = map_of(Ok(&ca))?;
    // The certificates (never the key), so a playbook need not read files a dry run did not write.
    match planned {
        Some(files) => {
            map.insert("ca_cert_pem".into(), Dynamic::from(files.ca_cert.clone()));
            map.insert(
                "cert_chain_pem".into(),
                Dynamic::from(files.cert_chain.clone()),
            );
            ctx.planned_certs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(ca.dir.clone(), files);
        }
        None => {
            if !ctx.dry_run() {
                record_files(
                    ctx,
                    &[
                        &ca.ca_cert_path,
                        &ca.ca_key_path,
                        &ca.root_cert_path,
                        &ca.cert_chain_path,
                    ],
                );
            }
            for (key, path) in [
                ("ca_cert_pem", &ca.ca_cert_path),
                ("cert_chain_pem", &ca.cert_chain_path),
            ] {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    HostError::from_error(&e).context(format!("cannot read {}", path.display()))
                })?;
                map.insert(key.into(), Dynamic::from(pem));
            }
        }
    }
    // Playbooks address the cluster's directory as they named it.
    map.insert(
        "dir".into(),
        Dynamic::from(format!("{}/{}", dir.trim_end_matches('/'), cluster)),
    );
    Ok(map)
}

/// A created or rotated CA; a plan says what it would do, and writes nothing.
fn report(ctx: &PlayContext, what: &str, action: Action) {
    if ctx.dry_run() {
        let verb = match action {
            Action::Configured => "rotate",
            _ => "create",
        };
        ctx.reporter
            .planned_local_change(&format!("would {verb} {what}"), what, action);
    } else {
        ctx.reporter.local_change(what, action);
    }
}

/// Certificates are read and written by the run itself: watch mode must never re-run for them.
fn record_files(ctx: &PlayContext, files: &[&PathBuf]) {
    for file in files {
        ctx.record_written(file.canonicalize().unwrap_or_else(|_| (*file).clone()));
    }
}
