//! The sweep's rule on constructed curves: raw losses with no smoothing (`smooth` 0), so that
//! each curve's lowest point and divergence step are exactly the ones built in.

use super::*;
use crate::lr_finder::analysis::{RangeTracker, TrackerSettings};
use crate::lr_finder::Rule;

const START: f64 = 1e-4;
const END: f64 = 10.0;
const ITERS: u64 = 40;

fn lr(step: u64) -> f64 {
    ramp_lr(START, END, step, ITERS, RampMode::Exp)
}

/// The range test of `loss(step)` for up to `ITERS` steps (until the tracker stops it).
fn tested(loss: impl Fn(u64) -> f64) -> Tested {
    let mut tracker = RangeTracker::new(TrackerSettings { smooth: 0.0, diverge: 4.0 });
    for i in 0..ITERS {
        if tracker.push(lr(i), loss(i)).is_some() {
            break;
        }
    }
    Tested {
        report: RangeTestReport::new(&tracker, Rule::Seed, START, END, "exp", ITERS).unwrap(),
        curve: tracker.rows().to_vec(),
    }
}

/// A range test whose loss falls linearly from 3 to `min` at step 10, creeps up by 0.01 a step,
/// and jumps to 10 × `min` at `blow` (the tracker stops there: diverged), if given.
fn test(min: f64, blow: Option<u64>) -> Tested {
    tested(|i| match blow {
        Some(b) if i >= b => 10.0 * min,
        _ if i <= 10 => 3.0 - (3.0 - min) * i as f64 / 10.0,
        _ => min + 0.01 * (i - 10) as f64,
    })
}

