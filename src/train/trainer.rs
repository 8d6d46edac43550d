//! One training run in one folder, on a session's data: [`Trainer::open`] starts it (or resumes
//! it from its checkpoint), [`Trainer::run`] trains until the end, a stop or a divergence and says
//! which ([`Outcome`]), [`Trainer::finish`] writes its summary and plot. The loop runs one epoch
//! at a time: batches from the run's stream, one SGD step each at the schedule's LR and momentum,
//! the losses read through the engine's reader, evaluation and a checkpoint at the end of the
//! epoch. Several runs can be made one after the other on the same session (same data, same
//! initial weights for the same seed).
//!
//! In a distributed run every rank runs this loop on its share of each batch; the reader sums the
//! losses over the ranks with their stop requests, so that every rank logs the same numbers and
//! stops at the same step. Rank 0 alone holds the folder: its lock, its log, its checkpoints.

use super::checkpoint::{self, EpochSums, RunState, SyntheticSet};
use super::log::{LogPlan, RunLog};
use super::summary::{self, Status, Summary, SummaryFacts};
use crate::config::Config;
use crate::data::batches::BatchStream;
use crate::engine::{digest, Learner, Reader, Session, EVAL_BATCH};
use crate::optim::schedule::Schedule;
use crate::records::{self, EpochRow, StepRow};
use crate::run_dir::{NewRun, RunDir, RunLock};
use anyhow::Result;
use std::time::Instant;

/// How [`Trainer::open`] takes its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// A new run, in a folder that holds none.
    Fresh,
    /// The stopped run in the folder, from its checkpoint.
    Resume,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every step ran.
    Completed,
    /// A stop (Ctrl-C, SIGTERM) that every rank agreed on: a checkpoint of the step reached is
    /// saved, and `Open::Resume` continues from it.
    Interrupted,
    /// A loss that is not finite: nothing of the step was logged or saved.
    Diverged(Divergence),
}

impl Outcome {
    pub fn status(&self) -> Status {
        match self {
            Outcome::Completed => Status::Completed,
            Outcome::Interrupted => Status::Interrupted,
            Outcome::Diverged(_) => Status::Diverged,
        }
    }
}

/// Where and how a run blew up.
#[derive(Debug, Clone)]
pub struct Divergence {
    pub step: u64,
    pub lr: f64,
    pub what: String,
}

/// How an epoch ended.
enum EpochEnd {
    /// The epoch ran to its end: its row is logged and its checkpoint saved.
    Done(EpochRow),
    /// Stopped inside the epoch: a checkpoint of the step reached is saved.
    Interrupted,
    Diverged(Divergence),
}

/// What rank 0 alone holds: the folder's lock and the run's log.
struct Held {
    _lock: RunLock,
    log: RunLog,
}

pub struct Trainer<'a> {
    config: &'a Config,
    session: &'a Session,
    dir: RunDir,
    schedule: Schedule,
    learner: Learner,
    state: RunState,
    held: Option<Held>,
    reader: Reader<StepRow>,
}

