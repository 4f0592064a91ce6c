//! Functions a playbook calls that exist nowhere, and Rhai's "Function not found" in playbook
//! terms.

use crate::error::ErrorKind;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use rhai::{ASTNode, Engine, Expr, FnAccess, FnCallExpr, Position, Stmt, AST};

use super::{location, show, Source};
use crate::diagnostic::Failure;
use crate::function_names::names;
use crate::vars::schema::closest;

/// Calls of functions that exist nowhere: not registered, not in Rhai, not in the script.
pub(crate) fn unknown_functions(engine: &Engine, sources: &[Source]) -> Vec<Failure> {
    let known = &names(engine).1;
    let by_file: HashMap<&Path, &Source> = sources.iter().map(|s| (s.file.as_path(), s)).collect();
    let mut failures = Vec::new();
    for source in sources {
        let own: BTreeSet<&str> = source.ast.iter_functions().map(|f| f.name).collect();
        let variables = declared_names(&source.ast);
        let mut calls: Vec<(FnCallExpr, Position)> = Vec::new();
        source.ast.walk(&mut |path: &[ASTNode]| {
            if let Some(
                ASTNode::Expr(Expr::FnCall(call, pos) | Expr::MethodCall(call, pos))
                | ASTNode::Stmt(Stmt::FnCall(call, pos)),
            ) = path.last()
            {
                calls.push(((**call).clone(), *pos));
            }
            true
        });
        for (call, pos) in calls {
            let name = call.name.as_str();
            if call.op_token.is_some() || !is_identifier(name) {
                continue;
            }
            let problem = if call.namespace.is_empty() {
                let found = own.contains(name) || known.contains(name) || variables.contains(name);
                (!found).then(|| {
                    let candidates = known
                        .iter()
                        .map(String::as_str)
                        .filter(|n| !n.contains("::"))
                        .chain(own.iter().copied().filter(|n| !n.starts_with("anon$")));
                    unknown_function_message(name, closest(name, candidates))
                })
            } else {
                let module = call.namespace.to_string();
                match source
                    .imports
                    .get(&module)
                    .and_then(|f| by_file.get(f.as_path()))
                {
                    Some(imported) => {
                        let public: Vec<&str> = imported
                            .ast
                            .iter_functions()
                            .filter(|f| f.access != FnAccess::Private)
                            .map(|f| f.name)
                            .collect();
                        (!public.contains(&name)).then(|| {
                            let hint = closest(name, public.iter().copied())
                                .map(|c| format!("; did you mean {module}::{c}?"))
                                .unwrap_or_default();
                            format!(
                                "module {module} ({}) has no function {name}{hint}",
                                show(&imported.file)
                            )
                        })
                    }
                    None if source.imports.contains_key(&module) => None,
                    None => {
                        let full = format!("{module}::{name}");
                        (!known.contains(&full)).then(|| {
                            let prefix = format!("{module}::");
                            let suggestion = closest(
                                &full,
                                known
                                    .iter()
                                    .map(String::as_str)
                                    .filter(|n| n.starts_with(&prefix)),
                            );
                            unknown_function_message(&full, suggestion)
                        })
                    }
                }
            };
            if let Some(message) = problem {
                let mut failure = Failure::plain(ErrorKind::Playbook, message);
                failure.location = location(&source.file, pos);
                failures.push(failure);
            }
        }
    }
    failures
}

/// `no function named apply_templat; did you mean apply_template? (see: runner api apply_template)`
pub(super) fn unknown_function_message(name: &str, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("no function named {name}; did you mean {s}? (see: runner api {s})"),
        None => format!("no function named {name} (see: runner api, which lists every function)"),
    }
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Names a script declares (variables, constants, parameters): calling one calls a function
/// pointer, not a function.
fn declared_names(ast: &AST) -> HashSet<String> {
    let mut names: HashSet<String> = ast
        .iter_functions()
        .flat_map(|f| f.params.into_iter().map(str::to_string))
        .collect();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Var(var, ..))) = path.last() {
            names.insert(var.0.name.to_string());
        }
        true
    });
    names
}
