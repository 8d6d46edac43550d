//! `clr bench`: what it times and what it writes.

mod common;

use common::{read_json, Cmd};

#[test]
fn only_full_batches_inside_an_epoch_are_timed() {
    // 80 images at batch 32: epochs of 32, 32 and 16. The short batch and each epoch's first
    // (which draws and uploads the epoch's plan) run untimed; 4 timed steps are 4 full batches.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bench.json");
    Cmd::new("bench")
        .args(["--depth", "8", "--batch-size", "32", "--device", "cpu", "--threads", "1"])
        .args(["--synthetic-train", "80", "--synthetic-test", "40", "--steps", "4", "--warmup", "1"])
        .args(["--out", out.to_str().unwrap()])
        .ok();
    let report = read_json(&out);
    assert_eq!(report["timed_images"], 4 * 32, "{report}");
    assert_eq!(report["steps"], 4);
    assert_eq!(report["data"], "synthetic");
    let rate = report["train_images_per_sec"].as_f64().unwrap();
    let per_step = report["seconds_per_step"].as_f64().unwrap();
    assert!(rate > 0.0 && (rate * per_step - 32.0).abs() < 1e-6 * 32.0, "images/s × s/step = batch: {report}");
    assert!(report["peak_memory_kind"].as_str().unwrap().starts_with("cpu"));
    assert!(report["peak_memory_bytes"].as_u64().unwrap() > 0);
}
