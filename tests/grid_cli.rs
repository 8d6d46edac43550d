//! `clr grid` through the binary: its files, the same initial weights in every run, the regret
//! arithmetic against grid.csv, a diverged run as a result, Ctrl-C then `--resume` equal to an
//! uninterrupted grid, and the usage errors.

mod common;

use common::runs::{signal, stderr_lines, wait_for_line, wait_for_rows};
use common::{assert_png, cifar, ok, one_line_error, read_json, run, Cmd};
use std::path::Path;

/// A grid of one-cycle runs of 2 epochs (16 steps each) on `data` at `values`, into `out`.
fn grid(data: &Path, out: &Path, values: &str) -> Cmd {
    Cmd::tiny("grid").data(data).out(out).args(["--phases", "1,1,0", "--seed", "3", "--max-lrs", values])
}

/// grid.csv's rows as (label, max_lr, status, final_test_acc).
fn rows(dir: &Path) -> Vec<(String, f64, String, Option<f64>)> {
    let mut reader = csv::Reader::from_path(dir.join("grid.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header,
        [
            "label",
            "max_lr",
            "base_lr",
            "seed",
            "status",
            "final_test_acc",
            "best_test_acc",
            "final_test_loss",
            "epochs",
            "seconds"
        ]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].parse().unwrap(), r[4].to_string(), r[5].parse().ok())
        })
        .collect()
}

/// The accuracy at `lr`, interpolated in log LR between (max_lr, accuracy) points: the test's own
/// arithmetic, to check the binary's.
fn interpolate(points: &[(f64, f64)], lr: f64) -> Option<f64> {
    let x = lr.log10();
    points.windows(2).find_map(|w| {
        let (x0, x1) = (w[0].0.log10(), w[1].0.log10());
        (x >= x0 - 1e-12 && x <= x1 + 1e-12).then(|| w[0].1 + (x - x0) / (x1 - x0) * (w[1].1 - w[0].1))
    })
}

#[test]
fn a_grid_writes_its_files_measures_every_rule_and_starts_every_run_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("g");
    let output = grid(&d, &out, "0.4,0.02,0.1").args(["--range-test", "auto", "--iters", "40"]).ok();
    let printed = common::stdout(&output);
    assert!(printed.contains("regret of each rule") && printed.contains("floor"), "{printed}");

    let rows = rows(&out);
    let labels: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(labels, ["lr=0.02", "lr=0.1", "lr=0.4"], "sorted, one folder per value");
    for (label, max_lr, status, acc) in &rows {
        assert_eq!(status, "completed");
        let run = out.join(label);
        let config = read_json(&run.join("config.json"));
        assert_eq!(config["max_lr"].as_f64(), Some(*max_lr));
        assert_eq!(config["base_lr"].as_f64(), Some(max_lr / 10.0), "base_lr = max / 10 unless given");
        let summary = read_json(&run.join("summary.json"));
        assert_eq!(summary["final_test_acc"].as_f64(), *acc);
    }
    // The same initial weights and the same first batch: the first step's loss (computed before
    // any update) is the same in every run.
    let first_loss = |label: &str| common::runs::steps(&out.join(label))[0].loss;
    assert_eq!(first_loss("lr=0.02"), first_loss("lr=0.4"));
    assert_eq!(first_loss("lr=0.1"), first_loss("lr=0.4"));

    let report = read_json(&out.join("grid.json"));
    assert_eq!(report["complete"], true);
    assert_eq!(report["epochs"].as_f64(), Some(2.0));
    let points: Vec<(f64, f64)> = rows.iter().map(|r| (r.1, r.3.unwrap())).collect();
    let best = points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    assert_eq!(report["best"]["final_test_acc"].as_f64(), Some(best));
    let rt = &report["range_test"];
    assert_eq!(rt["dir"], "range_test");
    assert_eq!(rt["rule"], "floor");
    let rules = rt["rules"].as_array().unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(names, ["floor", "seed", "steepest", "valley"]);
    let test = read_json(&out.join("range_test/range_test.json"));
    for r in rules {
        let name = r["rule"].as_str().unwrap();
        let lr = r["lr"].as_f64();
        assert_eq!(lr, test[format!("{name}_lr")].as_f64(), "{name}: the range test's own LR");
        match lr.and_then(|lr| interpolate(&points, lr)) {
            Some(acc) => {
                assert!((r["accuracy"].as_f64().unwrap() - acc).abs() < 1e-12, "{name}: {r}");
                assert!((r["regret"].as_f64().unwrap() - (best - acc)).abs() < 1e-12, "{name}: {r}");
            }
            None if lr.is_some() => {
                let side = r["outside"].as_str().unwrap();
                let end = if side == "below" { points[0].1 } else { points[2].1 };
                assert!((r["regret_at_least"].as_f64().unwrap() - (best - end)).abs() < 1e-12, "{name}: {r}");
            }
            None => assert!(r["regret"].is_null()),
        }
    }
    assert_png(&out.join("grid.png"));
    // clr plot redraws it.
    let plotted = common::stdout(&ok(&["plot", &out.display().to_string()]));
    assert!(plotted.contains("grid.png"), "{plotted}");
}

