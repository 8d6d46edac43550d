//! PNG plots of a run: the LR range test, the training curves and a schedule preview; and the
//! comparison of several runs (`clr compare`).
//!
//! Drawn with plotters' bitmap backend and written atomically (temporary file, then rename), so
//! a plot is either the old file or the complete new one. Text uses DejaVu Sans embedded in the
//! binary (the `dejavu` crate): no system fonts or fontconfig needed.

mod compare;
mod curves;
mod lr_find;
mod sweep;
#[cfg(test)]
mod tests;

pub use compare::{compare_png, RunCurves, COMPARE_SIZE};
pub use curves::{curves_png, schedule_png};
pub use lr_find::range_test_png;
pub use sweep::{sweep_png, SweepCurve};

use crate::error::UsageError;
use crate::lr_finder::SweepReport;
use crate::records::{read_rows, EpochRow, LrFindRow, StepRow};
use anyhow::{Context, Result};
use image::ImageEncoder;
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The drawing area every plot renders into.
pub(crate) type Root<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Font family name the charts ask for; DejaVu Sans is registered under it.
pub(crate) const FONT: &str = "sans-serif";
pub(crate) const TITLE_PX: u32 = 28;
pub(crate) const CAPTION_PX: u32 = 22;
pub(crate) const AXIS_PX: u32 = 18;
pub(crate) const TICK_PX: u32 = 16;

/// matplotlib's default colour cycle (Tableau 10): one colour per curve, cycled beyond ten.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Register DejaVu Sans once per process. plotters' ab_glyph backend only knows registered fonts.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        let regular = register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok();
        let bold = register_font(FONT, FontStyle::Bold, dejavu::sans::bold()).is_ok();
        regular && bold
    });
    anyhow::ensure!(ok, "cannot load the embedded DejaVu Sans font");
    Ok(())
}

/// Draw a `width`×`height` image with `draw` and write it to `path` as PNG, atomically (the
/// image is drawn and encoded in memory, then written through [`crate::files`]).
pub(crate) fn render_png<F>(path: &Path, size: (u32, u32), draw: F) -> Result<()>
where
    F: FnOnce(&Root<'_>) -> Result<()>,
{
    ensure_font()?;
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, size.0, size.1, image::ColorType::Rgb8)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    crate::files::write_bytes(path, &png).with_context(|| format!("cannot write {}", path.display()))
}

/// A legend's sample of a curve drawn in `style`.
pub(crate) fn swatch(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style)
}

/// The legend of a chart, in `corner`, in the one style every plot uses.
pub(crate) fn draw_legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>, corner: SeriesLabelPosition) -> Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(corner)
        .margin(12)
        .label_font((FONT, TICK_PX))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// `[lo, hi]` padded by 5 % on each side; a zero-width range (one point, a constant series) is
/// widened so that plotters gets a non-empty axis.
pub(crate) fn pad_linear(lo: f64, hi: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 1e-9 * lo.abs().max(hi.abs()) {
        (lo - 0.05 * span, hi + 0.05 * span)
    } else {
        let d = if lo.abs() > 0.0 { 0.1 * lo.abs() } else { 1.0 };
        (lo - d, hi + d)
    }
}

/// Like [`pad_linear`] in log space: `lo` and `hi` must be positive.
pub(crate) fn pad_log(lo: f64, hi: f64) -> (f64, f64) {
    let ratio = hi / lo;
    if ratio > 1.0 + 1e-9 {
        let f = ratio.powf(0.03);
        (lo / f, hi * f)
    } else {
        (lo / 2.0, hi * 2.0)
    }
}

