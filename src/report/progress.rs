//! Progress for waits, quiet like kubectl's: a spinner with the elapsed time on a terminal;
//! otherwise one line when the wait ends, only if it lasted more than a second or gave up.

use std::time::Instant;

use indicatif::ProgressBar;
use serde_json::json;

use super::{human::format_duration, OutputMode, Reporter};

/// A wait shorter than this is not worth a line in a log.
const NOTICEABLE: std::time::Duration = std::time::Duration::from_secs(1);

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
        let shown = self
            .spinner
            .take()
            .map(|bar| bar.finish_and_clear())
            .is_some();
        match self.reporter.mode {
            OutputMode::Json => self.reporter.emit(json!({
                "event": "wait",
                "what": self.what,
                "ok": ok,
                "duration_ms": elapsed.as_millis() as u64,
            })),
            OutputMode::Human if !ok => self.reporter.line(&format!(
                "  gave up waiting for {} ({})",
                self.what,
                format_duration(elapsed)
            )),
            OutputMode::Human if !shown && elapsed > NOTICEABLE => self.reporter.line(&format!(
                "  waited {} for {}",
                format_duration(elapsed),
                self.what
            )),
            OutputMode::Human => {}
        }
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.end(false);
    }
}
