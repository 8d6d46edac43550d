//! Runs to compare: the rows and weights of a run folder, waiting for a running one, stopping it
//! with signals, and the stop-then-resume comparison against an uninterrupted run.

use super::{ok, Cmd};
use clr::records::{read_rows, EpochRow, StepRow};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

pub fn steps(dir: &Path) -> Vec<StepRow> {
    read_rows(&dir.join("steps.csv")).unwrap()
}

/// Epoch rows without the wall-clock column.
pub fn epochs(dir: &Path) -> Vec<EpochRow> {
    read_rows::<EpochRow>(&dir.join("epochs.csv"))
        .unwrap()
        .into_iter()
        .map(|r| EpochRow { seconds: 0.0, ..r })
        .collect()
}

pub fn weights(dir: &Path) -> Vec<(String, tch::Tensor)> {
    let ck = clr::train::checkpoint::load(&dir.join("checkpoint.pt")).unwrap();
    let mut all: Vec<_> =
        ck.model.into_iter().chain(ck.momentum.into_iter().map(|(k, v)| (format!("m.{k}"), v))).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

pub fn assert_same_run(a: &Path, b: &Path) {
    assert_eq!(steps(a), steps(b), "the loss trace differs");
    assert_eq!(epochs(a), epochs(b));
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.len(), wb.len());
    for ((na, ta), (nb, tb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{na} differs");
    }
}

/// Wait until steps.csv has at least `rows` rows (or the process ended).
pub fn wait_for_rows(child: &mut Child, dir: &Path, rows: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        let n =
            std::fs::read_to_string(dir.join("steps.csv")).map(|s| s.lines().count().saturating_sub(1)).unwrap_or(0);
        if n >= rows {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no progress in steps.csv");
}

/// Send `sig` (`-INT`, `-TERM`, `-KILL`) to `child`.
pub fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// A run stopped by a signal exited with `code` (130 for Ctrl-C, 143 for SIGTERM), said so in
/// its summary.json, and stopped before its last step, so that resuming it still has work to do.
pub fn assert_interrupted(parts: &Path, code: Option<i32>, expected: i32, total_steps: u64) {
    assert_eq!(code, Some(expected), "an interrupted run exits {expected}");
    let summary = super::read_json(&parts.join("summary.json"));
    assert_eq!(summary["status"], "interrupted");
    let stopped_at = summary["steps"].as_u64().unwrap();
    assert!(stopped_at < total_steps, "stopped at step {stopped_at} of {total_steps}: too late to test a resume");
}

/// Train `make(out)` uninterrupted into TMP/whole, and again into TMP/parts stopped by the
/// signals `sigs` (a few milliseconds apart) once its steps.csv has `rows` rows (and `delay`
/// more); `check` looks at the stopped run and its exit code; then resume it and require the same
/// run as the uninterrupted one.
pub fn stop_resume_compare(
    tmp: &Path,
    make: impl Fn(&Path) -> Cmd,
    rows: usize,
    delay: Duration,
    sigs: &[&str],
    check: impl FnOnce(&Path, Option<i32>),
) {
    let whole = tmp.join("whole");
    make(&whole).ok();
    let parts = tmp.join("parts");
    let mut child = make(&parts).spawn();
    wait_for_rows(&mut child, &parts, rows);
    std::thread::sleep(delay);
    for sig in sigs {
        signal(&child, sig);
        std::thread::sleep(Duration::from_millis(5));
    }
    let code = child.wait().unwrap().code();
    check(&parts, code);
    ok(&["train", "--resume", &parts.display().to_string(), "--no-progress"]);
    assert_same_run(&whole, &parts);
}
