//! Faults and bad input, as a hostile user tries them: non-finite numbers, signals, a full disk,
//! two runs in one folder, folders that hold something else, damaged or edited run files, absurd
//! sizes, unreadable data. Each test here failed before its fix.

mod common;

use common::runs::{assert_interrupted, assert_same_run, signal, stop_resume_compare, wait_for_rows};
use common::{cifar, ok, one_line_error, read_json, run, stderr, Cmd, ONE_FIXED_EPOCH};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// 64 training images in one file, 32 test images: 2 steps per epoch at batch 32.
fn data(dir: &Path) -> PathBuf {
    cifar::write_learnable(dir, 1, 64, 32, 7);
    dir.to_path_buf()
}

/// A fixed-LR run of `epochs` epochs (a constant LR: a run extended later equals a longer one).
fn fixed(data: &Path, out: &Path, epochs: &str) -> Cmd {
    Cmd::tiny("train").data(data).out(out).args(["--policy", "fixed", "--base-lr", "0.05", "--epochs", epochs])
}

/// Set `epochs` in a run's config.json, to extend a finished run by `--resume`.
fn extend(out: &Path, epochs: f64) {
    let mut config = read_json(&out.join("config.json"));
    config["epochs"] = serde_json::json!(epochs);
    std::fs::write(out.join("config.json"), serde_json::to_string(&config).unwrap()).unwrap();
}

fn resume(out: &Path) -> std::process::Output {
    run(&["train", "--resume", &out.display().to_string(), "--no-progress"])
}

