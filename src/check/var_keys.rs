//! `vars.a.b` reads of keys the variables do not have and their schema does not allow.

use crate::error::ErrorKind;
use rhai::{ASTNode, Expr, Position, Stmt};
use serde_json::Value;

use super::{location, Source};
use crate::diagnostic::Failure;
use crate::vars::schema::{no_such_key, Schema};
use crate::vars::Segment;

/// Whether the expression is the variable `vars`.
pub(super) fn is_vars(expr: &Expr) -> bool {
    matches!(expr, Expr::Variable(v, ..) if v.1 == "vars" && v.2.is_empty())
}

/// The keys a `vars.a.b` chain reads, as written: names and their positions.
pub(super) fn property_chain(expr: &Expr) -> Vec<(String, Position)> {
    let mut keys = Vec::new();
    let mut current = expr;
    loop {
        match current {
            Expr::Property(property, pos) => {
                keys.push((property.2.to_string(), *pos));
                return keys;
            }
            Expr::Dot(binary, ..) => match &binary.lhs {
                Expr::Property(property, pos) => {
                    keys.push((property.2.to_string(), *pos));
                    current = &binary.rhs;
                }
                _ => return keys,
            },
            _ => return keys,
        }
    }
}

/// Whether the read at the end of `path` only asks if an optional key is there:
/// `vars.x == ()`, `vars.x != ()` or `vars.x ?? fallback`. Such keys need no schema entry.
fn is_presence_test(path: &[ASTNode]) -> bool {
    let Some(ASTNode::Expr(parent)) = path.len().checked_sub(2).map(|i| &path[i]) else {
        return false;
    };
    match parent {
        Expr::Coalesce(..) => true,
        Expr::FnCall(call, ..) => {
            (call.name == "==" || call.name == "!=")
                && call.args.iter().any(|arg| matches!(arg, Expr::Unit(..)))
        }
        _ => false,
    }
}

/// How many links a `.` chain has, whatever they are (properties, calls, indexing).
pub(super) fn chain_length(expr: &Expr) -> usize {
    match expr {
        Expr::Dot(binary, ..) => 1 + chain_length(&binary.rhs),
        _ => 1,
    }
}

/// Reads of `vars.KEY...` for keys the variables do not have and the schema does not allow.
/// Files that declare their own `vars` (`let vars = with_defaults(...)`) are left alone.
pub(crate) fn unknown_var_keys(
    sources: &[Source],
    vars: &Value,
    schema: Option<&Schema>,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    for source in sources {
        let mut own_vars = false;
        let mut reads: Vec<Vec<(String, Position)>> = Vec::new();
        // Keys the file asks about (`vars.x == ()`, `vars.x ?? y`) are optional everywhere in it.
        let mut optional: Vec<Vec<String>> = Vec::new();
        source.ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Stmt(Stmt::Var(var, ..))) if var.0.name == "vars" => own_vars = true,
                Some(ASTNode::Expr(Expr::Dot(binary, ..))) if is_vars(&binary.lhs) => {
                    let chain = property_chain(&binary.rhs);
                    if is_presence_test(path) {
                        optional.push(chain.into_iter().map(|(key, _)| key).collect());
                    } else {
                        reads.push(chain);
                    }
                }
                _ => {}
            }
            true
        });
        if own_vars {
            continue;
        }
        reads.retain(|chain| {
            !optional.iter().any(|keys| {
                keys.len() <= chain.len() && keys.iter().zip(chain).all(|(k, (c, _))| k == c)
            })
        });
        for chain in reads {
            if let Some((message, pos)) = missing_key(&chain, vars, schema) {
                let mut failure = Failure::plain(ErrorKind::Playbook, message);
                failure.location = location(&source.file, pos);
                failures.push(failure);
            }
        }
    }
    failures
}

fn missing_key(
    chain: &[(String, Position)],
    vars: &Value,
    schema: Option<&Schema>,
) -> Option<(String, Position)> {
    let mut path: Vec<Segment> = Vec::new();
    let mut current = vars;
    for (key, pos) in chain {
        let Value::Object(map) = current else {
            return None;
        };
        if let Some(next) = map.get(key) {
            current = next;
            path.push(Segment::Key(key.clone()));
            continue;
        }
        let known = schema.and_then(|s| s.keys_at(&path));
        if let Some(known) = &known {
            if known.open || known.keys.contains(key) {
                return None;
            }
        }
        let keys = match known {
            Some(known) => known.keys,
            None => map.keys().cloned().collect(),
        };
        return Some((no_such_key(&path, key, &keys), *pos));
    }
    None
}
