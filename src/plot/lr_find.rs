//! `range_test.png`: loss against learning rate on a log axis, with the proposed LRs marked.

use super::{
    draw_legend, finite_min_max, finite_points, fmt_value, legend_fraction, pad_linear, pad_log, place_legend,
    render_png, swatch, Root, AXIS_PX, FONT, TICK_PX, TITLE_PX,
};
use crate::records::LrFindRow;
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

const RAW: RGBColor = RGBColor(31, 119, 180);
/// Raw loss: a solid light shade, so thousands of overlapping segments do not add up to dark.
const RAW_LIGHT: RGBColor = RGBColor(160, 190, 225);
/// One colour per mark, in the order given (cycled beyond seven).
pub(super) const MARK_COLOURS: [RGBColor; 7] = [
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Draw `range_test.png`: raw loss (thin, light) and smoothed loss (bold) against LR on a log10
/// axis, a dashed vertical line per mark (named, with its LR, in the legend), a title and a legend.
///
/// Non-finite losses and non-positive LRs are skipped. Once the loss explodes it can dwarf the
/// interesting part, so the loss axis stops at the larger of 1.25 × the first smoothed loss and
/// 4 × the lowest one; the exploding tail runs off the top of the chart.
pub fn range_test_png(path: &Path, rows: &[LrFindRow], marks: &[(String, f64)], title: &str) -> Result<()> {
    render_png(path, (1200, 800), |root| draw(root, rows, marks, title))
}

/// What the chart shows: the curves (clipped at the top of the loss axis), the marks, the axes'
/// ranges, the legend's labels and corner.
struct Layout<'m> {
    raw: Vec<Vec<(f64, f64)>>,
    smooth: Vec<Vec<(f64, f64)>>,
    marks: Vec<(&'m str, f64)>,
    labels: Vec<String>,
    x: (f64, f64),
    /// Bottom, top of the curves, top of the axis (with room for the legend).
    y: (f64, f64, f64),
    corner: SeriesLabelPosition,
}

impl<'m> Layout<'m> {
    fn new(rows: &[LrFindRow], marks: &'m [(String, f64)]) -> Layout<'m> {
        let on_log_axis =
            |points: Vec<(f64, f64)>| -> Vec<(f64, f64)> { points.into_iter().filter(|(lr, _)| *lr > 0.0).collect() };
        let raw = on_log_axis(finite_points(rows.iter().map(|r| (r.lr, r.loss))));
        let smooth = on_log_axis(finite_points(rows.iter().map(|r| (r.lr, r.smoothed_loss))));
        let marks: Vec<(&str, f64)> =
            marks.iter().filter(|(_, lr)| lr.is_finite() && *lr > 0.0).map(|(n, lr)| (n.as_str(), *lr)).collect();

        let lrs = raw.iter().chain(&smooth).map(|p| p.0).chain(marks.iter().map(|m| m.1));
        let (x0, x1) = finite_min_max(lrs).map(|(lo, hi)| pad_log(lo, hi)).unwrap_or((1e-4, 10.0));
        let (y0, top) = loss_axis(&raw, &smooth).unwrap_or((0.0, 1.0));
        let (raw, smooth) = (clip_above(&raw, top), clip_above(&smooth, top));

        // Legend where it hides the least: every line in fractions of the plot area.
        let mut labels = vec!["loss".to_string(), "smoothed loss".to_string()];
        labels.extend(marks.iter().map(|(name, lr)| format!("{name}: {}", fmt_value(*lr))));
        let frac = |(lr, loss): (f64, f64)| ((lr / x0).ln() / (x1 / x0).ln(), (loss - y0) / (top - y0));
        let mut lines: Vec<Vec<(f64, f64)>> =
            raw.iter().chain(&smooth).map(|l| l.iter().map(|&p| frac(p)).collect()).collect();
        lines.extend(marks.iter().map(|&(_, lr)| vec![frac((lr, y0)), frac((lr, top))]));
        // The plot area is about 1050×650 px (1200×800 less title, margins and labels).
        let legend = legend_fraction(labels.iter().map(String::as_str), (1050, 650));
        let (corner, headroom) = place_legend(&lines, legend);
        Layout { raw, smooth, marks, labels, x: (x0, x1), y: (y0, top, top + headroom * (top - y0)), corner }
    }
}

/// A chart of loss against LR on a log axis (labelled 10⁻³, 10⁻², …), its grid drawn.
pub(super) fn log_lr_chart<'a, 'b>(
    area: &'a Root<'b>,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    y_desc: &str,
) -> Result<LogLrChart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .margin_right(40)
        .x_label_area_size(70)
        .y_label_area_size(90)
        .build_cartesian_2d((x0..x1).log_scale(), y0..y1)?;
    chart
        .configure_mesh()
        .x_desc("learning rate (log scale)")
        .y_desc(y_desc)
        .axis_desc_style((FONT, AXIS_PX))
        .label_style((FONT, TICK_PX))
        .x_label_formatter(&|v| power_of_ten(*v))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    Ok(chart)
}

pub(super) type LogLrChart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::combinators::LogCoord<f64>, plotters::coord::types::RangedCoordf64>,
>;

fn draw(root: &Root<'_>, rows: &[LrFindRow], marks: &[(String, f64)], title: &str) -> Result<()> {
    let layout = Layout::new(rows, marks);
    let ((x0, x1), (y0, top, y1)) = (layout.x, layout.y);
    let area = root.titled(title, (FONT, TITLE_PX).into_font().style(FontStyle::Bold))?;
    let mut chart = log_lr_chart(&area, (x0, x1), (y0, y1), "loss")?;

    if layout.raw.is_empty() && layout.smooth.is_empty() {
        let centre = ((x0 * x1).sqrt(), (y0 + y1) / 2.0);
        chart.draw_series(std::iter::once(Text::new("no finite loss values", centre, (FONT, AXIS_PX))))?;
    }
    let styles = [RAW_LIGHT.stroke_width(1), RAW.stroke_width(3)];
    for ((pieces, style), label) in [&layout.raw, &layout.smooth].into_iter().zip(styles).zip(&layout.labels) {
        // The legend entry once, then the pieces of the (clipped) line.
        chart.draw_series(LineSeries::new(std::iter::empty(), style))?.label(label).legend(swatch(style));
        for piece in pieces {
            chart.draw_series(LineSeries::new(piece.iter().copied(), style))?;
            // A very short test (one step) has no line to show: dot its points.
            if piece.len() <= 30 {
                chart.draw_series(piece.iter().map(|&p| Circle::new(p, 4, style.filled())))?;
            }
        }
    }
    for (i, ((_, lr), label)) in layout.marks.iter().zip(&layout.labels[2..]).enumerate() {
        let style = MARK_COLOURS[i % MARK_COLOURS.len()].stroke_width(2);
        let line = DashedLineSeries::new([(*lr, y0), (*lr, top)], 10, 6, style);
        chart.draw_series(line)?.label(label).legend(swatch(style));
    }
    draw_legend(&mut chart, layout.corner)
}

/// A log-axis tick: 10⁻³ rather than 0.001 or 1e-3; 2×10⁻³ between powers of ten.
pub(super) fn power_of_ten(v: f64) -> String {
    let exponent = v.log10().floor();
    let mantissa = v / 10f64.powf(exponent);
    let (mantissa, exponent) = if mantissa > 9.95 { (1.0, exponent + 1.0) } else { (mantissa, exponent) };
    let sup: String = format!("{exponent:.0}")
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'][d.to_digit(10).unwrap_or(0) as usize],
        })
        .collect();
    if (mantissa - 1.0).abs() < 0.05 {
        format!("10{sup}")
    } else {
        format!("{mantissa:.0}×10{sup}")
    }
}

