//! What can be known about a playbook without running it: every module compiles and no import
//! cycle; every function called exists; every template it names parses (and renders, where its
//! variables are known); every `vars.a.b` it reads exists; the variables fit the schema.
//!
//! `runner check` reports all of it; `runner play` checks modules, functions and variable keys
//! before its first step, so a typo never costs a half-applied cluster.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{ASTNode, Engine, Expr, FnAccess, FnCallExpr, Position, Scope, Stmt, AST};
use serde_json::Value;

use crate::context::{PlayContext, PlayOptions};
use crate::diagnostic::{Failure, ScriptLocation};
use crate::engine::resolver::PlaybookResolver;
use crate::project::Project;
use crate::report::{OutputMode, Reporter};
use crate::vars::schema::{closest, no_such_key, Schema};
use crate::vars::Segment;

/// One compiled script of a playbook: the playbook itself or a module it imports.
pub struct Source {
    pub file: PathBuf,
    pub ast: AST,
    /// Import aliases and the module files they name.
    pub imports: HashMap<String, PathBuf>,
}

/// The playbook and every module it imports, compiled; the failures met on the way.
pub struct Program {
    pub sources: Vec<Source>,
    pub failures: Vec<Failure>,
}

/// `runner check PLAYBOOK... [--vars FILE]... [--var KEY=VALUE]...`: prints every problem.
pub fn command(
    playbooks: &[PathBuf],
    vars_files: &[PathBuf],
    assignments: &[String],
    color: bool,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let usage = |error: crate::error::HostError| {
        eprint!("{}", Failure::from_host(error).render(color));
        ExitCode::from(crate::cli::EXIT_USAGE)
    };
    for file in vars_files {
        if !file.is_file() {
            return usage(crate::error::HostError::new(format!(
                "variables file {} not found",
                file.display()
            )));
        }
    }
    let mut failures = Vec::new();
    for playbook in playbooks {
        if !playbook.exists() {
            return usage(crate::error::HostError::new(format!(
                "playbook {} not found",
                playbook.display()
            )));
        }
        match check_playbook(playbook, vars_files, assignments) {
            Ok(found) => failures.extend(found),
            Err(e) => return usage(e),
        }
    }
    if failures.is_empty() {
        let names: Vec<String> = playbooks.iter().map(|p| p.display().to_string()).collect();
        println!("ok: {}", names.join(", "));
        return ExitCode::SUCCESS;
    }
    for failure in &failures {
        eprint!("{}", failure.render(color));
    }
    eprintln!("{} error(s)", failures.len());
    ExitCode::from(crate::cli::EXIT_FAILED)
}

