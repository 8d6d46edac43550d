//! `clr train` end to end on generated data in the CIFAR-10 layout, with tiny networks.

mod common;

use common::runs::{assert_interrupted, epochs, steps, stop_resume_compare};
use common::{cifar, read_json, run, stderr, Cmd, ONE_FIXED_EPOCH};
use std::path::Path;
use std::time::Duration;

/// A one-cycle run of 5 epochs (2 up, 2 down, 1 tail) of 16 steps on `data`, into `out`.
fn one_cycle(data: &Path, out: &Path) -> Cmd {
    Cmd::tiny("train").data(data).out(out).one_cycle("2,2,1").args(["--seed", "5"])
}

#[test]
fn learns_writes_every_file_and_evaluates() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let output = one_cycle(&d, &out).ok();
    assert!(common::stdout(&output).contains("Completed"));

    for f in ["config.json", "steps.csv", "epochs.csv", "summary.json", "curves.png", "checkpoint.pt"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let rows = steps(&out);
    assert_eq!(rows.len(), 80);
    assert_eq!(rows.iter().map(|r| r.step).collect::<Vec<_>>(), (0..80).collect::<Vec<_>>());
    // The LR logged is the schedule's: base at step 0, max at the end of UP (step 32).
    assert!((rows[0].lr - 0.04).abs() < 1e-12 && (rows[32].lr - 0.4).abs() < 1e-12);
    let ep = epochs(&out);
    assert_eq!(ep.len(), 5);
    let summary = read_json(&out.join("summary.json"));
    let acc = summary["final_test_acc"].as_f64().unwrap();
    assert!(acc > 0.6, "test accuracy {acc}: far above the 0.1 of chance expected");
    assert!(summary["best_test_acc"].as_f64().unwrap() >= acc);
    assert_eq!(summary["epochs"], 5);
    assert!(summary["seconds"].as_f64().unwrap() > 0.0);
    let config = read_json(&out.join("config.json"));
    assert_eq!(config["depth"], 8);
    assert_eq!(config["phases"], serde_json::json!([2.0, 2.0, 1.0]));

    let eval = Cmd::new("eval").args(["--checkpoint", &out.join("checkpoint.pt").display().to_string()]);
    let text = common::stdout(&eval.data(&d).args(["--device", "cpu"]).ok());
    let printed: f64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((printed - acc).abs() < 1e-4, "eval says {text}, the run said {acc}");
}

#[test]
fn shuffled_labels_stay_at_chance() {
    // The same images with labels permuted across the set: nothing to learn, so the accuracy of
    // the test above comes from the labels travelling with their images.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    cifar::usual(&dir);
    for f in ["data_batch_1.bin", "data_batch_2.bin"] {
        let p = dir.join(f);
        let mut bytes = std::fs::read(&p).unwrap();
        let n = bytes.len() / 3073;
        for i in 0..n {
            bytes[i * 3073] = ((i * 7 + i / 3) % 10) as u8;
        }
        std::fs::write(&p, bytes).unwrap();
    }
    let out = tmp.path().join("run");
    one_cycle(&dir, &out).ok();
    let acc = read_json(&out.join("summary.json"))["final_test_acc"].as_f64().unwrap();
    assert!(acc < 0.3, "test accuracy {acc} with shuffled labels");
}

#[test]
fn interrupted_then_resumed_equals_uninterrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    stop_resume_compare(
        tmp.path(),
        |o| one_cycle(&d, o),
        21,
        Duration::ZERO,
        &["-INT"],
        |parts, code| assert_interrupted(parts, code, 130, 80),
    );
}

#[test]
fn killed_at_a_random_moment_leaves_valid_files_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let at = 18 + (nanos % 50) as usize;
    let delay = Duration::from_millis((nanos % 200) as u64);
    stop_resume_compare(
        tmp.path(),
        |o| one_cycle(&d, o),
        at,
        delay,
        &["-KILL"],
        |killed, _| {
            // Whatever moment it died at: the CSVs parse, the checkpoint loads, no temporary is left
            // but, at most, a checkpoint's being written.
            assert!(!steps(killed).is_empty());
            let _ = epochs(killed);
            clr::train::checkpoint::load(&killed.join("checkpoint.pt")).unwrap();
            let leftovers: Vec<_> = std::fs::read_dir(killed)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect();
            assert!(leftovers.iter().all(|n| n.contains("checkpoint")), "{leftovers:?}");
        },
    );
}

