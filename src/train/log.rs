//! Where a training run reports as it goes: `steps.csv`, `epochs.csv`, the progress bar (or log
//! lines) and, with `--tensorboard`, TensorBoard event files, behind one sink, so the loop says
//! what happened and this file says where it goes.

use crate::records::{self, EpochRow, RowWriter, StepRow};
use crate::run_dir::RunDir;
use crate::runtime::progress::Progress;
use crate::tensorboard::EventWriter;
use anyhow::{bail, Result};
use std::path::Path;

/// What a run's log is for: its length, and where it reports besides the CSV files.
#[derive(Debug, Clone, Copy)]
pub struct LogPlan {
    pub steps_per_epoch: u64,
    pub total_steps: u64,
    pub progress: bool,
    pub tensorboard: bool,
}

pub struct RunLog {
    steps: RowWriter,
    epochs: RowWriter,
    bar: Progress,
    /// Every tag is logged against the global step (an epoch's row at the epoch's last step),
    /// so that a resumed run's restart marker hides exactly what it redoes.
    events: Option<EventWriter>,
    plan: LogPlan,
}

impl RunLog {
    /// New CSV files (and event files, with `tensorboard`) in `dir` for a run of `total_steps`.
    pub fn create(dir: &RunDir, plan: LogPlan) -> Result<RunLog> {
        Ok(RunLog {
            steps: RowWriter::create::<StepRow>(&dir.steps_csv())?,
            epochs: RowWriter::create::<EpochRow>(&dir.epochs_csv())?,
            bar: Progress::new(plan.total_steps, plan.progress),
            events: plan.tensorboard.then(|| EventWriter::create(dir.path())).transpose()?,
            plan,
        })
    }

    /// The CSV files of a run resumed at `step`, cut back to it: rows a killed run wrote after
    /// its last checkpoint are dropped, so the resumed run writes them again exactly once. Every
    /// row before the checkpoint must be there (the files are the run's record; a resume never
    /// papers over a deleted or edited one).
    pub fn resume(dir: &RunDir, step: u64, plan: LogPlan) -> Result<RunLog> {
        let (steps, epochs) = (dir.steps_csv(), dir.epochs_csv());
        truncate::<StepRow>(&steps, |r| r.step, step)?;
        truncate::<EpochRow>(&epochs, |r| r.epoch, step / plan.steps_per_epoch)?;
        Ok(RunLog {
            steps: RowWriter::append(&steps)?,
            epochs: RowWriter::append(&epochs)?,
            bar: Progress::new(plan.total_steps, plan.progress),
            events: plan.tensorboard.then(|| EventWriter::resume(dir.path(), step)).transpose()?,
            plan,
        })
    }

    pub fn step(&mut self, row: &StepRow) -> Result<()> {
        self.steps.write(row)?;
        if let Some(events) = &mut self.events {
            let values = [("train/loss", row.loss), ("train/lr", row.lr), ("train/momentum", row.momentum)];
            events.scalars(row.step, &values)?;
        }
        Ok(())
    }

    /// An epoch's row, and its line on the terminal.
    pub fn epoch(&mut self, row: &EpochRow) -> Result<()> {
        self.epochs.write(row)?;
        if let Some(events) = &mut self.events {
            let values = [
                ("epoch/train_loss", row.train_loss),
                ("epoch/train_acc", row.train_acc),
                ("epoch/test_loss", row.test_loss),
                ("epoch/test_acc", row.test_acc),
                ("epoch/lr", row.lr),
            ];
            let last_step = ((row.epoch + 1) * self.plan.steps_per_epoch).min(self.plan.total_steps) - 1;
            events.scalars(last_step, &values)?;
        }
        self.line(&format!(
            "epoch {:>3}  lr {:.5}  train loss {:.4} acc {:.4}  test loss {:.4} acc {:.4}  {:.1}s",
            row.epoch, row.lr, row.train_loss, row.train_acc, row.test_loss, row.test_acc, row.seconds
        ));
        Ok(())
    }

    /// Move the progress bar to `step` with a status message.
    pub fn progress(&mut self, step: u64, msg: String) {
        self.bar.update(step, msg);
    }

    /// A line that is always shown.
    pub fn line(&mut self, msg: &str) {
        self.bar.line(msg);
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}

/// Keep the rows of a CSV file numbered (by `index`) below `keep` — which must be exactly rows
/// 0, 1, …, keep - 1 — dropping the others and a torn last line, atomically.
fn truncate<T>(path: &Path, index: impl Fn(&T) -> u64, keep: u64) -> Result<()>
where
    T: records::Row + serde::de::DeserializeOwned,
{
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let rows: Vec<T> = if path.exists() {
        records::read_rows_lenient(path)?
    } else if keep == 0 {
        Vec::new()
    } else {
        bail!("cannot resume: {} is missing, but the checkpoint is {keep} rows in", path.display());
    };
    let kept: Vec<&T> = rows.iter().filter(|r| index(r) < keep).collect();
    if kept.iter().enumerate().any(|(i, r)| index(r) != i as u64) || (kept.len() as u64) < keep {
        bail!(
            "cannot resume: {} holds {} of the {keep} rows before the checkpoint; {name} was changed after \
             the run stopped (restore it, or start a new run)",
            path.display(),
            kept.len()
        );
    }
    crate::files::write_with(path, |tmp| {
        let mut w = RowWriter::create::<T>(tmp)?;
        for row in kept {
            w.write(row)?;
        }
        Ok(())
    })
}