/// Every check of one playbook; returns the failures.
fn check_playbook(
    playbook: &Path,
    vars_files: &[PathBuf],
    assignments: &[String],
) -> Result<Vec<Failure>, crate::error::HostError> {
    let project = Project::discover(playbook, None)?;
    let mut failures = Vec::new();
    let layered = match crate::vars::layer(
        crate::vars::defaults_file(playbook).as_deref(),
        vars_files,
        assignments,
    ) {
        Ok(layered) => Some(layered),
        Err(e) => {
            failures.push(Failure::from_host(e));
            None
        }
    };
    let schema = match Schema::beside(playbook) {
        Ok(schema) => schema,
        Err(e) => {
            failures.push(Failure::from_host(e));
            None
        }
    };
    if let (Some(schema), Some(layered)) = (&schema, &layered) {
        if let Err(e) = schema.check(layered) {
            failures.push(Failure::from_host(e));
        }
    }
    let vars = layered
        .as_ref()
        .map(|l| l.value.clone())
        .unwrap_or_else(|| Value::Object(Default::default()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| crate::error::HostError::new(format!("cannot start the runtime: {e}")))?;
    let ctx = PlayContext::new(
        rt.handle().clone(),
        Reporter::new(OutputMode::Human),
        project,
        PlayOptions::default(),
        vars.clone(),
    );
    let engine = crate::engine::build(&ctx);
    let program = load(&engine, playbook, &initial_scope(&vars));
    failures.extend(program.failures.iter().cloned());
    failures.extend(unknown_functions(&engine, &program.sources));
    if layered.is_some() {
        failures.extend(unknown_var_keys(&program.sources, &vars, schema.as_ref()));
        failures.extend(templates(&ctx, &program.sources, &vars));
    }
    Ok(failures)
}

/// What `runner play` checks after compiling the playbook and before running it.
pub fn before_run(engine: &Engine, ctx: &Arc<PlayContext>, main: &AST) -> Result<(), Box<Failure>> {
    remember_names(engine);
    let playbook = &ctx.project.playbook;
    let mut program = load_from(engine, playbook, main.clone());
    if !program.failures.is_empty() {
        return Err(Box::new(program.failures.remove(0)));
    }
    if let Some(first) = unknown_functions(engine, &program.sources)
        .into_iter()
        .next()
    {
        return Err(Box::new(first));
    }
    let schema = Schema::beside(playbook).map_err(|e| Box::new(Failure::from_host(e)))?;
    let vars = ctx.vars();
    if let Some(first) = unknown_var_keys(&program.sources, &vars, schema.as_ref())
        .into_iter()
        .next()
    {
        return Err(Box::new(first));
    }
    Ok(())
}

/// The scope a playbook is compiled and run with: `vars`.
pub fn initial_scope(vars: &Value) -> Scope<'static> {
    let mut scope = Scope::new();
    let value = crate::engine::convert::to_dynamic(vars)
        .unwrap_or_else(|_| rhai::Dynamic::from_map(rhai::Map::new()));
    scope.push("vars", value);
    scope
}

fn compile(engine: &Engine, scope: &Scope, file: &Path) -> Result<AST, Box<Failure>> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Box::new(Failure::plain(format!(
            "cannot read {}: {e}",
            file.display()
        )))
    })?;
    let mut ast = engine
        .compile_with_scope(scope, &text)
        .map_err(|e| Box::new(Failure::from_parse(&e, file)))?;
    ast.set_source(file.display().to_string());
    Ok(ast)
}

/// Compiles the playbook and, depth first, every module it imports.
pub fn load(engine: &Engine, playbook: &Path, scope: &Scope) -> Program {
    match compile(engine, scope, playbook) {
        Ok(ast) => load_from(engine, playbook, ast),
        Err(failure) => Program {
            sources: Vec::new(),
            failures: vec![*failure],
        },
    }
}

fn load_from(engine: &Engine, playbook: &Path, main: AST) -> Program {
    let resolver = PlaybookResolver::new(
        playbook.parent().unwrap_or(Path::new(".")),
        Default::default(),
    );
    let mut loader = Loader {
        engine,
        resolver,
        program: Program {
            sources: Vec::new(),
            failures: Vec::new(),
        },
        done: HashSet::new(),
        chain: Vec::new(),
    };
    loader.visit(playbook, Some(main));
    loader.program
}

struct Loader<'e> {
    engine: &'e Engine,
    resolver: PlaybookResolver,
    program: Program,
    done: HashSet<PathBuf>,
    /// The files being imported, outermost first: a file met again here closes a cycle.
    chain: Vec<PathBuf>,
}