impl<'a> Trainer<'a> {
    /// This rank's trainer of the run `config` in `dir`. Rank 0 takes the folder's lock and starts
    /// the run there (`Open::Fresh`: config.json, a checkpoint of step 0, new CSVs) or resumes it
    /// from its checkpoint, then sends the run's state, or its failure, to the other ranks; every
    /// rank then takes rank 0's replica.
    pub fn open(config: &'a Config, session: &'a Session, dir: &RunDir, open: Open) -> Result<Trainer<'a>> {
        let schedule =
            Schedule::new(config.schedule_config()?, session.data().steps_per_epoch(config.model.batch_size))?;
        let mut learner = session.learner(config);
        let plan = LogPlan {
            steps_per_epoch: schedule.steps_per_epoch(),
            total_steps: schedule.total_steps(),
            progress: session.progress(),
            tensorboard: config.run.tensorboard,
        };
        let (held, state) = session.dist().split_from_root(|| {
            let (lock, (log, state)) = match open {
                Open::Resume => (RunLock::acquire(dir.path())?, resumed(config, session, &mut learner, dir, plan)?),
                Open::Fresh => (RunLock::new_run(dir, NewRun::Training)?, fresh(config, session, &learner, dir, plan)?),
            };
            Ok((Held { _lock: lock, log }, state))
        })?;
        learner.copy_from_root()?;
        Ok(Trainer::new(config, session, dir, schedule, learner, state, held))
    }

    fn new(
        config: &'a Config,
        session: &'a Session,
        dir: &RunDir,
        schedule: Schedule,
        learner: Learner,
        state: RunState,
        held: Option<Held>,
    ) -> Trainer<'a> {
        let reader = Reader::new(std::rc::Rc::clone(session.dist()));
        Trainer { config, session, dir: dir.clone(), schedule, learner, state, held, reader }
    }

    /// Train until the end, a stop or a divergence: the stops are listened for from the first
    /// line on, so that a Ctrl-C stops the run as one.
    pub fn run(&mut self) -> Result<Outcome> {
        self.session.listen("finishing the current step and saving a checkpoint");
        let c = self.config;
        self.line(&format!(
            "train: {} on {}, {} depth {}, {} images, {} steps/epoch, {} steps, {} → {}",
            c.schedule.policy,
            self.session.describe(),
            c.model.arch,
            c.model.depth,
            self.session.data().train.len,
            self.steps_per_epoch(),
            self.schedule.total_steps(),
            self.session.data().source,
            self.dir.path().display()
        ));
        if self.state.step > 0 {
            let step = self.state.step;
            self.line(&format!("resuming at step {step} (epoch {})", step / self.steps_per_epoch()));
        }
        let outcome = self.epochs()?;
        if let Some(held) = &self.held {
            held.log.finish();
        }
        digest::write(&mut self.learner, "train", self.state.step)?;
        Ok(outcome)
    }

    /// Rank 0 writes summary.json and draws curves.png (a diverged run's plot is drawn if it can
    /// be: its failure is not the one to report); the other ranks know how the run ended, not its
    /// records.
    pub fn finish(self, outcome: &Outcome) -> Result<Summary> {
        let status = outcome.status();
        if self.held.is_none() {
            return Ok(summary::of_rank(status, &self.state));
        }
        let data = self.session.data();
        let facts = SummaryFacts {
            device: crate::runtime::device::name(self.session.device()),
            data: &data.source,
            train_images: data.train.len,
            batch_size: self.config.model.batch_size,
            depth: self.config.model.depth,
            policy: self.config.schedule.policy.to_string(),
            distributed: summary::distributed(self.session.dist()),
        };
        let summary = summary::write(&self.dir, &facts, &self.state, status);
        let drawn = draw(&self.dir);
        match outcome {
            Outcome::Diverged(_) => summary,
            _ => drawn.and(summary),
        }
    }

    /// The error that reports a diverged run: its step, epoch and LR, where its last good
    /// checkpoint is (the other ranks leave the message to rank 0).
    pub fn divergence_error(&self, d: &Divergence) -> anyhow::Error {
        if self.held.is_none() {
            return crate::error::ReportedByRank0.into();
        }
        anyhow::anyhow!(
            "training diverged: {} at step {} (epoch {}, lr {:.3e}); the last good checkpoint ({}) and every log \
             row before that step are kept. Lower --max-lr or --base-lr.",
            d.what,
            d.step,
            d.step / self.steps_per_epoch(),
            d.lr,
            self.dir.checkpoint_pt().display()
        )
    }

    fn steps_per_epoch(&self) -> u64 {
        self.schedule.steps_per_epoch()
    }

    fn finished(&self) -> bool {
        self.state.step >= self.schedule.total_steps()
    }

    /// Run epochs until the end, an interrupt or a divergence.
    fn epochs(&mut self) -> Result<Outcome> {
        let resume_hint = format!("continue with --resume {}", self.dir.path().display());
        while !self.finished() {
            match self.epoch()? {
                EpochEnd::Done(row) => {
                    if self.reader.stop_requested() && !self.finished() {
                        self.line(&format!("interrupted after epoch {}: checkpoint saved; {resume_hint}", row.epoch));
                        return Ok(Outcome::Interrupted);
                    }
                }
                EpochEnd::Interrupted => {
                    let step = self.state.step;
                    self.line(&format!("interrupted at step {step}: checkpoint saved; {resume_hint}"));
                    return Ok(Outcome::Interrupted);
                }
                EpochEnd::Diverged(d) => return Ok(Outcome::Diverged(d)),
            }
        }
        Ok(Outcome::Completed)
    }

    /// Save a checkpoint of where the run stands (every rank calls it: the batch-norm statistics
    /// are averaged over the ranks first; rank 0 writes).
    fn save(&mut self) -> Result<()> {
        self.learner.sync_statistics()?;
        match &self.held {
            Some(_) => checkpoint::save(&self.dir, &self.learner, &self.state),
            None => Ok(()),
        }
    }

    /// A line that is always shown (rank 0 only).
    fn line(&mut self, msg: &str) {
        if let Some(held) = &mut self.held {
            held.log.line(msg);
        }
    }

    /// Train the rest of the current epoch.
    fn epoch(&mut self) -> Result<EpochEnd> {
        let epoch = self.state.step / self.steps_per_epoch();
        let epoch_end = ((epoch + 1) * self.steps_per_epoch()).min(self.schedule.total_steps());
        let started = Instant::now();
        let (seed, batch_size) = (self.config.run.seed, self.config.model.batch_size);
        let dist = self.session.dist();
        let stream = BatchStream::new(self.session.data(), seed, batch_size, self.state.step);
        for batch in stream.shard(dist.rank(), dist.world_size()).take((epoch_end - self.state.step) as usize) {
            let (lr, momentum) = self.schedule.lr_and_momentum(batch.step);
            let (loss, correct) = self.learner.step(&batch, lr, momentum)?;
            self.state.sums.seen += batch.global_len as f64;
            self.state.step += 1;
            let row = StepRow { step: batch.step, epoch, lr, momentum, loss: f64::NAN };
            if let Some(rows) = self.reader.push(row, loss, correct, self.state.step == epoch_end)? {
                if let Some(d) = self.log_steps(rows)? {
                    return Ok(EpochEnd::Diverged(d));
                }
                let msg = self.progress_message(lr, started);
                if let Some(held) = &mut self.held {
                    held.log.progress(self.state.step, msg);
                }
            }
            if self.reader.stop().is_some() && self.state.step < epoch_end {
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
        let data = self.session.data();
        let (test_loss, test_acc) = self.learner.evaluate(data, &data.test, EVAL_BATCH, None)?;
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
        if let Some(held) = &mut self.held {
            held.log.epoch(&row)?;
        }
        self.state.sums = EpochSums::default();
        self.state.seconds += seconds;
        self.save()?;
        Ok(EpochEnd::Done(row))
    }

    /// Log the steps read; the first non-finite loss stops there (rows before it are logged,
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
            if let Some(held) = &mut self.held {
                held.log.step(&StepRow { loss, ..row })?;
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

/// A run from step 0: config.json, a checkpoint of step 0 (so that a run killed in its first
/// epoch can be resumed too), then new CSVs. A kill before the checkpoint leaves config.json
/// alone: a folder that `--resume` (or a new run) starts again.
fn fresh(
    config: &Config,
    session: &Session,
    learner: &Learner,
    dir: &RunDir,
    plan: LogPlan,
) -> Result<(RunLog, RunState)> {
    session.recorded(config).save(&dir.config_json())?;
    let data = session.data();
    let state = RunState {
        format: 1,
        depth: config.model.depth,
        step: 0,
        steps_per_epoch: plan.steps_per_epoch,
        mean: data.mean,
        std: data.std,
        sums: EpochSums::default(),
        seconds: 0.0,
        num_classes: data.classes,
        dataset: Some(config.data.dataset),
        labels: Some(config.data.labels),
        synthetic: SyntheticSet::of(&config.data, config.run.seed),
        config: Some(serde_json::to_value(config)?),
        image_size: data.image_size,
        class_names: data.class_names.clone(),
        arch: config.model.arch,
        width: config.model.width,
    };
    checkpoint::save(dir, learner, &state)?;
    Ok((RunLog::create(dir, plan)?, state))
}

/// A run continued from its checkpoint (the previous one when the latest is damaged), which
/// must match this data and config, and whose CSVs must hold every row before it.
fn resumed(
    config: &Config,
    session: &Session,
    learner: &mut Learner,
    dir: &RunDir,
    plan: LogPlan,
) -> Result<(RunLog, RunState)> {
    dir.check_not_a_range_test()?;
    let out = dir.path();
    let Some((ck, note)) = checkpoint::load_for_resume(dir)? else {
        super::changes::check_never_saved(dir)?;
        eprintln!("{}: no checkpoint yet (the run stopped during its set-up): starting it from step 0", out.display());
        return fresh(config, session, learner, dir, plan);
    };
    if let Some(note) = note {
        eprintln!("warning: {note}");
    }
    let data = session.data();
    if ck.state.image_size != data.image_size {
        let (was, size) = (ck.state.image_size, data.image_size);
        crate::usage!(
            "{}: the model learned from {was}x{was} images, but this data has {size}x{size}: resume with the \
             --image-size it was trained with",
            out.display()
        );
    }
    let changed = super::changes::check(dir, &ck.state, config, data.classes, plan.steps_per_epoch)?;
    learner.restore(&ck.model, Some(&ck.momentum))?;
    let log = RunLog::resume(dir, ck.state.step, plan)?;
    if let Some(note) = changed {
        eprintln!("{note}");
    }
    // The checkpoints from here record the config the run goes on with (and a checkpoint from
    // before the synthetic set was recorded gets it from config.json).
    let state = RunState {
        synthetic: ck.state.synthetic.or(SyntheticSet::of(&config.data, config.run.seed)),
        config: Some(serde_json::to_value(config)?),
        ..ck.state
    };
    Ok((log, state))
}

/// Redraw curves.png from the run's CSV files.
fn draw(dir: &RunDir) -> Result<()> {
    let steps: Vec<StepRow> = records::read_rows(&dir.steps_csv())?;
    let epochs: Vec<EpochRow> = records::read_rows(&dir.epochs_csv())?;
    let title = format!("clr train: {}", dir.path().display());
    crate::plot::curves_png(&dir.curves_png(), &steps, &epochs, &title)
}

#[cfg(test)]
#[path = "trainer_tests.rs"]
mod tests;
