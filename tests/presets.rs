//! Every config in `configs/` loads, validates and describes the schedule it claims:
//! `clr schedule --config F --steps-per-epoch N` for each, checked for length, LR at the start,
//! peak and end, number of cycles, momentum range and, for the step policies, where the LR drops.
//! A new preset must be added to the table below (the test fails on a file it does not know).

mod common;

use common::{clr, stderr};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
struct Row {
    step: u64,
    lr: f64,
    momentum: f64,
}

/// What a preset's schedule must be.
struct Expect {
    file: &'static str,
    /// CIFAR-10's 50,000 images at the preset's batch size, rounded up.
    steps_per_epoch: u64,
    steps: usize,
    first_lr: f64,
    peak_lr: f64,
    /// The first step at the peak.
    peak_step: u64,
    last_lr: f64,
    /// Rises followed by falls: 1 for one cycle, 0 for a step schedule.
    cycles: usize,
    momentum: (f64, f64),
    /// Steps at which the LR drops to a new constant (step policies).
    drops: &'static [u64],
    /// The paper a preset reproduces (its comment names it); None for the original presets.
    source: Option<&'static str>,
}

/// The reference run: 0.08 → 0.8 over 41 epochs, → 0.08 over 41, → 0.008 over 13.
const REFERENCE: Expect = Expect {
    file: "one-cycle.json",
    steps_per_epoch: 98,
    steps: 9310,
    first_lr: 0.08,
    peak_lr: 0.8,
    peak_step: 41 * 98,
    last_lr: 0.008,
    cycles: 1,
    momentum: (0.9, 0.9),
    drops: &[],
    source: Some("1803.09820"),
};

const PRESETS: &[Expect] = &[
    REFERENCE,
    Expect { file: "one-cycle-cyclic-momentum.json", momentum: (0.85, 0.95), source: Some("1803.09820"), ..REFERENCE },
    // 10,000 iterations at batch 1,000: 200 epochs of 50 steps, one cycle of 5,000 + 5,000.
    Expect {
        file: "super-convergence.json",
        steps_per_epoch: 50,
        steps: 10_000,
        first_lr: 0.1,
        peak_lr: 3.0,
        peak_step: 5_000,
        last_lr: 0.1,
        cycles: 1,
        momentum: (0.9, 0.9),
        drops: &[],
        source: Some("1708.07120"),
    },
    // 0.4, ÷10 at epochs 47.5 and 71.25 of 95: steps round(47.5 × 98), round(71.25 × 98).
    Expect {
        file: "step-baseline.json",
        steps_per_epoch: 98,
        steps: 9310,
        first_lr: 0.4,
        peak_lr: 0.4,
        peak_step: 0,
        last_lr: 0.004,
        cycles: 0,
        momentum: (0.9, 0.9),
        drops: &[4655, 6983],
        source: Some("1512.03385"),
    },
    Expect {
        file: "step.json",
        steps_per_epoch: 391,
        steps: 160 * 391,
        first_lr: 0.1,
        peak_lr: 0.1,
        peak_step: 0,
        last_lr: 0.001,
        cycles: 0,
        momentum: (0.9, 0.9),
        drops: &[80 * 391, 120 * 391],
        source: Some("1512.03385"),
    },
    // Six triangles of 8 + 8 epochs.
    Expect {
        file: "clr-triangular.json",
        steps_per_epoch: 98,
        steps: 96 * 98,
        first_lr: 0.08,
        peak_lr: 0.8,
        peak_step: 8 * 98,
        last_lr: 0.08,
        cycles: 6,
        momentum: (0.9, 0.9),
        drops: &[],
        source: None,
    },
    // A range test sets no schedule: the default one, the reference run's.
    Expect { file: "range-test.json", source: None, ..REFERENCE },
    // The author's logged runs (lnsmith54/hyperParam1, Cifar/results): batch 512, 98 steps per
    // epoch; one cycle of 22 + 22 epochs, a 6-epoch tail to 1e-4, momentum 0.9 -> 0.8.
    Expect {
        file: "densenet40-one-cycle.json",
        steps_per_epoch: 98,
        steps: 50 * 98,
        first_lr: 0.1,
        peak_lr: 4.0,
        peak_step: 22 * 98,
        last_lr: 0.0001,
        cycles: 1,
        momentum: (0.8, 0.9),
        drops: &[],
        source: Some("1803.09820"),
    },
    // 23 + 23 epochs and a 4-epoch tail; momentum 0.95 -> 0.85.
    Expect {
        file: "wide32-one-cycle.json",
        steps_per_epoch: 98,
        steps: 50 * 98,
        first_lr: 0.1,
        peak_lr: 1.0,
        peak_step: 23 * 98,
        last_lr: 0.0001,
        cycles: 1,
        momentum: (0.85, 0.95),
        drops: &[],
        source: Some("1803.09820"),
    },
    // CIFAR-100's 50,000 training images at batch 1024: 49 steps per epoch; 70 + 70 + 5 epochs.
    Expect {
        file: "cifar100-resnet56-one-cycle.json",
        steps_per_epoch: 49,
        steps: 145 * 49,
        first_lr: 0.1,
        peak_lr: 1.2,
        peak_step: 70 * 49,
        last_lr: 0.0001,
        cycles: 1,
        momentum: (0.85, 0.95),
        drops: &[],
        source: Some("1803.09820"),
    },
];

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

