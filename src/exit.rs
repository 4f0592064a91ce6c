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

/// The exit code the README documents for a failure of this kind: 2 usage, 130 interrupted,
/// 1 anything else.
pub(crate) fn code_of(kind: &ErrorKind) -> u8 {
    match kind.root() {
        ErrorKind::Usage => EXIT_USAGE,
        ErrorKind::Interrupted => EXIT_INTERRUPTED,
        _ => EXIT_FAILED,
    }
}

/// Whether errors on stderr are coloured (a terminal, and NO_COLOR unset).
pub(crate) fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Prints an error found before anything ran (bad arguments, missing files) as a usage error.
pub(crate) fn usage_error(error: HostError) -> ExitCode {
    let failure = Failure::from_host(error.with_kind(ErrorKind::Usage));
    eprint!("{}", failure.render(color()));
    ExitCode::from(code_of(&failure.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_exits_by_its_root_kind() {
        let interrupted_in_a_step = ErrorKind::StepFailed {
            step: "outer".into(),
            cause: Box::new(ErrorKind::StepFailed {
                step: "inner".into(),
                cause: Box::new(ErrorKind::Interrupted),
            }),
        };
        assert_eq!(code_of(&interrupted_in_a_step), EXIT_INTERRUPTED);
        assert_eq!(code_of(&ErrorKind::Usage), EXIT_USAGE);
        assert_eq!(code_of(&ErrorKind::Template), EXIT_FAILED);
    }
}
