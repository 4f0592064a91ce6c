//! The templates a playbook names: each parses, and renders where its variables are known.

use std::collections::HashSet;

use rhai::{ASTNode, Expr, FnCallExpr, Position, Stmt};
use serde_json::Value;

use super::var_keys::{chain_length, is_vars, property_chain};
use super::{location, Source};
use crate::context::PlayContext;
use crate::diagnostic::Failure;

/// Each `template("literal", ...)` call: the template parses, and (with `render`) renders when
/// its variables are known (the play's, and a context map of constants and `vars.` reads).
pub(crate) fn templates(
    ctx: &PlayContext,
    sources: &[Source],
    vars: &Value,
    render: bool,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    let mut parsed: HashSet<String> = HashSet::new();
    let mut rendered: HashSet<String> = HashSet::new();
    for source in sources {
        let mut calls: Vec<(FnCallExpr, Position)> = Vec::new();
        source.ast.walk(&mut |path: &[ASTNode]| {
            if let Some(
                ASTNode::Expr(Expr::FnCall(call, pos)) | ASTNode::Stmt(Stmt::FnCall(call, pos)),
            ) = path.last()
            {
                if call.namespace.is_empty() && call.name == "template" {
                    calls.push(((**call).clone(), *pos));
                }
            }
            true
        });
        for (call, pos) in calls {
            let Some(Expr::StringConstant(name, _)) = call.args.first() else {
                continue;
            };
            let extra = match call.args.get(1) {
                _ if !render => None,
                None => Some(Value::Null),
                Some(expr) => known_value(expr, vars),
            };
            // The same template with the same context fails the same way: say it once.
            let key = format!(
                "{name}\n{}",
                extra.as_ref().map(Value::to_string).unwrap_or_default()
            );
            if !rendered.insert(key) {
                continue;
            }
            let result = match extra {
                Some(extra) => ctx
                    .templates
                    .render(name, &crate::templates::context_of(vars, extra))
                    .map(drop),
                None if parsed.contains(name.as_str()) => Ok(()),
                None => ctx.templates.parse(name),
            };
            parsed.insert(name.to_string());
            if let Err(error) = result {
                let mut failure = Failure::from_host(error);
                failure.location = location(&source.file, pos);
                failures.push(failure);
            }
        }
    }
    failures
}

/// The value of an expression when it is known before the play runs.
fn known_value(expr: &Expr, vars: &Value) -> Option<Value> {
    match expr {
        Expr::StringConstant(s, _) => Some(Value::String(s.to_string())),
        Expr::IntegerConstant(i, _) => Some(Value::from(*i)),
        Expr::BoolConstant(b, _) => Some(Value::Bool(*b)),
        Expr::Unit(_) => Some(Value::Null),
        Expr::Array(items, _) => items
            .iter()
            .map(|i| known_value(i, vars))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        Expr::Map(map, _) => {
            let mut out = serde_json::Map::new();
            for (ident, value) in &map.0 {
                out.insert(ident.name.to_string(), known_value(value, vars)?);
            }
            Some(Value::Object(out))
        }
        Expr::Dot(binary, ..) if is_vars(&binary.lhs) => {
            let chain = property_chain(&binary.rhs);
            if chain.len() != chain_length(&binary.rhs) {
                return None;
            }
            let mut current = vars;
            for (key, _) in chain {
                current = current.get(&key)?;
            }
            Some(current.clone())
        }
        Expr::Variable(..) if is_vars(expr) => Some(vars.clone()),
        _ => None,
    }
}
