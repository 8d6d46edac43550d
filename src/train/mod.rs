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
use crate::records::Summary;
use crate::run_dir::RunDir;
use anyhow::Result;

/// Train `config` into `dir` on the session's data (a new run, or `Open::Resume` from `dir`'s
/// checkpoint): the run's summary, or, when it diverged, the error that says where.
pub fn run(config: &Config, session: &Session, dir: &RunDir, open: Open) -> Result<Summary> {
    let mut trainer = Trainer::open(config, session, dir, open)?;
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
