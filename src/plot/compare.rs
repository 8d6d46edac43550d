//! `clr compare`'s PNG: several training runs side by side. Three rows (test accuracy, test loss,
//! learning rate) by two columns (against epochs trained, against training seconds); one colour
//! per run in every panel, and one legend (each run's policy and LR range) in the first panel that
//! has an empty corner for it.

use super::{
    draw_legend, finite_min_max, finite_points, legend_fraction, pad_linear, place_legend, render_png, swatch, Root,
    AXIS_PX, CAPTION_PX, FONT, TICK_PX, TITLE_PX,
};
use crate::records::{EpochRow, StepRow};
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;
use std::path::Path;

/// A curve of this many points or fewer gets a dot on each (one epoch has no line to show).
const MARKERS_UP_TO: usize = 30;
pub const COMPARE_SIZE: (u32, u32) = (1600, 1500);

/// One run to draw: its legend label and its rows (`steps` may be empty: then the LR curve is
/// the per-epoch LR of epochs.csv).
pub struct RunCurves<'a> {
    pub label: String,
    pub epochs: &'a [EpochRow],
    pub steps: &'a [StepRow],
}

/// Draw the comparison into `path`; `target` is drawn as a dashed line in the accuracy panels
/// when it lies within their range.
pub fn compare_png(path: &Path, runs: &[RunCurves<'_>], target: f64, title: &str) -> Result<()> {
    let labels: Vec<&str> = runs.iter().map(|r| r.label.as_str()).collect();
    let panels = panels(runs, target);
    render_png(path, COMPARE_SIZE, |root| {
        let area = root.titled(title, (FONT, TITLE_PX).into_font().style(FontStyle::Bold))?;
        let cells = area.split_evenly((3, 2));
        let mut axes: Vec<Axes> = cells.iter().zip(&panels).map(|(c, p)| Axes::of(c, p, &labels)).collect();
        let chosen = legend_panel(&axes);
        axes[chosen].show_legend();
        for ((cell, panel), axes) in cells.iter().zip(&panels).zip(&axes) {
            draw_panel(cell, panel, axes, &labels)?;
        }
        Ok(())
    })
}

/// What a panel shows: one line per run (in the order of the runs).
struct Panel {
    caption: &'static str,
    x_desc: &'static str,
    y_desc: &'static str,
    lines: Vec<Vec<(f64, f64)>>,
    /// The x axis counts epochs: whole-number ticks.
    epochs_axis: bool,
    target: Option<f64>,
}

/// The six panels, row by row: accuracy, loss, LR; per epoch, then per second.
fn panels(runs: &[RunCurves<'_>], target: f64) -> Vec<Panel> {
    let clocks: Vec<Clock> = runs.iter().map(|r| Clock::new(r.epochs)).collect();
    let metric = |f: fn(&EpochRow) -> f64, per_second: bool| -> Vec<Vec<(f64, f64)>> {
        runs.iter()
            .zip(&clocks)
            .map(|(r, c)| finite_points(r.epochs.iter().map(|e| (c.end_x(e, per_second), f(e)))))
            .collect()
    };
    let lrs: Vec<[Vec<(f64, f64)>; 2]> = runs.iter().zip(&clocks).map(|(r, c)| lr_points(r, c)).collect();
    let lr = |i: usize| lrs.iter().map(|l| l[i].clone()).collect::<Vec<_>>();
    let panel = |caption, y_desc, lines, per_second: bool, target| Panel {
        caption,
        x_desc: if per_second { "training seconds" } else { "epochs trained" },
        y_desc,
        lines,
        epochs_axis: !per_second,
        target,
    };
    vec![
        panel("test accuracy per epoch", "test accuracy", metric(|e| e.test_acc, false), false, Some(target)),
        panel("test accuracy per second", "test accuracy", metric(|e| e.test_acc, true), true, Some(target)),
        panel("test loss per epoch", "test loss", metric(|e| e.test_loss, false), false, None),
        panel("test loss per second", "test loss", metric(|e| e.test_loss, true), true, None),
        panel("learning rate per epoch", "learning rate", lr(0), false, None),
        panel("learning rate per second", "learning rate", lr(1), true, None),
    ]
}

/// Where each epoch of a run starts in training seconds, and how long it took: the running sum
/// of epochs.csv's `seconds` is the run's training wall clock.
struct Clock {
    epochs: BTreeMap<u64, (f64, f64)>,
}

impl Clock {
    fn new(rows: &[EpochRow]) -> Clock {
        let mut start = 0.0;
        let mut epochs = BTreeMap::new();
        for r in rows {
            epochs.insert(r.epoch, (start, r.seconds));
            start += r.seconds;
        }
        Clock { epochs }
    }

    /// x of an epoch's row: epochs trained (`epoch + 1`) or training seconds at its end.
    fn end_x(&self, row: &EpochRow, per_second: bool) -> f64 {
        if per_second {
            self.epochs.get(&row.epoch).map_or(f64::NAN, |(start, secs)| start + secs)
        } else {
            (row.epoch + 1) as f64
        }
    }
}

/// The LR of every step at the moment it starts, against epochs and against seconds (a step
/// `k/n` of the way into an epoch starts `k/n` of the way through its seconds; steps of an
/// epoch still running have no seconds yet). Without steps.csv: each epoch's LR at its end.
fn lr_points(run: &RunCurves<'_>, clock: &Clock) -> [Vec<(f64, f64)>; 2] {
    // Steps per epoch: those of the first completed epoch (every epoch has as many).
    let per_epoch = run.epochs.first().map_or(0, |first| run.steps.iter().filter(|s| s.epoch == first.epoch).count());
    if per_epoch == 0 {
        let at = |per_second| finite_points(run.epochs.iter().map(|e| (clock.end_x(e, per_second), e.lr)));
        return [at(false), at(true)];
    }
    let n = per_epoch as u64;
    let (mut by_epoch, mut by_second) = (Vec::new(), Vec::new());
    for s in run.steps {
        let into = s.step.saturating_sub(s.epoch.saturating_mul(n)) as f64 / n as f64;
        by_epoch.push((s.epoch as f64 + into, s.lr));
        if let Some((start, secs)) = clock.epochs.get(&s.epoch) {
            by_second.push((start + into * secs, s.lr));
        }
    }
    [finite_points(by_epoch), finite_points(by_second)]
}

/// Axis ranges of a panel, and where a legend would go in it and how much headroom it needs.
struct Axes {
    x: (f64, f64),
    y: (f64, f64),
    target: Option<f64>,
    legend: SeriesLabelPosition,
    headroom: f64,
    with_legend: bool,
}

impl Axes {
    fn of(cell: &Root<'_>, panel: &Panel, labels: &[&str]) -> Axes {
        let xs = finite_min_max(panel.lines.iter().flatten().map(|p| p.0));
        let x = match xs {
            Some((lo, hi)) if panel.epochs_axis && hi - lo < 2.0 => (lo - 1.0, hi + 1.0),
            Some((lo, hi)) => pad_linear(lo, hi),
            None => (0.0, 1.0),
        };
        let ys = finite_min_max(panel.lines.iter().flatten().map(|p| p.1));
        let y = ys.map_or((0.0, 1.0), |(lo, hi)| pad_linear(lo, hi));
        // The target line only where it falls among the curves: a far-off target would squash them.
        let target = panel.target.filter(|t| *t >= y.0 && *t <= y.1);
        let frac = |&(px, py): &(f64, f64)| ((px - x.0) / (x.1 - x.0), (py - y.0) / (y.1 - y.0));
        let mut lines: Vec<Vec<(f64, f64)>> = panel.lines.iter().map(|l| l.iter().map(frac).collect()).collect();
        lines.extend(target.map(|t| vec![frac(&(x.0, t)), frac(&(x.1, t))]));
        let mut names: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        names.extend(target.map(|t| format!("target {t}")));
        let (w, h) = cell.dim_in_pixel();
        let plot = (w.saturating_sub(130), h.saturating_sub(120));
        let (legend, headroom) = place_legend(&lines, legend_fraction(names.iter().map(String::as_str), plot));
        Axes { x, y, target, legend, headroom, with_legend: false }
    }

    /// Draw the legend here, raising the top of the y axis as far as it needs.
    fn show_legend(&mut self) {
        self.with_legend = true;
        self.y.1 += self.headroom * (self.y.1 - self.y.0);
    }
}

/// The one panel that shows the legend: the first that has an empty corner for it, in the order
/// accuracy, loss, LR per epoch, then per second; else the first, with headroom.
fn legend_panel(axes: &[Axes]) -> usize {
    [0, 2, 4, 1, 3, 5].into_iter().find(|&i| axes.get(i).is_some_and(|a| a.headroom == 0.0)).unwrap_or(0)
}

/// Whole epochs only on an epochs axis (a narrow one gets ticks at fractions).
fn epoch_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

fn draw_panel(cell: &Root<'_>, panel: &Panel, axes: &Axes, labels: &[&str]) -> Result<()> {
    let ((x0, x1), (y0, y1)) = (axes.x, axes.y);
    // A target line the legend does not name is named in the caption.
    let caption = match axes.target {
        Some(t) if !axes.with_legend => format!("{} (dashed: target {t})", panel.caption),
        _ => panel.caption.to_string(),
    };
    let mut chart = ChartBuilder::on(cell)
        .margin(14)
        .margin_right(24)
        .caption(caption, (FONT, CAPTION_PX))
        .x_label_area_size(55)
        .y_label_area_size(85)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x_desc)
        .y_desc(panel.y_desc)
        .axis_desc_style((FONT, AXIS_PX))
        .label_style((FONT, TICK_PX))
        .x_labels(8)
        .y_labels(8)
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12));
    if panel.epochs_axis {
        mesh.x_label_formatter(&epoch_label);
    }
    mesh.draw()?;
    if panel.lines.iter().all(Vec::is_empty) {
        let note = (FONT, AXIS_PX).into_text_style(cell).pos(Pos::new(HPos::Center, VPos::Center));
        let centre = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        chart.draw_series(std::iter::once(Text::new("no completed epoch yet", centre, note)))?;
    }
    for (i, (line, label)) in panel.lines.iter().zip(labels).enumerate() {
        let style = super::PALETTE[i % super::PALETTE.len()].stroke_width(2);
        let series = chart.draw_series(LineSeries::new(line.iter().copied(), style))?;
        if axes.with_legend {
            series.label(*label).legend(swatch(style));
        }
        if line.len() <= MARKERS_UP_TO {
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, style.filled())))?;
        }
    }
    if let Some(t) = axes.target {
        let style = BLACK.mix(0.6).stroke_width(1);
        let series = chart.draw_series(DashedLineSeries::new([(x0, t), (x1, t)], 8, 6, style))?;
        if axes.with_legend {
            series.label(format!("target {t}")).legend(swatch(style));
        }
    }
    if axes.with_legend {
        draw_legend(&mut chart, axes.legend.clone())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: u64, lr: f64, seconds: f64) -> EpochRow {
        EpochRow { epoch, lr, train_loss: 1.0, train_acc: 0.5, test_loss: 1.0, test_acc: 0.5, seconds }
    }

    fn step(step: u64, epoch: u64) -> StepRow {
        StepRow { step, epoch, lr: 0.1 * (step + 1) as f64, momentum: 0.9, loss: 1.0 }
    }

    #[test]
    fn steps_sit_where_they_start_in_epochs_and_in_seconds() {
        // Two completed epochs of 4 steps (2 s, then 4 s) and a third under way (2 steps).
        let epochs = [epoch(0, 0.4, 2.0), epoch(1, 0.8, 4.0)];
        let steps: Vec<StepRow> = (0..10).map(|s| step(s, s / 4)).collect();
        let run = RunCurves { label: "r".into(), epochs: &epochs, steps: &steps };
        let [by_epoch, by_second] = lr_points(&run, &Clock::new(&epochs));
        let lr = |s: u64| 0.1 * (s + 1) as f64;
        assert_eq!(by_epoch.len(), 10);
        assert_eq!((by_epoch[0], by_epoch[5], by_epoch[9]), ((0.0, lr(0)), (1.25, lr(5)), (2.25, lr(9))));
        // The running epoch has no seconds yet.
        assert_eq!(by_second.len(), 8);
        assert_eq!((by_second[1], by_second[4], by_second[7]), ((0.5, lr(1)), (2.0, lr(4)), (5.0, lr(7))));
        // Each epoch's metrics at its end: epochs trained, cumulative seconds.
        let clock = Clock::new(&epochs);
        assert_eq!((clock.end_x(&epochs[1], false), clock.end_x(&epochs[1], true)), (2.0, 6.0));
    }

    #[test]
    fn without_steps_the_lr_is_each_epochs_last() {
        let epochs = [epoch(0, 0.4, 2.0), epoch(1, 0.8, 4.0)];
        let run = RunCurves { label: "r".into(), epochs: &epochs, steps: &[] };
        let [by_epoch, by_second] = lr_points(&run, &Clock::new(&epochs));
        assert_eq!(by_epoch, [(1.0, 0.4), (2.0, 0.8)]);
        assert_eq!(by_second, [(2.0, 0.4), (6.0, 0.8)]);
    }

    #[test]
    fn the_legend_goes_to_the_first_panel_with_room() {
        let axes = |headrooms: [f64; 6]| -> Vec<Axes> {
            headrooms
                .iter()
                .map(|&headroom| Axes {
                    x: (0.0, 1.0),
                    y: (0.0, 1.0),
                    target: None,
                    legend: SeriesLabelPosition::UpperRight,
                    headroom,
                    with_legend: false,
                })
                .collect()
        };
        assert_eq!(legend_panel(&axes([0.0; 6])), 0);
        assert_eq!(legend_panel(&axes([0.2, 0.0, 0.0, 0.0, 0.0, 0.0])), 2, "per epoch first");
        assert_eq!(legend_panel(&axes([0.2, 0.0, 0.2, 0.2, 0.2, 0.2])), 1);
        assert_eq!(legend_panel(&axes([0.2; 6])), 0, "else the first, raised");
        let mut a = axes([0.5; 6]);
        a[0].show_legend();
        assert_eq!((a[0].y, a[0].with_legend), ((0.0, 1.5), true));
    }
}
