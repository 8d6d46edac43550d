//! Smith's rule over a sweep of range tests (pure): one range test per value of a second
//! hyper-parameter (weight decay, momentum, batch size), all from the same initial weights and
//! data order; the value to train with is the one whose curve reaches the lowest (smoothed) loss.
//! Curves whose lowest losses lie within [`TIE_TOLERANCE`] of the lowest are a tie, broken toward
//! the one that stays stable to the larger LR: whose loss diverges later (Smith 2018, "A
//! disciplined approach to neural network hyper-parameters", compares weight decays, momenta and
//! batch sizes this way). Interrupted and failed tests are reported but never chosen. This file
//! also builds `sweep.json`'s content.

use super::param::{Sweep, SweepParam};
use crate::lr_finder::analysis::{LrFindRow, RangeTestReport, StopReason, Suggestion};
use crate::lr_finder::ramp::{ramp_lr, RampMode};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Lowest losses within this fraction of the lowest one (1 %) count as a tie. A judgement, not a
/// measured noise level: two nearly equal settings (weight decay 1e-4 and 0, ResNet-8 on
/// synthetic data) gave lowest losses 0.5 % apart.
pub const TIE_TOLERANCE: f64 = 0.01;

/// A value's finished range test: its report and its curve (the rows of its `lr_find.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tested {
    pub report: RangeTestReport,
    pub curve: Vec<LrFindRow>,
}

/// One value's range test, or why it has no report (too few points to analyse, say).
pub type Outcome = Result<Tested, String>;

/// The LR at which the test's loss diverged, the first of: the first point past the lowest one
/// where the smoothed loss is back above its first value (worse than the untrained network), and
/// the point where the test stopped for divergence (the row whose smoothed loss passed `diverge`
/// × its minimum, or the step whose loss was not finite). `None` when neither happened.
pub fn diverged_at(t: &Tested) -> Option<f64> {
    let r = &t.report;
    let stop = match r.stop_reason {
        // The diverging row is the last one recorded; a non-finite row is not recorded.
        StopReason::Diverged => t.curve.last().map(|p| p.lr),
        StopReason::NonFinite => {
            // Reports that clr writes always name a valid mode; the seed's exponential otherwise.
            let mode = r.mode.parse().unwrap_or(RampMode::Exp);
            Some(ramp_lr(r.start_lr, r.end_lr, r.steps, r.iters, mode))
        }
        StopReason::Completed | StopReason::Interrupted => None,
    };
    let lowest = t.curve.iter().position(|p| p.lr == r.suggestion.lr_at_min_loss).unwrap_or(0);
    let start = t.curve.first().map_or(f64::INFINITY, |p| p.smoothed_loss);
    let above_start = t.curve[lowest..].iter().find(|p| p.smoothed_loss > start).map(|p| p.lr);
    match (above_start, stop) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The rule's answer: the index of the favoured value (None when no test is usable) and the
/// sentence that says why.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub favoured: Option<usize>,
    pub reason: String,
}

/// Apply the rule to the outcomes of the values named by `labels` (same order).
pub fn choose(labels: &[String], outcomes: &[Outcome]) -> Verdict {
    let usable: Vec<(usize, &Tested)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            o.as_ref().ok().filter(|t| t.report.stop_reason != StopReason::Interrupted).map(|t| (i, t))
        })
        .collect();
    let left_out = left_out_note(labels, outcomes);
    let Some(best) = usable.iter().map(|(_, t)| min_loss(t)).min_by(f64::total_cmp) else {
        return Verdict { favoured: None, reason: format!("no value gave a usable range test{left_out}") };
    };
    let tied: Vec<(usize, &Tested)> =
        usable.iter().copied().filter(|(_, t)| min_loss(t) <= best + TIE_TOLERANCE * best.abs()).collect();
    // The most stable of the tied; then the lower loss; then the value given first.
    let (w, winner) = tied
        .iter()
        .copied()
        .max_by(|a, b| stability(a.1, b.1).then(min_loss(b.1).total_cmp(&min_loss(a.1))).then(b.0.cmp(&a.0)))
        .expect("the value with the lowest loss is tied with itself");
    let reason = if usable.len() == 1 {
        format!("{} is the only value with a usable range test ({})", labels[w], lowest(winner))
    } else if tied.len() == 1 {
        clear_win(labels, &usable, w)
    } else {
        tie_break(labels, &tied, w)
    };
    Verdict { favoured: Some(w), reason: format!("{reason}{left_out}") }
}

fn min_loss(t: &Tested) -> f64 {
    t.report.suggestion.min_loss
}

/// `Greater` when `a` stays stable to a larger LR than `b` (never diverging beats any LR).
fn stability(a: &Tested, b: &Tested) -> Ordering {
    let lr = |t: &Tested| diverged_at(t).unwrap_or(f64::INFINITY);
    lr(a).total_cmp(&lr(b))
}

