//! One way to build what a test runs in, after casey/just's `Test`: a project directory (empty,
//! given files, or a copy of the shipped playbooks and templates as a user who customises them
//! has), clusters on either backend with their kubeconfig in the project, and runs of the built
//! binary there whose exact stdout, stderr and exit status are checked.
//!
//! ```ignore
//! let mesh = Fixture::new()
//!     .shipped_playbooks()
//!     .file("mesh.yaml", "remotes: []\n")
//!     .clusters(Backend::Sandbox, &["cluster-1", "cluster-2"])
//!     .build();
//! mesh.test()
//!     .args(["play", "playbooks/primary-remote.rhai", "--vars", "mesh.yaml"])
//!     .stdout(EXPECTED)
//!     .stderr("")
//!     .status(0)
//!     .run();
//! ```

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::LazyLock;

use regex::Regex;

use runner_sandbox::{Sandbox, SandboxOptions};

use super::backend::{start_sandbox, Backend, Clusters};
use super::{copy_shipped, runner, Runner};

/// What to build: see the module's documentation.
#[must_use]
pub(crate) struct Fixture {
    shipped: bool,
    files: Vec<(String, String)>,
    clusters: Option<(Backend, Vec<String>)>,
    sandbox_options: Option<SandboxOptions>,
    worker_threads: usize,
}

/// A built fixture: the project directory, and the clusters while it lives.
pub(crate) struct Env {
    // Dropped before the runtime that serves them.
    clusters: Option<Clusters>,
    runtime: Option<tokio::runtime::Runtime>,
    project: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        Fixture {
            shipped: false,
            files: Vec::new(),
            clusters: None,
            sandbox_options: None,
            worker_threads: 2,
        }
    }

    /// A copy of the repository's `playbooks/` and `templates/`.
    pub(crate) fn shipped_playbooks(mut self) -> Fixture {
        self.shipped = true;
        self
    }

    /// A file of the project, written after the shipped playbooks (so it may replace one).
    pub(crate) fn file(mut self, path: &str, text: &str) -> Fixture {
        self.files.push((path.to_string(), text.to_string()));
        self
    }

    /// Clusters named `names` on `backend`, in the project's `kubeconfig`.
    pub(crate) fn clusters(mut self, backend: Backend, names: &[&str]) -> Fixture {
        self.clusters = Some((
            backend,
            names.iter().map(std::string::ToString::to_string).collect(),
        ));
        self
    }

    /// A sandbox started with `options` (its clusters named there), for what the defaults of
    /// `clusters` do not give: no RBAC, a load balancer's delay.
    pub(crate) fn sandbox_options(mut self, options: SandboxOptions) -> Fixture {
        self.sandbox_options = Some(options);
        self
    }

    /// Worker threads of the runtime serving the clusters of `build` (2 unless told).
    pub(crate) fn worker_threads(mut self, threads: usize) -> Fixture {
        self.worker_threads = threads;
        self
    }

    /// For plain tests: the clusters are served from a runtime of the fixture's own.
    pub(crate) fn build(self) -> Env {
        let serving = self.clusters.is_some() || self.sandbox_options.is_some();
        let runtime = serving.then(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(self.worker_threads)
                .enable_all()
                .build()
                .expect("a runtime for the clusters")
        });
        let clusters = runtime
            .as_ref()
            .and_then(|rt| rt.block_on(self.start_clusters()));
        self.finish(clusters, runtime)
    }

    /// For async tests: the clusters are served from the test's runtime.
    pub(crate) async fn start(self) -> Env {
        let clusters = self.start_clusters().await;
        self.finish(clusters, None)
    }

    async fn start_clusters(&self) -> Option<Clusters> {
        if let Some(options) = &self.sandbox_options {
            return Some(start_sandbox(options.clone()).await);
        }
        let (backend, names) = self.clusters.as_ref()?;
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        Some(backend.start(&names).await)
    }

    fn finish(self, clusters: Option<Clusters>, runtime: Option<tokio::runtime::Runtime>) -> Env {
        let project = tempfile::tempdir().expect("a project directory");
        if self.shipped {
            copy_shipped(project.path());
        }
        for (path, text) in &self.files {
            write(&project.path().join(path), text);
        }
        let kubeconfig = project.path().join("kubeconfig");
        if let Some(clusters) = &clusters {
            clusters.write_kubeconfig(&kubeconfig);
        }
        Env {
            clusters,
            runtime,
            project,
            kubeconfig,
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a file in a directory")).unwrap();
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

impl Env {
    pub(crate) fn dir(&self) -> &Path {
        self.project.path()
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.project.path().join(rel)
    }

    pub(crate) fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        write(&path, text);
        path
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// The kubeconfig of the clusters (in the project directory).
    pub(crate) fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub(crate) fn clusters(&self) -> &Clusters {
        self.clusters.as_ref().expect("a fixture with clusters")
    }

    /// The sandbox of a fixture built with `Backend::Sandbox` or `sandbox_options`.
    pub(crate) fn sandbox(&self) -> &Sandbox {
        self.clusters().sandbox().expect("a fixture on the sandbox")
    }

    pub(crate) fn clusters_mut(&mut self) -> &mut Clusters {
        self.clusters.as_mut().expect("a fixture with clusters")
    }

    /// Its clusters (of an async test: `start`), project directory and kubeconfig, for helpers
    /// that keep them as fields of their own.
    pub(crate) fn into_async_parts(mut self) -> (Clusters, tempfile::TempDir, PathBuf) {
        assert!(
            self.runtime.is_none(),
            "clusters of `build` need their runtime"
        );
        let clusters = self.clusters.take().expect("a fixture with clusters");
        (clusters, self.project, self.kubeconfig)
    }

    /// The runtime serving the clusters of a plain test.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("a fixture built with clusters")
    }

    /// The built binary in the project directory, with no colors and no KUBECONFIG from the
    /// test's environment; `args` follow.
    pub(crate) fn runner(&self, args: &[&str]) -> Runner {
        let mut cmd = runner();
        cmd.current_dir(self.dir())
            .env("NO_COLOR", "1")
            .env_remove("KUBECONFIG")
            .args(args);
        cmd
    }

    /// A run whose exact outcome the test states.
    pub(crate) fn test(&self) -> Test<'_> {
        Test {
            env: self,
            args: Vec::new(),
            envs: Vec::new(),
            expected_stdout: None,
            expected_stderr: None,
            expected_status: 0,
            timings: Timings::Kept,
            sorted_prefix: None,
        }
    }

    /// kubectl on `context` of the fixture's clusters.
    pub(crate) fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--context", context])
            .args(args)
            .current_dir(self.dir())
            .output()
            .expect("kubectl runs")
    }
}

