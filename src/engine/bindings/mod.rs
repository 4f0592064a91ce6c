//! The thin layer between Rhai and the runtime's modules: it converts types and errors only.

mod access;
mod certs;
mod core;
mod data;
mod exec;
mod k8s;
mod preflight;
mod steps;

use std::sync::Arc;

use rhai::Engine;

use crate::context::PlayContext;

pub fn register_all(engine: &mut Engine, ctx: &Arc<PlayContext>) {
    core::install(engine);
    steps::install(engine);
    data::install(engine);
    certs::install(engine);
    k8s::install(engine, ctx);
    exec::install(engine);
    access::install(engine);
    preflight::install(engine);
}
