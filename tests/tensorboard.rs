//! clr's TensorBoard event files, read back by TensorBoard itself (the `tensorboard` Python
//! package): tags, steps and float32 values exactly, a torn last record, and the purge of a killed
//! run's orphaned events when the run resumes (or starts over in the same folder).

mod common;

use clr::tensorboard::EventWriter;
use common::tensorboard::{read_scalars, series};
use std::path::Path;

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn tensorboard_reads_back_every_tag_step_and_float32_value() {
    let dir = tempfile::tempdir().unwrap();
    let before = now();
    let mut w = EventWriter::create(dir.path()).unwrap();
    // Values a run can produce, with the float32 edge cases: rounding, subnormal, signed zero,
    // the largest finite, a diverged loss.
    let odd =
        [0.1, 1e-8, 1e-45, -0.0, f32::MAX as f64, std::f64::consts::LN_10, f64::NAN, f64::INFINITY, -f64::INFINITY];
    for (i, &v) in odd.iter().enumerate() {
        w.scalar("range/loss", i as u64, v).unwrap();
    }
    // Several tags of one step in one event, at a step past u32.
    let big = 10_000_000_000;
    w.scalars(big, &[("epoch/train_loss", 0.75), ("epoch/test_acc", 0.0), ("lr", 3e-3)]).unwrap();
    let after = now();
    drop(w);

    let got = read_scalars(dir.path());
    let tags: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(tags, ["epoch/test_acc", "epoch/train_loss", "lr", "range/loss"]);
    let range = series(&got, "range/loss");
    assert_eq!(range.len(), odd.len());
    for (i, (&(step, value), &v)) in range.iter().zip(&odd).enumerate() {
        assert_eq!(step, i as i64);
        assert_eq!(value.to_bits(), (v as f32).to_bits(), "step {i}: {value} != {v}");
    }
    assert_eq!(series(&got, "epoch/train_loss"), [(big as i64, 0.75)]);
    assert_eq!(series(&got, "epoch/test_acc"), [(big as i64, 0.0)]);
    assert_eq!(series(&got, "lr"), [(big as i64, 3e-3f64 as f32)]);
    for p in got.values().flatten() {
        assert!(p.wall_time >= before - 1e-3 && p.wall_time <= after + 1e-3, "wall time {}", p.wall_time);
    }
}

/// The value a run writes for (tag, step); `attempt` tells the killed run's from the resumed one's.
fn value(attempt: u64, tag: &str, step: u64) -> f32 {
    let base = if tag == "step/loss" { 10.0 } else { 0.5 };
    (base + (attempt * 100 + step) as f64 * 0.125) as f32
}

/// A run killed at step 10, mid-write, with its last checkpoint at step 6: steps 0..=10 and epoch
/// metrics at steps 4 and 9 written, the last record torn. Then a second writer in the same folder
/// (resumed at step 6 when `resume`, a plain new file otherwise) writes steps 6..=8 again.
fn killed_then_continued(dir: &Path, resume: bool) {
    let mut first = EventWriter::create(dir).unwrap();
    for step in 0..=10 {
        let tags = ["step/loss", "step/lr"];
        first.scalars(step, &tags.map(|t| (t, value(0, t, step) as f64))).unwrap();
        if step == 4 || step == 9 {
            first.scalar("epoch/test_acc", step, value(0, "epoch/test_acc", step) as f64).unwrap();
        }
    }
    let path = first.path().to_path_buf();
    drop(first);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 3).unwrap();

    let mut second = if resume { EventWriter::resume(dir, 6).unwrap() } else { EventWriter::create(dir).unwrap() };
    assert!(second.path() > path.as_path(), "the new file must be read after the old one");
    for step in 6..=8 {
        let tags = ["step/loss", "step/lr"];
        second.scalars(step, &tags.map(|t| (t, value(1, t, step) as f64))).unwrap();
    }
}

#[test]
fn a_resumed_run_hides_what_the_killed_run_wrote_after_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    killed_then_continued(dir.path(), true);
    let got = read_scalars(dir.path());
    for tag in ["step/loss", "step/lr"] {
        let want: Vec<(i64, f32)> =
            (0..6).map(|s| (s as i64, value(0, tag, s))).chain((6..=8).map(|s| (s as i64, value(1, tag, s)))).collect();
        assert_eq!(series(&got, tag), want, "{tag}");
    }
    // Purged although the resumed run has not written this tag again yet.
    assert_eq!(series(&got, "epoch/test_acc"), [(4, value(0, "epoch/test_acc", 4))]);
}

#[test]
fn a_run_started_over_in_the_same_folder_replaces_the_old_curves() {
    // A fresh writer starts at step 0, so everything the killed run wrote is superseded: this is
    // also the control for the test above (without a START nothing would be purged).
    let dir = tempfile::tempdir().unwrap();
    killed_then_continued(dir.path(), false);
    let got = read_scalars(dir.path());
    for tag in ["step/loss", "step/lr"] {
        let want: Vec<(i64, f32)> = (6..=8).map(|s| (s as i64, value(1, tag, s))).collect();
        assert_eq!(series(&got, tag), want, "{tag}");
    }
    // The tag stays known, with no points left.
    assert_eq!(got.get("epoch/test_acc").map(Vec::len), Some(0), "{:?}", got.keys());
}