#[test]
fn a_diverged_run_is_a_result_and_a_given_base_lr_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("g");
    grid(&d, &out, "0.05,1e6").args(["--base-lr", "0.01"]).ok();
    let rows = rows(&out);
    assert_eq!(rows[1].2, "diverged", "{rows:?}");
    assert_eq!(rows[1].3, None);
    let report = read_json(&out.join("grid.json"));
    assert_eq!(report["complete"], true);
    assert_eq!(report["base_lr"].as_f64(), Some(0.01));
    assert_eq!(report["best"]["label"], "lr=0.05");
    assert_eq!(read_json(&out.join("lr=1e6/config.json"))["base_lr"].as_f64(), Some(0.01));
}

#[test]
fn a_grid_stopped_by_ctrl_c_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let whole = tmp.path().join("whole");
    grid(&d, &whole, "0.02,0.1,0.4").ok();

    let parts = tmp.path().join("parts");
    let mut child = grid(&d, &parts, "0.02,0.1,0.4").spawn();
    let lines = stderr_lines(&mut child);
    wait_for_line(&lines, "run 2 of 3");
    wait_for_rows(&mut child, &parts.join("lr=0.1"), 5);
    signal(&child, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let stopped = read_json(&parts.join("grid.json"));
    assert_eq!(stopped["complete"], false);
    let statuses: Vec<&str> =
        stopped["runs"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["completed", "interrupted"]);

    // A new grid in that folder is refused, with the way to continue it.
    let refused = one_line_error(&grid(&d, &parts, "0.02,0.1,0.4").run(), 2);
    assert!(refused.contains("clr grid --resume"), "{refused}");
    ok(&["grid", "--resume", &parts.display().to_string(), "--no-progress"]);
    let (a, b) = (rows(&whole), rows(&parts));
    assert_eq!(a.len(), 3);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, x.1, &x.2, x.3), (&y.0, y.1, &y.2, y.3), "resumed grid differs");
    }
    common::runs::assert_same_run(&whole.join("lr=0.1"), &parts.join("lr=0.1"));
}