/// How a `Test` compares output that holds durations.
#[derive(Clone, Copy)]
enum Timings {
    Kept,
    /// Every `(12ms)` or `(1.2s)` reads `(TIME)`, and a step's `· 12ms` reads `· TIME`, on
    /// both sides.
    Masked,
}

/// One run of the binary and what it must print and return; `run` checks all three.
#[must_use]
pub(crate) struct Test<'a> {
    env: &'a Env,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    expected_stdout: Option<String>,
    expected_stderr: Option<String>,
    expected_status: i32,
    timings: Timings,
    sorted_prefix: Option<String>,
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub(crate) struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

static DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(\d+(?:\.\d+)?(?:ms|s)\)").unwrap());
static STEP_DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"· \d+(?:\.\d+)?(?:ms|s)\b").unwrap());

/// `text` with every duration it prints as `(TIME)` (a play's) or `· TIME` (a step's).
pub(crate) fn masked(text: &str) -> String {
    let text = DURATION.replace_all(text, "(TIME)");
    STEP_DURATION.replace_all(&text, "· TIME").into_owned()
}

/// `text` with each run of consecutive lines starting with `prefix` sorted: what parallel work
/// prints in the order it happens to finish.
pub(crate) fn sorted_runs(text: &str, prefix: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with(prefix) {
            run.push(line);
            continue;
        }
        run.sort_unstable();
        out.append(&mut run);
        out.push(line);
    }
    run.sort_unstable();
    out.append(&mut run);
    out.concat()
}

