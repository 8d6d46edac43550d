//! `clr download` against a loopback HTTP server: fetch, verify, extract, resume and every
//! failure the issue names. No test touches the internet.

mod common;

use clr::data::download::{self, DownloadOptions, Outcome, ARCHIVE_NAME, BATCH_DIR, CIFAR10, CIFAR10_URL, URL_ENV};
use common::http::{self, Behaviour, Fixture, Member, Members, Server};
use std::fs;
use std::path::{Path, PathBuf};

const PATH: &str = "/cifar-10-binary.tar.gz";

fn opts(dir: &Path, url: String, md5: String) -> DownloadOptions {
    DownloadOptions { archive: &CIFAR10, url, md5, data_dir: dir.join("data"), progress: false }
}

fn assert_extracted(dir: &Path, members: &Members) {
    for (path, bytes) in members {
        let name = path.strip_prefix("cifar-10-batches-bin/").unwrap();
        assert_eq!(&fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
}

/// Nothing extracted, no partial folder, no .part.
fn assert_nothing_left(data: &Path) {
    for name in [BATCH_DIR, ".cifar-10-batches-bin.partial", "cifar-10-binary.tar.gz.part"] {
        assert!(!data.join(name).exists(), "{name} was left behind");
    }
}

fn batches(o: &DownloadOptions) -> PathBuf {
    o.data_dir.join(BATCH_DIR)
}

#[test]
fn downloads_verifies_extracts_then_finds_it_present_without_a_request() {
    let Fixture { archive, md5, members } = http::fixture(7);
    let server = Server::start(PATH, archive.clone());
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url(), md5.clone());
    assert_eq!(download::download(&o).unwrap(), Outcome::Downloaded(batches(&o)));
    assert_extracted(&batches(&o), &members);
    assert_eq!(fs::read(o.data_dir.join(ARCHIVE_NAME)).unwrap(), archive, "verified archive kept");
    assert!(!o.data_dir.join("cifar-10-binary.tar.gz.part").exists());
    let marker = fs::read_to_string(batches(&o).join(download::MARKER)).unwrap();
    assert!(marker.contains(&md5) && marker.contains(&server.url()), "{marker}");
    assert_eq!(server.requests().len(), 1);

    assert_eq!(download::download(&o).unwrap(), Outcome::AlreadyPresent(batches(&o)));
    assert_eq!(download::ensure(&o, false).unwrap(), batches(&o));
    assert_eq!(server.requests().len(), 1, "present data must not be fetched again");
}

#[test]
fn wrong_checksum_names_both_sums_and_leaves_nothing() {
    let Fixture { archive, md5, .. } = http::fixture(7);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url(), "0".repeat(32));
    let err = format!("{:#}", download::download(&o).unwrap_err());
    for part in [&"0".repeat(32), &md5, &server.url(), &"--md5".to_string()] {
        assert!(err.contains(part.as_str()), "{part} missing from: {err}");
    }
    assert_nothing_left(&o.data_dir);
    assert!(!o.data_dir.join(ARCHIVE_NAME).exists());
}

#[test]
fn truncated_transfer_is_resumed_with_a_range_request() {
    let Fixture { archive, md5, members } = http::fixture(7);
    let cut = archive.len() / 3;
    let server = Server::with(PATH, archive.clone(), Behaviour { cut_first_after: Some(cut), ..Default::default() });
    let tmp = tempfile::tempdir().unwrap();
    // The progress bar is on here (drawn only on a terminal) so its code path runs too.
    let o = DownloadOptions { progress: true, ..opts(tmp.path(), server.url(), md5) };
    let err = format!("{:#}", download::download(&o).unwrap_err());
    let expected = format!("interrupted after {cut} of {} bytes; run the same command again to resume", archive.len());
    assert!(err.contains(&expected) && err.contains(&server.url()), "{err}");
    let part = o.data_dir.join("cifar-10-binary.tar.gz.part");
    assert_eq!(fs::read(&part).unwrap(), archive[..cut], "the received bytes are kept");
    assert!(!batches(&o).exists());

    assert_eq!(download::download(&o).unwrap(), Outcome::Downloaded(batches(&o)));
    assert_extracted(&batches(&o), &members);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].range, None);
    assert_eq!(requests[1].range, Some(format!("bytes={cut}-")));
}

