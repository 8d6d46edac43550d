//! `train --max-lr auto --verify N` through the binary: the short runs around the range test's
//! suggestion, the choice of the one that trained best (recorded in config.json), a proposal whose
//! candidates all diverge, and the usage errors.

mod common;

use common::{cifar, one_line_error, read_json, Cmd};
use std::path::Path;

/// (max_lr, status, final_test_acc) of verify/grid.json's runs.
fn candidates(run: &Path) -> Vec<(f64, String, Option<f64>)> {
    let grid = read_json(&run.join("verify/grid.json"));
    grid["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["max_lr"].as_f64().unwrap(), r["status"].as_str().unwrap().to_string(), r["final_test_acc"].as_f64())
        })
        .collect()
}

#[test]
fn verify_trains_the_candidate_that_trained_best() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let args = ["--max-lr", "auto", "--iters", "40", "--verify", "--verify-epochs", "1", "--phases", "1,1,0"];
    Cmd::tiny("train").data(&d).out(&out).args(args).args(["--seed", "2"]).ok();

    let test = read_json(&out.join("range_test/range_test.json"));
    let suggested = test["max_lr"].as_f64().unwrap();
    let runs = candidates(&out);
    let lrs: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let expected: Vec<f64> = [0.5, 1.0, 2.0].iter().map(|k| k * suggested).collect();
    for (lr, want) in lrs.iter().zip(&expected) {
        assert!((lr / want - 1.0).abs() < 1e-5, "candidates {lrs:?}, suggestion {suggested}");
    }
    // Each candidate is a one-cycle of one epoch.
    let short = read_json(
        &out.join("verify")
            .join(format!("lr={}", clr::lr_finder::sweep::param::short_number(lrs[0])))
            .join("config.json"),
    );
    assert_eq!(short["phases"], serde_json::json!([0.45, 0.45, 0.1]));

    // The run trains at the candidate with the highest final accuracy (diverged: 0; ties: the
    // lowest LR, the first found).
    let score = |r: &(f64, String, Option<f64>)| if r.1 == "completed" { r.2.unwrap() } else { 0.0 };
    let best = runs.iter().fold(&runs[0], |b, r| if score(r) > score(b) { r } else { b });
    let config = read_json(&out.join("config.json"));
    assert_eq!(config["max_lr"].as_f64(), Some(best.0), "{runs:?}");
    assert!((config["base_lr"].as_f64().unwrap() - best.0 / 10.0).abs() < 1e-12);
    let source = config["lr_source"].as_str().unwrap();
    assert!(source.contains("--verify: 3 one-cycle runs of 1 epochs"), "{source}");
    for r in &runs {
        assert!(source.contains(&format!("{} -> ", r.0)), "{} missing from {source}", r.0);
    }
    assert!(source.contains(&format!("max_lr {} trained best", best.0)), "{source}");
    // Then the run itself trains its own schedule (2 epochs), not the short one.
    assert_eq!(read_json(&out.join("summary.json"))["epochs"].as_u64(), Some(2));
}

#[test]
fn verify_seeds_chooses_the_best_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let args = ["--max-lr", "auto", "--iters", "40", "--verify", "2", "--verify-seeds", "2", "--verify-epochs", "1"];
    Cmd::tiny("train").data(&d).out(&out).args(args).args(["--phases", "1,1,0", "--seed", "4"]).ok();
    let grid = read_json(&out.join("verify/grid.json"));
    assert_eq!(grid["seeds"], serde_json::json!([4, 5]));
    let runs = candidates(&out);
    assert_eq!(runs.len(), 4, "two candidates at two seeds: {runs:?}");
    // The mean of each candidate's two runs (diverged: 0); the best, the first of equals.
    let score = |r: &(f64, String, Option<f64>)| if r.1 == "completed" { r.2.unwrap() } else { 0.0 };
    let mean = |lr: f64| runs.iter().filter(|r| r.0 == lr).map(score).sum::<f64>() / 2.0;
    let (low, high) = (runs[0].0.min(runs[1].0), runs[0].0.max(runs[1].0));
    let best = if mean(high) > mean(low) { high } else { low };
    let config = read_json(&out.join("config.json"));
    assert_eq!(config["max_lr"].as_f64(), Some(best), "{runs:?}");
    let source = config["lr_source"].as_str().unwrap();
    assert!(source.contains("--verify: 4 one-cycle runs of 1 epochs at 2 seeds each"), "{source}");
    assert!(source.contains(&format!("{low} -> {:.2}% (mean of 2)", 100.0 * mean(low))), "{source}");
    assert!(source.contains(&format!("max_lr {best} trained best")), "{source}");
}

#[test]
fn a_proposal_whose_candidates_all_diverge_is_an_error_and_trains_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let rt = tmp.path().join("rt");
    Cmd::tiny("range-test").data(&d).out(&rt).args(["--iters", "20"]).ok();
    // A constructed proposal: max_lr 1e6, whose candidates 5e5, 1e6 and 2e6 cannot train.
    let file = rt.join("range_test.json");
    let mut report = read_json(&file);
    report["max_lr"] = serde_json::json!(1e6);
    report["base_lr"] = serde_json::json!(1e5);
    std::fs::write(&file, report.to_string()).unwrap();
    let out = tmp.path().join("run");
    let args = ["--max-lr", &file.display().to_string(), "--verify", "--verify-epochs", "1", "--phases", "1,1,0"];
    let output = Cmd::tiny("train").data(&d).out(&out).args(args).run();
    let err = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("every candidate diverged"), "{err}");
    assert!(candidates(&out).iter().all(|r| r.1 == "diverged"), "{:?}", candidates(&out));
    assert!(!out.join("steps.csv").exists(), "nothing trained");
}

#[test]
fn verify_usage_errors_are_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let cases: [(&[&str], &str); 7] = [
        (&["--max-lr", "0.5", "--verify"], "--max-lr auto"),
        (&["--max-lr", "auto", "--policy", "fixed", "--verify"], "--policy fixed"),
        (&["--max-lr", "auto", "--verify", "--verify-epochs", "0"], "--verify-epochs"),
        (&["--max-lr", "auto", "--verify", "1"], "--verify"),
        (&["--max-lr", "auto", "--verify-seeds", "2"], "--verify"),
        (&["--max-lr", "auto", "--verify", "--verify-seeds", "0"], "--verify-seeds"),
        (&["--max-lr", "auto", "--verify", "--verify-seeds", "2", "--seed", "18446744073709551615"], "largest seed"),
    ];
    for (args, words) in cases {
        let line = one_line_error(&Cmd::tiny("train").data(&d).out(&out).args(args).run(), 2);
        assert!(line.contains(words), "{args:?}: {line}");
    }
    assert!(!out.exists(), "nothing written");
}
