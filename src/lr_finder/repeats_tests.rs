use super::*;
use crate::lr_finder::analysis::suggest;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs()
}

#[test]
fn the_geometric_median_is_the_middle_in_log() {
    assert_eq!(geometric_median(&[]), None);
    assert!(close(geometric_median(&[0.3]).unwrap(), 0.3));
    // Odd: the middle one, whatever the outlier.
    assert!(close(geometric_median(&[0.5, 100.0, 0.2]).unwrap(), 0.5));
    assert!(close(geometric_median(&[0.5, 1e-9, 0.2, 0.4, 7.0]).unwrap(), 0.4));
    // Even: the geometric mean of the middle two (0.1 and 0.4 -> 0.2).
    assert!(close(geometric_median(&[0.4, 10.0, 0.1, 0.01]).unwrap(), 0.2));
}

/// A curve whose floor sits where `shift` (decades) puts it.
fn suggestion(shift: f64) -> Suggestion {
    let lrs: Vec<f64> = (0..300).map(|i| 1e-4 * 1e5f64.powf(i as f64 / 300.0)).collect();
    let losses: Vec<f64> = lrs
        .iter()
        .map(|lr| {
            let x = lr.log10() - shift;
            1.0 + 2.0 / (1.0 + (8.0 * (x + 2.5)).exp()) + (6.0 * x).exp()
        })
        .collect();
    suggest(&lrs, &losses, &losses, Rule::Floor).unwrap()
}

fn report(shift: f64, stop_reason: StopReason, steps: u64) -> RangeTestReport {
    RangeTestReport {
        suggestion: suggestion(shift),
        stopped_early: stop_reason != StopReason::Completed,
        stop_reason,
        steps,
        start_lr: 1e-4,
        end_lr: 10.0,
        mode: "exp".into(),
        smooth: 0.98,
        diverge: 4.0,
        iters: 300,
        repeats: None,
    }
}

#[test]
fn every_lr_is_the_median_of_the_seeds_and_one_wild_seed_moves_nothing() {
    let tests: Vec<Suggestion> = [0.0, -1.5, 0.1, 0.05, -0.1].iter().map(|&s| suggestion(s)).collect();
    let c = combine(&tests, Rule::Floor).unwrap();
    let middle = |f: fn(&Suggestion) -> f64| {
        let mut v: Vec<f64> = tests.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[2]
    };
    assert!(close(c.floor_lr.unwrap(), middle(|s| s.floor_lr.unwrap())));
    assert!(close(c.floor_start_lr.unwrap(), middle(|s| s.floor_start_lr.unwrap())));
    assert!(close(c.floor_end_lr.unwrap(), middle(|s| s.floor_end_lr.unwrap())));
    assert!(close(c.lr_at_min_loss, middle(|s| s.lr_at_min_loss)));
    assert_eq!(c.min_loss, middle(|s| s.min_loss));
    assert_eq!((c.rule, c.suggested_lr, c.max_lr), (Rule::Floor, c.floor_lr.unwrap(), c.floor_lr.unwrap()));
    assert!(close(c.base_lr, c.max_lr / 10.0));
    // The seed shifted 1.5 decades down is the lowest; the median is one of the four near 0.
    let without: Vec<Suggestion> = [0.0, 0.1, 0.05, -0.1].iter().map(|&s| suggestion(s)).collect();
    let four = combine(&without, Rule::Floor).unwrap().suggested_lr;
    assert!((c.suggested_lr / four).log10().abs() < 0.05, "{} vs {four}", c.suggested_lr);
    // Another rule makes the suggestion from its own LRs.
    let seed = combine(&tests, Rule::Seed).unwrap();
    assert_eq!((seed.rule, seed.suggested_lr), (Rule::Seed, seed.seed_lr.unwrap()));
    assert!(close(seed.seed_lr.unwrap(), middle(|s| s.lr_at_min_loss) / 10.0));
}

