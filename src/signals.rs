//! The signals that stop a play: Ctrl-C (SIGINT) and SIGTERM (what `kill`, systemd and CI
//! runners send). Both take the same way out, so temporary files holding keys and tokens are
//! removed either way; SIGTERM's default action would end the process without destructors.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves at the next SIGINT or SIGTERM; call it again for the next one.
pub async fn interrupted() {
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
