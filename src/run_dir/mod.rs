//! A run folder (`--out`, `--resume`, `clr plot RUN_DIR`, `clr compare RUN_DIR…`): the names of the
//! files clr writes there, stated once, and typed readers for its JSON files, so that no command
//! reads them as untyped JSON; and (`lock.rs`) the lock that lets one clr at a time hold it.
//!
//! | file | written by |
//! | --- | --- |
//! | `config.json` | every run: the resolved [`Config`] |
//! | `steps.csv`, `epochs.csv`, `summary.json`, `checkpoint.pt`, `checkpoint.prev.pt`, `curves.png` | `train` |
//! | `lr_find.csv`, `range_test.json`, `range_test.png` | `range-test` (and `train --max-lr auto`, in `range_test/`) |
//! | `sweep.json`, `sweep.csv`, `sweep.png` | `range-test --sweep`, one sub-folder per value |
//! | `grid.json`, `grid.csv`, `grid.png` | `grid`, one training sub-folder per `max_lr` (and `range_test/`) |

mod lock;

pub use lock::{check_not_in_use, RunLock};

use crate::config::{Config, Layer};
use crate::error::UsageError;
use crate::lr_finder::grid::GridReport;
use crate::lr_finder::{RangeTestReport, SweepReport};
use crate::records::Summary;
use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

const CONFIG: &str = "config.json";
const STEPS: &str = "steps.csv";
const EPOCHS: &str = "epochs.csv";
const SUMMARY: &str = "summary.json";
const CHECKPOINT: &str = "checkpoint.pt";
const PREVIOUS_CHECKPOINT: &str = "checkpoint.prev.pt";
const CURVES_PNG: &str = "curves.png";
const LR_FIND: &str = "lr_find.csv";
const RANGE_TEST: &str = "range_test.json";
const RANGE_TEST_PNG: &str = "range_test.png";
const SWEEP: &str = "sweep.json";
const SWEEP_CSV: &str = "sweep.csv";
const SWEEP_PNG: &str = "sweep.png";
const GRID: &str = "grid.json";
const GRID_CSV: &str = "grid.csv";
const GRID_PNG: &str = "grid.png";
/// The folder of `--max-lr auto`'s range test inside the training run's.
const AUTO_RANGE_TEST: &str = "range_test";
/// The folder of `train --verify`'s short runs inside the training run's.
const VERIFY: &str = "verify";

/// The files that make a folder a run's (of `train`, `range-test`, `--repeats`, a sweep or a grid). config.json alone
/// does not: it is written first, so a run killed before anything else never started.
const RUN_FILES: &[&str] = &[CHECKPOINT, PREVIOUS_CHECKPOINT, STEPS, LR_FIND, RANGE_TEST, SWEEP, GRID];
/// The files of a range test (or a sweep, or a grid): such a folder is not a training run to resume.
const RANGE_TEST_FILES: &[&str] = &[LR_FIND, RANGE_TEST, SWEEP, GRID];

/// What a new run in a folder is, for the message that refuses a folder already holding one
/// (a training run's suggests `--resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewRun {
    Training,
    RangeTest,
    Grid,
}

