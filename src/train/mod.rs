//! `clr train`: config → data → model → schedule → loop → logs, checkpoints, summary and plot.
//! Every random choice is a function of the seed and the step, and the checkpoint holds the
//! model, the momentum buffers and the epoch's running sums, so `--resume` continues exactly where
//! the run stopped.
//!
//! - `trainer.rs`: the loop, one epoch at a time;
//! - `log.rs`: steps.csv, epochs.csv and the progress bar behind one sink;
//! - `checkpoint.rs`: the run's state and tensors in one file; `summary.rs`: summary.json.

pub mod checkpoint;
pub mod log;
pub mod summary;
pub mod trainer;

use crate::config::Config;
use crate::data::Data;
use crate::learner::Learner;
use crate::optim::schedule::Schedule;
use crate::records::{self, EpochRow, StepRow};
use crate::run_dir::{self, RunLock};
use crate::runtime::{device, signals};
use anyhow::{bail, Result};
use checkpoint::{EpochSums, RunState};
use log::{LogPlan, RunLog};
use std::path::Path;
use summary::{RunFacts, Status, Summary};
use trainer::{Divergence, EpochEnd, Trainer};

/// Train with `config` into `out`; with `resume`, continue from `out`'s checkpoint.
pub fn run(config: &Config, out: &Path, resume: bool, progress: bool) -> Result<Summary> {
    let device = device::prepare(&config.run)?;
    // The data before the folder: a run that cannot start leaves nothing behind.
    let data = Data::load(&config.data, config.run.seed, device, progress)?;
    let steps_per_epoch = data.steps_per_epoch(config.model.batch_size);
    let schedule = Schedule::new(config.schedule_config()?, steps_per_epoch)?;
    let learner = Learner::new(&config.model, &config.run, data.classes, device);
    let lock = RunLock::acquire(out)?;
    let mut trainer = if resume {
        resumed(config, &data, schedule, learner, out, progress)?
    } else {
        lock.check_fresh(true)?;
        fresh(config, &data, schedule, learner, out, progress)?
    };
    let facts = RunFacts {
        device: device::name(device),
        data: &data.source,
        train_images: data.train.len,
        batch_size: config.model.batch_size,
        depth: config.model.depth,
        policy: config.schedule.policy.to_string(),
    };
    trainer.log.line(&format!(
        "train: {} on {}, depth {}, {} images, {steps_per_epoch} steps/epoch, {} steps, {} → {}",
        facts.policy,
        facts.device,
        facts.depth,
        facts.train_images,
        trainer.schedule.total_steps(),
        facts.data,
        out.display()
    ));
    if trainer.state.step > 0 {
        let step = trainer.state.step;
        trainer.log.line(&format!("resuming at step {step} (epoch {})", step / steps_per_epoch));
    }
    signals::install();
    let end = train_epochs(&mut trainer, out)?;
    trainer.log.finish();
    let status = end.as_ref().map_or(Status::Diverged, |s| *s);
    let summary = summary::write(out, &facts, &trainer.state, status);
    let drawn = draw(out);
    match end {
        Ok(_) => drawn.and(summary),
        // The divergence is the error to report, not a failed plot.
        Err(d) => Err(summary.err().unwrap_or_else(|| diverged(&trainer, d))),
    }
}

/// Run epochs until the end, an interrupt (its status) or a divergence.
fn train_epochs(trainer: &mut Trainer, out: &Path) -> Result<Result<Status, Divergence>> {
    let resume_hint = format!("continue with --resume {}", out.display());
    while !trainer.finished() {
        match trainer.run_epoch()? {
            EpochEnd::Done(row) => {
                if signals::requested() && !trainer.finished() {
                    trainer
                        .log
                        .line(&format!("interrupted after epoch {}: checkpoint saved; {resume_hint}", row.epoch));
                    return Ok(Ok(Status::Interrupted));
                }
            }
            EpochEnd::Interrupted => {
                let step = trainer.state.step;
                trainer.log.line(&format!("interrupted at step {step}: checkpoint saved; {resume_hint}"));
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
        "training diverged: {} at step {} (epoch {}, lr {:.6}); the last good checkpoint ({}) and every log \
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
    };
    let ck = out.join(checkpoint::FILE_NAME);
    checkpoint::save(&ck, &learner, &state)?;
    let log = RunLog::create(out, log_plan(config, &schedule, progress))?;
    Ok(Trainer { config, data, schedule, learner, state, log, checkpoint: ck })
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
    let Some((ck, note)) = checkpoint::load_for_resume(out)? else {
        eprintln!("{}: no checkpoint yet (the run stopped during its set-up): starting it from step 0", out.display());
        return fresh(config, data, schedule, learner, out, progress);
    };
    if let Some(note) = note {
        eprintln!("warning: {note}");
    }
    let spe = schedule.steps_per_epoch();
    if ck.state.num_classes != data.classes {
        crate::usage!(
            "{}: the model has {} outputs, but this data has {} classes: resume with the data set and \
             --labels it was trained with",
            out.display(),
            ck.state.num_classes,
            data.classes
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
    let log = RunLog::resume(out, ck.state.step, log_plan(config, &schedule, progress))?;
    let path = out.join(checkpoint::FILE_NAME);
    Ok(Trainer { config, data, schedule, learner, state: ck.state, log, checkpoint: path })
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
