//! The state a play's host functions share: the runtime handle, the reporter, the project,
//! the variables and the options of this run.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::{HostError, HostResult};
use crate::project::Project;
use crate::report::Reporter;
use crate::templates::{FilesRead, Templates};

/// Options that shape a run, from the command line.
#[derive(Clone, Debug, Default)]
pub struct PlayOptions {
    pub dry_run: bool,
    /// `--only`: run just these steps.
    pub only: Vec<String>,
    /// `--start-at`: skip the steps before this one.
    pub start_at: Option<String>,
    /// `--limit`: the clusters the play may change (empty: all of them).
    pub limit: Vec<String>,
    pub max_operations: u64,
    pub kube: crate::k8s::KubeOptions,
    /// `--prune`: delete orphans (objects the inventory records that the run no longer renders).
    pub prune: bool,
    /// `--prune-namespaces`: orphaned namespaces too.
    pub prune_namespaces: bool,
}

pub(crate) use crate::step_selection::StepSelection;

pub struct PlayContext {
    pub runtime: tokio::runtime::Handle,
    pub reporter: Reporter,
    pub project: Project,
    pub options: PlayOptions,
    pub templates: Templates,
    pub files_read: FilesRead,
    vars: RwLock<Value>,
    cancel: Mutex<CancellationToken>,
    pub steps: Mutex<StepSelection>,
    /// What this run applied, for the clusters' inventories and watch mode's skipping.
    pub ledger: crate::ledger::Ledger,
    /// Orphans the last run found (watch mode reports them in its summary).
    pub last_run: Mutex<crate::ledger::RunSummary>,
    /// Files the run wrote itself (they never trigger a watch re-run).
    pub files_written: Mutex<BTreeSet<PathBuf>>,
    /// The CAs this run writes, or (a dry run) plans in memory.
    pub certs: runner_certs::Hierarchy,
    /// Files a dry run would write, so commands naming them can say so.
    pub planned_files: Mutex<BTreeSet<PathBuf>>,
    /// A dry run printed a program instead of running it (see `Session::programs_skipped`).
    programs_skipped: std::sync::atomic::AtomicBool,
    owner: String,
    /// Whether the clusters are sandbox clusters (`--sandbox`).
    sandbox: std::sync::atomic::AtomicBool,
    /// The innermost step that ended with a script error (host errors carry their step), and
    /// where in the script that error is (see `play::step_failed`).
    pub failed_step: Mutex<Option<(String, Option<crate::diagnostic::ScriptLocation>)>>,
    /// The clusters this run uses, by playbook name.
    pub clusters: crate::k8s::Registry,
    /// The engine the play runs in, for work handed to other threads (`parallel`).
    engine: std::sync::OnceLock<std::sync::Weak<rhai::Engine>>,
    /// Brings the kubeconfig file external programs read up to date (`--sandbox`).
    kubeconfig_for_programs: std::sync::OnceLock<KubeconfigWriter>,
    /// Counts the runs of this play (watch mode), so that per-run bounds start afresh.
    run: std::sync::atomic::AtomicU64,
}

/// Writes the run's kubeconfig file before a program that reads it starts.
pub(crate) type KubeconfigWriter = Box<dyn Fn() -> HostResult<()> + Send + Sync>;

