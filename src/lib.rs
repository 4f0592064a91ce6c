//! runner: Rhai playbooks for joining Kubernetes clusters into an Istio primary-remote mesh.
//!
//! The runtime is a library with a thin CLI. Capabilities are plain modules — `templates`,
//! `vars`, `project`, `report` (and the Kubernetes, certificate, sandbox and watch modules) —
//! and `engine::bindings` is the thin layer that exposes them to playbooks.

pub mod api_reference;
pub mod bounds;
pub mod certs;
pub mod check;
pub mod cli;
pub mod confirm;
pub mod context;
pub mod control_plane;
pub mod diagnostic;
pub mod engine;
pub mod error;
pub mod exec;
pub mod init;
pub mod k8s;
pub mod ledger;
pub mod memory;
pub mod play;
pub mod preflight;
pub mod project;
pub mod prune;
pub mod rehearsal;
pub mod report;
pub mod sandbox;
pub mod signals;
pub mod templates;
pub mod vars;
pub mod verbosity;
pub mod watch;
