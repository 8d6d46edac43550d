//! `clr grid`: flags → the grid's plan and the runs' config → (a range test) → the runs → a report;
//! or `--resume DIR`: the plan and the config a stopped grid left, its unfinished runs (and the
//! runs of any values `--max-lrs` or seeds `--seeds` add).

use super::dist::{self, Start};
use super::train::resume_config;
use super::{default_out, merged, Report};
use crate::cli::GridArgs;
use crate::config::Config;
use crate::dist::Invocation;
use crate::engine::Session;
use crate::error::UsageError;
use crate::grid::{self, Plan};
use crate::lr_finder::grid::geometric;
use crate::lr_finder::StopReason;
use crate::run_dir::{NewRun, RunDir};
use crate::train::Open;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The most values a grid takes.
const MAX_POINTS: usize = 100;
/// The most seeds each value runs with.
const MAX_SEEDS: usize = 20;
/// The folder of `--range-test auto` inside the grid's, as grid.json names it.
const AUTO: &str = "range_test";

pub fn run(a: GridArgs, inv: &Invocation) -> Result<Report> {
    if let Some(dir) = a.resume.clone() {
        return resume(&dir, a, inv);
    }
    if a.run.settings.flags.schedule.max_lr.is_some() {
        crate::usage!("clr grid sets max_lr itself: give its values with --max-lrs, or --from, --to and --points");
    }
    let (layer, base_given) = merged(&a.run.settings, grid::preset())?;
    let config = layer.resolve()?;
    check_policy(&config)?;
    let values = asked_values(&a)?;
    if values.is_none() && a.range_test.is_none() {
        crate::usage!(
            "clr grid needs its max_lr values: --max-lrs, or --from and --to (or a --range-test to centre on)"
        );
    }
    let seeds = seeds(config.run.seed, a.seeds.unwrap_or(1))?;
    let base_lr = base_given.then_some(config.schedule.base_lr);
    let out = a.run.out.clone().unwrap_or_else(|| default_out("grid", &config));
    let dir = RunDir::new(&out);
    let dist = match dist::start(&a.run.dist, inv, &config.run)? {
        Start::Launch(n) => {
            // What can be refused is refused once, here, before any worker starts.
            if let Some(values) = &values {
                Plan { values: values.clone(), seeds, base_lr }.configs(&config)?;
            }
            dir.check_fresh(NewRun::Grid)?;
            return dist::launch(inv, n, Some(&out), &a.run.dist);
        }
        Start::Run(dist) => dist,
    };
    dist.on_root(|| Ok(dir.check_fresh(NewRun::Grid)?))?;
    let session = Session::start(&config, Rc::clone(&dist), !a.run.no_progress)?;
    let range_test = match a.range_test.as_deref() {
        None => None,
        Some(AUTO_FLAG) => {
            let rt_dir = dir.sub(AUTO);
            session.say(&format!("clr grid: running the LR range test first, into {}", rt_dir.path().display()));
            let report = crate::range_test::run(&config, &session, &rt_dir)?;
            if report.stop_reason == StopReason::Interrupted {
                return Ok(dist::of_rank(Report::TrainNotStarted { range_test: report, out }, &dist));
            }
            Some((AUTO.to_string(), report.suggestion))
        }
        Some(path) => {
            let rt_dir = RunDir::new(path);
            let suggestion = crate::range_test::read_curve(&rt_dir, config.range_test.rule)?;
            Some((named_from(&out, Path::new(path)), suggestion))
        }
    };
    let values = match values {
        Some(values) => values,
        None => around(range_test.as_ref().map_or(f64::NAN, |(_, s)| s.suggested_lr), a.points)?,
    };
    let plan = Plan { values, seeds, base_lr };
    let configs = plan.configs(&config)?;
    let report = grid::run(&configs, &plan, &session, &dir, Open::Fresh, range_test)?;
    Ok(dist::of_rank(Report::Grid { report, out }, &dist))
}

/// `--range-test auto`.
const AUTO_FLAG: &str = "auto";

