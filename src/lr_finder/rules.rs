//! The rules that turn a range-test curve into a learning rate (pure: no libtorch, no CSV).
//!
//! - `floor` (the default): smooth the raw loss over log10(lr) with a centred Gaussian of
//!   [`FLOOR_WIDTH`] decades; the curve's *floor* runs from the first LR at which that smoothed
//!   loss comes down to within [`FLOOR_RISE`] of its lowest value (measured from its highest
//!   value before the lowest) to the last LR at which it is still there. The suggestion is the
//!   middle of the floor in log LR (the geometric mean of its ends) times [`FLOOR_FACTOR`].
//!   A centred smoother in decades has no lag and no notion of steps, so a test of 75 steps and
//!   one of 600 are smoothed alike; and the floor's two ends move in opposite directions with
//!   the test's length (a longer test trains further at each LR, so its loss comes down at lower
//!   LRs, and stays stable up to higher ones), so their middle barely moves where each end and
//!   the lowest point of a flat floor do.
//! - `seed`: the seed article's rule, the LR at the lowest EMA-smoothed loss / 10.
//! - `steepest` and `valley`: fastai's, on the EMA-smoothed loss (see `analysis.rs`).
//!
//! The constants were chosen by measuring every rule's regret against grids of short one-cycle
//! runs on real data (`scripts/regret.sh`, BENCHMARKS.md).

/// The Gaussian's standard deviation in decades of LR (the kernel is cut at 3 of them).
pub const FLOOR_WIDTH: f64 = 0.2;
/// How far the smoothed loss may be above its lowest value and still be on the floor, as a
/// fraction of the way back up to its highest value before the lowest.
pub const FLOOR_RISE: f64 = 0.5;
/// The middle of the floor times this is the suggestion: the best short runs train at about
/// three times the middle of the floor, towards its high end (fitted with the two constants
/// above to the lowest worst-case regret over five grids, BENCHMARKS.md).
pub const FLOOR_FACTOR: f64 = 3.0;

/// Which rule makes `suggested_lr` (and so `max_lr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Rule {
    /// The middle of the loss's floor in log LR, times [`FLOOR_FACTOR`].
    #[default]
    Floor,
    /// The LR at the lowest EMA-smoothed loss / 10 (the seed article's rule).
    Seed,
    /// fastai's steepest fall of the EMA-smoothed loss.
    Steepest,
    /// fastai's valley of the EMA-smoothed loss.
    Valley,
}
crate::named_enum!(Rule, "rule", Floor => "floor", Seed => "seed", Steepest => "steepest", Valley => "valley");

impl Rule {
    /// The rule of a report written before rules were named: the seed's.
    pub fn legacy() -> Rule {
        Rule::Seed
    }

    /// How the printed summary explains the rule.
    pub fn explain(self) -> String {
        match self {
            Rule::Floor => format!(
                "the middle, in log lr, of the loss's floor (where the loss smoothed over log10 lr is within \
                 {FLOOR_RISE} of its drop from its lowest value) x {FLOOR_FACTOR}"
            ),
            Rule::Seed => "lr at the lowest smoothed loss / 10".into(),
            Rule::Steepest => "steepest fall of the smoothed loss vs log10 lr".into(),
            Rule::Valley => "fastai's valley: 2/3 down the longest decreasing stretch".into(),
        }
    }
}

/// `losses` smoothed over log10(`lrs`): at each point, the mean of the losses weighted by a
/// Gaussian of `width` decades centred there, cut at 3 widths. Centred, so it has no lag; in
/// decades, so it smooths a test of 75 steps and one of 600 alike. `lrs` must increase.
pub fn log_smooth(lrs: &[f64], losses: &[f64], width: f64) -> Vec<f64> {
    let x: Vec<f64> = lrs.iter().map(|lr| lr.log10()).collect();
    let reach = 3.0 * width;
    let mut lo = 0;
    (0..x.len())
        .map(|i| {
            while x[i] - x[lo] > reach {
                lo += 1;
            }
            let (mut sum, mut weights) = (0.0, 0.0);
            for j in lo..x.len() {
                let d = x[j] - x[i];
                if d > reach {
                    break;
                }
                let w = (-0.5 * (d / width).powi(2)).exp();
                sum += w * losses[j];
                weights += w;
            }
            sum / weights
        })
        .collect()
}

/// The floor of a smoothed curve, as indices: the first and the last point at or below
/// `min + rise * (peak - min)`, where `peak` is the highest point up to the lowest one.
pub fn floor(smoothed: &[f64], rise: f64) -> (usize, usize) {
    let imin = (1..smoothed.len()).fold(0, |b, i| if smoothed[i] < smoothed[b] { i } else { b });
    let min = smoothed[imin];
    let peak = smoothed[..=imin].iter().copied().fold(min, f64::max);
    let limit = min + rise * (peak - min);
    let on = |i: &usize| smoothed[*i] <= limit;
    let first = (0..smoothed.len()).find(on).unwrap_or(imin);
    let last = (0..smoothed.len()).rev().find(on).unwrap_or(imin);
    (first, last)
}

/// The floor rule on a curve: the floor's ends as LRs, and the suggestion.
pub fn floor_rule(lrs: &[f64], losses: &[f64]) -> FloorLrs {
    let smoothed = log_smooth(lrs, losses, FLOOR_WIDTH);
    let (first, last) = floor(&smoothed, FLOOR_RISE);
    let (start, end) = (lrs[first], lrs[last]);
    FloorLrs { start, end, suggested: (start * end).sqrt() * FLOOR_FACTOR }
}

