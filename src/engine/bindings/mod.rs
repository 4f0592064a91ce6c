//! The thin layer between Rhai and the runtime's modules: it converts types and errors only.
//!
//! Each file is a Rhai plugin module (`#[export_module]`): a function's doc comment is what
//! `runner api` prints (see `api_reference`), with `@param name: Type` / `@returns Type` lines
//! where the Rust type (`Dynamic`) says less than the playbook type (`Map or ()`). Functions are
//! found by the play through the engine's tag (`convert::play_context`). Whatever reads or
//! changes the world (clusters, files, the clock) is `volatile`, so that no optimisation level
//! evaluates a call at compile time; a method on a handle is `pure`: it never changes the handle,
//! so it may be called on a constant.

mod access;
mod certs;
mod core;
mod data;
mod exec;
mod k8s;
mod preflight;
mod steps;

use rhai::Engine;

pub(crate) fn register_all(engine: &mut Engine) {
    core::install(engine);
    steps::install(engine);
    data::install(engine);
    certs::install(engine);
    k8s::install(engine);
    exec::install(engine);
    access::install(engine);
    preflight::install(engine);
}
