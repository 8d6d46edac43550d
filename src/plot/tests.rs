use super::run::{range_test_marks, run_subtitle};
use super::*;
use crate::error::UsageError;
use crate::lr_finder::{LrFindRow, RangeTestReport, StopReason, Suggestion};
use crate::records::{EpochRow, RowWriter, ScheduleRow, StepRow};
use crate::run_dir::RunDir;
use image::RgbImage;
use std::collections::HashSet;

/// Deterministic noise in [-0.5, 0.5) (no rand dependency for tests).
fn noise(i: u64) -> f64 {
    // splitmix64
    let mut z = i.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

/// A range test as a CIFAR ResNet gives one: flat, falling, then exploding; 300 steps 1e-4 → 10.
fn range_rows() -> Vec<LrFindRow> {
    let (mut avg, beta) = (0.0, 0.98);
    (0..300u64)
        .map(|i| {
            let lr = 1e-4 * 1e5f64.powf(i as f64 / 299.0);
            let l = lr.log10();
            let loss = 2.3 - 1.1 / (1.0 + (-(l + 1.5) * 3.0).exp()) + ((l - 0.3) * 4.0).exp() + 0.15 * noise(i);
            avg = beta * avg + (1.0 - beta) * loss;
            LrFindRow { step: i, lr, loss, smoothed_loss: avg / (1.0 - beta.powi(i as i32 + 1)) }
        })
        .collect()
}

fn range_marks(rows: &[LrFindRow]) -> Vec<(String, f64)> {
    let min = rows.iter().min_by(|a, b| a.smoothed_loss.total_cmp(&b.smoothed_loss)).unwrap().lr;
    vec![("min loss".into(), min), ("suggested (min/10)".into(), min / 10.0), ("steepest".into(), 0.03)]
}

/// The reference one-cycle run: 95 epochs of 98 steps, LR 0.08→0.8→0.08→0.008, momentum 0.9.
fn one_cycle() -> (Vec<StepRow>, Vec<EpochRow>) {
    let per_epoch = 98u64;
    let lr_at = |e: f64| match e {
        e if e < 41.0 => 0.08 + (0.8 - 0.08) * e / 41.0,
        e if e < 82.0 => 0.8 - (0.8 - 0.08) * (e - 41.0) / 41.0,
        e => 0.08 - (0.08 - 0.008) * (e - 82.0) / 13.0,
    };
    let steps = (0..95 * per_epoch)
        .map(|s| {
            let e = s as f64 / per_epoch as f64;
            let loss = (0.05 + 2.2 * (-e / 12.0).exp()) * (1.0 + 0.6 * noise(s) * (0.5 + lr_at(e)));
            StepRow { step: s, epoch: s / per_epoch + 1, lr: lr_at(e), momentum: 0.9, loss }
        })
        .collect();
    let epochs = (1..=95u64)
        .map(|e| {
            let t = e as f64;
            let train_loss = 0.05 + 2.2 * (-t / 12.0).exp();
            let test_acc = 0.913 - 0.5 * (-t / 10.0).exp() - 0.03 * noise(e).abs() * (t < 82.0) as u8 as f64;
            EpochRow {
                epoch: e,
                lr: lr_at(t),
                train_loss,
                train_acc: (1.0 - train_loss / 2.5).min(0.99),
                test_loss: 0.3 + 1.9 * (-t / 10.0).exp() + 0.1 * noise(e + 7).abs(),
                test_acc,
                seconds: 30.0,
            }
        })
        .collect();
    (steps, epochs)
}

fn decode(path: &Path) -> RgbImage {
    // By content, not extension: `clr schedule --plot` accepts any file name.
    let reader = image::io::Reader::open(path).unwrap().with_guessed_format().unwrap();
    reader.decode().unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// Fraction of non-white pixels and number of distinct colours in a rectangle.
fn ink(img: &RgbImage, x: std::ops::Range<u32>, y: std::ops::Range<u32>) -> (f64, usize) {
    let (mut dark, mut total, mut colours) = (0usize, 0usize, HashSet::new());
    for yy in y {
        for xx in x.clone() {
            let p = img.get_pixel(xx, yy).0;
            total += 1;
            dark += (p != [255, 255, 255]) as usize;
            colours.insert(p);
        }
    }
    (dark as f64 / total as f64, colours.len())
}

fn assert_drawn(img: &RgbImage) {
    let (share, colours) = ink(img, 0..img.width(), 0..img.height());
    assert!(share > 0.02, "only {share} of the pixels are not white");
    assert!(colours > 50, "only {colours} colours");
    // The title (a bold line of text centred at the top) was drawn with the embedded font.
    let (title_ink, _) = ink(img, img.width() / 4..img.width() * 3 / 4, 0..40);
    assert!(title_ink > 0.01, "title area is blank");
}

fn count_colour(img: &RgbImage, rgb: [u8; 3]) -> usize {
    img.pixels().filter(|p| p.0 == rgb).count()
}

// Set CLR_PLOT_SAMPLES=DIR to keep the images these tests draw (to look at them).

#[test]
fn range_test_png_draws_curves_marks_and_title() {
    let dir = tempfile::tempdir().unwrap();
    let rows = range_rows();
    let (with, without) = (dir.path().join("with.png"), dir.path().join("without.png"));
    range_test_png(&with, &rows, &range_marks(&rows), "LR range test: ResNet-56").unwrap();
    range_test_png(&without, &rows, &[], "").unwrap();
    let (a, b) = (decode(&with), decode(&without));
    assert_eq!(a.dimensions(), (1200, 800));
    assert_drawn(&a);
    // The first mark's colour is only in the image with marks; the title only where given.
    assert!(count_colour(&a, [214, 39, 40]) > 200);
    assert_eq!(count_colour(&b, [214, 39, 40]), 0);
    assert_eq!(ink(&b, 300..900, 0..40).0, 0.0);
    // Only the target files are left: the temporary file was renamed into place.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    if let Ok(out) = std::env::var("CLR_PLOT_SAMPLES") {
        std::fs::copy(&with, Path::new(&out).join("sample_range_test.png")).unwrap();
    }
}

#[test]
fn curves_png_draws_all_four_panels() {
    let dir = tempfile::tempdir().unwrap();
    let (steps, epochs) = one_cycle();
    let path = dir.path().join("curves.png");
    curves_png(&path, &steps, &epochs, "Training: ResNet-56, one-cycle").unwrap();
    let img = decode(&path);
    assert_eq!(img.dimensions(), (1400, 1000));
    assert_drawn(&img);
    for (x, y) in [(0, 50), (700, 50), (0, 525), (700, 525)] {
        let (share, colours) = ink(&img, x..x + 700, y..y + 475);
        assert!(share > 0.02 && colours > 20, "panel at ({x}, {y}) looks empty: {share}, {colours}");
    }
    if let Ok(out) = std::env::var("CLR_PLOT_SAMPLES") {
        std::fs::copy(&path, Path::new(&out).join("sample_curves.png")).unwrap();
    }
}

#[test]
fn schedule_png_draws_lr_and_momentum() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<ScheduleRow> = (0..500u64)
        .map(|s| {
            let t = (s as f64 / 250.0 - 1.0).abs();
            ScheduleRow { step: s, epoch: s / 50 + 1, lr: 0.8 - 0.7 * t, momentum: 0.85 + 0.1 * t }
        })
        .collect();
    // No .png extension: the file is still a PNG (clr schedule --plot takes any name).
    let path = dir.path().join("schedule.out");
    schedule_png(&path, &rows, "one-cycle schedule").unwrap();
    let img = decode(&path);
    assert_eq!(img.dimensions(), (1200, 800));
    assert_drawn(&img);
    assert!(count_colour(&img, [255, 127, 14]) > 200, "momentum curve missing");
}

