//! Every network of `--arch` through the binary, at tiny sizes on generated data in the CIFAR-10
//! layout: bench (bf16, NCHW), range-test, grid (measured against that range test), train (fp32,
//! channels-last), eval (which rebuilds the network from the checkpoint), and both exports: the TorchScript file runs in libtorch and
//! agrees with the network rebuilt from the checkpoint; the safetensors file holds PyTorch's names
//! and the metadata. With the venv's torch and safetensors, scripts/check_export.py then loads
//! both in PyTorch and finds `clr eval`'s accuracy (skipped, saying why, without them).
//! DenseNet, whose dropout draws random numbers, stops and resumes exactly, and trains on two
//! processes with identical replicas.

mod common;
#[path = "dist/ranks.rs"]
mod ranks;

use common::runs::{assert_interrupted, stop_resume_compare};
use common::{cifar, one_line_error, read_json, run, stdout, Cmd, ONE_FIXED_EPOCH};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tch::{Device, Kind, Tensor};

/// A command for a tiny run of `arch` (its size flags in `size`) on the CPU.
fn arch_cmd(cmd: &str, arch: &str, size: &[&str]) -> Cmd {
    let cmd = Cmd::new(cmd).args(["--arch", arch, "--batch-size", "32", "--device", "cpu", "--threads", "1"]);
    cmd.args(size)
}

/// The same for the commands that draw a progress bar.
fn arch_run(cmd: &str, arch: &str, size: &[&str]) -> Cmd {
    arch_cmd(cmd, arch, size).args(["--no-progress"])
}

/// 64 training and 64 test images: 2 steps per epoch at batch 32.
fn small_data(dir: &Path) -> PathBuf {
    cifar::write_learnable(dir, 1, 64, 64, 3);
    dir.to_path_buf()
}

fn bench_and_range_test(arch: &str, size: &[&str], tmp: &Path, data: &Path) {
    let bench = tmp.join("bench.json");
    let synthetic = ["--dataset", "synthetic", "--synthetic-train", "64", "--synthetic-test", "32"];
    // bf16 autocast on NCHW tensors here; the training run below is fp32 channels-last (the CPU's
    // default): the same step either way.
    let b = arch_cmd("bench", arch, size).args(synthetic).args(["--steps", "2", "--warmup", "1"]);
    let b = b.args(["--precision", "bf16", "--channels-last", "false"]);
    let text = stdout(&b.args(["--out", &bench.display().to_string()]).ok());
    assert!(text.contains(&format!("model                    {arch} (depth")), "{text}");
    let report = read_json(&bench);
    assert_eq!((report["arch"].as_str(), report["precision"].as_str()), (Some(arch), Some("bf16")));
    assert!(report["train_images_per_sec"].as_f64().unwrap() > 0.0);

    let rt = tmp.join("range-test");
    arch_run("range-test", arch, size).data(data).out(&rt).args(["--iters", "6", "--end-lr", "0.5"]).ok();
    let json = read_json(&rt.join("range_test.json"));
    assert!(json["steps"].as_u64().unwrap() >= 5, "{json}");
    assert_eq!(read_json(&rt.join("config.json"))["arch"], arch);
}

/// A grid of two short one-cycle runs of `arch`, measured against the range test of
/// `bench_and_range_test`: every run completes and records the network.
fn grid_on_the_range_test(arch: &str, size: &[&str], tmp: &Path, data: &Path) {
    let out = tmp.join("grid");
    let rt = tmp.join("range-test").display().to_string();
    let grid = arch_run("grid", arch, size).data(data).out(&out);
    grid.args(["--phases", "1,1,0", "--max-lrs", "0.05,0.1", "--range-test", &rt]).ok();
    let report = read_json(&out.join("grid.json"));
    assert_eq!(report["complete"], true, "{report}");
    for label in ["lr=0.05", "lr=0.1"] {
        let run = out.join(label);
        assert_eq!(read_json(&run.join("config.json"))["arch"], arch, "{label}");
        assert_eq!(read_json(&run.join("summary.json"))["status"], "completed", "{label}");
    }
}

