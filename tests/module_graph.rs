//! The module graph of each crate has no cycle: among the modules of one parent, no module uses
//! another that (through any chain) uses it back. `use` trees and paths in code starting with
//! `crate::`, `super::`, `self::` or a child module are read from the source (comments, strings
//! and character literals skipped) and resolved through the modules' own `use`s, so a name a
//! parent re-exports (`super::Cluster`) counts as a use of the module defining it
//! (`super::cluster`). Glob imports are not followed: `use super::*` counts as a use of the parent
//! only. The test names every cycle it finds with a use that makes each of its edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Rust source as identifiers, `::` and punctuation: comments, strings, character literals,
/// lifetimes and numbers are left out.
fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i + 1);
        } else if (c == 'r' || c == 'b') && raw_string_start(&chars, i).is_some() {
            let (hashes, quote) = raw_string_start(&chars, i).expect("checked");
            i = quote + 1;
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i < chars.len() && !chars[i..].starts_with(&closing) {
                i += 1;
            }
            i += closing.len();
        } else if c == 'b' && next == Some('"') {
            i = skip_string(&chars, i + 2);
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            if next == Some('\\') {
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(Token::Ident(word.trim_start_matches("r#").to_string()));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == ':' && next == Some(':') {
            out.push(Token::PathSep);
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(Token::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// The index after the closing quote of a string whose text starts at `i`.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i] != '"' {
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// For `r"`, `r#"`, `br##"` at `i`: the number of hashes and the index of the opening quote.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes))
}

/// A path as written, in the scope it was written in.
#[derive(Clone, Debug)]
struct Written {
    /// The module and inline modules (`mod tests { … }`) around it.
    scope: Vec<String>,
    segments: Vec<String>,
}

/// What one module file says about other modules.
#[derive(Default, Debug)]
struct ModuleFile {
    file: PathBuf,
    children: Vec<String>,
    inline: BTreeSet<Vec<String>>,
    /// Names brought into the module's own scope, with what they name as written.
    imports: Vec<(String, Written)>,
    /// Every path that may lead to another module of the crate.
    uses: Vec<Written>,
}

/// A leaf of a `use` tree: its path and the name it is imported as (None for a glob).
type UseLeaf = (Vec<String>, Option<String>);

/// One `use` tree's leaves, and the index after it.
fn use_tree(tokens: &[Token], mut i: usize, prefix: &[String]) -> (Vec<UseLeaf>, usize) {
    let mut path = prefix.to_vec();
    let mut leaves = Vec::new();
    if tokens.get(i) == Some(&Token::PathSep) {
        i += 1;
    }
    loop {
        match tokens.get(i) {
            Some(Token::Ident(word)) => {
                path.push(word.clone());
                i += 1;
                match tokens.get(i) {
                    Some(Token::PathSep) => i += 1,
                    Some(Token::Ident(kw)) if kw == "as" => {
                        // `as _` imports a trait's methods only: no name.
                        let alias = match tokens.get(i + 1) {
                            Some(Token::Ident(alias)) => Some(alias.clone()),
                            _ => None,
                        };
                        leaves.push((path, alias));
                        return (leaves, i + 2);
                    }
                    _ => {
                        if path.last().is_some_and(|last| last == "self") {
                            path.pop();
                        }
                        let name = path.last().cloned();
                        leaves.push((path, name));
                        return (leaves, i);
                    }
                }
            }
            Some(Token::Punct('*')) => {
                leaves.push((path, None));
                return (leaves, i + 1);
            }
            Some(Token::Punct('{')) => {
                i += 1;
                loop {
                    match tokens.get(i) {
                        Some(Token::Punct('}')) => return (leaves, i + 1),
                        Some(Token::Punct(',')) => i += 1,
                        Some(_) => {
                            let (inner, next) = use_tree(tokens, i, &path);
                            leaves.extend(inner);
                            i = next;
                        }
                        None => return (leaves, i),
                    }
                }
            }
            // `use $crate::…` in a macro, or a tree this reader does not know: no more leaves.
            _ => return (leaves, i),
        }
    }
}

/// Reads one module file: its child modules, inline modules, imports and paths.
fn read_module(module: &[String], file: PathBuf, source: &str) -> ModuleFile {
    let tokens = tokens(source);
    let mut read = ModuleFile {
        file,
        ..ModuleFile::default()
    };
    // Inline modules open around the current token, with the brace depth inside each.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    let ident = |i: usize| match tokens.get(i) {
        Some(Token::Ident(word)) => Some(word.as_str()),
        _ => None,
    };
    while i < tokens.len() {
        let scope: Vec<String> = module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(name, _)| name.clone()))
            .collect();
        match &tokens[i] {
            Token::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Token::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth -= 1;
                i += 1;
            }
            Token::Ident(word) if word == "mod" && ident(i + 1).is_some() => {
                let name = ident(i + 1).expect("checked").to_string();
                match tokens.get(i + 2) {
                    Some(Token::Punct(';')) if inline.is_empty() => read.children.push(name),
                    Some(Token::Punct('{')) => {
                        let mut path = scope.clone();
                        path.push(name.clone());
                        read.inline.insert(path);
                        depth += 1;
                        inline.push((name, depth));
                        i += 1;
                    }
                    _ => {}
                }
                i += 2;
            }
            Token::Ident(word) if word == "use" => {
                let (leaves, next) = use_tree(&tokens, i + 1, &[]);
                for (segments, name) in leaves {
                    let written = Written {
                        scope: scope.clone(),
                        segments,
                    };
                    if let (Some(name), true) = (name, inline.is_empty()) {
                        read.imports.push((name, written.clone()));
                    }
                    read.uses.push(written);
                }
                i = next;
            }
            Token::Ident(first) if tokens.get(i + 1) == Some(&Token::PathSep) => {
                let after_path = i > 0 && tokens[i - 1] == Token::PathSep;
                let in_macro = i > 0 && tokens[i - 1] == Token::Punct('$');
                let mut segments = vec![first.clone()];
                i += 1;
                while tokens.get(i) == Some(&Token::PathSep) {
                    match ident(i + 1) {
                        Some(word) => {
                            segments.push(word.to_string());
                            i += 2;
                        }
                        None => break,
                    }
                }
                if !after_path && !in_macro {
                    read.uses.push(Written {
                        scope: scope.clone(),
                        segments,
                    });
                }
            }
            _ => i += 1,
        }
    }
    read
}

