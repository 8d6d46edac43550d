//! `clr schedule`: the dry run of a schedule, as CSV (stdout or `--out`) and optionally a PNG.

use super::{merged, train::max_lr_from_file, Report};
use crate::cli::ScheduleArgs;
use crate::config::{Layer, MaxLr};
use crate::files;
use crate::optim::schedule::Schedule;
use crate::records::ScheduleRow;
use anyhow::{Context, Result};
use std::io::Write;

/// CIFAR-10's training set size: the default steps per epoch come from it.
const CIFAR10_TRAIN_IMAGES: u64 = 50_000;

pub fn run(a: ScheduleArgs, output: &mut dyn Write) -> Result<Report> {
    let (layer, base_given) = merged(&a.settings, Layer::default())?;
    let mut config = layer.resolve()?;
    if config.schedule.max_lr == MaxLr::Auto {
        crate::usage!("--max-lr auto needs a range test; clr schedule runs none: give a number or a range_test.json");
    }
    // A range_test.json sets max_lr and base_lr as it does for `train`, so the dry run shows
    // the schedule that `train` would run.
    max_lr_from_file(&mut config, base_given, &|line| eprintln!("{line}"))?;
    let steps_per_epoch = match a.steps_per_epoch {
        Some(0) => crate::usage!("--steps-per-epoch must be at least 1"),
        Some(n) => n,
        None => CIFAR10_TRAIN_IMAGES.div_ceil(config.model.batch_size as u64),
    };
    let schedule = Schedule::new(config.schedule_config()?, steps_per_epoch)?;
    if let Some(png) = &a.plot {
        files::check_parent(png, "--plot")?;
    }
    // Rows are written as they are computed: a schedule of a billion steps needs no memory.
    match &a.out {
        Some(path) => files::write_with(path, |tmp| {
            let f = std::fs::File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            write_csv(&mut std::io::BufWriter::new(f), &schedule)
        })?,
        None => write_csv(output, &schedule)?,
    }
    if let Some(png) = &a.plot {
        let title = format!("{} schedule, {steps_per_epoch} steps/epoch", config.schedule.policy);
        crate::plot::schedule_png(png, &plotted(&schedule), &title)?;
    }
    Ok(Report::Schedule)
}

fn write_csv(w: &mut dyn Write, schedule: &Schedule) -> Result<()> {
    let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(w);
    csv.write_record(<ScheduleRow as crate::records::Row>::HEADER)?;
    for row in schedule.points() {
        csv.serialize(row)?;
    }
    csv.flush()?;
    Ok(())
}

/// Points enough for a picture (every step up to this many, evenly spaced beyond, the last kept).
const PLOTTED: u64 = 20_000;

fn plotted(schedule: &Schedule) -> Vec<ScheduleRow> {
    let stride = schedule.total_steps().div_ceil(PLOTTED).max(1) as usize;
    let last = schedule.total_steps().saturating_sub(1);
    schedule.points().filter(|p| (p.step as usize).is_multiple_of(stride) || p.step == last).collect()
}