/// Train one epoch, then check what the run records and what `eval` finds; the run folder.
fn train_and_eval(arch: &str, size: &[&str], tmp: &Path, data: &Path) -> PathBuf {
    let out = tmp.join("run");
    arch_run("train", arch, size).data(data).out(&out).args(ONE_FIXED_EPOCH).ok();
    let config = read_json(&out.join("config.json"));
    assert_eq!(config["arch"], arch);
    let state = clr::train::checkpoint::load(&out.join("checkpoint.pt")).unwrap().state;
    assert_eq!(state.arch.name(), arch);
    assert_eq!(
        (Some(state.depth as u64), state.width.map(|w| w as u64)),
        (config["depth"].as_u64(), config["width"].as_u64())
    );
    let acc = read_json(&out.join("summary.json"))["final_test_acc"].as_f64().unwrap();
    // eval takes nothing but the checkpoint and the data: the network comes from the checkpoint.
    let eval = Cmd::new("eval").args(["--checkpoint", &out.join("checkpoint.pt").display().to_string()]);
    let text = stdout(&eval.data(data).args(["--device", "cpu"]).ok());
    let printed: f64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((printed - acc).abs() < 1e-4, "eval says {text}, the run said {acc}");

    out
}

/// Both exports of `run`: the TorchScript module computes, from [0, 1] pixels, what the network
/// rebuilt from the checkpoint computes from normalised ones; the safetensors file names every
/// variable and batch norm's counter, and says what the network is.
fn export_and_check(run_dir: &Path, tmp: &Path) -> (PathBuf, PathBuf) {
    let (ts, st) = (tmp.join("model.pt"), tmp.join("model.safetensors"));
    for (format, path) in [("torchscript", &ts), ("safetensors", &st)] {
        let text = stdout(&common::ok(&[
            "export",
            &run_dir.display().to_string(),
            "--format",
            format,
            "--out",
            &path.display().to_string(),
        ]));
        assert!(text.starts_with(&format!("wrote {}", path.display())), "{text}");
    }
    let ck = clr::train::checkpoint::load(&run_dir.join("checkpoint.pt")).unwrap();
    let s = &ck.state;
    let net = clr::model::arch::NetConfig { arch: s.arch, depth: s.depth, width: s.width, classes: 10, image_size: 32 };
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let model = clr::model::build(&vs.root(), &net);
    clr::model::load_variables(&vs, &ck.model).unwrap();
    tch::manual_seed(1);
    let x = Tensor::rand([3, 3, 32, 32], (Kind::Float, Device::Cpu));
    let channel = |v: [f64; 3]| Tensor::from_slice(&v).to_kind(Kind::Float).view([1, 3, 1, 1]);
    let want = tch::no_grad(|| model.forward_t(&((&x * 255.0 - channel(s.mean)) / channel(s.std)), false));
    let scripted = tch::CModule::load(&ts).unwrap();
    let got = tch::no_grad(|| scripted.forward_ts(&[&x]).unwrap());
    assert_eq!(got.size(), [3, 10], "the traced module takes any batch size");
    let diff = (&got - &want).abs().max().double_value(&[]);
    assert!(diff < 1e-4 * (1.0 + want.abs().max().double_value(&[])), "TorchScript differs by {diff}");

    let bytes = std::fs::read(&st).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!((meta["arch"].as_str(), meta["depth"].as_str()), (s.arch.name(), s.depth.to_string().as_str()));
    assert_eq!(meta["num_classes"], "10");
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let names: std::collections::BTreeSet<String> = file.names().into_iter().cloned().collect();
    for name in ck.model.keys() {
        assert!(names.contains(name), "{name} missing");
        if let Some(bn) = name.strip_suffix(".running_mean") {
            assert!(names.contains(&format!("{bn}.num_batches_tracked")), "{bn}'s counter missing");
        }
    }
    (ts, st)
}