/// `clr grid --resume DIR`: the runs of the stopped grid in DIR that did not finish, and those of
/// the values `--max-lrs` and the seeds `--seeds` add.
fn resume(dir: &Path, a: GridArgs, inv: &Invocation) -> Result<Report> {
    let grid_dir = RunDir::new(dir);
    let Some(grid) = grid_dir.read_grid()? else {
        crate::usage!(
            "--resume {}: no grid.json there (not a clr grid folder, or stopped before its first run)",
            dir.display()
        );
    };
    // A grid written before seeds were recorded ran at its first run's seed alone.
    let mut plan = Plan { values: grid.values.clone(), seeds: grid.seeds.clone(), base_lr: grid.base_lr };
    let first = plan.points().first().map(|p| grid_dir.sub(&plan.label(*p)));
    let first = first.or_else(|| grid.runs.first().map(|r| grid_dir.sub(&r.label)));
    let Some(first) = first.filter(|d| d.config_json().is_file()) else {
        crate::usage!("--resume {}: its first run never started: start the grid again", dir.display());
    };
    let config = resume_config(first.path(), &a.run)?;
    if plan.seeds.is_empty() {
        plan.seeds = vec![config.run.seed];
    }
    if let Some(added) = asked_values(&a)? {
        plan.values = with_added(&plan.values, &added)?;
    }
    if let Some(n) = a.seeds {
        plan.seeds = with_seeds(&plan.seeds, n)?;
    }
    let configs = plan.configs(&config)?;
    let dist = match dist::start(&a.run.dist, inv, &config.run)? {
        Start::Launch(n) => {
            crate::run_dir::check_not_in_use(dir)?;
            return dist::launch(inv, n, None, &a.run.dist);
        }
        Start::Run(dist) => dist,
    };
    let range_test = match (a.range_test.as_deref(), &grid.range_test) {
        (Some(AUTO_FLAG), _) => {
            crate::usage!("--resume takes a range-test folder to measure, not auto: run `clr range-test` first")
        }
        // Another test measured against the finished runs: nothing is trained again.
        (Some(path), _) => {
            let rt_dir = RunDir::new(path);
            Some((named_from(dir, Path::new(path)), crate::range_test::read_curve(&rt_dir, config.range_test.rule)?))
        }
        (None, Some(rt)) => {
            let rt_dir = RunDir::new(resolve_from(dir, &rt.dir));
            Some((rt.dir.clone(), crate::range_test::read_curve(&rt_dir, rt.rule)?))
        }
        (None, None) => None,
    };
    let session = Session::start(&config, Rc::clone(&dist), !a.run.no_progress)?;
    let report = grid::run(&configs, &plan, &session, &grid_dir, Open::Resume, range_test)?;
    Ok(dist::of_rank(Report::Grid { report, out: dir.to_path_buf() }, &dist))
}

/// A grid trains with a policy that has a `max_lr` to vary.
fn check_policy(config: &Config) -> Result<(), UsageError> {
    if !config.schedule.policy.uses_max_lr() {
        crate::usage!(
            "clr grid varies max_lr, which --policy {} does not use: choose one-cycle, triangular, triangular2 or \
             exp-range",
            config.schedule.policy
        );
    }
    Ok(())
}

/// The values `--max-lrs` or `--from/--to/--points` ask for (sorted, each positive and distinct).
fn asked_values(a: &GridArgs) -> Result<Option<Vec<f64>>, UsageError> {
    if !(2..=MAX_POINTS).contains(&a.points) {
        crate::usage!("--points must be from 2 to {MAX_POINTS}, got {}", a.points);
    }
    let values = match (&a.max_lrs, a.from, a.to) {
        (Some(v), _, _) => v.clone(),
        (None, Some(from), Some(to)) => {
            if !(from > 0.0 && to > from) {
                crate::usage!("--from and --to must satisfy 0 < from < to, got {from} and {to}");
            }
            geometric(from, to, a.points)
        }
        _ => return Ok(None),
    };
    let mut sorted = values;
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    if let Some(bad) = sorted.iter().find(|v| **v <= 0.0) {
        crate::usage!("--max-lrs values must be positive, got {bad}");
    }
    if !(1..=MAX_POINTS).contains(&sorted.len()) {
        crate::usage!("--max-lrs takes 1 to {MAX_POINTS} distinct values, got {}", sorted.len());
    }
    Ok(Some(sorted))
}

/// A resumed grid's values with `--max-lrs` added (sorted, each once): the runs already made keep
/// their folders, so a grid can be refined around its best without training anything twice.
fn with_added(values: &[f64], added: &[f64]) -> Result<Vec<f64>, UsageError> {
    let mut all: Vec<f64> = values.iter().chain(added).copied().collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    if all.len() > MAX_POINTS {
        crate::usage!("--max-lrs would give the grid {} values, more than {MAX_POINTS}", all.len());
    }
    Ok(all)
}

