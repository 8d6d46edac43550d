//! `--dataset mnist|fashion-mnist` as a user runs it: `clr download` from a (loopback) mirror,
//! resumed after a cut transfer and checked file by file, then training on the four IDX files; a
//! wrong checksum, missing files, and files placed in the data folder itself.

mod common;

use clr::records::{read_rows, StepRow};
use common::http::{self, Behaviour, Server};
use common::images::{idx_files, write_idx};
use common::{clr, one_line_error, read_json, stderr, stdout, Cmd, ONE_FIXED_EPOCH};
use std::path::Path;
use std::process::Output;

/// `clr download --dataset fashion-mnist` into `dir` with these environment variables.
fn download(dir: &Path, envs: &[(&str, &str)]) -> Output {
    let d = dir.display().to_string();
    let args = ["download", "--dataset", "fashion-mnist", "--data-dir", &d, "--no-progress"];
    clr().args(args).envs(envs.iter().copied()).output().unwrap()
}

/// The four files at /mirror/NAME, and their MD5s as `--md5` takes them.
fn mirror(behaviour: Behaviour) -> (Server, String) {
    let files = idx_files(128, 40, 3);
    let md5 = files.iter().map(|(_, bytes)| http::md5_hex(bytes)).collect::<Vec<_>>().join(",");
    let served = files.into_iter().map(|(name, bytes)| (format!("/mirror/{name}"), bytes)).collect();
    (Server::files(served, behaviour), md5)
}

#[test]
fn download_resumes_checks_each_file_then_trains() {
    let (server, md5) = mirror(Behaviour { cut_first_after: Some(100), ..Behaviour::default() });
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let base = server.url_for("/mirror");
    let env = [("CLR_FASHION_MNIST_URL", base.as_str()), ("CLR_FASHION_MNIST_MD5", md5.as_str())];
    let cut = download(&data, &env);
    assert_eq!(cut.status.code(), Some(1), "{}", stderr(&cut));
    assert!(stderr(&cut).contains("run the same command again to resume"), "{}", stderr(&cut));
    let part = data.join("fashion-mnist/train-images-idx3-ubyte.gz.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 100, "the bytes received are kept");

    let done = download(&data, &env);
    assert!(done.status.success(), "{}", stderr(&done));
    assert!(stdout(&done).contains("Fashion-MNIST ready in"), "{}", stdout(&done));
    let requests = server.requests();
    assert_eq!(requests.len(), 5, "{requests:?}");
    assert_eq!(requests[1].range.as_deref(), Some("bytes=100-"), "resumed where it stopped");
    assert_eq!(requests[1].path, "/mirror/train-images-idx3-ubyte.gz");
    assert!(!part.exists());
    let again = download(&data, &env);
    assert!(stdout(&again).contains("already present"), "{}", stdout(&again));
    assert_eq!(server.requests().len(), 5);

    let out = tmp.path().join("run");
    let (d, o) = (data.display().to_string(), out.display().to_string());
    let args = ["--dataset", "fashion-mnist", "--data-dir", &d, "--no-download", "--out", &o];
    let trained = Cmd::tiny("train").args(args).args(ONE_FIXED_EPOCH).ok();
    assert!(stderr(&trained).contains("Fashion-MNIST in"), "{}", stderr(&trained));
    let steps: Vec<StepRow> = read_rows(&out.join("steps.csv")).unwrap();
    assert_eq!(steps.len(), 4, "128 images at batch 32");
    let config = read_json(&out.join("config.json"));
    assert_eq!(config["class_names"][0], "T-shirt/top");
    assert_eq!(config["class_names"][9], "Ankle boot");
    let summary = read_json(&out.join("summary.json"));
    assert!(summary["data"].as_str().is_some_and(|s| s.starts_with("Fashion-MNIST in")), "{summary}");
}

#[test]
fn a_wrong_checksum_keeps_nothing_and_missing_files_say_how_to_get_them() {
    let (server, md5) = mirror(Behaviour::default());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let base = server.url_for("/mirror/");
    let wrong = md5.replacen(&md5[..32], &"0".repeat(32), 1);
    let out = download(&data, &[("CLR_FASHION_MNIST_URL", &base), ("CLR_FASHION_MNIST_MD5", &wrong)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("checksum mismatch") && stderr(&out).contains("CLR_FASHION_MNIST_MD5"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(data.join("fashion-mnist")).unwrap().count(), 0, "nothing half-written kept");
    let three = md5.rsplit_once(',').unwrap().0.to_string();
    let out = download(&data, &[("CLR_FASHION_MNIST_URL", &base), ("CLR_FASHION_MNIST_MD5", &three)]);
    assert!(one_line_error(&out, 2).contains("needs 4 comma-separated MD5 checksums"));
    let d = data.display().to_string();
    let out =
        Cmd::tiny("train").args(["--dataset", "mnist", "--data-dir", &d, "--no-download"]).args(ONE_FIXED_EPOCH).run();
    let err = one_line_error(&out, 2);
    assert!(err.contains("no MNIST files") && err.contains("clr download") && err.contains("--dataset mnist"), "{err}");
}

#[test]
fn files_in_the_data_folder_itself_train_as_they_are_at_28_pixels_too() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("idx");
    write_idx(&data, 64, 20, 4);
    let before = std::fs::read_dir(&data).unwrap().count();
    let out = tmp.path().join("run");
    let (d, o) = (data.display().to_string(), out.display().to_string());
    let args = ["--dataset", "mnist", "--data-dir", &d, "--image-size", "28", "--out", &o];
    Cmd::tiny("train").args(args).args(ONE_FIXED_EPOCH).ok();
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), before, "nothing written beside the files");
    assert_eq!(read_json(&out.join("config.json"))["class_names"][3], "3");
    let ck = out.join("checkpoint.pt").display().to_string();
    // eval takes the checkpoint's image size; another one is refused before any data is read.
    let eval = common::ok(&["eval", "--checkpoint", &ck, "--dataset", "mnist", "--data-dir", &d, "--device", "cpu"]);
    assert!(stdout(&eval).contains("(20 test images, MNIST in"), "{}", stdout(&eval));
    let out = common::run(&["eval", "--checkpoint", &ck, "--dataset", "mnist", "--data-dir", &d, "--image-size", "32"]);
    assert!(one_line_error(&out, 2).contains("learned from 28x28 images"));
}