#[test]
fn server_ignoring_range_restarts_from_scratch() {
    let Fixture { archive, md5, members } = http::fixture(7);
    let server = Server::with(PATH, archive, Behaviour { ignore_range: true, ..Default::default() });
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url(), md5);
    fs::create_dir_all(&o.data_dir).unwrap();
    // A stale prefix that would spoil the checksum if it were appended to.
    fs::write(o.data_dir.join("cifar-10-binary.tar.gz.part"), vec![0xAB; 1000]).unwrap();
    assert_eq!(download::download(&o).unwrap(), Outcome::Downloaded(batches(&o)));
    assert_extracted(&batches(&o), &members);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range.as_deref(), Some("bytes=1000-"));
}

#[test]
fn complete_part_file_answered_416_is_verified_and_used() {
    let Fixture { archive, md5, members } = http::fixture(7);
    let server = Server::start(PATH, archive.clone());
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url(), md5);
    fs::create_dir_all(&o.data_dir).unwrap();
    fs::write(o.data_dir.join("cifar-10-binary.tar.gz.part"), &archive).unwrap();
    assert_eq!(download::download(&o).unwrap(), Outcome::Downloaded(batches(&o)));
    assert_extracted(&batches(&o), &members);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn http_error_names_status_and_url() {
    let Fixture { archive, md5, .. } = http::fixture(7);
    let server = Server::start(PATH, archive);
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url_for("/missing.tar.gz"), md5);
    let err = format!("{:#}", download::download(&o).unwrap_err());
    assert!(err.contains("404") && err.contains(&o.url), "{err}");
    assert_nothing_left(&o.data_dir);
}

#[test]
fn unreachable_server_says_where_to_put_the_file_by_hand() {
    let Fixture { md5, .. } = http::fixture(7);
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), http::closed_port_url(), md5);
    let err = format!("{:#}", download::download(&o).unwrap_err());
    let target = o.data_dir.join(ARCHIVE_NAME).display().to_string();
    for part in [CIFAR10_URL, &target, "--url", URL_ENV, &o.url] {
        assert!(err.contains(part), "{part} missing from: {err}");
    }
    assert_nothing_left(&o.data_dir);
}

#[test]
fn corrupt_archive_with_matching_md5_extracts_nothing() {
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut truncated = http::fixture(7).archive;
    truncated.truncate(truncated.len() / 2);
    for body in [garbage, truncated] {
        let md5 = http::md5_hex(&body);
        let server = Server::start(PATH, body);
        let tmp = tempfile::tempdir().unwrap();
        let o = opts(tmp.path(), server.url(), md5);
        let err = format!("{:#}", download::download(&o).unwrap_err());
        assert!(err.contains(ARCHIVE_NAME) && err.contains("corrupt"), "{err}");
        assert_nothing_left(&o.data_dir);
    }
}

#[test]
fn archive_without_batches_is_an_error_naming_it() {
    let members = vec![("cifar-10-batches-bin/data_batch_1.bin".to_string(), vec![1u8; 3073])];
    let archive = http::tar_gz(&members);
    let server = Server::start(PATH, archive.clone());
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(tmp.path(), server.url(), http::md5_hex(&archive));
    let err = format!("{:#}", download::download(&o).unwrap_err());
    assert!(err.contains(ARCHIVE_NAME) && err.contains("test_batch.bin"), "{err}");
    assert_nothing_left(&o.data_dir);
}

