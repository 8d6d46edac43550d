//! `clr range-test --sweep NAME=V1,V2,…` end to end on generated data in the CIFAR-10 layout with
//! a tiny network (depth 8, 256 training images, batch 32), and `clr train --max-lr sweep.json`.
//! The favoured value is recomputed here from the sub-folders' own files, by the rule as the
//! README states it, not by calling clr's code.

mod common;

use clr::records::{read_rows, LrFindRow, StepRow, SweepRow};
use common::{assert_png, cifar, one_line_error, read_json, stdout, Cmd};
use std::path::Path;

/// 256 training images in one file, 64 test images: 8 steps per epoch at batch 32.
fn data(dir: &Path) -> String {
    cifar::write_learnable(dir, 1, 256, 64, 3);
    dir.display().to_string()
}

/// `clr CMD` on `data` into `out`: tiny, single-threaded, on the CPU, seed 1.
fn tiny(cmd: &str, data: &str, out: &Path) -> Cmd {
    Cmd::tiny(cmd).data(data).out(out).args(["--seed", "1"])
}

/// A short range test that blows up within its steps.
const SHORT: [&str; 6] = ["--start-lr", "1e-3", "--end-lr", "300", "--iters", "30"];

/// One value's files, read back.
struct Value {
    label: String,
    rows: Vec<LrFindRow>,
    report: serde_json::Value,
    config: serde_json::Value,
}

/// Every sub-folder is a complete range test (lr_find.csv, range_test.json, a drawn
/// range_test.png, config.json with the value set); sweep.json and sweep.csv hold exactly the
/// numbers of each sub-folder's range_test.json. Returns the values and sweep.json.
fn check_sweep(out: &Path, field: &str, labels: &[&str], values: &[f64]) -> (Vec<Value>, serde_json::Value) {
    let sweep = read_json(&out.join("sweep.json"));
    let csv: Vec<SweepRow> = read_rows(&out.join("sweep.csv")).unwrap();
    let results = sweep["results"].as_array().unwrap();
    assert_eq!((results.len(), csv.len()), (labels.len(), labels.len()), "{sweep}");
    assert_eq!(sweep["field"], field);
    assert_eq!(sweep["complete"], true);
    let mut all = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let dir = out.join(label);
        let rows: Vec<LrFindRow> = read_rows(&dir.join("lr_find.csv")).unwrap();
        let report = read_json(&dir.join("range_test.json"));
        let config = read_json(&dir.join("config.json"));
        assert_png(&dir.join("range_test.png"));
        assert_eq!(config[field].as_f64(), Some(values[i]), "{label}: config.json {field}");
        assert_eq!(report["steps"].as_u64(), Some(rows.len() as u64));
        let (entry, row) = (&results[i], &csv[i]);
        assert_eq!((entry["label"].as_str(), row.label.as_str()), (Some(*label), *label));
        assert_eq!((entry["value"].as_f64(), row.value), (Some(values[i]), values[i]));
        for key in ["lr_at_min_loss", "min_loss", "suggested_lr", "steepest_lr", "valley_lr", "max_lr", "base_lr"] {
            assert_eq!(entry[key], report[key], "{label}: sweep.json {key} vs range_test.json");
        }
        assert_eq!(
            (entry["steps"].clone(), entry["stop_reason"].clone()),
            (report["steps"].clone(), report["stop_reason"].clone())
        );
        let num = |k: &str| report[k].as_f64();
        assert_eq!(
            (row.lr_at_min_loss, row.min_loss, row.suggested_lr, row.steepest_lr, row.max_lr, row.base_lr),
            (
                num("lr_at_min_loss"),
                num("min_loss"),
                num("suggested_lr"),
                num("steepest_lr"),
                num("max_lr"),
                num("base_lr")
            ),
            "{label}: sweep.csv vs range_test.json"
        );
        assert_eq!(row.steps, report["steps"].as_u64());
        assert_eq!(entry["diverged_at_lr"].as_f64(), row.diverged_at_lr);
        assert_eq!(row.diverged_at_lr, diverged_at(&rows, &report), "{label}: the divergence LR");
        all.push(Value { label: label.to_string(), rows, report, config });
    }
    (all, sweep)
}

