//! `import "lib/common" as common;` — modules are `.rhai` files relative to the importing script.

use std::path::{Path, PathBuf};

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use crate::templates::FilesRead;

pub(crate) struct PlaybookResolver {
    /// Directory of the playbook, for imports from the playbook itself.
    base: PathBuf,
    files_read: FilesRead,
    /// The project root (a real path) every module must really lie in; `None` for `check`.
    root: Option<PathBuf>,
}

impl PlaybookResolver {
    pub(crate) fn new(base: &Path, files_read: FilesRead) -> Self {
        PlaybookResolver {
            base: base.to_path_buf(),
            files_read,
            root: None,
        }
    }

    /// Refuses modules whose real path is outside `root` (absolute imports, links out).
    pub(crate) fn confined_to(mut self, root: &Path) -> Self {
        self.root = Some(root.to_path_buf());
        self
    }

    /// The file an import path names, seen from the script whose source is `source`.
    pub(crate) fn file_for(&self, source: Option<&str>, path: &str) -> PathBuf {
        let dir = source
            .and_then(|s| Path::new(s).parent().map(Path::to_path_buf))
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| self.base.clone());
        let mut file = dir.join(path);
        if file.extension().is_none() {
            file.set_extension("rhai");
        }
        file
    }
}

impl ModuleResolver for PlaybookResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let file = self.file_for(source, path);
        let shown = file.display().to_string();
        if let Some(root) = &self.root {
            crate::project::confine(root, &file).map_err(|outside| {
                Box::new(EvalAltResult::ErrorModuleNotFound(
                    format!("{path}: {}", outside.explain(&shown, root).message),
                    pos,
                ))
            })?;
        }
        // `runner play` refuses import cycles before running; this guard keeps any other way of
        // resolving (eval, watch mode) from recursing until the stack overflows.
        let _resolving = Resolving::enter(&file).map_err(|chain| {
            Box::new(EvalAltResult::ErrorModuleNotFound(
                format!("{path}: import cycle: {chain}"),
                pos,
            ))
        })?;
        let text = crate::bounds::read_script(&file).map_err(|why| {
            Box::new(EvalAltResult::ErrorModuleNotFound(
                format!("{path} (looked for {shown}: {why})"),
                pos,
            ))
        })?;
        if let Ok(mut read) = self.files_read.lock() {
            read.insert(file.clone());
        }
        let mut ast = engine
            .compile(&text)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(shown.clone(), e.into(), pos)))?;
        ast.set_source(shown.clone());
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(shown, e, pos)))?;
        Ok(module.into())
    }
}

thread_local! {
    /// The modules this thread is resolving, outermost first.
    static RESOLVING: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Marks a module as being resolved until dropped.
struct Resolving;

impl Resolving {
    /// Fails with the chain of files when `file` is already being resolved.
    fn enter(file: &Path) -> Result<Resolving, String> {
        let key = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
        RESOLVING.with(|stack| {
            let mut stack = stack.borrow_mut();
            if let Some(start) = stack.iter().position(|f| *f == key) {
                let mut chain: Vec<String> = stack[start..]
                    .iter()
                    .map(|f| crate::vars::shown(f))
                    .collect();
                chain.push(crate::vars::shown(&key));
                return Err(chain.join(" → "));
            }
            stack.push(key);
            Ok(Resolving)
        })
    }
}

impl Drop for Resolving {
    fn drop(&mut self) {
        RESOLVING.with(|stack| {
            stack.borrow_mut().pop();
        });
    }
}
