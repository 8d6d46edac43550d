//! The training loop, one epoch at a time: batches from the run's stream, one SGD step each at
//! the schedule's LR and momentum, losses read every few steps, evaluation and a checkpoint at the
//! end of the epoch. [`Trainer::run_epoch`] says how the epoch ended; the caller decides what
//! follows.

use super::checkpoint::{self, EpochSums, RunState};
use super::log::RunLog;
use crate::config::Config;
use crate::data::batches::BatchStream;
use crate::data::Data;
use crate::learner::{Learner, PendingLosses, EVAL_BATCH};
use crate::optim::schedule::Schedule;
use crate::records::{EpochRow, StepRow};
use crate::runtime::signals;
use anyhow::Result;
use std::path::PathBuf;
use std::time::Instant;

/// Steps between reads of the loss from the device (each read synchronises it).
const LOG_EVERY: usize = 10;

/// How an epoch ended.
pub enum EpochEnd {
    /// The epoch ran to its end: its row is logged and its checkpoint saved.
    Done(EpochRow),
    /// Ctrl-C inside the epoch: a checkpoint of the step reached is saved.
    Interrupted,
    /// A loss that is not finite: nothing of it was logged or saved.
    Diverged(Divergence),
}

/// Where and how a run blew up.
#[derive(Debug, Clone)]
pub struct Divergence {
    pub step: u64,
    pub lr: f64,
    pub what: String,
}

pub struct Trainer<'a> {
    pub config: &'a Config,
    pub data: &'a Data,
    pub schedule: Schedule,
    pub learner: Learner,
    pub state: RunState,
    pub log: RunLog,
    pub checkpoint: PathBuf,
}

impl Trainer<'_> {
    pub fn steps_per_epoch(&self) -> u64 {
        self.schedule.steps_per_epoch()
    }

    pub fn finished(&self) -> bool {
        self.state.step >= self.schedule.total_steps()
    }

    /// Save a checkpoint of where the run stands.
    pub fn save(&self) -> Result<()> {
        checkpoint::save(&self.checkpoint, &self.learner, &self.state)
    }

    /// Train the rest of the current epoch.
    pub fn run_epoch(&mut self) -> Result<EpochEnd> {
        let epoch = self.state.step / self.steps_per_epoch();
        let epoch_end = ((epoch + 1) * self.steps_per_epoch()).min(self.schedule.total_steps());
        let started = Instant::now();
        let (seed, batch_size) = (self.config.run.seed, self.config.model.batch_size);
        let stream = BatchStream::new(self.data, seed, batch_size, self.state.step);
        let mut pending = PendingLosses::default();
        for batch in stream.take((epoch_end - self.state.step) as usize) {
            let (lr, momentum) = self.schedule.lr_and_momentum(batch.step);
            let (loss, correct) = self.learner.step(&batch.images, &batch.labels, lr, momentum);
            pending.push(StepRow { step: batch.step, epoch, lr, momentum, loss: f64::NAN }, loss, correct);
            self.state.sums.seen += batch.len() as f64;
            self.state.step += 1;
            let stop = signals::requested();
            if pending.len() >= LOG_EVERY || self.state.step == epoch_end || stop {
                if let Some(d) = self.log_steps(&mut pending)? {
                    return Ok(EpochEnd::Diverged(d));
                }
                let msg = self.progress_message(lr, started);
                self.log.progress(self.state.step, msg);
            }
            if stop && self.state.step < epoch_end {
                self.add_seconds(started.elapsed().as_secs_f64());
                self.save()?;
                return Ok(EpochEnd::Interrupted);
            }
        }
        // The end of the epoch, also when Ctrl-C came during its last step.
        self.finish_epoch(epoch, epoch_end, started.elapsed().as_secs_f64())
    }

    /// Evaluate, log the epoch's row and save its checkpoint; weights blown up by a step whose
    /// own loss was still finite show in the test loss, and then nothing is saved.
    fn finish_epoch(&mut self, epoch: u64, epoch_end: u64, seconds: f64) -> Result<EpochEnd> {
        let (test_loss, test_acc) = self.learner.evaluate(self.data, &self.data.test, EVAL_BATCH, None);
        let last = epoch_end - 1;
        if !test_loss.is_finite() {
            let what = format!("the test loss after this step is {test_loss}");
            return Ok(EpochEnd::Diverged(Divergence { step: last, lr: self.schedule.lr(last), what }));
        }
        let sums = self.state.sums;
        let row = EpochRow {
            epoch,
            lr: self.schedule.lr(last),
            train_loss: sums.loss_sum / (epoch_end - epoch * self.steps_per_epoch()) as f64,
            train_acc: sums.correct / sums.seen.max(1.0),
            test_loss,
            test_acc,
            seconds: sums.seconds + seconds,
        };
        self.log.epoch(&row)?;
        self.state.sums = EpochSums::default();
        self.state.seconds += seconds;
        self.save()?;
        Ok(EpochEnd::Done(row))
    }

    /// Log the pending steps; the first non-finite loss stops there (rows before it are logged,
    /// it and those after are not) and is returned.
    fn log_steps(&mut self, pending: &mut PendingLosses<StepRow>) -> Result<Option<Divergence>> {
        for (row, loss, correct) in pending.read() {
            if !loss.is_finite() {
                self.state.step = row.step;
                return Ok(Some(Divergence {
                    step: row.step,
                    lr: row.lr,
                    what: format!("the training loss is {loss}"),
                }));
            }
            self.log.step(&StepRow { loss, ..row })?;
            self.state.sums.loss_sum += loss;
            self.state.sums.correct += correct;
        }
        Ok(None)
    }

    fn add_seconds(&mut self, seconds: f64) {
        self.state.sums.seconds += seconds;
        self.state.seconds += seconds;
    }

    fn progress_message(&self, lr: f64, started: Instant) -> String {
        let (step, spe, sums) = (self.state.step, self.steps_per_epoch(), &self.state.sums);
        let epoch = (step - 1) / spe;
        let steps_done = step - epoch * spe;
        let rate = sums.seen / (sums.seconds + started.elapsed().as_secs_f64()).max(1e-9);
        format!(
            "epoch {epoch} lr {lr:.5} loss {:.4} acc {:.4} {rate:.0} img/s",
            sums.loss_sum / steps_done.max(1) as f64,
            sums.correct / sums.seen.max(1.0)
        )
    }
}
