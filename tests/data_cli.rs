//! Getting data in, as a new user does: download from a (loopback) mirror then train, train on
//! batches already on disk in either layout, train that downloads by itself, malformed files,
//! `--dataset synthetic`; and `clr plot` on a finished run.

mod common;

use clr::records::{read_rows, StepRow};
use common::http::{self, Server};
use common::{assert_png, cifar, ok, one_line_error, read_json, run, stderr, stdout, Cmd, ONE_FIXED_EPOCH};
use std::path::Path;

const PATH: &str = "/cifar-10-binary.tar.gz";

/// Two training files of 64 records and a test file of 40: 4 steps per epoch at batch 32.
const FILES: usize = 2;
const PER_FILE: usize = 64;
const TEST: usize = 40;
const STEPS: usize = FILES * PER_FILE / 32;

/// A tiny one-epoch run on the CPU into `out`, reading `--data-dir data` (downloading when it
/// has to); `extra` is appended.
fn train_args(data: &str, out: &str, extra: &[&str]) -> Cmd {
    Cmd::tiny("train").args(["--data-dir", data, "--out", out]).args(ONE_FIXED_EPOCH).args(extra)
}

/// The run trained on every record of every training file and tested.
fn assert_trained(out: &Path) {
    let steps: Vec<StepRow> = read_rows(&out.join("steps.csv")).unwrap();
    assert_eq!(steps.len(), STEPS, "one epoch over {} images", FILES * PER_FILE);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["status"], "completed");
    let acc = summary["final_test_acc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{acc}");
}

/// An archive in the official layout (cifar-10-batches-bin/…) and its MD5.
fn archive() -> (Vec<u8>, String) {
    let mut members = cifar::learnable_members(FILES, PER_FILE, TEST, 21);
    let meta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    members.push(("cifar-10-batches-bin/batches.meta.txt".into(), meta.as_bytes().to_vec()));
    let bytes = http::tar_gz(&members);
    let md5 = http::md5_hex(&bytes);
    (bytes, md5)
}

#[test]
fn download_then_train() {
    let (bytes, md5) = archive();
    let server = Server::start(PATH, bytes);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.display().to_string();
    ok(&["download", "--url", &server.url(), "--md5", &md5, "--data-dir", &d, "--no-progress"]);
    assert!(data.join("cifar-10-batches-bin").join("data_batch_2.bin").is_file());

    let out = tmp.path().join("run");
    let o = out.display().to_string();
    train_args(&d, &o, &["--no-download"]).ok();
    assert_trained(&out);
    assert_eq!(server.requests().len(), 1, "train must not fetch again");
}

#[test]
fn train_on_batches_placed_directly_in_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("flat");
    cifar::write_learnable(&data, FILES, PER_FILE, TEST, 22);
    let d = data.display().to_string();
    let out = tmp.path().join("run");
    let o = out.display().to_string();
    train_args(&d, &o, &["--no-download"]).ok();
    assert_trained(&out);
    assert!(!data.join("cifar-10-batches-bin").exists(), "nothing was downloaded or moved");
}

#[test]
fn train_downloads_into_an_empty_data_dir_first() {
    let (bytes, md5) = archive();
    let server = Server::start(PATH, bytes);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("empty");
    std::fs::create_dir(&data).unwrap();
    let d = data.display().to_string();
    let out = tmp.path().join("run");
    let o = out.display().to_string();
    let url = server.url();
    train_args(&d, &o, &["--url", &url, "--md5", &md5]).ok();
    assert_eq!(server.requests().len(), 1);
    assert!(data.join("cifar-10-batches-bin").join("test_batch.bin").is_file());
    assert_trained(&out);
}

#[test]
fn no_download_on_an_empty_data_dir_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().display().to_string();
    let o = tmp.path().join("run").display().to_string();
    let line = one_line_error(&train_args(&d, &o, &["--no-download"]).run(), 2);
    assert!(line.contains("--data-dir") && line.contains(&d), "{line}");
}

/// `train` on `dir` must fail with exit 1, naming `file` and no panic.
fn assert_fails_naming(dir: &Path, file: &str, also: &str) {
    let d = dir.display().to_string();
    let out = dir.parent().unwrap().join("run");
    let o = out.display().to_string();
    let output = train_args(&d, &o, &["--no-download"]).run();
    common::assert_train_failed_naming(&output, &out, file, also);
}

#[test]
fn a_file_that_is_not_whole_records_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    cifar::write_learnable(&data, FILES, PER_FILE, TEST, 23);
    let path = data.join("data_batch_1.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&path, &bytes).unwrap();
    assert_fails_naming(&data, "data_batch_1.bin", &bytes.len().to_string());
}

#[test]
fn a_label_of_10_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    cifar::write_learnable(&data, FILES, PER_FILE, TEST, 24);
    let path = data.join("data_batch_2.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5 * 3073] = 10;
    std::fs::write(&path, &bytes).unwrap();
    assert_fails_naming(&data, "data_batch_2.bin", "10");
}

/// Every text file of a run folder, for searching.
fn text_files(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "csv")) {
            all.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    all
}

#[test]
fn synthetic_runs_never_claim_cifar10_and_plot_redraws_curves() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = out.display().to_string();
    let synthetic = ["--dataset", "synthetic", "--synthetic-train", "128", "--synthetic-test", "40"];
    let output = Cmd::tiny("train").args(synthetic).args(ONE_FIXED_EPOCH).out(&out).ok();
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["data"], "synthetic");
    let everything = format!("{}{}{}", stdout(&output), stderr(&output), text_files(&out)).to_lowercase();
    for claim in ["cifar-10", "cifar10"] {
        assert!(!everything.contains(claim), "a synthetic run says {claim:?}:\n{everything}");
    }

    // `clr plot RUN_DIR` redraws curves.png from the CSV files.
    let curves = out.join("curves.png");
    assert_png(&curves);
    std::fs::remove_file(&curves).unwrap();
    let printed = stdout(&ok(&["plot", &o]));
    assert!(printed.contains("curves.png"), "{printed}");
    assert_png(&curves);

    // An empty folder has nothing to plot: a usage error.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let line = one_line_error(&run(&["plot", empty.to_str().unwrap()]), 2);
    assert!(line.contains("empty"), "{line}");
}
