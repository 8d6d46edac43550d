//! `curves.png` (a training run, 2×2 panels) and the `clr schedule --plot` preview.

use super::{
    draw_legend, finite_min_max, finite_points, legend_fraction, pad_linear, place_legend, render_png, swatch, Root,
    AXIS_PX, CAPTION_PX, FONT, TICK_PX, TITLE_PX,
};
use crate::records::{EpochRow, ScheduleRow, StepRow};
use anyhow::Result;
use plotters::chart::DualCoordChartContext;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
/// Noisy per-step data: a solid light shade (overlapping translucent segments would add up).
const LIGHT_BLUE: RGBColor = RGBColor(160, 190, 225);
/// Fewer points than this get a dot on each point (a single epoch has no line to draw).
const MARKERS_UP_TO: usize = 30;

/// Draw `curves.png`: LR and momentum against step; per-step train loss (light) with a moving
/// mean (bold) against step; train and test loss against epoch; train and test accuracy against
/// epoch. Empty `epochs` (a run stopped in its first epoch) or empty `steps` leave a note in
/// their panels; with no steps the LR panel falls back to the per-epoch LR.
pub fn curves_png(path: &Path, steps: &[StepRow], epochs: &[EpochRow], title: &str) -> Result<()> {
    render_png(path, (1400, 1000), |root| {
        let area = root.titled(title, (FONT, TITLE_PX).into_font().style(FontStyle::Bold))?;
        let cells = area.split_evenly((2, 2));
        let lr = if steps.is_empty() && !epochs.is_empty() {
            lr_panel(epochs.iter().map(|e| (e.epoch as f64, e.lr, f64::NAN)), "epoch")
        } else {
            lr_panel(steps.iter().map(|s| (s.step as f64, s.lr, s.momentum)), "step")
        };
        draw_panel(&cells[0], &lr)?;
        draw_panel(&cells[1], &step_loss_panel(steps))?;
        draw_panel(&cells[2], &epoch_loss_panel(epochs))?;
        draw_panel(&cells[3], &accuracy_panel(epochs))
    })
}

/// Draw `schedule.png` (`clr schedule --plot FILE`): LR and momentum against step.
pub fn schedule_png(path: &Path, rows: &[ScheduleRow], title: &str) -> Result<()> {
    render_png(path, (1200, 800), |root| {
        let area = root.titled(title, (FONT, TITLE_PX).into_font().style(FontStyle::Bold))?;
        let mut panel = lr_panel(rows.iter().map(|r| (r.step as f64, r.lr, r.momentum)), "step");
        panel.caption.clear();
        draw_panel(&area, &panel)
    })
}

/// One curve of a panel.
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
    colour: RGBColor,
    width: u32,
}

impl Series {
    fn new(label: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>, colour: RGBColor) -> Self {
        let points = finite_points(points);
        Series { label: label.into(), points, colour, width: 2 }
    }
    fn style(&self) -> ShapeStyle {
        self.colour.stroke_width(self.width)
    }
}

