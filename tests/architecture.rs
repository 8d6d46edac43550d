//! The shape of `src/`, checked: no file depends (through `crate::` paths) on a file that depends
//! on it; the pure modules use neither libtorch, nor clap, nor CSV; no function runs past 60 lines
//! but the few named here, with the reason. Test code (`#[cfg(test)]` and `*_tests.rs`) is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Libtorch-free, clap-free, CSV-free: the maths of the product.
const PURE: &[&str] = &[
    "optim/schedule.rs",
    "lr_finder/analysis.rs",
    "lr_finder/sweep.rs",
    "lr_finder/sweep_choice.rs",
    "lr_finder/sweep_param.rs",
];
const LONGEST_FN: usize = 60;
/// Functions allowed to be longer, and why.
const LONG_FNS: &[(&str, &str)] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file (relative to src/) and its code without the test module.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src()).unwrap().to_string_lossy().replace('\\', "/");
                if rel.ends_with("_tests.rs") || rel == "plot/tests.rs" || rel.ends_with("/tests.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap().to_string();
                out.insert(rel, code);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src(), &mut out);
    out
}

/// The file that defines module path `a::b::c` (the longest prefix that is a file).
fn module_file(files: &BTreeMap<String, String>, path: &[&str]) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let joined = path[..n].join("/");
        [format!("{joined}.rs"), format!("{joined}/mod.rs")].into_iter().find(|f| files.contains_key(f))
    })
}

/// file → the files its `crate::…` paths name (`use crate::x::{a, b}` counts `crate::x`).
fn graph(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for (file, code) in files {
        let mut targets = BTreeSet::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let path: Vec<&str> = rest
                .split("::")
                .map(|seg| seg.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or(""))
                .take_while(|seg| !seg.is_empty() && seg.chars().next().is_some_and(|c| c.is_lowercase()))
                .collect();
            if let Some(target) = module_file(files, &path) {
                if &target != file && target != "lib.rs" {
                    targets.insert(target);
                }
            }
        }
        edges.insert(file.clone(), targets);
    }
    edges
}

fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = stack.iter().position(|n| n == next).unwrap();
                    return Some([&stack[start..], std::slice::from_ref(next)].concat());
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, state, stack) {
                        return Some(cycle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    edges.keys().find_map(|n| if state.contains_key(n) { None } else { visit(n, edges, &mut state, &mut Vec::new()) })
}

#[test]
fn no_file_depends_on_a_file_that_depends_on_it() {
    let files = sources();
    let edges = graph(&files);
    assert!(edges["train/mod.rs"].contains("config/mod.rs"), "the parser finds real dependencies: {edges:?}");
    if let Some(cycle) = find_cycle(&edges) {
        panic!("dependency cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let edge = |a: &str, b: &[&str]| (a.to_string(), b.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
    let mut edges: BTreeMap<_, _> = [edge("a.rs", &["b.rs"]), edge("b.rs", &["c.rs"]), edge("c.rs", &[])].into();
    assert_eq!(find_cycle(&edges), None);
    edges.insert("c.rs".into(), ["a.rs".to_string()].into());
    assert_eq!(find_cycle(&edges).unwrap(), ["a.rs", "b.rs", "c.rs", "a.rs"]);
}

#[test]
fn pure_modules_use_neither_libtorch_nor_clap_nor_csv() {
    let files = sources();
    for file in PURE {
        let code: String =
            files[*file].lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for banned in ["tch::", "clap", "csv::", "crate::records", "crate::config", "std::fs"] {
            assert!(!code.contains(banned), "{file} uses {banned}");
        }
    }
}

/// (file, function name, lines) of every function body, by brace matching from its `fn` line.
fn functions(files: &BTreeMap<String, String>) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (file, code) in files {
        let lines: Vec<&str> = code.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let Some(after) =
                ["pub fn ", "fn ", "pub(crate) fn ", "pub(super) fn "].iter().find_map(|p| t.strip_prefix(p))
            else {
                continue;
            };
            let name = after.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("").to_string();
            let mut depth = 0i64;
            let mut opened = false;
            for (j, l) in lines[i..].iter().enumerate() {
                for c in l.chars() {
                    match c {
                        '{' => (depth, opened) = (depth + 1, true),
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                if opened && depth == 0 {
                    out.push((file.clone(), name.clone(), j + 1));
                    break;
                }
                if !opened && l.trim_end().ends_with(';') {
                    break; // a declaration without a body (extern, trait)
                }
            }
        }
    }
    out
}

#[test]
fn functions_are_short() {
    let files = sources();
    let all = functions(&files);
    assert!(all.len() > 100, "the scan finds the functions: {}", all.len());
    let long: Vec<String> = all
        .iter()
        .filter(|(_, name, n)| *n > LONGEST_FN && !LONG_FNS.iter().any(|(f, _)| f == name))
        .map(|(file, name, n)| format!("{file}: {name} ({n} lines)"))
        .collect();
    assert!(long.is_empty(), "functions over {LONGEST_FN} lines:\n{}", long.join("\n"));
}