/// Where the loss diverged, as the README defines it: the first point past the lowest one whose
/// smoothed loss is above the first one, or where the test stopped for divergence.
fn diverged_at(rows: &[LrFindRow], report: &serde_json::Value) -> Option<f64> {
    let lowest = report["lr_at_min_loss"].as_f64().unwrap();
    let i = rows.iter().position(|r| r.lr == lowest).unwrap();
    let above = rows[i..].iter().find(|r| r.smoothed_loss > rows[0].smoothed_loss).map(|r| r.lr);
    let stop = match report["stop_reason"].as_str().unwrap() {
        "diverged" => Some(rows.last().unwrap().lr),
        "non_finite" => {
            let (a, b) = (report["start_lr"].as_f64().unwrap(), report["end_lr"].as_f64().unwrap());
            let (n, iters) = (report["steps"].as_f64().unwrap(), report["iters"].as_f64().unwrap());
            Some(a * (b / a).powf(n / iters))
        }
        _ => None,
    };
    match (above, stop) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The rule: the lowest min_loss; within 1 % of it, the latest divergence (never = latest),
/// then the lower loss, then the first value.
fn favoured_by_the_rule(values: &[Value]) -> &str {
    let loss = |v: &Value| v.report["min_loss"].as_f64().unwrap();
    let stable = |v: &Value| diverged_at(&v.rows, &v.report).unwrap_or(f64::INFINITY);
    let best = values.iter().map(loss).fold(f64::INFINITY, f64::min);
    let mut tied: Vec<&Value> = values.iter().filter(|v| loss(v) <= best * 1.01).collect();
    // A stable sort: among equals the first value given stays first.
    tied.sort_by(|a, b| stable(b).total_cmp(&stable(a)).then(loss(a).total_cmp(&loss(b))));
    &tied[0].label
}

/// sweep.png decodes, is 1200×800 and shows each curve's colour (matplotlib's tab10, in order).
fn check_sweep_png(path: &Path, curves: usize) {
    assert_eq!(assert_png(path), (1200, 800));
    let img = image::open(path).unwrap().to_rgb8();
    let tab10 = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40]];
    for colour in &tab10[..curves] {
        let n = img.pixels().filter(|p| p.0 == *colour).count();
        assert!(n > 40, "{}: colour {colour:?} has {n} pixels: a curve is missing", path.display());
    }
}

#[test]
fn a_weight_decay_sweep_runs_one_full_range_test_per_value_from_the_same_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("sweep");
    let output = tiny("range-test", &d, &out).args(SHORT).args(["--sweep", "weight-decay=1e-2,1e-3,0"]).ok();
    let labels = ["weight-decay=0.01", "weight-decay=1e-3", "weight-decay=0"];
    let (values, sweep) = check_sweep(&out, "weight_decay", &labels, &[1e-2, 1e-3, 0.0]);

    // Same initial weights and the same first batch: weight decay does not change the first
    // forward pass, so the first loss is the same to the last bit. Same LR at every step.
    let first = values[0].rows[0].loss;
    for v in &values {
        assert_eq!(v.rows[0].loss, first, "{}: first loss", v.label);
        let n = v.rows.len().min(values[0].rows.len());
        assert!(v.rows[..n].iter().zip(&values[0].rows).all(|(a, b)| a.lr == b.lr), "{}: the LRs differ", v.label);
        assert_eq!(v.config["seed"], 1);
    }
    assert!(values[0].rows[1].loss != values[2].rows[1].loss, "weight decay changes the second step");

    let want = favoured_by_the_rule(&values);
    assert_eq!(sweep["favoured"]["label"], want, "{sweep}");
    let favoured: Vec<&str> = sweep["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["favoured"] == true)
        .map(|e| e["label"].as_str().unwrap())
        .collect();
    assert_eq!(favoured, [want]);
    // Printed: a line per value, the favoured value and the reason, as sweep.json says.
    let text = stdout(&output);
    assert!(text.contains(&format!("favoured: {want} with max_lr")), "{text}");
    assert!(text.contains(&format!("why: {}", sweep["reason"].as_str().unwrap())), "{text}");
    assert!(sweep["reason"].as_str().unwrap().contains(want));
    check_sweep_png(&out.join("sweep.png"), 3);

    // `clr plot` redraws it from the files.
    std::fs::remove_file(out.join("sweep.png")).unwrap();
    let plotted = common::ok(&["plot", out.to_str().unwrap()]);
    assert!(stdout(&plotted).contains("sweep.png"));
    check_sweep_png(&out.join("sweep.png"), 3);
}

