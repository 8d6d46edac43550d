use super::*;

const EXACT: f64 = 1e-12;

fn settings(smooth: f64, diverge: f64) -> TrackerSettings {
    TrackerSettings { smooth, diverge }
}

/// The exponential schedule: `n` points from 1e-4 up to (not reaching) 10, 20 per decade,
/// so log10(lr_i) = -4 + i/20 and lr_40 = 0.01, lr_60 = 0.1.
fn exp_lrs(n: usize) -> Vec<f64> {
    let n_total = 100.0;
    (0..n).map(|i| 1e-4 * (10.0f64 / 1e-4).powf(i as f64 / n_total)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= EXACT * b.abs().max(1.0)
}

fn rel_close(a: f64, b: f64) -> bool {
    (a - b).abs() <= EXACT * b.abs()
}

/// A seeded LCG (Knuth's MMIX constants): uniform numbers in [-1, 1) (the rules' tests use it too).
pub(in crate::lr_finder) fn lcg_noise(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn parabola_minimum_and_the_tenth_rule() {
    let lrs = exp_lrs(100);
    let losses: Vec<f64> = lrs.iter().map(|lr| 1.0 + (lr.log10() + 2.0).powi(2)).collect();
    let s = suggest(&lrs, &losses, &losses, Rule::Seed).unwrap();
    assert_eq!(s.lr_at_min_loss, lrs[40]);
    assert!(rel_close(s.lr_at_min_loss, 0.01), "{}", s.lr_at_min_loss);
    assert!(close(s.min_loss, 1.0));
    assert_eq!(s.suggested_lr, s.lr_at_min_loss / 10.0);
    assert_eq!(s.max_lr, s.suggested_lr);
    assert_eq!(s.base_lr, s.max_lr / 10.0);
    assert!(rel_close(s.base_lr, 1e-4));
}

#[test]
fn tracker_with_no_smoothing_analyses_the_same_parabola() {
    let lrs = exp_lrs(100);
    let mut t = RangeTracker::new(settings(0.0, 4.0));
    let mut stop = None;
    for &lr in &lrs {
        stop = t.push(lr, 1.0 + (lr.log10() + 2.0).powi(2));
        if stop.is_some() {
            break;
        }
    }
    // The loss first exceeds 4 x 1 where (x + 2)^2 > 3: x > -0.268, i.e. step 75.
    assert_eq!(stop, Some(StopReason::Diverged));
    assert_eq!(t.rows().len(), 76);
    assert!(t.rows().iter().all(|r| r.smoothed_loss == r.loss));
    assert!(t.rows().iter().enumerate().all(|(i, r)| r.step == i as u64));
    assert_eq!(t.analyse(Rule::Seed).unwrap().lr_at_min_loss, lrs[40]);
}

#[test]
fn steepest_point_of_a_logistic_drop() {
    let lrs = exp_lrs(100);
    // The drop is centred at lr = 0.1 (step 60), symmetric in log10(lr).
    let losses: Vec<f64> = lrs.iter().map(|lr| 1.0 + 1.0 / (1.0 + (6.0 * (lr.log10() + 1.0)).exp())).collect();
    let s = suggest(&lrs, &losses, &losses, Rule::Seed).unwrap();
    assert_eq!(s.steepest_lr, Some(lrs[60]));
    assert!(rel_close(s.steepest_lr.unwrap(), 0.1));
}

#[test]
fn steepest_is_none_when_the_loss_never_falls() {
    let lrs = exp_lrs(50);
    let losses: Vec<f64> = (0..50).map(|i| 1.0 + i as f64).collect();
    assert_eq!(suggest(&lrs, &losses, &losses, Rule::Seed).unwrap().steepest_lr, None);
}

#[test]
fn gradient_is_exact_for_a_quadratic_on_uneven_spacing() {
    // np.gradient's interior formula is second order: exact derivative 2x of x^2.
    let x = [0.0, 1.0, 3.0, 4.0, 7.0];
    let y: Vec<f64> = x.iter().map(|v| v * v).collect();
    let g = gradient(&y, &x);
    for i in 1..4 {
        assert!(close(g[i], 2.0 * x[i]), "{i}: {}", g[i]);
    }
    assert!(close(g[0], 1.0) && close(g[4], 11.0)); // one-sided at the ends
}

#[test]
fn valley_on_a_constructed_curve() {
    // 40 points: the window drops the first 4 and the last 5. Inside it: 5 flat points, a
    // strictly decreasing run of 12, then a rise. The longest decreasing subsequence is one
    // flat point + the run (13 points, ending at window index 16), so fastai's max_start is
    // 16 - 13 = 3 and idx = 3 + int(13/3) + int(13/6) = 9: window index 9, step 13. The
    // points outside the window would lengthen the subsequence if they were not dropped.
    let mut losses = vec![10.0, 9.0, 8.0, 7.0];
    losses.extend([5.0; 5]);
    losses.extend((0..12).map(|k| 4.0 - 0.1 * k as f64));
    losses.extend((0..14).map(|k| 3.0 + 0.1 * k as f64));
    losses.extend([0.5, 0.4, 0.3, 0.2, 0.1]);
    let lrs = exp_lrs(40);
    assert_eq!(window(40), (4, 35));
    let s = suggest(&lrs, &losses, &losses, Rule::Seed).unwrap();
    assert_eq!(s.valley_lr, Some(lrs[13]));
}

#[test]
fn valley_matches_fastai_on_irregular_curves() {
    // Expected indices from running fastai 2.x's `valley` source in Python on these lists.
    let cases: [([f64; 20], usize); 3] = [
        ([1.3, 8.5, 7.6, 2.6, 5.0, 4.5, 6.5, 7.9, 0.9, 0.3, 8.4, 4.3, 7.6, 0.0, 4.5, 7.2, 2.3, 9.5, 9.0, 0.3], 9),
        ([0.3, 5.4, 9.4, 3.8, 2.2, 4.2, 0.3, 2.2, 4.4, 5.0, 2.3, 2.3, 2.2, 4.6, 2.9, 0.2, 8.4, 5.6, 6.4, 1.9], 11),
        ([9.9, 8.6, 1.2, 3.3, 7.2, 7.1, 9.4, 4.2, 8.3, 6.7, 3.0, 5.9, 8.8, 8.5, 5.1, 5.9, 0.3, 2.4, 8.0, 4.1], 11),
    ];
    for (losses, idx) in cases {
        assert_eq!(valley(&losses), Some(idx), "{losses:?}");
    }
    // No decreasing stretch of 3: fastai's answer there is an artefact; we give none.
    assert_eq!(valley(&[1.0, 2.0, 3.0, 4.0]), None);
    assert_eq!(valley(&[2.0, 1.0, 3.0, 4.0]), None);
    assert_eq!(valley(&[3.0, 2.0, 1.0]), Some(0));
}

#[test]
fn smoothing_keeps_noise_from_moving_the_minimum() {
    let n = 400;
    let lrs: Vec<f64> = (0..n).map(|i| 1e-4 * 1e5f64.powf(i as f64 / n as f64)).collect();
    let clean: Vec<f64> = lrs.iter().map(|lr| 1.0 + 4.0 * (lr.log10() + 2.0).powi(2)).collect();
    let noisy: Vec<f64> = clean.iter().zip(lcg_noise(42, n)).map(|(c, e)| c + 0.5 * e).collect();
    let (sc, sn) = (smooth(&clean, 0.98), smooth(&noisy, 0.98));
    let at_min_clean = suggest(&lrs, &clean, &sc, Rule::Seed).unwrap().lr_at_min_loss;
    let at_min_noisy = suggest(&lrs, &noisy, &sn, Rule::Seed).unwrap().lr_at_min_loss;
    // Within 0.1 decade of the noiseless smoothed curve (the EMA lag is common to both).
    assert!((at_min_noisy / at_min_clean).log10().abs() < 0.1, "{at_min_noisy} vs {at_min_clean}");
}

#[test]
fn non_finite_loss_stops_without_a_row() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut t = RangeTracker::new(settings(0.98, 4.0));
        assert_eq!(t.push(1e-4, 2.3), None);
        assert_eq!(t.push(2e-4, bad), Some(StopReason::NonFinite));
        assert_eq!(t.rows().len(), 1);
        assert!(t.rows()[0].smoothed_loss.is_finite());
        assert_eq!(t.stop_reason(), StopReason::NonFinite);
        // Once stopped, nothing more is recorded.
        assert_eq!(t.push(3e-4, 2.0), Some(StopReason::NonFinite));
        assert_eq!(t.rows().len(), 1);
    }
}

