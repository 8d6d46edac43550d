//! The training loop, one epoch at a time: batches from the run's stream, one SGD step each at
//! the schedule's LR and momentum, losses read every few steps, evaluation and a checkpoint at the
//! end of the epoch. [`Trainer::run_epoch`] says how the epoch ended; the caller decides what
//! follows.
//!
//! In a distributed run every rank runs this loop on its share of each batch; the losses read
//! every few steps are summed over the ranks together with their stop requests, so that every
//! rank logs the same numbers and stops at the same step. Only rank 0 has a log and saves.

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
    /// Rank 0's CSV files and progress; none on the other ranks.
    pub log: Option<RunLog>,
    pub checkpoint: PathBuf,
    /// A stop (Ctrl-C, SIGTERM) that every rank agreed on at the last read of the losses.
    pub stop: bool,
}

impl Trainer<'_> {
    pub fn steps_per_epoch(&self) -> u64 {
        self.schedule.steps_per_epoch()
    }

    pub fn finished(&self) -> bool {
        self.state.step >= self.schedule.total_steps()
    }

    /// Save a checkpoint of where the run stands (every rank calls it: the batch-norm statistics
    /// are averaged over the ranks first; rank 0 writes).
    pub fn save(&mut self) -> Result<()> {
        self.learner.sync_statistics()?;
        if !self.learner.dist().is_primary() {
            return Ok(());
        }
        checkpoint::save(&self.checkpoint, &self.learner, &self.state)
    }

    /// Whether the run is to stop: agreed by every rank; a process alone also stops for a
    /// signal that came after the last read.
    pub fn stop_requested(&self) -> bool {
        self.stop || (!self.learner.dist().is_distributed() && signals::requested())
    }

    /// A line that is always shown (rank 0 only).
    pub fn line(&mut self, msg: &str) {
        if let Some(log) = &mut self.log {
            log.line(msg);
        }
    }

    /// Train the rest of the current epoch.
    pub fn run_epoch(&mut self) -> Result<EpochEnd> {
        let epoch = self.state.step / self.steps_per_epoch();
        let epoch_end = ((epoch + 1) * self.steps_per_epoch()).min(self.schedule.total_steps());
        let started = Instant::now();
        let (seed, batch_size) = (self.config.run.seed, self.config.model.batch_size);
        let (rank, world) = (self.learner.dist().rank(), self.learner.dist().world_size());
        let stream = BatchStream::new(self.data, seed, batch_size, self.state.step).shard(rank, world);
        let alone = !self.learner.dist().is_distributed();
        let mut pending = PendingLosses::default();
        for batch in stream.take((epoch_end - self.state.step) as usize) {
            let (lr, momentum) = self.schedule.lr_and_momentum(batch.step);
            let (loss, correct) = self.learner.step(&batch, lr, momentum)?;
            pending.push(StepRow { step: batch.step, epoch, lr, momentum, loss: f64::NAN }, loss, correct);
            self.state.sums.seen += batch.global_len as f64;
            self.state.step += 1;
            // Alone, a stop is read at once; ranks agree on it at their next read.
            let asked = signals::received();
            if pending.len() >= LOG_EVERY || self.state.step == epoch_end || (alone && asked.is_some()) {
                let (rows, stop) = pending.read_agreed(self.learner.dist(), asked)?;
                self.stop = stop.is_some();
                if let Some(d) = self.log_steps(rows)? {
                    return Ok(EpochEnd::Diverged(d));
                }
                let msg = self.progress_message(lr, started);
                if let Some(log) = &mut self.log {
                    log.progress(self.state.step, msg);
                }
            }
            if self.stop && self.state.step < epoch_end {
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
        let (test_loss, test_acc) = self.learner.evaluate(self.data, &self.data.test, EVAL_BATCH, None)?;
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
        if let Some(log) = &mut self.log {
            log.epoch(&row)?;
        }
        self.state.sums = EpochSums::default();
        self.state.seconds += seconds;
        self.save()?;
        Ok(EpochEnd::Done(row))
    }

    /// Log the pending steps; the first non-finite loss stops there (rows before it are logged,
    /// it and those after are not) and is returned.
    fn log_steps(&mut self, rows: Vec<(StepRow, f64, f64)>) -> Result<Option<Divergence>> {
        for (row, loss, correct) in rows {
            if !loss.is_finite() {
                self.state.step = row.step;
                return Ok(Some(Divergence {
                    step: row.step,
                    lr: row.lr,
                    what: format!("the training loss is {loss}"),
                }));
            }
            if let Some(log) = &mut self.log {
                log.step(&StepRow { loss, ..row })?;
            }
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
