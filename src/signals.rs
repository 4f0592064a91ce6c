//! The signals that stop a play: Ctrl-C (SIGINT) and SIGTERM (what `kill`, systemd and CI
//! runners send). Both take the same way out, so temporary files holding keys and tokens are
//! removed either way; SIGTERM's default action would end the process without destructors.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{signal, SignalKind};

static TERMINATED: AtomicBool = AtomicBool::new(false);

/// Resolves at the next SIGINT or SIGTERM; call it again for the next one.
pub(crate) async fn interrupted() {
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => TERMINATED.store(true, Ordering::Relaxed),
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Whether a SIGTERM stopped the play: it then exits 143 (128 + SIGTERM, as a shell reports a
/// program SIGTERM ended) rather than Ctrl-C's 130.
pub(crate) fn terminated() -> bool {
    TERMINATED.load(Ordering::Relaxed)
}
