//! Helpers shared by the integration tests: a loopback HTTP server and archive builders
//! (`http`), data sets in the CIFAR-10 binary layout (`cifar`), running the binary (`run`), and
//! stop-then-resume comparisons of training runs (`resume`).
#![allow(dead_code)]

pub mod cifar;
pub mod http;
pub mod resume;

use std::path::Path;
use std::process::{Command, Output};

/// The flags of a tiny one-epoch run on the CPU (ResNet-8, batch 32, fixed LR); the caller adds
/// the command, the data flags and `--out`.
#[rustfmt::skip]
pub const TINY_RUN: &[&str] = &[
    "--depth", "8", "--batch-size", "32", "--policy", "fixed", "--base-lr", "0.05", "--epochs", "1",
    "--device", "cpu", "--threads", "1", "--no-progress",
];

/// The real binary, with no CIFAR mirror variables inherited from the environment.
pub fn clr() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clr"));
    cmd.env_remove("CLR_CIFAR10_URL").env_remove("CLR_CIFAR10_MD5");
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

/// Insist that `out` failed with exit code `code` and exactly one non-empty line on stderr;
/// returns that line.
pub fn one_line_error(out: &Output, code: i32) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "expected exit {code}; stderr:\n{err}");
    let lines: Vec<&str> = err.trim_end_matches('\n').lines().collect();
    assert!(lines.len() == 1 && !lines[0].trim().is_empty(), "expected exactly one line on stderr, got:\n{err}");
    lines[0].to_string()
}
