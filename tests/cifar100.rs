//! `--dataset cifar100` end to end, on archives and files in the CIFAR-100 binary layout that the
//! tests make (never CIFAR-100 itself; no test touches the internet): the download against a
//! loopback server, through the library and through `clr download` (good, wrong checksum,
//! truncated then resumed, hostile members, the mirror variables), then training with fine and
//! with coarse labels (the model's output size, learning above chance), `clr eval` of the
//! checkpoint, and the errors of malformed files and mismatched labels.

mod common;

use clr::data::download::{self, DownloadOptions, Outcome, CIFAR100};
use common::http::{self, Behaviour, Fixture, Member, Members, Server};
use common::{cifar, clr, ok, one_line_error, read_json, stderr, stdout, Cmd};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

const PATH: &str = "/cifar-100-binary.tar.gz";
const FOLDER: &str = "cifar-100-binary";
const ARCHIVE: &str = "cifar-100-binary.tar.gz";

fn opts(dir: &Path, url: String, md5: String) -> DownloadOptions {
    DownloadOptions { archive: &CIFAR100, url, md5, data_dir: dir.join("data"), progress: false }
}

fn folder(o: &DownloadOptions) -> PathBuf {
    o.data_dir.join(FOLDER)
}

/// Every member is in `dir` with its bytes.
fn assert_extracted(dir: &Path, members: &Members) {
    for (path, bytes) in members {
        let name = path.strip_prefix("cifar-100-binary/").unwrap();
        assert_eq!(&fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
}

/// Nothing extracted, no partial folder, no .part.
fn assert_nothing_left(data: &Path) {
    for name in [FOLDER, ".cifar-100-binary.partial", "cifar-100-binary.tar.gz.part"] {
        assert!(!data.join(name).exists(), "{name} was left behind");
    }
}

#[test]
fn download_verifies_extracts_then_finds_it_present_without_a_request() {
    let Fixture { archive, md5, members } = http::fixture100(5);
    let server = Server::start(PATH, archive.clone());
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url(), md5.clone());
    assert_eq!(download::download(&o).unwrap(), Outcome::Downloaded(folder(&o)));
    assert_extracted(&folder(&o), &members);
    assert_eq!(fs::read(o.data_dir.join(ARCHIVE)).unwrap(), archive, "verified archive kept");
    let marker = fs::read_to_string(folder(&o).join(download::MARKER)).unwrap();
    assert!(marker.contains(&md5) && marker.contains("train.bin"), "{marker}");
    assert!(!o.data_dir.join("cifar-10-batches-bin").exists());

    assert_eq!(download::download(&o).unwrap(), Outcome::AlreadyPresent(folder(&o)));
    assert_eq!(download::ensure(&o, false).unwrap(), folder(&o));
    assert_eq!(server.requests().len(), 1, "present data must not be fetched again");
}

#[test]
fn wrong_checksum_names_both_sums_and_leaves_nothing() {
    let Fixture { archive, md5, .. } = http::fixture100(5);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url(), "0".repeat(32));
    let err = format!("{:#}", download::download(&o).unwrap_err());
    for part in [&"0".repeat(32), &md5, &server.url(), "--md5", "CLR_CIFAR100_MD5"] {
        assert!(err.contains(part), "{part} missing from: {err}");
    }
    assert_nothing_left(&o.data_dir);
    assert!(!o.data_dir.join(ARCHIVE).exists());
}

#[test]
fn truncated_transfer_is_resumed_with_a_range_request() {
    let Fixture { archive, md5, members } = http::fixture100(5);
    let cut = archive.len() / 3;
    let server = Server::with(PATH, archive.clone(), Behaviour { cut_first_after: Some(cut), ..Default::default() });
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url(), md5);
    let err = format!("{:#}", download::download(&o).unwrap_err());
    assert!(err.contains(&format!("interrupted after {cut} of {} bytes", archive.len())), "{err}");
    let part = o.data_dir.join("cifar-100-binary.tar.gz.part");
    assert_eq!(fs::read(&part).unwrap(), archive[..cut], "the received bytes are kept");
    assert!(!folder(&o).exists());

    assert_eq!(download::download(&o).unwrap(), Outcome::Downloaded(folder(&o)));
    assert_extracted(&folder(&o), &members);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].range, Some(format!("bytes={cut}-")));
}