#[test]
fn non_finite_numbers_are_usage_errors_naming_the_flag() {
    let flags = [
        "--base-lr",
        "--max-lr",
        "--final-lr",
        "--momentum",
        "--weight-decay",
        "--gamma",
        "--epochs",
        "--step-size",
        "--start-lr",
        "--end-lr",
        "--smooth",
        "--diverge",
    ];
    // Each flag with one of the three non-finite spellings (every process start loads libtorch).
    for (flag, value) in flags.iter().zip(["nan", "inf", "-inf"].iter().cycle()) {
        let line = one_line_error(&run(&["schedule", &format!("{flag}={value}")]), 2);
        assert!(line.contains(flag), "{flag}={value}: {line}");
    }
    for (flag, value) in [("--phases", "nan,1,0"), ("--milestones", "1,inf"), ("--cycle-momentum", "NaN,0.8")] {
        let line = one_line_error(&run(&["schedule", &format!("{flag}={value}")]), 2);
        assert!(line.contains(flag) && line.contains("finite"), "{flag}={value}: {line}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("huge.json");
    std::fs::write(&file, r#"{"base_lr": 1e999}"#).unwrap();
    let line = one_line_error(&run(&["schedule", "--config", file.to_str().unwrap()]), 2);
    assert!(line.contains("huge.json"), "{line}");
}

/// A fixed-LR run of 40 epochs of 2 steps, stopped by `sigs` after 9 steps, then resumed: it must
/// equal the same run uninterrupted.
fn stop_fixed_run_then_resume(sigs: &[&str], check: impl FnOnce(&Path, Option<i32>)) {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    stop_resume_compare(tmp.path(), |o| fixed(&d, o, "40"), 9, Duration::ZERO, sigs, check);
}

#[test]
fn a_second_ctrl_c_quits_at_once_cleanly_and_the_run_resumes() {
    stop_fixed_run_then_resume(&["-INT", "-INT"], |_, code| {
        assert_eq!(code, Some(130), "a second Ctrl-C exits 130 (not a crash)");
    });
}

#[test]
fn sigterm_saves_like_ctrl_c_and_exits_143() {
    stop_fixed_run_then_resume(&["-TERM"], |parts, code| assert_interrupted(parts, code, 143, 80));
}

/// Alone, a second signal quits at once whoever sent each: here `/bin/kill` and then the shell
/// that started clr (its parent, which forwards nothing). Steps are slow (ResNet-20, batch 256),
/// so that a run that took the second signal for a repeat would still be saving when it came.
#[test]
fn alone_a_second_signal_from_another_sender_still_quits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let args = Cmd::new("train")
        .data(&d)
        .out(&out)
        .args(["--depth", "20", "--batch-size", "256", "--device", "cpu", "--threads", "1", "--no-progress"])
        .args(["--policy", "fixed", "--base-lr", "0.05", "--epochs", "50"]);
    let quoted = args.strs().iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ");
    let script = format!(
        "{clr} {quoted} 2> {err} & pid=$!; \
         until [ \"$(wc -l < {csv} 2> /dev/null || echo 0)\" -ge 2 ]; do sleep 0.05; done; \
         /bin/kill -INT $pid; until grep -q 'again to quit' {err}; do sleep 0.05; done; \
         kill -INT $pid; wait $pid; echo $?",
        clr = env!("CARGO_BIN_EXE_clr"),
        csv = out.join("steps.csv").display(),
        err = tmp.path().join("err").display()
    );
    let run = Command::new("timeout").args(["120", "bash", "-c", &script]).output().unwrap();
    let err = std::fs::read_to_string(tmp.path().join("err")).unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "130", "{err}");
    assert!(!out.join("summary.json").exists(), "it quit at once, without finishing the step and saving:\n{err}");
    clr::train::checkpoint::load(&out.join("checkpoint.pt")).expect("the last checkpoint stays resumable");
}

#[test]
fn a_second_ctrl_c_in_a_range_test_quits_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("rt");
    let cmd = Cmd::tiny("range-test").data(&d).out(&out).args([
        "--start-lr",
        "1e-6",
        "--end-lr",
        "1e-5",
        "--iters",
        "100000",
    ]);
    let mut child = cmd.spawn();
    let csv = out.join("lr_find.csv");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&csv).map(|s| s.lines().count()).unwrap_or(0) < 5 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, "-INT");
    signal(&child, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

#[test]
fn a_full_disk_while_checkpointing_is_one_line_and_keeps_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let (mnt, report) = (tmp.path().join("disk"), tmp.path().join("report"));
    std::fs::create_dir_all(&report).unwrap();
    let run = mnt.join("run");
    let train = fixed(&d, &run, "3").strs().iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ");
    let clr = env!("CARGO_BIN_EXE_clr");
    let (r, m) = (report.display(), run.display());
    // A 613 kB checkpoint, the previous one kept beside it: the third does not fit in 1.6 MB.
    let script = format!(
        "{clr} {train} 2> {r}/err; echo $? > {r}/code; ls -a {m} > {r}/files; \
         {clr} eval --checkpoint {m}/checkpoint.pt --data-dir {d} --device cpu > {r}/eval 2>&1; \
         mount -o remount,size=20m {mnt}; {clr} train --resume {m} --no-progress > {r}/resume 2>&1; echo $? >> {r}/code; \
         cp {m}/epochs.csv {r}/",
        d = d.display(),
        mnt = mnt.display()
    );
    common::with_small_disk(&mnt, "1600k", &script);
    let read = |f: &str| std::fs::read_to_string(report.join(f)).unwrap();
    let err = read("err");
    let lines: Vec<&str> = err.trim().lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("checkpoint.pt") && lines[0].contains("No space left"), "{err}");
    assert!(!err.contains("terminate called") && !err.contains("frame #"), "{err}");
    assert_eq!(read("code").lines().collect::<Vec<_>>(), ["1", "0"], "the run fails with 1, its resume succeeds");
    assert!(!read("files").contains(".tmp"), "a temporary file is left:\n{}", read("files"));
    assert!(read("eval").contains("test_acc"), "the last checkpoint is intact: {}", read("eval"));
    assert_eq!(read("epochs.csv").lines().count(), 4, "three epochs after the resume");
}

#[test]
fn two_runs_into_one_folder_the_second_is_refused_naming_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let mut first = fixed(&d, &out, "30").spawn();
    wait_for_rows(&mut first, &out, 2);
    for second in [fixed(&d, &out, "30").run(), resume(&out)] {
        let line = one_line_error(&second, 2);
        assert!(line.contains("in use by another clr") && line.contains(&format!("pid {}", first.id())), "{line}");
    }
    signal(&first, "-INT");
    assert_eq!(first.wait().unwrap().code(), Some(130));
    let rows = common::runs::steps(&out);
    assert!(rows.iter().enumerate().all(|(i, r)| r.step == i as u64), "one writer: steps 0, 1, 2, …");
}