#[test]
fn degenerate_inputs_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let one = LrFindRow { step: 0, lr: 1e-3, loss: 2.3, smoothed_loss: 2.3 };
    let nan = LrFindRow { step: 1, lr: f64::NAN, loss: f64::NAN, smoothed_loss: f64::INFINITY };
    let zero_lr = LrFindRow { step: 2, lr: 0.0, loss: 1.0, smoothed_loss: 1.0 };
    let constant: Vec<LrFindRow> = (0..10).map(|i| LrFindRow { lr: 10f64.powi(i - 5), ..one.clone() }).collect();
    let marks = vec![("bad".to_string(), f64::NAN), ("neg".to_string(), -1.0), ("far".to_string(), 1e3)];
    range_test_png(&p("r1.png"), std::slice::from_ref(&one), &marks, "one row").unwrap();
    range_test_png(&p("r2.png"), &[one.clone(), nan.clone(), zero_lr], &[], "nan").unwrap();
    range_test_png(&p("r3.png"), &[nan], &marks, "all nan").unwrap();
    range_test_png(&p("r4.png"), &[], &[], "empty").unwrap();
    range_test_png(&p("r5.png"), &constant, &[], "constant").unwrap();

    let (steps, epochs) = one_cycle();
    let mut bad_step = steps[0].clone();
    bad_step.loss = f64::NAN;
    curves_png(&p("c1.png"), &steps[..50], &[], "stopped in epoch 1").unwrap();
    curves_png(&p("c2.png"), &[], &epochs[..1], "one epoch, no steps").unwrap();
    curves_png(&p("c3.png"), &[bad_step.clone()], &[], "nan step").unwrap();
    curves_png(&p("c4.png"), &[], &[], "nothing").unwrap();
    curves_png(&p("c5.png"), &[steps[0].clone(), bad_step], &epochs[..2], "two").unwrap();
    schedule_png(&p("s1.png"), &[ScheduleRow { step: 0, epoch: 1, lr: 0.1, momentum: 0.9 }], "one").unwrap();
    schedule_png(&p("s2.png"), &[], "none").unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let img = decode(&path);
        assert!(ink(&img, 0..img.width(), 0..img.height()).0 > 0.01);
        if let Ok(out) = std::env::var("CLR_PLOT_SAMPLES") {
            std::fs::copy(&path, Path::new(&out).join(format!("edge_{}", path.file_name().unwrap().to_string_lossy())))
                .unwrap();
        }
    }
}