/// Split a line where it leaves the chart through the top: plotters would flatten the points
/// above onto the frame. Crossings are interpolated in log10(lr), as the axis draws them.
pub(super) fn clip_above(points: &[(f64, f64)], top: f64) -> Vec<Vec<(f64, f64)>> {
    let crossing = |(xa, ya): (f64, f64), (xb, yb): (f64, f64)| {
        let t = (top - ya) / (yb - ya);
        (xa * (xb / xa).powf(t), top)
    };
    let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, &p) in points.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| points[j]);
        match (prev, p.1 <= top) {
            (Some(q), true) if q.1 > top => current.push(crossing(q, p)),
            (Some(q), false) if q.1 <= top => {
                current.push(crossing(q, p));
                pieces.push(std::mem::take(&mut current));
            }
            _ => {}
        }
        if p.1 <= top {
            current.push(p);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// The loss axis: every finite loss, but capped (see [`range_test_png`]) so an explosion at the
/// end does not flatten the rest of the curve.
fn loss_axis(raw: &[(f64, f64)], smooth: &[(f64, f64)]) -> Option<(f64, f64)> {
    let (lo, hi) = finite_min_max(raw.iter().chain(smooth).map(|p| p.1))?;
    let reference = if smooth.is_empty() { raw } else { smooth };
    let first = reference.first().map_or(hi, |p| p.1);
    let lowest = finite_min_max(reference.iter().map(|p| p.1)).map_or(lo, |m| m.0);
    let cap = (1.25 * first).max(4.0 * lowest);
    let hi = if cap > lo { hi.min(cap) } else { hi };
    Some(pad_linear(lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_leaving_through_the_top_are_split_at_the_crossing() {
        let pts = [(1.0, 1.0), (10.0, 3.0), (100.0, 1.0), (1000.0, 1.5)];
        let pieces = clip_above(&pts, 2.0);
        assert_eq!(pieces.len(), 2);
        let root10 = 10f64.sqrt();
        assert_eq!(pieces[0], vec![(1.0, 1.0), (root10, 2.0)]);
        assert!((pieces[1][0].0 - 10.0 * root10).abs() < 1e-9 && pieces[1][0].1 == 2.0);
        assert_eq!(&pieces[1][1..], &[(100.0, 1.0), (1000.0, 1.5)]);
        assert_eq!(clip_above(&pts, 5.0), vec![pts.to_vec()]);
        assert!(clip_above(&[(1.0, 9.0)], 5.0).is_empty());
    }

    #[test]
    fn log_ticks_are_powers_of_ten() {
        assert_eq!(power_of_ten(1e-4), "10⁻⁴");
        assert_eq!(power_of_ten(1.0), "10⁰");
        assert_eq!(power_of_ten(10.0), "10¹");
        assert_eq!(power_of_ten(0.002), "2×10⁻³");
        assert_eq!(power_of_ten(0.09999999), "10⁻¹");
    }
}
