//! `clr train`: config → data → model → schedule → loop → logs, checkpoints, summary and plot.
//! Every random choice is a function of the seed and the step, and the checkpoint holds the
//! model, the momentum buffers and the epoch's running sums, so `--resume` continues exactly where
//! the run stopped.
//!
//! - `trainer.rs`: the loop, one epoch at a time;
//! - `log.rs`: steps.csv, epochs.csv and the progress bar behind one sink;
//! - `checkpoint.rs`: the run's state and tensors in one file; `summary.rs`: summary.json.
//!
//! On several processes (`dist`), rank 0 holds the run folder: it locks it, starts or resumes the
//! run in it and sends the run's state and its replica to the others; it alone writes.

pub mod checkpoint;
pub mod log;
pub mod summary;
pub mod trainer;

use crate::config::Config;
use crate::data::Data;
use crate::dist::{setup, Dist};
use crate::error::ReportedByRank0;
use crate::learner::Learner;
use crate::optim::schedule::Schedule;
use crate::records::{self, EpochRow, StepRow};
use crate::run_dir::{self, RunLock};
use crate::runtime::{device, signals};
use anyhow::{bail, Result};
use checkpoint::{EpochSums, RunState};
use log::{LogPlan, RunLog};
use std::path::Path;
use std::rc::Rc;
use summary::{RunFacts, Status, Summary};
use trainer::{Divergence, EpochEnd, Trainer};

/// Train with `config` into `out`; with `resume`, continue from `out`'s checkpoint. `dist` is the
/// run's place among the processes that train it (alone: `Dist::single()`).
pub fn run(config: &Config, out: &Path, resume: bool, progress: bool, dist: Rc<Dist>) -> Result<Summary> {
    let device = device::prepare(&dist.rank_settings(&config.run))?;
    // The data before the folder: a run that cannot start leaves nothing behind.
    let data = setup::load_data(&config.data, config.run.seed, device, progress, &dist)?;
    // config.json names the classes the data has.
    let config = &config.with_class_names(data.class_names.as_deref());
    let steps_per_epoch = data.steps_per_epoch(config.model.batch_size);
    let schedule = Schedule::new(config.schedule_config()?, steps_per_epoch)?;
    let learner = Learner::new(&config.model, &config.run, data.classes, device).in_group(Rc::clone(&dist));
    let (_lock, mut trainer) = start(config, &data, schedule, learner, out, resume, progress && dist.is_primary())?;
    let mut facts = RunFacts {
        device: device::name(device),
        data: &data.source,
        train_images: data.train.len,
        batch_size: config.model.batch_size,
        depth: config.model.depth,
        policy: config.schedule.policy.to_string(),
        distributed: None,
    };
    // Listening before the first line: a Ctrl-C from then on stops the run as one.
    signals::set_notice("finishing the current step and saving a checkpoint");
    signals::install();
    trainer.line(&format!(
        "train: {} on {}{}, depth {}, {} images, {steps_per_epoch} steps/epoch, {} steps, {} → {}",
        facts.policy,
        facts.device,
        dist.describe(),
        facts.depth,
        facts.train_images,
        trainer.schedule.total_steps(),
        facts.data,
        out.display()
    ));
    if trainer.state.step > 0 {
        let step = trainer.state.step;
        trainer.line(&format!("resuming at step {step} (epoch {})", step / steps_per_epoch));
    }
    let end = train_epochs(&mut trainer, out)?;
    if let Some(log) = &trainer.log {
        log.finish();
    }
    trainer.learner.write_digest("train", trainer.state.step)?;
    let status = end.as_ref().map_or(Status::Diverged, |s| *s);
    if !dist.is_primary() {
        return end.map(|_| Summary::of_rank(status, &trainer.state)).map_err(|_| ReportedByRank0.into());
    }
    facts.distributed = summary::Distributed::of(&dist);
    let summary = summary::write(out, &facts, &trainer.state, status);
    let drawn = draw(out);
    match end {
        Ok(_) => drawn.and(summary),
        // The divergence is the error to report, not a failed plot.
        Err(d) => Err(summary.err().unwrap_or_else(|| diverged(&trainer, d))),
    }
}

/// This rank's trainer. Rank 0 takes the folder's lock and starts the run there (or resumes it
/// from its checkpoint), then sends the run's state, or its failure, to the other ranks; every
/// rank then takes rank 0's replica.
fn start<'a>(
    config: &'a Config,
    data: &'a Data,
    schedule: Schedule,
    learner: Learner,
    out: &Path,
    resume: bool,
    progress: bool,
) -> Result<(Option<RunLock>, Trainer<'a>)> {
    if !learner.dist().is_primary() {
        let state: RunState = learner.dist().receive()?;
        let mut trainer = Trainer {
            config,
            data,
            schedule,
            learner,
            state,
            log: None,
            checkpoint: out.join(checkpoint::FILE_NAME),
            stop: false,
        };
        trainer.learner.copy_from_root()?;
        return Ok((None, trainer));
    }
    let dist = Rc::clone(learner.dist_rc());
    let started = RunLock::acquire(out).and_then(|lock| {
        let trainer = if resume {
            resumed(config, data, schedule, learner, out, progress)?
        } else {
            lock.check_fresh(true)?;
            fresh(config, data, schedule, learner, out, progress)?
        };
        Ok((lock, trainer))
    });
    dist.publish(started.as_ref().map(|(_, t)| &t.state))?;
    let (lock, mut trainer) = started?;
    trainer.learner.copy_from_root()?;
    Ok((Some(lock), trainer))
}