/// Minimum and maximum of the finite values, if any.
pub(crate) fn finite_min_max(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// The points whose coordinates are both finite (plotters would draw NaN as garbage).
pub(crate) fn finite_points(points: impl IntoIterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    points.into_iter().filter(|(x, y)| x.is_finite() && y.is_finite()).collect()
}

/// A learning rate or momentum for a label: 3 significant digits, scientific when tiny or huge.
pub(crate) fn fmt_value(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 || v.abs() >= 1e4 {
        format!("{v:.2e}")
    } else {
        let decimals = (2 - v.abs().max(1e-3).log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    }
}

/// Where the legend goes, and how far to raise the top of the y axis (as a fraction of its span)
/// so that the legend clears the curves: the emptiest corner when one is empty, else the upper
/// right above curves squeezed into the lower part of the plot.
/// `lines` are polylines in fractions of the plotting area (x to the right, y up); `legend` is
/// the legend's size in the same fractions.
pub(crate) fn place_legend(lines: &[Vec<(f64, f64)>], legend: (f64, f64)) -> (SeriesLabelPosition, f64) {
    let (corner, hits) = quietest_corner(lines, legend);
    if hits == 0 {
        (corner, 0.0)
    } else {
        let h = legend.1.min(0.5);
        (SeriesLabelPosition::UpperRight, h / (1.0 - h))
    }
}

/// The corner that covers the fewest drawn points, and how many it covers. Segments are sampled
/// densely so that a steep line crossing a corner counts too.
fn quietest_corner(lines: &[Vec<(f64, f64)>], legend: (f64, f64)) -> (SeriesLabelPosition, usize) {
    let (w, h) = (legend.0.min(1.0), legend.1.min(1.0));
    // In order of preference when several corners are equally empty.
    let corners = [
        (SeriesLabelPosition::UpperRight, 1.0 - w, 1.0 - h),
        (SeriesLabelPosition::UpperLeft, 0.0, 1.0 - h),
        (SeriesLabelPosition::LowerRight, 1.0 - w, 0.0),
        (SeriesLabelPosition::LowerLeft, 0.0, 0.0),
    ];
    let mut hits = [0usize; 4];
    let mut count = |x: f64, y: f64| {
        for (i, (_, x0, y0)) in corners.iter().enumerate() {
            if x >= *x0 && x <= x0 + w && y >= *y0 && y <= y0 + h {
                hits[i] += 1;
            }
        }
    };
    for line in lines {
        for (i, &(x, y)) in line.iter().enumerate() {
            count(x, y);
            if let Some(&(x1, y1)) = line.get(i + 1) {
                let n = ((x1 - x).hypot(y1 - y) / 0.01).ceil().min(1000.0) as usize;
                for k in 1..n {
                    let t = k as f64 / n as f64;
                    count(x + t * (x1 - x), y + t * (y1 - y));
                }
            }
        }
    }
    let best = (0..4).min_by_key(|&i| hits[i]).unwrap_or(0);
    (corners[best].0.clone(), hits[best])
}

/// Legend size in fractions of a `plot` area (pixels) for these labels at [`TICK_PX`].
pub(crate) fn legend_fraction<'s>(labels: impl IntoIterator<Item = &'s str>, plot: (u32, u32)) -> (f64, f64) {
    let (mut n, mut chars) = (0usize, 0usize);
    for l in labels {
        n += 1;
        chars = chars.max(l.chars().count());
    }
    // Generous: swatch, padding and the 12 px margin from the frame; DejaVu averages ~0.6 em.
    let w = 60.0 + chars as f64 * 0.62 * TICK_PX as f64;
    let h = 30.0 + n as f64 * 1.5 * TICK_PX as f64;
    (w / plot.0.max(1) as f64, h / plot.1.max(1) as f64)
}

/// `clr plot RUN_DIR`: redraw every plot whose CSV is in `dir`; returns the files written.
pub fn plot_run(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(UsageError::new(format!("RUN_DIR {}: not a folder", dir.display())).into());
    }
    let mut written = Vec::new();

    let lr_find = dir.join("lr_find.csv");
    if lr_find.is_file() {
        let rows: Vec<LrFindRow> = read_rows(&lr_find)?;
        let marks = range_test_marks(&dir.join("range_test.json"))?;
        let out = dir.join("range_test.png");
        // No policy in this title: a range test's config.json carries the default one regardless.
        range_test_png(&out, &rows, &marks, &format!("LR range test: {}", run_subtitle(dir, false)))?;
        written.push(out);
    }

    let (steps_csv, epochs_csv) = (dir.join("steps.csv"), dir.join("epochs.csv"));
    if steps_csv.is_file() || epochs_csv.is_file() {
        let steps: Vec<StepRow> = if steps_csv.is_file() { read_rows(&steps_csv)? } else { Vec::new() };
        let epochs: Vec<EpochRow> = if epochs_csv.is_file() { read_rows(&epochs_csv)? } else { Vec::new() };
        let out = dir.join("curves.png");
        curves_png(&out, &steps, &epochs, &format!("Training: {}", run_subtitle(dir, true)))?;
        written.push(out);
    }

    if dir.join(SWEEP_JSON).is_file() {
        written.push(plot_sweep(dir)?);
    }

    if written.is_empty() {
        return Err(UsageError::new(format!(
            "RUN_DIR {}: nothing to plot (no lr_find.csv, steps.csv, epochs.csv or sweep.json)",
            dir.display()
        ))
        .into());
    }
    Ok(written)
}