/// A chart: its curves on the left axis and, optionally, more on a right axis.
struct Panel {
    caption: String,
    x_desc: &'static str,
    y_desc: &'static str,
    series: Vec<Series>,
    right: Option<(&'static str, Vec<Series>)>,
    /// Shown when there is nothing to draw.
    empty_note: &'static str,
}

impl Panel {
    fn right_series(&self) -> &[Series] {
        self.right.as_ref().map_or(&[], |(_, s)| s.as_slice())
    }
}

/// `(x, lr, momentum)` rows: LR on the left axis, momentum (when any is finite) on the right.
fn lr_panel(rows: impl Iterator<Item = (f64, f64, f64)> + Clone, x_desc: &'static str) -> Panel {
    let lr = Series::new("learning rate", rows.clone().map(|(x, lr, _)| (x, lr)), BLUE_);
    let momentum = Series::new("momentum (right axis)", rows.map(|(x, _, m)| (x, m)), ORANGE);
    let right = (!momentum.points.is_empty()).then(|| ("momentum", vec![momentum]));
    Panel {
        caption: format!("learning rate{} per {x_desc}", if right.is_some() { " and momentum" } else { "" }),
        x_desc,
        y_desc: "learning rate",
        series: vec![lr],
        right,
        empty_note: "no steps yet",
    }
}

fn step_loss_panel(steps: &[StepRow]) -> Panel {
    let mut raw = Series::new("train loss (per step)", steps.iter().map(|s| (s.step as f64, s.loss)), BLUE_);
    let mut series = vec![];
    // The per-step loss is noisy; over 200 steps or more, it goes light and a trailing mean over
    // ~1 % of the run shows the trend.
    let window = raw.points.len() / 100;
    if window >= 2 {
        (raw.colour, raw.width) = (LIGHT_BLUE, 1);
        let mean: Vec<(f64, f64)> = raw
            .points
            .windows(window)
            .map(|w| (w[w.len() - 1].0, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64))
            .collect();
        series.push(Series::new(format!("mean of last {window} steps"), mean, BLUE_));
    }
    series.insert(0, raw);
    Panel {
        caption: "train loss per step".into(),
        x_desc: "step",
        y_desc: "loss",
        series,
        right: None,
        empty_note: "no steps yet",
    }
}

fn epoch_loss_panel(epochs: &[EpochRow]) -> Panel {
    let x = |e: &EpochRow| e.epoch as f64;
    Panel {
        caption: "loss per epoch".into(),
        x_desc: "epoch",
        y_desc: "loss",
        series: vec![
            Series::new("train loss", epochs.iter().map(|e| (x(e), e.train_loss)), BLUE_),
            Series::new("test loss", epochs.iter().map(|e| (x(e), e.test_loss)), ORANGE),
        ],
        right: None,
        empty_note: "no completed epoch yet",
    }
}

fn accuracy_panel(epochs: &[EpochRow]) -> Panel {
    let x = |e: &EpochRow| e.epoch as f64;
    let test = Series::new("test accuracy", epochs.iter().map(|e| (x(e), e.test_acc)), GREEN_);
    let caption = match (test.points.last(), finite_min_max(test.points.iter().map(|p| p.1))) {
        (Some(last), Some((_, best))) => format!("accuracy per epoch (test: last {:.4}, best {best:.4})", last.1),
        _ => "accuracy per epoch".into(),
    };
    Panel {
        caption,
        x_desc: "epoch",
        y_desc: "accuracy (fraction)",
        series: vec![Series::new("train accuracy", epochs.iter().map(|e| (x(e), e.train_acc)), BLUE_), test],
        right: None,
        empty_note: "no completed epoch yet",
    }
}

/// x axis of whole numbers (steps, epochs): at least 2 wide so that the ticks are distinct.
fn integer_axis(lo: f64, hi: f64) -> (f64, f64) {
    if hi - lo < 2.0 {
        (lo - 1.0, hi + 1.0)
    } else {
        pad_linear(lo, hi)
    }
}

/// Label only whole numbers (a narrow axis gets ticks at fractions of a step).
fn integer_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

fn y_axis(series: &[Series]) -> (f64, f64) {
    finite_min_max(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)))
        .map_or((0.0, 1.0), |(lo, hi)| pad_linear(lo, hi))
}

/// The ranges of a panel's axes and where its legend goes.
struct Axes {
    x: (f64, f64),
    y: (f64, f64),
    right: (f64, f64),
    legend: SeriesLabelPosition,
}

