//! `--max-lr FILE`: a previous range test's `range_test.json`, or a sweep's `sweep.json`.

use crate::lr_finder::{analysis, repeats, RangeTestReport, Rule, StopReason, Suggestion, SweepReport};
use crate::records::{read_rows, LrFindRow};
use crate::run_dir::RunDir;
use anyhow::{Context, Result};
use std::path::Path;

/// What `--max-lr FILE` can read: one range test's report, or a sweep's.
#[derive(Debug, Clone)]
pub enum LrFile {
    RangeTest(RangeTestReport),
    Sweep(SweepReport),
}

/// Read a previous test's `range_test.json` or a sweep's `sweep.json` (`--max-lr FILE`).
pub fn read_lr_file(path: &Path) -> Result<LrFile> {
    if !path.is_file() {
        crate::usage!(
            "--max-lr (max_lr) must be a number, auto, or an existing range_test.json or sweep.json: {} is not a file",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = |what: &str, e: serde_json::Error| {
        crate::error::UsageError::new(format!("--max-lr {}: not a {what}: {e}", path.display()))
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad("range_test.json", e))?;
    // A sweep's report is the one with per-value results.
    if value.get("results").is_some() {
        return Ok(LrFile::Sweep(serde_json::from_value(value).map_err(|e| bad("sweep.json", e))?));
    }
    let report: RangeTestReport = serde_json::from_value(value).map_err(|e| bad("range_test.json", e))?;
    if report.stop_reason == StopReason::Interrupted {
        crate::usage!(
            "--max-lr {}: that range test was interrupted after {} of {} steps; its proposal is not to be used: \
             run it again",
            path.display(),
            report.steps,
            report.iters
        );
    }
    Ok(LrFile::RangeTest(report))
}

/// Every rule's suggestion on the curve of the range test in `dir` (its `lr_find.csv`, analysed
/// anew, so that a test made before a rule existed is measured too), `rule` making
/// `suggested_lr`. A folder without a curve, or a test that was interrupted, is refused.
/// A `--repeats` test's folder: every seed's curve analysed anew, combined as the test combines
/// them (`lr_finder::repeats::combine`).
pub fn read_curve(dir: &RunDir, rule: Rule) -> Result<Suggestion> {
    let report = dir.read_range_test()?;
    if let Some(report) = &report {
        if report.stop_reason == StopReason::Interrupted {
            crate::usage!(
                "--range-test {}: that range test was interrupted after {} of {} steps: run it again",
                dir.path().display(),
                report.steps,
                report.iters
            );
        }
    }
    if let Some(repeats) = report.and_then(|r| r.repeats) {
        let each = repeats.tests.iter().map(|t| read_curve(&dir.sub(&t.label), rule)).collect::<Result<Vec<_>>>()?;
        return repeats::combine(&each, rule)
            .with_context(|| format!("--range-test {}: no seed's test in range_test.json", dir.path().display()));
    }
    let csv = dir.lr_find_csv();
    if !csv.is_file() {
        crate::usage!("--range-test {}: no lr_find.csv there (not a range-test folder)", dir.path().display());
    }
    let rows: Vec<LrFindRow> = read_rows(&csv)?;
    let column = |f: fn(&LrFindRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let (lrs, losses, smoothed) = (column(|r| r.lr), column(|r| r.loss), column(|r| r.smoothed_loss));
    analysis::suggest(&lrs, &losses, &smoothed, rule).with_context(|| format!("{}", csv.display()))
}