impl Loader<'_> {
    fn visit(&mut self, file: &Path, compiled: Option<AST>) {
        let key = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        if self.done.contains(&key) {
            return;
        }
        let ast = match compiled {
            Some(ast) => ast,
            None => match compile(self.engine, &Scope::new(), file) {
                Ok(ast) => ast,
                Err(failure) => {
                    self.done.insert(key);
                    self.program.failures.push(*failure);
                    return;
                }
            },
        };
        self.chain.push(key.clone());
        let source = file.display().to_string();
        let mut imports = HashMap::new();
        for (name, alias, pos) in import_statements(&ast) {
            let target = self.resolver.file_for(Some(&source), &name);
            let at = location(file, pos);
            if !target.is_file() {
                let mut failure = Failure::plain(format!(
                    "module {name:?} not found (looked for {})",
                    target.display()
                ));
                failure.location = at;
                self.program.failures.push(failure);
                continue;
            }
            let target_key = target.canonicalize().unwrap_or_else(|_| target.clone());
            if let Some(start) = self.chain.iter().position(|f| *f == target_key) {
                let mut names: Vec<String> = self.chain[start..].iter().map(|f| show(f)).collect();
                names.push(show(&target_key));
                let mut failure = Failure::plain(format!("import cycle: {}", names.join(" → ")));
                failure.hint = Some(
                    "a module may not import, directly or through others, a module that imports it; move what both need into a third module".into(),
                );
                failure.location = at;
                self.program.failures.push(failure);
                continue;
            }
            if let Some(alias) = alias {
                imports.insert(alias, target.clone());
            }
            self.visit(&target, None);
        }
        self.chain.pop();
        self.done.insert(key);
        self.program.sources.push(Source {
            file: file.to_path_buf(),
            ast,
            imports,
        });
    }
}

fn show(path: &Path) -> String {
    crate::vars::shown(path)
}

fn location(file: &Path, pos: Position) -> Option<ScriptLocation> {
    Some(ScriptLocation {
        file: file.to_path_buf(),
        line: pos.line()?,
        column: pos.position().unwrap_or(1),
    })
}

/// `import "path" as alias;` statements with a constant path.
fn import_statements(ast: &AST) -> Vec<(String, Option<String>, Position)> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(import, pos))) = path.last() {
            if let Expr::StringConstant(name, _) = &import.0 {
                let alias = Some(import.1.name.to_string()).filter(|a| !a.is_empty());
                found.push((name.to_string(), alias, *pos));
            }
        }
        true
    });
    found
}

/// Functions Rhai itself provides that no package lists.
const BUILT_IN: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_fn",
    "is_def_var",
    "this",
];

/// Every function a playbook can call by name: registered, standard, built in.
pub fn callable_names(engine: &Engine) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = engine
        .gen_fn_signatures(true)
        .iter()
        .filter_map(|s| s.split('(').next())
        .map(|n| n.trim().to_string())
        .collect();
    names.extend(BUILT_IN.iter().map(|s| s.to_string()));
    names
}

/// Calls of functions that exist nowhere: not registered, not in Rhai, not in the script.
pub fn unknown_functions(engine: &Engine, sources: &[Source]) -> Vec<Failure> {
    let known = callable_names(engine);
    let by_file: HashMap<&Path, &Source> = sources.iter().map(|s| (s.file.as_path(), s)).collect();
    let mut failures = Vec::new();
    for source in sources {
        let own: BTreeSet<&str> = source.ast.iter_functions().map(|f| f.name).collect();
        let variables = declared_names(&source.ast);
        let mut calls: Vec<(FnCallExpr, Position)> = Vec::new();
        source.ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(call, pos) | Expr::MethodCall(call, pos)))
                | Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => {
                    calls.push(((**call).clone(), *pos));
                }
                _ => {}
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
                let mut failure = Failure::plain(message);
                failure.location = location(&source.file, pos);
                failures.push(failure);
            }
        }
    }
    failures
}

/// The names a play's runtime errors suggest from: (documented in `runner api`, all callable).
static NAMES: std::sync::OnceLock<(BTreeSet<String>, BTreeSet<String>)> =
    std::sync::OnceLock::new();

/// Remembers the engine's function names for the messages of errors raised while it runs.
pub fn remember_names(engine: &Engine) {
    NAMES.get_or_init(|| {
        let documented = crate::api_reference::collect(engine)
            .into_iter()
            .map(|d| d.name)
            .filter(|n| !n.starts_with('.'))
            .collect();
        (documented, callable_names(engine))
    });
}

