//! runner's integration tests, in one binary: one module per area, sharing `common` (the
//! fixture builder, both backends, the output recorder that checks no secret is ever printed).
//! One process means shared state: tests never change the environment or the current
//! directory of this process (they set them on the commands they run), and real control planes
//! are rationed by `common::backend` so that a 2-core machine is not oversubscribed.

#[macro_use]
mod common;
mod istio_support;
mod k8s_support;
mod lifecycle_support;

mod alerts;
mod certs;
mod certs_inputs;
mod certs_playbook;
mod certs_safety;
mod cli_commands;
mod cli_errors;
mod cli_play;
mod control_plane;
mod control_plane_cli;
mod differential;
mod dry_run_kill;
mod error_messages;
mod exec;
mod exec_credentials;
mod faults;
mod flagship;
mod fuzz;
mod helm;
mod inventory;
mod istio_fidelity;
mod istio_migration;
mod k8s_apply;
mod k8s_clusters;
mod k8s_faults;
mod k8s_wait;
mod locks;
mod logging;
mod malformed;
mod module_graph;
mod multinetwork;
mod offboard;
mod output;
mod plans;
mod playbook_access;
mod preflight;
mod promote;
mod proxy;
mod readme;
mod rehearsal;
mod restore;
mod rotate;
mod sandbox_api;
mod sandbox_fidelity;
mod sandbox_kubectl;
mod sandbox_lifecycle;
mod sandbox_validation;
mod signals;
mod versions;
mod watch;
mod workspace;