/// Where the floor rule found the floor, and what it suggests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloorLrs {
    /// The first LR on the floor.
    pub start: f64,
    /// The last LR on the floor.
    pub end: f64,
    /// `sqrt(start * end) * FLOOR_FACTOR`.
    pub suggested: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lr_finder::analysis::tests::lcg_noise as noise;

    /// `n` LRs from 1e-4 towards 10 as the range test's exp ramp makes them.
    fn ramp(n: usize) -> Vec<f64> {
        (0..n).map(|i| 1e-4 * 1e5f64.powf(i as f64 / n as f64)).collect()
    }

    #[test]
    fn smoothing_is_a_gaussian_mean_over_decades() {
        // Three points a tenth of a decade apart, width 0.1: weights e^-0.5, 1, e^-0.5 around the
        // middle; one-sided at the ends.
        let lrs = [0.1, 10f64.powf(-0.9), 10f64.powf(-0.8)];
        let losses = [1.0, 2.0, 4.0];
        let s = log_smooth(&lrs, &losses, 0.1);
        let w = (-0.5f64).exp();
        assert!((s[1] - (w * 1.0 + 2.0 + w * 4.0) / (1.0 + 2.0 * w)).abs() < 1e-12, "{s:?}");
        let w2 = (-2.0f64).exp();
        assert!((s[0] - (1.0 + w * 2.0 + w2 * 4.0) / (1.0 + w + w2)).abs() < 1e-12, "{s:?}");
        // A straight line in log LR stays straight inside (the kernel is symmetric; 190 points put
        // none exactly at its cut, where rounding would decide).
        let lrs = ramp(190);
        let line: Vec<f64> = lrs.iter().map(|lr| 3.0 - 0.5 * lr.log10()).collect();
        let s = log_smooth(&lrs, &line, 0.1);
        for i in 20..170 {
            assert!((s[i] - line[i]).abs() < 1e-9, "{i}: {} vs {}", s[i], line[i]);
        }
        // Points more than 3 widths away take no part: a far spike leaves a point alone.
        let mut spiky = vec![1.0; 190];
        spiky[150] = 1e6;
        let s = log_smooth(&lrs, &spiky, 0.1);
        assert_eq!(s[100], 1.0);
    }

    #[test]
    fn the_floor_is_where_the_curve_is_within_rise_of_its_drop() {
        // Peak 5 (at index 1), minimum 1 (index 5): rise 0.25 allows up to 2.
        let curve = [4.0, 5.0, 3.0, 2.0, 1.5, 1.0, 1.8, 2.5, 1.9, 6.0, 9.0];
        assert_eq!(floor(&curve, 0.25), (3, 8), "the last point back under the limit counts");
        assert_eq!(floor(&curve, 0.0), (5, 5));
        assert_eq!(floor(&curve, 1.0), (0, 8));
        // A curve that never falls: its floor is its first point.
        assert_eq!(floor(&[1.0, 2.0, 3.0], 0.4), (0, 0));
    }

    #[test]
    fn floor_rule_is_the_geometric_middle_of_the_floor_times_its_factor() {
        let lrs = ramp(300);
        // Falls from 3 to 1 between 1e-3 and 1e-2, flat to 1, rises steeply past 1.
        let losses: Vec<f64> = lrs
            .iter()
            .map(|lr| {
                let x = lr.log10();
                1.0 + 2.0 / (1.0 + (8.0 * (x + 2.5)).exp()) + (6.0 * x).exp()
            })
            .collect();
        let f = floor_rule(&lrs, &losses);
        let smoothed = log_smooth(&lrs, &losses, FLOOR_WIDTH);
        let (a, b) = floor(&smoothed, FLOOR_RISE);
        assert_eq!((f.start, f.end), (lrs[a], lrs[b]));
        assert!(((f.suggested / FLOOR_FACTOR) - (lrs[a] * lrs[b]).sqrt()).abs() < 1e-15);
        assert!(f.start > 1e-3 && f.start < 1e-2 && f.end > 0.05 && f.end < 1.0, "{f:?}");
    }

    /// A loss that is a function of log10(lr) alone, sampled by tests of 75 to 600 steps with
    /// noise: the floor rule's answer hardly moves, and lands where the noiseless curve's floor
    /// puts it. (The seed's EMA would lag by tens of steps: a different LR for each length.)
    #[test]
    fn the_floor_rule_does_not_depend_on_the_number_of_steps() {
        let loss = |lr: f64| {
            let x = lr.log10();
            0.5 + 2.0 / (1.0 + (4.0 * (x + 2.0)).exp()) + (5.0 * (x - 0.3)).exp()
        };
        let dense = ramp(20_000);
        let clean: Vec<f64> = dense.iter().map(|&lr| loss(lr)).collect();
        let truth = floor_rule(&dense, &clean).suggested;
        let mut answers = Vec::new();
        for (n, seed) in [(75, 1), (150, 2), (300, 3), (600, 4)] {
            let lrs = ramp(n);
            let losses: Vec<f64> = lrs.iter().zip(noise(seed, n)).map(|(&lr, e)| loss(lr) + 0.15 * e).collect();
            answers.push(floor_rule(&lrs, &losses).suggested);
        }
        let (lo, hi) = answers.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &a| (lo.min(a), hi.max(a)));
        assert!(hi / lo < 1.25, "{answers:?}");
        for a in &answers {
            assert!((a / truth).log10().abs() < 0.1, "{a} vs the noiseless {truth}");
        }
    }
}
