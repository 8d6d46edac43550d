//! `clr range-test`: the LR range test of the seed on a freshly initialised model (never the one
//! trained afterwards), run on a session's data. The LR rises after every mini-batch
//! (`lr_finder::ramp`) until the smoothed loss explodes; the tracker of `lr_finder::analysis`
//! smooths the curve, stops the test and picks the LR; this file runs it, `log.rs` records it.
//!
//! `--sweep NAME=V1,V2,…` (`sweep.rs`) runs that same test once per value of a second
//! hyper-parameter, each from the same initial weights and data order, and Smith's rule
//! (`lr_finder::sweep`) picks the value; a stopped sweep continues with the values it did not
//! finish (`sweep_resume.rs`). `lr_file.rs` reads what `--max-lr FILE` names.
//!
//! On several processes each rank steps on its share of every batch; the losses, summed over the
//! ranks at each grouped read, are the ones one process would see, so every rank's tracker takes
//! the same stop decision at the same step. Rank 0 alone writes the files.

mod log;
mod lr_file;
mod repeats;
mod sweep;
mod sweep_resume;

pub use lr_file::{read_curve, read_lr_file, LrFile};
pub use sweep::{run_sweep, value_configs, with_value};
pub use sweep_resume::{read_stopped_sweep, Stopped};

use crate::config::{Config, RangeTestSettings};
use crate::data::batches::{Batch, BatchStream};
use crate::engine::{digest, Learner, Reader, Session};
use crate::error::StoppedBySignal;
use crate::lr_finder::analysis::{default_iters, MIN_POINTS};
use crate::lr_finder::{ramp_lr, RampMode, RangeTestReport, RangeTracker, StopReason, Tested, TrackerSettings};
use crate::run_dir::RunDir;
use anyhow::Result;
use log::TestLog;
use std::rc::Rc;
use tch::Tensor;

/// Range-test steps when `--iters` is not given: this many epochs of data (an exponential test at
/// least 30 steps per decade, `lr_finder::analysis::default_iters`).
const DEFAULT_EPOCHS: u64 = 3;

/// Run the test into `dir` on the session's data (lr_find.csv, range_test.json, range_test.png,
/// config.json) and return its report. The model is initialised from `config.run.seed` and the
/// batches drawn from it, so tests with the same seed start from the same weights and see the same
/// images in the same order.
pub fn run(config: &Config, session: &Session, dir: &RunDir) -> Result<RangeTestReport> {
    if config.range_test.repeats > 1 {
        return repeats::run(config, session, dir);
    }
    Ok(run_on(config, session, dir, Reader::new(Rc::clone(session.dist())))?.report)
}

/// One range test, reading the losses with `reader`: what `run` does, and what a sweep does per
/// value.
fn run_on(config: &Config, session: &Session, dir: &RunDir, mut reader: Reader<f64>) -> Result<Tested> {
    let rt = &config.range_test;
    if let Some(note) = session.data().batch_note(config.model.batch_size) {
        session.say(&note);
    }
    let stream = BatchStream::new(session.data(), config.run.seed, config.model.batch_size, 0);
    let iters = iters(config, session, stream.steps_per_epoch())?;
    let dist = session.dist();
    let stream = stream.shard(dist.rank(), dist.world_size());
    // Listening before the header line: a Ctrl-C from then on stops the test as one.
    session.listen("finishing the current step and writing what the test has");
    let mut log = TestLog::start(config, session, dir, iters)?;
    let mut learner = session.learner(config);
    learner.copy_from_root()?;
    let mut tracker = RangeTracker::new(TrackerSettings { smooth: rt.smooth, diverge: rt.diverge });
    for batch in stream.take(iters as usize) {
        let i = batch.step;
        let lr = ramp_lr(rt.start_lr, rt.end_lr, i, iters, rt.mode);
        let (loss, correct) = step_and_loss(&mut learner, config, session, &batch, lr)?;
        // Losses are read in groups: the test may run up to a group past its stop, but records
        // exactly what reading every step would.
        let Some(values) = reader.push(lr, loss, correct, i + 1 == iters)? else { continue };
        if let Some(reason) = log.record(&mut tracker, values)? {
            let last = tracker.rows().last().map_or(lr, |r| r.lr);
            log.line(&format!("stopped at lr {last:.4e}: {}", reason.describe(rt.diverge)));
            break;
        }
        // A stop agreed at the last step's read comes after every step ran: the test is complete.
        if reader.stop().is_some() && i + 1 < iters {
            tracker.interrupt();
            log.line(&format!("interrupted at step {i}"));
            break;
        }
    }
    log.end_progress();
    digest::write(&mut learner, "range-test", tracker.rows().len() as u64)?;
    let report = analyse(&tracker, rt, iters)?;
    log.write_report(&report)?;
    Ok(Tested { report, curve: tracker.rows().to_vec() })
}