/// The reverse: a range test's folder is not a training run, neither to resume nor to train into.
#[test]
fn a_range_test_folder_is_never_trained_into() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("rt");
    Cmd::tiny("range-test").data(&d).out(&out).args(["--iters", "10"]).ok();
    let line = one_line_error(&run(&["train", "--resume", &out.display().to_string(), "--no-progress"]), 2);
    assert!(line.contains("holds a range test") && line.contains("lr_find.csv"), "{line}");
    let line = one_line_error(&fixed(&d, &out, "1").run(), 2);
    assert!(line.contains("already holds a run") && !line.contains("--resume"), "no hint to resume it: {line}");
    assert!(!out.join("steps.csv").exists() && !out.join("checkpoint.pt").exists());
}

#[test]
fn a_range_test_refuses_a_folder_that_holds_a_training_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    fixed(&d, &out, "1").ok();
    let config = std::fs::read(out.join("config.json")).unwrap();
    let line = one_line_error(&Cmd::tiny("range-test").data(&d).out(&out).args(["--iters", "10"]).run(), 2);
    assert!(line.contains("already holds a run"), "{line}");
    assert_eq!(std::fs::read(out.join("config.json")).unwrap(), config, "config.json untouched");
    assert!(!out.join("lr_find.csv").exists());
    ok(&["train", "--resume", &out.display().to_string(), "--no-progress"]);
}

#[test]
fn a_run_stopped_before_its_first_checkpoint_is_resumed_or_restarted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let whole = tmp.path().join("whole");
    fixed(&d, &whole, "2").ok();
    // What a kill during the step-0 checkpoint (or a disk full before it) leaves: config.json and
    // the checkpoint's temporary file.
    let parts = tmp.path().join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    std::fs::copy(whole.join("config.json"), parts.join("config.json")).unwrap();
    std::fs::write(parts.join(".checkpoint.pt.99999.tmp"), b"half a checkpoint").unwrap();
    let out = resume(&parts);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no checkpoint yet"), "{}", stderr(&out));
    assert_same_run(&whole, &parts);
    assert!(!parts.join(".checkpoint.pt.99999.tmp").exists(), "the stale temporary file is cleaned");
    // A new run may also take such a folder.
    let again = tmp.path().join("again");
    std::fs::create_dir_all(&again).unwrap();
    std::fs::copy(whole.join("config.json"), again.join("config.json")).unwrap();
    fixed(&d, &again, "2").ok();
    assert_same_run(&whole, &again);
}

#[test]
fn a_damaged_checkpoint_is_one_line_and_the_one_before_it_resumes_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let whole = tmp.path().join("whole");
    fixed(&d, &whole, "3").ok();
    let parts = tmp.path().join("parts");
    fixed(&d, &parts, "2").ok();
    let ck = parts.join("checkpoint.pt");
    let bytes = std::fs::read(&ck).unwrap();
    std::fs::write(&ck, &bytes[..bytes.len() / 2]).unwrap();
    let eval =
        run(&["eval", "--checkpoint", ck.to_str().unwrap(), "--data-dir", d.to_str().unwrap(), "--device", "cpu"]);
    let line = one_line_error(&eval, 1);
    assert!(line.contains("checkpoint.pt") && line.contains("not a readable clr checkpoint"), "{line}");
    assert!(line.ends_with("failed finding central directory"), "one sentence, no miniz paragraph: {line}");
    extend(&parts, 3.0);
    let out = resume(&parts);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming from the checkpoint before it"), "{}", stderr(&out));
    assert_same_run(&whole, &parts);
}

#[test]
fn a_resume_refuses_run_files_that_lost_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    fixed(&d, &out, "2").ok();
    extend(&out, 3.0);
    let epochs = std::fs::read(out.join("epochs.csv")).unwrap();
    std::fs::remove_file(out.join("epochs.csv")).unwrap();
    let line = one_line_error(&resume(&out), 1);
    assert!(line.contains("epochs.csv") && line.contains("cannot resume"), "{line}");
    std::fs::write(out.join("epochs.csv"), epochs).unwrap();
    let steps = std::fs::read_to_string(out.join("steps.csv")).unwrap();
    let mut lines: Vec<&str> = steps.lines().collect();
    lines.remove(2);
    std::fs::write(out.join("steps.csv"), lines.join("\n") + "\n").unwrap();
    let line = one_line_error(&resume(&out), 1);
    assert!(line.contains("steps.csv") && line.contains("changed"), "{line}");
    assert_eq!(read_json(&out.join("summary.json"))["epochs"], 2, "nothing was rewritten");
}

