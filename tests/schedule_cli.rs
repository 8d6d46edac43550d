//! `clr schedule` as a user runs it: the dry-run CSV against PyTorch's schedulers (the fixtures in
//! tests/fixtures/schedules, written by scripts/gen_schedule_fixtures.py), `--out`, `--plot` and
//! `--max-lr FILE`.

mod common;

use common::{assert_png, clr, ok, stderr};
use serde::Deserialize;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fixtures/schedules")
}

/// A row of `clr schedule`'s CSV.
#[derive(Debug, Deserialize)]
struct Row {
    step: u64,
    epoch: u64,
    lr: f64,
    momentum: f64,
}

/// A row of a PyTorch fixture.
#[derive(Debug, Deserialize)]
struct TorchRow {
    step: u64,
    lr: f64,
    momentum: f64,
}

/// Parse the CSV `clr schedule` wrote, insisting on the header `step,epoch,lr,momentum`.
fn parse(csv_text: &[u8]) -> Vec<Row> {
    let mut reader = csv::Reader::from_reader(csv_text);
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, ["step", "epoch", "lr", "momentum"]);
    reader.deserialize().map(|r| r.unwrap()).collect()
}

fn read_fixture(file: &str) -> Vec<TorchRow> {
    let mut text = String::new();
    let gz = std::fs::File::open(fixtures().join(file)).unwrap();
    flate2::read::GzDecoder::new(gz).read_to_string(&mut text).unwrap();
    csv::Reader::from_reader(text.as_bytes()).deserialize().map(|r| r.unwrap()).collect()
}

/// `clr schedule ARGS` run from the crate root (so that `configs/…` resolves); its stdout.
fn schedule(args: &[&str]) -> Vec<u8> {
    let out = clr().arg("schedule").args(args).current_dir(manifest_dir()).output().expect("run clr");
    assert!(out.status.success(), "clr schedule {args:?} failed:\n{}", stderr(&out));
    out.stdout
}

/// Every row matches the fixture within `lr_tol` and `momentum_tol`; steps and epochs count up.
fn assert_matches(name: &str, rows: &[Row], torch: &[TorchRow], steps_per_epoch: u64, lr_tol: f64, momentum_tol: f64) {
    assert_eq!(rows.len(), torch.len(), "{name}: row count");
    for (i, (row, t)) in rows.iter().zip(torch).enumerate() {
        let i = i as u64;
        assert_eq!((row.step, t.step), (i, i), "{name}: step column");
        assert_eq!(row.epoch, i / steps_per_epoch, "{name}: epoch of step {i}");
        assert!((row.lr - t.lr).abs() <= lr_tol, "{name} step {i}: lr {} vs torch {}", row.lr, t.lr);
        assert!(
            (row.momentum - t.momentum).abs() <= momentum_tol,
            "{name} step {i}: momentum {} vs torch {}",
            row.momentum,
            t.momentum
        );
    }
}

#[test]
fn reference_one_cycle_config_matches_pytorch() {
    let rows =
        parse(&schedule(&["--policy", "one-cycle", "--config", "configs/one-cycle.json", "--steps-per-epoch", "98"]));
    assert_eq!(rows.len(), 9310, "95 epochs of 98 steps");
    // The SPEC's reference run: 0.08 → 0.8 over 41 epochs, → 0.08 over 41, → 0.008 over 13.
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9;
    assert!(close(rows[0].lr, 0.08) && close(rows[41 * 98].lr, 0.8) && close(rows[82 * 98].lr, 0.08));
    assert!(rows[9309].lr > 0.008 && rows[9309].lr < 0.0081, "last lr {}", rows[9309].lr);
    let peak = rows.iter().map(|r| r.lr).fold(0.0, f64::max);
    assert!(close(peak, 0.8), "peak {peak}");
    // PyTorch's OneCycleLR ends its phases a step or two earlier: 0.5 % of max_lr at most.
    assert_matches("one-cycle", &rows, &read_fixture("one-cycle-linear.csv.gz"), 98, 0.005 * 0.8, 0.005);
}

/// One case of cases.json.
#[derive(Deserialize)]
struct Case {
    name: String,
    file: String,
    config: Value,
}

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

/// The command-line flags that spell a fixture's config.
fn flags(config: &Value) -> Vec<String> {
    let num = |v: &Value| v.as_f64().unwrap().to_string();
    let list = |v: &Value| v.as_array().unwrap().iter().map(num).collect::<Vec<_>>().join(",");
    let mut f: Vec<String> = Vec::new();
    let mut push = |flag: &str, value: String| {
        f.push(flag.to_string());
        f.push(value);
    };
    push("--policy", config["policy"].as_str().unwrap().to_string());
    push("--base-lr", num(&config["base_lr"]));
    push("--max-lr", num(&config["max_lr"]));
    push("--momentum", num(&config["momentum"]));
    push("--epochs", num(&config["epochs"]));
    push("--steps-per-epoch", config["steps_per_epoch"].as_u64().unwrap().to_string());
    push("--anneal", config["anneal"].as_str().unwrap().to_string());
    push("--step-size", num(&config["step_size"]));
    if config["policy"] == "one-cycle" {
        push("--phases", list(&config["phases"]));
    }
    for (key, flag) in [("final_lr", "--final-lr"), ("gamma", "--gamma")] {
        if !config[key].is_null() {
            push(flag, num(&config[key]));
        }
    }
    for (key, flag) in [("milestones", "--milestones"), ("cycle_momentum", "--cycle-momentum")] {
        if !config[key].is_null() {
            push(flag, list(&config[key]));
        }
    }
    f
}