fn schedule(file: &str, steps_per_epoch: u64) -> Vec<Row> {
    let path = configs().join(file);
    let spe = steps_per_epoch.to_string();
    let out = clr().args(["schedule", "--config", path.to_str().unwrap(), "--steps-per-epoch", &spe]).output().unwrap();
    assert!(out.status.success(), "{file}: {}", stderr(&out));
    csv::Reader::from_reader(out.stdout.as_slice()).deserialize().map(|r| r.unwrap()).collect()
}

fn check(e: &Expect) {
    let rows = schedule(e.file, e.steps_per_epoch);
    let name = e.file;
    assert_eq!(rows.len(), e.steps, "{name}: steps");
    assert!(rows.iter().enumerate().all(|(i, r)| r.step == i as u64), "{name}: step column");
    let lr: Vec<f64> = rows.iter().map(|r| r.lr).collect();
    assert!((lr[0] - e.first_lr).abs() < 1e-12, "{name}: first LR {}", lr[0]);
    let peak = lr.iter().copied().fold(f64::MIN, f64::max);
    assert!((peak - e.peak_lr).abs() < 1e-12, "{name}: peak LR {peak}");
    let peak_step = lr.iter().position(|&v| (v - peak).abs() < 1e-12).unwrap() as u64;
    assert_eq!(peak_step, e.peak_step, "{name}: first step at the peak");
    // The last step is one step short of the end of its phase: one step's move from the end value.
    let (last, before) = (lr[lr.len() - 1], lr[lr.len() - 2]);
    assert!((last - e.last_lr).abs() <= 1e-12 + 1.01 * (last - before).abs(), "{name}: last LR {last}");
    assert_eq!(cycles(&lr), e.cycles, "{name}: cycles");
    let momentum = rows.iter().map(|r| r.momentum);
    let range = (momentum.clone().fold(f64::MAX, f64::min), momentum.fold(f64::MIN, f64::max));
    assert!(
        (range.0 - e.momentum.0).abs() < 1e-12 && (range.1 - e.momentum.1).abs() < 1e-12,
        "{name}: momentum {range:?}"
    );
    if e.momentum.0 != e.momentum.1 {
        // Against the LR: lowest at the LR's peak, highest at the start.
        assert!((rows[peak_step as usize].momentum - e.momentum.0).abs() < 1e-12, "{name}: momentum at the peak");
        assert!((rows[0].momentum - e.momentum.1).abs() < 1e-12, "{name}: momentum at step 0");
    }
    if !e.drops.is_empty() {
        let drops: Vec<u64> = (1..lr.len()).filter(|&i| lr[i] < lr[i - 1]).map(|i| i as u64).collect();
        assert_eq!(drops, e.drops, "{name}: where the LR drops");
    }
}

/// How many times the LR turns from rising to falling.
fn cycles(lr: &[f64]) -> usize {
    let mut rising = false;
    let mut count = 0;
    for w in lr.windows(2) {
        if w[1] > w[0] {
            rising = true;
        } else if w[1] < w[0] && rising {
            rising = false;
            count += 1;
        }
    }
    count
}

#[test]
fn every_preset_gives_the_schedule_it_describes() {
    let mut files: Vec<String> = std::fs::read_dir(configs())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json"))
        .collect();
    files.sort();
    let mut known: Vec<String> = PRESETS.iter().map(|e| e.file.to_string()).collect();
    known.sort();
    assert_eq!(files, known, "every file in configs/ needs an entry in PRESETS");
    for e in PRESETS {
        check(e);
    }
}

#[test]
fn the_papers_presets_name_their_source_and_its_figure() {
    for e in PRESETS {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(configs().join(e.file)).unwrap()).unwrap();
        let comment = json.get("comment").and_then(|c| c.as_str());
        let Some(source) = e.source else { continue };
        let comment = comment.unwrap_or_else(|| panic!("{}: no comment", e.file));
        assert!(!comment.contains('\n'), "{}: one line", e.file);
        assert!(comment.contains(&format!("arXiv {source}")) && comment.contains('%'), "{}: {comment}", e.file);
    }
}

/// The presets of the author's logged runs cite the log and give its figure, and name the
/// network they train (a preset's network settings are validated by `clr schedule` above).
#[test]
fn the_logged_runs_cite_their_log() {
    for (file, arch, figure) in [
        ("densenet40-one-cycle.json", "densenet", "91.53 %"),
        ("wide32-one-cycle.json", "smith-wide", "91.38 %"),
        ("cifar100-resnet56-one-cycle.json", "resnet", "67.80 %"),
    ] {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(configs().join(file)).unwrap()).unwrap();
        let comment = json["comment"].as_str().unwrap();
        assert!(comment.contains("lnsmith54/hyperParam1, Cifar/results/") && comment.contains(figure), "{file}");
        assert_eq!(json["arch"], arch, "{file}");
    }
}

/// Super-convergence's baseline has two figures: the paper's text (91.2 %) and the last line of
/// the author's own log of that run (lnsmith54/super-convergence, Results/lr35Fig1a: 0.9032 at
/// iteration 80,000). The preset cites both, and where the second comes from.
#[test]
fn super_convergence_cites_the_papers_baseline_and_the_authors_log() {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(configs().join("super-convergence.json")).unwrap()).unwrap();
    let comment = json["comment"].as_str().unwrap();
    for cited in ["91.2 %", "90.32 %", "lnsmith54/super-convergence", "Results/"] {
        assert!(comment.contains(cited), "{cited} missing: {comment}");
    }
}