fn lowest(t: &Tested) -> String {
    format!("lowest smoothed loss {:.4} at lr {:.3e}", min_loss(t), t.report.suggestion.lr_at_min_loss)
}

fn stable_to(t: &Tested) -> String {
    match diverged_at(t) {
        Some(lr) => format!("diverges at lr {lr:.3e}"),
        None => format!("never diverges up to --end-lr {:.3e}", t.report.end_lr),
    }
}

/// The winner is alone within the tolerance: name the runner-up and the gap.
fn clear_win(labels: &[String], usable: &[(usize, &Tested)], w: usize) -> String {
    let winner = usable.iter().find(|(i, _)| *i == w).map(|(_, r)| *r).expect("the winner is usable");
    let (n, next) = usable
        .iter()
        .filter(|(i, _)| *i != w)
        .min_by(|a, b| min_loss(a.1).total_cmp(&min_loss(b.1)))
        .copied()
        .expect("two usable values or more");
    let (lo, hi) = (min_loss(winner), min_loss(next));
    format!(
        "{} reaches the lowest loss ({}); the next best, {}, reaches {hi:.4}, {:.1}% higher, beyond the {}% tie tolerance",
        labels[w],
        lowest(winner),
        labels[n],
        100.0 * (hi - lo) / lo.abs(),
        100.0 * TIE_TOLERANCE
    )
}

/// Several values reach the lowest loss within the tolerance: the later divergence decides.
fn tie_break(labels: &[String], tied: &[(usize, &Tested)], w: usize) -> String {
    let names: Vec<String> =
        tied.iter().map(|(i, t)| format!("{} {:.4} ({})", labels[*i], min_loss(t), stable_to(t))).collect();
    let winner = tied.iter().find(|(i, _)| *i == w).map(|(_, r)| *r).expect("the winner is tied");
    let others_equal = tied.iter().filter(|(i, _)| *i != w).all(|(_, r)| stability(winner, r) == Ordering::Equal);
    let why = if others_equal {
        "they stay stable to the same LR, so the lower loss decides".to_string()
    } else {
        "it stays stable to the largest LR (its loss diverges last)".to_string()
    };
    format!(
        "{} reach lowest losses within {}% of the lowest: {}; {} is favoured because {why}",
        tied.iter().map(|(i, _)| labels[*i].as_str()).collect::<Vec<_>>().join(", "),
        100.0 * TIE_TOLERANCE,
        names.join("; "),
        labels[w]
    )
}

/// " (not considered: a, interrupted; b, failed)" or "".
fn left_out_note(labels: &[String], outcomes: &[Outcome]) -> String {
    let out: Vec<String> = labels
        .iter()
        .zip(outcomes)
        .filter_map(|(label, o)| match o {
            Err(_) => Some(format!("{label}, failed")),
            Ok(t) if t.report.stop_reason == StopReason::Interrupted => Some(format!("{label}, interrupted")),
            Ok(_) => None,
        })
        .collect();
    if out.is_empty() {
        String::new()
    } else {
        format!(" (not considered: {})", out.join("; "))
    }
}

/// One value of the sweep: a row of `sweep.csv` and an entry of `sweep.json`'s `results`. The
/// numbers are those of the value's `range_test.json` (empty when its test failed).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SweepEntry {
    /// `weight-decay=1e-3`; also the name of the value's sub-folder.
    pub label: String,
    pub value: f64,
    pub lr_at_min_loss: Option<f64>,
    pub min_loss: Option<f64>,
    pub suggested_lr: Option<f64>,
    pub steepest_lr: Option<f64>,
    pub valley_lr: Option<f64>,
    pub max_lr: Option<f64>,
    pub base_lr: Option<f64>,
    /// See [`diverged_at`]; empty when the loss never diverged in the tested range.
    pub diverged_at_lr: Option<f64>,
    pub stop_reason: Option<StopReason>,
    pub steps: Option<u64>,
    pub favoured: bool,
    /// Why the test has no report.
    pub error: Option<String>,
}

/// The favoured value and its range test's proposal (what `train --max-lr sweep.json` uses).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Favoured {
    pub label: String,
    pub value: f64,
    #[serde(flatten)]
    pub suggestion: Suggestion,
}

/// What `sweep.json` holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SweepReport {
    /// `weight-decay`, `momentum` or `batch-size`.
    pub param: SweepParam,
    /// The config field the value sets (`weight_decay`, …).
    pub field: String,
    /// Every value asked for, in order (`results` has those that ran).
    pub values: Vec<f64>,
    /// False when the sweep was interrupted: a value is missing or its test incomplete.
    pub complete: bool,
    pub tie_tolerance: f64,
    pub favoured: Option<Favoured>,
    /// The rule's sentence.
    pub reason: String,
    pub results: Vec<SweepEntry>,
}

