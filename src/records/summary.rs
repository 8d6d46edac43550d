//! `summary.json`: how a training run ended (written by `train`, read by `compare`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Interrupted,
    Diverged,
}

impl Status {
    /// The word summary.json holds.
    pub fn name(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Interrupted => "interrupted",
            Status::Diverged => "diverged",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_json_words() {
        for s in [Status::Completed, Status::Interrupted, Status::Diverged] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
        }
    }
}