/// Run epochs until the end, an interrupt (its status) or a divergence.
fn train_epochs(trainer: &mut Trainer, out: &Path) -> Result<Result<Status, Divergence>> {
    let resume_hint = format!("continue with --resume {}", out.display());
    while !trainer.finished() {
        match trainer.run_epoch()? {
            EpochEnd::Done(row) => {
                if trainer.stop_requested() && !trainer.finished() {
                    trainer.line(&format!("interrupted after epoch {}: checkpoint saved; {resume_hint}", row.epoch));
                    return Ok(Ok(Status::Interrupted));
                }
            }
            EpochEnd::Interrupted => {
                let step = trainer.state.step;
                trainer.line(&format!("interrupted at step {step}: checkpoint saved; {resume_hint}"));
                return Ok(Ok(Status::Interrupted));
            }
            EpochEnd::Diverged(d) => return Ok(Err(d)),
        }
    }
    Ok(Ok(Status::Completed))
}

/// The error that reports a diverged run.
fn diverged(trainer: &Trainer, d: Divergence) -> anyhow::Error {
    anyhow::anyhow!(
        "training diverged: {} at step {} (epoch {}, lr {:.3e}); the last good checkpoint ({}) and every log \
         row before that step are kept. Lower --max-lr or --base-lr.",
        d.what,
        d.step,
        d.step / trainer.steps_per_epoch(),
        d.lr,
        trainer.checkpoint.display()
    )
}

/// A run from step 0: config.json, a checkpoint of step 0 (so that a run killed in its first
/// epoch can be resumed too), then new CSVs. A kill before the checkpoint leaves config.json
/// alone: a folder that `--resume` (or a new run) starts again.
fn fresh<'a>(
    config: &'a Config,
    data: &'a Data,
    schedule: Schedule,
    learner: Learner,
    out: &Path,
    progress: bool,
) -> Result<Trainer<'a>> {
    config.save(out)?;
    let state = RunState {
        format: 1,
        depth: config.model.depth,
        step: 0,
        steps_per_epoch: schedule.steps_per_epoch(),
        mean: data.mean,
        std: data.std,
        sums: EpochSums::default(),
        seconds: 0.0,
        num_classes: data.classes,
        dataset: Some(config.data.dataset),
        labels: Some(config.data.labels),
        image_size: data.image_size,
        class_names: data.class_names.clone(),
    };
    let ck = out.join(checkpoint::FILE_NAME);
    checkpoint::save(&ck, &learner, &state)?;
    let log = Some(RunLog::create(out, log_plan(config, &schedule, progress))?);
    Ok(Trainer { config, data, schedule, learner, state, log, checkpoint: ck, stop: false })
}

/// A run continued from its checkpoint (the previous one when the latest is damaged), which
/// must match this data and config, and whose CSVs must hold every row before it.
fn resumed<'a>(
    config: &'a Config,
    data: &'a Data,
    schedule: Schedule,
    mut learner: Learner,
    out: &Path,
    progress: bool,
) -> Result<Trainer<'a>> {
    run_dir::check_not_a_range_test(out)?;
    let Some((ck, note)) = checkpoint::load_for_resume(out)? else {
        eprintln!("{}: no checkpoint yet (the run stopped during its set-up): starting it from step 0", out.display());
        return fresh(config, data, schedule, learner, out, progress);
    };
    if let Some(note) = note {
        eprintln!("warning: {note}");
    }
    let spe = schedule.steps_per_epoch();
    if ck.state.num_classes != data.classes || ck.state.image_size != data.image_size {
        crate::usage!(
            "{}: the model has {} outputs for {}x{} images, but this data has {} classes of {}x{}: resume with the \
             data set and --labels it was trained with",
            out.display(),
            ck.state.num_classes,
            ck.state.image_size,
            ck.state.image_size,
            data.classes,
            data.image_size,
            data.image_size
        );
    }
    if ck.state.steps_per_epoch != spe || ck.state.depth != config.model.depth {
        bail!(
            "{}: saved with {} steps per epoch at depth {}, but this data and config give {spe} at depth {}: \
             resume with the same data and batch size",
            out.display(),
            ck.state.steps_per_epoch,
            ck.state.depth,
            config.model.depth
        );
    }
    learner.restore(&ck.model, Some(&ck.momentum))?;
    let log = Some(RunLog::resume(out, ck.state.step, log_plan(config, &schedule, progress))?);
    let path = out.join(checkpoint::FILE_NAME);
    Ok(Trainer { config, data, schedule, learner, state: ck.state, log, checkpoint: path, stop: false })
}

fn log_plan(config: &Config, schedule: &Schedule, progress: bool) -> LogPlan {
    LogPlan {
        steps_per_epoch: schedule.steps_per_epoch(),
        total_steps: schedule.total_steps(),
        progress,
        tensorboard: config.run.tensorboard,
    }
}

/// A new run never writes over an old one: its checkpoint would be mistaken for this run's by
/// `--resume`. (A folder with config.json alone holds a run that never started.)
pub fn check_fresh(out: &Path) -> Result<(), crate::error::UsageError> {
    run_dir::check_fresh(out, true)
}

/// Redraw curves.png from the run's CSV files.
fn draw(out: &Path) -> Result<()> {
    let steps: Vec<StepRow> = records::read_rows(&out.join("steps.csv"))?;
    let epochs: Vec<EpochRow> = records::read_rows(&out.join("epochs.csv"))?;
    crate::plot::curves_png(&out.join("curves.png"), &steps, &epochs, &format!("clr train: {}", out.display()))
}
