//! runner: Rhai playbooks for joining Kubernetes clusters into an Istio primary-remote mesh.
//!
//! The runtime is a library with a thin CLI. Capabilities are plain modules — `templates`,
//! `vars`, `project`, `report`, `k8s`, `watch` — and `engine::bindings` is the thin layer that
//! exposes them to playbooks. The certificate library and the sandbox are crates of their own
//! (`runner-certs`, `runner-sandbox`). Public here is only what the binary, the tests and the
//! benchmarks use.

mod api_reference;
mod bounds;
mod check;
pub mod cli;
mod context;
mod diagnostic;
mod engine;
mod error;
mod exec;
mod exit;
mod function_names;
mod init;
pub mod k8s;
pub mod ledger;
mod local_files;
pub mod memory;
mod play;
mod preflight;
mod project;
mod prune;
mod rehearsal;
mod report;
mod signals;
mod stdout;
mod step_selection;
pub mod templates;
pub mod vars;
mod verbosity;
mod watch;
