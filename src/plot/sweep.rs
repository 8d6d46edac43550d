//! `sweep.png`: the smoothed loss of every range test of a sweep against LR on one log axis, one
//! colour per value, each curve's lowest point (a dot) and suggested LR (a triangle on the curve,
//! by the range test's rule) marked, the favoured value drawn thicker and named in the legend.

use super::lr_find::{clip_above, log_lr_chart, LogLrChart};
use super::{
    draw_legend, finite_min_max, finite_points, fmt_value, legend_fraction, pad_linear, pad_log, place_legend,
    render_png, swatch, Root, FONT, TITLE_PX,
};
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

/// One value's curve: `(lr, smoothed loss)` points and what to mark on it.
pub struct SweepCurve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// `(lr_at_min_loss, min_loss)`.
    pub lowest: Option<(f64, f64)>,
    pub suggested_lr: Option<f64>,
    pub favoured: bool,
}

/// Draw `sweep.png`. The loss axis stops at the larger of 1.25 × the highest first loss and
/// 4 × the lowest loss (as `range_test.png`): the blow-ups run off the top.
/// `marks`: LRs drawn as dashed vertical lines across the chart, named in the legend (the
/// combined pick of `--repeats`).
pub fn sweep_png(path: &Path, curves: &[SweepCurve], marks: &[(String, f64)], title: &str) -> Result<()> {
    render_png(path, (1200, 800), |root| draw(root, curves, marks, title))
}

fn draw(root: &Root<'_>, curves: &[SweepCurve], marks: &[(String, f64)], title: &str) -> Result<()> {
    let marks: Vec<&(String, f64)> = marks.iter().filter(|(_, lr)| lr.is_finite() && *lr > 0.0).collect();
    let curves: Vec<(&SweepCurve, Vec<(f64, f64)>)> = curves
        .iter()
        .map(|c| (c, finite_points(c.points.iter().copied()).into_iter().filter(|p| p.0 > 0.0).collect()))
        .collect();
    let lrs = curves.iter().flat_map(|(c, pts)| pts.iter().map(|p| p.0).chain(c.suggested_lr));
    let lrs = lrs.chain(marks.iter().map(|m| m.1));
    let (x0, x1) = finite_min_max(lrs.filter(|lr| *lr > 0.0)).map(|(lo, hi)| pad_log(lo, hi)).unwrap_or((1e-4, 10.0));
    let (y0, top) = loss_axis(&curves).unwrap_or((0.0, 1.0));
    let listed = listed(curves.iter().map(|(c, _)| *c));
    let labels: Vec<Option<String>> =
        curves.iter().zip(&listed).map(|((c, _), &l)| l.then(|| legend_label(c))).collect();
    let more = more_row(curves.len());
    let legend_rows = labels.iter().flatten().chain(&more).map(String::as_str);
    let legend_rows = legend_rows.chain(["lowest point", "suggested LR"]).chain(marks.iter().map(|m| m.0.as_str()));
    let frac = |(lr, loss): (f64, f64)| ((lr / x0).ln() / (x1 / x0).ln(), (loss - y0) / (top - y0));
    let lines: Vec<Vec<(f64, f64)>> =
        curves.iter().map(|(_, pts)| pts.iter().filter(|p| p.1 <= top).map(|&p| frac(p)).collect()).collect();
    let (corner, headroom) = place_legend(&lines, legend_fraction(legend_rows, (1050, 650)));
    let y1 = top + headroom * (top - y0);

    let area = root.titled(title, (FONT, TITLE_PX).into_font().style(FontStyle::Bold))?;
    let mut chart = log_lr_chart(&area, (x0, x1), (y0, y1), "smoothed loss")?;
    let colour = |i: usize| super::PALETTE[i % super::PALETTE.len()];
    let style = |i: usize| colour(i).stroke_width(if curves[i].0.favoured { 5 } else { 2 });
    for (i, label) in labels.iter().enumerate().filter_map(|(i, l)| Some((i, l.as_ref()?))) {
        chart.draw_series(LineSeries::new(std::iter::empty(), style(i)))?.label(label).legend(swatch(style(i)));
    }
    if let Some(more) = &more {
        let none = |(x, y): (i32, i32)| EmptyElement::at((x, y));
        chart.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?.label(more).legend(none);
    }
    // The favoured curve last, on top, then every curve's marks above all the lines.
    let mut order: Vec<usize> = (0..curves.len()).collect();
    order.sort_by_key(|&i| curves[i].0.favoured);
    for &i in &order {
        for piece in clip_above(&curves[i].1, top) {
            chart.draw_series(LineSeries::new(piece, style(i)))?;
        }
    }
    for &i in &order {
        draw_marks(&mut chart, curves[i].0, &curves[i].1, colour(i), (y0, top))?;
    }
    draw_lines_and_keys(&mut chart, &marks, (y0, top))?;
    draw_legend(&mut chart, corner)
}

