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
        ("| 10.00 | 0.95 |", "| 10.00 | 0.96 |"),
        ("| 10.00 | 0.95 |", "| 10.00 |"),
        ("| 1.25 | 1.22 |", "| 1.25 | 1.23 |"),
        ("(points) | 0.95 | 0.95 |", "(points) | 0.96 | 0.95 |"),
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