/// Tiny runs with `--tensorboard` on generated data: 128 images, 4 steps per epoch at batch 32.
fn tiny_data(dir: &Path) -> std::path::PathBuf {
    common::cifar::write_learnable(dir, 1, 128, 32, 3);
    dir.to_path_buf()
}

fn one_cycle(data: &Path, out: &Path) -> common::Cmd {
    common::Cmd::tiny("train").data(data).out(out).one_cycle("1,1,1").args(["--tensorboard"])
}

/// Every step and epoch of a run's CSVs is in its event files, once, with the same value.
fn assert_events_match_csvs(out: &Path) {
    let scalars = read_scalars(out);
    let steps = common::runs::steps(out);
    let loss = series(&scalars, "train/loss");
    let lr = series(&scalars, "train/lr");
    assert_eq!(loss.len(), steps.len(), "one loss per step");
    for ((row, l), r) in steps.iter().zip(&loss).zip(&lr) {
        assert_eq!((l.0, r.0), (row.step as i64, row.step as i64));
        assert_eq!((l.1, r.1), (row.loss as f32, row.lr as f32), "step {}", row.step);
    }
    let epochs: Vec<clr::records::EpochRow> = clr::records::read_rows(&out.join("epochs.csv")).unwrap();
    let acc = series(&scalars, "epoch/test_acc");
    assert_eq!(acc.len(), epochs.len());
    for (row, a) in epochs.iter().zip(&acc) {
        assert_eq!(*a, ((row.epoch as i64 + 1) * 4 - 1, row.test_acc as f32), "epoch {}", row.epoch);
    }
    for tag in ["train/momentum", "epoch/train_loss", "epoch/train_acc", "epoch/test_loss", "epoch/lr"] {
        assert!(scalars.contains_key(tag), "{tag} missing: {:?}", scalars.keys());
    }
}

#[test]
fn a_training_run_logs_every_row_as_its_csvs_say() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tiny_data(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    one_cycle(&d, &out).ok();
    assert_events_match_csvs(&out);
    // Without the flag there are none.
    let plain = tmp.path().join("plain");
    common::Cmd::tiny("train").data(&d).out(&plain).args(common::ONE_FIXED_EPOCH).ok();
    assert!(!std::fs::read_dir(&plain).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains("tfevents")));
}

#[test]
fn a_killed_and_resumed_run_shows_each_step_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tiny_data(&tmp.path().join("data"));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    common::runs::stop_resume_compare(
        tmp.path(),
        |o| one_cycle(&d, o),
        5 + (nanos % 4) as usize,
        std::time::Duration::ZERO,
        &["-KILL"],
        |_, _| {},
    );
    assert_events_match_csvs(&tmp.path().join("parts"));
}

#[test]
fn a_resumed_run_over_logged_steps_shows_each_step_once_in_tensorboard() {
    // Deterministic overlap: a finished 2-epoch run put back to its step-4 checkpoint, as a kill
    // -9 just before the step-8 checkpoint leaves it (events of steps 4 to 7 already written).
    let tmp = tempfile::tempdir().unwrap();
    let d = tiny_data(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    common::Cmd::tiny("train").data(&d).out(&out).args(["--tensorboard", "--policy", "fixed", "--epochs", "2"]).ok();
    let files = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("tfevents"))
            .count()
    };
    assert_eq!(series(&read_scalars(&out), "train/loss").len(), 8);
    std::fs::rename(out.join("checkpoint.prev.pt"), out.join("checkpoint.pt")).unwrap();
    common::ok(&["train", "--resume", out.to_str().unwrap(), "--no-progress"]);
    assert_eq!(files(&out), 2, "the resumed run writes a second event file");
    let scalars = read_scalars(&out);
    let steps: Vec<i64> = series(&scalars, "train/loss").iter().map(|p| p.0).collect();
    assert_eq!(steps, (0..8).collect::<Vec<_>>(), "steps 4 to 7 once, not twice");
    assert_events_match_csvs(&out);
}

#[test]
fn a_range_test_logs_its_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tiny_data(&tmp.path().join("data"));
    let out = tmp.path().join("rt");
    common::Cmd::tiny("range-test").data(&d).out(&out).args(["--iters", "30", "--tensorboard"]).ok();
    let scalars = read_scalars(&out);
    let rows: Vec<clr::records::LrFindRow> = clr::records::read_rows(&out.join("lr_find.csv")).unwrap();
    for (tag, pick) in [
        ("range_test/loss", (|r: &clr::records::LrFindRow| r.loss) as fn(&clr::records::LrFindRow) -> f64),
        ("range_test/smoothed_loss", |r| r.smoothed_loss),
        ("range_test/lr", |r| r.lr),
    ] {
        let got = series(&scalars, tag);
        let want: Vec<(i64, f32)> = rows.iter().map(|r| (r.step as i64, pick(r) as f32)).collect();
        assert_eq!(got, want, "{tag}");
    }
}