#[test]
fn every_fixture_matches_through_the_flags() {
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap()).unwrap();
    let policies: Vec<&str> = manifest.cases.iter().map(|c| c.config["policy"].as_str().unwrap()).collect();
    for p in ["one-cycle", "triangular", "triangular2", "exp-range"] {
        assert!(policies.contains(&p), "no fixture for {p}");
    }
    for case in &manifest.cases {
        let args = flags(&case.config);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let rows = parse(&schedule(&args));
        // The contract: the cyclical policies (and step) are PyTorch's to 1e-6; one-cycle is
        // within 0.5 % of max_lr (its phases end on the epoch boundaries, PyTorch's do not).
        let (lr_tol, momentum_tol) = match case.config["policy"].as_str().unwrap() {
            "one-cycle" => (0.005 * case.config["max_lr"].as_f64().unwrap(), 0.005),
            _ => (1e-6, 1e-6),
        };
        let spe = case.config["steps_per_epoch"].as_u64().unwrap();
        assert_matches(&case.name, &rows, &read_fixture(&case.file), spe, lr_tol, momentum_tol);
    }
}

const TRIANGULAR: [&str; 12] = [
    "--policy",
    "triangular2",
    "--base-lr",
    "0.001",
    "--max-lr",
    "0.006",
    "--step-size",
    "2",
    "--epochs",
    "20",
    "--steps-per-epoch",
    "50",
];

#[test]
fn out_file_holds_the_bytes_of_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let stdout = schedule(&TRIANGULAR);
    assert_eq!(parse(&stdout).len(), 1000);
    let file = tmp.path().join("sched.csv");
    let mut args = TRIANGULAR.to_vec();
    args.extend(["--out", file.to_str().unwrap()]);
    let printed = schedule(&args);
    assert!(printed.is_empty(), "with --out nothing goes to stdout: {}", String::from_utf8_lossy(&printed));
    assert_eq!(std::fs::read(&file).unwrap(), stdout);
}

#[test]
fn plot_writes_a_png_whatever_the_file_name() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["schedule.png", "schedule.plot"] {
        let png = tmp.path().join(name);
        let mut args = TRIANGULAR.to_vec();
        args.extend(["--plot", png.to_str().unwrap()]);
        let stdout = schedule(&args);
        assert_eq!(parse(&stdout).len(), 1000, "the CSV still goes to stdout");
        let (w, h) = assert_png(&png);
        assert!(w >= 400 && h >= 300, "{name}: {w}x{h}");
    }
    // Nothing but the two plots is left in the folder (no temporary files).
    let mut names: Vec<String> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["schedule.plot", "schedule.png"]);
}

/// A range_test.json as `clr range-test` writes it, proposing `max_lr` (and base = max / 10).
fn write_report(path: &Path, max_lr: f64) {
    let report = serde_json::json!({
        "lr_at_min_loss": max_lr * 10.0,
        "min_loss": 1.2,
        "suggested_lr": max_lr,
        "steepest_lr": max_lr / 2.0,
        "valley_lr": max_lr / 3.0,
        "max_lr": max_lr,
        "base_lr": max_lr / 10.0,
        "stopped_early": true,
        "stop_reason": "diverged",
        "steps": 150,
        "start_lr": 1e-4,
        "end_lr": 10.0,
        "mode": "exp",
        "smooth": 0.98,
        "diverge": 4.0,
        "iters": 200
    });
    std::fs::write(path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
}

const ONE_CYCLE_SHORT: [&str; 8] =
    ["--policy", "one-cycle", "--phases", "1,1,0", "--epochs", "2", "--steps-per-epoch", "10"];

#[test]
fn max_lr_from_a_range_test_report() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("range_test.json");
    write_report(&report, 0.3);
    let mut args = ONE_CYCLE_SHORT.to_vec();
    args.extend(["--base-lr", "0.01", "--max-lr", report.to_str().unwrap()]);
    let rows = parse(&schedule(&args));
    assert_eq!(rows.len(), 20);
    let rel = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
    assert!(rel(rows[0].lr, 0.01), "the --base-lr given is kept: {}", rows[0].lr);
    assert!(rel(rows[10].lr, 0.3), "the peak is the report's max_lr: {}", rows[10].lr);
    assert!(rows.iter().all(|r| r.lr <= 0.3 * (1.0 + 1e-12)));
}

