//! `clr range-test --repeats N` through the binary: one real test per seed, each the test that
//! seed gives alone; the combined report (every LR the geometric median of the seeds'), its plot;
//! `train --max-lr FILE` and `grid --range-test` reading it; Ctrl-C; the usage errors.

mod common;

use common::runs::signal;
use common::{assert_png, cifar, one_line_error, read_json, stdout, Cmd};
use std::path::Path;

/// `clr CMD` on `data` into `out`: tiny, single-threaded, from seed 1, a 40-step test to 1000.
fn tiny(cmd: &str, data: &Path, out: &Path) -> Cmd {
    Cmd::tiny(cmd).data(data).out(out).args(["--seed", "1", "--start-lr", "1e-3", "--end-lr", "1000", "--iters", "40"])
}

/// The geometric median: the middle log, or the mean of the middle two.
fn geometric_median(values: &[f64]) -> f64 {
    let mut logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    logs.sort_by(f64::total_cmp);
    let n = logs.len();
    if n % 2 == 1 {
        logs[n / 2].exp()
    } else {
        ((logs[n / 2 - 1] + logs[n / 2]) / 2.0).exp()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs()
}

#[test]
fn repeats_runs_each_seed_s_own_test_and_suggests_their_median() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("rt");
    let printed = stdout(&tiny("range-test", d.as_ref(), &out).args(["--repeats", "3"]).ok());
    let report = read_json(&out.join("range_test.json"));
    let subs: Vec<serde_json::Value> =
        (1..=3).map(|s| read_json(&out.join(format!("seed={s}/range_test.json")))).collect();
    // Seed 2's test is the one `--seed 2` runs alone, to the last bit.
    let alone = tmp.path().join("alone");
    Cmd::tiny("range-test")
        .data(&d)
        .out(&alone)
        .args(["--seed", "2", "--start-lr", "1e-3", "--end-lr", "1000"])
        .args(["--iters", "40"])
        .ok();
    let csv = |dir: &Path| std::fs::read_to_string(dir.join("lr_find.csv")).unwrap();
    assert_eq!(csv(&out.join("seed=2")), csv(&alone));
    assert_eq!(subs[1], read_json(&alone.join("range_test.json")));
    assert_ne!(csv(&out.join("seed=1")), csv(&alone), "each seed its own weights and batches");
    // Every LR is the geometric median of the seeds'; the steps are totals.
    for key in ["suggested_lr", "floor_lr", "floor_start_lr", "floor_end_lr", "lr_at_min_loss", "seed_lr"] {
        let each: Vec<f64> = subs.iter().map(|s| s[key].as_f64().unwrap()).collect();
        assert!(close(report[key].as_f64().unwrap(), geometric_median(&each)), "{key}: {report}");
    }
    let suggested = report["suggested_lr"].as_f64().unwrap();
    assert_eq!((report["max_lr"].as_f64(), report["rule"].as_str()), (Some(suggested), Some("floor")));
    let steps: u64 = subs.iter().map(|s| s["steps"].as_u64().unwrap()).sum();
    assert_eq!((report["steps"].as_u64(), report["iters"].as_u64()), (Some(steps), Some(120)));
    let repeats = &report["repeats"];
    assert_eq!(repeats["seeds"], serde_json::json!([1, 2, 3]));
    assert_eq!(repeats["combined_by"], "geometric median");
    for (i, t) in repeats["tests"].as_array().unwrap().iter().enumerate() {
        assert_eq!(t["label"], format!("seed={}", i + 1));
        assert_eq!(t["suggested_lr"], subs[i]["suggested_lr"]);
    }
    assert_eq!(read_json(&out.join("config.json"))["repeats"], 3);
    assert!(
        printed.contains("range tests at 3 seeds") && printed.contains("geometric median of the seeds'"),
        "{printed}"
    );
    assert!(printed.contains(&format!("{suggested:.3e}")), "{printed}");
    assert_png(&out.join("range_test.png"));
    std::fs::remove_file(out.join("range_test.png")).unwrap();
    let plotted = stdout(&common::ok(&["plot", &out.display().to_string()]));
    assert!(plotted.contains("range_test.png") && out.join("range_test.png").is_file(), "{plotted}");

    // train --max-lr FILE takes the combined suggestion.
    let run = tmp.path().join("run");
    let file = out.join("range_test.json").display().to_string();
    Cmd::tiny("train").data(&d).out(&run).args(["--policy", "one-cycle", "--phases", "1,1,0", "--max-lr", &file]).ok();
    let config = read_json(&run.join("config.json"));
    assert_eq!(config["max_lr"].as_f64(), Some(suggested));
    assert!(close(config["base_lr"].as_f64().unwrap(), suggested / 10.0));
}

