//! The shape the code keeps: the domain's modules depend on one another
//! without cycles, and only `shared/aws` talks to AWS or Slack.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