#[test]
fn divergence_stops_at_the_first_step_over_the_limit() {
    // beta 0.5: avg = 0.5, 0.75, 2.875, 3.9375; bias factors 0.5, 0.75, 0.875, 0.9375;
    // smoothed = 1, 1, 3.2857 (< 4: raw 5 alone does not stop it), 4.2 (> 4 x 1: stop).
    let mut t = RangeTracker::new(settings(0.5, 4.0));
    let pushes: Vec<_> =
        [1.0, 1.0, 5.0, 5.0, 5.0].iter().enumerate().map(|(i, &l)| t.push(i as f64 + 1.0, l)).collect();
    assert_eq!(pushes[..3], [None, None, None]);
    assert_eq!(pushes[3], Some(StopReason::Diverged));
    assert_eq!(t.rows().len(), 4, "the diverging row is kept, nothing after it");
    let sm: Vec<f64> = t.rows().iter().map(|r| r.smoothed_loss).collect();
    for (got, want) in sm.iter().zip([1.0, 1.0, 2.875 / 0.875, 3.9375 / 0.9375]) {
        assert!(close(*got, want), "{got} vs {want}");
    }
    assert!(close(sm[3], 4.2));
    assert_eq!(t.stop_reason(), StopReason::Diverged);

    // No smoothing: exactly 4 x min does not stop (the rule is "exceeds"), 4.5 does.
    let mut t = RangeTracker::new(settings(0.0, 4.0));
    let stops: Vec<_> = [4.0, 2.0, 1.0, 4.0, 4.5].iter().map(|&l| t.push(0.1, l)).collect();
    assert_eq!(stops, [None, None, None, None, Some(StopReason::Diverged)]);
}

