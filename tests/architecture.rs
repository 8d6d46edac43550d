//! The shape of `src/`, checked: no file depends (through `crate::` paths) on a file that depends
//! on it, and no top-level module (a folder, or a file beside `lib.rs`) on one that depends on it;
//! the pure modules use neither libtorch, nor clap, nor CSV; no function runs past 60 lines but
//! the few named here, with the reason. Test code (`#[cfg(test)] mod` blocks and `*_tests.rs`) is
//! left out; every other item is read, test-only ones included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Libtorch-free, clap-free, CSV-free: the maths of the product (a folder: every file in it).
const PURE: &[&str] = &["optim/schedule.rs", "lr_finder/"];
const LONGEST_FN: usize = 60;
/// Functions allowed to be longer, and why.
const LONG_FNS: &[(&str, &str)] = &[];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file (relative to src/) and its code without its test modules.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src()).unwrap().to_string_lossy().replace('\\', "/");
                if rel.ends_with("_tests.rs") || rel.ends_with("/tests.rs") {
                    continue;
                }
                out.insert(rel, without_test_modules(&std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src(), &mut out);
    out
}

/// `code` without its `#[cfg(test)] mod NAME { … }` blocks and `#[cfg(test)] mod NAME;` lines
/// (other attributes may sit between the two). Any other `#[cfg(test)]` item stays: it is code
/// of the crate, and its dependencies count.
fn without_test_modules(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        match test_module_len(after) {
            Some(len) => rest = &after[len..],
            None => {
                out.push_str("#[cfg(test)]");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// When `item` (the text after a `#[cfg(test)]`) is a module, its length: up to its `;`, or to
/// the brace that closes its body. Strings, characters and comments inside are skipped.
fn test_module_len(item: &str) -> Option<usize> {
    let mut i = 0;
    let bytes = item.as_bytes();
    // Further attributes (`#[path = "…"]`) and white space.
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if item[i..].starts_with("#[") {
            i += item[i..].find(']')? + 1;
        } else {
            break;
        }
    }
    let head = &item[i..];
    let head = head.strip_prefix("pub(crate) ").or_else(|| head.strip_prefix("pub ")).unwrap_or(head);
    if !head.starts_with("mod ") {
        return None;
    }
    let start = item.len() - head.len();
    let (semi, open) = (head.find(';'), head.find('{'));
    if let (Some(s), o) = (semi, open) {
        if o.is_none_or(|o| s < o) {
            return Some(start + s + 1);
        }
    }
    let open = start + open?;
    let mut depth = 0usize;
    let mut j = open;
    while j < bytes.len() {
        match bytes[j] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            b'/' if bytes.get(j + 1) == Some(&b'/') => j += item[j..].find('\n').unwrap_or(item.len() - j),
            b'"' => j += string_len(&item[j..]) - 1,
            b'r' if item[j..].starts_with("r#\"") || item[j..].starts_with("r\"") => {
                let hashes = item[j + 1..].bytes().take_while(|&b| b == b'#').count();
                let close = format!("\"{}", "#".repeat(hashes));
                let body = j + 2 + hashes;
                j = body + item[body..].find(&close)? + close.len() - 1;
            }
            b'\'' => {
                // A character literal ('{', '\n'), not a lifetime ('a).
                let c = &item[j + 1..];
                let len = if c.starts_with('\\') {
                    c.get(2..).and_then(|e| e.find('\'')).map(|k| k + 2)
                } else {
                    c.chars().next().map(char::len_utf8)
                };
                if let Some(len) = len.filter(|&l| c[l..].starts_with('\'')) {
                    j += len + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// The length of the string literal that `s` starts with (quotes included).
fn string_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut k = 1;
    while k < bytes.len() {
        match bytes[k] {
            b'\\' => k += 2,
            b'"' => return k + 1,
            _ => k += 1,
        }
    }
    bytes.len()
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

/// The top-level module a file belongs to: `train/trainer.rs` → `train`, `files.rs` → `files`.
fn top_level(file: &str) -> String {
    let first = file.split('/').next().unwrap_or(file);
    first.strip_suffix(".rs").unwrap_or(first).to_string()
}

/// top-level module → the top-level modules its files depend on (itself left out).
fn folder_graph(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, targets) in edges {
        let from = top_level(file);
        let to = folders.entry(from.clone()).or_default();
        to.extend(targets.iter().map(|t| top_level(t)).filter(|t| *t != from));
    }
    folders
}

#[test]
fn no_file_depends_on_a_file_that_depends_on_it() {
    let files = sources();
    let edges = graph(&files);
    assert!(edges["train/mod.rs"].contains("config/mod.rs"), "the parser finds real dependencies: {edges:?}");
    if let Some(cycle) = find_cycle(&edges) {
        panic!("dependency cycle between files: {}", cycle.join(" -> "));
    }
}

#[test]
fn no_folder_depends_on_a_folder_that_depends_on_it() {
    let folders = folder_graph(&graph(&sources()));
    assert!(folders["train"].contains("config"), "the folders' dependencies are found: {folders:?}");
    if let Some(cycle) = find_cycle(&folders) {
        panic!("dependency cycle between top-level modules: {}", cycle.join(" -> "));
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let edge = |a: &str, b: &[&str]| (a.to_string(), b.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
    let mut edges: BTreeMap<_, _> = [edge("a.rs", &["b.rs"]), edge("b.rs", &["c.rs"]), edge("c.rs", &[])].into();
    assert_eq!(find_cycle(&edges), None);
    edges.insert("c.rs".into(), ["a.rs".to_string()].into());
    assert_eq!(find_cycle(&edges).unwrap(), ["a.rs", "b.rs", "c.rs", "a.rs"]);
    // Files without a cycle between them, whose folders have one: x/a.rs -> y/b.rs -> x/c.rs.
    let files: BTreeMap<_, _> = [edge("x/a.rs", &["y/b.rs"]), edge("y/b.rs", &["x/c.rs"]), edge("x/c.rs", &[])].into();
    assert_eq!(find_cycle(&files), None);
    assert_eq!(find_cycle(&folder_graph(&files)).unwrap(), ["x", "y", "x"]);
}

#[test]
fn only_test_modules_are_left_out() {
    let code = r##"use crate::a::A;
#[cfg(test)]
mod tests;
#[cfg(test)]
#[path = "x_tests.rs"]
mod more;
pub use crate::b::B;
#[cfg(test)]
extern "C" {
    fn hook(x: i32) -> i32;
}
#[cfg(test)]
mod tests {
    use crate::c::C;
    fn f<'a>(s: &'a str) -> char { let _ = "}"; let _ = r#"{"#; '{' }
    // }
}
fn g() { let _ = crate::d::D; }
"##;
    let kept = without_test_modules(code);
    for still in ["crate::a::A", "crate::b::B", "fn hook", "crate::d::D"] {
        assert!(kept.contains(still), "{still} dropped:\n{kept}");
    }
    for gone in ["mod tests", "mod more", "crate::c::C", "x_tests.rs"] {
        assert!(!kept.contains(gone), "{gone} kept:\n{kept}");
    }
}

#[test]
fn pure_modules_use_neither_libtorch_nor_clap_nor_csv() {
    let files = sources();
    let pure: Vec<&String> = files.keys().filter(|f| PURE.iter().any(|p| f.starts_with(p))).collect();
    assert!(pure.len() >= 5, "the pure files are found: {pure:?}");
    for file in pure {
        let code: String =
            files[file].lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
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