/// scripts/check_export.py on `run_dir`, when the venv has torch and safetensors.
fn check_in_pytorch(run_dir: &Path, data: &Path) {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let has = py.is_file()
        && Command::new(&py).args(["-c", "import torch, safetensors"]).output().is_ok_and(|o| o.status.success());
    if !has {
        eprintln!(
            "skipped: {} lacks torch or safetensors (run scripts/setup.sh): exports not loaded in PyTorch",
            py.display()
        );
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_export.py");
    let out = Command::new(&py)
        .arg(script)
        .args(["--clr", env!("CARGO_BIN_EXE_clr"), "--data-dir", &data.display().to_string()])
        .arg(run_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "check_export.py failed:\n{text}\n{}", common::stderr(&out));
    assert!(text.contains("\"ok\": true"), "{text}");
}

fn exercise(arch: &str, size: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_data(&tmp.path().join("data"));
    bench_and_range_test(arch, size, tmp.path(), &data);
    grid_on_the_range_test(arch, size, tmp.path(), &data);
    let run_dir = train_and_eval(arch, size, tmp.path(), &data);
    export_and_check(&run_dir, tmp.path());
    check_in_pytorch(&run_dir, &data);
}

#[test]
fn resnet() {
    exercise("resnet", &["--depth", "8"]);
}

#[test]
fn preact_resnet18() {
    exercise("preact-resnet18", &[]);
}

#[test]
fn wrn() {
    exercise("wrn", &["--depth", "10", "--width", "1"]);
}

#[test]
fn densenet() {
    exercise("densenet", &["--depth", "7"]);
}

#[test]
fn lenet5() {
    exercise("lenet5", &[]);
}

#[test]
fn smith3() {
    exercise("smith3", &[]);
}

#[test]
fn smith_wide() {
    exercise("smith-wide", &["--depth", "8", "--width", "2"]);
}

#[test]
fn every_arch_is_tested_here() {
    let source = std::fs::read_to_string(file!()).unwrap();
    for arch in clr::model::arch::Arch::ALL {
        assert!(source.contains(&format!("exercise(\"{}\"", arch.name())), "{arch} has no test here");
    }
}

#[test]
fn a_densenet_run_stopped_and_resumed_equals_the_uninterrupted_one() {
    // Dropout draws at every step: the resumed run must draw what the uninterrupted one drew.
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let make = |o: &Path| {
        arch_run("train", "densenet", &["--depth", "7"]).data(&d).out(o).one_cycle("1,1,1").args(["--seed", "5"])
    };
    stop_resume_compare(tmp.path(), make, 21, Duration::ZERO, &["-INT"], |parts, code| {
        assert_interrupted(parts, code, 130, 48)
    });
}

#[test]
fn two_processes_train_a_densenet_with_identical_replicas() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let (out, dig) = (tmp.path().join("run"), tmp.path().join("digests"));
    let cmd = arch_run("train", "densenet", &["--depth", "7"]).data(&d).out(&out).args(ONE_FIXED_EPOCH);
    let mut c = common::clr();
    ranks::without_launch_env(c.args(cmd.strs()).args(["--nproc-per-node", "2"]));
    c.env("CLR_DIST_DIGEST", &dig);
    let output = c.output().unwrap();
    assert!(output.status.success(), "{}", common::stderr(&output));
    let digest = |r: usize| {
        let text = std::fs::read_to_string(dig.join(format!("train-rank-{r}.txt"))).unwrap();
        text.lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(digest(0), digest(1), "the replicas differ");
    assert_eq!(read_json(&out.join("summary.json"))["distributed"]["processes"], 2);
}

#[test]
fn model_settings_errors_are_one_line_naming_the_flag() {
    let schedule = |args: &[&str]| one_line_error(&run(&[&["schedule"], args].concat()), 2);
    let line = schedule(&["--arch", "wrn", "--depth", "20"]);
    assert!(line.contains("--depth (depth) of --arch wrn must be 6n+4") && line.contains("20"), "{line}");
    let line = schedule(&["--arch", "densenet", "--depth", "41"]);
    assert!(line.contains("3n+4"), "{line}");
    let line = schedule(&["--width", "4"]);
    assert!(line.contains("--width (width) applies to --arch wrn and smith-wide, not resnet"), "{line}");
    let line = schedule(&["--arch", "lenet5", "--depth", "7"]);
    assert!(line.contains("--arch lenet5 has depth 5 only"), "{line}");
    let line = schedule(&["--arch", "vgg16"]);
    assert!(line.contains("vgg16") && line.contains("resnet, preact-resnet18, wrn, densenet"), "{line}");
}

#[test]
fn export_errors_are_one_line_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("model.pt");
    let (run_dir, o) = (tmp.path().display().to_string(), out.display().to_string());
    let line = one_line_error(&run(&["export", &run_dir, "--format", "torchscript", "--out", &o]), 2);
    assert!(line.contains("checkpoint.pt") && line.contains("not found"), "{line}");
    let line = one_line_error(&run(&["export", &run_dir, "--format", "onnx", "--out", &o]), 2);
    assert!(line.contains("onnx"), "{line}");
    let missing = tmp.path().join("no/such/folder/model.pt").display().to_string();
    let line = one_line_error(&run(&["export", &run_dir, "--format", "safetensors", "--out", &missing]), 2);
    assert!(line.contains("--out") && line.contains("does not exist"), "{line}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "nothing written");
}