#[test]
fn bias_correction_first_value_is_the_loss() {
    for beta in [0.98, 0.9, 0.5, 0.999] {
        for l in [0.1, std::f64::consts::LN_10, 1e-7, 12345.678, 0.3] {
            assert_eq!(smooth(&[l, 1.0], beta)[0], l, "beta {beta}, loss {l}");
        }
    }
    // Second value by hand: (0.98*0.02*l1 + 0.02*l2) / (1 - 0.98^2).
    let s = smooth(&[2.0, 3.0], 0.98);
    assert!(close(s[1], (0.0196 * 2.0 + 0.02 * 3.0) / (1.0 - 0.9604)));
    // The tracker logs exactly what the free function computes.
    let losses = [2.3, 2.1, 2.2, 1.9, 1.7, 1.8, 1.5];
    let mut t = RangeTracker::new(settings(0.98, 4.0));
    for (i, &l) in losses.iter().enumerate() {
        t.push(1e-3 * (i + 1) as f64, l);
    }
    let logged: Vec<f64> = t.rows().iter().map(|r| r.smoothed_loss).collect();
    assert_eq!(logged, smooth(&losses, 0.98));
}

#[test]
fn zero_smoothing_is_the_raw_loss() {
    let losses = [2.3, 0.1, 1e20, 1.0, 3.7];
    assert_eq!(smooth(&losses, 0.0), losses.to_vec());
}

#[test]
fn too_few_or_bad_points_are_errors() {
    let mut t = RangeTracker::new(settings(0.98, 4.0));
    for i in 0..4 {
        t.push(1e-3 * (i + 1) as f64, 2.0);
    }
    let msg = t.analyse(Rule::Seed).unwrap_err().to_string();
    assert!(msg.contains("4 points") && msg.contains("at least 5"), "{msg}");
    t.push(5e-3, 1.0);
    let s = t.analyse(Rule::Seed).unwrap();
    assert_eq!((s.steepest_lr, s.valley_lr), (None, None), "window empty at 5 points");
    assert!(suggest(&[], &[], &[], Rule::Seed).is_err());

    let lrs = [1e-3, 2e-3, 3e-3, 4e-3, 5e-3];
    let l = [1.0; 5];
    assert!(suggest(&lrs, &l[..4], &l, Rule::Seed).is_err());
    let msg = suggest(&[1e-3, 2e-3, 2e-3, 4e-3, 5e-3], &l, &l, Rule::Seed).unwrap_err().to_string();
    assert!(msg.contains("step 2"), "{msg}");
    assert!(suggest(&[0.0, 2e-3, 3e-3, 4e-3, 5e-3], &l, &l, Rule::Seed).is_err());
    let mut bad = l;
    bad[3] = f64::NAN;
    assert!(suggest(&lrs, &l, &bad, Rule::Seed).is_err());
}