/// The dashed lines of `marks` from `y.0` to `y.1`, and the legend entries for them and for the
/// curves' two marks (drawn in black).
fn draw_lines_and_keys(chart: &mut Chart<'_, '_>, marks: &[&(String, f64)], y: (f64, f64)) -> Result<()> {
    for (name, lr) in marks {
        let style = BLACK.stroke_width(3);
        chart
            .draw_series(DashedLineSeries::new([(*lr, y.0), (*lr, y.1)], 12, 6, style))?
            .label(name)
            .legend(swatch(style));
    }
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
        .label("lowest point")
        .legend(|(x, y)| Circle::new((x + 12, y), 6, BLACK.filled()));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
        .label("suggested LR")
        .legend(|(x, y)| TriangleMarker::new((x + 12, y), 8, BLACK.filled()));
    Ok(())
}

type Chart<'a, 'b> = LogLrChart<'a, 'b>;

/// The dot at the curve's lowest point and the triangle at its suggested LR (on the curve where
/// it was tested, else on the bottom of the chart), both outlined in black.
fn draw_marks(
    chart: &mut Chart<'_, '_>,
    c: &SweepCurve,
    pts: &[(f64, f64)],
    colour: RGBColor,
    y: (f64, f64),
) -> Result<()> {
    if let Some(p) = c.lowest.filter(|p| p.1 <= y.1) {
        chart.draw_series([Circle::new(p, 7, colour.filled()), Circle::new(p, 7, BLACK.stroke_width(1))])?;
    }
    if let Some(lr) = c.suggested_lr.filter(|lr| *lr > 0.0) {
        let at = (lr, loss_at(pts, lr).unwrap_or(y.0).min(y.1));
        // A triangle marker is always filled: a black one under a smaller coloured one.
        chart
            .draw_series([TriangleMarker::new(at, 11, BLACK.filled()), TriangleMarker::new(at, 8, colour.filled())])?;
    }
    Ok(())
}

/// The values the legend names: all of up to [`LEGEND_VALUES`]; of more, the favoured and those
/// with the lowest losses (a legend of 50 ran off the chart, and its colours repeat anyway).
const LEGEND_VALUES: usize = 10;

/// Whether each curve, in order, has its line in the legend.
fn listed<'c>(curves: impl Iterator<Item = &'c SweepCurve>) -> Vec<bool> {
    let curves: Vec<&SweepCurve> = curves.collect();
    if curves.len() <= LEGEND_VALUES {
        return vec![true; curves.len()];
    }
    let loss = |c: &SweepCurve| c.lowest.map_or(f64::INFINITY, |p| p.1);
    let mut order: Vec<usize> = (0..curves.len()).collect();
    order.sort_by(|&a, &b| {
        curves[b].favoured.cmp(&curves[a].favoured).then(loss(curves[a]).total_cmp(&loss(curves[b])))
    });
    let mut listed = vec![false; curves.len()];
    order.into_iter().take(LEGEND_VALUES - 1).for_each(|i| listed[i] = true);
    listed
}

/// The legend's last value row when some are left out: `… 41 more values (sweep.csv)`.
fn more_row(curves: usize) -> Option<String> {
    (curves > LEGEND_VALUES)
        .then(|| format!("… {} more values, the lowest losses listed (sweep.csv)", curves - LEGEND_VALUES + 1))
}

