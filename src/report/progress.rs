//! Progress for waits: a spinner with the elapsed time on a terminal, plain lines otherwise.

use std::time::Instant;

use indicatif::ProgressBar;
use serde_json::json;

use super::{human::format_duration, OutputMode, Reporter};

pub struct WaitGuard<'a> {
    reporter: &'a Reporter,
    what: String,
    started: Instant,
    spinner: Option<ProgressBar>,
    finished: bool,
}

impl<'a> WaitGuard<'a> {
    pub(super) fn start(reporter: &'a Reporter, what: &str) -> Self {
        let spinner = reporter.spinner(format!("waiting for {what}"));
        if spinner.is_none() {
            match reporter.mode {
                OutputMode::Json => reporter.emit(json!({"event": "wait_started", "what": what})),
                OutputMode::Human => reporter.line(&format!("  waiting for {what}")),
            }
        }
        WaitGuard {
            reporter,
            what: what.to_string(),
            started: Instant::now(),
            spinner,
            finished: false,
        }
    }

    /// Ends the wait, saying whether it succeeded.
    pub fn finish(mut self, ok: bool) {
        self.end(ok);
    }

    fn end(&mut self, ok: bool) {
        if self.finished {
            return;
        }
        self.finished = true;
        let elapsed = self.started.elapsed();
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
        let outcome = if ok { "done" } else { "gave up" };
        match self.reporter.mode {
            OutputMode::Json => self.reporter.emit(json!({
                "event": "wait_finished",
                "what": self.what,
                "ok": ok,
                "duration_ms": elapsed.as_millis() as u64,
            })),
            OutputMode::Human => self.reporter.line(&format!(
                "  {outcome} waiting for {} ({})",
                self.what,
                format_duration(elapsed)
            )),
        }
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.end(false);
    }
}