/// A crate's module files, by module path, read from its root file down its `mod` declarations.
struct Crate {
    modules: BTreeMap<Vec<String>, ModuleFile>,
}

impl Crate {
    /// `read` gives a file's text by its path relative to the crate's `src/`.
    fn load(root: &str, read: &dyn Fn(&Path) -> Option<String>) -> Crate {
        let mut modules = BTreeMap::new();
        let mut pending = vec![(Vec::new(), PathBuf::from(root))];
        while let Some((path, file)) = pending.pop() {
            let source = read(&file).unwrap_or_else(|| panic!("{} is missing", file.display()));
            let module = read_module(&path, file.clone(), &source);
            let dir = match file.file_name().and_then(|n| n.to_str()) {
                Some("lib.rs" | "main.rs" | "mod.rs") => {
                    file.parent().expect("a directory").to_path_buf()
                }
                _ => file.with_extension(""),
            };
            for child in &module.children {
                let flat = dir.join(format!("{child}.rs"));
                let nested = dir.join(child).join("mod.rs");
                let child_file = if read(&flat).is_some() { flat } else { nested };
                let mut child_path = path.clone();
                child_path.push(child.clone());
                pending.push((child_path, child_file));
            }
            modules.insert(path, module);
        }
        Crate { modules }
    }

