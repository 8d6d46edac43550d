//! `clr range-test`: the LR range test of the seed on a freshly initialised model (never the one
//! trained afterwards). The LR rises after every mini-batch (`sweep.rs`, pure) until the smoothed
//! loss explodes; the analysis (`analysis.rs`, pure) smooths the curve, stops the test and picks
//! the LR; this file runs it.
//!
//! `--sweep NAME=V1,V2,…` runs that same test once per value of a second hyper-parameter
//! (`sweep_param.rs`, pure: the flag), each from the same initial weights and data order
//! (`sweep_run.rs`), and Smith's rule picks the value (`sweep_choice.rs`, pure).
//!
//! On several processes each rank steps on its share of every batch; the losses, summed over the
//! ranks at each grouped read, are the ones one process would see, so every rank's tracker takes
//! the same stop decision at the same step. Rank 0 alone writes the files.

pub mod analysis;
pub mod sweep;
pub mod sweep_choice;
pub mod sweep_param;
mod sweep_run;

pub use analysis::{RangeTestReport, RangeTracker, StopReason, TrackerSettings};
pub use sweep_choice::{SweepReport, Tested};
pub use sweep_run::{run_sweep, with_value, SWEEP_FILE};

use crate::config::{Config, RangeTestSettings};
use crate::data::batches::{Batch, BatchStream};
use crate::data::Data;
use crate::dist::{setup, Dist};
use crate::error::StoppedBySignal;
use crate::learner::{Learner, PendingLosses};
use crate::records::{LrFindRow, RowWriter};
use crate::run_dir::RunLock;
use crate::runtime::progress::Progress;
use crate::runtime::{device, signals};
use crate::tensorboard::EventWriter;
use anyhow::{Context, Result};
use std::path::Path;
use std::rc::Rc;
use sweep::sweep_lr;
use tch::{Device, Tensor};

pub const REPORT_FILE: &str = "range_test.json";
/// Steps between reads of the loss from the device (each read waits for it).
const READ_EVERY: usize = 10;
/// Range-test steps when `--iters` is not given: this many epochs of data.
const DEFAULT_EPOCHS: u64 = 3;

/// Run the test into `out` (lr_find.csv, range_test.json, range_test.png, config.json) and
/// return its report.
pub fn run(config: &Config, out: &Path, progress: bool, dist: &Rc<Dist>) -> Result<RangeTestReport> {
    let device = device::prepare(&dist.rank_settings(&config.run))?;
    // The data before the folder: a test that cannot start leaves nothing behind.
    let data = setup::load_data(&config.data, config.run.seed, device, progress, dist)?;
    Ok(run_on(config, &data, device, out, progress, dist)?.report)
}

/// One range test on data already loaded: what `run` does, and what a sweep does per value.
/// The model is initialised from `config.run.seed` and the batches drawn from it, so tests with
/// the same seed start from the same weights and see the same images in the same order.
fn run_on(config: &Config, data: &Data, device: Device, out: &Path, progress: bool, dist: &Rc<Dist>) -> Result<Tested> {
    // config.json names the classes the data has.
    let config = &config.with_class_names(data.class_names.as_deref());
    test_on(config, data, device, out, progress && dist.is_primary(), READ_EVERY, dist)
}

