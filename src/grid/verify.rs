//! `train --max-lr auto --verify N`: Smith's advice (Part 1: "short runs of a few epochs") after the
//! range test. N short one-cycle runs at the suggestion times 0.5 ... 2 (a geometric grid, the
//! suggestion in its middle) go into `OUT/verify/` as a `clr grid` of their own, and the `max_lr`
//! whose run ends with the best test accuracy is the run's (with `--verify-seeds S`, each candidate
//! at S seeds and the best mean). A diverged candidate scores 0.

use super::{Plan, PHASES};
use crate::config::Config;
use crate::engine::Session;
use crate::lr_finder::grid::{geometric, GridPoint, GridReport, GridStatus};
use crate::lr_finder::Suggestion;
use crate::optim::schedule::Policy;
use crate::run_dir::RunDir;
use crate::train::Open;
use anyhow::Result;

/// What `--verify N --verify-epochs E` asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verify {
    /// Candidates: N values from half to twice the suggestion.
    pub runs: usize,
    /// The epochs of each candidate's one-cycle run.
    pub epochs: f64,
    /// Runs per candidate, at seeds from the run's `--seed` on: compared by their mean.
    pub seeds: u64,
}

impl Default for Verify {
    fn default() -> Self {
        Verify { runs: 3, epochs: 3.0, seeds: 1 }
    }
}

impl Verify {
    /// The candidates for a suggested `max_lr`: `runs` values from half to twice it (3: x0.5, x1,
    /// x2; an odd number keeps the suggestion itself).
    pub fn candidates(&self, suggested: f64) -> Vec<f64> {
        geometric(suggested / 2.0, suggested * 2.0, self.runs)
    }

    /// A candidate's short run: `config`'s settings under a one-cycle of `epochs` with the grid's
    /// shape (45 % up, 45 % down, 10 % of tail), whatever the run's own policy and length.
    pub fn short_config(&self, config: &Config) -> Config {
        let mut c = config.clone();
        c.schedule.policy = Policy::OneCycle;
        let total: f64 = PHASES.iter().sum();
        c.schedule.phases = PHASES.iter().map(|p| p * self.epochs / total).collect();
        c.run.epochs = None;
        c
    }

    /// Run the candidates into `dir` (the proposal's `suggestion`, from the range test `source`,
    /// measured against them as `clr grid` measures a range test) and return the grid's report:
    /// its `best` is the choice, none when a stop ended the runs first.
    pub fn run(
        &self,
        config: &Config,
        (source, suggestion): (String, &Suggestion),
        base_lr: Option<f64>,
        session: &Session,
        dir: &RunDir,
    ) -> Result<GridReport> {
        // The train command checked that the seeds fit.
        let seeds = crate::config::seeds_from(config.run.seed, self.seeds).unwrap_or_else(|| vec![config.run.seed]);
        let plan = Plan { values: self.candidates(suggestion.max_lr), seeds, base_lr };
        let configs = plan.configs(&self.short_config(config))?;
        super::run(&configs, &plan, session, dir, Open::Fresh, Some((source, suggestion.clone())))
    }
}

/// The candidate to train with: the `max_lr` of the best mean final accuracy (of the best run's
/// with one seed; a diverged run counts 0, ties go to the lower LR) and its `base_lr`. None when
/// no candidate's run completed.
pub fn choice(report: &GridReport) -> Option<(f64, f64)> {
    report.runs.iter().find(|r| r.status == GridStatus::Completed)?;
    let best = report.best_mean.as_ref()?;
    let run = report.runs.iter().find(|r| r.max_lr == best.max_lr)?;
    Some((run.max_lr, run.base_lr))
}

