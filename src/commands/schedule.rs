//! `clr schedule`: the dry run of a schedule, as CSV (stdout or `--out`) and optionally a PNG.

use super::{merged, train::resolve_max_lr, Report};
use crate::cli::ScheduleArgs;
use crate::config::{Layer, MaxLr};
use crate::optim::schedule::Schedule;
use crate::records::ScheduleRow;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// CIFAR-10's training set size: the default steps per epoch come from it.
const CIFAR10_TRAIN_IMAGES: u64 = 50_000;

pub fn run(a: ScheduleArgs, output: &mut dyn Write) -> Result<Report> {
    let layer = merged(&a.settings, Layer::default())?;
    let base_given = layer.schedule.base_lr.is_some();
    let mut config = layer.resolve()?;
    if config.schedule.max_lr == MaxLr::Auto {
        crate::usage!("--max-lr auto needs a range test; clr schedule runs none: give a number or a range_test.json");
    }
    // A range_test.json sets max_lr and base_lr as it does for `train`, so the dry run shows
    // the schedule that `train` would run.
    resolve_max_lr(&mut config, Path::new("."), base_given, false)?;
    let steps_per_epoch = match a.steps_per_epoch {
        Some(0) => crate::usage!("--steps-per-epoch must be at least 1"),
        Some(n) => n,
        None => CIFAR10_TRAIN_IMAGES.div_ceil(config.model.batch_size as u64),
    };
    let schedule = Schedule::new(config.schedule_config()?, steps_per_epoch)?;
    let rows: Vec<ScheduleRow> = schedule.points().collect();
    match &a.out {
        Some(path) => crate::files::write_with(path, |tmp| {
            let mut f = std::fs::File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            write_csv(&mut f, &rows)
        })?,
        None => write_csv(output, &rows)?,
    }
    if let Some(png) = &a.plot {
        let title = format!("{} schedule, {steps_per_epoch} steps/epoch", config.schedule.policy);
        crate::plot::schedule_png(png, &rows, &title)?;
    }
    Ok(Report::Schedule)
}

fn write_csv(w: &mut dyn Write, rows: &[ScheduleRow]) -> Result<()> {
    let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(w);
    csv.write_record(<ScheduleRow as crate::records::Row>::HEADER)?;
    for row in rows {
        csv.serialize(row)?;
    }
    csv.flush()?;
    Ok(())
}
