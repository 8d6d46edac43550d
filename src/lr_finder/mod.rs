//! `clr range-test`: the LR range test of the seed on a freshly initialised model (never the one
//! trained afterwards). The LR rises after every mini-batch (`sweep.rs`, pure) until the smoothed
//! loss explodes; the analysis (`analysis.rs`, pure) smooths the curve, stops the test and picks
//! the LR; this file runs it.

pub mod analysis;
pub mod sweep;

pub use analysis::{RangeTestReport, RangeTracker, StopReason, TrackerSettings};

use crate::config::Config;
use crate::data::batches::BatchStream;
use crate::data::Data;
use crate::learner::Learner;
use crate::records::{LrFindRow, RowWriter};
use crate::runtime::progress::Progress;
use crate::runtime::{device, signals};
use anyhow::{Context, Result};
use std::path::Path;
use sweep::sweep_lr;

pub const REPORT_FILE: &str = "range_test.json";
/// Range-test steps when `--iters` is not given: this many epochs of data.
const DEFAULT_EPOCHS: u64 = 3;

/// Run the test into `out` (lr_find.csv, range_test.json, range_test.png, config.json) and
/// return its report.
pub fn run(config: &Config, out: &Path, progress: bool) -> Result<RangeTestReport> {
    let device = device::prepare(&config.run)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    config.save(out)?;

    let data = Data::load(&config.data, config.run.seed, device, progress)?;
    let rt = &config.range_test;
    let stream = BatchStream::new(&data, config.run.seed, config.model.batch_size, 0);
    let iters = rt.iters.unwrap_or(DEFAULT_EPOCHS * stream.steps_per_epoch());
    let mut learner = Learner::new(&config.model, &config.run, data.classes, device);
    let mut tracker = RangeTracker::new(TrackerSettings { smooth: rt.smooth, diverge: rt.diverge });
    let mut log = RowWriter::create::<LrFindRow>(&out.join("lr_find.csv"))?;
    let mut bar = Progress::new(iters, progress);
    bar.line(&format!(
        "range test: lr {} → {} ({}) over {iters} steps, depth {}, batch {}, {} → {}",
        rt.start_lr,
        rt.end_lr,
        rt.mode,
        config.model.depth,
        config.model.batch_size,
        data.source,
        out.display()
    ));
    signals::install();

    for batch in stream.take(iters as usize) {
        let i = batch.step;
        let lr = sweep_lr(rt.start_lr, rt.end_lr, i, iters, rt.mode);
        let (loss, _) = learner.step(&batch.images, &batch.labels, lr, config.model.momentum);
        let loss = if rt.val_batches > 0 {
            // The held-out loss after this step: smoother than the training batch's loss.
            learner.evaluate(&data, &data.test, config.model.batch_size, Some(rt.val_batches)).0
        } else {
            loss.double_value(&[])
        };
        let stop = tracker.push(lr, loss);
        if let Some(row) = tracker.rows().last().filter(|r| r.step == i) {
            log.write(row)?;
            bar.update(i + 1, format!("lr {lr:.3e} loss {loss:.4} smoothed {:.4}", row.smoothed_loss));
        }
        if stop.is_some() {
            bar.line(&format!("stopped at step {i}, lr {lr:.4e}: {}", tracker.stop_reason().describe(rt.diverge)));
            break;
        }
        if signals::requested() {
            tracker.interrupt();
            bar.line(&format!("interrupted at step {i}"));
            break;
        }
    }
    bar.finish();

    let report = RangeTestReport::new(&tracker, rt.start_lr, rt.end_lr, rt.mode.name(), iters)
        .context("the range test recorded too few steps to analyse: raise --iters or --end-lr")?;
    crate::files::write_json(&out.join(REPORT_FILE), &report)?;
    crate::plot::plot_run(out)?;
    Ok(report)
}

/// Read a previous test's report (`--max-lr FILE`).
pub fn read_report(path: &Path) -> Result<RangeTestReport> {
    if !path.is_file() {
        crate::usage!(
            "--max-lr (max_lr) must be a number, auto, or an existing range_test.json: {} not found",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| crate::error::UsageError::new(format!("--max-lr {}: not a range_test.json: {e}", path.display())))
        .map_err(Into::into)
}