#[test]
fn a_grid_measures_the_combined_pick() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("g");
    Cmd::tiny("grid")
        .data(&d)
        .out(&out)
        .args(["--phases", "1,1,0", "--seed", "1", "--max-lrs", "0.05,0.5", "--range-test", "auto"])
        .args(["--repeats", "2", "--start-lr", "1e-3", "--end-lr", "1000", "--iters", "40"])
        .ok();
    let test = read_json(&out.join("range_test/range_test.json"));
    assert_eq!(test["repeats"]["seeds"], serde_json::json!([1, 2]));
    assert!(out.join("range_test/seed=2/lr_find.csv").is_file());
    let rules = read_json(&out.join("grid.json"))["range_test"]["rules"].clone();
    for r in rules.as_array().unwrap() {
        let name = r["rule"].as_str().unwrap();
        // Re-analysed from the seeds' curves, combined as the test combined them.
        assert_eq!(r["lr"].as_f64(), test[format!("{name}_lr")].as_f64(), "{name}: {r}");
    }
}

#[test]
fn ctrl_c_leaves_an_interrupted_report_that_train_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("rt");
    let mut child = Cmd::tiny("range-test")
        .data(&d)
        .out(&out)
        .args(["--seed", "1", "--repeats", "3", "--start-lr", "1e-6", "--end-lr", "1e-5", "--iters", "100000"])
        .spawn();
    let csv = out.join("seed=1/lr_find.csv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::read_to_string(&csv).map(|s| s.lines().count()).unwrap_or(0) < 12 {
        assert!(std::time::Instant::now() < deadline, "no progress in {}", csv.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    signal(&child, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let report = read_json(&out.join("range_test.json"));
    assert_eq!((report["stop_reason"].as_str(), report["stopped_early"].as_bool()), (Some("interrupted"), Some(true)));
    assert_eq!(report["repeats"]["tests"].as_array().unwrap().len(), 1, "{report}");
    assert!(!out.join("seed=2").exists(), "no seed after the stop");
    let file = out.join("range_test.json").display().to_string();
    let refused = Cmd::tiny("train").data(&d).out(tmp.path().join("run")).args(["--max-lr", &file]).run();
    assert!(one_line_error(&refused, 2).contains("interrupted"));
    // The folder holds a run: a new test there is refused, not mixed in.
    let again = Cmd::tiny("range-test").data(&d).out(&out).args(["--repeats", "2", "--iters", "20"]).run();
    assert!(one_line_error(&again, 2).contains("already holds a run"));
}

#[test]
fn bad_repeats_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("x");
    for (args, want) in [
        (&["--repeats", "0"][..], "--repeats (repeats) must be from 1 to 20, got 0"),
        (&["--repeats", "21"], "--repeats (repeats) must be from 1 to 20, got 21"),
        (&["--repeats", "2", "--seed", "18446744073709551615"], "would pass the largest seed"),
        (&["--repeats", "2", "--sweep", "momentum=0.9,0.8"], "--repeats and --sweep"),
    ] {
        let err = one_line_error(&Cmd::tiny("range-test").data(&d).out(&out).args(args).run(), 2);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(!out.exists());
    // Killed during its first seed's test: no range_test.json yet, but the folder holds a run.
    std::fs::create_dir_all(out.join("seed=1")).unwrap();
    std::fs::write(out.join("config.json"), "{}").unwrap();
    std::fs::write(out.join("seed=1/lr_find.csv"), "step,lr,loss,smoothed_loss\n").unwrap();
    let err = one_line_error(&Cmd::tiny("range-test").data(&d).out(&out).args(["--repeats", "2"]).run(), 2);
    assert!(err.contains("already holds a run (seed=1/lr_find.csv)"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("config.json")).unwrap(), "{}", "nothing written over");
}