    /// The path from the crate's root that `written` names, or None for another crate's.
    fn absolute(&self, written: &Written) -> Option<Vec<String>> {
        let mut segments = written.segments.iter().peekable();
        let mut path = match segments.peek().map(|s| s.as_str()) {
            Some("crate") => {
                segments.next();
                Vec::new()
            }
            Some("self") => {
                segments.next();
                written.scope.clone()
            }
            Some("super") => {
                let mut path = written.scope.clone();
                while segments.peek().is_some_and(|s| *s == "super") {
                    segments.next();
                    path.pop();
                }
                path
            }
            Some(first) => {
                let module = self.modules.get(&written.scope)?;
                if !module.children.iter().any(|child| child == first) {
                    return None;
                }
                written.scope.clone()
            }
            None => return None,
        };
        path.extend(segments.cloned());
        Some(path)
    }

    /// The module file an absolute path leads into, following the imports of the modules on
    /// the way (`super::Cluster` re-exported from `cluster` leads into `cluster`).
    fn module_of(&self, path: &[String], fuel: usize) -> Vec<String> {
        let mut current = Vec::new();
        for (i, segment) in path.iter().enumerate() {
            let mut next = current.clone();
            next.push(segment.clone());
            if self.modules.contains_key(&next) {
                current = next;
                continue;
            }
            let module = &self.modules[&current];
            if module.inline.contains(&next) {
                return current;
            }
            let imported = module.imports.iter().find(|(name, _)| name == segment);
            if let (Some((_, written)), true) = (imported, fuel > 0) {
                if let Some(mut target) = self.absolute(written) {
                    target.extend(path[i + 1..].iter().cloned());
                    if target != path {
                        return self.module_of(&target, fuel - 1);
                    }
                }
            }
            return current;
        }
        current
    }

    /// Every edge between sibling modules: (parent, from, to) with an example use for each.
    fn sibling_edges(&self) -> BTreeMap<(Vec<String>, String, String), String> {
        let mut edges = BTreeMap::new();
        for (from, module) in &self.modules {
            for written in &module.uses {
                let Some(path) = self.absolute(written) else {
                    continue;
                };
                let to = self.module_of(&path, 8);
                let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
                if common < from.len() && common < to.len() {
                    edges
                        .entry((
                            from[..common].to_vec(),
                            from[common].clone(),
                            to[common].clone(),
                        ))
                        .or_insert_with(|| {
                            format!("{}: {}", module.file.display(), written.segments.join("::"))
                        });
                }
            }
        }
        edges
    }

    /// Each cycle among sibling modules, named with a use for every edge of it.
    fn cycles(&self) -> Vec<String> {
        let edges = self.sibling_edges();
        let parents: BTreeSet<&Vec<String>> = edges.keys().map(|(parent, _, _)| parent).collect();
        let mut found = Vec::new();
        for parent in parents {
            let graph: BTreeMap<&str, Vec<&str>> = edges
                .keys()
                .filter(|(p, _, _)| p == parent)
                .fold(BTreeMap::new(), |mut graph, (_, from, to)| {
                    graph.entry(from.as_str()).or_default().push(to.as_str());
                    graph
                });
            let mut reported: BTreeSet<BTreeSet<&str>> = BTreeSet::new();
            for &start in graph.keys() {
                let Some(cycle) = shortest_cycle(&graph, start) else {
                    continue;
                };
                if !reported.insert(cycle.iter().copied().collect()) {
                    continue;
                }
                let name = |module: &str| {
                    let mut path = vec!["crate".to_string()];
                    path.extend(parent.iter().cloned());
                    path.push(module.to_string());
                    path.join("::")
                };
                let mut text = cycle
                    .iter()
                    .map(|m| name(m))
                    .collect::<Vec<_>>()
                    .join(" -> ");
                text.push_str(&format!(" -> {}", name(cycle[0])));
                for (i, from) in cycle.iter().enumerate() {
                    let to = cycle[(i + 1) % cycle.len()];
                    let example = &edges[&(parent.clone(), from.to_string(), to.to_string())];
                    text.push_str(&format!("\n    {} -> {}: {example}", name(from), name(to)));
                }
                found.push(text);
            }
        }
        found
    }
}

