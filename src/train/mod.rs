//! `clr train`: config → data → model → schedule → loop → logs, checkpoints, summary and plot.
//! Every random choice is a function of the seed and the step, and the checkpoint holds the
//! model, the momentum buffers and the epoch's running sums, so `--resume` continues exactly where
//! the run stopped.
//!
//! - `trainer.rs`: one run in one folder ([`Trainer`]: open, run, finish), one epoch at a time;
//! - `log.rs`: steps.csv, epochs.csv and the progress bar behind one sink;
//! - `checkpoint.rs`: the run's state and tensors in one file; `summary.rs`: summary.json.
//!
//! On several processes (`dist`), rank 0 holds the run folder: it locks it, starts or resumes the
//! run in it and sends the run's state and its replica to the others; it alone writes.

pub mod checkpoint;
pub mod log;
pub mod summary;
pub mod trainer;

pub use trainer::{Divergence, Open, Outcome, Trainer};

use crate::config::Config;
use crate::engine::Session;
use anyhow::Result;
use std::path::Path;
use summary::Summary;

/// Train `config` into `out` on the session's data (a new run, or `Open::Resume` from `out`'s
/// checkpoint): the run's summary, or, when it diverged, the error that says where.
pub fn run(config: &Config, session: &Session, out: &Path, open: Open) -> Result<Summary> {
    let mut trainer = Trainer::open(config, session, out, open)?;
    let outcome = trainer.run()?;
    let diverged = match &outcome {
        Outcome::Diverged(d) => Some(trainer.divergence_error(d)),
        _ => None,
    };
    let summary = trainer.finish(&outcome)?;
    match diverged {
        Some(error) => Err(error),
        None => Ok(summary),
    }
}

/// A new run never writes over an old one: its checkpoint would be mistaken for this run's by
/// `--resume`. (A folder with config.json alone holds a run that never started.)
pub fn check_fresh(out: &Path) -> Result<(), crate::error::UsageError> {
    crate::run_dir::check_fresh(out, true)
}