#[test]
fn train_takes_the_lr_and_the_momentum_that_a_momentum_sweep_favours() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("sweep");
    tiny("range-test", &d, &out).args(SHORT).args(["--sweep", "momentum=0.95,0.7,0.5"]).ok();
    let labels = ["momentum=0.95", "momentum=0.7", "momentum=0.5"];
    let (values, sweep) = check_sweep(&out, "momentum", &labels, &[0.95, 0.7, 0.5]);
    // PyTorch's SGD starts its momentum buffer at the first gradient: the first two steps are
    // the same whatever the momentum.
    for v in &values {
        assert_eq!((v.rows[0].loss, v.rows[1].loss), (values[0].rows[0].loss, values[0].rows[1].loss), "{}", v.label);
    }
    let want = favoured_by_the_rule(&values);
    assert_eq!(sweep["favoured"]["label"], want);
    let chosen = &values.iter().find(|v| v.label == want).unwrap().report;
    let momentum = sweep["favoured"]["value"].as_f64().unwrap();

    let run = tmp.path().join("run");
    let file = out.join("sweep.json");
    tiny("train", &d, &run)
        .args(["--policy", "one-cycle", "--phases", "1,1,0", "--epochs", "2", "--max-lr", file.to_str().unwrap()])
        .ok();
    let config = read_json(&run.join("config.json"));
    assert_eq!(config["momentum"].as_f64(), Some(momentum));
    assert_eq!((&config["max_lr"], &config["base_lr"]), (&chosen["max_lr"], &chosen["base_lr"]));
    let source = config["lr_source"].as_str().unwrap();
    assert!(
        source.contains("sweep.json") && source.contains(&format!("momentum = {}", &want["momentum=".len()..])),
        "{source}"
    );
    let steps: Vec<StepRow> = read_rows(&run.join("steps.csv")).unwrap();
    assert_eq!(steps.len(), 16);
    assert!(steps.iter().all(|s| s.momentum == momentum), "steps.csv momentum is not {momentum}");
    let peak = steps.iter().map(|s| s.lr).fold(0.0, f64::max);
    let max_lr = chosen["max_lr"].as_f64().unwrap();
    assert!((peak - max_lr).abs() <= 1e-12 * max_lr, "peak {peak} vs max_lr {max_lr}");
    assert!((steps[0].lr - chosen["base_lr"].as_f64().unwrap()).abs() <= 1e-12 * max_lr);
}