impl Axes {
    /// Every curve in range, with the legend where it hides the least: the curves are measured
    /// in fractions of the plotting area, which is the cell less margins, caption and labels.
    fn of(cell: &Root<'_>, panel: &Panel) -> Axes {
        let right = panel.right_series();
        let all = || panel.series.iter().chain(right);
        let (x0, x1) = finite_min_max(all().flat_map(|s| s.points.iter().map(|p| p.0)))
            .map_or((0.0, 1.0), |(lo, hi)| integer_axis(lo, hi));
        let (y0, y1) = y_axis(&panel.series);
        let (r0, r1) = y_axis(right);
        let frac = |pts: &[(f64, f64)], lo: f64, hi: f64| -> Vec<(f64, f64)> {
            pts.iter().map(|&(x, y)| ((x - x0) / (x1 - x0), (y - lo) / (hi - lo))).collect()
        };
        let mut lines: Vec<_> = panel.series.iter().map(|s| frac(&s.points, y0, y1)).collect();
        lines.extend(right.iter().map(|s| frac(&s.points, r0, r1)));
        let (w, h) = cell.dim_in_pixel();
        let plot = (w.saturating_sub(130 + if right.is_empty() { 0 } else { 90 }), h.saturating_sub(130));
        let (legend, headroom) = place_legend(&lines, legend_fraction(all().map(|s| s.label.as_str()), plot));
        Axes { x: (x0, x1), y: (y0, y1 + headroom * (y1 - y0)), right: (r0, r1 + headroom * (r1 - r0)), legend }
    }
}

type PanelChart<'a, 'b> = DualCoordChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
>;

/// The frame of a panel: caption, axes, their labels and the grid. Always a dual chart, so there
/// is one code path; the right axis is drawn only when used.
fn frame<'a, 'b>(cell: &'a Root<'b>, panel: &Panel, axes: &Axes) -> Result<PanelChart<'a, 'b>> {
    let ((x0, x1), (y0, y1), (r0, r1)) = (axes.x, axes.y, axes.right);
    let right = panel.right.as_ref();
    let mut builder = ChartBuilder::on(cell);
    builder.margin(16).margin_right(24).x_label_area_size(60).y_label_area_size(90);
    if !panel.caption.is_empty() {
        builder.caption(&panel.caption, (FONT, CAPTION_PX));
    }
    if right.is_some() {
        builder.right_y_label_area_size(90);
    }
    // (The right label area must move to the secondary axis before the mesh is drawn.)
    let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?.set_secondary_coord(x0..x1, r0..r1);
    chart
        .configure_mesh()
        .x_desc(panel.x_desc)
        .y_desc(panel.y_desc)
        .axis_desc_style((FONT, AXIS_PX))
        .label_style((FONT, TICK_PX))
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&integer_label)
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    if let Some((desc, _)) = right {
        chart
            .configure_secondary_axes()
            .y_desc(*desc)
            .axis_desc_style((FONT, AXIS_PX))
            .label_style((FONT, TICK_PX))
            .y_labels(8)
            .draw()?;
    }
    Ok(chart)
}

fn draw_panel(cell: &Root<'_>, panel: &Panel) -> Result<()> {
    let axes = Axes::of(cell, panel);
    let mut chart = frame(cell, panel, &axes)?;
    if panel.series.iter().chain(panel.right_series()).all(|s| s.points.is_empty()) {
        let centre = ((axes.x.0 + axes.x.1) / 2.0, (axes.y.0 + axes.y.1) / 2.0);
        let note = (FONT, AXIS_PX).into_text_style(cell).pos(Pos::new(HPos::Center, VPos::Center));
        chart.draw_series(std::iter::once(Text::new(panel.empty_note, centre, note)))?;
        return Ok(());
    }
    for s in &panel.series {
        let style = s.style();
        chart.draw_series(LineSeries::new(s.points.iter().copied(), style))?.label(&s.label).legend(swatch(s.style()));
        if s.points.len() <= MARKERS_UP_TO {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, style.filled())))?;
        }
    }
    for s in panel.right_series() {
        let style = s.style();
        chart
            .draw_secondary_series(LineSeries::new(s.points.iter().copied(), style))?
            .label(&s.label)
            .legend(swatch(s.style()));
        if s.points.len() <= MARKERS_UP_TO {
            chart.draw_secondary_series(s.points.iter().map(|&p| Circle::new(p, 4, style.filled())))?;
        }
    }
    draw_legend(&mut chart, axes.legend)
}
