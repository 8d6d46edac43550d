//! `clr range-test --resume OUT`: a sweep stopped by Ctrl-C (or killed) goes on in its folder,
//! running only the values that did not finish. The finished values' folders are left as they
//! are and their outcomes read back from them (`range_test.json`, `lr_find.csv`, both written
//! exactly), so their rows of `sweep.csv` come out bit for bit the same; every value's test starts
//! from the same weights and data order as before, so the resumed sweep is the one that would
//! have run uninterrupted. The settings are the sweep's `config.json`, its values `sweep.json`'s.

use super::analysis::{RangeTestReport, StopReason};
use super::sweep_choice::{Outcome, SweepReport, Tested};
use super::sweep_param::Sweep;
use super::sweep_run::SWEEP_FILE;
use crate::records::{read_rows, LrFindRow};
use anyhow::{Context, Result};
use std::path::Path;

/// A stopped sweep: what it runs, and the outcomes of the values that finished, in order.
pub struct Stopped {
    pub sweep: Sweep,
    pub kept: Vec<Outcome>,
}

/// Read the stopped sweep in `out`. A folder without `sweep.json`, or a sweep that is complete,
/// is a usage error that says so.
pub fn read(out: &Path) -> Result<Stopped> {
    let file = out.join(SWEEP_FILE);
    if !file.is_file() {
        crate::usage!(
            "--resume {}: no {SWEEP_FILE} there; range-test --resume continues a --sweep that was stopped",
            out.display()
        );
    }
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let report: SweepReport = serde_json::from_str(&text).map_err(|e| {
        crate::error::UsageError::new(format!("--resume {}: not a clr sweep.json: {e}", file.display()))
    })?;
    if report.complete {
        crate::usage!("--resume {}: the sweep is complete ({}); nothing to resume", out.display(), file.display());
    }
    let sweep = Sweep { param: report.param, values: report.values.clone() };
    // The values before the first that did not finish; a failed value finished (with its error).
    let done = report.results.iter().take_while(|e| e.stop_reason != Some(StopReason::Interrupted));
    let kept = done
        .map(|e| match &e.error {
            Some(error) => Ok(Err(error.clone())),
            None => tested(&out.join(&e.label)).map(Ok),
        })
        .collect::<Result<Vec<Outcome>>>()?;
    Ok(Stopped { sweep, kept })
}

/// A finished value's test, read back from its folder.
fn tested(dir: &Path) -> Result<Tested> {
    let file = dir.join(super::REPORT_FILE);
    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let report: RangeTestReport =
        serde_json::from_str(&text).with_context(|| format!("{}: not a clr range_test.json", file.display()))?;
    let curve: Vec<LrFindRow> = read_rows(&dir.join("lr_find.csv"))?;
    Ok(Tested { report, curve })
}

/// Remove what the values from `labels` on left in `out` (the one stopped mid-test, and any
/// started after sweep.json was last written): they run again from the start.
pub fn clear_unfinished(out: &Path, labels: &[String]) -> Result<()> {
    for label in labels {
        let dir = out.join(label);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    Ok(())
}
