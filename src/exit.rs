//! How runner ends: its exit codes, and how a usage error is shown before exiting with one.

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::diagnostic::Failure;
use crate::error::{ErrorKind, HostError};

pub(crate) const EXIT_FAILED: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
/// `--dry-run --detailed-exitcode`: the plan has changes (0: nothing would change).
pub(crate) const EXIT_CHANGES_PLANNED: u8 = 3;
pub(crate) const EXIT_INTERRUPTED: u8 = 130;
/// 128 + SIGTERM, as a shell reports a program SIGTERM ended.
pub(crate) const EXIT_TERMINATED: u8 = 143;

/// Whether errors on stderr are coloured (a terminal, and NO_COLOR unset).
pub(crate) fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Prints an error found before anything ran (bad arguments, missing files) as a usage error.
pub(crate) fn usage_error(error: HostError) -> ExitCode {
    let failure = Failure::from_host(error.with_kind(ErrorKind::Usage));
    eprint!("{}", failure.render(color()));
    ExitCode::from(failure.exit_code())
}
