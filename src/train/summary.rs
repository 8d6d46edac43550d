//! `summary.json`: how a training run ended, from `epochs.csv` (it holds every epoch, those before
//! a resume too) and the run's state, never from a second copy kept in memory.

use super::checkpoint::RunState;
use crate::dist::Dist;
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
    /// The processes of a distributed run (absent for a process alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<Distributed>,
}

/// How a distributed run (its last part, after a resume) ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distributed {
    pub processes: usize,
    pub backend: String,
    /// Gradient all-reduces of rank 0 (one per step) and their median time.
    pub all_reduces: usize,
    pub all_reduce_ms_median: Option<f64>,
}

impl Distributed {
    pub fn of(dist: &Dist) -> Option<Distributed> {
        let backend = dist.backend()?.to_string();
        let timing = dist.gradient_reduce_ms();
        Some(Distributed {
            processes: dist.world_size(),
            backend,
            all_reduces: timing.map_or(0, |t| t.0),
            all_reduce_ms_median: timing.map(|t| t.1),
        })
    }
}

impl Summary {
    /// A rank other than 0 knows how the run ended and where, not its records (rank 0 writes
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
}

/// What a run is, beside its state, for its summary.
pub struct RunFacts<'a> {
    pub device: String,
    pub data: &'a str,
    pub train_images: usize,
    pub batch_size: usize,
    pub depth: usize,
    pub policy: String,
    pub distributed: Option<Distributed>,
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
        distributed: facts.distributed.clone(),
    };
    crate::files::write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}
