//! `summary.json` of a training run (the type is `records::Summary`): worked out from `epochs.csv`
//! (it holds every epoch, those before a resume too) and the run's state, never from a second
//! copy kept in memory.

use super::checkpoint::RunState;
use crate::dist::Dist;
use crate::records::{self, EpochRow};
use crate::run_dir::RunDir;
use anyhow::Result;

pub use crate::records::{Distributed, Status, Summary};

/// How a distributed run ran, for its summary (None for a process alone).
pub fn distributed(dist: &Dist) -> Option<Distributed> {
    let backend = dist.backend()?.to_string();
    let timing = dist.gradient_reduce_ms();
    Some(Distributed {
        processes: dist.world_size(),
        backend,
        all_reduces: timing.map_or(0, |t| t.0),
        all_reduce_ms_median: timing.map(|t| t.1),
    })
}

/// What a rank other than 0 knows of how the run ended: where, not its records (rank 0 writes
/// summary.json).
pub fn of_rank(status: Status, state: &RunState) -> Summary {
    Summary {
        status,
        final_test_acc: None,
        best_test_acc: None,
        final_test_loss: None,
        final_train_loss: None,
        epochs: state.step / state.steps_per_epoch,
        steps: state.step,
        seconds: state.seconds,
        train_images_per_sec: 0.0,
        device: String::new(),
        data: String::new(),
        depth: state.depth,
        policy: String::new(),
        distributed: None,
    }
}

/// What a run is, beside its state, for its summary.
pub struct SummaryFacts<'a> {
    pub device: String,
    pub data: &'a str,
    pub train_images: usize,
    pub batch_size: usize,
    pub depth: usize,
    pub policy: String,
    pub distributed: Option<Distributed>,
}

/// Write the run's summary.json and return it.
pub fn write(dir: &RunDir, facts: &SummaryFacts, state: &RunState, status: Status) -> Result<Summary> {
    let rows: Vec<EpochRow> = records::read_rows(&dir.epochs_csv())?;
    let last = rows.last();
    let seconds = state.seconds;
    // Images trained on: whole epochs, then full batches of the epoch in progress.
    let (done, partial) = (state.step / state.steps_per_epoch, state.step % state.steps_per_epoch);
    let images = (done as usize * facts.train_images + partial as usize * facts.batch_size) as f64;
    let summary = Summary {
        status,
        final_test_acc: last.map(|r| r.test_acc),
        best_test_acc: rows.iter().map(|r| r.test_acc).reduce(f64::max),
        final_test_loss: last.map(|r| r.test_loss),
        final_train_loss: last.map(|r| r.train_loss),
        epochs: rows.len() as u64,
        steps: state.step,
        seconds,
        train_images_per_sec: if seconds > 0.0 { images / seconds } else { 0.0 },
        device: facts.device.clone(),
        data: facts.data.to_string(),
        depth: facts.depth,
        policy: facts.policy.clone(),
        distributed: facts.distributed.clone(),
    };
    crate::files::write_json(&dir.summary_json(), &summary)?;
    Ok(summary)
}
