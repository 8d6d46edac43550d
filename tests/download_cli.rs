//! `clr download` as a user runs it: the real binary against a loopback HTTP server.

mod common;

use clr::data::download::{BATCH_DIR, MD5_ENV, URL_ENV};
use common::http::{self, Fixture, Members, Server};
use std::path::Path;
use std::process::{Command, Output};

const PATH: &str = "/cifar-10-binary.tar.gz";

/// Run `clr download ARGS` with the mirror variables set only as given.
fn clr_download(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clr"));
    cmd.arg("download").args(args).env_remove(URL_ENV).env_remove(MD5_ENV);
    cmd.envs(envs.iter().copied());
    cmd.output().expect("run clr")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_extracted(data: &Path, members: &Members) {
    for (path, bytes) in members {
        assert_eq!(&std::fs::read(data.join(path)).unwrap(), bytes, "{path}");
    }
}

#[test]
fn download_then_already_present() {
    let Fixture { archive, md5, members } = http::fixture(11);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let d = data.to_str().unwrap();
    let args = ["--url", &server.url(), "--md5", &md5, "--data-dir", d, "--no-progress"];
    let out = clr_download(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(BATCH_DIR), "{}", text(&out.stdout));
    assert_extracted(&data, &members);

    let out = clr_download(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("already present"), "{}", text(&out.stdout));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn mirror_and_checksum_from_the_environment() {
    let Fixture { archive, md5, members } = http::fixture(11);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let out = clr_download(&["--data-dir", d, "--no-progress"], &[(URL_ENV, &server.url()), (MD5_ENV, &md5)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_extracted(tmp.path(), &members);
}

#[test]
fn wrong_checksum_exits_1_with_both_sums() {
    let Fixture { archive, md5, .. } = http::fixture(11);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let wrong = "f".repeat(32);
    let d = tmp.path().to_str().unwrap();
    let out = clr_download(&["--url", &server.url(), "--md5", &wrong, "--data-dir", d, "--no-progress"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&wrong) && err.contains(&md5) && err.contains("--md5"), "{err}");
    assert!(!tmp.path().join(BATCH_DIR).exists());
}

#[test]
fn malformed_md5_is_a_usage_error_before_any_request() {
    let Fixture { archive, .. } = http::fixture(11);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let out = clr_download(&["--url", &server.url(), "--md5", "xyz", "--data-dir", d], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--md5"), "{}", text(&out.stderr));
    assert!(server.requests().is_empty());
}

#[test]
fn http_404_exits_1_naming_status_and_url() {
    let Fixture { archive, md5, .. } = http::fixture(11);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let url = server.url_for("/gone.tar.gz");
    let d = tmp.path().to_str().unwrap();
    let out = clr_download(&["--url", &url, "--md5", &md5, "--data-dir", d, "--no-progress"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("404") && err.contains(&url), "{err}");
}

#[test]
fn help_documents_every_flag() {
    let out = clr_download(&["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in ["--data-dir", "[default: data]", "--url", URL_ENV, "--md5", MD5_ENV, "--no-progress"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
