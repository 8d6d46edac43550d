//! `grid.png`: the final test accuracy of each run of a `clr grid` against its `max_lr` on a log
//! axis (diverged runs as crosses at 0), the best run ringed, and, with a range test, a dashed
//! line at each rule's LR, its legend entry giving the rule's regret.

use super::lr_find::log_lr_chart;
use super::lr_find::MARK_COLOURS;
use super::{draw_legend, fmt_value, legend_fraction, pad_log, place_legend, render_png, swatch, Root};
use super::{FONT, PALETTE, TITLE_PX};
use crate::lr_finder::grid::{GridReport, GridStatus, RuleRegret};
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

/// Draw `grid.png` of `report`.
pub fn grid_png(path: &Path, report: &GridReport, title: &str) -> Result<()> {
    render_png(path, (1200, 800), |root| draw(root, report, title))
}

fn draw(root: &Root<'_>, report: &GridReport, title: &str) -> Result<()> {
    // Each value's mean over its seeds (with one seed, its run); the runs themselves as dots.
    let points: Vec<(f64, f64)> = report.points.iter().map(|p| (p.max_lr, p.accuracy)).collect();
    let runs: Vec<(f64, f64)> = report.runs.iter().filter_map(|r| Some((r.max_lr, r.accuracy()?))).collect();
    let marks: Vec<&RuleRegret> =
        report.range_test.iter().flat_map(|rt| rt.rules.iter()).filter(|r| r.lr.is_some_and(|lr| lr > 0.0)).collect();
    let lrs = report.values.iter().copied().chain(marks.iter().filter_map(|m| m.lr));
    let (lo, hi) = lrs.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (x0, x1) = if lo.is_finite() && hi > 0.0 { pad_log(lo, hi) } else { (1e-3, 10.0) };
    let curve = if report.seeded() {
        format!("final test accuracy, mean of {} seeds (dots: each run)", report.seeds.len())
    } else {
        "final test accuracy".to_string()
    };
    let labels: Vec<String> = [curve].into_iter().chain(marks.iter().map(|m| label(m))).collect();
    // The accuracy axis from a little below the lowest finished run's (diverged runs, at 0, sit
    // on its floor) to 1, so that close accuracies stay apart.
    let finished = report.runs.iter().filter(|r| r.status == GridStatus::Completed).filter_map(|r| r.final_test_acc);
    let lowest = finished.fold(1.0f64, f64::min);
    let y0 = (lowest - 0.1 * (1.0 - lowest).max(0.05)).clamp(0.0, 0.95);
    let frac = |(lr, acc): (f64, f64)| ((lr / x0).ln() / (x1 / x0).ln(), (acc.max(y0) - y0) / (1.0 - y0));
    let mut lines = vec![points.iter().map(|&p| frac(p)).collect::<Vec<_>>()];
    lines.extend(runs.iter().map(|&p| vec![frac(p)]));
    lines.extend(marks.iter().filter_map(|m| m.lr).map(|lr| vec![frac((lr, y0)), frac((lr, 1.0))]));
    let (corner, headroom) = place_legend(&lines, legend_fraction(labels.iter().map(String::as_str), (1050, 650)));

    let area = root.titled(title, (FONT, TITLE_PX).into_font().style(FontStyle::Bold))?;
    let y1 = 1.0 + headroom * (1.0 - y0);
    let mut chart = log_lr_chart(&area, (x0, x1), (y0, y1), "final test accuracy")?;
    let style = PALETTE[0].stroke_width(3);
    let shown: Vec<(f64, f64)> = points.iter().map(|&(lr, acc)| (lr, acc.max(y0))).collect();
    chart.draw_series(LineSeries::new(shown.iter().copied(), style))?.label(&labels[0]).legend(swatch(style));
    chart.draw_series(shown.iter().map(|&p| Circle::new(p, 6, PALETTE[0].filled())))?;
    if report.seeded() {
        let dots = runs.iter().map(|&(lr, acc)| Circle::new((lr, acc.max(y0)), 5, PALETTE[0].mix(0.4).filled()));
        chart.draw_series(dots)?;
    }
    let diverged = report.runs.iter().filter(|r| r.status == GridStatus::Diverged);
    chart.draw_series(diverged.map(|r| Cross::new((r.max_lr, y0), 9, PALETTE[3].stroke_width(3))))?;
    if let Some(best) = &report.best_mean {
        let at = (best.max_lr, best.accuracy.max(y0));
        chart.draw_series(std::iter::once(Circle::new(at, 12, BLACK.stroke_width(2))))?;
    }
    for (i, (m, text)) in marks.iter().zip(&labels[1..]).enumerate() {
        let lr = m.lr.unwrap_or(1.0);
        let colour = MARK_COLOURS[i % MARK_COLOURS.len()].stroke_width(2);
        let line = DashedLineSeries::new([(lr, y0), (lr, 1.0)], 10, 6, colour);
        chart.draw_series(line)?.label(text).legend(swatch(colour));
    }
    draw_legend(&mut chart, corner)
}

/// "floor 0.21: regret 0.3 pt", "steepest 3.1e-4: below the grid (≥ 40.2 pt)".
fn label(m: &RuleRegret) -> String {
    let lr = m.lr.map_or("-".into(), fmt_value);
    let points = |v: f64| format!("{:.1} pt", 100.0 * v);
    match (m.regret, m.outside, m.regret_at_least) {
        (Some(r), _, _) => format!("{} {lr}: regret {}", m.rule, points(r)),
        (None, Some(side), Some(least)) => {
            format!("{} {lr}: {} the grid (regret ≥ {})", m.rule, side.words(), points(least))
        }
        _ => format!("{} {lr}", m.rule),
    }
}