impl PlayContext {
    pub fn new(
        runtime: tokio::runtime::Handle,
        reporter: Reporter,
        project: Project,
        options: PlayOptions,
        vars: Value,
    ) -> Arc<Self> {
        let owner = owner_label(&project.playbook);
        let files_read = FilesRead::default();
        let templates = Templates::new(&project.templates_dir, files_read.clone());
        let clusters = crate::k8s::Registry::new(options.kube.clone(), runtime.clone());
        let ca_mode = if options.dry_run {
            runner_certs::Mode::Plan
        } else {
            runner_certs::Mode::Write
        };
        Arc::new(PlayContext {
            clusters,
            runtime,
            reporter,
            project,
            options,
            templates,
            files_read,
            vars: RwLock::new(vars),
            cancel: Mutex::new(CancellationToken::new()),
            steps: Mutex::new(StepSelection::default()),
            ledger: crate::ledger::Ledger::default(),
            last_run: Mutex::default(),
            files_written: Mutex::new(BTreeSet::new()),
            certs: runner_certs::Hierarchy::new(ca_mode),
            planned_files: Mutex::default(),
            programs_skipped: Default::default(),
            sandbox: std::sync::atomic::AtomicBool::new(false),
            owner,
            failed_step: Mutex::new(None),
            engine: std::sync::OnceLock::new(),
            kubeconfig_for_programs: std::sync::OnceLock::new(),
            run: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Set once, by `--sandbox`: its kubeconfig is written only when a program needs it.
    pub fn set_kubeconfig_writer(&self, writer: KubeconfigWriter) {
        let _ = self.kubeconfig_for_programs.set(writer);
    }

    /// Called before starting a program that reads the run's kubeconfig (`exec`).
    pub fn write_kubeconfig_for_programs(&self) -> HostResult<()> {
        match self.kubeconfig_for_programs.get() {
            Some(write) => write(),
            None => Ok(()),
        }
    }

    /// Records the engine built for this context (see `engine::build`).
    pub(crate) fn set_engine(&self, engine: &Arc<rhai::Engine>) {
        let _ = self.engine.set(Arc::downgrade(engine));
    }

    pub(crate) fn engine(&self) -> Option<Arc<rhai::Engine>> {
        self.engine.get().and_then(std::sync::Weak::upgrade)
    }

    pub fn vars(&self) -> Value {
        self.vars.read().map(|v| v.clone()).unwrap_or(Value::Null)
    }

    pub fn set_vars(&self, vars: Value) {
        if let Ok(mut v) = self.vars.write() {
            *v = vars;
        }
    }

    /// The runaway-loop guard in force for this run.
    pub fn max_operations(&self) -> u64 {
        match self.options.max_operations {
            0 => crate::bounds::DEFAULT_MAX_OPERATIONS,
            n => n,
        }
    }

    /// The ledger every run records what it applies in (see `crate::prune`).
    pub fn ledger(&self) -> Option<&crate::ledger::Ledger> {
        Some(&self.ledger)
    }

    /// The ownership label value for objects this playbook applies: its file name, made a
    /// valid label value.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn set_sandbox(&self, on: bool) {
        self.sandbox.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this run's clusters are sandbox clusters started by `--sandbox`.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn dry_run(&self) -> bool {
        self.options.dry_run
    }

    /// Whether `--limit` leaves this cluster out: its writes are planned, not made.
    pub fn outside_limit(&self, cluster: &str) -> bool {
        !self.options.limit.is_empty() && !self.options.limit.iter().any(|c| c == cluster)
    }

    /// What decides whether a program runs (see `crate::exec::launch`).
    pub(crate) fn exec_view(&self) -> crate::exec::PlayView {
        let planned_files = self
            .planned_files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|file| (file.clone(), self.project.show(file)))
            .collect();
        let limited_out = (self.clusters.names().into_iter())
            .filter(|name| self.outside_limit(name))
            .filter_map(|name| {
                let context = self.cluster(&name).ok()?.context().to_string();
                Some((name, context))
            })
            .collect();
        crate::exec::PlayView {
            dry_run: self.dry_run(),
            limited_out,
            planned_files,
            kubeconfig: self.options.kube.kubeconfig.clone(),
        }
    }

    /// Records that a dry run did not run a program.
    pub fn skip_program(&self) {
        self.programs_skipped
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn programs_skipped(&self) -> bool {
        self.programs_skipped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records a file the run read, so watch mode can follow it.
    pub fn record_read(&self, path: PathBuf) {
        if let Ok(mut read) = self.files_read.lock() {
            read.insert(path);
        }
    }

    /// Records a file the run wrote, so watch mode ignores it.
    pub fn record_written(&self, path: PathBuf) {
        if let Ok(mut written) = self.files_written.lock() {
            written.insert(path);
        }
    }

    /// Whether step `name` runs under `--only` / `--start-at`; `Err` holds the reason it is
    /// skipped. A step inside another runs with it.
    pub(crate) fn select_step(&self, name: &str) -> Result<(), &'static str> {
        let nested = self.reporter.current_step().is_some();
        self.steps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .select(
                name,
                nested,
                &self.options.only,
                self.options.start_at.as_deref(),
            )
    }

    /// Records a file `write_file` wrote, or (a dry run) would write when `action` is a change:
    /// watch mode ignores the one, programs the plan prints name the other as written first.
    pub(crate) fn record_file_change(&self, file: PathBuf, action: crate::report::Action) {
        if !self.dry_run() {
            self.record_written(file);
        } else if action.is_change() {
            self.planned_files
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(file);
        }
    }

    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// The handle for a playbook cluster name; Ctrl-C ends a slow connection (an exec plugin).
    pub fn cluster(&self, name: &str) -> HostResult<std::sync::Arc<crate::k8s::Cluster>> {
        self.clusters.cluster(name, &self.cancel_token())
    }

    /// Abandons the current request and stops the play at the next opportunity.
    pub fn cancel(&self) {
        self.cancel_token().cancel();
    }

    /// Which run of the play this is (0, then 1, 2, … in watch mode).
    pub fn run(&self) -> u64 {
        self.run.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel_token().is_cancelled()
    }

    /// Prepares for another run of the same play (watch mode).
    pub fn reset_for_run(&self, vars: Value) {
        self.run.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut token) = self.cancel.lock() {
            *token = CancellationToken::new();
        }
        if let Ok(mut steps) = self.steps.lock() {
            *steps = StepSelection::default();
        }
        if let Ok(mut failed) = self.failed_step.lock() {
            *failed = None;
        }
        if let Ok(mut read) = self.files_read.lock() {
            read.clear();
        }
        self.certs.forget_plans();
        if let Ok(mut planned) = self.planned_files.lock() {
            planned.clear();
        }
        self.programs_skipped
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.templates.reload();
        self.clusters.reset();
        self.reporter.reset();
        self.set_vars(vars);
    }

    /// Runs an async operation to completion from the playbook's (blocking) thread.
    /// Ctrl-C abandons the operation and returns an "interrupted" error.
    pub fn block_on<T>(&self, future: impl Future<Output = HostResult<T>>) -> HostResult<T> {
        let cancel = self.cancel_token();
        self.runtime.block_on(async move {
            tokio::select! {
                biased;
                () = cancel.cancelled() => Err(HostError::interrupted()),
                result = future => result,
            }
        })
    }
}

/// A label value (at most 63 characters of [a-z0-9-_.], alphanumeric at both ends) naming a playbook.
fn owner_label(playbook: &std::path::Path) -> String {
    let stem = playbook
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("playbook");
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "playbook".to_string()
    } else {
        trimmed.to_string()
    }
}