/// The words `config.json`'s `lr_source` gives the choice: every candidate and its accuracy
/// (with several seeds, its mean and runs).
pub fn source_text(report: &GridReport, epochs: f64, dir: &RunDir) -> String {
    let seeds = report.seeds.len().max(1);
    let text = |r: &crate::lr_finder::grid::GridRow| match (r.status, r.final_test_acc) {
        (GridStatus::Completed, Some(a)) => format!("{} -> {:.2}%", r.max_lr, 100.0 * a),
        (GridStatus::Diverged, _) => format!("{} -> diverged", r.max_lr),
        _ => format!("{} -> stopped", r.max_lr),
    };
    let runs: Vec<String> = if seeds == 1 {
        report.runs.iter().map(text).collect()
    } else {
        let mean = |p: &GridPoint| format!("{} -> {:.2}% (mean of {})", p.max_lr, 100.0 * p.accuracy, p.runs);
        report.points.iter().map(mean).collect()
    };
    let chosen = choice(report).map_or("none".to_string(), |(lr, _)| lr.to_string());
    let each = if seeds == 1 { String::new() } else { format!(" at {seeds} seeds each") };
    format!(
        "--verify: {} one-cycle runs of {epochs} epochs{each} in {} ({}): max_lr {chosen} trained best",
        report.runs.len(),
        dir.path().display(),
        runs.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_run_from_half_to_twice_the_suggestion() {
        let v = Verify::default();
        assert_eq!(v.candidates(0.1), vec![0.05, 0.1, 0.2]);
        // Rounded to 6 significant digits, as `clr grid` names its folders.
        let five = Verify { runs: 5, epochs: 1.0, seeds: 1 }.candidates(10.0);
        assert_eq!(five, vec![5.0, 7.07107, 10.0, 14.1421, 20.0]);
    }

    fn row(max_lr: f64, seed: u64, status: GridStatus, acc: f64) -> crate::lr_finder::grid::GridRow {
        crate::lr_finder::grid::GridRow {
            label: format!("lr={max_lr}_seed={seed}"),
            max_lr,
            base_lr: max_lr / 10.0,
            seed,
            status,
            final_test_acc: (status == GridStatus::Completed).then_some(acc),
            best_test_acc: None,
            final_test_loss: None,
            epochs: 1,
            seconds: 1.0,
        }
    }

    #[test]
    fn the_choice_is_the_best_mean_and_a_diverged_run_counts_zero() {
        use GridStatus::{Completed, Diverged};
        let values = [0.05, 0.1, 0.2];
        // 0.2 has the best single run (0.95) but diverged at seed 2: mean 0.475. 0.1: mean 0.85.
        let runs = vec![
            row(0.05, 1, Completed, 0.80),
            row(0.1, 1, Completed, 0.84),
            row(0.2, 1, Completed, 0.95),
            row(0.05, 2, Completed, 0.82),
            row(0.1, 2, Completed, 0.86),
            row(0.2, 2, Diverged, 0.0),
        ];
        let report = GridReport::new(&values, &[1, 2], None, 1.0, runs.clone(), None);
        assert_eq!(choice(&report), Some((0.1, 0.1 / 10.0)));
        let dir = RunDir::new("v");
        let text = source_text(&report, 1.0, &dir);
        assert!(text.contains("6 one-cycle runs of 1 epochs at 2 seeds each"), "{text}");
        assert!(text.contains("0.1 -> 85.00% (mean of 2)") && text.contains("0.2 -> 47.50% (mean of 2)"), "{text}");
        assert!(text.ends_with("max_lr 0.1 trained best"), "{text}");
        // One seed: the best run; equal accuracies go to the lower LR.
        let one = GridReport::new(&values, &[1], None, 1.0, runs[..3].to_vec(), None);
        assert_eq!(choice(&one).map(|c| c.0), Some(0.2));
        let tied = vec![row(0.05, 1, Completed, 0.9), row(0.1, 1, Completed, 0.9), row(0.2, 1, Diverged, 0.0)];
        assert_eq!(choice(&GridReport::new(&values, &[1], None, 1.0, tied, None)).map(|c| c.0), Some(0.05));
        let text = source_text(&one, 1.0, &dir);
        assert!(text.contains("(0.05 -> 80.00%, 0.1 -> 84.00%, 0.2 -> 95.00%)"), "{text}");
        // Every run diverged: no choice.
        let lost: Vec<_> = values.iter().map(|&v| row(v, 1, Diverged, 0.0)).collect();
        assert_eq!(choice(&GridReport::new(&values, &[1], None, 1.0, lost, None)), None);
    }

    #[test]
    fn a_short_run_is_a_one_cycle_of_the_asked_epochs() {
        let mut config = Config::default();
        config.schedule.policy = Policy::Triangular;
        config.run.epochs = Some(30.0);
        let c = Verify { runs: 3, epochs: 2.0, seeds: 1 }.short_config(&config);
        assert_eq!(c.schedule.policy, Policy::OneCycle);
        assert_eq!(c.schedule.phases, vec![0.9, 0.9, 0.2]);
        assert_eq!(c.total_epochs(), 2.0);
        assert_eq!(c.model, config.model);
    }
}
