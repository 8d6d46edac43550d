//! Stopping a run and resuming it: run a training command uninterrupted and again stopped by a
//! signal, resume the stopped one, and require the same run bit for bit (loss trace, epoch rows,
//! weights and momentum buffers).

use super::ok;
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
    let ck = clr::checkpoint::load(&dir.join("checkpoint.pt")).unwrap();
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

pub fn spawn(args: &[&str]) -> Child {
    super::clr().args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap()
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

pub fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Train `make(out)` uninterrupted into TMP/whole, and again into TMP/parts stopped by signal
/// `sig` once its steps.csv has `rows` rows (and `delay` more); `check` looks at the stopped run
/// and its exit code; then resume it and require the same run as the uninterrupted one.
pub fn stop_resume_compare(
    tmp: &Path,
    make: impl Fn(&str) -> Vec<String>,
    rows: usize,
    delay: Duration,
    sig: &str,
    check: impl FnOnce(&Path, Option<i32>),
) {
    let whole = tmp.join("whole");
    let args = make(&whole.display().to_string());
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let parts = tmp.join("parts");
    let p = parts.display().to_string();
    let args = make(&p);
    let mut child = spawn(&args.iter().map(String::as_str).collect::<Vec<_>>());
    wait_for_rows(&mut child, &parts, rows);
    std::thread::sleep(delay);
    signal(&child, sig);
    let code = child.wait().unwrap().code();
    check(&parts, code);
    ok(&["train", "--resume", &p, "--no-progress"]);
    assert_same_run(&whole, &parts);
}
