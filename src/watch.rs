//! Watch mode: run the play, then re-run it whenever a file it read changes.
//!
//! A change during a run does not cancel it (a half-applied cluster is worse than a late one):
//! it queues exactly one more run, which starts as soon as the current one ends.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult};
use serde_json::json;

use crate::context::PlayContext;
use crate::error::HostError;
use crate::play::Outcome;
use crate::report::human::format_duration;

/// Quiet time after the last file event before a re-run starts: editors write in bursts.
const DEBOUNCE: Duration = Duration::from_millis(25);

enum Wake {
    Files(DebounceEventResult),
    Stop,
}

/// What triggered a run: the first changed file and when it was saved.
struct Trigger {
    file: PathBuf,
    saved: SystemTime,
}

/// What watch mode takes from the command line.
pub(crate) struct WatchInputs {
    pub playbook: PathBuf,
    /// `--vars FILE`, watched and read again before each re-run (with the playbook's defaults).
    pub vars_files: Vec<PathBuf>,
    /// `--var KEY=VALUE`, applied again over the files' variables on each re-run.
    pub assignments: Vec<String>,
    /// `--watch-path`: more files to watch, or directories whose files are watched.
    pub watch_paths: Vec<PathBuf>,
}

impl WatchInputs {
    fn load_vars(&self) -> Result<serde_json::Value, HostError> {
        crate::vars::for_playbook(&self.playbook, &self.vars_files, &self.assignments)
            .map(|v| v.value)
    }
}

/// Runs the play, then again on every change, until Ctrl-C. `Err`: files cannot be watched at
/// all (before the first run).
pub(crate) fn run(
    args: WatchInputs,
    ctx: Arc<PlayContext>,
    engine: Arc<rhai::Engine>,
    rt: &tokio::runtime::Runtime,
) -> Result<ExitCode, HostError> {
    let (tx, rx) = mpsc::channel::<Wake>();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (tx, stop, ctx) = (tx.clone(), stop.clone(), ctx.clone());
        rt.spawn(async move {
            loop {
                crate::signals::interrupted().await;
                stop.store(true, Ordering::SeqCst);
                ctx.cancel();
                let _ = tx.send(Wake::Stop);
            }
        });
    }
    let handler_tx = tx.clone();
    let mut debouncer = match new_debouncer(DEBOUNCE, None, move |result| {
        let _ = handler_tx.send(Wake::Files(result));
    }) {
        Ok(d) => d,
        Err(e) => {
            return Err(HostError::new(format!("cannot watch files: {e}")));
        }
    };
    let mut watched_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut trigger: Option<Trigger> = None;
    loop {
        // Only the first run has no trigger.
        let first = trigger.is_none();
        ctx.ledger.start_run(!first);
        ctx.reporter.set_compact(!first);
        if let Some(t) = &trigger {
            ctx.reporter
                .say_human(&format!("\n▶ {} changed", ctx.project.show(&t.file)));
        }
        // Ctrl-C is handled by the watch loop, which cancels the context.
        let outcome = rt.block_on(crate::play::run_on_blocking_thread(
            ctx.clone(),
            engine.clone(),
        ));
        // The run listed (or pruned) its orphans itself, as every run does.
        let summary = ctx.last_run.lock().map(|s| s.clone()).unwrap_or_default();
        summarize(&ctx, &outcome, trigger.as_ref(), &summary);
        if stop.load(Ordering::SeqCst) || matches!(outcome, Outcome::Interrupted(_)) {
            ctx.reporter.say("watch stopped");
            return Ok(ExitCode::SUCCESS);
        }
        let files = watch_set(&ctx, &args);
        for dir in files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
        {
            if watched_dirs.insert(dir.clone()) {
                if let Err(e) = debouncer.watch(&dir, RecursiveMode::NonRecursive) {
                    ctx.reporter
                        .warn(&format!("cannot watch {}: {e}", dir.display()));
                }
            }
        }
        if first {
            banner(&ctx, &files);
        }
        trigger = match next_change(&ctx, &args, &rx, &files) {
            Some(t) => Some(t),
            None => {
                ctx.reporter.say("watch stopped");
                return Ok(ExitCode::SUCCESS);
            }
        };
    }
}

/// Waits for a change to a file of the run (changes that arrived during the run count) whose
/// variables load; a broken vars file is reported and waited out. None: stop watching.
fn next_change(
    ctx: &PlayContext,
    args: &WatchInputs,
    rx: &mpsc::Receiver<Wake>,
    files: &BTreeSet<PathBuf>,
) -> Option<Trigger> {
    loop {
        let trigger = wait_for_change(ctx, rx, files)?;
        // Fold the rest of a burst into this run.
        while let Ok(wake) = rx.try_recv() {
            if let Wake::Stop = wake {
                return None;
            }
        }
        match args.load_vars() {
            Ok(vars) => {
                ctx.reset_for_run(vars);
                return Some(trigger);
            }
            Err(error) => {
                let failure = crate::diagnostic::Failure::from_host(error);
                ctx.reporter.error(&failure);
                eprint!("{}", failure.render(false));
                ctx.reporter.say("not run: waiting for the next change");
            }
        }
    }
}