#[test]
fn report_json_has_the_spec_fields() {
    let lrs = exp_lrs(100);
    let mut t = RangeTracker::new(settings(0.98, 4.0));
    for &lr in &lrs {
        // A bowl at 0.01 and a blow-up past 0.1.
        let loss = 1.0 + (lr.log10() + 2.0).powi(2) + (lr * 10.0).powi(2);
        if t.push(lr, loss).is_some() {
            break;
        }
    }
    let report = RangeTestReport::new(&t, Rule::Seed, 1e-4, 10.0, "exp", 100).unwrap();
    assert_eq!(report.stop_reason, StopReason::Diverged);
    assert!(report.stopped_early);
    assert_eq!(report.steps, t.rows().len() as u64);
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "lr_at_min_loss",
        "min_loss",
        "suggested_lr",
        "max_lr",
        "base_lr",
        "steepest_lr",
        "valley_lr",
        "stopped_early",
        "stop_reason",
        "steps",
        "start_lr",
        "end_lr",
        "mode",
        "smooth",
        "diverge",
        "iters",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert_eq!(json["stop_reason"], "diverged");
    let back: RangeTestReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
    assert_eq!(serde_json::to_string(&StopReason::NonFinite).unwrap(), "\"non_finite\"");

    let lines = report.summary_lines().join("\n");
    for word in ["suggested lr", "max_lr", "base_lr", "steepest", "valley", "/ 10"] {
        assert!(lines.contains(word), "{word} not in\n{lines}");
    }
}

#[test]
fn completed_report_is_not_early() {
    let mut t = RangeTracker::new(settings(0.98, 4.0));
    for i in 0..20 {
        assert_eq!(t.push(1e-3 * (i + 1) as f64, 3.0 - 0.1 * i as f64), None);
    }
    let report = RangeTestReport::new(&t, Rule::Seed, 1e-3, 2e-2, "linear", 20).unwrap();
    assert_eq!(report.stop_reason, StopReason::Completed);
    assert!(!report.stopped_early);
    assert!(report.summary_lines().iter().any(|l| l.contains("never exceeded")));
}

/// A test of few steps per decade of LR says its pick is unsteady, and how many steps steady it;
/// one of enough steps says nothing.
#[test]
fn a_test_of_few_steps_per_decade_says_so() {
    let report = |iters: u64, mode: &str| {
        let mut t = RangeTracker::new(settings(0.98, 4.0));
        for i in 0..iters {
            t.push(1e-4 * 10f64.powf(5.0 * i as f64 / iters as f64), 3.0 - 0.01 * i as f64);
        }
        RangeTestReport::new(&t, Rule::Floor, 1e-4, 10.0, mode, iters).unwrap().summary_lines().join("\n")
    };
    let short = report(75, "exp");
    assert!(short.contains("note: 15 steps per decade of LR") && short.contains("--iters 150 or more"), "{short}");
    assert!(!report(150, "exp").contains("steps per decade"), "{}", report(150, "exp"));
    // Measured on exponential ramps only: a linear one is not judged by it.
    assert!(!report(75, "linear").contains("steps per decade"));
}

/// Without `--iters` an exponential test runs its epochs of data, but never fewer than 30 steps
/// per decade; a linear one runs its epochs whatever they are.
#[test]
fn the_default_length_is_epochs_of_data_but_never_an_unsteady_test() {
    assert_eq!(steady_iters(1e-4, 10.0), 150);
    assert_eq!(steady_iters(1e-4, 100.0), 180);
    assert_eq!(steady_iters(1e-7, 10.0), 240);
    assert_eq!(steady_iters(1e-3, 0.3), 75, "2.48 decades: 74.3 steps, rounded up");
    // The digits set at batch 64: 3 epochs of 24 steps would be 72.
    assert_eq!(default_iters(24, 3, 1e-4, 10.0, true), 150);
    // CIFAR-10 at batch 512: 3 epochs of 98 steps are already steady.
    assert_eq!(default_iters(98, 3, 1e-4, 10.0, true), 294);
    assert_eq!(default_iters(24, 3, 1e-4, 10.0, false), 72);
    assert_eq!(default_iters(u64::MAX, 3, 1e-4, 10.0, true), u64::MAX);
}