#[test]
fn absurd_sizes_are_refused_or_streamed_never_allocated() {
    // A billion-step schedule streams its rows under a 4 GB address-space limit (it tried to
    // allocate 32 GB), and stops quietly when its reader has what it wanted.
    let script = format!(
        "ulimit -v 4000000; {} schedule --epochs 1e9 --steps-per-epoch 1 | head -n 3; exit ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_clr")
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3, "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("step,epoch,lr,momentum\n0,0,"), "{text}");
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    // A synthetic set larger than the memory: refused before allocating, nothing left behind.
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("run");
    let cmd = Cmd::tiny("train").args(["--dataset", "synthetic", "--synthetic-train", "2000000000"]).out(&o);
    let line = one_line_error(&cmd.run(), 2);
    assert!(line.contains("--synthetic-train 2000000000") && line.contains("GB"), "{line}");
    assert!(!o.exists(), "a refused run leaves no folder");
}

#[test]
fn an_unreadable_data_folder_says_why_and_downloads_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let o = tmp.path().join("run");
    let mut perms = std::fs::metadata(&d).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o000);
    std::fs::set_permissions(&d, perms).unwrap();
    // Root reads anything: drop the capability that lets it, as an ordinary user would be.
    let args = Cmd::tiny("train").args(["--data-dir", d.to_str().unwrap(), "--url", "http://127.0.0.1:9/x.tar.gz"]);
    let args = args.args(ONE_FIXED_EPOCH).out(&o);
    let line = format!("{} {}", env!("CARGO_BIN_EXE_clr"), args.strs().join(" "));
    let out = Command::new("capsh")
        .args(["--drop=cap_dac_override,cap_dac_read_search", "--", "-c", &line])
        .output()
        .unwrap();
    let mut perms = std::fs::metadata(&d).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&d, perms).unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Permission denied") && err.contains("cannot read"), "{err}");
    assert!(!err.contains("downloading"), "{err}");
}

#[test]
fn small_things_a_hostile_user_tries() {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    // A range test stopped after a few steps proposes nothing.
    let rt = tmp.path().join("rt");
    Cmd::tiny("range-test").data(&d).out(&rt).args(["--iters", "12"]).ok();
    let mut report = read_json(&rt.join("range_test.json"));
    report["stop_reason"] = serde_json::json!("interrupted");
    let file = tmp.path().join("interrupted.json");
    std::fs::write(&file, report.to_string()).unwrap();
    let line = one_line_error(&run(&["schedule", "--max-lr", file.to_str().unwrap()]), 2);
    assert!(line.contains("interrupted") && line.contains("interrupted.json"), "{line}");
    // --max-lr naming a folder is a usage error.
    let line = one_line_error(&run(&["schedule", "--max-lr", rt.to_str().unwrap()]), 2);
    assert!(line.contains("--max-lr"), "{line}");
    // eval --batch-size 0.
    let line = one_line_error(&run(&["eval", "--checkpoint", "x.pt", "--batch-size", "0"]), 2);
    assert!(line.contains("--batch-size"), "{line}");
    // Files into folders that do not exist: said at once, before any work.
    let missing = tmp.path().join("nowhere");
    let png = missing.join("s.png");
    let line = one_line_error(
        &run(&[
            "schedule",
            "--policy",
            "fixed",
            "--epochs",
            "1",
            "--steps-per-epoch",
            "2",
            "--plot",
            png.to_str().unwrap(),
        ]),
        2,
    );
    assert!(line.contains("--plot") && line.contains("does not exist"), "{line}");
    let bench =
        Cmd::new("bench").args(["--depth", "8", "--device", "cpu", "--out", missing.join("b.json").to_str().unwrap()]);
    let line = one_line_error(&bench.run(), 2);
    assert!(line.contains("--out") && line.contains("does not exist"), "{line}");
    // More threads than CPUs: allowed, with a warning.
    let cpus = std::thread::available_parallelism().unwrap().get() + 1;
    let bench = Cmd::new("bench").args(["--depth", "8", "--batch-size", "32", "--device", "cpu"]);
    let bench = bench.args(["--threads", &cpus.to_string(), "--steps", "1", "--warmup", "0"]);
    let bench = bench.args([
        "--synthetic-train",
        "32",
        "--synthetic-test",
        "8",
        "--out",
        tmp.path().join("b.json").to_str().unwrap(),
    ]);
    let out = bench.run();
    assert!(out.status.success() && stderr(&out).contains("more than the"), "{}", stderr(&out));
}