#[test]
fn an_unwritable_target_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("x.png");
    assert!(range_test_png(&path, &range_rows(), &[], "t").is_err());
}

fn write_csv<T: crate::records::Row>(path: &Path, rows: &[T]) {
    let mut w = RowWriter::create::<T>(path).unwrap();
    for r in rows {
        w.write(r).unwrap();
    }
}

#[test]
fn plot_run_redraws_every_plot_with_its_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = range_rows();
    write_csv(&d.join("lr_find.csv"), &rows);
    // A report written before the floor rule: the seed's rule made its suggestion.
    let suggestion = Suggestion {
        lr_at_min_loss: 0.5,
        min_loss: 1.0,
        rule: crate::lr_finder::Rule::Seed,
        suggested_lr: 0.05,
        seed_lr: Some(0.05),
        floor_lr: None,
        floor_start_lr: None,
        floor_end_lr: None,
        steepest_lr: Some(0.03),
        valley_lr: None,
        max_lr: 0.05,
        base_lr: 0.005,
    };
    let report = RangeTestReport {
        suggestion,
        stopped_early: true,
        stop_reason: StopReason::Diverged,
        steps: 300,
        start_lr: 1e-4,
        end_lr: 10.0,
        mode: "exp".into(),
        smooth: 0.98,
        diverge: 4.0,
        iters: 300,
        repeats: None,
    };
    crate::files::write_json(&d.join("range_test.json"), &report).unwrap();
    let (steps, epochs) = one_cycle();
    write_csv(&d.join("steps.csv"), &steps[..500]);
    write_csv(&d.join("epochs.csv"), &epochs[..5]);
    std::fs::write(d.join("config.json"), r#"{"policy": "one-cycle", "depth": 56}"#).unwrap();

    let run = RunDir::new(d);
    let written = plot_run(&run).unwrap();
    assert_eq!(written, vec![d.join("range_test.png"), d.join("curves.png")]);
    for path in &written {
        assert_drawn(&decode(path));
    }
    // Three marks from the JSON (the suggestion, steepest and the lowest loss; no floor, valley
    // is null): three mark colours, not the fourth.
    let img = decode(&written[0]);
    assert!(count_colour(&img, [255, 127, 14]) > 100);
    assert_eq!(count_colour(&img, [148, 103, 189]), 0);
    assert_eq!(range_test_marks(&report).len(), 3);
    assert!(run_subtitle(&run, true).starts_with("ResNet-56, one-cycle ("));
    assert!(run_subtitle(&run, false).starts_with("ResNet-56 ("));
}

