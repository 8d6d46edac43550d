//! `clr plot RUN_DIR`: the plots of a run folder redrawn from its files, read through `RunDir`'s
//! names and typed readers (also what a range test and a sweep draw when they end).

use super::{curves_png, fmt_value, grid_png, range_test_png, sweep_png, SweepCurve};
use crate::error::UsageError;
use crate::lr_finder::{RangeTestReport, Rule};
use crate::records::{read_rows, EpochRow, LrFindRow, StepRow};
use crate::run_dir::RunDir;
use anyhow::Result;
use std::path::PathBuf;

/// Redraw every plot whose CSV is in `dir`; returns the files written.
pub fn plot_run(dir: &RunDir) -> Result<Vec<PathBuf>> {
    if !dir.path().is_dir() {
        return Err(UsageError::new(format!("RUN_DIR {}: not a folder", dir.path().display())).into());
    }
    let mut written = Vec::new();

    if let Some(report) = dir.read_range_test()?.filter(|r| r.repeats.is_some()) {
        written.push(plot_repeats(dir, &report)?);
    }

    if dir.lr_find_csv().is_file() {
        let rows: Vec<LrFindRow> = read_rows(&dir.lr_find_csv())?;
        let marks = dir.read_range_test()?.map_or_else(Vec::new, |r| range_test_marks(&r));
        // No policy in this title: a range test's config.json carries the default one regardless.
        let title = format!("LR range test: {}", run_subtitle(dir, false));
        range_test_png(&dir.range_test_png(), &rows, &marks, &title)?;
        written.push(dir.range_test_png());
    }

    let (steps_csv, epochs_csv) = (dir.steps_csv(), dir.epochs_csv());
    if steps_csv.is_file() || epochs_csv.is_file() {
        let steps: Vec<StepRow> = if steps_csv.is_file() { read_rows(&steps_csv)? } else { Vec::new() };
        let epochs: Vec<EpochRow> = if epochs_csv.is_file() { read_rows(&epochs_csv)? } else { Vec::new() };
        curves_png(&dir.curves_png(), &steps, &epochs, &format!("Training: {}", run_subtitle(dir, true)))?;
        written.push(dir.curves_png());
    }

    if dir.sweep_json().is_file() {
        written.push(plot_sweep(dir)?);
    }

    if dir.grid_json().is_file() {
        written.push(plot_grid(dir)?);
    }

    if written.is_empty() {
        return Err(UsageError::new(format!(
            "RUN_DIR {}: nothing to plot (no lr_find.csv, steps.csv, epochs.csv, sweep.json or grid.json)",
            dir.path().display()
        ))
        .into());
    }
    Ok(written)
}

/// Draw the sweep's `sweep.png` from its `sweep.json` and the `lr_find.csv` of each value's
/// sub-folder (a value whose folder has none is left out); returns the path written.
pub fn plot_sweep(dir: &RunDir) -> Result<PathBuf> {
    let report = dir.read_sweep()?;
    let mut curves = Vec::new();
    for e in &report.results {
        let Some(points) = smoothed_curve(dir, &e.label)? else { continue };
        curves.push(SweepCurve {
            label: e.label.clone(),
            points,
            lowest: e.lr_at_min_loss.zip(e.min_loss),
            suggested_lr: e.suggested_lr,
            favoured: e.favoured,
        });
    }
    // The sweep folder has no config.json of its own; its tests share the depth.
    let depth = report.results.iter().find_map(|e| Some(dir.sub(&e.label).read_config().ok()??.model.depth));
    let net = depth.map_or(String::new(), |d| format!("ResNet-{d}, "));
    let title = format!("LR range tests over {}: {net}{}", report.param, run_subtitle(dir, false));
    sweep_png(&dir.sweep_png(), &curves, &[], &title)?;
    Ok(dir.sweep_png())
}