/// The test's steps: `--iters`, else 3 epochs of data (an exponential test at least 30 steps per
/// decade); a linear test's 3 epochs on a small set may be too few to suggest anything: refused
/// before the first step.
fn iters(config: &Config, session: &Session, steps_per_epoch: u64) -> Result<u64> {
    let rt = &config.range_test;
    let exponential = rt.mode == RampMode::Exp;
    let iters =
        rt.iters.unwrap_or_else(|| default_iters(steps_per_epoch, DEFAULT_EPOCHS, rt.start_lr, rt.end_lr, exponential));
    if iters < MIN_POINTS as u64 {
        crate::usage!(
            "the range test would run {iters} steps ({DEFAULT_EPOCHS} epochs of {} images at --batch-size {}), fewer \
             than the {MIN_POINTS} it needs: give --iters {MIN_POINTS} or more",
            session.data().train.len,
            config.model.batch_size
        );
    }
    Ok(iters)
}

/// One training step at `lr`; the loss the test records for it (the batch's, or with
/// `--val-batches` the held-out loss after the step, with batch statistics: smoother, and it sees
/// over-fitting) and the batch's correct count.
fn step_and_loss(
    learner: &mut Learner,
    config: &Config,
    session: &Session,
    batch: &Batch,
    lr: f64,
) -> Result<(Tensor, Tensor)> {
    let (loss, correct) = learner.step(batch, lr, config.model.momentum)?;
    let val_batches = config.range_test.val_batches;
    if val_batches == 0 {
        return Ok((loss, correct));
    }
    let data = session.data();
    let part = learner.heldout_part(data, &data.test, config.model.batch_size, val_batches)?;
    Ok((part.get(0), correct))
}

/// The report of the recorded curve. Ctrl-C before there were enough points to analyse is an
/// interrupt, not a failure.
fn analyse(tracker: &RangeTracker, rt: &RangeTestSettings, iters: u64) -> Result<RangeTestReport> {
    match RangeTestReport::new(tracker, rt.rule, rt.start_lr, rt.end_lr, rt.mode.name(), iters) {
        Err(_) if tracker.stop_reason() == StopReason::Interrupted => {
            let steps = tracker.rows().len();
            Err(anyhow::Error::new(StoppedBySignal)
                .context(format!("interrupted after {steps} steps, too few to analyse: no range_test.json")))
        }
        report => report,
    }
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
        layer.run.device = Some(crate::config::DeviceSpec::Cpu);
        (layer.data.synthetic_train, layer.data.synthetic_test) = (Some(96), Some(16));
        (layer.model.depth, layer.model.batch_size) = (Some(8), Some(16));
        (layer.range_test.start_lr, layer.range_test.end_lr, layer.range_test.iters) =
            (Some(1e-3), Some(1e3), Some(40));
        let config = layer.resolve().unwrap();
        let session = Session::alone(&config).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let reader = |every| Reader::new(Rc::clone(session.dist())).every(every);
        let in_dir = |name: &str| RunDir::new(dir.path().join(name));
        let every = run_on(&config, &session, &in_dir("1"), reader(1)).unwrap();
        let grouped = run_on(&config, &session, &in_dir("7"), reader(7)).unwrap();
        assert_eq!(every.report, grouped.report);
        assert_eq!(every.curve, grouped.curve);
        assert!(every.report.stopped_early, "the test reaches its stop inside a group");
        let csv = |d: &str| std::fs::read_to_string(in_dir(d).lr_find_csv()).unwrap();
        assert_eq!(csv("1"), csv("7"));
    }
}
