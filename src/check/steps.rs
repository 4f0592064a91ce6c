//! `runner play PLAYBOOK --list-steps`: the steps a playbook names, in play order, found in its
//! scripts without running them (like `ansible-playbook --list-tasks`), so no cluster is touched.

use crate::error::ErrorKind;
use std::path::{Path, PathBuf};

use rhai::{ASTNode, Expr, Stmt};
use serde::Serialize;

use super::Source;

/// A `step("name", ...)` call found in a script.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ListedStep {
    /// `None` when the name is computed at run time.
    pub name: Option<String>,
    pub file: PathBuf,
    pub line: usize,
    /// Inside an `if`: whether it runs depends on the variables.
    pub conditional: bool,
}

/// The steps of the playbook's own file in the order they appear, then those of its modules.
pub(crate) fn listed_steps(playbook: &Path, sources: &[Source]) -> Vec<ListedStep> {
    let (main, modules): (Vec<&Source>, Vec<&Source>) =
        sources.iter().partition(|s| s.file == playbook);
    let mut all = Vec::new();
    for source in main.into_iter().chain(modules) {
        let mut found = Vec::new();
        source.ast.walk(&mut |path: &[ASTNode]| {
            let call = match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(call, pos))) => Some((call, pos)),
                Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => Some((call, pos)),
                _ => None,
            };
            if let Some((call, pos)) = call {
                if call.name == "step" && call.args.len() == 2 && call.namespace.is_empty() {
                    let name = match &call.args[0] {
                        Expr::StringConstant(s, _) => Some(s.to_string()),
                        _ => None,
                    };
                    let conditional = path[..path.len() - 1]
                        .iter()
                        .any(|n| matches!(n, ASTNode::Stmt(Stmt::If(..))));
                    found.push(ListedStep {
                        name,
                        file: source.file.clone(),
                        line: pos.line().unwrap_or(0),
                        conditional,
                    });
                }
            }
            true
        });
        // Closures are walked after the statements around them: the line gives the play order.
        found.sort_by_key(|s| s.line);
        all.extend(found);
    }
    all
}

/// The names of the steps when every one is known without running: `--only` and `--start-at`
/// are checked against them before the first step.
pub(super) fn known_names(steps: &[ListedStep]) -> Option<Vec<&str>> {
    steps.iter().map(|s| s.name.as_deref()).collect()
}

/// `--only` and `--start-at` names that are none of `known`, the play's steps in play order.
pub(crate) fn selection_error(
    options: &crate::context::PlayOptions,
    known: &[&str],
) -> Option<crate::diagnostic::Failure> {
    let mut wanted: Vec<&String> = options.only.iter().collect();
    wanted.extend(options.start_at.iter());
    let missing: Vec<String> = (wanted.iter())
        .filter(|w| !known.contains(&w.as_str()))
        .map(|m| format!("{m:?}"))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut failure = crate::diagnostic::Failure::plain(
        ErrorKind::Playbook,
        format!("no step named {} in this play", missing.join(", ")),
    );
    failure.hint = Some(if known.is_empty() {
        "this play has no steps".to_string()
    } else {
        format!("steps of this play, in play order: {}", known.join(", "))
    });
    Some(failure)
}

/// Prints the steps (`--output json`: one `steps` event).
pub(super) fn print(playbook: &Path, steps: &[ListedStep], mode: crate::report::OutputMode) {
    if mode == crate::report::OutputMode::Json {
        let event = serde_json::json!({"event": "steps", "playbook": playbook, "steps": steps});
        crate::stdout::line(event);
        return;
    }
    crate::stdout::line(format_args!(
        "STEPS of {} (in play order)",
        playbook.display()
    ));
    let shown = |step: &ListedStep| step.name.clone().unwrap_or("(named at run time)".into());
    let width = steps.iter().map(|s| shown(s).len()).max().unwrap_or(0);
    for (index, step) in steps.iter().enumerate() {
        let name = shown(step);
        let mut line = format!(
            "{:>3}. {name:<width$}  {}:{}",
            index + 1,
            step.file.display(),
            step.line
        );
        if step.conditional {
            line.push_str("  (runs when its condition holds)");
        }
        crate::stdout::line(line.trim_end());
    }
    if steps.is_empty() {
        crate::stdout::line("(no steps)");
    }
}
