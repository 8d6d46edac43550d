//! `train --max-lr auto --verify N`: Smith's advice (Part 1: "short runs of a few epochs") after the
//! range test. N short one-cycle runs at the suggestion times 0.5 ... 2 (a geometric grid, the
//! suggestion in its middle) go into `OUT/verify/` as a `clr grid` of their own, and the `max_lr`
//! whose run ends with the best test accuracy is the run's. A diverged candidate scores 0.

use super::{Plan, PHASES};
use crate::config::Config;
use crate::engine::Session;
use crate::lr_finder::grid::{geometric, GridReport, GridStatus};
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
}

impl Default for Verify {
    fn default() -> Self {
        Verify { runs: 3, epochs: 3.0 }
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
        let plan = Plan { values: self.candidates(suggestion.max_lr), seeds: vec![config.run.seed], base_lr };
        let configs = plan.configs(&self.short_config(config))?;
        super::run(&configs, &plan, session, dir, Open::Fresh, Some((source, suggestion.clone())))
    }
}

/// The words `config.json`'s `lr_source` gives the choice: every candidate and its accuracy.
pub fn source_text(report: &GridReport, epochs: f64, dir: &RunDir) -> String {
    let runs: Vec<String> = report
        .runs
        .iter()
        .map(|r| match (r.status, r.final_test_acc) {
            (GridStatus::Completed, Some(a)) => format!("{} -> {:.2}%", r.max_lr, 100.0 * a),
            (GridStatus::Diverged, _) => format!("{} -> diverged", r.max_lr),
            _ => format!("{} -> stopped", r.max_lr),
        })
        .collect();
    let chosen = report.best.as_ref().map_or("none".to_string(), |b| b.max_lr.to_string());
    format!(
        "--verify: {} one-cycle runs of {epochs} epochs in {} ({}): max_lr {chosen} trained best",
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
        let five = Verify { runs: 5, epochs: 1.0 }.candidates(10.0);
        assert_eq!(five, vec![5.0, 7.07107, 10.0, 14.1421, 20.0]);
    }

    #[test]
    fn a_short_run_is_a_one_cycle_of_the_asked_epochs() {
        let mut config = Config::default();
        config.schedule.policy = Policy::Triangular;
        config.run.epochs = Some(30.0);
        let c = Verify { runs: 3, epochs: 2.0 }.short_config(&config);
        assert_eq!(c.schedule.policy, Policy::OneCycle);
        assert_eq!(c.schedule.phases, vec![0.9, 0.9, 0.2]);
        assert_eq!(c.total_epochs(), 2.0);
        assert_eq!(c.model, config.model);
    }
}