#[test]
fn hostile_and_foreign_members_are_never_written() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    let absolute = format!("{}/abs.bin", outside.display());
    // The good members, but the coarse label names come as a link to a system file.
    let good: Members = http::cifar100_members(3, 4).into_iter().filter(|(p, _)| !p.contains("coarse")).collect();
    let mut members: Vec<Member> = good.iter().map(|(p, b)| Member { path: p, bytes: b, link: None }).collect();
    let evil = b"evil".as_slice();
    members.extend([
        Member { path: "../evil.bin", bytes: evil, link: None },
        Member { path: "cifar-100-binary/../evil2.bin", bytes: evil, link: None },
        Member { path: &absolute, bytes: evil, link: None },
        Member { path: "cifar-100-binary/coarse_label_names.txt", bytes: b"", link: Some("/etc/passwd") },
        Member { path: "cifar-100-binary/run.sh", bytes: evil, link: None },
        // CIFAR-10's names are not CIFAR-100's files, in either folder.
        Member { path: "cifar-100-binary/data_batch_1.bin", bytes: evil, link: None },
        Member { path: "cifar-10-batches-bin/test_batch.bin", bytes: evil, link: None },
    ]);
    let archive = http::tar_gz_raw(&members);
    let server = Server::start(PATH, archive.clone());
    let o = opts(tmp.path(), server.url(), http::md5_hex(&archive));
    download::download(&o).unwrap();
    assert_extracted(&folder(&o), &good);
    let mut names: Vec<String> =
        fs::read_dir(folder(&o)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, [".clr-source.json", "fine_label_names.txt", "test.bin", "train.bin"]);
    assert!(!outside.exists() && !o.data_dir.join("cifar-10-batches-bin").exists());
    for stray in ["evil.bin", "evil2.bin", "data/evil2.bin", "data/evil.bin"] {
        assert!(!tmp.path().join(stray).exists(), "{stray}");
    }
}

#[test]
fn archive_without_train_bin_is_an_error_naming_it() {
    let members: Members =
        http::cifar100_members(3, 2).into_iter().filter(|(p, _)| !p.ends_with("train.bin")).collect();
    let archive = http::tar_gz(&members);
    let server = Server::start(PATH, archive.clone());
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url(), http::md5_hex(&archive));
    let err = format!("{:#}", download::download(&o).unwrap_err());
    assert!(err.contains(ARCHIVE) && err.contains("train.bin") && err.contains("CIFAR-100"), "{err}");
    assert_nothing_left(&o.data_dir);
}

