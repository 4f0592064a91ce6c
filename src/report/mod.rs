//! What a play tells its user: steps, objects, warnings, waits and the final recap.
//!
//! Human output goes to stdout as plain lines (a spinner on stderr when it is a terminal);
//! `--output json` prints one JSON event per line on stdout instead.

pub(crate) mod human;
mod plan;
mod progress;
mod recap;
mod server_warning;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

pub(crate) use plan::{DiffMode, PlanRow};
pub(crate) use progress::WaitGuard;
pub(crate) use recap::Recap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputMode {
    #[default]
    Human,
    Json,
}

/// What an operation did to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Deleted,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
        }
    }
    pub fn is_change(self) -> bool {
        self != Action::Unchanged
    }
}

impl From<runner_certs::RootStatus> for Action {
    fn from(status: runner_certs::RootStatus) -> Self {
        match status {
            runner_certs::RootStatus::Created => Action::Created,
            runner_certs::RootStatus::Loaded => Action::Unchanged,
        }
    }
}

impl From<runner_certs::IntermediateStatus> for Action {
    fn from(status: runner_certs::IntermediateStatus) -> Self {
        match status {
            runner_certs::IntermediateStatus::Created => Action::Created,
            runner_certs::IntermediateStatus::Rotated => Action::Configured,
            runner_certs::IntermediateStatus::Reused => Action::Unchanged,
        }
    }
}

/// What a plan says of a CA it would make ("would rotate intermediate CA certs/east").
fn planned_ca_phrase(what: &str, action: Action) -> String {
    let verb = match action {
        Action::Configured => "rotate",
        _ => "create",
    };
    format!("would {verb} {what}")
}

/// Counts of object actions, per step or per cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub created: u64,
    pub configured: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

impl Changes {
    fn add(&mut self, action: Action) {
        match action {
            Action::Created => self.created += 1,
            Action::Configured => self.configured += 1,
            Action::Unchanged => self.unchanged += 1,
            Action::Deleted => self.deleted += 1,
        }
    }
    fn absorb(&mut self, other: &Changes) {
        self.created += other.created;
        self.configured += other.configured;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
    }

    pub fn changed(&self) -> u64 {
        self.created + self.configured + self.deleted
    }
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Changed,
    Failed,
    Interrupted,
}

/// The name of the pseudo-host for steps that touch no cluster (files, certificates).
pub(crate) const LOCAL_HOST: &str = "local";

struct StepFrame {
    name: String,
    started: Instant,
    changes: Changes,
    clusters: BTreeMap<String, Changes>,
    local_change: bool,
    /// Local files and certificates, counted like objects.
    local: Changes,
}

#[derive(Default)]
struct State {
    steps: Vec<StepFrame>,
    recap: Recap,
    targets: BTreeSet<String>,
    skipped: u64,
    /// When the run last changed an object in a cluster (watch mode's latency).
    last_change: Option<std::time::SystemTime>,
    /// Changed objects of this run, per cluster (watch mode's summary).
    changed: BTreeMap<String, Changes>,
    /// Local files and certificates a dry run would write.
    planned_local: Vec<(String, Action)>,
    /// Every object event of a dry run, in order.
    planned: Vec<PlanRow>,
    dry_run: bool,
    /// Name, context and server of each cluster the run touched, in order.
    target_list: Vec<(String, String, String)>,
    /// Warnings already printed in this run: each is printed once.
    warned: BTreeSet<String>,
}

pub struct Reporter {
    mode: OutputMode,
    /// Watch mode re-runs: only changes, warnings and errors; no step headers or recap.
    compact: std::sync::atomic::AtomicBool,
    /// Spinners for running steps and waits, on stderr when it is a terminal.
    spinners: Option<indicatif::MultiProgress>,
    step_spinners: Mutex<Vec<indicatif::ProgressBar>>,
    color: bool,
    state: Mutex<State>,
    started: Instant,
    /// How much of a plan follows its table.
    diff_mode: Mutex<DiffMode>,
    /// A dry run's human output, held back until the plan's table is printed first.
    held: Mutex<Option<Vec<plan::Buffered>>>,
    /// Prints nothing: the plan made before a run's first write is shown by its caller.
    silent: std::sync::atomic::AtomicBool,
    /// `--limit`: the clusters the play may change (empty: all).
    limit: Mutex<Vec<String>>,
}