fn wait_for_change(
    ctx: &PlayContext,
    rx: &mpsc::Receiver<Wake>,
    files: &BTreeSet<PathBuf>,
) -> Option<Trigger> {
    loop {
        match rx.recv() {
            Ok(Wake::Stop) | Err(_) => return None,
            Ok(Wake::Files(Err(errors))) => {
                for e in errors {
                    ctx.reporter.warn(&format!("file watching: {e}"));
                }
            }
            Ok(Wake::Files(Ok(events))) => {
                let seen = SystemTime::now();
                let changed = events
                    .iter()
                    .filter(|e| e.kind.is_modify() || e.kind.is_create() || e.kind.is_remove())
                    .flat_map(|e| e.paths.iter())
                    .find(|p| files.contains(*p));
                if let Some(file) = changed {
                    // The save itself, not the (debounced) notice of it, starts the clock.
                    let saved = std::fs::metadata(file)
                        .and_then(|m| m.modified())
                        .ok()
                        .filter(|t| *t <= seen)
                        .unwrap_or(seen);
                    return Some(Trigger {
                        file: file.clone(),
                        saved,
                    });
                }
            }
        }
    }
}

fn banner(ctx: &PlayContext, files: &BTreeSet<PathBuf>) {
    ctx.reporter.say_human(&format!(
        "\nwatching {} file(s); Ctrl-C to stop",
        files.len()
    ));
    ctx.reporter.event(json!({
        "event": "watching",
        "files": files.iter().map(|f| ctx.project.show(f)).collect::<Vec<_>>(),
    }));
}

/// Every file the run read, plus --watch-path extras, the vars files and the playbook's vars
/// schema, minus what it wrote.
fn watch_set(ctx: &PlayContext, args: &WatchInputs) -> BTreeSet<PathBuf> {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let mut files: BTreeSet<PathBuf> = ctx.files_read.lock().map(|f| f.clone()).unwrap_or_default();
    files.extend(args.vars_files.iter().map(|p| canonical(p)));
    if let Some(defaults) = crate::vars::defaults_file(&args.playbook) {
        files.insert(canonical(&defaults));
    }
    // A schema edit can make the same variables valid or invalid, so it re-runs the play too.
    if let Some(schema) = crate::vars::schema::file_beside(&args.playbook).filter(|f| f.is_file()) {
        files.insert(canonical(&schema));
    }
    for extra in &args.watch_paths {
        let path = canonical(extra);
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                files.extend(entries.flatten().map(|e| e.path()));
            }
        } else {
            files.insert(path);
        }
    }
    let written = ctx
        .files_written
        .lock()
        .map(|w| w.clone())
        .unwrap_or_default();
    files.retain(|f| !written.contains(f));
    files.into_iter().map(|f| canonical(&f)).collect()
}

/// One compact block per re-run: the trigger, what changed where, and save-to-apply latency.
fn summarize(
    ctx: &PlayContext,
    outcome: &Outcome,
    trigger: Option<&Trigger>,
    summary: &crate::ledger::RunSummary,
) {
    let (last_change, changed) = ctx.reporter.changes_of_run();
    if let Outcome::Failed(failure) = outcome {
        eprint!("{}", failure.render(false));
    }
    let Some(trigger) = trigger else {
        return;
    };
    let clusters: Vec<String> = changed
        .iter()
        .filter(|(_, c)| c.changed() > 0)
        .map(|(cluster, c)| format!("{cluster}: {} changed", c.changed()))
        .collect();
    let latency = last_change.and_then(|t| t.duration_since(trigger.saved).ok());
    let status = match outcome {
        Outcome::Success(_) => "applied",
        Outcome::Failed(_) => "failed (nothing more applied; still watching)",
        Outcome::Interrupted(_) => "interrupted",
    };
    let what = if clusters.is_empty() {
        "no object changed".to_string()
    } else {
        clusters.join(", ")
    };
    let timing = latency
        .map(|l| format!(" · {} from save to last apply", format_duration(l)))
        .unwrap_or_default();
    ctx.reporter
        .say_human(&format!("  {status}: {what}{timing}"));
    ctx.reporter.event(json!({
        "event": "watch_run",
        "trigger": ctx.project.show(&trigger.file),
        "status": status,
        "latency_ms": latency.map(|l| l.as_millis() as u64),
        "orphans": summary.orphans.iter().map(std::string::ToString::to_string).collect::<Vec<_>>(),
    }));
}
