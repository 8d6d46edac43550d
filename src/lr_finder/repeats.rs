//! `--repeats N`, pure: one range test per seed, their suggestions combined into one.
//!
//! Near the best `max_lr` of a grid, one range test's pick moves with its seed (the floor rule's LR
//! spreads 2-4x over ten seeds at the default length, BENCHMARKS.md): a single test can land by
//! the cliff. Each rule's LR is combined as the **geometric median** of the seeds' LRs (for an
//! even count, the geometric mean of the middle two): one wild seed moves a median of three or
//! five hardly at all, where it would drag a mean. Measured against ten-seed grids in
//! `scripts/regret-seeds.sh` (BENCHMARKS.md).

use super::analysis::{RangeTestReport, StopReason, Suggestion};
use super::rules::Rule;
use serde::{Deserialize, Serialize};

/// The geometric median of positive `values` (their logs' median, an even count averaging the
/// middle two); None for none.
pub fn geometric_median(values: &[f64]) -> Option<f64> {
    median(&values.iter().map(|v| v.ln()).collect::<Vec<f64>>()).map(f64::exp)
}

/// The median (of losses; of log LRs), an even count averaging the middle two; None for none.
fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The suggestions of several tests as one: every LR the geometric median of the tests' LRs (an
/// optional one over the tests that have it), the lowest loss the median. `rule` makes
/// `suggested_lr` where some test gives it an LR, else `floor` does (as in a single test).
/// None for no suggestions.
pub fn combine(suggestions: &[Suggestion], rule: Rule) -> Option<Suggestion> {
    let all = |f: fn(&Suggestion) -> f64| suggestions.iter().map(f).collect::<Vec<f64>>();
    let some = |f: &dyn Fn(&Suggestion) -> Option<f64>| {
        geometric_median(&suggestions.iter().filter_map(f).collect::<Vec<f64>>())
    };
    let mut s = Suggestion {
        lr_at_min_loss: geometric_median(&all(|s| s.lr_at_min_loss))?,
        min_loss: median(&all(|s| s.min_loss))?,
        rule,
        suggested_lr: f64::NAN,
        seed_lr: some(&|s| s.lr_of(Rule::Seed)),
        floor_lr: some(&|s| s.floor_lr),
        floor_start_lr: some(&|s| s.floor_start_lr),
        floor_end_lr: some(&|s| s.floor_end_lr),
        steepest_lr: some(&|s| s.steepest_lr),
        valley_lr: some(&|s| s.valley_lr),
        max_lr: f64::NAN,
        base_lr: f64::NAN,
    };
    let (rule, lr) = match s.lr_of(rule) {
        Some(lr) => (rule, lr),
        None => (Rule::Floor, s.floor_lr?),
    };
    (s.rule, s.suggested_lr, s.max_lr, s.base_lr) = (rule, lr, lr, lr / 10.0);
    Some(s)
}

/// One seed's test, as `range_test.json`'s `repeats` lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RepeatEntry {
    pub seed: u64,
    /// The folder of its test, inside the combined test's (`seed=S`).
    pub label: String,
    /// The rule that made its `suggested_lr` (`floor` where the rule asked for gave none).
    #[serde(default = "Rule::legacy")]
    pub rule: Rule,
    pub suggested_lr: f64,
    pub floor_start_lr: Option<f64>,
    pub floor_end_lr: Option<f64>,
    pub lr_at_min_loss: f64,
    pub min_loss: f64,
    pub stop_reason: StopReason,
    pub steps: u64,
}

/// What a combined test adds to `range_test.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Repeats {
    /// Every seed asked for, in order (`tests` has those that ran).
    pub seeds: Vec<u64>,
    /// How the seeds' LRs are combined.
    pub combined_by: String,
    /// The highest of the seeds' suggested LRs over the lowest.
    pub spread: f64,
    pub tests: Vec<RepeatEntry>,
}

impl Repeats {
    /// The printed lines: each seed's suggestion (naming its rule where it is not `rule`, the
    /// combined one's), their spread, how they were combined.
    pub fn summary_lines(&self, rule: Rule) -> Vec<String> {
        let each: Vec<String> = self
            .tests
            .iter()
            .map(|t| {
                let other = if t.rule == rule { String::new() } else { format!(" ({})", t.rule) };
                format!("{} {:.3e}{other}", t.label, t.suggested_lr)
            })
            .collect();
        vec![
            format!("each seed's suggested lr: {}", each.join(", ")),
            format!(
                "suggested lr is the {} of the seeds' {rule} lrs ({} of {} seeds ran; highest / lowest {:.2}x)",
                self.combined_by,
                self.tests.len(),
                self.seeds.len(),
                self.spread
            ),
        ]
    }
}

/// The sub-folder of seed `seed`'s test.
pub fn label(seed: u64) -> String {
    format!("seed={seed}")
}

/// The report of the tests that ran (`reports`, one per seed of `seeds`, in order: fewer when the
/// run was interrupted), `rule` making the suggestion. `steps` and `iters` are the totals over
/// the seeds (recorded, planned); the stop reason is `interrupted` when a test was, or a seed did
/// not run; else the one all tests share, else `diverged` when one did. None for no reports.
pub fn combine_reports(seeds: &[u64], reports: &[RangeTestReport], rule: Rule) -> Option<RangeTestReport> {
    let first = reports.first()?;
    let suggestions: Vec<Suggestion> = reports.iter().map(|r| r.suggestion.clone()).collect();
    let reasons: Vec<StopReason> = reports.iter().map(|r| r.stop_reason).collect();
    let stop_reason = if reports.len() < seeds.len() || reasons.contains(&StopReason::Interrupted) {
        StopReason::Interrupted
    } else if reasons.iter().all(|r| *r == reasons[0]) {
        reasons[0]
    } else if reasons.contains(&StopReason::Diverged) {
        StopReason::Diverged
    } else {
        StopReason::NonFinite
    };
    let tests: Vec<RepeatEntry> = seeds.iter().zip(reports).map(|(&seed, r)| entry(seed, r)).collect();
    let lrs: Vec<f64> = tests.iter().map(|t| t.suggested_lr).collect();
    let spread = lrs.iter().copied().fold(f64::MIN, f64::max) / lrs.iter().copied().fold(f64::MAX, f64::min);
    Some(RangeTestReport {
        suggestion: combine(&suggestions, rule)?,
        stopped_early: reports.iter().any(|r| r.stopped_early) || reports.len() < seeds.len(),
        stop_reason,
        steps: reports.iter().map(|r| r.steps).sum(),
        iters: first.iters * seeds.len() as u64,
        repeats: Some(Repeats { seeds: seeds.to_vec(), combined_by: "geometric median".into(), spread, tests }),
        ..first.clone()
    })
}

fn entry(seed: u64, r: &RangeTestReport) -> RepeatEntry {
    let s = &r.suggestion;
    RepeatEntry {
        seed,
        label: label(seed),
        rule: s.rule,
        suggested_lr: s.suggested_lr,
        floor_start_lr: s.floor_start_lr,
        floor_end_lr: s.floor_end_lr,
        lr_at_min_loss: s.lr_at_min_loss,
        min_loss: s.min_loss,
        stop_reason: r.stop_reason,
        steps: r.steps,
    }
}

#[cfg(test)]
#[path = "repeats_tests.rs"]
mod tests;