/// A run folder, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder `name` inside this one (a sweep's value, `--max-lr auto`'s range test).
    pub fn sub(&self, name: &str) -> RunDir {
        RunDir::new(self.path.join(name))
    }

    /// Where `train --max-lr auto` runs its range test.
    pub fn auto_range_test(&self) -> RunDir {
        self.sub(AUTO_RANGE_TEST)
    }

    /// Where `train --verify` runs its candidates (a grid).
    pub fn verify(&self) -> RunDir {
        self.sub(VERIFY)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn config_json(&self) -> PathBuf {
        self.file(CONFIG)
    }
    pub fn steps_csv(&self) -> PathBuf {
        self.file(STEPS)
    }
    pub fn epochs_csv(&self) -> PathBuf {
        self.file(EPOCHS)
    }
    pub fn summary_json(&self) -> PathBuf {
        self.file(SUMMARY)
    }
    pub fn checkpoint_pt(&self) -> PathBuf {
        self.file(CHECKPOINT)
    }
    /// The checkpoint before the latest, kept by every save.
    pub fn previous_checkpoint_pt(&self) -> PathBuf {
        self.file(PREVIOUS_CHECKPOINT)
    }
    pub fn curves_png(&self) -> PathBuf {
        self.file(CURVES_PNG)
    }
    pub fn lr_find_csv(&self) -> PathBuf {
        self.file(LR_FIND)
    }
    pub fn range_test_json(&self) -> PathBuf {
        self.file(RANGE_TEST)
    }
    pub fn range_test_png(&self) -> PathBuf {
        self.file(RANGE_TEST_PNG)
    }
    pub fn sweep_json(&self) -> PathBuf {
        self.file(SWEEP)
    }
    pub fn sweep_csv(&self) -> PathBuf {
        self.file(SWEEP_CSV)
    }
    pub fn sweep_png(&self) -> PathBuf {
        self.file(SWEEP_PNG)
    }
    pub fn grid_json(&self) -> PathBuf {
        self.file(GRID)
    }
    pub fn grid_csv(&self) -> PathBuf {
        self.file(GRID_CSV)
    }
    pub fn grid_png(&self) -> PathBuf {
        self.file(GRID_PNG)
    }

    /// The first file of a run in this folder, if it holds one.
    pub fn run_file(&self) -> Option<&'static str> {
        RUN_FILES.iter().copied().find(|f| self.file(f).exists())
    }

    /// A usage error unless this folder is free for a new run: no other clr holds it, and it
    /// holds no run (a new run never writes over another).
    pub fn check_fresh(&self, new: NewRun) -> Result<(), UsageError> {
        self.check_not_in_use()?;
        self.check_holds_no_run(new)
    }

    /// A usage error when another clr holds this folder (nothing is created or locked here).
    pub fn check_not_in_use(&self) -> Result<(), UsageError> {
        check_not_in_use(&self.path)
    }

    /// A usage error when this folder holds a range test (or a sweep) rather than a training run.
    pub fn check_not_a_range_test(&self) -> Result<(), UsageError> {
        match RANGE_TEST_FILES.iter().find(|f| self.file(f).exists()) {
            None => Ok(()),
            Some(file) => Err(UsageError::new(format!(
                "{} holds a {} ({file}), not a training run: --resume continues training runs",
                self.path.display(),
                if *file == GRID { "grid" } else { "range test" }
            ))),
        }
    }

    pub(super) fn check_holds_no_run(&self, new: NewRun) -> Result<(), UsageError> {
        let Some(file) = self.run_file() else { return Ok(()) };
        let resumable = new == NewRun::Training && !RANGE_TEST_FILES.contains(&file);
        let hint = if resumable {
            format!("continue it with --resume {}, or ", self.path.display())
        } else if new == NewRun::Grid && file == GRID {
            format!("continue it with clr grid --resume {}, or ", self.path.display())
        } else if file == SWEEP {
            format!("continue a stopped sweep with range-test --resume {}, or ", self.path.display())
        } else {
            String::new()
        };
        Err(UsageError::new(format!(
            "--out {} already holds a run ({file}): {hint}choose another --out",
            self.path.display()
        )))
    }

    /// The run's `config.json`, resolved; None when there is none. An error starts with the
    /// file's path and names the field.
    pub fn read_config(&self) -> Result<Option<Config>, UsageError> {
        let path = self.config_json();
        if !path.is_file() {
            return Ok(None);
        }
        let place = path.display().to_string();
        let named = |e: UsageError| {
            let message = e.0.strip_prefix("--config ").unwrap_or(&e.0).to_string();
            UsageError::new(if message.starts_with(&place) { message } else { format!("{place}: {message}") })
        };
        Layer::from_file(&path).and_then(Layer::resolve).map(Some).map_err(named)
    }

    /// `summary.json`, None when there is none (a run in progress).
    pub fn read_summary(&self) -> Result<Option<Summary>> {
        read_json(&self.summary_json(), "a clr summary.json")
    }

    /// `range_test.json`, None when there is none.
    pub fn read_range_test(&self) -> Result<Option<RangeTestReport>> {
        read_json(&self.range_test_json(), "a clr range_test.json")
    }

    /// `grid.json`, None when there is none.
    pub fn read_grid(&self) -> Result<Option<GridReport>> {
        read_json(&self.grid_json(), "a clr grid.json")
    }

    /// `sweep.json`, which must be there.
    pub fn read_sweep(&self) -> Result<SweepReport> {
        let path = self.sweep_json();
        read_json(&path, "a sweep report")?.with_context(|| format!("cannot read {}: no such file", path.display()))
    }
}

/// A JSON file of a run as `T`; None when it is not there.
fn read_json<T: DeserializeOwned>(path: &Path, what: &str) -> Result<Option<T>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value = serde_json::from_str(&text).with_context(|| format!("{}: not {what}", path.display()))?;
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_holding_a_run_is_refused_and_a_training_run_is_offered_a_resume() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(tmp.path());
        dir.check_fresh(NewRun::Training).unwrap();
        std::fs::write(dir.config_json(), "{}").unwrap();
        assert_eq!(dir.run_file(), None, "config.json alone: a run that never started");
        std::fs::write(dir.steps_csv(), "step\n").unwrap();
        let err = dir.check_fresh(NewRun::Training).unwrap_err().to_string();
        assert!(err.contains("already holds a run (steps.csv)") && err.contains("--resume"), "{err}");
        let err = dir.check_fresh(NewRun::RangeTest).unwrap_err().to_string();
        assert!(!err.contains("--resume"), "{err}");
        dir.check_not_a_range_test().unwrap();
        std::fs::write(dir.lr_find_csv(), "step\n").unwrap();
        assert!(dir.check_not_a_range_test().unwrap_err().to_string().contains("holds a range test (lr_find.csv)"));
    }

    #[test]
    fn typed_readers_say_which_file_is_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(tmp.path());
        assert!(dir.read_summary().unwrap().is_none() && dir.read_range_test().unwrap().is_none());
        assert!(dir.read_config().unwrap().is_none());
        std::fs::write(dir.summary_json(), r#"{"status": "completed"}"#).unwrap();
        let err = format!("{:#}", dir.read_summary().unwrap_err());
        assert!(err.contains("summary.json: not a clr summary.json"), "{err}");
        for (bad, field) in [(r#"{"depth": 7}"#, "depth"), (r#"{"dept": 8}"#, "dept")] {
            std::fs::write(dir.config_json(), bad).unwrap();
            let err = dir.read_config().unwrap_err().to_string();
            assert!(err.starts_with(&dir.config_json().display().to_string()) && err.contains(field), "{err}");
        }
        std::fs::write(dir.config_json(), r#"{"depth": 8}"#).unwrap();
        assert_eq!(dir.read_config().unwrap().unwrap().model.depth, 8);
        assert!(format!("{:#}", dir.read_sweep().unwrap_err()).contains("sweep.json"));
    }
}