/// `clr predict` with a network trained on IDX images: 28×28 PNG files of the test images are
/// padded to 32 as the IDX files were, so its top-1 accuracy over them is `clr eval`'s.
#[test]
fn predict_prepares_image_files_as_the_idx_images_were() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("idx");
    let (train, test, seed) = (256, 40, 6);
    write_idx(&data, train, test, seed);
    let out = tmp.path().join("run");
    let (d, o) = (data.display().to_string(), out.display().to_string());
    let args = ["--dataset", "mnist", "--data-dir", &d, "--out", &o, "--epochs", "8", "--base-lr", "0.1"];
    Cmd::tiny("train").args(ONE_FIXED_EPOCH).args(args).ok();
    let ck = out.join("checkpoint.pt").display().to_string();
    let eval = common::ok(&["eval", "--checkpoint", &ck, "--dataset", "mnist", "--data-dir", &d, "--device", "cpu"]);
    let eval_acc: f64 = stdout(&eval).split_whitespace().nth(1).unwrap().parse().unwrap();

    // The test images as idx_files made them (the red plane as grey), one PNG each.
    let (_, test_split) = clr::data::synthetic::learnable_sized(train, test, 10, 28, seed);
    let mut files = Vec::new();
    for (i, image) in test_split.images.chunks_exact(3 * 784).enumerate() {
        let path = tmp.path().join(format!("{i:02}.png"));
        image::GrayImage::from_raw(28, 28, image[..784].to_vec()).unwrap().save(&path).unwrap();
        files.push(path.display().to_string());
    }
    let mut predict = vec!["predict", "--checkpoint", &ck, "--top-k", "1", "--device", "cpu"];
    predict.extend(files.iter().map(String::as_str));
    let predicted = stdout(&common::ok(&predict));
    let top: Vec<&str> = predicted.lines().map(|l| l.split(": ").nth(1).unwrap().split(" (").next().unwrap()).collect();
    assert_eq!(top.len(), test);
    let correct = top.iter().zip(&test_split.labels).filter(|(name, &label)| **name == label.to_string()).count();
    assert!(eval_acc > 0.3, "the network learned something: {eval_acc}");
    assert_eq!(format!("{:.4}", correct as f64 / test as f64), format!("{eval_acc:.4}"), "predict and eval agree");
}
