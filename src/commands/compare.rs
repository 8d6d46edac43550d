//! `clr compare RUN_DIR…`: training runs side by side. Each run folder is read through its CSV
//! rows (`epochs.csv`, and `steps.csv` for the LR curve), `config.json` (policy and LR range, for
//! the legend) and `summary.json` (how it ended); a run still in progress is read as far as it
//! got. Out: a table on stdout (and `--csv`), one PNG (`--out`).

mod table;

pub use table::{table_lines, table_row, TableFacts, TableRow};

use super::Report;
use crate::cli::CompareArgs;
use crate::error::UsageError;
use crate::optim::schedule::{Policy, ScheduleConfig};
use crate::plot::{compare_png, RunCurves};
use crate::records::{read_rows_lenient, EpochRow, StepRow};
use crate::run_dir::RunDir;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A run folder, read.
struct Run {
    facts: TableFacts,
    /// Policy and LR range, for the legend.
    schedule: String,
    epochs: Vec<EpochRow>,
    steps: Vec<StepRow>,
}

pub fn run(a: CompareArgs) -> Result<Report> {
    if !(a.target > 0.0 && a.target <= 1.0) {
        crate::usage!("--target is a test accuracy as a fraction in (0, 1], got {}", a.target);
    }
    let names = run_names(&a.run_dirs);
    // Every run is read before anything is written: a bad folder leaves no half-made outputs.
    let runs = a.run_dirs.iter().zip(names).map(|(dir, name)| read_run(dir, name)).collect::<Result<Vec<_>>>()?;
    let rows: Vec<TableRow> = runs.iter().map(|r| table_row(&r.facts, &r.epochs, a.target)).collect();
    if let Some(path) = &a.csv {
        write_csv(path, &rows)?;
    }
    let curves: Vec<RunCurves<'_>> =
        runs.iter().map(|r| RunCurves { label: legend_label(r), epochs: &r.epochs, steps: &r.steps }).collect();
    let title = format!("clr compare: {} runs (test accuracy, test loss, learning rate)", runs.len());
    compare_png(&a.out, &curves, a.target, &title)?;
    Ok(Report::Compare { table: table_lines(&rows, a.target), png: a.out, csv: a.csv })
}

/// Each run's name: its folder's name, or the path as given where two folders share a name.
fn run_names(dirs: &[PathBuf]) -> Vec<String> {
    let base = |d: &PathBuf| {
        let canonical = d.canonicalize().ok();
        let name = canonical.as_deref().unwrap_or(d).file_name().map(|n| n.to_string_lossy().into_owned());
        name.unwrap_or_else(|| d.display().to_string())
    };
    let bases: Vec<String> = dirs.iter().map(base).collect();
    dirs.iter()
        .zip(&bases)
        .map(|(d, b)| if bases.iter().filter(|o| *o == b).count() > 1 { d.display().to_string() } else { b.clone() })
        .collect()
}

fn read_run(path: &Path, name: String) -> Result<Run> {
    if !path.is_dir() {
        crate::usage!("RUN_DIR {}: not a folder", path.display());
    }
    let dir = RunDir::new(path);
    if !dir.epochs_csv().is_file() {
        crate::usage!("RUN_DIR {}: no epochs.csv (not a clr train run folder)", path.display());
    }
    // Lenient: a run still writing may have a last row torn in half.
    let epochs: Vec<EpochRow> = read_rows_lenient(&dir.epochs_csv())?;
    let steps: Vec<StepRow> = if dir.steps_csv().is_file() { read_rows_lenient(&dir.steps_csv())? } else { Vec::new() };
    let summary = dir.read_summary()?;
    let schedule = read_schedule(&dir)?;
    let policy = match (&schedule, &summary) {
        (Some(s), _) => s.policy.to_string(),
        (None, Some(summary)) => summary.policy.clone(),
        (None, None) => "?".into(),
    };
    let described = schedule.as_ref().map_or_else(|| policy.clone(), describe);
    let status = summary.map(|s| s.status.name().to_string());
    Ok(Run { facts: TableFacts { run: name, policy, status }, schedule: described, epochs, steps })
}

/// The schedule of the run as its config.json describes it (None without a config.json).
fn read_schedule(dir: &RunDir) -> Result<Option<ScheduleConfig>> {
    let config =
        dir.read_config().map_err(|e| UsageError::new(format!("RUN_DIR {}: {}", dir.path().display(), e.0)))?;
    Ok(config.map(|c| c.schedule_config()).transpose()?)
}

/// "one-cycle, LR 0.08→0.8→0.008", "triangular, LR 0.08–0.8", "step, LR 0.1 ×0.1 at 80, 120";
/// a cycling momentum is added ("momentum 0.95→0.85").
fn describe(s: &ScheduleConfig) -> String {
    let max = s.max_lr.map_or_else(|| "auto".to_string(), |m| m.to_string());
    let lr = match s.policy {
        Policy::OneCycle => {
            let end = if s.phases[2] > 0.0 { s.final_lr_or_default() } else { s.base_lr };
            format!("{}→{max}→{end}", s.base_lr)
        }
        Policy::Triangular | Policy::Triangular2 | Policy::ExpRange => format!("{}–{max}", s.base_lr),
        Policy::Fixed => s.base_lr.to_string(),
        Policy::Step => {
            let at: Vec<String> = s.milestones_or_default().iter().map(f64::to_string).collect();
            format!("{} ×{} at {}", s.base_lr, s.gamma_or_default(), at.join(", "))
        }
    };
    let momentum = match (s.cycle_momentum, s.policy.uses_max_lr()) {
        (Some((high, low)), true) => format!(", momentum {high}→{low}"),
        _ => String::new(),
    };
    format!("{}, LR {lr}{momentum}", s.policy)
}

/// The legend entry: the run's name, then its schedule (the name alone where they coincide).
fn legend_label(run: &Run) -> String {
    if run.facts.run == run.facts.policy {
        run.schedule.clone()
    } else {
        format!("{}: {}", run.facts.run, run.schedule)
    }
}

/// `--csv FILE`: the table's rows, header from their field names, full precision, atomically.
fn write_csv(path: &Path, rows: &[TableRow]) -> Result<()> {
    crate::files::write_with(path, |tmp| {
        let mut csv = csv::Writer::from_path(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        for row in rows {
            csv.serialize(row)?;
        }
        csv.flush()?;
        Ok(())
    })
    .with_context(|| format!("cannot write {}", path.display()))
}
