//! The module graph of a crate, read from its sources: which module's code
//! names which other module. Cycles in it are what `tests/tests/layering.rs`
//! refuses, so that every module can be read and changed from the bottom up.
//!
//! A module depends on another when its code names a path into it
//! (`use crate::store::items::timer_key`, `super::StoreError`,
//! `partner::home` for a child). `mod` declarations and a module's `pub use`
//! of its own descendants (a facade) are structure, not dependencies.
//! Inline test modules and `tests.rs` files are left out: tests may reach
//! anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["store", "memory"]`; the root is empty) → the modules it
/// names, each with the first path that names it.
pub type Graph = BTreeMap<Vec<String>, BTreeMap<Vec<String>, String>>;

/// Comments, string and char literals blanked out, so only code is read.
pub fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
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
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(out.chars().last()) {
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    _ => j += 1,
                }
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && is_char_literal(&chars, i) {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// `'x'`, `'\n'`, `'\''` rather than a lifetime such as `'a`.
fn is_char_literal(chars: &[char], at: usize) -> bool {
    matches!((chars.get(at + 1), chars.get(at + 2)), (Some('\\'), _) | (Some(_), Some('\'')))
}

/// The code outside inline `#[cfg(test)] mod tests { … }` blocks.
fn without_test_modules(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        if let Some(body) = trimmed.strip_prefix("mod tests")
            && let Some(open) = body.find('{')
            && body[..open].trim().is_empty()
        {
            let mut depth = 0usize;
            let mut end = body.len();
            for (k, ch) in body.char_indices().skip(open) {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            rest = &body[end..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The paths of a `use` tree: `a::{b, c::{d, e as f}, *}` → `[a,b] [a,c,d] [a,c,e] [a]`.
pub fn use_paths(tree: &str) -> Vec<Vec<String>> {
    let tokens: Vec<String> = tokenize(tree);
    let mut at = 0;
    let mut out = Vec::new();
    parse_tree(&tokens, &mut at, Vec::new(), &mut out);
    out
}

fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
            if c == ':' && chars.get(i + 1) == Some(&':') {
                tokens.push("::".into());
                i += 1;
            } else if "{},*".contains(c) {
                tokens.push(c.to_string());
            }
        }
        i += 1;
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

fn parse_tree(tokens: &[String], at: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        match tokens.get(*at).map(String::as_str) {
            Some("{") => {
                *at += 1;
                loop {
                    match tokens.get(*at).map(String::as_str) {
                        Some("}") => {
                            *at += 1;
                            return;
                        }
                        Some(",") => *at += 1,
                        None => return,
                        _ => parse_tree(tokens, at, path.clone(), out),
                    }
                }
            }
            Some("*") => {
                *at += 1;
                out.push(path);
                return;
            }
            Some("::") => *at += 1,
            Some(word) if word != "," && word != "}" => {
                path.push(word.to_owned());
                *at += 1;
                if tokens.get(*at).map(String::as_str) == Some("as") {
                    *at += 2;
                }
                if tokens.get(*at).map(String::as_str) != Some("::") {
                    out.push(path);
                    return;
                }
            }
            _ => {
                out.push(path);
                return;
            }
        }
    }
}

/// Every `.rs` file under `src` with its module path; test files left out.
fn module_files(src: &Path) -> Vec<(Vec<String>, PathBuf)> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin" && n != "tests") {
                    dirs.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let Ok(relative) = path.strip_prefix(src) else { continue };
            let mut module: Vec<String> =
                relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            if let Some(last) = module.pop() {
                let stem = last.trim_end_matches(".rs").to_owned();
                if !matches!(stem.as_str(), "mod" | "lib" | "main") {
                    module.push(stem);
                } else if module.is_empty() && stem != "lib" && src.join("lib.rs").exists() {
                    // A crate with a lib and a main: the binary is its own root.
                    continue;
                }
            }
            files.push((module, path));
        }
    }
    files
}

/// A file's code split into its own and each inline `mod name { … }`'s,
/// with their module paths.
fn inline_modules(module: &[String], code: &str, into: &mut Vec<(Vec<String>, String)>) {
    let mut own = String::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "mod") {
        let after = &rest[at + 3..];
        let name: String = after.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let tail = after.trim_start()[name.len()..].trim_start();
        if name.is_empty() || !tail.starts_with('{') {
            own.push_str(&rest[..at + 3]);
            rest = after;
            continue;
        }
        own.push_str(&rest[..at]);
        let open = rest.len() - tail.len();
        let mut depth = 0usize;
        let mut end = rest.len();
        for (k, ch) in rest.char_indices().skip(open) {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let mut path = module.to_vec();
        path.push(name);
        inline_modules(&path, &rest[open + 1..end], into);
        rest = rest.get(end + 1..).unwrap_or("");
    }
    own.push_str(rest);
    into.push((module.to_vec(), own));
}