impl Reporter {
    pub fn new(mode: OutputMode) -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some();
        Reporter {
            mode,
            compact: std::sync::atomic::AtomicBool::new(false),
            spinners: (std::io::stderr().is_terminal() && mode == OutputMode::Human).then(|| {
                indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
            }),
            step_spinners: Mutex::new(Vec::new()),
            color: !no_color && std::io::stdout().is_terminal(),
            state: Mutex::new(State::default()),
            started: Instant::now(),
            diff_mode: Mutex::new(DiffMode::default_for(std::io::stdout().is_terminal())),
            held: Mutex::new(None),
            silent: std::sync::atomic::AtomicBool::new(false),
            limit: Mutex::new(Vec::new()),
        }
    }

    /// `--limit`: objects of other clusters are reported as skipped, not as changes.
    pub fn set_limit(&self, clusters: &[String]) {
        *self
            .limit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = clusters.to_vec();
    }

    fn outside_limit(&self, cluster: &str) -> bool {
        let limit = self
            .limit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !limit.is_empty() && !limit.iter().any(|c| c == cluster)
    }

    pub fn mode(&self) -> OutputMode {
        self.mode
    }

    pub fn set_compact(&self, compact: bool) {
        self.compact
            .store(compact, std::sync::atomic::Ordering::Relaxed);
    }

    fn compact(&self) -> bool {
        self.compact.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When this run last changed an object, and what it changed per cluster.
    pub fn changes_of_run(&self) -> (Option<std::time::SystemTime>, BTreeMap<String, Changes>) {
        let state = self.state();
        (state.last_change, state.changed.clone())
    }

    /// Prints a line as it is (watch mode's summaries).
    pub fn say(&self, text: &str) {
        match self.mode {
            OutputMode::Json => {
                self.emit(json!({"event": "log", "step": self.current_step(), "message": text}));
            }
            OutputMode::Human => self.line(text),
        }
    }

    /// Prints a line for people only; JSON output carries the same facts as an event.
    pub fn say_human(&self, text: &str) {
        if self.mode == OutputMode::Human {
            self.line(text);
        }
    }

    /// Emits a JSON event (no-op for human output).
    pub fn event(&self, event: Value) {
        if self.mode == OutputMode::Json {
            self.emit(event);
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Collects a plan without printing anything (see `silent`).
    pub fn set_silent(&self) {
        self.silent
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn is_silent(&self) -> bool {
        self.silent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The clusters the run touched: name, context and server.
    pub fn targets(&self) -> Vec<(String, String, String)> {
        self.state().target_list.clone()
    }

    fn emit(&self, event: Value) {
        if self.is_silent() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, &event);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Vec<plan::Buffered>>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `--diff`: how much of a plan follows its table.
    pub fn set_diff_mode(&self, mode: DiffMode) {
        *self
            .diff_mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mode;
    }

    fn diff_mode(&self) -> DiffMode {
        *self
            .diff_mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a dry run found anything to change (objects or local files).
    pub fn changes_planned(&self) -> bool {
        let state = self.state();
        !state.planned_local.is_empty()
            || plan::collapse(&state.planned)
                .iter()
                .any(|r| r.action.is_change())
    }

    /// The table a plan starts with.
    pub fn plan_table(&self) -> String {
        let state = self.state();
        plan::table(&plan::collapse(&state.planned), &state.planned_local)
    }

    fn line(&self, text: &str) {
        if let Some(held) = self.held().as_mut() {
            held.push(plan::Buffered::Line(text.to_string()));
            return;
        }
        self.print_line(text);
    }

    fn print_line(&self, text: &str) {
        if self.is_silent() {
            return;
        }
        let write = || {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        };
        match &self.spinners {
            // Spinners are cleared while the line is written, then drawn again.
            Some(spinners) => spinners.suspend(write),
            None => write(),
        }
    }

    /// A spinner with a message and the elapsed time, if stderr is a terminal.
    pub(crate) fn spinner(&self, message: String) -> Option<indicatif::ProgressBar> {
        if self.is_silent() {
            return None;
        }
        let spinners = self.spinners.as_ref()?;
        let bar = spinners.add(indicatif::ProgressBar::new_spinner());
        if let Ok(style) = indicatif::ProgressStyle::with_template("  {spinner} {msg} ({elapsed})")
        {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(bar)
    }

    /// Forgets everything from a previous run (watch mode reuses the reporter).
    pub fn reset(&self) {
        let mut state = self.state();
        // A watch re-run does not repeat the warnings an earlier run printed.
        let warned = std::mem::take(&mut state.warned);
        *state = State {
            warned,
            ..State::default()
        };
    }

    pub fn play_started(&self, playbook: &str, dry_run: bool) {
        self.state().dry_run = dry_run;
        match self.mode {
            OutputMode::Json => self
                .emit(json!({"event": "play_started", "playbook": playbook, "dry_run": dry_run})),
            OutputMode::Human if self.compact() => {}
            OutputMode::Human => {
                self.line(&human::play_header(playbook, dry_run, self.color));
                if dry_run {
                    *self.held() = Some(Vec::new());
                }
            }
        }
    }

    /// Lists a cluster the play declared, with its preflight's verdict, before the first step.
    pub fn target_checked(&self, cluster: &str, context: &str, server: &str, ok: bool) {
        self.register_target(cluster, context, server);
        let verdict = if ok { "ok" } else { "failed" };
        match self.mode {
            OutputMode::Human if self.compact() && ok => {}
            OutputMode::Json => self.emit(json!({"event": "target", "cluster": cluster, "context": context, "server": server, "preflight": verdict})),
            OutputMode::Human => self.line(&format!(
                "TARGET {cluster}  context={context}  server={server}  preflight {}",
                if ok { "ok" } else { "FAILED" }
            )),
        }
    }

    /// Says which cluster a play is about to change, once per cluster: clusters the preflight
    /// listed are not listed again.
    pub fn target(&self, cluster: &str, context: &str, server: &str) {
        if !self.register_target(cluster, context, server) {
            return;
        }
        match self.mode {
            OutputMode::Human if self.compact() => {}
            OutputMode::Json => self.emit(json!({"event": "target", "cluster": cluster, "context": context, "server": server, "preflight": null})),
            OutputMode::Human => self.line(&format!("TARGET {cluster}  context={context}  server={server}")),
        }
    }

    /// Whether the cluster is new to this run's list of targets.
    fn register_target(&self, cluster: &str, context: &str, server: &str) -> bool {
        let mut state = self.state();
        if !state.targets.insert(cluster.to_string()) {
            return false;
        }
        state
            .target_list
            .push((cluster.into(), context.into(), server.into()));
        true
    }

    pub fn step_started(&self, name: &str) {
        let depth = {
            let mut state = self.state();
            state.steps.push(StepFrame {
                name: name.to_string(),
                started: Instant::now(),
                changes: Changes::default(),
                clusters: BTreeMap::new(),
                local_change: false,
                local: Changes::default(),
            });
            state.steps.len()
        };
        if let Some(bar) = self.spinner(format!("step [{name}]")) {
            self.step_spinners
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(bar);
        }
        match self.mode {
            OutputMode::Json => self.emit(json!({"event": "step_started", "step": name})),
            OutputMode::Human if self.compact() => {}
            OutputMode::Human => self.line(&human::step_header(name, depth, self.color)),
        }
    }

    pub fn step_skipped(&self, name: &str, why: &str) {
        self.state().skipped += 1;
        match self.mode {
            OutputMode::Json => {
                self.emit(json!({"event": "step_skipped", "step": name, "reason": why}));
            }
            OutputMode::Human if self.compact() => {}
            OutputMode::Human => self.line(&format!("STEP [{name}] skipped ({why})")),
        }
    }

    /// The name of the innermost running step, if any.
    pub fn current_step(&self) -> Option<String> {
        self.state().steps.last().map(|s| s.name.clone())
    }

    /// Ends the innermost step and returns how it ended.
    pub fn step_finished(&self, failure: Option<&str>, interrupted: bool) -> StepStatus {
        let (frame, status) = {
            let mut state = self.state();
            let Some(frame) = state.steps.pop() else {
                return StepStatus::Ok;
            };
            if let Some(bar) = self
                .step_spinners
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop()
            {
                bar.finish_and_clear();
            }
            let status = if interrupted {
                StepStatus::Interrupted
            } else if failure.is_some() {
                StepStatus::Failed
            } else if frame.changes.changed() > 0 || frame.local_change {
                StepStatus::Changed
            } else {
                StepStatus::Ok
            };
            state.recap.record_step(
                &frame.clusters,
                (frame.local != Changes::default()).then_some(&frame.local),
                &status,
            );
            // A nested step's work also belongs to the step around it.
            if let Some(parent) = state.steps.last_mut() {
                for (cluster, changes) in &frame.clusters {
                    parent
                        .clusters
                        .entry(cluster.clone())
                        .or_default()
                        .absorb(changes);
                    parent.changes.absorb(changes);
                }
                parent.local_change |= frame.local_change;
                parent.local.absorb(&frame.local);
            }
            (frame, status)
        };
        let duration = frame.started.elapsed();
        let clusters: Vec<&String> = frame.clusters.keys().collect();
        // What a person reads: the hosts it changed, `local` included, and their counters.
        let local = LOCAL_HOST.to_string();
        let mut changed_hosts: Vec<&String> = (frame.clusters.iter())
            .filter(|(_, c)| c.changed() > 0)
            .map(|(name, _)| name)
            .collect();
        if frame.local.changed() > 0 {
            changed_hosts.push(&local);
        }
        let mut counted = frame.changes;
        counted.absorb(&frame.local);
        match self.mode {
            OutputMode::Json => self.emit(json!({
                "event": "step_finished",
                "step": frame.name,
                "status": status,
                "clusters": clusters,
                "changes": frame.changes,
                "duration_ms": duration.as_millis() as u64,
                "error": failure,
            })),
            OutputMode::Human if self.compact() => {}
            OutputMode::Human => self.line(&human::step_footer(
                &status,
                &changed_hosts,
                &counted,
                duration,
                self.color,
            )),
        }
        status
    }

    /// Records that the current step used `cluster` without necessarily changing it.
    pub fn touch(&self, cluster: &str) {
        let mut state = self.state();
        if let Some(frame) = state.steps.last_mut() {
            frame.clusters.entry(cluster.to_string()).or_default();
        } else {
            state.recap.touch(cluster);
        }
    }

    /// Records what happened to one object in one cluster.
    pub fn object(
        &self,
        cluster: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        action: Action,
        dry_run: bool,
    ) {
        if self.outside_limit(cluster) {
            self.skipped_object(cluster, kind, namespace, name, action);
            return;
        }
        {
            let mut state = self.state();
            if action.is_change() && !dry_run {
                state.last_change = Some(std::time::SystemTime::now());
            }
            state
                .changed
                .entry(cluster.to_string())
                .or_default()
                .add(action);
            if dry_run {
                state.planned.push(PlanRow {
                    cluster: cluster.to_string(),
                    kind: kind.to_string(),
                    namespace: namespace.map(str::to_string),
                    name: name.to_string(),
                    action,
                });
            }
            if let Some(frame) = state.steps.last_mut() {
                frame.changes.add(action);
                frame
                    .clusters
                    .entry(cluster.to_string())
                    .or_default()
                    .add(action);
            } else {
                state.recap.record_loose_object(cluster, action);
            }
        }
        match self.mode {
            OutputMode::Json => self.emit(json!({
                "event": "object",
                "cluster": cluster,
                "kind": kind,
                "namespace": namespace,
                "name": name,
                "action": action,
                "dry_run": dry_run,
            })),
            OutputMode::Human => {
                if action.is_change() {
                    self.line(&human::object_line(
                        cluster, kind, namespace, name, action, dry_run, self.color,
                    ));
                }
            }
        }
    }

    /// An object of a cluster `--limit` leaves out: `action` is what the play would have done.
    fn skipped_object(
        &self,
        cluster: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        action: Action,
    ) {
        {
            let mut state = self.state();
            state.recap.record_skipped(cluster, action);
            if let Some(frame) = state.steps.last_mut() {
                frame.clusters.entry(cluster.to_string()).or_default();
            }
        }
        match self.mode {
            OutputMode::Json => self.emit(json!({
                "event": "object",
                "cluster": cluster,
                "kind": kind,
                "namespace": namespace,
                "name": name,
                "action": "skipped",
                "would_be": action,
                "dry_run": false,
            })),
            OutputMode::Human if action.is_change() => self.line(&human::skipped_object_line(
                cluster, kind, namespace, name, action, self.color,
            )),
            OutputMode::Human => {}
        }
    }

    /// Records a local change (a file or certificate written) in the current step.
    pub fn local_change(&self, what: &str, action: Action) {
        {
            let mut state = self.state();
            if let Some(frame) = state.steps.last_mut() {
                frame.local_change |= action.is_change();
                frame.local.add(action);
            } else {
                state.recap.record_loose_object(LOCAL_HOST, action);
            }
        }
        match self.mode {
            OutputMode::Json => {
                self.emit(json!({"event": "local", "what": what, "action": action}));
            }
            OutputMode::Human => {
                if action.is_change() {
                    self.line(&format!("  {:<10} {}", action.as_str(), what));
                }
            }
        }
    }

    /// What a dry run would do to a local file or certificate: `phrase` says it ("would write
    /// file rendered/x.yaml"); nothing was written.
    pub fn planned_local_change(&self, phrase: &str, what: &str, action: Action) {
        {
            let mut state = self.state();
            if let Some(frame) = state.steps.last_mut() {
                frame.local_change |= action.is_change();
                frame.local.add(action);
            } else {
                state.recap.record_loose_object(LOCAL_HOST, action);
            }
            if action.is_change() {
                state.planned_local.push((what.to_string(), action));
            }
        }
        match self.mode {
            OutputMode::Json => self
                .emit(json!({"event": "local", "what": what, "action": action, "dry_run": true})),
            OutputMode::Human => {
                if action.is_change() {
                    self.line(&format!("  {phrase}"));
                }
            }
        }
    }

    /// A file a run wrote (or left as it was), or (`planned`) what a plan would do to it.
    pub fn file_change(&self, what: &str, action: Action, planned: bool) {
        if planned {
            self.planned_local_change(&format!("would write {what}"), what, action);
        } else {
            self.local_change(what, action);
        }
    }

    /// A CA created, rotated or reused by a run, or (`planned`) what a plan would do to it.
    pub fn ca_change(&self, what: &str, action: Action, planned: bool) {
        if planned {
            self.planned_local_change(&planned_ca_phrase(what, action), what, action);
        } else {
            self.local_change(what, action);
        }
    }

    /// Reports a warning, once per run however often it is raised.
    pub fn warn(&self, message: &str) {
        self.warn_as(message, false);
    }

    /// A warning that concerns real clusters only (a loopback address, an empty caBundle):
    /// in a rehearsal it is expected, and said so.
    pub fn warn_real_clusters(&self, message: &str, sandbox: bool) {
        self.warn_as(message, sandbox);
    }

    fn warn_as(&self, message: &str, expected_in_sandbox: bool) {
        if !self.state().warned.insert(message.to_string()) {
            return;
        }
        match self.mode {
            OutputMode::Json => self.emit(json!({
                "event": "warning",
                "step": self.current_step(),
                "message": message,
                "expected_in_sandbox": expected_in_sandbox,
            })),
            OutputMode::Human if expected_in_sandbox => {
                self.line(&human::expected_warning(message, self.color));
            }
            OutputMode::Human => self.line(&human::warning(message, self.color)),
        }
    }

    pub fn log(&self, message: &str) {
        match self.mode {
            OutputMode::Json => {
                self.emit(json!({"event": "log", "step": self.current_step(), "message": message}));
            }
            OutputMode::Human => self.line(&format!("  {message}")),
        }
    }

    /// Shows what a dry run would change in one object (Secret data already masked).
    pub fn diff(&self, cluster: &str, object: &str, diff: &str) {
        if self.diff_mode() != DiffMode::Full || self.outside_limit(cluster) {
            return;
        }
        match self.mode {
            OutputMode::Json => self
                .emit(json!({"event": "diff", "cluster": cluster, "object": object, "diff": diff})),
            OutputMode::Human => {
                let mut text =
                    format!("  --- {cluster} {object} (live)\n  +++ {cluster} {object} (planned)");
                for l in diff.lines() {
                    text.push_str("\n  ");
                    text.push_str(l);
                }
                match self.held().as_mut() {
                    Some(held) => held.push(plan::Buffered::Diff(text)),
                    None => self.print_line(&text),
                }
            }
        }
    }

    /// Prints a dry run's table, then what `--diff` asks for of the output held back.
    fn release_plan(&self) {
        let Some(held) = self.held().take() else {
            return;
        };
        self.print_line(&self.plan_table());
        let mode = self.diff_mode();
        if mode == DiffMode::None {
            return;
        }
        for item in held {
            match item {
                plan::Buffered::Line(text) | plan::Buffered::Diff(text) => self.print_line(&text),
            }
        }
    }

    /// Shows progress for a wait until the guard is dropped or finished.
    pub fn wait(&self, what: &str) -> WaitGuard<'_> {
        WaitGuard::start(self, what)
    }

    /// The error event of `--output json`: the message, the step, and where in which file.
    pub fn error(&self, failure: &crate::diagnostic::Failure) {
        if self.mode != OutputMode::Json {
            return;
        }
        let (file, line, column) = failure.position();
        let (cluster, object, code) = match failure.kind.root() {
            crate::error::ErrorKind::ApiStatus(status) => (
                Some(&status.cluster).filter(|c| !c.is_empty()),
                Some(&status.object).filter(|o| !o.is_empty()),
                Some(status.code),
            ),
            _ => (None, None, None),
        };
        self.emit(json!({
            "event": "error",
            "kind": failure.kind.name(),
            "step": failure.step(),
            "message": failure.one_line(),
            "file": file,
            "line": line,
            "column": column,
            "cluster": cluster,
            "object": object,
            "http_status": code,
        }));
    }

    /// Ends the play: prints the recap and returns it.
    pub fn play_finished(&self, success: bool, interrupted: bool) -> Recap {
        let (recap, skipped) = {
            let mut state = self.state();
            state.recap.finish(success);
            (state.recap.clone(), state.skipped)
        };
        let duration = self.started.elapsed();
        self.release_plan();
        if self.mode == OutputMode::Json && self.state().dry_run {
            let (rows, local) = {
                let state = self.state();
                (plan::collapse(&state.planned), state.planned_local.clone())
            };
            let changes: Vec<&PlanRow> = rows.iter().filter(|r| r.action.is_change()).collect();
            let local: Vec<Value> = local
                .iter()
                .map(|(what, action)| json!({"what": what, "action": action}))
                .collect();
            self.emit(json!({
                "event": "plan",
                "changes": changes,
                "unchanged": rows.len() - changes.len(),
                "local": local,
            }));
        }
        match self.mode {
            OutputMode::Json => self.emit(json!({
                "event": "play_finished",
                "status": if interrupted { "interrupted" } else if success { "ok" } else { "failed" },
                "recap": recap.hosts(),
                "skipped_steps": skipped,
                "duration_ms": duration.as_millis() as u64,
            })),
            OutputMode::Human if self.compact() => {}
            OutputMode::Human => self.line(&human::recap(&recap, skipped, duration, self.color)),
        }
        recap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runner_certs::{IntermediateStatus, RootStatus};

    #[test]
    fn ca_statuses_report_as_actions() {
        assert_eq!(Action::from(RootStatus::Created), Action::Created);
        assert_eq!(Action::from(RootStatus::Loaded), Action::Unchanged);
        assert_eq!(Action::from(IntermediateStatus::Created), Action::Created);
        assert_eq!(
            Action::from(IntermediateStatus::Rotated),
            Action::Configured
        );
        assert_eq!(Action::from(IntermediateStatus::Reused), Action::Unchanged);
    }

    #[test]
    fn a_plan_says_it_would_create_or_rotate_a_ca() {
        let what = "intermediate CA certs/east";
        assert_eq!(
            planned_ca_phrase(what, Action::Created),
            "would create intermediate CA certs/east"
        );
        assert_eq!(
            planned_ca_phrase(what, Action::Configured),
            "would rotate intermediate CA certs/east"
        );
    }
}