#[test]
fn a_huge_lr_stops_with_the_step_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let o = out.display().to_string();
    // One sane epoch, then the LR of its config.json is raised by hand and the run resumed.
    Cmd::tiny("train").data(&d).out(&out).args(ONE_FIXED_EPOCH).ok();
    let good = std::fs::read(out.join("checkpoint.pt")).unwrap();
    let mut config = read_json(&out.join("config.json"));
    config["base_lr"] = serde_json::json!(1e12);
    config["epochs"] = serde_json::json!(3.0);
    std::fs::write(out.join("config.json"), serde_json::to_string(&config).unwrap()).unwrap();

    let output = run(&["train", "--resume", &o, "--no-progress"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("diverged") && err.contains("at step") && err.contains("lr 1.000e12"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read(out.join("checkpoint.pt")).unwrap(), good, "the last good checkpoint is kept");
    let rows = steps(&out);
    assert!(rows.len() >= 8, "the first epoch's rows are kept");
    assert!(rows.iter().all(|r| r.loss.is_finite()), "no NaN row is logged");
    assert_eq!(read_json(&out.join("summary.json"))["status"], "diverged");
}

/// One step per epoch: every step is an epoch's last, so a Ctrl-C lands on an epoch boundary.
fn one_step_epochs(data: &Path, out: &Path) -> Cmd {
    Cmd::tiny("train").data(data).out(out).args([
        "--batch-size",
        "64",
        "--policy",
        "one-cycle",
        "--base-lr",
        "0.02",
        "--max-lr",
        "0.2",
        "--phases",
        "10,10,10",
        "--seed",
        "3",
    ])
}

#[test]
fn interrupted_on_an_epoch_boundary_then_resumed_equals_uninterrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    cifar::write_learnable(&dir, 1, 64, 40, 4);
    stop_resume_compare(
        tmp.path(),
        |o| one_step_epochs(&dir, o),
        8,
        Duration::ZERO,
        &["-INT"],
        |parts, code| {
            assert_eq!(code, Some(130));
            let stopped = read_json(&parts.join("summary.json"))["epochs"].as_u64().unwrap();
            assert!(stopped < 30, "the interrupt came after the end");
            assert_eq!(epochs(parts).len() as u64, stopped, "the epoch stopped in kept its row");
        },
    );
}

#[test]
fn a_new_run_never_writes_over_an_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let run = Cmd::tiny("train").data(&d).out(&out).args(ONE_FIXED_EPOCH);
    run.ok();
    let before = std::fs::read(out.join("checkpoint.pt")).unwrap();
    let again = run.args(["--seed", "9"]).run();
    let line = common::one_line_error(&again, 2);
    assert!(line.contains("already holds a run") && line.contains("--resume"), "{line}");
    assert_eq!(std::fs::read(out.join("checkpoint.pt")).unwrap(), before);
}

#[test]
fn a_run_killed_in_its_first_epoch_resumes_from_step_0() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    stop_resume_compare(
        tmp.path(),
        |o| one_cycle(&d, o),
        3,
        Duration::ZERO,
        &["-KILL"],
        |killed, _| {
            assert!(steps(killed).len() < 16, "killed in the first epoch");
        },
    );
}

#[test]
fn weights_blown_up_by_an_epochs_last_step_are_never_checkpointed() {
    // One step per epoch at an absurd LR: the loss of the step is finite, the weights after it
    // are not, and the test loss shows it.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    cifar::write_learnable(&dir, 1, 64, 40, 4);
    let out = tmp.path().join("run");
    let output = Cmd::tiny("train")
        .data(&dir)
        .out(&out)
        .args(["--batch-size", "64", "--policy", "fixed", "--base-lr", "1e4", "--epochs", "6"])
        .run();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("diverged"), "{}", stderr(&output));
    for row in epochs(&out) {
        assert!(row.test_loss.is_finite() && row.train_loss.is_finite(), "{row:?}");
    }
    let eval = Cmd::new("eval").args(["--checkpoint", &out.join("checkpoint.pt").display().to_string()]);
    let eval = eval.data(&dir).args(["--device", "cpu"]).ok();
    let loss: f64 = common::stdout(&eval).split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(loss.is_finite(), "the checkpoint kept is a good one: {}", common::stdout(&eval));
}

#[test]
fn a_libtorch_failure_is_a_clear_error_not_a_crash() {
    // Out of memory inside a convolution: tch panics; clr reports the cause and exits 1.
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().join("run").display().to_string();
    let script = format!(
        "ulimit -v 3000000; exec {} train --dataset synthetic --synthetic-train 4096 --synthetic-test 16 --depth 8 \
         --batch-size 4096 --policy fixed --epochs 1 --device cpu --no-progress --out {o}",
        env!("CARGO_BIN_EXE_clr")
    );
    let output = std::process::Command::new("bash").args(["-c", &script]).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("error: libtorch:") && err.contains("allocate"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("frame #"), "{err}");
}
