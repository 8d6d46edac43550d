//! Helpers shared by the integration tests: a loopback HTTP server and archive builders
//! (`http`), data sets in the CIFAR-10 binary layout (`cifar`), and running the binary (`run`).
#![allow(dead_code)]

pub mod cifar;
pub mod http;

use std::path::Path;
use std::process::{Command, Output};

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
