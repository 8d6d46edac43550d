//! `clr grid`: the ground truth for the pick of `max_lr`. One short training run per value of a
//! geometric grid of `max_lr` (`base_lr` = max / 10 unless given), every run from the same initial
//! weights and data order (the seed's), into `OUT/lr=VALUE/` (a complete training folder), then
//! `grid.json`, `grid.csv` and `grid.png` in `OUT`, rewritten after every run. With a range test,
//! every rule's suggestion is measured against the grid: its regret is the best accuracy of the
//! grid minus the accuracy interpolated (in log LR) at the rule's LR (`lr_finder::grid`).
//!
//! With `--seeds N` every value runs at N seeds (`--seed`, `--seed`+1, …; folders
//! `lr=VALUE_seed=S/`), one whole pass of the values per seed, and the grid compares each value's
//! mean: one run's accuracy moves by points between seeds, more than most rules differ by.
//!
//! A diverged run is a result (accuracy 0), not an error. Ctrl-C stops the run in progress as
//! `train` does (a checkpoint) and the grid with it; `--resume OUT` continues: finished runs are
//! kept, the interrupted one resumes from its checkpoint, the others start. The data is loaded once;
//! on several processes the runs go one after another, every rank in each; rank 0 writes.

pub mod verify;

use crate::config::{Config, Layer, MaxLr};
use crate::engine::{self, Session};
use crate::error::UsageError;
use crate::lr_finder::grid::{GridReport, GridRow, GridStatus};
use crate::lr_finder::Suggestion;
use crate::records::{RowWriter, Status, Summary};
use crate::run_dir::{NewRun, RunDir, RunLock};
use crate::train::{Open, Trainer};
use anyhow::Result;

/// The grid's short schedule unless told otherwise: one-cycle over 8 epochs (3.6 up, 3.6 down,
/// 0.8 of tail), the shape of the reference run's 41/41/13 in brief. The regret table of
/// BENCHMARKS.md was measured with it.
pub const PHASES: [f64; 3] = [3.6, 3.6, 0.8];

/// `clr grid`'s own defaults, under the config file and the flags.
pub fn preset() -> Layer {
    let mut layer = Layer::default();
    layer.schedule.phases = Some(PHASES.to_vec());
    layer
}

/// What a grid runs: its values, the seeds each runs with, and the `base_lr` of every run when it
/// was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub values: Vec<f64>,
    /// At least one; the first is the config's `--seed`.
    pub seeds: Vec<u64>,
    pub base_lr: Option<f64>,
}

/// One run of a plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub value: f64,
    pub seed: u64,
}

impl Plan {
    /// Every run, a pass over the values for each seed in turn (a grid stopped after its first
    /// pass has a whole curve).
    pub fn points(&self) -> Vec<Point> {
        self.seeds.iter().flat_map(|&seed| self.values.iter().map(move |&value| Point { value, seed })).collect()
    }

    /// More than one seed per value: runs are named and announced with their seed.
    pub fn seeded(&self) -> bool {
        self.seeds.len() > 1
    }

    /// The folder name of a run: `lr=0.1`, or with several seeds `lr=0.1_seed=2`.
    pub fn label(&self, p: Point) -> String {
        let lr = crate::lr_finder::sweep::param::short_number(p.value);
        if self.seeded() {
            format!("lr={lr}_seed={}", p.seed)
        } else {
            format!("lr={lr}")
        }
    }

    /// The config of a run: `config` with its `max_lr` and seed, and `base_lr` = the plan's or
    /// `value / 10`; checked by the config's own rules (a given `base_lr` above a value, say).
    pub fn config_at(&self, config: &Config, p: Point) -> Result<Config, UsageError> {
        let mut c = config.clone();
        let value = p.value;
        c.schedule.max_lr = MaxLr::Value(value);
        c.schedule.base_lr = self.base_lr.unwrap_or(value / 10.0);
        c.run.seed = p.seed;
        c.lr_source = Some(format!("clr grid: max_lr {value} of the grid {}", self.text()));
        c.validate().map_err(|e| UsageError::new(format!("clr grid, max_lr {value}: {e}")))?;
        Ok(c)
    }

    /// Every run's config, each checked before anything runs (in the order of `points`).
    pub fn configs(&self, config: &Config) -> Result<Vec<Config>, UsageError> {
        self.points().into_iter().map(|p| self.config_at(config, p)).collect()
    }