/// The crate's module graph: each module and the modules its code names.
pub fn graph(src: &Path) -> Graph {
    let mut units = Vec::new();
    for (module, path) in module_files(src) {
        let source = std::fs::read_to_string(&path).unwrap_or_default();
        inline_modules(&module, &without_test_modules(&code_only(&source)), &mut units);
    }
    let modules: BTreeSet<Vec<String>> = units.iter().map(|(m, _)| m.clone()).collect();
    let children_of = |module: &Vec<String>| -> BTreeSet<String> {
        modules
            .iter()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .filter_map(|m| m.last().cloned())
            .collect()
    };
    // What each module re-exports (`pub use child::Name`): a path through a
    // facade depends on the module the name comes from.
    let mut exported: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (module, code) in &units {
        for (path, facade) in references(code, &children_of(module)) {
            let (Some(absolute), Some(last)) = (absolute(module, &path), path.last()) else { continue };
            if facade && deepest_module(&modules, &absolute).starts_with(module) {
                let mut name = module.clone();
                name.push(last.clone());
                if name != absolute {
                    exported.insert(name, absolute);
                }
            }
        }
    }
    let resolve = |absolute: &[String]| -> Vec<String> {
        let mut path = absolute.to_vec();
        for _ in 0..8 {
            let module = deepest_module(&modules, &path);
            let Some(next) = path.get(module.len()) else { return module };
            let mut name = module.clone();
            name.push(next.clone());
            match exported.get(&name) {
                Some(source) => path = source.iter().chain(&path[module.len() + 1..]).cloned().collect(),
                None => return module,
            }
        }
        deepest_module(&modules, &path)
    };
    let mut graph = Graph::new();
    for (module, code) in &units {
        let mut targets = BTreeMap::new();
        for (path, facade) in references(code, &children_of(module)) {
            let Some(absolute) = absolute(module, &path) else { continue };
            let target = resolve(&absolute);
            if &target == module || (facade && target.starts_with(module)) {
                continue;
            }
            targets.entry(target).or_insert_with(|| path.join("::"));
        }
        let entry = graph.entry(module.clone()).or_default();
        for (target, example) in targets {
            entry.entry(target).or_insert(example);
        }
    }
    graph
}

/// Paths the code names, each with whether it is a `pub use` (a possible facade).
fn references(code: &str, children: &BTreeSet<String>) -> Vec<(Vec<String>, bool)> {
    let mut out = Vec::new();
    let mut rest = code;
    let mut outside_uses = String::new();
    // `use` declarations, whole trees.
    while let Some(at) = find_word(rest, "use") {
        let before = rest[..at].trim_end();
        let facade = before.ends_with("pub") || before.ends_with(')') && before.contains("pub(");
        outside_uses.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        for path in use_paths(&after[..end]) {
            out.push((path, facade));
        }
        rest = &after[end..];
    }
    outside_uses.push_str(rest);
    // Paths in code: `crate::…`, `super::…`, `self::…`, and a child's name.
    let tokens = tokenize(&outside_uses);
    for (k, token) in tokens.iter().enumerate() {
        let starts = matches!(token.as_str(), "crate" | "super" | "self") || children.contains(token);
        let preceded = k > 0 && tokens[k - 1] == "::";
        if !starts || preceded || tokens.get(k + 1).map(String::as_str) != Some("::") {
            continue;
        }
        let mut path = vec![token.clone()];
        let mut j = k + 1;
        while tokens.get(j).map(String::as_str) == Some("::")
            && let Some(next) = tokens.get(j + 1)
            && next.chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            path.push(next.clone());
            j += 2;
        }
        out.push((path, false));
    }
    out
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find(word) {
        let at = from + at;
        let before = text[..at].chars().last();
        let after = text[at + word.len()..].chars().next();
        if !ident_char(before) && after.is_some_and(char::is_whitespace) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// A path as segments from the crate root; `None` for an outside crate's.
fn absolute(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = module.to_vec();
    let mut segments = path.iter().peekable();
    match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            base.clear();
            segments.next();
        }
        Some("self") => {
            segments.next();
        }
        Some("super") => {
            while segments.peek().map(|s| s.as_str()) == Some("super") {
                segments.next();
                base.pop()?;
            }
        }
        Some(_) => {}
        None => return None,
    }
    // A bare first segment is a child of this module, or another crate's
    // name (which then resolves to no module of this one).
    Some(base.into_iter().chain(segments.cloned()).collect())
}

fn deepest_module(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Vec<String> {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| modules.contains(m)).unwrap_or_default()
}

fn name(module: &[String]) -> String {
    if module.is_empty() { "crate".to_owned() } else { module.join("::") }
}

/// The edges inside one cycle, each as `from -> to (path)`, to show where
/// to cut it.
pub fn cycle_edges(graph: &Graph, cycle: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (from, targets) in graph {
        if !cycle.contains(&name(from)) {
            continue;
        }
        for (to, example) in targets {
            if cycle.contains(&name(to)) {
                out.push(format!("{} -> {} ({example})", name(from), name(to)));
            }
        }
    }
    out
}

/// The graph's cycles: each strongly connected group of two or more modules.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let nodes: Vec<&Vec<String>> = graph.keys().collect();
    let reach = |from: &Vec<String>| -> BTreeSet<Vec<String>> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<Vec<String>> = graph.get(from).into_iter().flat_map(|t| t.keys().cloned()).collect();
        while let Some(next) = stack.pop() {
            if seen.insert(next.clone()) {
                stack.extend(graph.get(&next).into_iter().flat_map(|t| t.keys().cloned()));
            }
        }
        seen
    };
    let reached: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut placed = BTreeSet::new();
    for node in &nodes {
        if placed.contains(*node) || !reached[node].contains(*node) {
            continue;
        }
        let group: Vec<String> = nodes
            .iter()
            .filter(|other| reached[node].contains(**other) && reached[**other].contains(*node))
            .map(|m| {
                placed.insert((*m).clone());
                name(m)
            })
            .collect();
        groups.push(group);
    }
    groups
}

#[cfg(test)]
mod tests;