/// A range-test sweep's report (written by `lr_finder`; read here to draw `sweep.png`).
const SWEEP_JSON: &str = "sweep.json";

/// Draw `DIR/sweep.png` from `DIR/sweep.json` and the `lr_find.csv` of each value's sub-folder
/// (a value whose folder has none is left out); returns the path written.
pub fn plot_sweep(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(SWEEP_JSON);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let report: SweepReport =
        serde_json::from_str(&text).with_context(|| format!("{}: not a sweep report", path.display()))?;
    let mut curves = Vec::new();
    for e in &report.results {
        let csv = dir.join(&e.label).join("lr_find.csv");
        if !csv.is_file() {
            continue;
        }
        let rows: Vec<LrFindRow> = read_rows(&csv)?;
        curves.push(SweepCurve {
            label: e.label.clone(),
            points: rows.iter().map(|r| (r.lr, r.smoothed_loss)).collect(),
            lowest: e.lr_at_min_loss.zip(e.min_loss),
            suggested_lr: e.suggested_lr,
            favoured: e.favoured,
        });
    }
    // Its tests share the depth (a sweep folder's own config.json is newer than some sweeps).
    let depth = report.results.iter().find_map(|e| {
        let text = std::fs::read_to_string(dir.join(&e.label).join("config.json")).ok()?;
        serde_json::from_str::<serde_json::Value>(&text).ok()?.get("depth")?.as_u64()
    });
    let net = depth.map_or(String::new(), |d| format!("ResNet-{d}, "));
    let title = format!("LR range tests over {}: {net}{}", report.param, run_subtitle(dir, false));
    let out = dir.join("sweep.png");
    sweep_png(&out, &curves, &title)?;
    Ok(out)
}

/// The marks of `range_test.json` (absent file: none; absent or null fields: skipped).
fn range_test_marks(path: &Path) -> Result<Vec<(String, f64)>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))?;
    let fields = [
        ("lr_at_min_loss", "lr at min loss"),
        ("suggested_lr", "suggested lr (/10)"),
        ("steepest_lr", "steepest lr"),
        ("valley_lr", "valley lr"),
    ];
    Ok(fields.iter().filter_map(|(field, name)| json.get(field)?.as_f64().map(|lr| (name.to_string(), lr))).collect())
}

/// "ResNet-56, one-cycle (run name)" from config.json when it has them, else the folder name.
fn run_subtitle(dir: &Path, with_policy: bool) -> String {
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    let config: Option<serde_json::Value> =
        std::fs::read_to_string(dir.join("config.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    let mut parts = Vec::new();
    if let Some(config) = &config {
        if let Some(depth) = config.get("depth").and_then(|d| d.as_u64()) {
            parts.push(format!("ResNet-{depth}"));
        }
        if let Some(policy) = config.get("policy").and_then(|p| p.as_str()).filter(|_| with_policy) {
            parts.push(policy.to_string());
        }
    }
    if parts.is_empty() {
        name
    } else {
        format!("{} ({name})", parts.join(", "))
    }
}