    fn text(&self) -> String {
        self.values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
    }
}

/// Run the grid's values that have not finished into `dir` on the session's data (`done`: the
/// rows of a grid being resumed) and return its report (`complete` false when a stop ended it).
/// `range_test` is the folder and suggestion of the range test the grid measures.
pub fn run(
    configs: &[Config],
    plan: &Plan,
    session: &Session,
    dir: &RunDir,
    open: Open,
    range_test: Option<(String, Suggestion)>,
) -> Result<GridReport> {
    let lock = session.on_root(|| match open {
        Open::Fresh => RunLock::new_run(dir, NewRun::Grid),
        Open::Resume => RunLock::acquire(dir.path()),
    })?;
    let epochs = configs.first().map_or(0.0, Config::total_epochs);
    let report_of = |rows: &[GridRow]| {
        let rt = range_test.as_ref().map(|(d, s)| (d.clone(), s));
        GridReport::new(&plan.values, &plan.seeds, plan.base_lr, epochs, rows.to_vec(), rt)
    };
    let mut rows: Vec<GridRow> = Vec::new();
    let mut report = report_of(&rows);
    let points = plan.points();
    for (i, (config, &point)) in configs.iter().zip(&points).enumerate() {
        let label = plan.label(point);
        let run_dir = dir.sub(&label);
        let row = match finished_row(&run_dir, &label, point.value, config)? {
            Some(row) => row,
            None => {
                let seed = if plan.seeded() { format!(", seed {}", point.seed) } else { String::new() };
                session.say(&format!("clr grid, run {} of {}: max_lr {}{seed}", i + 1, points.len(), point.value));
                one_run(config, session, &run_dir, &label, point.value)?
            }
        };
        let interrupted = row.status == GridStatus::Interrupted;
        rows.push(row);
        // A stop between two runs ends the grid too; after the last run there is nothing to stop.
        let stopped = interrupted || (engine::agreed_stop(session.dist())?.is_some() && i + 1 < configs.len());
        report = report_of(&rows);
        if lock.is_some() {
            write_outputs(dir, &report)?;
        }
        if stopped {
            break;
        }
    }
    Ok(report)
}

/// One run, fresh or resumed from the checkpoint a stopped grid left in its folder.
fn one_run(config: &Config, session: &Session, dir: &RunDir, label: &str, value: f64) -> Result<GridRow> {
    let open = if dir.checkpoint_pt().is_file() { Open::Resume } else { Open::Fresh };
    let mut trainer = Trainer::open(config, session, dir, open)?;
    let outcome = trainer.run()?;
    let summary = trainer.finish(&outcome)?;
    Ok(row_of(label, value, config, &summary))
}

/// The row of a run that a stopped grid finished (completed or diverged), read back from its
/// summary.json; None for a run to make (or to continue).
fn finished_row(dir: &RunDir, label: &str, value: f64, config: &Config) -> Result<Option<GridRow>> {
    match dir.read_summary()? {
        Some(summary) if summary.status != Status::Interrupted => Ok(Some(row_of(label, value, config, &summary))),
        _ => Ok(None),
    }
}

fn row_of(label: &str, value: f64, config: &Config, s: &Summary) -> GridRow {
    GridRow {
        label: label.to_string(),
        max_lr: value,
        base_lr: config.schedule.base_lr,
        seed: config.run.seed,
        status: match s.status {
            Status::Completed => GridStatus::Completed,
            Status::Diverged => GridStatus::Diverged,
            Status::Interrupted => GridStatus::Interrupted,
        },
        final_test_acc: s.final_test_acc,
        best_test_acc: s.best_test_acc,
        final_test_loss: s.final_test_loss,
        epochs: s.epochs,
        seconds: s.seconds,
    }
}

/// `grid.json`, `grid.csv` and `grid.png`, each replaced atomically.
fn write_outputs(dir: &RunDir, report: &GridReport) -> Result<()> {
    crate::files::write_json(&dir.grid_json(), report)?;
    crate::files::write_with(&dir.grid_csv(), |tmp| {
        let mut csv = RowWriter::create::<GridRow>(tmp)?;
        report.runs.iter().try_for_each(|row| csv.write(row))
    })?;
    crate::plot::plot_grid(dir)?;
    Ok(())
}
