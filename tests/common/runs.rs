//! Runs to compare: the rows and weights of a run folder, waiting for a running one, stopping it
//! with signals, and the stop-then-resume comparison against an uninterrupted run.

use super::{ok, Cmd};
use clr::records::{read_rows, EpochRow, StepRow};
use std::io::BufRead;
use std::path::Path;
use std::process::Child;
use std::sync::mpsc::Receiver;
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

/// The lines `child` writes on its (piped) stderr, as they come, read on a thread (which also
/// keeps the pipe from filling up).
pub fn stderr_lines(child: &mut Child) -> Receiver<String> {
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait until a line of `lines` contains `text` (within two minutes: a loaded machine is slow).
pub fn wait_for_line(lines: &Receiver<String>, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(text) => return,
            Ok(_) => {}
            Err(e) => panic!("no line with {text:?} on stderr: {e}"),
        }
    }
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
/// signals `sigs` (each after the run has taken the one before: two pending signals of one kind
/// are one) once its steps.csv has `rows` rows (and `delay` more); `check` looks at the stopped
/// run and its exit code; then resume it and require the same run as the uninterrupted one.
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
    let lines = stderr_lines(&mut child);
    wait_for_rows(&mut child, &parts, rows);
    std::thread::sleep(delay);
    for (i, sig) in sigs.iter().enumerate() {
        signal(&child, sig);
        if i + 1 < sigs.len() {
            // A first stop signal prints its notice once it is taken.
            wait_for_line(&lines, "again to quit");
        }
    }
    let code = child.wait().unwrap().code();
    check(&parts, code);
    ok(&["train", "--resume", &parts.display().to_string(), "--no-progress"]);
    assert_same_run(&whole, &parts);
}
