//! Helpers shared by the integration tests: a loopback HTTP server and archive builders
//! (`http`), data sets in the CIFAR-10 binary layout (`cifar`), image folders and IDX files
//! (`images`), TensorBoard event files read back with the Python package (`tensorboard`), and
//! running the binary (`run`).
#![allow(dead_code)]

pub mod cifar;
pub mod http;
pub mod images;
pub mod runs;
pub mod tensorboard;

use std::path::Path;
use std::process::{Command, Output};

/// One epoch at a fixed LR: the shortest training run (add it to [`Cmd::tiny`]).
pub const ONE_FIXED_EPOCH: [&str; 6] = ["--policy", "fixed", "--base-lr", "0.05", "--epochs", "1"];

/// A `clr` command line, built up: `Cmd::tiny("train").data(d).out(o).args(ONE_FIXED_EPOCH)`.
/// A flag given again later wins (clap keeps the last value), so the tiny defaults can be changed.
#[derive(Debug, Clone)]
pub struct Cmd {
    args: Vec<String>,
}

impl Cmd {
    /// `clr CMD` with no flags.
    pub fn new(cmd: &str) -> Cmd {
        Cmd { args: vec![cmd.to_string()] }
    }

    /// `clr CMD` for a tiny run on the CPU: ResNet-8, batch 32, one thread, no progress bar.
    pub fn tiny(cmd: &str) -> Cmd {
        Cmd::new(cmd).args(["--depth", "8", "--batch-size", "32", "--device", "cpu", "--threads", "1", "--no-progress"])
    }

    /// Read the data in `dir` and never download.
    pub fn data(self, dir: impl AsRef<Path>) -> Cmd {
        self.args(["--data-dir", &dir.as_ref().display().to_string(), "--no-download"])
    }

    /// The run folder.
    pub fn out(self, dir: impl AsRef<Path>) -> Cmd {
        self.args(["--out", &dir.as_ref().display().to_string()])
    }

    /// A linear one-cycle from LR 0.04 up to 0.4, back, and to 0.004 over `phases` epochs
    /// ("UP,DOWN,TAIL").
    pub fn one_cycle(self, phases: &str) -> Cmd {
        self.args(["--policy", "one-cycle", "--base-lr", "0.04", "--max-lr", "0.4", "--phases", phases])
    }

    pub fn args<S: AsRef<str>>(mut self, more: impl IntoIterator<Item = S>) -> Cmd {
        self.args.extend(more.into_iter().map(|s| s.as_ref().to_string()));
        self
    }

    pub fn strs(&self) -> Vec<&str> {
        self.args.iter().map(String::as_str).collect()
    }

    /// Run it; the output, whatever the exit status.
    pub fn run(&self) -> Output {
        run(&self.strs())
    }

    /// Run it and insist that it succeeds.
    pub fn ok(&self) -> Output {
        ok(&self.strs())
    }

    /// Start it (stdout discarded, stderr piped).
    pub fn spawn(&self) -> std::process::Child {
        clr().args(&self.args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    }
}

/// The real binary, with no mirror variables inherited from the environment.
pub fn clr() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clr"));
    for var in [
        "CLR_CIFAR10_URL",
        "CLR_CIFAR10_MD5",
        "CLR_CIFAR100_URL",
        "CLR_CIFAR100_MD5",
        "CLR_MNIST_URL",
        "CLR_MNIST_MD5",
        "CLR_FASHION_MNIST_URL",
        "CLR_FASHION_MNIST_MD5",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Run `clr` with `args`; the output, whatever the exit status.
pub fn run(args: &[&str]) -> Output {
    clr().args(args).output().expect("run clr")
}

/// Run `clr` and insist that it succeeds.
pub fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(out.status.success(), "clr {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Insist that `path` is a PNG that decodes and is not blank (some ink, several colours);
/// returns its width and height.
pub fn assert_png(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}: no PNG signature", path.display());
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{}: does not decode: {e}", path.display()))
        .to_rgb8();
    let total = (img.width() * img.height()) as f64;
    let ink = img.pixels().filter(|p| p.0 != [255, 255, 255]).count() as f64;
    let colours: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(ink / total > 0.01, "{}: blank ({ink} of {total} pixels drawn)", path.display());
    assert!(colours.len() > 10, "{}: only {} colours", path.display(), colours.len());
    (img.width(), img.height())
}

/// Insist that a `train` into `run_dir` failed (exit 1) naming `file` and `also`, without a panic
/// and before any training.
pub fn assert_train_failed_naming(output: &Output, run_dir: &Path, file: &str, also: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains(file) && err.contains(also), "{file} / {also} not in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!run_dir.join("steps.csv").exists(), "no training started");
}

/// Insist that `out` failed with exit code `code` and exactly one non-empty line on stderr;
/// returns that line.
pub fn one_line_error(out: &Output, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "expected exit {code}; stderr:\n{err}");
    let lines: Vec<&str> = err.trim_end_matches('\n').lines().collect();
    assert!(lines.len() == 1 && !lines[0].trim().is_empty(), "expected exactly one line on stderr, got:\n{err}");
    lines[0].to_string()
}

/// Runs `script` in a private mount namespace with a tmpfs of `size` mounted at `mnt`: a full
/// disk for one test, without touching the machine's.
pub fn with_small_disk(mnt: &Path, size: &str, script: &str) -> Output {
    std::fs::create_dir_all(mnt).unwrap();
    let full = format!("mount -t tmpfs -o size={size} tmpfs {} && {script}", mnt.display());
    let out = Command::new("unshare").args(["-m", "bash", "-c", &full]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("mount: ") && !err.contains("unshare: "), "cannot make a small disk here: {err}");
    out
}