/// The `(lr, smoothed loss)` points of the range test in `dir`'s sub-folder `label`; None when
/// it has no `lr_find.csv` (a value or seed that did not run).
fn smoothed_curve(dir: &RunDir, label: &str) -> Result<Option<Vec<(f64, f64)>>> {
    let csv = dir.sub(label).lr_find_csv();
    if !csv.is_file() {
        return Ok(None);
    }
    let rows: Vec<LrFindRow> = read_rows(&csv)?;
    Ok(Some(rows.iter().map(|r| (r.lr, r.smoothed_loss)).collect()))
}

/// Draw the `range_test.png` of a `--repeats` test: every seed's curve (from its sub-folder's
/// `lr_find.csv`; a seed without one is left out) with its pick, and the combined pick.
fn plot_repeats(dir: &RunDir, report: &RangeTestReport) -> Result<PathBuf> {
    let tests = report.repeats.as_ref().map_or(&[][..], |r| &r.tests[..]);
    let mut curves = Vec::new();
    for t in tests {
        let Some(points) = smoothed_curve(dir, &t.label)? else { continue };
        curves.push(SweepCurve {
            label: t.label.clone(),
            points,
            lowest: Some((t.lr_at_min_loss, t.min_loss)),
            suggested_lr: Some(t.suggested_lr),
            favoured: false,
        });
    }
    let s = &report.suggestion;
    let mark = format!("suggested lr ({}, median of {} seeds): {}", s.rule, tests.len(), fmt_value(s.suggested_lr));
    let title = format!("LR range tests at {} seeds: {}", tests.len(), run_subtitle(dir, false));
    sweep_png(&dir.range_test_png(), &curves, &[(mark, s.suggested_lr)], &title)?;
    Ok(dir.range_test_png())
}

/// Draw the grid's `grid.png` from its `grid.json`; returns the path written.
pub fn plot_grid(dir: &RunDir) -> Result<PathBuf> {
    let path = dir.grid_json();
    let Some(report) = dir.read_grid()? else {
        anyhow::bail!("cannot read {}: no such file", path.display());
    };
    // Every run shares the grid's depth: the first one's config.json says it.
    let depth = report.runs.first().and_then(|r| dir.sub(&r.label).read_config().ok().flatten()).map(|c| c.model.depth);
    let net = depth.map_or(String::new(), |d| format!("ResNet-{d}, "));
    let title = format!("max_lr grid, {} epochs each: {net}{}", fmt_value(report.epochs), run_subtitle(dir, false));
    grid_png(&dir.grid_png(), &report, &title)?;
    Ok(dir.grid_png())
}

/// The LRs a range test's plot marks, with their names: the suggestion (and its rule), the floor
/// the `floor` rule found, the other rules' LRs, and the lowest smoothed loss (those without an LR
/// are left out).
pub(super) fn range_test_marks(report: &RangeTestReport) -> Vec<(String, f64)> {
    let s = &report.suggestion;
    let mut marks = vec![(format!("suggested lr ({})", s.rule), Some(s.suggested_lr))];
    marks.push(("floor start".into(), s.floor_start_lr));
    marks.push(("floor end".into(), s.floor_end_lr));
    marks.extend(Rule::ALL.iter().filter(|r| **r != s.rule).map(|r| (format!("{r} lr"), s.lr_of(*r))));
    marks.push(("lowest smoothed loss".into(), Some(s.lr_at_min_loss)));
    marks.into_iter().filter_map(|(name, lr)| lr.map(|lr| (name, lr))).collect()
}

/// "ResNet-56, one-cycle (run name)" from config.json when there is one, else the folder name.
pub(super) fn run_subtitle(dir: &RunDir, with_policy: bool) -> String {
    let path = dir.path();
    let name = path
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| path.display().to_string());
    match dir.read_config().ok().flatten() {
        Some(config) if with_policy => format!("ResNet-{}, {} ({name})", config.model.depth, config.schedule.policy),
        Some(config) => format!("ResNet-{} ({name})", config.model.depth),
        None => name,
    }
}
