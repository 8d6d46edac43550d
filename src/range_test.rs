//! `clr range-test`: the LR range test of the seed on a freshly initialised model (never the
//! one trained afterwards). The LR rises after every mini-batch, lr_i = start·(end/start)^(i/n),
//! until the smoothed loss explodes; the analysis (range_finder) picks the LR.

use crate::augment::{self, EpochPlan};
use crate::config::{Config, DEFAULT_RANGE_TEST_EPOCHS};
use crate::dataset::Data;
use crate::learner::Learner;
use crate::progress::{interrupt, Progress};
use crate::range_finder::{RangeTestReport, RangeTracker};
use crate::records::{LrFindRow, RowWriter};
use crate::schedule::sweep_lr;
use anyhow::{Context, Result};
use std::path::Path;

pub const REPORT_FILE: &str = "range_test.json";

/// Run the test into `out` (lr_find.csv, range_test.json, range_test.png, config.json) and
/// return its report.
pub fn run(config: &Config, out: &Path, progress: bool) -> Result<RangeTestReport> {
    let device = crate::device::prepare(config)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    crate::config::save(config, out)?;

    let data = Data::load(config, device, progress)?;
    let steps_per_epoch = data.steps_per_epoch(config.batch_size);
    let iters = config.iters.unwrap_or(DEFAULT_RANGE_TEST_EPOCHS * steps_per_epoch);
    let mut learner = Learner::new(config, device);
    let mut tracker = RangeTracker::new(config.range_test_settings());
    let mut log = RowWriter::create::<LrFindRow>(&out.join("lr_find.csv"))?;
    let mut bar = Progress::new(iters, progress);
    bar.line(&format!(
        "range test: lr {} → {} ({}) over {iters} steps, depth {}, batch {}, {} → {}",
        config.start_lr,
        config.end_lr,
        config.mode.name(),
        config.depth,
        config.batch_size,
        data.source,
        out.display()
    ));
    interrupt::install();

    let mut plan = None;
    for i in 0..iters {
        let epoch = i / steps_per_epoch;
        if i % steps_per_epoch == 0 {
            plan = Some(EpochPlan::new(data.train.len, config.seed, epoch, true, device));
        }
        let plan = plan.as_ref().expect("drawn at the epoch's first step");
        let lr = sweep_lr(config.start_lr, config.end_lr, i, iters, config.mode);
        let (x, y) = augment::train_batch(&data, plan, i % steps_per_epoch, config.batch_size);
        let (loss, _) = learner.step(&x, &y, lr, config.momentum);
        let loss = if config.val_batches > 0 {
            // The held-out loss after this step: smoother than the training batch's loss.
            learner.evaluate(&data, &data.test, config.batch_size, Some(config.val_batches)).0
        } else {
            loss.double_value(&[])
        };
        let stop = tracker.push(lr, loss);
        if let Some(row) = tracker.rows().last().filter(|r| r.step == i) {
            log.write(row)?;
            bar.update(i + 1, format!("lr {lr:.3e} loss {loss:.4} smoothed {:.4}", row.smoothed_loss));
        }
        if stop.is_some() {
            bar.line(&format!("stopped at step {i}, lr {lr:.4e}: {}", tracker.stop_reason().describe(config.diverge)));
            break;
        }
        if interrupt::requested() {
            tracker.interrupt();
            bar.line(&format!("interrupted at step {i}"));
            break;
        }
    }
    bar.finish();

    let report = RangeTestReport::new(&tracker, config.start_lr, config.end_lr, config.mode.name(), iters)
        .context("the range test recorded too few steps to analyse: raise --iters or --end-lr")?;
    crate::atomic::write_json(&out.join(REPORT_FILE), &report)?;
    crate::plot::plot_run(out)?;
    for line in report.summary_lines() {
        println!("{line}");
    }
    Ok(report)
}

/// Read a previous test's report (`--max-lr FILE`).
pub fn read_report(path: &Path) -> Result<RangeTestReport> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| crate::error::UsageError::new(format!("--max-lr {}: not a range_test.json: {e}", path.display())))
        .map_err(Into::into)
}
