//! `clr range-test`, and `clr train --max-lr auto|FILE`, end to end on generated data in the
//! CIFAR-10 layout with a tiny network (depth 8, 256 training images, batch 32).

mod common;

use clr::records::{read_rows, LrFindRow, StepRow};
use common::{assert_png, cifar, one_line_error, read_json, stdout, Cmd};
use std::path::Path;

/// 256 training images in one file, 64 test images: 8 steps per epoch at batch 32.
fn data(dir: &Path) -> String {
    cifar::write_learnable(dir, 1, 256, 64, 3);
    dir.display().to_string()
}

/// `clr CMD` on `data` into `out`: tiny, single-threaded, on the CPU, seed 1.
fn tiny(cmd: &str, data: &str, out: &str) -> Cmd {
    Cmd::tiny(cmd).data(data).out(out).args(["--seed", "1"])
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs()
}

/// The bias-corrected EMA of `losses`: avg = b*avg + (1-b)*loss, smoothed = avg / (1 - b^t).
fn ema(losses: &[f64], beta: f64) -> Vec<f64> {
    let mut avg = 0.0;
    losses
        .iter()
        .enumerate()
        .map(|(i, l)| {
            avg = beta * avg + (1.0 - beta) * l;
            avg / (1.0 - beta.powi(i as i32 + 1))
        })
        .collect()
}

/// Checks every range test must pass, whatever its mode: the smoothed column, the suggestion
/// and its rule, the plot. Returns the rows and the report.
fn check_range_test(out: &Path) -> (Vec<LrFindRow>, serde_json::Value) {
    let rows: Vec<LrFindRow> = read_rows(&out.join("lr_find.csv")).unwrap();
    let header = std::fs::read_to_string(out.join("lr_find.csv")).unwrap();
    assert_eq!(header.lines().next(), Some("step,lr,loss,smoothed_loss"));
    let report = read_json(&out.join("range_test.json"));
    assert!(rows.len() >= 5, "{} rows", rows.len());
    assert_eq!(report["steps"].as_u64().unwrap(), rows.len() as u64, "steps = rows of lr_find.csv");
    assert!(rows.iter().enumerate().all(|(i, r)| r.step == i as u64), "step column 0, 1, 2, ...");
    assert!(rows.iter().all(|r| r.loss.is_finite() && r.smoothed_loss.is_finite()));

    // smoothed_loss is the bias-corrected moving average of loss with --smooth (0.98).
    let losses: Vec<f64> = rows.iter().map(|r| r.loss).collect();
    for (i, (r, want)) in rows.iter().zip(ema(&losses, 0.98)).enumerate() {
        assert!(rel_close(r.smoothed_loss, want, 1e-9), "step {i}: smoothed {} vs {want}", r.smoothed_loss);
    }

    // The seed's rule: the LR of the lowest smoothed loss, divided by 10.
    let imin = (1..rows.len()).fold(0, |b, i| if rows[i].smoothed_loss < rows[b].smoothed_loss { i } else { b });
    let at_min = report["lr_at_min_loss"].as_f64().unwrap();
    assert!(rel_close(at_min, rows[imin].lr, 1e-12), "lr_at_min_loss {at_min}, row {imin} has lr {}", rows[imin].lr);
    assert!(rel_close(report["seed_lr"].as_f64().unwrap(), at_min / 10.0, 1e-12));
    // The default rule, floor, on the raw losses of lr_find.csv.
    let lrs: Vec<f64> = rows.iter().map(|r| r.lr).collect();
    let floor = clr::lr_finder::rules::floor_rule(&lrs, &losses);
    let suggested = report["suggested_lr"].as_f64().unwrap();
    assert_eq!(report["rule"], "floor");
    assert_eq!(suggested, floor.suggested, "suggested_lr is the floor rule's on lr_find.csv");
    assert_eq!(report["floor_lr"].as_f64(), Some(floor.suggested));
    assert_eq!(
        (report["floor_start_lr"].as_f64(), report["floor_end_lr"].as_f64()),
        (Some(floor.start), Some(floor.end))
    );
    assert!(rel_close(report["max_lr"].as_f64().unwrap(), suggested, 1e-12));
    assert!(rel_close(report["base_lr"].as_f64().unwrap(), suggested / 10.0, 1e-12));
    for key in ["steepest_lr", "stopped_early", "steps"] {
        assert!(report.get(key).is_some(), "range_test.json lacks {key}");
    }
    assert_png(&out.join("range_test.png"));
    (rows, report)
}