/// `--resume DIR --max-lrs`: values added to a finished grid run from the same initial weights
/// as its others, which are kept as they were (not trained again).
#[test]
fn a_resumed_grid_takes_added_values_and_keeps_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("g");
    grid(&d, &out, "0.02,0.4").ok();
    let seconds = |label: &str| read_json(&out.join(label).join("summary.json"))["seconds"].as_f64().unwrap();
    let before = (seconds("lr=0.02"), seconds("lr=0.4"));
    let printed =
        common::stdout(&ok(&["grid", "--resume", &out.display().to_string(), "--max-lrs", "0.1,0.4", "--no-progress"]));
    assert!(printed.contains("3 of 3 runs"), "{printed}");
    let labels: Vec<String> = rows(&out).into_iter().map(|r| r.0).collect();
    assert_eq!(labels, ["lr=0.02", "lr=0.1", "lr=0.4"]);
    assert_eq!((seconds("lr=0.02"), seconds("lr=0.4")), before, "a finished run was trained again");
    let report = read_json(&out.join("grid.json"));
    assert_eq!(report["values"], serde_json::json!([0.02, 0.1, 0.4]));
    assert_eq!(report["complete"], true);
    let first_loss = |label: &str| common::runs::steps(&out.join(label))[0].loss;
    assert_eq!(first_loss("lr=0.1"), first_loss("lr=0.02"), "the added run starts as the others did");
    let line = one_line_error(&run(&["grid", "--resume", &out.display().to_string(), "--max-lrs", "0.1,-1"]), 2);
    assert!(line.contains("positive"), "{line}");
}

/// `--resume DIR --seeds N`: seeds added to a finished grid of several run every value after the
/// last seed; the runs already made are kept and each value's mean takes the new runs too.
#[test]
fn a_resumed_grid_takes_added_seeds_and_keeps_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("g");
    grid(&d, &out, "0.02,0.4").args(["--seeds", "2"]).ok();
    let seconds = |label: &str| read_json(&out.join(label).join("summary.json"))["seconds"].as_f64().unwrap();
    let before = seconds("lr=0.4_seed=4");
    let dir = out.display().to_string();
    let printed = common::stdout(&ok(&["grid", "--resume", &dir, "--seeds", "3", "--no-progress"]));
    assert!(printed.contains("6 of 6 runs at 3 seeds (3,4,5)"), "{printed}");
    assert_eq!(seconds("lr=0.4_seed=4"), before, "a finished run was trained again");
    let runs = rows(&out);
    assert_eq!(runs.len(), 6);
    assert_eq!(read_json(&out.join("lr=0.02_seed=5").join("config.json"))["seed"].as_u64(), Some(5));
    let report = read_json(&out.join("grid.json"));
    assert_eq!(report["seeds"], serde_json::json!([3, 4, 5]));
    let mean: f64 = runs.iter().filter(|r| r.1 == 0.4).map(|r| r.3.unwrap_or(0.0)).sum::<f64>() / 3.0;
    let point = report["points"].as_array().unwrap().iter().find(|p| p["max_lr"] == 0.4).unwrap().clone();
    assert!((point["accuracy"].as_f64().unwrap() - mean).abs() < 1e-12, "{point} vs the mean {mean}");
    let line = one_line_error(&run(&["grid", "--resume", &dir, "--seeds", "2"]), 2);
    assert!(line.contains("has 3 seeds already"), "{line}");
}