/// The shortest path from `start` back to itself, by breadth-first search.
fn shortest_cycle<'a>(
    graph: &BTreeMap<&'a str, Vec<&'a str>>,
    start: &'a str,
) -> Option<Vec<&'a str>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in graph.get(node).into_iter().flatten() {
            if next == start {
                let mut cycle = vec![node];
                while let Some(&previous) = came_from.get(cycle.last().expect("not empty")) {
                    cycle.push(previous);
                }
                cycle.reverse();
                return Some(cycle);
            }
            if next != start && !came_from.contains_key(next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    None
}

fn crate_at(dir: &str, root: &str) -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    Crate::load(root, &|file: &Path| {
        std::fs::read_to_string(src.join(file)).ok()
    })
}

/// The crate has no module cycle; a failure names each one with the use behind each edge.
fn assert_no_cycle(krate: &Crate) {
    let cycles = krate.cycles();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn runner_has_no_module_cycle() {
    let runner = crate_at("src", "lib.rs");
    assert!(
        runner.modules.len() > 50,
        "{} modules read",
        runner.modules.len()
    );
    assert_no_cycle(&runner);
}

#[test]
fn the_sandbox_has_no_module_cycle() {
    assert_no_cycle(&crate_at("crates/sandbox/src", "lib.rs"));
}

#[test]
fn the_certificate_library_has_no_module_cycle() {
    assert_no_cycle(&crate_at("crates/certs/src", "lib.rs"));
}

fn in_memory(files: &[(&str, &str)]) -> Crate {
    let files: BTreeMap<PathBuf, String> = files
        .iter()
        .map(|(path, text)| (PathBuf::from(path), (*text).to_string()))
        .collect();
    Crate::load("lib.rs", &|file: &Path| files.get(file).cloned())
}

#[test]
fn a_cycle_through_a_re_export_is_named_with_its_uses() {
    let cyclic = in_memory(&[
        ("lib.rs", "mod cli;\nmod watch;\n"),
        ("cli/mod.rs", "mod args;\npub use args::PlayArgs;\nfn run() { crate::watch::run() }\n"),
        ("cli/args.rs", "pub struct PlayArgs;\n"),
        (
            "watch.rs",
            "// crate::nothing, \"crate::nothing\"\nuse crate::{cli::PlayArgs as Args, other};\npub fn run() {}\n",
        ),
    ]);
    assert_eq!(
        cyclic.cycles(),
        ["crate::cli -> crate::watch -> crate::cli\n    \
          crate::cli -> crate::watch: cli/mod.rs: crate::watch::run\n    \
          crate::watch -> crate::cli: watch.rs: crate::cli::PlayArgs"]
    );
}

#[test]
fn a_cycle_among_submodules_is_named_and_tests_and_comments_do_not_count() {
    let cyclic = in_memory(&[
        ("lib.rs", "mod k8s;\n"),
        ("k8s/mod.rs", "mod apply;\nmod cluster;\nmod wait;\npub use cluster::Cluster;\n"),
        ("k8s/apply.rs", "use super::Cluster;\n"),
        ("k8s/cluster.rs", "fn f() { super::apply::apply(); }\n"),
        (
            "k8s/wait.rs",
            "/* super::apply */\nmod tests {\n    use super::*;\n    fn t() { let c = 'x'; super::helper(); }\n}\nfn helper() {}\n",
        ),
    ]);
    assert_eq!(
        cyclic.cycles(),
        [
            "crate::k8s::apply -> crate::k8s::cluster -> crate::k8s::apply\n    \
          crate::k8s::apply -> crate::k8s::cluster: k8s/apply.rs: super::Cluster\n    \
          crate::k8s::cluster -> crate::k8s::apply: k8s/cluster.rs: super::apply::apply"
        ]
    );
    let acyclic = in_memory(&[
        ("lib.rs", "mod k8s;\n"),
        (
            "k8s/mod.rs",
            "mod apply;\nmod cluster;\npub use cluster::Cluster;\n",
        ),
        ("k8s/apply.rs", "use super::Cluster;\n"),
        (
            "k8s/cluster.rs",
            "fn f() -> &'static str { \"super::apply\" }\n",
        ),
    ]);
    assert_eq!(acyclic.cycles(), Vec::<String>::new());
}