#[test]
fn exp_range_test_stops_once_the_loss_explodes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("rt");
    let o = out.display().to_string();
    // Up to 1000 over 100 steps: the loss of this tiny net explodes near lr 30, about step 80.
    let output = tiny("range-test", &d, &o).args(["--start-lr", "1e-4", "--end-lr", "1000", "--iters", "100"]).ok();
    let (rows, report) = check_range_test(&out);

    assert_eq!(report["stopped_early"], true, "{report}");
    assert!(rows.len() < 100, "ran all {} steps: the loss never exploded", rows.len());
    assert_eq!(report["iters"], 100);
    assert_eq!(report["mode"], "exp");
    // lr_i = start * (end/start)^(i/n), n = --iters, to the last bits.
    for (i, r) in rows.iter().enumerate() {
        let want = 1e-4 * (1000.0f64 / 1e-4).powf(i as f64 / 100.0);
        assert!(rel_close(r.lr, want, 1e-12), "step {i}: lr {} vs {want}", r.lr);
    }
    // The explosion is real: the last smoothed loss is far above the minimum.
    let min = rows.iter().map(|r| r.smoothed_loss).fold(f64::INFINITY, f64::min);
    let last = rows.last().unwrap();
    assert!(last.smoothed_loss > 4.0 * min || report["stop_reason"] == "non_finite", "{last:?} vs min {min}");

    // The printed summary gives the suggestion, as the report has it.
    let text = stdout(&output);
    let suggested = report["suggested_lr"].as_f64().unwrap();
    assert!(text.contains("suggested"), "{text}");
    assert!(text.contains(&format!("{suggested:.3e}")), "{suggested:.3e} not in:\n{text}");
}

#[test]
fn rule_chooses_which_rule_makes_the_suggestion() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    for rule in ["seed", "steepest", "valley", "floor"] {
        let out = tmp.path().join(rule);
        let o = out.display().to_string();
        tiny("range-test", &d, &o).args(["--end-lr", "1000", "--iters", "60", "--rule", rule]).ok();
        let report = read_json(&out.join("range_test.json"));
        assert_eq!(report["rule"], rule);
        let own = report[format!("{rule}_lr")].as_f64().unwrap();
        assert_eq!(report["suggested_lr"].as_f64(), Some(own), "{rule}");
        assert_eq!(report["max_lr"].as_f64(), Some(own), "{rule}");
        assert_eq!(read_json(&out.join("config.json"))["rule"], rule);
    }
    let bad = one_line_error(&tiny("range-test", &d, "x").args(["--rule", "lowest"]).run(), 2);
    assert!(bad.contains("rule") && bad.contains("floor, seed, steepest, valley"), "{bad}");
}

/// `--val-batches N`: the same steps at the same LRs, the loss column the held-out loss after
/// each step instead of the training batch's.
#[test]
fn val_batches_records_the_heldout_loss_at_the_same_lrs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let test = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        tiny("range-test", &d, &out.display().to_string()).args(["--iters", "30", "--end-lr", "10"]).args(extra).ok();
        check_range_test(&out).0
    };
    let train = test("train", &[]);
    let heldout = test("heldout", &["--val-batches", "2"]);
    assert_eq!(read_json(&tmp.path().join("heldout/config.json"))["val_batches"], 2);
    let n = train.len().min(heldout.len());
    assert!(n >= 20, "{n} steps");
    for (t, h) in train.iter().zip(&heldout).take(n) {
        assert!(rel_close(t.lr, h.lr, 1e-12), "step {}: lr {} vs {}", t.step, t.lr, h.lr);
    }
    let differ = train.iter().zip(&heldout).take(n).filter(|(t, h)| !rel_close(t.loss, h.loss, 1e-6)).count();
    assert!(differ > n / 2, "only {differ} of {n} losses differ: the training loss was recorded");
}