#[test]
fn a_batch_size_sweep_runs_each_test_at_its_batch_size() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("sweep");
    // No --iters: each test runs its default, 3 epochs of data at its own batch size (over a third
    // of a decade of LR, more than the 10 steps a steady pick needs there).
    tiny("range-test", &d, &out).args(["--start-lr", "0.05", "--end-lr", "0.1", "--sweep", "batch-size=64,32"]).ok();
    let (values, sweep) = check_sweep(&out, "batch_size", &["batch-size=64", "batch-size=32"], &[64.0, 32.0]);
    assert_eq!((values[0].report["iters"].as_u64(), values[1].report["iters"].as_u64()), (Some(12), Some(24)));
    let want = favoured_by_the_rule(&values);
    assert_eq!(sweep["favoured"]["label"], want);
    check_sweep_png(&out.join("sweep.png"), 2);

    let run = tmp.path().join("run");
    let file = out.join("sweep.json");
    tiny("train", &d, &run).args(["--policy", "fixed", "--epochs", "1", "--max-lr", file.to_str().unwrap()]).ok();
    let config = read_json(&run.join("config.json"));
    let batch = sweep["favoured"]["value"].as_f64().unwrap() as u64;
    assert_eq!(config["batch_size"].as_u64(), Some(batch));
    // fixed trains at the suggested LR itself; one epoch of 256 images at that batch size.
    assert_eq!(config["base_lr"], sweep["favoured"]["suggested_lr"]);
    let steps: Vec<StepRow> = read_rows(&run.join("steps.csv")).unwrap();
    assert_eq!(steps.len() as u64, 256 / batch);
}

/// A sweep of three momenta at a tiny LR (nothing diverges: each test runs its 100 steps).
fn slow_sweep(d: &str, out: &Path) -> Cmd {
    tiny("range-test", d, out)
        .args(["--start-lr", "1e-6", "--end-lr", "1e-5", "--iters", "100"])
        .args(["--sweep", "momentum=0.9,0.8,0.7"])
}

/// [`slow_sweep`] into `out`, stopped by Ctrl-C in the test of its second value.
fn ctrl_c_in_the_second_value(d: &str, out: &Path) {
    let mut child = slow_sweep(d, out).spawn();
    let csv = out.join("momentum=0.8").join("lr_find.csv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::fs::read_to_string(&csv).map(|s| s.lines().count()).unwrap_or(0) < 12 {
        assert!(std::time::Instant::now() < deadline, "no progress in {}", csv.display());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

#[test]
fn ctrl_c_stops_the_sweep_writes_what_it_has_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("sweep");
    ctrl_c_in_the_second_value(&d, &out);

    let sweep = read_json(&out.join("sweep.json"));
    assert_eq!(sweep["complete"], false, "{sweep}");
    let results = sweep["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        (results[0]["stop_reason"].as_str(), results[1]["stop_reason"].as_str()),
        (Some("completed"), Some("interrupted"))
    );
    assert_eq!(read_json(&out.join("momentum=0.8").join("range_test.json"))["stop_reason"], "interrupted");
    assert!(!out.join("momentum=0.7").exists(), "the third value ran");
    assert_eq!(read_rows::<SweepRow>(&out.join("sweep.csv")).unwrap().len(), 2);
    assert_eq!(sweep["favoured"]["label"], "momentum=0.9", "the interrupted test is never chosen");
    assert!(sweep["reason"].as_str().unwrap().starts_with("the sweep was interrupted after 2 of 3 values"));
    assert_png(&out.join("sweep.png"));

    // Its choice covers part of the values: train refuses it.
    let run = tmp.path().join("run");
    let file = out.join("sweep.json");
    let refused = tiny("train", &d, &run).args(["--max-lr", file.to_str().unwrap()]).run();
    let line = one_line_error(&refused, 2);
    assert!(line.contains("--max-lr") && line.contains("sweep.json") && line.contains("did not finish"), "{line}");
}

/// The files of a folder, by name, as bytes.
fn files_of(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let entries = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap());
    entries.map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())).collect()
}

