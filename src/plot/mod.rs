//! PNG plots of a run: the LR range test, the training curves and a schedule preview; and the
//! comparison of several runs (`clr compare`). `run.rs` redraws the plots of a run folder from its
//! files (`clr plot RUN_DIR`, and every run at its end); the other files draw from rows.
//!
//! Drawn with plotters' bitmap backend and written atomically (temporary file, then rename), so
//! a plot is either the old file or the complete new one. Text uses DejaVu Sans embedded in the
//! binary (the `dejavu` crate): no system fonts or fontconfig needed.

mod compare;
mod curves;
mod grid;
mod lr_find;
mod run;
mod sweep;
#[cfg(test)]
mod tests;

pub use compare::{compare_png, RunCurves, COMPARE_SIZE};
pub use curves::{curves_png, schedule_png};
pub use grid::grid_png;
pub use lr_find::range_test_png;
pub use run::{plot_grid, plot_run, plot_sweep};
pub use sweep::{sweep_png, SweepCurve};

use anyhow::{Context, Result};
use image::ImageEncoder;
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;
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