/// `run_on`, reading the losses from the device every `read_every` steps.
fn test_on(
    config: &Config,
    data: &Data,
    device: Device,
    out: &Path,
    progress: bool,
    read_every: usize,
    dist: &Rc<Dist>,
) -> Result<Tested> {
    let rt = &config.range_test;
    let stream = BatchStream::new(data, config.run.seed, config.model.batch_size, 0);
    let iters = rt.iters.unwrap_or(DEFAULT_EPOCHS * stream.steps_per_epoch());
    let stream = stream.shard(dist.rank(), dist.world_size());
    // Listening before the header line: a Ctrl-C from then on stops the test as one.
    signals::set_notice("finishing the current step and writing what the test has");
    signals::install();
    let mut log = TestLog::start(config, &data.source, out, iters, progress, dist)?;
    let mut learner = Learner::new(&config.model, &config.run, data.classes, device).in_group(Rc::clone(dist));
    learner.copy_from_root()?;
    let mut tracker = RangeTracker::new(TrackerSettings { smooth: rt.smooth, diverge: rt.diverge });

    let mut pending = PendingLosses::default();
    for batch in stream.take(iters as usize) {
        let i = batch.step;
        let lr = sweep_lr(rt.start_lr, rt.end_lr, i, iters, rt.mode);
        let (loss, correct) = step_and_loss(&mut learner, config, data, &batch, lr)?;
        pending.push(lr, loss, correct);
        // Losses are read in groups (each read waits for the device, and for the other ranks):
        // the test may run up to a group past its stop, but records exactly what reading every
        // step would. Alone, a Ctrl-C is read at once; ranks agree on it at their next read.
        let asked = signals::received();
        let read = pending.len() >= read_every || i + 1 == iters || (asked.is_some() && !dist.is_distributed());
        let (stopped, interrupted) =
            if read { record(&mut tracker, &mut pending, &mut log, dist, asked)? } else { (None, false) };
        if let Some(reason) = stopped {
            let last = tracker.rows().last().map_or(lr, |r| r.lr);
            log.bar.line(&format!("stopped at lr {last:.4e}: {}", reason.describe(rt.diverge)));
            break;
        }
        // A stop agreed at the last step's read comes after every step ran: the test is complete.
        if interrupted && i + 1 < iters {
            tracker.interrupt();
            log.bar.line(&format!("interrupted at step {i}"));
            break;
        }
    }
    log.bar.finish();
    learner.write_digest("range-test", tracker.rows().len() as u64)?;
    let report = analyse(&tracker, rt, iters)?;
    if dist.is_primary() {
        crate::files::write_json(&out.join(REPORT_FILE), &report)?;
        crate::plot::plot_run(out)?;
    }
    Ok(Tested { report, curve: tracker.rows().to_vec() })
}

/// One training step at `lr`; the loss the test records for it (the batch's, or with
/// `--val-batches` the held-out loss after the step, smoother) and the batch's correct count.
fn step_and_loss(
    learner: &mut Learner,
    config: &Config,
    data: &Data,
    batch: &Batch,
    lr: f64,
) -> Result<(Tensor, Tensor)> {
    let (loss, correct) = learner.step(batch, lr, config.model.momentum)?;
    let val_batches = config.range_test.val_batches;
    if val_batches == 0 {
        return Ok((loss, correct));
    }
    let part = learner.evaluate_part(data, &data.test, config.model.batch_size, Some(val_batches))?;
    Ok((part.get(0), correct))
}

/// The report of the recorded curve. Ctrl-C before there were enough points to analyse is an
/// interrupt, not a failure.
fn analyse(tracker: &RangeTracker, rt: &RangeTestSettings, iters: u64) -> Result<RangeTestReport> {
    match RangeTestReport::new(tracker, rt.start_lr, rt.end_lr, rt.mode.name(), iters) {
        Err(_) if tracker.stop_reason() == StopReason::Interrupted => {
            let steps = tracker.rows().len();
            Err(anyhow::Error::new(StoppedBySignal)
                .context(format!("interrupted after {steps} steps, too few to analyse: no range_test.json")))
        }
        report => report,
    }
}

/// Where a range test reports: lr_find.csv, the progress bar and, with `--tensorboard`, event
/// files (the raw and smoothed loss and the LR against the step). Rank 0 alone holds them (and
/// the folder's lock); the other ranks get none of them and a silent bar.
struct TestLog {
    _lock: Option<RunLock>,
    csv: Option<RowWriter>,
    events: Option<EventWriter>,
    bar: Progress,
}

impl TestLog {
    /// Rank 0's lock, config.json and files, then the test's first line, once it has them all.
    fn start(config: &Config, source: &str, out: &Path, iters: u64, progress: bool, dist: &Dist) -> Result<TestLog> {
        let opened = dist.on_root(|| {
            let lock = RunLock::acquire(out)?;
            lock.check_fresh(false)?;
            config.save(out)?;
            let csv = RowWriter::create::<LrFindRow>(&out.join("lr_find.csv"))?;
            let events = config.run.tensorboard.then(|| EventWriter::create(out)).transpose()?;
            Ok((lock, csv, events))
        })?;
        let Some((lock, csv, events)) = opened else {
            return Ok(TestLog { _lock: None, csv: None, events: None, bar: Progress::silent() });
        };
        let rt = &config.range_test;
        let mut bar = Progress::new(iters, progress);
        bar.line(&format!(
            "range test: lr {} → {} ({}) over {iters} steps, depth {}, batch {}, {source} → {}",
            rt.start_lr,
            rt.end_lr,
            rt.mode,
            config.model.depth,
            config.model.batch_size,
            out.display()
        ));
        Ok(TestLog { _lock: Some(lock), csv: Some(csv), events, bar })
    }

