//! Before the first write to clusters that are not sandboxes, a person at a terminal sees the
//! targets and the plan and answers `Apply these changes? [y/N]`.
//!
//! Without a terminal nothing is asked and no plan is made first: a pipeline has nobody to
//! answer, and must not hang. It gates with `--dry-run --detailed-exitcode` and
//! `--allow-context` instead; the run still names each target before its first write.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use super::{finish, prepare, run_interruptible, PlayArgs};
use crate::engine;
use crate::exit::{usage_error, EXIT_FAILED};
use crate::play::Outcome;

/// Whether this run asks first: a real run (not a plan, not a rehearsal) without `--yes`, with
/// a person at the terminal. Watch mode asks once, before its first run.
pub(super) fn wanted(args: &PlayArgs) -> bool {
    !args.dry_run && !args.sandbox && !args.yes && std::io::stdin().is_terminal()
}

/// Plans the play (a dry run, printing nothing), shows its targets and table on stderr and
/// asks. `Err` carries the exit code when the run must not go on.
pub(super) fn plan_and_ask(args: &PlayArgs, rt: &tokio::runtime::Runtime) -> Result<(), ExitCode> {
    let mut plan_args = args.clone();
    plan_args.dry_run = true;
    let ctx = match prepare(&plan_args, rt, None) {
        Ok(ctx) => ctx,
        Err(e) => return Err(usage_error(e)),
    };
    ctx.reporter.set_silent();
    let engine = engine::build(&ctx);
    let outcome = rt.block_on(run_interruptible(ctx.clone(), engine));
    match outcome {
        Outcome::Success(_) => {}
        Outcome::Failed(_) => {
            eprintln!("runner: the plan made before applying failed; nothing was written");
            return Err(finish(outcome));
        }
        Outcome::Interrupted(_) => return Err(finish(outcome)),
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "Targets:");
    for (name, context, server) in ctx.reporter.targets() {
        let _ = writeln!(err, "  {name}  context={context}  server={server}");
    }
    let _ = writeln!(err, "{}", ctx.reporter.plan_table());
    if !ctx.reporter.changes_planned() {
        return Ok(());
    }
    let _ = write!(err, "Apply these changes? [y/N] ");
    let _ = err.flush();
    drop(err);
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if is_yes(&answer) {
        Ok(())
    } else {
        eprintln!("runner: not applied; nothing was written");
        Err(ExitCode::from(EXIT_FAILED))
    }
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_yes_applies() {
        for yes in ["y\n", "Y", " yes \n"] {
            assert!(super::is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "ja"] {
            assert!(!super::is_yes(no), "{no:?}");
        }
    }
}
