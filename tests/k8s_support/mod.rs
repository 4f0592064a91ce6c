//! Clusters for end-to-end tests, on either backend (the built-in sandbox or real control
//! planes): started in-process, kubeconfig in a temp dir, and the built `runner` binary driven
//! on small playbooks. kubectl checks results independently.
#![allow(dead_code)]

pub(crate) use crate::common::backend;
use crate::common::Fixture;

use std::path::{Path, PathBuf};
use std::process::Output;

pub(crate) use backend::{Backend, Clusters};
use runner_sandbox::Sandbox;

pub(crate) struct Env {
    pub clusters: Clusters,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

pub(crate) async fn start(backend: Backend, names: &[&str]) -> Env {
    let (clusters, dir, kubeconfig) = Fixture::new()
        .clusters(backend, names)
        .start()
        .await
        .into_async_parts();
    Env {
        clusters,
        dir,
        kubeconfig,
    }
}

impl Env {
    /// The sandbox, for tests of what only it offers.
    pub(crate) fn sandbox(&self) -> &Sandbox {
        self.clusters
            .sandbox()
            .expect("this test runs on the built-in sandbox only")
    }

    pub(crate) fn backend(&self) -> Backend {
        self.clusters.backend()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let file = self.path(name);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&file, text).unwrap();
        file
    }

    /// `runner play --kubeconfig K <playbook> <args>`, with no other kubeconfig in reach.
    pub(crate) fn runner(
        &self,
        playbook: &str,
        text: &str,
        args: &[&str],
    ) -> crate::common::Runner {
        self.runner_std(playbook, text, args)
    }

    pub(crate) fn runner_std(
        &self,
        playbook: &str,
        text: &str,
        args: &[&str],
    ) -> crate::common::Runner {
        let file = self.write(playbook, text);
        let mut cmd = crate::common::runner();
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path())
            .arg("play")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .arg(file);
        cmd
    }

    pub(crate) fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--context")
            .arg(context)
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    /// The object as JSON, or None when kubectl finds nothing.
    pub(crate) fn kubectl_get(&self, context: &str, args: &[&str]) -> Option<serde_json::Value> {
        let mut full = vec!["get"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(context, &full);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("NotFound") || stderr.contains("not found"),
                "kubectl failed: {stderr}"
            );
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
    }
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(crate) fn exists(path: &Path) -> bool {
    path.exists()
}