#[test]
fn hostile_members_are_never_written() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    let absolute = format!("{}/abs.bin", outside.display());
    let good = http::cifar_members(3, 1, 20);
    let mut members: Vec<Member> = good.iter().map(|(p, b)| Member { path: p, bytes: b, link: None }).collect();
    let evil = b"evil".as_slice();
    members.extend([
        Member { path: "../evil.bin", bytes: evil, link: None },
        Member { path: "cifar-10-batches-bin/../evil2.bin", bytes: evil, link: None },
        Member { path: &absolute, bytes: evil, link: None },
        Member { path: "cifar-10-batches-bin/passwd", bytes: b"", link: Some("/etc/passwd") },
        Member { path: "cifar-10-batches-bin/run.sh", bytes: evil, link: None },
    ]);
    let archive = http::tar_gz_raw(&members);
    let server = Server::start(PATH, archive.clone());
    let o = opts(tmp.path(), server.url(), http::md5_hex(&archive));
    download::download(&o).unwrap();
    assert_extracted(&batches(&o), &good);
    let mut names: Vec<String> =
        fs::read_dir(batches(&o)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let expected = [".clr-source.json", "batches.meta.txt", "data_batch_1.bin", "test_batch.bin"];
    assert_eq!(names, expected);
    assert!(!outside.exists());
    for stray in ["evil.bin", "evil2.bin", "data/evil2.bin", "data/evil.bin"] {
        assert!(!tmp.path().join(stray).exists(), "{stray}");
    }
}

#[test]
fn a_data_file_that_is_a_link_or_missing_is_an_error_not_a_smaller_set() {
    // data_batch_1.bin as a symbolic link extracted "successfully" without it, and training then
    // used 4 of the 5 batches.
    let good = http::cifar_members(3, 3, 20);
    let cases: [(&str, Option<&str>, &str); 2] = [
        ("cifar-10-batches-bin/data_batch_1.bin", Some("/etc/passwd"), "data_batch_1.bin is a Symlink entry"),
        ("cifar-10-batches-bin/data_batch_2.bin", None, "lacks cifar-10-batches-bin/data_batch_2.bin"),
    ];
    for (path, link, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let mut members: Vec<Member> =
            good.iter().filter(|(p, _)| p != path).map(|(p, b)| Member { path: p, bytes: b, link: None }).collect();
        if link.is_some() {
            members.insert(0, Member { path, bytes: b"", link });
        }
        let archive = http::tar_gz_raw(&members);
        let server = Server::start(PATH, archive.clone());
        let o = opts(tmp.path(), server.url(), http::md5_hex(&archive));
        let err = format!("{:#}", download::download(&o).unwrap_err());
        assert!(err.contains(ARCHIVE_NAME) && err.contains(want), "{err}");
        assert!(!batches(&o).exists(), "nothing extracted");
    }
}

#[test]
fn locate_accepts_both_folder_shapes_and_hand_placed_files_count_as_present() {
    let Fixture { md5, members, .. } = http::fixture(7);
    let tmp = tempfile::tempdir().unwrap();
    // Flat: the .bin files directly in --data-dir.
    let flat = tmp.path().join("flat");
    fs::create_dir(&flat).unwrap();
    for (path, bytes) in &members {
        fs::write(flat.join(path.strip_prefix("cifar-10-batches-bin/").unwrap()), bytes).unwrap();
    }
    assert_eq!(download::locate(&flat, &CIFAR10), Some(flat.clone()));
    // Nested: --data-dir holds cifar-10-batches-bin/.
    let nested = tmp.path().join("nested");
    fs::create_dir(&nested).unwrap();
    fs::rename(&flat, nested.join(BATCH_DIR)).unwrap();
    assert_eq!(download::locate(&nested, &CIFAR10), Some(nested.join(BATCH_DIR)));
    assert_eq!(download::locate(tmp.path(), &CIFAR10), None);

    let o = DownloadOptions {
        url: http::closed_port_url(),
        md5,
        data_dir: nested.clone(),
        ..opts(tmp.path(), String::new(), String::new())
    };
    assert_eq!(download::download(&o).unwrap(), Outcome::AlreadyPresent(nested.join(BATCH_DIR)));
}
