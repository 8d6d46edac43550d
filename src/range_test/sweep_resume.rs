//! `clr range-test --resume OUT`: a sweep stopped by Ctrl-C (or killed) goes on in its folder,
//! running only the values that did not finish. The finished values' folders are left as they
//! are and their outcomes read back from them (`range_test.json`, `lr_find.csv`, both written
//! exactly), so their rows of `sweep.csv` come out bit for bit the same; every value's test starts
//! from the same weights and data order as before, so the resumed sweep is the one that would
//! have run uninterrupted. The settings are the sweep's `config.json`, its values `sweep.json`'s.

use crate::lr_finder::sweep::{Outcome, Sweep, SweepReport, Tested};
use crate::lr_finder::{LrFindRow, StopReason};
use crate::records::read_rows;
use crate::run_dir::RunDir;
use anyhow::{Context, Result};

/// A stopped sweep: what it runs, and the outcomes of the values that finished, in order.
pub struct Stopped {
    pub sweep: Sweep,
    pub kept: Vec<Outcome>,
}

/// Read the stopped sweep in `dir`. A folder without `sweep.json`, or a sweep that is complete,
/// is a usage error that says so.
pub fn read_stopped_sweep(dir: &RunDir) -> Result<Stopped> {
    let (out, file) = (dir.path().display(), dir.sweep_json());
    if !file.is_file() {
        crate::usage!("--resume {out}: no sweep.json there; range-test --resume continues a --sweep that was stopped");
    }
    let report: SweepReport =
        dir.read_sweep().map_err(|e| crate::error::UsageError::new(format!("--resume {}: {e:#}", file.display())))?;
    if report.complete {
        crate::usage!("--resume {out}: the sweep is complete ({}); nothing to resume", file.display());
    }
    let sweep = Sweep { param: report.param, values: report.values.clone() };
    // The values before the first that did not finish; a failed value finished (with its error).
    let done = report.results.iter().take_while(|e| e.stop_reason != Some(StopReason::Interrupted));
    let kept = done
        .map(|e| match &e.error {
            Some(error) => Ok(Err(error.clone())),
            None => tested(&dir.sub(&e.label)).map(Ok),
        })
        .collect::<Result<Vec<Outcome>>>()?;
    Ok(Stopped { sweep, kept })
}

/// A finished value's test, read back from its folder.
fn tested(dir: &RunDir) -> Result<Tested> {
    let report = dir
        .read_range_test()?
        .with_context(|| format!("cannot read {}: no such file", dir.range_test_json().display()))?;
    let curve: Vec<LrFindRow> = read_rows(&dir.lr_find_csv())?;
    Ok(Tested { report, curve })
}

/// Remove what the values of `labels` left in `dir` (the one stopped mid-test, and any started
/// after sweep.json was last written): they run again from the start.
pub fn clear_unfinished(dir: &RunDir, labels: &[String]) -> Result<()> {
    for label in labels {
        let sub = dir.sub(label);
        if sub.path().exists() {
            std::fs::remove_dir_all(sub.path()).with_context(|| format!("cannot remove {}", sub.path().display()))?;
        }
    }
    Ok(())
}
