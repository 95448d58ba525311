//! The shape the code keeps: no function crate is a library for another;
//! no crate's modules name one another in a circle; no source file grows
//! past 500 lines; the domain's vocabulary stays at the bottom; and only
//! `shared/aws` talks to AWS or Slack.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_e2e::modules::{cycle_edges, cycles, graph};
use partnerops_e2e::repo_file;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The `crate::<module>` paths a file uses, outside its inline tests.
fn crate_paths(source: &str) -> BTreeSet<String> {
    let code = source.split("#[cfg(test)]\nmod tests {").next().unwrap_or(source);
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn sources(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            into.push(path);
        }
    }
}

#[test]
fn the_domain_modules_form_no_cycle() {
    let root = repo_file("shared/domain/src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" {
            continue;
        }
        let uses = crate_paths(&std::fs::read_to_string(file).unwrap());
        let modules: Vec<String> =
            uses.into_iter().filter(|m| *m != module && root.join(format!("{m}.rs")).exists()).collect();
        graph.entry(module).or_default().extend(modules);
    }
    assert!(graph.len() >= 15, "the domain's modules were not found: {graph:?}");
    for start in graph.keys() {
        let mut stack: Vec<&String> = graph[start].iter().collect();
        let mut seen = BTreeSet::new();
        while let Some(next) = stack.pop() {
            assert_ne!(next, start, "{start} depends on itself through {seen:?}");
            if seen.insert(next.clone()) {
                stack.extend(graph.get(next).into_iter().flatten());
            }
        }
    }
    // The shared vocabulary stays at the bottom.
    for leaf in ["status", "field", "id", "time"] {
        assert!(graph[leaf].is_empty(), "{leaf} must not depend on other modules: {:?}", graph[leaf]);
    }
}

#[test]
fn only_shared_aws_depends_on_aws_and_http_clients() {
    let functions = repo_file("functions");
    let mut checked = 0;
    for entry in std::fs::read_dir(&functions).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let dependencies = text.split("[dev-dependencies]").next().unwrap();
        for client in ["aws-sdk-", "reqwest", "aws-config"] {
            assert!(!dependencies.contains(client), "{} depends on {client}", manifest.display());
        }
        checked += 1;
    }
    assert_eq!(checked, 13, "every function crate is checked");
}

fn function_crates() -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = std::fs::read_dir(repo_file("functions")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

/// The other function crates a manifest depends on, in any section.
fn function_dependencies(manifest: &str, functions: &BTreeSet<String>) -> Vec<String> {
    let doc: toml::Table = toml::from_str(manifest).unwrap();
    ["dependencies", "dev-dependencies", "build-dependencies"]
        .iter()
        .filter_map(|section| doc.get(*section).and_then(|s| s.as_table()))
        .flat_map(|table| table.keys().cloned())
        .filter(|name| functions.contains(name))
        .collect()
}

#[test]
fn no_function_crate_depends_on_another() {
    let names: BTreeSet<String> =
        function_crates().iter().map(|d| d.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 13, "every function crate is checked: {names:?}");
    let planted = "[dependencies]\npartnerops-app.workspace = true\n[dev-dependencies]\nnotifier.workspace = true\n";
    assert_eq!(function_dependencies(planted, &names), ["notifier"], "the check sees a dev-dependency too");
    for dir in function_crates() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let found = function_dependencies(&manifest, &names);
        assert!(
            found.is_empty(),
            "{} depends on the function crates {found:?}: move what they share to shared/app",
            dir.display()
        );
    }
}

/// Every crate's source root: its `src/`, and the test binary's `tests/`.
fn crate_roots() -> Vec<std::path::PathBuf> {
    let mut roots = Vec::new();
    for parent in ["shared", "functions"] {
        for entry in std::fs::read_dir(repo_file(parent)).unwrap() {
            roots.push(entry.unwrap().path().join("src"));
        }
    }
    roots.extend(["infra/devstack/src", "infra/xtask/src", "tests/src", "tests/tests"].map(repo_file));
    roots.retain(|r| r.is_dir());
    roots.sort();
    roots
}

#[test]
fn no_crate_has_an_import_circle() {
    let roots = crate_roots();
    assert!(roots.len() >= 20, "every crate is checked: {roots:?}");
    let mut circles = Vec::new();
    let mut modules = 0;
    for root in &roots {
        let graph = graph(root);
        modules += graph.len();
        for cycle in cycles(&graph) {
            let edges = cycle_edges(&graph, &cycle);
            circles.push(format!("{}: {}\n    {}", root.display(), cycle.join(" <-> "), edges.join("\n    ")));
        }
    }
    assert!(modules > 150, "the modules were not found: {modules}");
    assert!(circles.is_empty(), "modules that name each other in a circle:\n{}", circles.join("\n"));
}

#[test]
fn no_source_file_is_longer_than_500_lines() {
    fn every_source(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && path.file_name().is_some_and(|n| n != "node_modules") {
                every_source(&path, into);
            } else if path.extension().is_some_and(|e| e == "rs") {
                into.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in ["shared", "functions", "infra", "tests"] {
        every_source(&repo_file(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > 500).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(files.len() > 150, "the sources were not found");
    assert!(long.is_empty(), "split these by idea:\n{}", long.join("\n"));
}

/// Glob imports (`use super::*`, `pub use child::*`) hide which module a
/// name comes from, and so the graph above; tests may use them, code may not.
/// The one exception is the ports prelude, which is every port trait.
#[test]
fn code_names_what_it_imports() {
    let mut globs = Vec::new();
    for root in crate_roots().iter().filter(|r| !r.ends_with("tests/tests")) {
        let mut files = Vec::new();
        sources(root, &mut files);
        for file in files {
            let code = partnerops_e2e::modules::code_only(&std::fs::read_to_string(&file).unwrap());
            let code = code.split("#[cfg(test)]").next().unwrap_or_default();
            for line in code.lines().map(str::trim) {
                let prelude = line == "use partnerops_aws::store::ports::*;";
                if (line.starts_with("use ") || line.starts_with("pub use ")) && line.ends_with("::*;") && !prelude {
                    globs.push(format!("{}: {line}", file.display()));
                }
            }
        }
    }
    assert!(globs.is_empty(), "name the imports:\n{}", globs.join("\n"));
}

/// A crate whose unit-test harness is off (`[lib] test = false`, to spare
/// CI a binary with nothing in it) has no unit test that would silently
/// never run.
#[test]
fn no_unit_test_sits_in_a_crate_without_a_harness() {
    let mut checked = 0;
    let mut stranded = Vec::new();
    for root in crate_roots().iter().filter(|r| r.ends_with("src")) {
        let manifest = std::fs::read_to_string(root.parent().unwrap().join("Cargo.toml")).unwrap();
        let doc: toml::Table = toml::from_str(&manifest).unwrap();
        let off = doc.get("lib").and_then(|l| l.get("test")).and_then(|t| t.as_bool()) == Some(false);
        if !off {
            continue;
        }
        checked += 1;
        let mut files = Vec::new();
        sources(root, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            if ["#[test]", "#[tokio::test]", "#[cfg(test)]"].iter().any(|m| text.contains(m)) {
                stranded.push(file.display().to_string());
            }
        }
    }
    assert!(checked >= 9, "the crates without a harness were not found: {checked}");
    assert!(stranded.is_empty(), "unit tests that never run; remove `test = false`: {stranded:?}");
}
