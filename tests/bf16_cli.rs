//! `--precision bf16` on the CPU, end to end through the binary with tiny networks: it learns,
//! its checkpoint stays fp32, a stopped and resumed run equals an uninterrupted one bit for bit,
//! and range-test, bench and eval run in bf16 too.

mod common;

use common::runs::{assert_interrupted, stop_resume_compare, weights};
use common::{cifar, ok, read_json, stderr, stdout, Cmd};
use std::path::Path;
use std::time::Duration;

/// A bf16 one-cycle run of ResNet-8, batch 32: 16 steps per epoch, 5 epochs.
fn bf16_run(data: &Path, out: &Path) -> Cmd {
    Cmd::tiny("train").data(data).out(out).one_cycle("2,2,1").args(["--precision", "bf16", "--seed", "5"])
}

/// The warning about emulated bf16 appears exactly once on a CPU without bf16 instructions,
/// and never on one with them.
fn check_emulation_warning(err: &str) {
    let warnings = err.matches("without bf16 instructions").count();
    match clr::runtime::cpu_bf16::this_cpu_has_bf16() {
        Some(false) => assert_eq!(warnings, 1, "one warning on this CPU:\n{err}"),
        Some(true) => assert_eq!(warnings, 0, "this CPU has bf16 instructions:\n{err}"),
        None => eprintln!("note: cannot tell whether this CPU has bf16 instructions: the warning is not counted"),
    }
}

fn accuracy(eval_stdout: &str) -> f64 {
    eval_stdout.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_bf16_cpu_run_learns_and_keeps_an_fp32_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let output = bf16_run(&d, &out).ok();
    check_emulation_warning(&stderr(&output));

    let summary = read_json(&out.join("summary.json"));
    let acc = summary["final_test_acc"].as_f64().unwrap();
    assert!(acc > 0.6, "bf16 test accuracy {acc}: far above the 0.1 of chance expected");
    assert_eq!(read_json(&out.join("config.json"))["precision"], "bf16");

    // The checkpoint holds fp32 tensors only: weights, batch-norm statistics, momentum.
    let tensors = weights(&out);
    assert!(
        tensors.iter().any(|(n, _)| n.ends_with("running_mean")) && tensors.iter().any(|(n, _)| n.starts_with("m."))
    );
    for (name, t) in &tensors {
        assert_eq!(t.kind(), tch::Kind::Float, "{name} is saved as {:?}", t.kind());
    }

    // eval in bf16 repeats the run's own last evaluation (same kernels, same batches); in fp32
    // it differs by bf16 rounding only.
    let ck = out.join("checkpoint.pt").display().to_string();
    let eval = |precision: &str| {
        let e =
            Cmd::new("eval").args(["--checkpoint", &ck]).data(&d).args(["--device", "cpu", "--precision", precision]);
        accuracy(&stdout(&e.ok()))
    };
    let (bf16, fp32) = (eval("bf16"), eval("fp32"));
    assert!((bf16 - acc).abs() < 1e-4, "eval --precision bf16 says {bf16}, the run said {acc}");
    assert!((fp32 - acc).abs() <= 0.03, "eval in fp32 says {fp32}, the bf16 run said {acc}");
}

#[test]
fn a_bf16_run_interrupted_then_resumed_equals_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    stop_resume_compare(
        tmp.path(),
        |o| bf16_run(&d, o),
        21,
        Duration::ZERO,
        &["-INT"],
        |parts, code| assert_interrupted(parts, code, 130, 80),
    );
}

#[test]
fn range_test_and_bench_run_in_bf16() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let rt = tmp.path().join("rt");
    let output = Cmd::tiny("range-test").data(&d).out(&rt).args(["--iters", "24", "--precision", "bf16"]).ok();
    check_emulation_warning(&stderr(&output));
    let report = read_json(&rt.join("range_test.json"));
    assert!(report["steps"].as_u64().unwrap() > 5, "{report}");
    assert!(report["min_loss"].as_f64().unwrap().is_finite());

    let bench = tmp.path().join("bench.json");
    #[rustfmt::skip]
    ok(&[
        "bench", "--dataset", "synthetic", "--synthetic-train", "64", "--synthetic-test", "32", "--depth", "8",
        "--batch-size", "16", "--steps", "2", "--warmup", "1", "--device", "cpu", "--precision", "bf16",
        "--threads", "1", "--out", &bench.display().to_string(),
    ]);
    let report = read_json(&bench);
    assert_eq!(report["precision"], "bf16");
    assert!(report["train_images_per_sec"].as_f64().unwrap() > 0.0);
}