#[test]
fn linear_mode_raises_the_lr_linearly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("rt");
    let o = out.display().to_string();
    tiny("range-test", &d, &o).args(["--mode", "linear", "--start-lr", "1e-3", "--end-lr", "1", "--iters", "24"]).ok();
    let (rows, report) = check_range_test(&out);
    assert_eq!(report["mode"], "linear");
    for (i, r) in rows.iter().enumerate() {
        let want = 1e-3 + (1.0 - 1e-3) * (i as f64 / 24.0);
        assert!(rel_close(r.lr, want, 1e-12), "step {i}: lr {} vs {want}", r.lr);
    }
    // Equal steps: the differences are constant (an exponential sweep's would grow).
    let d0 = rows[1].lr - rows[0].lr;
    assert!(rows.windows(2).all(|w| rel_close(w[1].lr - w[0].lr, d0, 1e-9)));
}

/// The schedule flags of the short one-cycle runs below (2 epochs of 8 steps, peak at step 8).
const ONE_CYCLE: [&str; 6] = ["--policy", "one-cycle", "--phases", "1,1,0", "--epochs", "2"];

/// config.json and steps.csv of a run that took its LRs from `report`.
fn check_lrs_from_report(run: &Path, report: &serde_json::Value) {
    let (max_lr, base_lr) = (report["max_lr"].as_f64().unwrap(), report["base_lr"].as_f64().unwrap());
    let config = read_json(&run.join("config.json"));
    let cfg_max = config["max_lr"].as_f64().unwrap_or_else(|| panic!("config.json max_lr is not a number: {config}"));
    assert!(rel_close(cfg_max, max_lr, 1e-12), "config max_lr {cfg_max} vs the report's {max_lr}");
    let cfg_base = config["base_lr"].as_f64().unwrap();
    assert!(rel_close(cfg_base, base_lr, 1e-12), "config base_lr {cfg_base} vs the report's {base_lr}");
    let source = config["lr_source"].as_str().unwrap_or("");
    assert!(!source.trim().is_empty(), "config.json says nothing of where the LRs came from: {config}");

    let steps: Vec<StepRow> = read_rows(&run.join("steps.csv")).unwrap();
    assert_eq!(steps.len(), 16);
    let peak = steps.iter().map(|r| r.lr).fold(0.0, f64::max);
    assert!(rel_close(peak, max_lr, 1e-12), "steps.csv peaks at {peak}, the report's max_lr is {max_lr}");
    assert!(rel_close(steps[0].lr, base_lr, 1e-12), "steps.csv starts at {}, base_lr is {base_lr}", steps[0].lr);
    assert!(read_json(&run.join("summary.json"))["final_test_acc"].as_f64().is_some());
}

#[test]
fn train_with_max_lr_auto_runs_the_range_test_first() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let o = out.display().to_string();
    tiny("train", &d, &o)
        .args(ONE_CYCLE)
        .args(["--max-lr", "auto", "--start-lr", "1e-3", "--end-lr", "30", "--iters", "40"])
        .ok();
    let report_path = out.join("range_test").join("range_test.json");
    assert!(report_path.is_file(), "no {}", report_path.display());
    assert!(out.join("range_test").join("lr_find.csv").is_file());
    let report = read_json(&report_path);
    assert_eq!(report["iters"], 40, "the range test used the --iters given");
    check_lrs_from_report(&out, &report);
    // config.json repeats the run: it holds the number, not `auto`.
    let again = common::run(&["schedule", "--config", &format!("{o}/config.json"), "--steps-per-epoch", "8"]);
    assert!(again.status.success(), "{}", common::stderr(&again));
}

