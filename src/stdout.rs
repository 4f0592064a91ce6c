//! Writing a command's output to standard output.
//!
//! `println!` panics when stdout is gone, as with `runner api | head`: the reader closed its end
//! and the write fails with a broken pipe. That is not runner's fault and not worth a report:
//! the rest of the output has nobody to read it, so it is dropped and the command goes on to
//! its own exit status (a sandbox keeps serving, a check still says whether it passed).

use std::fmt::Display;
use std::io::{ErrorKind, Write};

/// Writes `text` and a newline.
pub(crate) fn line(text: impl Display) {
    report(writeln!(std::io::stdout().lock(), "{text}"));
}

/// Writes `text` as it is.
pub(crate) fn text(text: impl Display) {
    let mut out = std::io::stdout().lock();
    report(write!(out, "{text}").and_then(|()| out.flush()));
}

/// Any failure but a reader that went away (a full disk, a revoked terminal) is said once per
/// write on stderr, since the output the user asked for is incomplete.
fn report(written: std::io::Result<()>) {
    if let Err(e) = written {
        if e.kind() != ErrorKind::BrokenPipe {
            eprintln!("runner: cannot write to standard output: {e}");
        }
    }
}