    fn row(&mut self, row: &LrFindRow) -> Result<()> {
        if let Some(csv) = &mut self.csv {
            csv.write(row)?;
        }
        if let Some(events) = &mut self.events {
            let values = [
                ("range_test/loss", row.loss),
                ("range_test/smoothed_loss", row.smoothed_loss),
                ("range_test/lr", row.lr),
            ];
            events.scalars(row.step, &values)?;
        }
        let msg = format!("lr {:.3e} loss {:.4} smoothed {:.4}", row.lr, row.loss, row.smoothed_loss);
        self.bar.update(row.step + 1, msg);
        Ok(())
    }
}

/// Feed the pending (lr, loss) pairs, summed over the ranks, to the tracker in order, logging
/// each recorded row; the stop reason when one of them ends the test (those after it are
/// dropped), and whether a rank asked to stop (`asked` is this one's request).
fn record(
    tracker: &mut RangeTracker,
    pending: &mut PendingLosses<f64>,
    log: &mut TestLog,
    dist: &Dist,
    asked: Option<i32>,
) -> Result<(Option<StopReason>, bool)> {
    let (values, stop) = pending.read_agreed(dist, asked)?;
    let interrupted = stop.is_some();
    for (lr, loss, _) in values {
        let recorded = tracker.rows().len();
        let stop = tracker.push(lr, loss);
        if let Some(row) = tracker.rows().get(recorded) {
            log.row(row)?;
        }
        if stop.is_some() {
            return Ok((stop, interrupted));
        }
    }
    Ok((None, interrupted))
}

/// What `--max-lr FILE` can read: one range test's report, or a sweep's.
#[derive(Debug, Clone)]
pub enum LrFile {
    RangeTest(RangeTestReport),
    Sweep(SweepReport),
}

/// Read a previous test's `range_test.json` or a sweep's `sweep.json` (`--max-lr FILE`).
pub fn read_lr_file(path: &Path) -> Result<LrFile> {
    if !path.is_file() {
        crate::usage!(
            "--max-lr (max_lr) must be a number, auto, or an existing range_test.json or sweep.json: {} is not a file",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = |what: &str, e: serde_json::Error| {
        crate::error::UsageError::new(format!("--max-lr {}: not a {what}: {e}", path.display()))
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad("range_test.json", e))?;
    // A sweep's report is the one with per-value results.
    if value.get("results").is_some() {
        return Ok(LrFile::Sweep(serde_json::from_value(value).map_err(|e| bad("sweep.json", e))?));
    }
    let report: RangeTestReport = serde_json::from_value(value).map_err(|e| bad("range_test.json", e))?;
    if report.stop_reason == StopReason::Interrupted {
        crate::usage!(
            "--max-lr {}: that range test was interrupted after {} of {} steps; its proposal is not to be used: \
             run it again",
            path.display(),
            report.steps,
            report.iters
        );
    }
    Ok(LrFile::RangeTest(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layer;

    #[test]
    fn grouped_reads_record_what_reading_every_step_records() {
        let _rng = crate::rng_lock();
        let mut layer = Layer::default();
        layer.data.dataset = Some(crate::config::DatasetKind::Synthetic);
        (layer.data.synthetic_train, layer.data.synthetic_test) = (Some(96), Some(16));
        (layer.model.depth, layer.model.batch_size) = (Some(8), Some(16));
        (layer.range_test.start_lr, layer.range_test.end_lr, layer.range_test.iters) =
            (Some(1e-3), Some(1e3), Some(40));
        let config = layer.resolve().unwrap();
        let data = Data::load(&config.data, 0, Device::Cpu, false).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let alone = Rc::new(Dist::single());
        let every = test_on(&config, &data, Device::Cpu, &dir.path().join("1"), false, 1, &alone).unwrap();
        let grouped = test_on(&config, &data, Device::Cpu, &dir.path().join("7"), false, 7, &alone).unwrap();
        assert_eq!(every.report, grouped.report);
        assert_eq!(every.curve, grouped.curve);
        assert!(every.report.stopped_early, "the test reaches its stop inside a group");
        let csv = |d: &str| std::fs::read_to_string(dir.path().join(d).join("lr_find.csv")).unwrap();
        assert_eq!(csv("1"), csv("7"));
    }
}
