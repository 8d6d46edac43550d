//! The documents a newcomer reads: every figure README.md quotes agrees with bench/*.json
//! (scripts/check-readme-figures.py, which must also catch a figure that disagrees), and no
//! document points outside the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's Python, or None (with a note) where set-up has not made one.
fn python() -> Option<PathBuf> {
    let py = repo().join(".venv/bin/python");
    if py.exists() {
        Some(py)
    } else {
        eprintln!("note: {} missing (run scripts/setup.sh): README figure check skipped", py.display());
        None
    }
}

fn check(py: &Path, readme: &Path) -> std::process::Output {
    Command::new(py)
        .current_dir(repo())
        .arg("scripts/check-readme-figures.py")
        .arg("--readme")
        .arg(readme)
        .output()
        .unwrap()
}

#[test]
fn readme_figures_agree_with_bench_json() {
    let Some(py) = python() else { return };
    let out = check(&py, &repo().join("README.md"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_figure_that_disagrees_is_caught() {
    let Some(py) = python() else { return };
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let changes = [
        ("| 1.38 |", "| 1.39 |"),
        ("## Status", "About 9.9× faster.\n\n## Status"),
        ("| floor (default) | 2.67 |", "| floor (default) | 2.68 |"),
        ("| 2.67 | 1.18 |", "| 2.67 | 1.19 |"),
        ("| 10.00 | 1.22 |", "| 10.00 | 1.23 |"),
        ("| 10.00 | 1.22 |", "| 10.00 |"),
        ("| 1.43 | 1.40 |", "| 1.43 | 1.41 |"),
        ("(points) | 1.22 | 1.22 |", "(points) | 1.23 | 1.22 |"),
        ("| 10.00 | 1.40 |", "| 10.00 | 1.39 |"),
        ("| 10.00 | 1.40 |", "| 10.00 | 1.40 | 2 |"),
        ("| worst regret against", "| worst loss against"),
    ];
    for (from, to) in changes {
        assert!(readme.contains(from), "README.md no longer has {from:?}");
        let changed = dir.path().join("README.md");
        std::fs::write(&changed, readme.replacen(from, to, 1)).unwrap();
        let out = check(&py, &changed);
        assert_eq!(out.status.code(), Some(1), "{to:?} passed the check");
    }
}

/// A ten-seed grid grown to twenty (`SET-dD-x10` and `SET-dD-x20` in bench/regret-seeds.json):
/// the README quotes the larger, whatever the smaller says.
#[test]
fn a_grid_grown_to_more_seeds_supersedes_its_smaller_self() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let bench = dir.path().join("bench");
    std::fs::create_dir(&bench).unwrap();
    for entry in std::fs::read_dir(repo().join("bench")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::copy(&path, bench.join(path.file_name().unwrap())).unwrap();
        }
    }
    let file = bench.join("regret-seeds.json");
    let mut record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let parts = record["parts"].as_object_mut().unwrap();
    let (name, part) = parts.iter().next().map(|(n, p)| (n.clone(), p.clone())).unwrap();
    let stem = name.rsplit_once("-x").unwrap().0.to_string();
    let mut worse = part;
    worse["rules"]["floor"]["median"] = serde_json::json!(99.0);
    let run = |seeds: usize, record: &serde_json::Value| {
        let mut record = record.clone();
        let mut worse = worse.clone();
        worse["seeds"] = serde_json::json!((1..=seeds).collect::<Vec<usize>>());
        record["parts"][format!("{stem}-x{seeds}")] = worse;
        std::fs::write(&file, record.to_string()).unwrap();
        Command::new(&py)
            .current_dir(repo())
            .args(["scripts/check-readme-figures.py", "--bench"])
            .arg(&bench)
            .output()
            .unwrap()
    };
    // Every real grid has more than one seed and fewer than a thousand.
    let smaller = run(1, &record);
    assert!(smaller.status.success(), "{}", String::from_utf8_lossy(&smaller.stderr));
    let larger = run(1000, &record);
    assert_eq!(larger.status.code(), Some(1), "a larger grid's figure was not quoted");
}

#[test]
fn no_document_points_outside_the_repository() {
    let mut docs = vec![repo().join("README.md"), repo().join("BENCHMARKS.md"), repo().join("CONTRIBUTING.md")];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        assert!(!text.contains("../shared"), "{} points to ../shared", doc.display());
    }
}