/// `weight-decay=1e-4: lowest 1.234 at 0.12, suggested 0.012 (favoured)`.
fn legend_label(c: &SweepCurve) -> String {
    let mut label = c.label.clone();
    if let Some((lr, loss)) = c.lowest {
        label += &format!(": lowest {loss:.3} at {}", fmt_value(lr));
    }
    if let Some(lr) = c.suggested_lr {
        label += &format!(", suggested {}", fmt_value(lr));
    }
    if c.favoured {
        label += " (favoured)";
    }
    label
}

/// The smoothed loss at `lr`, interpolated in log10(lr) between the recorded points.
fn loss_at(points: &[(f64, f64)], lr: f64) -> Option<f64> {
    let i = points.windows(2).position(|w| w[0].0 <= lr && lr <= w[1].0)?;
    let ((xa, ya), (xb, yb)) = (points[i], points[i + 1]);
    let t = (lr / xa).ln() / (xb / xa).ln();
    Some(if t.is_finite() { ya + t * (yb - ya) } else { ya })
}

/// Bottom and top of the loss axis over every curve.
fn loss_axis(curves: &[(&SweepCurve, Vec<(f64, f64)>)]) -> Option<(f64, f64)> {
    let (lo, hi) = finite_min_max(curves.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.1)))?;
    let first = curves.iter().filter_map(|(_, pts)| pts.first().map(|p| p.1)).fold(lo, f64::max);
    let cap = (1.25 * first).max(4.0 * lo);
    Some(pad_linear(lo, hi.min(cap)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suggestion_sits_on_the_curve() {
        let pts = [(1e-3, 2.0), (1e-2, 1.0), (1e-1, 3.0)];
        assert_eq!(loss_at(&pts, 1e-3), Some(2.0));
        assert!((loss_at(&pts, 10f64.powf(-2.5)).unwrap() - 1.5).abs() < 1e-12, "halfway in log lr");
        assert_eq!(loss_at(&pts, 1e-4), None, "below the tested range");
        let c = SweepCurve {
            label: "momentum=0.9".into(),
            points: pts.to_vec(),
            lowest: Some((1e-2, 1.0)),
            suggested_lr: Some(1e-3),
            favoured: true,
        };
        assert_eq!(legend_label(&c), "momentum=0.9: lowest 1.000 at 0.0100, suggested 0.00100 (favoured)");
    }

    #[test]
    fn a_legend_of_many_values_names_the_favoured_and_the_lowest_and_fits() {
        // 50 values: a legend of 50 rows ran off the 800-pixel chart.
        let curve = |i: usize| SweepCurve {
            label: format!("weight-decay={i}e-5"),
            points: vec![(1e-3, 2.0), (1e-1, 1.0 + i as f64 / 100.0), (1.0, 3.0)],
            lowest: Some((1e-1, 1.0 + ((i * 7) % 50) as f64 / 100.0)),
            suggested_lr: Some(1e-2),
            favoured: i == 42,
        };
        let curves: Vec<SweepCurve> = (0..50).map(curve).collect();
        let listed = listed(curves.iter());
        let names: Vec<usize> = (0..50).filter(|&i| listed[i]).collect();
        // The favoured, then the eight lowest losses (i * 7 % 50 is 0, 1, … 7 once each).
        let want: Vec<usize> = (0..50).filter(|&i| i == 42 || (i * 7) % 50 < 8).collect();
        assert_eq!(names, want);
        let rows: Vec<String> =
            curves.iter().zip(&listed).filter(|(_, &l)| l).map(|(c, _)| legend_label(c)).chain(more_row(50)).collect();
        assert_eq!(rows.len(), 10);
        assert!(rows[9].starts_with("… 41 more values"), "{}", rows[9]);
        let (_, h) = super::super::legend_fraction(rows.iter().map(String::as_str).chain(["a", "b"]), (1050, 650));
        assert!(h < 0.7, "the legend is {h} of the chart's height");
        let dir = tempfile::tempdir().unwrap();
        sweep_png(&dir.path().join("sweep.png"), &curves, &[("median".into(), 0.05)], "fifty").unwrap();
    }
}