/// Rhai's "Function not found: apply_template (Cluster, &str | ImmutableString | String, map)"
/// in playbook terms, with the closest names and where to read about them.
pub fn function_not_found(signature: &str) -> String {
    let (name, args) = match signature.split_once(" (") {
        Some((name, args)) => (name.trim(), args.trim_end_matches(')')),
        None => (signature.trim(), ""),
    };
    let args: Vec<String> = args
        .split(", ")
        .filter(|a| !a.is_empty())
        .map(playbook_type)
        .collect();
    let call = format!("{name}({})", args.join(", "));
    let Some((documented, callable)) = NAMES.get() else {
        return format!("no function {call}");
    };
    if documented.contains(name) {
        return format!(
            "no function {call}: {name} takes other arguments (see: runner api {name})"
        );
    }
    if callable.contains(name) {
        return format!("no function {call}: {name} takes other arguments");
    }
    let suggestion = closest(name, documented.iter().map(String::as_str))
        .map(|c| format!("; did you mean {c}? (see: runner api {c})"))
        .or_else(|| {
            closest(name, callable.iter().map(String::as_str))
                .map(|c| format!("; did you mean {c}?"))
        })
        .unwrap_or_else(|| " (see: runner api, which lists every function)".into());
    format!("no function {call}{suggestion}")
}

/// A Rhai type name as a playbook author knows it.
fn playbook_type(rhai_type: &str) -> String {
    let t = rhai_type.trim();
    let known = if t.contains("str") || t.contains("String") || t == "char" {
        "string"
    } else if t.eq_ignore_ascii_case("map") {
        "map"
    } else if t.eq_ignore_ascii_case("array") {
        "array"
    } else if t == "i64" || t == "int" {
        "integer"
    } else if t == "f64" || t == "float" {
        "float"
    } else if t == "Fn" || t.contains("FnPtr") {
        "function"
    } else {
        return t.to_lowercase();
    };
    known.to_string()
}

/// `no function named apply_templat; did you mean apply_template? (see: runner api apply_template)`
pub fn unknown_function_message(name: &str, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("no function named {name}; did you mean {s}? (see: runner api {s})"),
        None => format!("no function named {name} (see: runner api, which lists every function)"),
    }
}

/// Whether the expression is the variable `vars`.
fn is_vars(expr: &Expr) -> bool {
    matches!(expr, Expr::Variable(v, ..) if v.1 == "vars" && v.2.is_empty())
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

/// The keys a `vars.a.b` chain reads, as written: names and their positions.
fn property_chain(expr: &Expr) -> Vec<(String, Position)> {
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

/// How many links a `.` chain has, whatever they are (properties, calls, indexing).
fn chain_length(expr: &Expr) -> usize {
    match expr {
        Expr::Dot(binary, ..) => 1 + chain_length(&binary.rhs),
        _ => 1,
    }
}

/// Reads of `vars.KEY...` for keys the variables do not have and the schema does not allow.
/// Files that declare their own `vars` (`let vars = with_defaults(...)`) are left alone.
pub fn unknown_var_keys(sources: &[Source], vars: &Value, schema: Option<&Schema>) -> Vec<Failure> {
    let mut failures = Vec::new();
    for source in sources {
        let mut own_vars = false;
        let mut reads: Vec<Vec<(String, Position)>> = Vec::new();
        source.ast.walk(&mut |path: &[ASTNode]| {
            match path.last() {
                Some(ASTNode::Stmt(Stmt::Var(var, ..))) if var.0.name == "vars" => own_vars = true,
                Some(ASTNode::Expr(Expr::Dot(binary, ..))) if is_vars(&binary.lhs) => {
                    reads.push(property_chain(&binary.rhs));
                }
                _ => {}
            }
            true
        });
        if own_vars {
            continue;
        }
        for chain in reads {
            if let Some((message, pos)) = missing_key(&chain, vars, schema) {
                let mut failure = Failure::plain(message);
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

/// Each `template("literal", ...)` call: the template parses, and renders when its variables
/// are known (the play's, and a context map whose values are constants or `vars.` reads).
pub fn templates(ctx: &PlayContext, sources: &[Source], vars: &Value) -> Vec<Failure> {
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