#[test]
fn train_with_max_lr_from_a_report_runs_no_test() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    // A report to read, from a short range test.
    let rt = tmp.path().join("rt");
    let r = rt.display().to_string();
    tiny("range-test", &d, &r).args(["--start-lr", "1e-3", "--end-lr", "30", "--iters", "40"]).ok();
    let report_path = rt.join("range_test.json");
    let report = read_json(&report_path);

    let out = tmp.path().join("run");
    let o = out.display().to_string();
    let file = report_path.display().to_string();
    tiny("train", &d, &o).args(ONE_CYCLE).args(["--max-lr", &file]).ok();
    assert!(!out.join("range_test").exists(), "--max-lr FILE must not run a range test");
    check_lrs_from_report(&out, &report);
    let source = read_json(&out.join("config.json"))["lr_source"].as_str().unwrap().to_string();
    assert!(source.contains("range_test.json"), "lr_source does not name the file: {source}");
}

#[test]
fn an_interrupted_range_test_says_so_and_trains_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    for (cmd, out) in [("range-test", "rt"), ("train", "auto")] {
        let out = tmp.path().join(out);
        let o = out.display().to_string();
        let mut args = tiny(cmd, &d, &o).args(["--start-lr", "1e-6", "--end-lr", "1e-5", "--iters", "100000"]);
        if cmd == "train" {
            args = args.args(["--max-lr", "auto", "--policy", "one-cycle", "--phases", "1,1,0"]);
        }
        let mut child = args.spawn();
        let csv = if cmd == "train" { out.join("range_test/lr_find.csv") } else { out.join("lr_find.csv") };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::fs::read_to_string(&csv).map(|s| s.lines().count()).unwrap_or(0) < 12 {
            assert!(std::time::Instant::now() < deadline, "no progress in {}", csv.display());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        assert_eq!(child.wait().unwrap().code(), Some(130), "{cmd}");
        let report_dir = if cmd == "train" { out.join("range_test") } else { out.clone() };
        let report = read_json(&report_dir.join("range_test.json"));
        assert_eq!(report["stop_reason"], "interrupted");
        assert_eq!(report["stopped_early"], true);
        if cmd == "train" {
            assert!(!out.join("steps.csv").exists() && !out.join("checkpoint.pt").exists(), "nothing trained");
        }
    }
}

/// Ctrl-C before the test has the points it needs to analyse: still an interrupt (exit 130, one
/// line that says so), not a failure with advice about --iters.
#[test]
fn a_range_test_interrupted_at_its_start_exits_130_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("rt");
    // Slow steps (ResNet-20, batch 128), so that the stop comes a step or two after the first row.
    let mut child = Cmd::new("range-test")
        .data(&d)
        .out(&out)
        .args(["--depth", "20", "--batch-size", "128", "--device", "cpu", "--threads", "1", "--no-progress"])
        .args(["--iters", "1000"])
        .spawn();
    // The header line comes just before the first step.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut err = String::new();
    while !err.contains("range test:") {
        assert!(std::io::BufRead::read_line(&mut stderr, &mut err).unwrap() > 0, "no header: {err}");
    }
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted after") && err.contains("too few to analyse"), "{err}");
    assert!(!err.contains("raise --iters") && !err.contains("error"), "{err}");
    assert!(!out.join("range_test.json").exists());
}

/// Without --iters a test runs 3 epochs of data (here 8 steps each), but an exponential one
/// never fewer than 30 steps per decade of LR, where its pick is steady: 5 decades, 150 steps.
#[test]
fn the_default_length_is_three_epochs_but_never_an_unsteady_test() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let iters = |name: &str, args: &[&str]| {
        let out = tmp.path().join(name);
        let printed = stdout(&tiny("range-test", &d, &out.display().to_string()).args(args).ok());
        assert!(!printed.contains("steps per decade"), "a default test draws no short-test note: {printed}");
        read_json(&out.join("range_test.json"))["iters"].as_u64().unwrap()
    };
    assert_eq!(iters("five-decades", &["--start-lr", "1e-4", "--end-lr", "10"]), 150);
    assert_eq!(iters("one-decade", &["--start-lr", "1e-3", "--end-lr", "1e-2"]), 30);
    assert_eq!(iters("a-third", &["--start-lr", "1e-3", "--end-lr", "2e-3"]), 24, "3 epochs are more than 10");
    assert_eq!(iters("linear", &["--mode", "linear", "--start-lr", "1e-4", "--end-lr", "10"]), 24);
}