impl SweepReport {
    /// The report of the values of `sweep` that ran (`outcomes`, in order); `interrupted` when
    /// Ctrl-C stopped the sweep (perhaps between two tests, or during one that then failed).
    pub fn new(sweep: &Sweep, outcomes: &[Outcome], interrupted: bool) -> SweepReport {
        let labels = sweep.labels();
        let verdict = choose(&labels[..outcomes.len()], outcomes);
        let cut = outcomes.iter().any(|o| o.as_ref().is_ok_and(|t| t.report.stop_reason == StopReason::Interrupted));
        let complete = outcomes.len() == sweep.values.len() && !interrupted && !cut;
        let mut results: Vec<SweepEntry> = outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| entry(&labels[i], sweep.values[i], o, verdict.favoured == Some(i)))
            .collect();
        // A test that Ctrl-C stopped before it had enough points to analyse has no report: its
        // entry still says how it ended.
        if let Some(last) = results.last_mut().filter(|e| interrupted && e.error.is_some()) {
            last.stop_reason = Some(StopReason::Interrupted);
        }
        let favoured = verdict.favoured.and_then(|i| {
            let tested = outcomes[i].as_ref().ok()?;
            Some(Favoured {
                label: labels[i].clone(),
                value: sweep.values[i],
                suggestion: tested.report.suggestion.clone(),
            })
        });
        let reason = if complete {
            verdict.reason
        } else {
            format!("the sweep was interrupted after {} of {} values; {}", outcomes.len(), labels.len(), verdict.reason)
        };
        SweepReport {
            param: sweep.param,
            field: sweep.param.field().to_string(),
            values: sweep.values.clone(),
            complete,
            tie_tolerance: TIE_TOLERANCE,
            favoured,
            reason,
            results,
        }
    }

    /// The printed summary: one line per value, the favoured one and the reason.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "range tests over {} ({} of {} values, same initial weights and data order):",
            self.param,
            self.results.len(),
            self.values.len()
        )];
        lines.extend(self.results.iter().map(entry_line));
        // `train --max-lr sweep.json` refuses a sweep that did not finish: say which it is.
        let use_it = if self.complete {
            "train --max-lr sweep.json uses both"
        } else {
            "so far: the sweep did not finish, and train --max-lr refuses it"
        };
        match &self.favoured {
            Some(f) => lines.push(format!(
                "favoured: {} with max_lr {:.3e}, base_lr {:.3e} ({use_it})",
                f.label, f.suggestion.max_lr, f.suggestion.base_lr
            )),
            None => lines.push("favoured: none".into()),
        }
        lines.push(format!("why: {}", self.reason));
        lines
    }
}

fn entry(label: &str, value: f64, outcome: &Outcome, favoured: bool) -> SweepEntry {
    let tested = outcome.as_ref().ok();
    let report = tested.map(|t| &t.report);
    let s = report.map(|r| &r.suggestion);
    SweepEntry {
        label: label.to_string(),
        value,
        lr_at_min_loss: s.map(|s| s.lr_at_min_loss),
        min_loss: s.map(|s| s.min_loss),
        suggested_lr: s.map(|s| s.suggested_lr),
        steepest_lr: s.and_then(|s| s.steepest_lr),
        valley_lr: s.and_then(|s| s.valley_lr),
        max_lr: s.map(|s| s.max_lr),
        base_lr: s.map(|s| s.base_lr),
        diverged_at_lr: tested.and_then(diverged_at),
        stop_reason: report.map(|r| r.stop_reason),
        steps: report.map(|r| r.steps),
        favoured,
        error: outcome.as_ref().err().cloned(),
    }
}

fn entry_line(e: &SweepEntry) -> String {
    let mark = if e.favoured { "  <- favoured" } else { "" };
    let (Some(min), Some(at), Some(sugg)) = (e.min_loss, e.lr_at_min_loss, e.suggested_lr) else {
        return format!("  {}: failed: {}", e.label, e.error.as_deref().unwrap_or("no report"));
    };
    let stop = match (e.stop_reason, e.diverged_at_lr) {
        (_, Some(lr)) => format!("diverged at lr {lr:.3e}"),
        (Some(StopReason::Interrupted), None) => "interrupted".into(),
        _ => "never diverged".into(),
    };
    let steepest = e.steepest_lr.map_or("none".into(), |v| format!("{v:.3e}"));
    format!(
        "  {}: lowest loss {min:.4} at lr {at:.3e}, suggested {sugg:.3e}, steepest {steepest}, {stop}{mark}",
        e.label
    )
}

#[cfg(test)]
#[path = "choice_tests.rs"]
mod tests;