#[test]
fn a_rule_without_an_lr_anywhere_falls_back_to_the_floor() {
    let mut tests: Vec<Suggestion> = [0.0, 0.1, -0.1].iter().map(|&s| suggestion(s)).collect();
    tests.iter_mut().for_each(|s| s.valley_lr = None);
    let c = combine(&tests, Rule::Valley).unwrap();
    assert_eq!((c.rule, c.valley_lr, c.suggested_lr), (Rule::Floor, None, c.floor_lr.unwrap()));
    // One test with a valley is enough.
    tests[1].valley_lr = Some(0.02);
    let c = combine(&tests, Rule::Valley).unwrap();
    assert_eq!((c.rule, c.suggested_lr), (Rule::Valley, 0.02));
    assert_eq!(combine(&[], Rule::Floor), None);
    // The summary names the rule of a seed whose own test fell back to the floor.
    let reports: Vec<RangeTestReport> = [0.0, 0.1]
        .iter()
        .map(|&shift| {
            let mut r = report(shift, StopReason::Completed, 300);
            (r.suggestion.valley_lr, r.suggestion.rule) = (None, Rule::Floor);
            r
        })
        .collect();
    let mut reports = reports;
    reports[1].suggestion.valley_lr = Some(0.02);
    reports[1].suggestion.rule = Rule::Valley;
    let r = combine_reports(&[1, 2], &reports, Rule::Valley).unwrap();
    let lines = r.summary_lines();
    let each = lines.iter().find(|l| l.starts_with("each seed's")).unwrap();
    assert!(each.contains(" (floor), seed=2 ") && !each.contains("(valley)"), "{each}");
}

#[test]
fn the_report_totals_the_steps_and_lists_every_seed() {
    let reports = [
        report(0.0, StopReason::Diverged, 250),
        report(0.1, StopReason::Completed, 300),
        report(-0.1, StopReason::Diverged, 280),
    ];
    let r = combine_reports(&[4, 5, 6], &reports, Rule::Floor).unwrap();
    assert_eq!((r.steps, r.iters, r.stop_reason, r.stopped_early), (830, 900, StopReason::Diverged, true));
    let rep = r.repeats.as_ref().unwrap();
    assert_eq!(rep.seeds, [4, 5, 6]);
    let labels: Vec<&str> = rep.tests.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["seed=4", "seed=5", "seed=6"]);
    assert_eq!(rep.tests[1].suggested_lr, reports[1].suggestion.suggested_lr);
    let lrs: Vec<f64> = reports.iter().map(|r| r.suggestion.suggested_lr).collect();
    assert!(close(rep.spread, lrs[1] / lrs[2]), "the highest over the lowest");
    assert_eq!(r.suggestion, combine(&reports.map(|r| r.suggestion), Rule::Floor).unwrap());
    // The JSON keeps it all, and a single test's report has no `repeats` key.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(serde_json::from_value::<RangeTestReport>(json).unwrap(), r);
    assert!(serde_json::to_value(report(0.0, StopReason::Completed, 300)).unwrap().get("repeats").is_none());
    let lines = r.summary_lines();
    assert!(lines[0].starts_with("range tests at 3 seeds: 830 of 900 steps in all"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("geometric median of the seeds' floor lrs (3 of 3 seeds ran")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("each seed's suggested lr: seed=4 ")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("(floor)")), "a seed's rule is named only where it differs");
    // 300 steps per test over 5 decades is steady: no short-test note from the totals.
    assert!(!lines.iter().any(|l| l.contains("steps per decade")), "{lines:?}");
}

#[test]
fn a_seed_that_did_not_run_or_finish_makes_the_whole_interrupted() {
    let all_done = [report(0.0, StopReason::Completed, 300), report(0.1, StopReason::Completed, 300)];
    let r = combine_reports(&[1, 2], &all_done, Rule::Floor).unwrap();
    assert_eq!((r.stop_reason, r.stopped_early), (StopReason::Completed, false));
    let r = combine_reports(&[1, 2, 3], &all_done, Rule::Floor).unwrap();
    assert_eq!((r.stop_reason, r.stopped_early), (StopReason::Interrupted, true));
    let cut = [report(0.0, StopReason::Completed, 300), report(0.1, StopReason::Interrupted, 90)];
    assert_eq!(combine_reports(&[1, 2], &cut, Rule::Floor).unwrap().stop_reason, StopReason::Interrupted);
    let mixed = [report(0.0, StopReason::Completed, 300), report(0.1, StopReason::NonFinite, 200)];
    assert_eq!(combine_reports(&[1, 2], &mixed, Rule::Floor).unwrap().stop_reason, StopReason::NonFinite);
    assert_eq!(combine_reports(&[1], &[], Rule::Floor), None);
}