#[test]
fn max_lr_report_without_base_lr_previews_what_train_would_run() {
    // `clr train --max-lr FILE` without --base-lr takes base_lr from the report too (the
    // proposal is the pair); the dry run of the same flags must show that same schedule. Here
    // the report's max_lr (0.05) is even below the default base_lr (0.08).
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("range_test.json");
    write_report(&report, 0.05);
    let mut args = ONE_CYCLE_SHORT.to_vec();
    args.extend(["--max-lr", report.to_str().unwrap()]);
    let out = clr().arg("schedule").args(&args).output().unwrap();
    assert!(out.status.success(), "clr schedule {args:?} failed:\n{}", stderr(&out));
    let rows = parse(&out.stdout);
    let rel = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
    assert!(rel(rows[0].lr, 0.005), "base_lr from the report: {}", rows[0].lr);
    assert!(rel(rows[10].lr, 0.05), "max_lr from the report: {}", rows[10].lr);
}

/// A preset's base_lr goes with the preset's max_lr: `--config one-cycle.json --max-lr FILE`
/// takes both LRs from the report. A config file that leaves max_lr to the report chose its
/// base_lr for it, and keeps it.
#[test]
fn max_lr_report_over_a_preset_replaces_the_presets_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("range_test.json");
    write_report(&report, 0.3);
    let rel = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/one-cycle.json");
    let mut args = ONE_CYCLE_SHORT.to_vec();
    args.extend(["--config", preset.to_str().unwrap(), "--max-lr", report.to_str().unwrap()]);
    let rows = parse(&schedule(&args));
    assert!(rel(rows[0].lr, 0.03), "base_lr from the report, not the preset's 0.08: {}", rows[0].lr);
    assert!(rel(rows[10].lr, 0.3), "{}", rows[10].lr);

    let own = tmp.path().join("own.json");
    let text = serde_json::json!({"base_lr": 0.01, "max_lr": report.to_str().unwrap()});
    std::fs::write(&own, text.to_string()).unwrap();
    let mut args = ONE_CYCLE_SHORT.to_vec();
    args.extend(["--config", own.to_str().unwrap()]);
    let rows = parse(&schedule(&args));
    assert!(rel(rows[0].lr, 0.01), "the file's base_lr, chosen for the report's max_lr: {}", rows[0].lr);
    assert!(rel(rows[10].lr, 0.3), "{}", rows[10].lr);
}

#[test]
fn schedule_csv_is_plain_rfc4180() {
    // One header, one line per row, no padding, no trailing garbage: what a spreadsheet reads.
    let out = ok(&["schedule", "--policy", "fixed", "--base-lr", "0.1", "--epochs", "1", "--steps-per-epoch", "3"]);
    assert_eq!(common::stdout(&out), "step,epoch,lr,momentum\n0,0,0.1,0.9\n1,0,0.1,0.9\n2,0,0.1,0.9\n");
}

#[test]
fn a_base_lr_above_the_report_s_max_lr_is_replaced_with_a_warning() {
    // It was dropped without a word.
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("range_test.json");
    write_report(&report, 0.3);
    let mut args = ONE_CYCLE_SHORT.to_vec();
    args.extend(["--base-lr", "0.5", "--max-lr", report.to_str().unwrap()]);
    let out = clr().arg("schedule").args(&args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("warning: the base_lr given, 0.5, is not below the max_lr 0.3"), "{err}");
    assert!(err.contains("using its base_lr 0.03"), "{err}");
    assert!((parse(&out.stdout)[0].lr - 0.03).abs() < 1e-12);
}

/// `--epochs 10` alone: the seed's 41:41:13 one-cycle stretched to 10 epochs (of 95 steps: up
/// over 410 steps, down over 410, the tail over 130), as fit_one_cycle(10) takes a length; the
/// same as the reference shape at 95 epochs, which is the default.
#[test]
fn epochs_alone_stretch_the_default_one_cycle() {
    let base = ["--steps-per-epoch", "95", "--max-lr", "0.8", "--base-lr", "0.08"];
    let rows = parse(&schedule(&[&base[..], &["--epochs", "10"]].concat()));
    assert_eq!(rows.len(), 950);
    let peak = rows.iter().enumerate().fold(0, |b, (i, r)| if r.lr > rows[b].lr { i } else { b });
    assert_eq!((peak, rows[peak].lr), (410, 0.8));
    assert!((rows[820].lr - 0.08).abs() < 1e-12, "{}", rows[820].lr);
    assert!(rows[949].lr < 0.0086 && rows[949].lr > 0.008, "the tail heads for 0.008: {}", rows[949].lr);
    assert_eq!(schedule(&[&base[..], &["--epochs", "95"]].concat()), schedule(&base));
    // Phases given are kept, and must fit the length.
    let out = clr().arg("schedule").args(base).args(["--epochs", "10", "--phases", "41,41,13"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("add up to 95 epochs, more than --epochs (epochs) 10"), "{}", stderr(&out));
}