#[test]
fn a_sweep_stopped_by_ctrl_c_resumes_running_only_the_values_left() {
    // Its folder was refused: a stopped sweep had to start again from its first value.
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let (whole, parts) = (tmp.path().join("whole"), tmp.path().join("parts"));
    slow_sweep(&d, &whole).ok();
    ctrl_c_in_the_second_value(&d, &parts);
    let first = files_of(&parts.join("momentum=0.9"));
    let dir = parts.to_str().unwrap();
    let out = common::ok(&["range-test", "--resume", dir, "--no-progress", "--threads", "1"]);
    let err = common::stderr(&out);
    assert!(err.contains("the values still to run are momentum=0.8, momentum=0.7"), "{err}");
    assert!(!err.contains("value 1 of 3"), "the finished value ran again:\n{err}");
    assert_eq!(files_of(&parts.join("momentum=0.9")), first, "the finished value's files are kept bit for bit");
    // The same sweep as one never stopped: every value from the same weights and data order.
    for file in ["sweep.json", "sweep.csv", "config.json"] {
        let (a, b) = (std::fs::read(whole.join(file)).unwrap(), std::fs::read(parts.join(file)).unwrap());
        assert!(a == b, "{file} differs:\n{}\n{}", String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
    }
    for value in ["momentum=0.8", "momentum=0.7"] {
        assert_eq!(
            read_rows::<LrFindRow>(&whole.join(value).join("lr_find.csv")).unwrap(),
            read_rows::<LrFindRow>(&parts.join(value).join("lr_find.csv")).unwrap(),
            "{value}"
        );
    }
    // The folder refuses a new sweep, and says how to continue one.
    let line = one_line_error(&slow_sweep(&d, &parts).run(), 2);
    assert!(line.contains(&format!("continue a stopped sweep with range-test --resume {dir}")), "{line}");
    // What --resume refuses, in one line each.
    let resume = |extra: &[&str]| common::run(&[&["range-test", "--resume", dir][..], extra].concat());
    assert!(one_line_error(&resume(&[]), 2).contains("the sweep is complete"));
    assert!(one_line_error(&resume(&["--sweep", "momentum=0.5"]), 2).contains("takes no --sweep"));
    assert!(one_line_error(&resume(&["--iters", "5"]), 2).contains("--iters cannot change it"));
    let alone = tmp.path().join("data");
    let line = one_line_error(&common::run(&["range-test", "--resume", alone.to_str().unwrap()]), 2);
    assert!(line.contains("no config.json there") || line.contains("no sweep.json there"), "{line}");
}

#[test]
fn bad_sweeps_are_usage_errors_that_name_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-data");
    let cases: [(&str, &[&str]); 7] = [
        (
            "learning-rate=1,2",
            &["--sweep", "unknown sweep parameter 'learning-rate'", "weight-decay, momentum, batch-size"],
        ),
        ("momentum", &["--sweep", "expected NAME=V1,V2"]),
        ("momentum=", &["--sweep", "empty value"]),
        ("weight-decay=1e-3,abc", &["--sweep", "weight-decay 'abc' is not a number"]),
        ("batch-size=128,0.5", &["--sweep", "batch-size '0.5' is not a whole number"]),
        // The parameter's own checks, before any data is read.
        ("momentum=0.9,1.5", &["--sweep momentum=1.5", "--momentum (momentum) must be in [0, 1)"]),
        ("batch-size=128,0", &["--sweep batch-size=0", "--batch-size (batch_size) must be at least 1"]),
    ];
    for (sweep, needles) in cases {
        let out = tmp.path().join("out");
        let result = tiny("range-test", missing.to_str().unwrap(), &out).args(["--sweep", sweep]).run();
        let line = one_line_error(&result, 2);
        for needle in needles {
            assert!(line.contains(needle), "--sweep {sweep}: {needle:?} not in: {line}");
        }
        assert!(!out.exists(), "--sweep {sweep}: {} was created", out.display());
    }
    // A flag of range-test alone, not of train, and not a config-file field.
    let line = one_line_error(&common::run(&["train", "--sweep", "momentum=0.9"]), 2);
    assert!(line.contains("--sweep"), "{line}");
    let config = tmp.path().join("c.json");
    std::fs::write(&config, r#"{"sweep": "momentum=0.9,0.8"}"#).unwrap();
    let line = one_line_error(&common::run(&["range-test", "--config", config.to_str().unwrap()]), 2);
    assert!(line.contains("unknown field `sweep`"), "{line}");
}
