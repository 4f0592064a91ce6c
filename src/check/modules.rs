//! The playbook and the modules it imports, compiled depth first; an import cycle is named as
//! the chain of files that makes it.

use crate::error::ErrorKind;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rhai::{ASTNode, Engine, Expr, Position, Scope, Stmt, AST};

use super::{location, show};
use crate::diagnostic::Failure;
use crate::engine::resolver::PlaybookResolver;

/// One compiled script of a playbook: the playbook itself or a module it imports.
pub(crate) struct Source {
    pub file: PathBuf,
    pub ast: AST,
    /// Import aliases and the module files they name.
    pub imports: HashMap<String, PathBuf>,
}

/// The playbook and every module it imports, compiled; the failures met on the way.
pub(crate) struct Program {
    pub sources: Vec<Source>,
    pub failures: Vec<Failure>,
}

fn compile(engine: &Engine, scope: &Scope, file: &Path) -> Result<AST, Box<Failure>> {
    let text = crate::bounds::read_script(file)
        .map_err(|why| Box::new(Failure::plain(ErrorKind::Io, why)))?;
    let mut ast = engine
        .compile_with_scope(scope, &text)
        .map_err(|e| Box::new(Failure::from_parse(&e, file)))?;
    ast.set_source(file.display().to_string());
    Ok(ast)
}

/// Compiles the playbook and, depth first, every module it imports.
pub(crate) fn load(engine: &Engine, playbook: &Path, scope: &Scope) -> Program {
    match compile(engine, scope, playbook) {
        Ok(ast) => load_from(engine, playbook, ast),
        Err(failure) => Program {
            sources: Vec::new(),
            failures: vec![*failure],
        },
    }
}

pub(super) fn load_from(engine: &Engine, playbook: &Path, main: AST) -> Program {
    let resolver = PlaybookResolver::new(
        playbook.parent().unwrap_or(Path::new(".")),
        Default::default(),
    );
    let mut loader = Loader {
        engine,
        resolver,
        root: crate::project::Project::discover(playbook, None)
            .ok()
            .map(|project| project.root),
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
    /// The project root every module must really lie in.
    root: Option<PathBuf>,
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
            if let Some(root) = &self.root {
                if let Err(outside) = crate::project::confine(root, &target) {
                    let shown = target.display().to_string();
                    let refused = outside.explain(&shown, root);
                    let mut failure = Failure::plain(
                        ErrorKind::Playbook,
                        format!("module {name:?}: {}", refused.message),
                    );
                    failure.hint = refused.hint;
                    failure.location = at;
                    self.program.failures.push(failure);
                    continue;
                }
            }
            if !target.is_file() {
                let mut failure = Failure::plain(
                    ErrorKind::Playbook,
                    format!(
                        "module {name:?} not found (looked for {})",
                        target.display()
                    ),
                );
                failure.location = at;
                self.program.failures.push(failure);
                continue;
            }
            let target_key = target.canonicalize().unwrap_or_else(|_| target.clone());
            if let Some(start) = self.chain.iter().position(|f| *f == target_key) {
                let mut names: Vec<String> = self.chain[start..].iter().map(|f| show(f)).collect();
                names.push(show(&target_key));
                let mut failure = Failure::plain(
                    ErrorKind::Playbook,
                    format!("import cycle: {}", names.join(" → ")),
                );
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