/// A resumed grid's seeds made `n` (`--seeds N` with `--resume`): the seeds after its last, so each
/// value's mean takes more runs and the runs already made keep their folders. A grid of one seed
/// names its runs without their seed (`lr=0.1`), so it cannot take more.
fn with_seeds(seeds: &[u64], n: usize) -> Result<Vec<u64>, UsageError> {
    if n == seeds.len() {
        return Ok(seeds.to_vec());
    }
    if seeds.len() == 1 {
        crate::usage!("--seeds with --resume adds seeds to a grid of several; this one ran at one seed: start a grid with --seeds {n}");
    }
    if n < seeds.len() {
        crate::usage!(
            "--seeds {n} with --resume: the grid has {} seeds already (--resume adds seeds, it drops none)",
            seeds.len()
        );
    }
    let all = self::seeds(seeds[0], n)?;
    if all[..seeds.len()] != *seeds {
        crate::usage!("--seeds with --resume: the grid's seeds {seeds:?} do not count up from {}", seeds[0]);
    }
    Ok(all)
}

/// `points` values over two decades centred on a range test's suggestion.
fn around(suggested: f64, points: usize) -> Result<Vec<f64>> {
    anyhow::ensure!(suggested.is_finite() && suggested > 0.0, "the range test suggested no usable LR ({suggested})");
    Ok(geometric(suggested / 10.0, suggested * 10.0, points))
}

/// `--seeds N`: the seeds from `--seed` on.
fn seeds(first: u64, n: usize) -> Result<Vec<u64>, UsageError> {
    if !(1..=MAX_SEEDS).contains(&n) {
        crate::usage!("--seeds must be from 1 to {MAX_SEEDS}, got {n}");
    }
    match crate::config::seeds_from(first, n as u64) {
        Some(seeds) => Ok(seeds),
        None => crate::usage!("--seeds {n} from --seed {first} would pass the largest seed, {}", u64::MAX),
    }
}

/// How grid.json names a range-test folder: relative to the grid's folder when inside it (so the
/// grid can move), else absolute (so it can be resumed from another working directory).
fn named_from(grid: &Path, test: &Path) -> String {
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (grid, test) = (absolute(grid), absolute(test));
    test.strip_prefix(&grid).unwrap_or(&test).display().to_string()
}

/// A folder named in grid.json, found from the grid's folder.
fn resolve_from(grid: &Path, named: &str) -> PathBuf {
    let path = Path::new(named);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        grid.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_test_folders_are_named_relative_to_the_grid_when_inside_it() {
        let tmp = tempfile::tempdir().unwrap();
        let grid = tmp.path().join("g");
        std::fs::create_dir_all(grid.join("range_test")).unwrap();
        std::fs::create_dir_all(tmp.path().join("rt")).unwrap();
        assert_eq!(named_from(&grid, &grid.join("range_test")), "range_test");
        let outside = named_from(&grid, &tmp.path().join("rt"));
        assert!(Path::new(&outside).is_absolute(), "{outside}");
        assert_eq!(resolve_from(&grid, "range_test"), grid.join("range_test"));
        assert_eq!(resolve_from(&grid, &outside), PathBuf::from(&outside));
    }

    #[test]
    fn resumed_seeds_are_added_after_the_last() {
        assert_eq!(with_seeds(&[3, 4], 4).unwrap(), [3, 4, 5, 6]);
        assert_eq!(with_seeds(&[3, 4], 2).unwrap(), [3, 4]);
        assert_eq!(
            with_seeds(&[3, 4, 5], 2).unwrap_err().to_string(),
            "--seeds 2 with --resume: the grid has 3 seeds already (--resume adds seeds, it drops none)"
        );
        assert!(with_seeds(&[7], 3).unwrap_err().to_string().contains("ran at one seed"));
        assert_eq!(with_seeds(&[7], 1).unwrap(), [7], "the seeds it has: nothing to add");
        assert!(with_seeds(&[3, 4], 21).unwrap_err().to_string().contains("from 1 to 20"));
    }

    #[test]
    fn seeds_count_up_from_the_seed() {
        assert_eq!(seeds(7, 3).unwrap(), [7, 8, 9]);
        assert_eq!(seeds(u64::MAX, 1).unwrap(), [u64::MAX]);
        assert_eq!(seeds(1, 0).unwrap_err().to_string(), "--seeds must be from 1 to 20, got 0");
        assert!(seeds(u64::MAX - 1, 3).unwrap_err().to_string().contains("largest seed"));
    }

    #[test]
    fn the_default_grid_spans_two_decades_around_the_suggestion() {
        assert_eq!(around(0.1, 5).unwrap(), vec![0.01, 0.0316228, 0.1, 0.316228, 1.0]);
        assert!(around(f64::NAN, 5).is_err());
    }
}