fn labels(n: usize) -> Vec<String> {
    ["wd=a", "wd=b", "wd=c", "wd=d"][..n].iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_curves_are_what_they_were_built_to_be() {
    let t = test(1.5, Some(30));
    assert_eq!((t.report.suggestion.min_loss, t.report.suggestion.lr_at_min_loss), (1.5, lr(10)));
    assert_eq!((t.report.stop_reason, t.report.steps), (StopReason::Diverged, 31));
    assert_eq!(diverged_at(&t), Some(lr(30)), "the LR of the diverging row");
    let t = test(1.5, None);
    assert_eq!((t.report.stop_reason, diverged_at(&t)), (StopReason::Completed, None));
}

#[test]
fn a_loss_back_above_its_start_has_diverged_before_the_test_stops() {
    // Down to 1.5 at step 10, then up by 0.2 a step: above the first loss (3.0) at step 18,
    // above 4 × 1.5 (the stop) only at step 33.
    let t = tested(|i| if i <= 10 { 3.0 - 0.15 * i as f64 } else { 1.5 + 0.2 * (i - 10) as f64 });
    assert_eq!((t.report.stop_reason, t.report.steps), (StopReason::Diverged, 34));
    assert_eq!(diverged_at(&t), Some(lr(18)));
    // Its stop is later than that of a curve that blows up at step 25, but it went bad first.
    let v = choose(&labels(2), &[Ok(t), Ok(test(1.505, Some(25)))]);
    assert_eq!(v.favoured, Some(1), "{}", v.reason);
    // The loss above the start before the lowest point does not count.
    let t = tested(|i| {
        if i == 1 {
            3.5
        } else if i <= 10 {
            3.0 - 0.15 * i as f64
        } else {
            1.5
        }
    });
    assert_eq!(diverged_at(&t), None);
}

#[test]
fn a_clear_winner_is_the_lowest_loss() {
    let outcomes = vec![Ok(test(2.0, Some(35))), Ok(test(1.5, Some(20))), Ok(test(1.8, None))];
    let v = choose(&labels(3), &outcomes);
    assert_eq!(v.favoured, Some(1), "{}", v.reason);
    // Lower loss beats stability once the gap is beyond the tolerance (1.8 is 20 % above 1.5).
    assert!(v.reason.starts_with("wd=b reaches the lowest loss (lowest smoothed loss 1.5000 at lr"), "{}", v.reason);
    assert!(v.reason.contains("the next best, wd=c, reaches 1.8000, 20.0% higher, beyond the 1% tie tolerance"));
}

#[test]
fn a_tie_goes_to_the_curve_that_diverges_later() {
    // 1.505 is within 1 % of 1.5: a tie; the higher loss wins because it diverges later.
    let outcomes = vec![Ok(test(1.5, Some(20))), Ok(test(1.505, Some(30))), Ok(test(1.9, None))];
    let v = choose(&labels(3), &outcomes);
    assert_eq!(v.favoured, Some(1), "{}", v.reason);
    assert!(v.reason.starts_with("wd=a, wd=b reach lowest losses within 1% of the lowest"), "{}", v.reason);
    assert!(v.reason.contains(&format!("wd=a 1.5000 (diverges at lr {:.3e})", lr(20))), "{}", v.reason);
    assert!(v.reason.ends_with("wd=b is favoured because it stays stable to the largest LR (its loss diverges last)"));

    // A curve that never diverges beats any that does; just outside the tolerance it does not.
    let v = choose(&labels(2), &[Ok(test(1.5, Some(38))), Ok(test(1.514, None))]);
    assert_eq!(v.favoured, Some(1), "{}", v.reason);
    assert!(v.reason.contains("never diverges up to --end-lr 1.000e1"), "{}", v.reason);
    let v = choose(&labels(2), &[Ok(test(1.5, Some(38))), Ok(test(1.516, None))]);
    assert_eq!(v.favoured, Some(0), "{}", v.reason);
}

#[test]
fn equally_stable_ties_go_to_the_lower_loss_then_the_first_value() {
    let v = choose(&labels(2), &[Ok(test(1.505, Some(30))), Ok(test(1.5, Some(30)))]);
    assert_eq!(v.favoured, Some(1));
    assert!(v.reason.ends_with("they stay stable to the same LR, so the lower loss decides"), "{}", v.reason);
    let v = choose(&labels(2), &[Ok(test(1.5, None)), Ok(test(1.5, None))]);
    assert_eq!(v.favoured, Some(0));
}

#[test]
fn interrupted_and_failed_tests_are_never_chosen() {
    let mut cut = RangeTracker::new(TrackerSettings { smooth: 0.0, diverge: 4.0 });
    for i in 0..8 {
        cut.push(lr(i), 1.0 - 0.01 * i as f64); // lowest loss of all, but cut short
    }
    cut.interrupt();
    let interrupted = Tested {
        report: RangeTestReport::new(&cut, Rule::Seed, START, END, "exp", ITERS).unwrap(),
        curve: cut.rows().to_vec(),
    };
    assert_eq!(diverged_at(&interrupted), None);
    let outcomes = vec![Ok(interrupted), Ok(test(2.0, Some(25))), Err("too few points".to_string())];
    let v = choose(&labels(3), &outcomes);
    assert_eq!(v.favoured, Some(1), "{}", v.reason);
    assert_eq!(
        v.reason,
        format!(
            "wd=b is the only value with a usable range test (lowest smoothed loss 2.0000 at lr {:.3e}) \
             (not considered: wd=a, interrupted; wd=c, failed)",
            lr(10)
        )
    );
    let v = choose(&labels(1), &[Err("too few points".into())]);
    assert_eq!(
        v,
        Verdict { favoured: None, reason: "no value gave a usable range test (not considered: wd=a, failed)".into() }
    );
}

#[test]
fn a_non_finite_loss_diverged_at_the_step_it_was_dropped() {
    let mut t = RangeTracker::new(TrackerSettings { smooth: 0.0, diverge: 4.0 });
    for i in 0..12 {
        t.push(lr(i), if i < 11 { 2.0 - 0.1 * i as f64 } else { f64::NAN });
    }
    let r = Tested {
        report: RangeTestReport::new(&t, Rule::Seed, START, END, "exp", ITERS).unwrap(),
        curve: t.rows().to_vec(),
    };
    assert_eq!((r.report.stop_reason, r.report.steps), (StopReason::NonFinite, 11));
    assert_eq!(diverged_at(&r), Some(lr(11)));
    // It can still win: it reached the lowest loss, and stopping is how range tests end.
    assert_eq!(choose(&labels(2), &[Ok(test(1.5, Some(30))), Ok(r)]).favoured, Some(1));
}

#[test]
fn the_report_copies_each_tests_numbers_and_marks_the_favoured_one() {
    let sweep = Sweep { param: SweepParam::Momentum, values: vec![0.95, 0.9, 0.85] };
    let (a, b) = (test(1.8, Some(25)).report, test(1.5, Some(30)).report);
    let outcomes =
        vec![Ok(test(1.8, Some(25))), Ok(test(1.5, Some(30))), Err("the range test recorded 3 points".to_string())];
    let report = SweepReport::new(&sweep, &outcomes, false);
    assert!(report.complete && report.field == "momentum" && report.tie_tolerance == TIE_TOLERANCE);
    let favoured = report.favoured.as_ref().unwrap();
    assert_eq!((favoured.label.as_str(), favoured.value), ("momentum=0.9", 0.9));
    assert_eq!(favoured.suggestion, b.suggestion);
    let e = &report.results[0];
    assert_eq!((e.label.as_str(), e.value, e.favoured), ("momentum=0.95", 0.95, false));
    assert_eq!(
        (e.lr_at_min_loss, e.min_loss, e.suggested_lr),
        (Some(a.suggestion.lr_at_min_loss), Some(1.8), Some(a.suggestion.suggested_lr))
    );
    assert_eq!(
        (e.steepest_lr, e.max_lr, e.base_lr),
        (a.suggestion.steepest_lr, Some(a.suggestion.max_lr), Some(a.suggestion.base_lr))
    );
    assert_eq!((e.diverged_at_lr, e.stop_reason, e.steps), (Some(lr(25)), Some(StopReason::Diverged), Some(26)));
    assert!(report.results[1].favoured);
    let failed = &report.results[2];
    assert_eq!((failed.min_loss, failed.error.as_deref()), (None, Some("the range test recorded 3 points")));

    // Round trip through JSON, as train --max-lr reads it.
    let back: SweepReport = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    assert_eq!(back, report);
    let lines = report.summary_lines();
    assert!(lines[0].starts_with("range tests over momentum (3 of 3 values"), "{lines:?}");
    assert!(lines[2].ends_with("<- favoured") && lines[3].contains("failed: the range test recorded 3 points"));
    assert!(lines[4].starts_with("favoured: momentum=0.9 with max_lr"), "{lines:?}");
}

#[test]
fn an_interrupted_sweep_says_so() {
    let sweep = Sweep { param: SweepParam::BatchSize, values: vec![128.0, 256.0, 512.0] };
    let report = SweepReport::new(&sweep, &[Ok(test(1.5, Some(30)))], true);
    assert!(!report.complete);
    assert_eq!(report.results.len(), 1);
    assert!(report.reason.starts_with("the sweep was interrupted after 1 of 3 values; batch-size=128 is the only"));
    // Stopped during the last value, whose test then failed: still not complete.
    let outcomes = vec![Ok(test(1.5, None)), Ok(test(1.6, None)), Err("too few points".into())];
    let stopped = SweepReport::new(&sweep, &outcomes, true);
    assert!(!stopped.complete);
    assert_eq!(stopped.results[2].stop_reason, Some(StopReason::Interrupted), "the stopped test says how it ended");
    assert_eq!(stopped.results[1].stop_reason, Some(StopReason::Completed));
    let failed = SweepReport::new(&sweep, &outcomes, false);
    assert!(failed.complete);
    assert_eq!(failed.results[2].stop_reason, None, "a test that failed by itself has no stop reason");
}