#[test]
fn plot_run_draws_curves_from_steps_alone_without_config() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("steps.csv"), &one_cycle().0[..30]);
    let run = RunDir::new(dir.path());
    assert_eq!(plot_run(&run).unwrap(), vec![dir.path().join("curves.png")]);
    let name = dir.path().file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(run_subtitle(&run, true), name);
}

#[test]
fn plot_run_rejects_an_empty_folder_and_a_file() {
    let dir = tempfile::tempdir().unwrap();
    for target in [dir.path().to_path_buf(), dir.path().join("steps.csv")] {
        let err = plot_run(&RunDir::new(&target)).unwrap_err();
        assert!(err.is::<UsageError>(), "{err}");
        assert!(err.to_string().contains(&target.display().to_string()), "{err}");
        std::fs::write(dir.path().join("steps.csv"), "").unwrap(); // a file, for the 2nd case
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| e.unwrap().file_name() == "steps.csv"));
}

#[test]
fn ranges_are_padded_and_never_empty() {
    assert_eq!(pad_linear(2.0, 2.0), (1.8, 2.2));
    assert_eq!(pad_linear(0.0, 0.0), (-1.0, 1.0));
    let (lo, hi) = pad_linear(0.0, 10.0);
    assert!(lo < 0.0 && hi > 10.0);
    assert_eq!(pad_log(1e-3, 1e-3), (5e-4, 2e-3));
    let (lo, hi) = pad_log(1e-4, 10.0);
    assert!(lo < 1e-4 && hi > 10.0 && lo > 0.0);
    assert_eq!(finite_min_max([f64::NAN, 3.0, f64::INFINITY, -1.0]), Some((-1.0, 3.0)));
    assert_eq!(finite_min_max([f64::NAN]), None);
}

#[test]
fn values_are_formatted_with_three_significant_digits() {
    assert_eq!(fmt_value(0.8), "0.800");
    assert_eq!(fmt_value(0.0123), "0.0123");
    assert_eq!(fmt_value(2.5), "2.50");
    assert_eq!(fmt_value(1.5e-4), "1.50e-4");
    assert_eq!(fmt_value(0.0), "0");
}

#[test]
fn the_legend_goes_to_the_emptiest_corner_or_above_the_curves() {
    let falling = vec![vec![(0.0, 1.0), (1.0, 0.0)]]; // upper left to lower right
    assert_eq!(place_legend(&falling, (0.3, 0.2)), (SeriesLabelPosition::UpperRight, 0.0));
    let rising = vec![vec![(0.0, 0.0), (1.0, 1.0)]];
    assert_eq!(place_legend(&rising, (0.3, 0.2)), (SeriesLabelPosition::UpperLeft, 0.0));
    let top = vec![vec![(0.0, 0.95), (1.0, 0.95)], vec![(0.9, 0.0), (0.9, 0.1)]];
    assert_eq!(place_legend(&top, (0.3, 0.2)), (SeriesLabelPosition::LowerLeft, 0.0));
    // A one-cycle triangle with ends in both lower corners: no corner is free, so the axis
    // grows by 0.25 / 0.75 of its span and the legend sits above the peak.
    let triangle = vec![vec![(0.0, 0.1), (0.5, 1.0), (1.0, 0.0)], vec![(0.0, 0.5), (1.0, 0.5)]];
    let (corner, headroom) = place_legend(&triangle, (0.4, 0.25));
    assert_eq!(corner, SeriesLabelPosition::UpperRight);
    assert!((headroom - 1.0 / 3.0).abs() < 1e-12, "{headroom}");
}