#[test]
fn the_binary_finds_libtorch_without_the_clone() {
    // RUNPATH names libtorch's real folder, not the clone's .libtorch link.
    let out = Command::new("readelf").args(["-d", env!("CARGO_BIN_EXE_clr")]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let runpath = text.lines().find(|l| l.contains("RUNPATH")).unwrap_or_else(|| panic!("no RUNPATH:\n{text}"));
    assert!(runpath.contains("torch/lib") && !runpath.contains(".libtorch"), "{runpath}");
}

/// `clr ARGS` with at most 10 MB of file and 120 s (the bugs below wrote and ran without end).
fn bounded(args: &[&str]) -> std::process::Output {
    let script = "ulimit -f 10000; exec timeout 120 \"$0\" \"$@\"";
    Command::new("bash").args(["-c", script, env!("CARGO_BIN_EXE_clr")]).args(args).output().unwrap()
}

#[test]
fn absurd_lengths_are_refused_naming_the_flag_and_the_limit() {
    // `clr schedule --phases 1e300,1,0` wrote 8.5 GB a minute; `train` ran "18446744073709551615
    // steps" (a saturated u64) at base_lr for ever. Each length is refused before any work.
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("s.csv");
    let cases: [(&[&str], &str); 5] = [
        (&["--phases", "1e300,1,0", "--steps-per-epoch", "8"], "--phases (phases) 1e300,1,0"),
        (&["--policy", "fixed", "--epochs", "1e300"], "--epochs (epochs) 1e300"),
        (&["--policy", "fixed", "--epochs", "1e9", "--steps-per-epoch", "100000"], "--epochs (epochs) 1e9"),
        (&["--policy", "triangular", "--step-size", "1e300", "--epochs", "1"], "--step-size (step_size) 1e300"),
        (&["--policy", "fixed", "--epochs", "1", "--steps-per-epoch", "18446744073709551615"], "--steps-per-epoch"),
    ];
    for (args, flag) in cases {
        let out = bounded(&[&["schedule", "--out", csv.to_str().unwrap()], args].concat());
        let line = one_line_error(&out, 2);
        assert!(line.contains(flag) && line.contains("limit of 1e12"), "{args:?}: {line}");
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "nothing written");
    let o = tmp.path().join("run");
    let synthetic = ["--dataset", "synthetic", "--synthetic-train", "64", "--synthetic-test", "16"];
    let train = Cmd::tiny("train").args(synthetic).args(["--phases", "1e300,1,0"]).out(&o);
    let line = one_line_error(&bounded(&train.strs()), 2);
    assert!(line.contains("--phases (phases) 1e300,1,0") && line.contains("1e12"), "{line}");
    let range_test = Cmd::tiny("range-test").args(synthetic).args(["--iters", "2000000000000"]).out(&o);
    let line = one_line_error(&bounded(&range_test.strs()), 2);
    assert!(line.contains("--iters (iters) 2000000000000") && line.contains("1e12"), "{line}");
    // A depth of billions built its blocks for ever; bench's steps ran for ever.
    let deep = Cmd::tiny("train").args(synthetic).args(["--depth", "6000000002"]).out(&o);
    let line = one_line_error(&bounded(&deep.strs()), 2);
    assert!(line.contains("--depth (depth) must be at most 6002"), "{line}");
    let bench = ["bench", "--depth", "8", "--device", "cpu", "--steps", "18446744073709551615"];
    let line = one_line_error(&bounded(&bench), 2);
    assert!(line.contains("--steps 18446744073709551615") && line.contains("1e12"), "{line}");
    // Sizes whose sum overflows: the memory check, not a crash ("capacity overflow").
    let huge = ["--dataset", "synthetic", "--synthetic-train", "18446744073709551615", "--synthetic-test", "1"];
    let line = one_line_error(&Cmd::tiny("train").args(huge).out(&o).run(), 2);
    assert!(line.contains("--synthetic-train 18446744073709551615") && line.contains("GB"), "{line}");
    assert!(!o.exists(), "a refused run leaves no folder");
}

#[test]
fn a_stopped_schedule_removes_its_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("s.csv");
    let args = ["schedule", "--epochs", "1e9", "--steps-per-epoch", "1", "--out", csv.to_str().unwrap()];
    // At most 100 MB written (exec: the pid is clr's).
    let script = "ulimit -f 100000; exec \"$0\" \"$@\"";
    let mut cmd = Command::new("bash");
    cmd.args(["-c", script, env!("CARGO_BIN_EXE_clr")]).args(args).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let written = || std::fs::read_dir(tmp.path()).unwrap().flatten().any(|e| e.metadata().unwrap().len() > 0);
    while !written() {
        assert!(std::time::Instant::now() < deadline, "no temporary file with rows");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(stderr(&out).contains("s.csv not written"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the temporary file is removed");
}

#[test]
fn held_out_batches_past_the_test_set_use_all_of_it() {
    // 2^55 batches of 512 images is 2^64: it wrapped to 0 images and a loss of 0 at every step.
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let rt = tmp.path().join("rt");
    let cmd = Cmd::tiny("range-test").data(&d).out(&rt).args(["--iters", "6", "--batch-size", "512"]);
    cmd.args(["--val-batches", "36028797018963968"]).ok();
    let rows: Vec<clr::records::LrFindRow> = clr::records::read_rows(&rt.join("lr_find.csv")).unwrap();
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.loss > 0.1), "{rows:?}");
}

#[test]
fn eval_of_a_synthetic_run_rebuilds_the_test_set_it_was_trained_with() {
    // Trained with --seed 7, evaluated with eval's own seed and sizes: 0.0156 instead of 1.0.
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("run");
    let synthetic = ["--dataset", "synthetic", "--synthetic-train", "512", "--synthetic-test", "64", "--seed", "7"];
    Cmd::tiny("train").args(synthetic).one_cycle("2,2,1").out(&o).ok();
    let trained = read_json(&o.join("summary.json"))["final_test_acc"].as_f64().unwrap();
    assert!(trained > 0.5, "the run learned its data: {trained}");
    let ck = o.join("checkpoint.pt");
    let ck = ck.to_str().unwrap();
    let out = ok(&["eval", "--checkpoint", ck, "--dataset", "synthetic", "--device", "cpu"]);
    let text = common::stdout(&out);
    assert!(text.starts_with(&format!("test_acc {trained:.4} ")) && text.contains("(64 test images"), "{text}");
    let other = run(&["eval", "--checkpoint", ck, "--dataset", "synthetic", "--synthetic-train", "100"]);
    let line = one_line_error(&other, 2);
    assert!(line.contains("--synthetic-train 100") && line.contains("--seed 7"), "{line}");
}

/// Edit one field of a run's config.json.
fn edit(out: &Path, field: &str, value: serde_json::Value) {
    let mut config = read_json(&out.join("config.json"));
    config[field] = value;
    std::fs::write(out.join("config.json"), serde_json::to_string(&config).unwrap()).unwrap();
}

#[test]
fn resume_says_what_config_json_changed_and_refuses_what_the_checkpoint_cannot_follow() {
    // A changed momentum was used silently; a changed depth was "saved with 2 steps per epoch at
    // depth 8 …: resume with the same data and batch size".
    let tmp = tempfile::tempdir().unwrap();
    let d = data(&tmp.path().join("data"));
    let o = tmp.path().join("run");
    fixed(&d, &o, "2").ok();
    let steps = std::fs::read(o.join("steps.csv")).unwrap();
    edit(&o, "depth", serde_json::json!(14));
    let line = one_line_error(&resume(&o), 2);
    assert!(line.contains("config.json") && line.contains("depth 8 → 14 cannot change on --resume"), "{line}");
    edit(&o, "depth", serde_json::json!(8));
    edit(&o, "momentum", serde_json::json!(0.8));
    extend(&o, 3.0);
    let out = resume(&o);
    assert!(out.status.success(), "{}", stderr(&out));
    let note = stderr(&out).lines().find(|l| l.starts_with("note:")).map(str::to_string).unwrap_or_default();
    assert!(note.contains("epochs 2.0 → 3.0, momentum 0.9 → 0.8") && note.contains("step 4"), "{}", stderr(&out));
    let rows = common::runs::steps(&o);
    assert_eq!(rows.iter().map(|r| r.momentum).collect::<Vec<_>>(), [0.9, 0.9, 0.9, 0.9, 0.8, 0.8]);
    // The checkpoint now records the new config: nothing more to say.
    extend(&o, 4.0);
    let out = resume(&o);
    assert!(stderr(&out).contains("note: ") && !stderr(&out).contains("momentum"), "{}", stderr(&out));
    // Both checkpoints deleted: not "stopped during its set-up" and rows written over.
    let steps_before = std::fs::read(o.join("steps.csv")).unwrap();
    assert!(steps_before.len() > steps.len());
    for ck in ["checkpoint.pt", "checkpoint.prev.pt"] {
        std::fs::remove_file(o.join(ck)).unwrap();
    }
    let line = one_line_error(&resume(&o), 1);
    assert!(line.contains("both missing") && line.contains("steps.csv holds 8 steps"), "{line}");
    assert_eq!(std::fs::read(o.join("steps.csv")).unwrap(), steps_before, "nothing rewritten");
}

#[test]
fn eval_says_what_its_checkpoint_is_and_takes_threads() {
    // A folder and /dev/null were "not found"; --threads, a shared flag, was refused.
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("run");
    let synthetic = ["--dataset", "synthetic", "--synthetic-train", "64", "--synthetic-test", "16"];
    Cmd::tiny("train").args(synthetic).args(ONE_FIXED_EPOCH).out(&o).ok();
    let folder = o.to_str().unwrap();
    let line = one_line_error(&run(&["eval", "--checkpoint", folder, "--dataset", "synthetic"]), 2);
    assert!(line.contains("a folder") && line.contains(&format!("{folder}/checkpoint.pt")), "{line}");
    let line = one_line_error(&run(&["eval", "--checkpoint", "/dev/null"]), 2);
    assert!(line.contains("/dev/null: not a regular file"), "{line}");
    let ck = o.join("checkpoint.pt");
    ok(&["eval", "--checkpoint", ck.to_str().unwrap(), "--dataset", "synthetic", "--device", "cpu", "--threads", "1"]);
}

#[test]
fn a_range_test_too_short_to_suggest_is_refused_before_it_starts() {
    // `--iters 3` ran, then failed with exit 1 ("needs 5 points").
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("rt");
    let tiny = ["--dataset", "synthetic", "--synthetic-train", "32", "--synthetic-test", "8"];
    let line = one_line_error(&Cmd::tiny("range-test").args(tiny).args(["--iters", "3"]).out(&o).run(), 2);
    assert!(line.contains("--iters (iters) must be at least 5") && line.contains("got 3"), "{line}");
    // A linear test's default, 3 epochs of one step each, is as short: said before any step. (An
    // exponential test's default is at least 30 steps per decade of LR.)
    let out = Cmd::tiny("range-test").args(tiny).args(["--batch-size", "64", "--mode", "linear"]).out(&o).run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("note: --batch-size 64 is more than the 32 training images: one step per epoch"), "{err}");
    assert!(err.contains("would run 3 steps") && err.contains("give --iters 5 or more"), "{err}");
    assert!(!o.exists(), "nothing started");
    // Training says it too, and runs.
    let t = tmp.path().join("train");
    let out = Cmd::tiny("train").args(tiny).args(ONE_FIXED_EPOCH).args(["--batch-size", "64"]).out(&t).ok();
    assert!(stderr(&out).contains("more than the 32 training images: one step per epoch, of all 32"));
    assert_eq!(common::runs::steps(&t).len(), 1);
}
