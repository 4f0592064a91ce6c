//! How a step's error is reported: the failure it prints, and the mark that says which step
//! failed, on the error itself or (for Rhai's own errors) in the play's context.

use rhai::{Dynamic, EvalAltResult};

use crate::context::PlayContext;
use crate::diagnostic::Failure;
use crate::error::{ErrorKind, HostError};

/// Step `step` ended with `error`: returns what the step reports as its failure, and the error
/// to pass on. A host error is marked with the step itself (kind `StepFailed`; an outer step
/// keeps the inner one's mark), so a playbook that catches it and fails otherwise is not
/// blamed on the step. Rhai's own errors cannot carry a mark: the innermost step that ended
/// with one is remembered with the error's place in the script.
pub(crate) fn step_failed(
    ctx: &PlayContext,
    step: &str,
    mut error: Box<EvalAltResult>,
) -> (String, Box<EvalAltResult>) {
    let failure = Failure::from_eval(&error, &ctx.project.playbook, ctx.max_operations());
    let message = failure.one_line();
    if let EvalAltResult::ErrorRuntime(value, _) = innermost(&mut error) {
        if let Some(mut host) = value.clone().try_cast::<HostError>() {
            if host.kind.step().is_none() {
                let cause = Box::new(host.kind);
                host.kind = ErrorKind::StepFailed {
                    step: step.to_string(),
                    cause,
                };
            }
            *value = Dynamic::from(host);
            return (message, error);
        }
    }
    let mut failed = ctx
        .failed_step
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if failed
        .as_ref()
        .is_none_or(|(_, at)| *at != failure.location)
    {
        *failed = Some((step.to_string(), failure.location));
    }
    (message, error)
}

/// The error Rhai reports beneath the function calls and modules it passed through.
fn innermost(error: &mut EvalAltResult) -> &mut EvalAltResult {
    match error {
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => innermost(inner),
        other => other,
    }
}