impl Test<'_> {
    pub(crate) fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    pub(crate) fn args<'s>(mut self, args: impl IntoIterator<Item = &'s str>) -> Self {
        self.args.extend(args.into_iter().map(str::to_string));
        self
    }

    /// An environment variable of the run (the test process's own are never changed).
    pub(crate) fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        let value = value.as_ref().to_string_lossy().into_owned();
        self.envs.push((key.to_string(), value));
        self
    }

    /// `--kubeconfig` of the fixture's clusters.
    pub(crate) fn with_kubeconfig(self) -> Self {
        let kubeconfig = self.env.kubeconfig.display().to_string();
        self.args(["--kubeconfig", kubeconfig.as_str()])
    }

    pub(crate) fn stdout(mut self, text: &str) -> Self {
        self.expected_stdout = Some(text.to_string());
        self
    }

    pub(crate) fn stderr(mut self, text: &str) -> Self {
        self.expected_stderr = Some(text.to_string());
        self
    }

    pub(crate) fn status(mut self, code: i32) -> Self {
        self.expected_status = code;
        self
    }

    /// Compares output with each run of lines starting with `prefix` sorted (lines printed by
    /// parallel work).
    pub(crate) fn sorting_runs_of(mut self, prefix: &str) -> Self {
        self.sorted_prefix = Some(prefix.to_string());
        self
    }

    /// Compares output with the durations it prints masked.
    pub(crate) fn masking_timings(mut self) -> Self {
        self.timings = Timings::Masked;
        self
    }

    /// Runs and checks the status, and stdout and stderr where stated; gives the run back.
    #[track_caller]
    pub(crate) fn run(self) -> Run {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let run = Run::from(
            self.env
                .runner(&args)
                .envs(self.envs.iter().map(|(k, v)| (k, v)))
                .output()
                .expect("runner starts"),
        );
        // The project directory reads `<project>`, wherever the run put it.
        let project = self.env.dir().display().to_string();
        let shown = |text: &str| {
            let mut text = text.replace(&project, "<project>");
            if let Timings::Masked = self.timings {
                text = masked(&text);
            }
            if let Some(prefix) = &self.sorted_prefix {
                text = sorted_runs(&text, prefix);
            }
            text
        };
        assert_eq!(
            run.code,
            Some(self.expected_status),
            "runner {args:?}: exit status\n--- stdout\n{}--- stderr\n{}",
            run.stdout,
            run.stderr
        );
        if let Some(expected) = &self.expected_stdout {
            same(
                &format!("runner {args:?}: stdout"),
                &shown(&run.stdout),
                &shown(expected),
            );
        }
        if let Some(expected) = &self.expected_stderr {
            same(
                &format!("runner {args:?}: stderr"),
                &shown(&run.stderr),
                &shown(expected),
            );
        }
        run
    }
}

/// `actual` is `expected`, whole; `what` says which text it is when it is not.
#[track_caller]
pub(crate) fn same(what: &str, actual: &str, expected: &str) {
    assert_eq!(actual, expected, "{what}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_states_exact_output_and_status() {
        let env = Fixture::new()
            .file("playbooks/hello.rhai", "print(\"hello\");\n")
            .build();
        env.test()
            .args(["play", "playbooks/hello.rhai"])
            .stdout("PLAY playbooks/hello.rhai\n  hello\n\nPLAY RECAP (1ms)\n(no steps ran)\n")
            .masking_timings()
            .stderr("")
            .status(0)
            .run();
    }

    #[test]
    fn a_different_status_fails_the_test() {
        let env = Fixture::new()
            .file("playbooks/bad.rhai", "let x = ;\n")
            .build();
        let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            env.test().args(["play", "playbooks/bad.rhai"]).run()
        }))
        .expect_err("exit 1 is not the expected 0");
        let message = failure.downcast_ref::<String>().expect("a message");
        assert!(
            message.starts_with("assertion `left == right` failed: runner [\"play\", \"playbooks/bad.rhai\"]: exit status"),
            "{message}"
        );
    }
}