/// `clr download --dataset cifar100 ARGS` with the mirror variables set only as given.
fn clr_download(args: &[&str], envs: &[(&str, &str)]) -> Output {
    clr()
        .args(["download", "--dataset", "cifar100", "--no-progress"])
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn clr_download_fetches_then_finds_it_present() {
    let Fixture { archive, md5, members } = http::fixture100(9);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let args = ["--url", &server.url(), "--md5", &md5, "--data-dir", data.to_str().unwrap()];
    let out = clr_download(&args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("CIFAR-100 ready in {}", data.join(FOLDER).display()));
    assert_extracted(&data.join(FOLDER), &members);
    let out = clr_download(&args, &[]);
    assert_eq!(stdout(&out).trim(), format!("CIFAR-100 already present in {}", data.join(FOLDER).display()));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn clr_download_reads_the_cifar100_variables_only() {
    let Fixture { archive, md5, members } = http::fixture100(9);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    // CIFAR-10's variables point elsewhere and must not be used.
    let envs = [
        ("CLR_CIFAR100_URL", server.url()),
        ("CLR_CIFAR100_MD5", md5),
        ("CLR_CIFAR10_URL", http::closed_port_url()),
        ("CLR_CIFAR10_MD5", "0".repeat(32)),
    ];
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = clr_download(&["--data-dir", d], &envs);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_extracted(&tmp.path().join(FOLDER), &members);
}

#[test]
fn clr_download_wrong_checksum_and_truncation_exit_1_and_a_rerun_resumes() {
    let Fixture { archive, md5, members } = http::fixture100(9);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let server = Server::start(PATH, archive.clone());
    let wrong = "f".repeat(32);
    let out = clr_download(&["--url", &server.url(), "--md5", &wrong, "--data-dir", d], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&wrong) && stderr(&out).contains(&md5), "{}", stderr(&out));
    assert!(!tmp.path().join(FOLDER).exists());

    let cut = archive.len() / 2;
    let server = Server::with(PATH, archive, Behaviour { cut_first_after: Some(cut), ..Default::default() });
    let args = ["--url", &server.url(), "--md5", &md5, "--data-dir", d];
    let out = clr_download(&args, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("run the same command again to resume"), "{}", stderr(&out));
    let out = clr_download(&args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_extracted(&tmp.path().join(FOLDER), &members);
    assert_eq!(server.requests()[1].range, Some(format!("bytes={cut}-")));
}

#[test]
fn clr_download_documents_cifar100_and_refuses_synthetic() {
    let help = stdout(&ok(&["download", "--help"]));
    for part in ["--dataset", "cifar100", "cifar-100-binary", "CLR_CIFAR100_URL", "CLR_CIFAR100_MD5"] {
        assert!(help.contains(part), "{part} missing from:\n{help}");
    }
    let line = one_line_error(&clr().args(["download", "--dataset", "synthetic"]).output().unwrap(), 2);
    assert!(line.contains("--dataset synthetic"), "{line}");
}

/// Training images and test images of the learnable data; batch 50: 30 steps per epoch.
const TRAIN: usize = 1500;
const TEST: usize = 500;

/// A one-cycle run of 5 epochs (2 up, 2 down, 1 tail) on the data in `data`, into `out`; `extra`
/// appended. On this data it ends near 99 % with either label (about 15 s on one CPU thread).
fn train(data: &Path, out: &Path, extra: &[&str]) -> Cmd {
    Cmd::tiny("train")
        .data(data)
        .out(out)
        .args(["--dataset", "cifar100", "--batch-size", "50", "--policy", "one-cycle", "--base-lr", "0.05"])
        .args(["--max-lr", "0.5", "--phases", "2,2,1", "--seed", "3"])
        .args(extra)
}

/// The run's classes: the checkpoint's record and the model's last layer.
fn classes_of(run: &Path) -> (usize, Vec<i64>) {
    let ck = clr::train::checkpoint::load(&run.join("checkpoint.pt")).unwrap();
    (ck.state.num_classes, ck.model["fc.weight"].size())
}

/// `clr eval` of the run's checkpoint; its accuracy.
fn eval(run: &Path, data: &Path, extra: &[&str]) -> Output {
    let checkpoint = run.join("checkpoint.pt").display().to_string();
    Cmd::new("eval").args(["--checkpoint", &checkpoint, "--device", "cpu"]).data(data).args(extra).run()
}

fn printed_accuracy(out: &Output) -> f64 {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out).split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn fine_labels_download_train_above_chance_and_evaluate() {
    let members = cifar::learnable_100_members(TRAIN, TEST, 31);
    let archive = http::tar_gz(&members);
    let md5 = http::md5_hex(&archive);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("run");
    // The run downloads the archive itself into an empty --data-dir (no --no-download here).
    let cmd = train(&data, &out, &[]).args(["--no-download", "false", "--url", &server.url(), "--md5", &md5]);
    cmd.ok();
    assert!(data.join(FOLDER).join("train.bin").is_file());
    let summary = read_json(&out.join("summary.json"));
    assert!(summary["data"].as_str().unwrap().ends_with("cifar-100-binary (fine labels)"), "{summary}");
    let acc = summary["final_test_acc"].as_f64().unwrap();
    assert!(acc > 0.3, "test accuracy {acc}: not far above the 0.01 of chance with 100 classes");
    assert_eq!(classes_of(&out), (100, vec![100, 64]));
    let config = read_json(&out.join("config.json"));
    assert_eq!((config["dataset"].as_str(), config["labels"].as_str()), (Some("cifar100"), Some("fine")));

    // `clr eval` rebuilds the 100-way model, on the folder that holds cifar-100-binary/.
    let printed = printed_accuracy(&eval(&out, &data, &["--dataset", "cifar100"]));
    assert!((printed - acc).abs() < 1e-4, "eval says {printed}, the run said {acc}");
    // Evaluated on data of another number of classes: one line saying what to pass.
    let line = one_line_error(&eval(&out, &data, &[]), 2);
    assert!(line.contains("100 outputs") && line.contains("--dataset cifar100 --labels fine"), "{line}");
    let line = one_line_error(&eval(&out, &data, &["--dataset", "cifar100", "--labels", "coarse"]), 2);
    assert!(line.contains("20 classes"), "{line}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn coarse_labels_train_a_20_way_model_above_chance_from_a_flat_folder() {
    let tmp = tempfile::tempdir().unwrap();
    // The .bin files directly in --data-dir.
    let data = tmp.path().join("flat");
    cifar::write_learnable_100(&data, TRAIN, TEST, 32);
    let out = tmp.path().join("run");
    train(&data, &out, &["--labels", "coarse"]).ok();
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["data"].as_str().unwrap(), format!("{} (coarse labels)", data.display()));
    let acc = summary["final_test_acc"].as_f64().unwrap();
    assert!(acc > 0.5, "test accuracy {acc}: not far above the 0.05 of chance with 20 classes");
    assert_eq!(classes_of(&out), (20, vec![20, 64]));
    let printed = printed_accuracy(&eval(&out, &data, &["--dataset", "cifar100", "--labels", "coarse"]));
    assert!((printed - acc).abs() < 1e-4, "eval says {printed}, the run said {acc}");
    // The labels decide the model: a resumed run cannot change them.
    let line = one_line_error(
        &clr().args(["train", "--resume", out.to_str().unwrap(), "--labels", "fine"]).output().unwrap(),
        2,
    );
    assert!(line.contains("--labels"), "{line}");
}

#[test]
fn coarse_labels_need_cifar100() {
    let tmp = tempfile::tempdir().unwrap();
    for dataset in ["cifar10", "synthetic"] {
        let cmd = Cmd::tiny("train").args(["--dataset", dataset, "--labels", "coarse"]).out(tmp.path().join("run"));
        let line = one_line_error(&cmd.run(), 2);
        assert!(line.contains("--labels") && line.contains("cifar100") && line.contains(dataset), "{line}");
    }
    assert!(!tmp.path().join("run").exists());
}

/// `train` on `dir` fails with exit 1 naming `file` and `also`, before any training.
fn assert_fails_naming(dir: &Path, file: &str, also: &str) {
    let out = dir.parent().unwrap().join("bad-run");
    let output = train(dir, &out, &[]).run();
    common::assert_train_failed_naming(&output, &out, file, also);
}

#[test]
fn malformed_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    cifar::write_learnable_100(&data, 20, 10, 33);
    // A CIFAR-10-sized record count: not a whole number of 3074-byte records.
    let path = data.join("train.bin");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
    assert_fails_naming(&data, "train.bin", "3074-byte");
    fs::write(&path, &bytes).unwrap();
    // A fine label of 100 in the test file.
    let path = data.join("test.bin");
    let mut test = fs::read(&path).unwrap();
    test[4 * 3074 + 1] = 100;
    fs::write(&path, &test).unwrap();
    assert_fails_naming(&data, "test.bin", "fine label 100");
}
