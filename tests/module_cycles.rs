//! The library's top-level modules depend on each other without cycles: the flow
//! (template → plan → actions → driver → ...) reads one way. A module's dependencies
//! are the `crate::NAME` paths in its files, its unit tests left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.rs` files of the library's top-level module `name`.
fn files(src: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = src.join(format!("{name}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

/// The library's modules, as `lib.rs` declares them.
fn modules(src: &Path) -> Vec<String> {
    std::fs::read_to_string(src.join("lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix("pub mod ")
                .or(l.strip_prefix("pub(crate) mod "))?;
            Some(rest.split(';').next()?.trim().to_string())
        })
        .collect()
}

/// Every `crate::NAME` (and `crate::{NAME, ...}`) in `text` before its unit tests.
fn uses(text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => top_level_items(group),
            None => vec![rest],
        };
        for name in names {
            let name: String = name
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if known.contains(&name) {
                found.insert(name);
            }
        }
    }
    found
}

/// The items of a `{...}` group (its text after the `{`), nested groups kept whole.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// A cycle in `graph`, if it has one (depth-first, three colours).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut c = path[at..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in &graph[node] {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo().join("src");
    let known: BTreeSet<String> = modules(&src).into_iter().collect();
    known
        .iter()
        .map(|m| {
            let mut deps = BTreeSet::new();
            for f in files(&src, m) {
                deps.extend(uses(&std::fs::read_to_string(f).unwrap(), &known));
            }
            deps.remove(m);
            (m.clone(), deps)
        })
        .collect()
}

#[test]
fn the_modules_depend_on_each_other_without_cycles() {
    let graph = graph();
    assert!(graph.len() >= 15, "lib.rs lists {} modules", graph.len());
    if let Some(c) = cycle(&graph) {
        panic!("module cycle: {}", c.join(" -> "));
    }
}

#[test]
fn the_check_finds_a_cycle_where_there_is_one() {
    let mut graph = graph();
    // The driver runs nodes of a plan; a plan that used the driver would close a loop.
    assert!(graph["driver"].contains("plan"));
    graph.get_mut("plan").unwrap().insert("driver".into());
    let c = cycle(&graph).expect("a cycle");
    assert!(c.contains(&"plan".to_string()) && c.contains(&"driver".to_string()));
}

#[test]
fn uses_are_read_from_paths_and_groups() {
    let known: BTreeSet<String> = ["env", "plan", "net"].map(String::from).into();
    let text = "use crate::{env::{self, EnvInfo}, plan};\nlet x = crate::net::Mac;\n// crate::other\n#[cfg(test)]\nmod tests { use crate::envdir; }";
    assert_eq!(
        uses(text, &known),
        ["env", "net", "plan"].map(String::from).into()
    );
}
