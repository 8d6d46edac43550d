//! `--dataset folder` as a user runs it: train on a folder of PNG and JPEG files (decoded once into
//! a cache), evaluate and predict with the checkpoint, and every kind of bad folder or image.

mod common;

use clr::records::{read_rows, StepRow};
use common::images::write_folder;
use common::{one_line_error, read_json, run, stderr, stdout, Cmd, ONE_FIXED_EPOCH};
use image::{GrayImage, Luma, Rgba, RgbaImage};
use std::path::{Path, PathBuf};

const CLASSES: [&str; 3] = ["cat", "dog", "fox"];

/// A tiny training run on the image folder `dir` into `out`, images resized to 16×16.
fn train(dir: &Path, out: &Path) -> Cmd {
    let (d, o) = (dir.display().to_string(), out.display().to_string());
    Cmd::tiny("train")
        .args(["--dataset", "folder", "--data-dir", &d, "--image-size", "16", "--out", &o])
        .args(ONE_FIXED_EPOCH)
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn train_eval_and_predict_on_an_image_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pets");
    let [_, test_files] = write_folder(&dir, &CLASSES, 96, 30, 20, 5);
    std::fs::write(dir.join("train/dog/broken.png"), b"not a png").unwrap();
    GrayImage::from_pixel(20, 20, Luma([90])).save(dir.join("train/cat/grey.png")).unwrap();
    RgbaImage::from_pixel(24, 20, Rgba([9, 8, 7, 100])).save(dir.join("train/fox/alpha.png")).unwrap();
    let out = tmp.path().join("run");
    let trained = train(&dir, &out).ok();
    let err = stderr(&trained);
    for part in
        ["decoding 129 images", "warning: skipping", "broken.png", "1 unreadable images skipped", "1 grey and 1 RGBA"]
    {
        assert!(err.contains(part), "{part} missing from:\n{err}");
    }
    assert_eq!(err.matches("converted to RGB").count(), 1, "said once:\n{err}");
    let config = read_json(&out.join("config.json"));
    assert_eq!(config["class_names"], serde_json::json!(CLASSES));
    assert_eq!((config["dataset"].as_str(), config["image_size"].as_u64()), (Some("folder"), Some(16)));
    let steps: Vec<StepRow> = read_rows(&out.join("steps.csv")).unwrap();
    assert_eq!(steps.len(), 98usize.div_ceil(32), "every decodable training image, once");

    // eval reads the same cache (nothing is decoded again) and normalises as the run did.
    let ck = path_str(&out.join("checkpoint.pt"));
    let eval = common::ok(&[
        "eval",
        "--checkpoint",
        &ck,
        "--dataset",
        "folder",
        "--data-dir",
        &path_str(&dir),
        "--image-size",
        "16",
        "--device",
        "cpu",
    ]);
    assert!(!stderr(&eval).contains("decoding"), "{}", stderr(&eval));
    let line = stdout(&eval);
    assert!(line.contains("(30 test images, image folder"), "{line}");
    let eval_acc: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();

    // predict decodes the files as the cache did: its top-1 over the test files is eval's accuracy.
    let mut args = vec![
        "predict".to_string(),
        "--checkpoint".into(),
        ck.clone(),
        "--top-k".into(),
        "2".into(),
        "--device".into(),
        "cpu".into(),
    ];
    args.extend(test_files.iter().map(|p| path_str(p)));
    let predicted = common::ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let lines: Vec<String> = stdout(&predicted).lines().map(String::from).collect();
    assert_eq!(lines.len(), 30);
    let mut correct = 0;
    for (line, file) in lines.iter().zip(&test_files) {
        let (path, ranked) = line.split_once(": ").unwrap();
        assert_eq!(path, path_str(file));
        let classes: Vec<(&str, f64)> = ranked
            .split(", ")
            .map(|c| {
                let (name, p) = c.rsplit_once(" (").unwrap();
                (name, p.trim_end_matches(')').parse().unwrap())
            })
            .collect();
        assert_eq!(classes.len(), 2, "{line}");
        assert!(classes.iter().all(|(n, _)| CLASSES.contains(n)) && classes[0].1 >= classes[1].1, "{line}");
        assert!(classes[0].1 + classes[1].1 <= 1.001, "{line}");
        let truth = file.parent().unwrap().file_name().unwrap().to_str().unwrap();
        correct += (classes[0].0 == truth) as usize;
    }
    assert_eq!(format!("{:.4}", correct as f64 / 30.0), format!("{eval_acc:.4}"), "predict and eval agree");

    // What the model sees cannot change on --resume (where the cache goes can).
    let run_dir = path_str(&out);
    for flag in [["--image-size", "20"], ["--valid-fraction", "0.2"]] {
        let line = one_line_error(&run(&["train", "--resume", &run_dir, flag[0], flag[1]]), 2);
        assert!(line.contains(&format!("{} cannot change it", flag[0])) && line.contains("--cache-dir"), "{line}");
    }

    // Bad images for predict: a missing file is a usage error, a corrupt one names itself.
    let err = one_line_error(&run(&["predict", "--checkpoint", &ck, "nowhere.png"]), 2);
    assert!(err.contains("nowhere.png: no such image file"), "{err}");
    let broken = path_str(&dir.join("train/dog/broken.png"));
    let out = run(&["predict", "--checkpoint", &ck, "--device", "cpu", &broken]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot decode") && stderr(&out).contains("broken.png"), "{}", stderr(&out));
}

/// Train on `dir` and insist on exit `code` with `parts` in the message, and no training.
fn refused(dir: &Path, extra: &[&str], code: i32, parts: &[&str]) -> String {
    let out_dir = dir.with_extension("run");
    let out = train(dir, &out_dir).args(extra).run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for part in parts {
        assert!(err.contains(part), "{part} missing from:\n{err}");
    }
    assert!(!err.contains("panicked") && !out_dir.join("steps.csv").exists(), "{err}");
    err
}

#[test]
fn bad_folders_and_images_are_clear_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = |name: &str| -> PathBuf {
        let dir = tmp.path().join(name);
        write_folder(&dir, &CLASSES[..2], 16, 6, 16, 9);
        dir
    };
    let dir = fresh("empty-class");
    std::fs::create_dir_all(dir.join("train/eel")).unwrap();
    std::fs::create_dir_all(dir.join("test/eel")).unwrap();
    refused(&dir, &[], 1, &["train/eel: an empty class folder"]);

    let dir = fresh("other-classes");
    std::fs::rename(dir.join("test/dog"), dir.join("test/doge")).unwrap();
    refused(&dir, &[], 1, &["classes of train/ and test/ differ", "only in train/: [dog]", "only in test/: [doge]"]);

    let dir = fresh("no-test");
    std::fs::remove_dir_all(dir.join("test")).unwrap();
    let err = refused(&dir, &[], 2, &["--valid-fraction"]);
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let dir = fresh("sizes");
    GrayImage::new(12, 12).save(dir.join("train/cat/small.png")).unwrap();
    let err = refused(&dir, &["--image-size", "auto"], 2, &["--image-size"]);
    assert!(err.contains("invalid value 'auto'"), "{err}");
    let d = path_str(&dir);
    let out = Cmd::tiny("train").args(["--dataset", "folder", "--data-dir", &d]).args(ONE_FIXED_EPOCH).run();
    assert!(one_line_error(&out, 2).contains("differ in size"));

    // The images' own size (16 px, no --image-size) is too small for LeNet-5: refused before the
    // run folder exists, not by libtorch in the middle of the first step.
    let dir = fresh("too-small");
    let run_dir = dir.with_extension("run");
    let (d, o) = (path_str(&dir), path_str(&run_dir));
    let out = Cmd::new("train")
        .args(["--dataset", "folder", "--data-dir", &d, "--arch", "lenet5", "--out", &o, "--device", "cpu"])
        .args(ONE_FIXED_EPOCH)
        .run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--arch lenet5 needs images of at least 32 px, got 16 px"), "{err}");
    assert!(!run_dir.exists(), "a refused run leaves no folder");

    let dir = fresh("strict");
    std::fs::write(dir.join("test/cat/zz.jpg"), b"\xff\xd8\xff garbage").unwrap();
    refused(&dir, &["--strict"], 1, &["test/cat/zz.jpg", "--strict"]);
    let cache = dir.join(".clr-cache");
    assert_eq!(std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0), 0, "no cache, half-written or whole");

    let err = one_line_error(&Cmd::tiny("train").args(["--valid-fraction", "0.1"]).run(), 2);
    assert!(err.contains("--valid-fraction (valid_fraction) needs --dataset folder"), "{err}");
    let err = one_line_error(&run(&["download", "--dataset", "folder"]), 2);
    assert!(err.contains("nothing to download"), "{err}");
}

/// `clr grid` and `clr range-test` start through the same session as `train`: on an image folder,
/// each run's config.json names the classes (the cache is built once, then reused).
#[test]
fn grid_and_range_test_run_on_an_image_folder_and_name_its_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pets");
    write_folder(&dir, &CLASSES, 48, 12, 20, 7);
    let (d, grid, rt) = (path_str(&dir), tmp.path().join("grid"), tmp.path().join("rt"));
    let data = ["--dataset", "folder", "--data-dir", &d, "--image-size", "16"];
    let args = ["--phases", "1,1,0", "--max-lrs", "0.05,0.2"];
    Cmd::tiny("grid").args(data).args(args).out(&grid).ok();
    for run in ["lr=0.05", "lr=0.2"] {
        assert_eq!(read_json(&grid.join(run).join("config.json"))["class_names"], serde_json::json!(CLASSES));
    }
    Cmd::tiny("range-test").args(data).args(["--iters", "20"]).out(&rt).ok();
    assert_eq!(read_json(&rt.join("config.json"))["class_names"], serde_json::json!(CLASSES));
}
