//! `summary.json`: how a training run ended, from `epochs.csv` (it holds every epoch, those before
//! a resume too) and the run's state, never from a second copy kept in memory.

use super::checkpoint::RunState;
use crate::records::{self, EpochRow};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Interrupted,
    Diverged,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub status: Status,
    pub final_test_acc: Option<f64>,
    pub best_test_acc: Option<f64>,
    pub final_test_loss: Option<f64>,
    pub final_train_loss: Option<f64>,
    /// Epochs completed.
    pub epochs: u64,
    pub steps: u64,
    /// Training seconds (evaluation excluded), resumed parts included.
    pub seconds: f64,
    pub train_images_per_sec: f64,
    pub device: String,
    pub data: String,
    pub depth: usize,
    pub policy: String,
}

/// What a run is, beside its state, for its summary.
pub struct RunFacts<'a> {
    pub device: String,
    pub data: &'a str,
    pub train_images: usize,
    pub batch_size: usize,
    pub depth: usize,
    pub policy: String,
}

/// Write `out/summary.json` and return it.
pub fn write(out: &Path, facts: &RunFacts, state: &RunState, status: Status) -> Result<Summary> {
    let rows: Vec<EpochRow> = records::read_rows(&out.join("epochs.csv"))?;
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
    };
    crate::files::write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}