/// `--seeds 2`: every value at seeds 3 and 4, one pass per seed; each value's mean is what the
/// grid compares and what the regrets are measured from; Ctrl-C in the second pass and
/// `--resume` give the uninterrupted grid.
#[test]
fn a_grid_of_several_seeds_compares_means_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let whole = tmp.path().join("whole");
    let seeded = |out: &Path| grid(&d, out, "0.02,0.4").args(["--seeds", "2"]);
    let printed = common::stdout(&seeded(&whole).args(["--range-test", "auto", "--iters", "40"]).ok());
    assert!(printed.contains("4 of 4 runs at 2 seeds (3,4)") && printed.contains("best mean: max_lr"), "{printed}");

    let runs = rows(&whole);
    let labels: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(labels, ["lr=0.02_seed=3", "lr=0.4_seed=3", "lr=0.02_seed=4", "lr=0.4_seed=4"]);
    for (label, ..) in &runs {
        let seed: u64 = label.rsplit('=').next().unwrap().parse().unwrap();
        assert_eq!(read_json(&whole.join(label).join("config.json"))["seed"].as_u64(), Some(seed), "{label}");
    }
    // A seed is its initial weights and data order: the same in both of its runs, not the other's.
    let first_loss = |label: &str| common::runs::steps(&whole.join(label))[0].loss;
    assert_eq!(first_loss("lr=0.02_seed=3"), first_loss("lr=0.4_seed=3"));
    assert_eq!(first_loss("lr=0.02_seed=4"), first_loss("lr=0.4_seed=4"));
    assert_ne!(first_loss("lr=0.02_seed=3"), first_loss("lr=0.02_seed=4"));

    let report = read_json(&whole.join("grid.json"));
    assert_eq!(report["seeds"], serde_json::json!([3, 4]));
    assert_eq!(report["complete"], true);
    let mean = |lr: f64| {
        let accs: Vec<f64> = runs.iter().filter(|r| r.1 == lr).map(|r| r.3.unwrap_or(0.0)).collect();
        accs.iter().sum::<f64>() / accs.len() as f64
    };
    let points = report["points"].as_array().unwrap();
    let curve: Vec<(f64, f64)> =
        points.iter().map(|p| (p["max_lr"].as_f64().unwrap(), p["accuracy"].as_f64().unwrap())).collect();
    assert_eq!(curve.iter().map(|p| p.0).collect::<Vec<_>>(), [0.02, 0.4]);
    for (lr, acc) in &curve {
        assert!((acc - mean(*lr)).abs() < 1e-12, "{lr}: {acc} vs {}", mean(*lr));
    }
    let best = curve.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    assert_eq!(report["best_mean"]["accuracy"].as_f64(), Some(best));
    for r in report["range_test"]["rules"].as_array().unwrap() {
        if let (Some(lr), Some(regret)) = (r["lr"].as_f64(), r["regret"].as_f64()) {
            let acc = interpolate(&curve, lr).unwrap();
            assert!((regret - (best - acc)).abs() < 1e-12, "regret against the means: {r}");
        }
    }
    assert_png(&whole.join("grid.png"));

    let parts = tmp.path().join("parts");
    let mut child = seeded(&parts).spawn();
    let lines = stderr_lines(&mut child);
    wait_for_line(&lines, "run 3 of 4: max_lr 0.02, seed 4");
    wait_for_rows(&mut child, &parts.join("lr=0.02_seed=4"), 5);
    signal(&child, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(read_json(&parts.join("grid.json"))["complete"], false);
    ok(&["grid", "--resume", &parts.display().to_string(), "--no-progress"]);
    let resumed = rows(&parts);
    assert_eq!(resumed.len(), 4);
    for (x, y) in runs.iter().zip(&resumed) {
        assert_eq!((&x.0, x.1, &x.2, x.3), (&y.0, y.1, &y.2, y.3), "resumed grid differs");
    }
}

#[test]
fn usage_errors_are_one_line_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("g");
    let cases: [(&[&str], &str); 7] = [
        (&["--max-lrs", "0.1,0.2", "--max-lr", "0.5"], "sets max_lr itself"),
        (&["--max-lrs", "0.1,0.2", "--policy", "fixed"], "--policy fixed"),
        (&[], "--max-lrs"),
        (&["--from", "0.1", "--to", "1", "--points", "1"], "--points"),
        (&["--from", "1", "--to", "0.1"], "--from and --to"),
        (&["--max-lrs", "0.1,-0.2"], "positive"),
        (&["--max-lrs", "0.1,0.2", "--seeds", "0"], "--seeds"),
    ];
    for (args, words) in cases {
        let out = Cmd::tiny("grid").data(&d).out(&out).args(args).run();
        let line = one_line_error(&out, 2);
        assert!(line.contains(words), "{args:?}: {line}");
    }
    assert!(!out.exists(), "nothing written");
    let line = one_line_error(&run(&["grid", "--resume", &d.display().to_string()]), 2);
    assert!(line.contains("no grid.json"), "{line}");
}
