//! The analysis half of the LR range test (no libtorch here): smoothing of the loss, the stop
//! rule, and the LR suggestions drawn from the curve. The training loop lives elsewhere and feeds
//! one (lr, loss) pair per mini-batch into a [`RangeTracker`].
//!
//! Rules, as fastai and torch-lr-finder apply them:
//! - smoothing: bias-corrected EMA, `avg = beta*avg + (1-beta)*loss`, `smoothed = avg / (1 - beta^t)`;
//! - stop when the smoothed loss exceeds `diverge` × its minimum so far (that row is kept), or when
//!   the loss is not finite (that row is dropped);
//! - `suggested_lr` = LR at the lowest smoothed loss / 10 (the seed's rule), `max_lr` = that,
//!   `base_lr` = `max_lr` / 10; `steepest_lr` and `valley_lr` are diagnostics on a window that
//!   drops the first 10 % and the last [`SKIP_END`] points (fastai's `[num_it//10:-5]`).

use crate::error::UsageError;
use crate::records::LrFindRow;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Default EMA factor (fastai's `beta`).
pub const DEFAULT_SMOOTH: f64 = 0.98;
/// Default divergence factor (fastai's and torch-lr-finder's `4 * best_loss`).
pub const DEFAULT_DIVERGE: f64 = 4.0;
/// Fewer recorded points than this cannot give a suggestion: `analyse` fails.
pub const MIN_POINTS: usize = 5;
/// Points dropped at the end before `steepest`/`valley`: the last ones are the blow-up.
pub const SKIP_END: usize = 5;
/// The window for `steepest`/`valley` must keep at least this many points, else they are `None`.
const MIN_WINDOW: usize = 3;

/// How the range test smooths its loss and when it gives up.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct RangeTestSettings {
    /// EMA factor `beta` in [0, 1); 0 means no smoothing.
    pub smooth: f64,
    /// Stop when the smoothed loss exceeds this multiple of its minimum; > 1.
    pub diverge: f64,
}

impl Default for RangeTestSettings {
    fn default() -> Self {
        RangeTestSettings { smooth: DEFAULT_SMOOTH, diverge: DEFAULT_DIVERGE }
    }
}

impl RangeTestSettings {
    pub fn validate(&self) -> Result<(), UsageError> {
        // Written so that NaN fails both checks.
        if !(self.smooth >= 0.0 && self.smooth < 1.0) {
            return Err(UsageError::new(format!("--smooth (smooth) must be in [0, 1): {}", self.smooth)));
        }
        // Infinite would never stop and cannot be written to range_test.json.
        if !(self.diverge > 1.0 && self.diverge.is_finite()) {
            return Err(UsageError::new(format!(
                "--diverge (diverge) must be a finite number greater than 1: {}",
                self.diverge
            )));
        }
        Ok(())
    }
}

/// Why the range test ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All planned iterations ran.
    Completed,
    /// The smoothed loss exceeded `diverge` × its minimum.
    Diverged,
    /// The loss was NaN or infinite.
    NonFinite,
    /// Stopped by the user (Ctrl-C): the sweep is incomplete and its proposal not to be used.
    Interrupted,
}

impl StopReason {
    /// Words for the printed summary.
    pub fn describe(self, diverge: f64) -> String {
        match self {
            StopReason::Completed => "ran all iterations".into(),
            StopReason::Diverged => {
                format!("stopped early: smoothed loss > {diverge} x its minimum")
            }
            StopReason::NonFinite => "stopped early: the loss was not finite".into(),
            StopReason::Interrupted => "interrupted: the sweep is incomplete".into(),
        }
    }
}

/// The bias-corrected exponential moving average, shared by the tracker and [`smooth`] so that a
/// curve re-smoothed from a CSV matches the one the test logged.
#[derive(Clone, Debug)]
struct Ema {
    beta: f64,
    avg: f64,
    count: u64,
}

impl Ema {
    fn new(beta: f64) -> Self {
        Ema { beta, avg: 0.0, count: 0 }
    }

    fn update(&mut self, loss: f64) -> f64 {
        self.count += 1;
        self.avg = self.beta * self.avg + (1.0 - self.beta) * loss;
        // The first point is `loss` mathematically; returning it avoids the rounding of
        // `((1-beta)*loss)/(1-beta)`. (beta = 0 is exact anyway: avg = loss, 1 - 0^t = 1.)
        if self.count == 1 {
            return loss;
        }
        self.avg / (1.0 - self.beta.powf(self.count as f64))
    }
}

/// The bias-corrected EMA of `losses` with factor `beta` (0 returns the losses unchanged).
pub fn smooth(losses: &[f64], beta: f64) -> Vec<f64> {
    let mut ema = Ema::new(beta);
    losses.iter().map(|&l| ema.update(l)).collect()
}

/// Records the range test as it runs and decides when it must stop.
#[derive(Clone, Debug)]
pub struct RangeTracker {
    settings: RangeTestSettings,
    ema: Ema,
    best: f64,
    rows: Vec<LrFindRow>,
    stopped: Option<StopReason>,
}

impl RangeTracker {
    /// `settings` should have passed [`RangeTestSettings::validate`].
    pub fn new(settings: RangeTestSettings) -> Self {
        RangeTracker { settings, ema: Ema::new(settings.smooth), best: f64::INFINITY, rows: Vec::new(), stopped: None }
    }

    pub fn settings(&self) -> RangeTestSettings {
        self.settings
    }

    /// Record one mini-batch; returns `Some(reason)` when the test must stop now. A non-finite
    /// loss is not recorded (it stops the test with `NonFinite`); the diverging row is recorded.
    /// Once stopped, further pushes record nothing and return the same reason.
    pub fn push(&mut self, lr: f64, loss: f64) -> Option<StopReason> {
        if self.stopped.is_some() {
            return self.stopped;
        }
        if !loss.is_finite() {
            self.stopped = Some(StopReason::NonFinite);
            return self.stopped;
        }
        let smoothed = self.ema.update(loss);
        self.rows.push(LrFindRow { step: self.rows.len() as u64, lr, loss, smoothed_loss: smoothed });
        self.best = self.best.min(smoothed);
        if smoothed > self.settings.diverge * self.best {
            self.stopped = Some(StopReason::Diverged);
        }
        self.stopped
    }

    /// The recorded rows: `step` (0-based), `lr`, `loss`, `smoothed_loss`.
    pub fn rows(&self) -> &[LrFindRow] {
        &self.rows
    }

    /// Stop the test from outside (Ctrl-C); later pushes record nothing.
    pub fn interrupt(&mut self) {
        self.stopped.get_or_insert(StopReason::Interrupted);
    }

    /// `Completed` unless a push stopped the test.
    pub fn stop_reason(&self) -> StopReason {
        self.stopped.unwrap_or(StopReason::Completed)
    }

    /// The suggestions for the recorded curve; an error when too few points were recorded.
    pub fn analyse(&self) -> Result<Suggestion> {
        let lrs: Vec<f64> = self.rows.iter().map(|r| r.lr).collect();
        let losses: Vec<f64> = self.rows.iter().map(|r| r.loss).collect();
        let smoothed: Vec<f64> = self.rows.iter().map(|r| r.smoothed_loss).collect();
        suggest(&lrs, &losses, &smoothed)
    }
}

/// What the range test proposes. All rules read the smoothed loss.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// LR where the smoothed loss is lowest (over all recorded points).
    pub lr_at_min_loss: f64,
    /// That smoothed loss.
    pub min_loss: f64,
    /// The seed's rule: `lr_at_min_loss / 10`.
    pub suggested_lr: f64,
    /// Steepest fall of the smoothed loss against log10(lr) (a centred difference, as
    /// `np.gradient`) inside the window; `None` if the window is too short or never falls.
    pub steepest_lr: Option<f64>,
    /// fastai's `valley` inside the window; `None` if the window is too short or has no
    /// decreasing stretch of at least 3 points.
    pub valley_lr: Option<f64>,
    /// Proposed cyclical/one-cycle maximum: `suggested_lr`.
    pub max_lr: f64,
    /// Proposed cyclical/one-cycle base: `max_lr / 10`.
    pub base_lr: f64,
}

/// The suggestions for a curve given as arrays (from a tracker, or from `lr_find.csv`). The raw
/// `losses` only take part in the checks: every rule reads the smoothed loss.
pub fn suggest(lrs: &[f64], losses: &[f64], smoothed: &[f64]) -> Result<Suggestion> {
    let n = lrs.len();
    if losses.len() != n || smoothed.len() != n {
        bail!(
            "range test curve: {} lrs, {} losses and {} smoothed losses differ in length",
            n,
            losses.len(),
            smoothed.len()
        );
    }
    if n < MIN_POINTS {
        bail!(
            "the range test recorded {n} points; at least {MIN_POINTS} are needed to suggest an LR \
             (lower --start-lr or raise --iters)"
        );
    }
    for i in 0..n {
        if !(lrs[i].is_finite() && lrs[i] > 0.0) {
            bail!("range test curve: lr at step {i} is not a positive number: {}", lrs[i]);
        }
        if !(losses[i].is_finite() && smoothed[i].is_finite()) {
            bail!("range test curve: the loss at step {i} is not finite");
        }
        if i > 0 && lrs[i] <= lrs[i - 1] {
            bail!("range test curve: lr must increase at every step, but not at step {i}");
        }
    }
    // First index of the minimum, as numpy's argmin.
    let imin = (1..n).fold(0, |b, i| if smoothed[i] < smoothed[b] { i } else { b });
    let lr_at_min_loss = lrs[imin];
    let suggested_lr = lr_at_min_loss / 10.0;
    let (lo, hi) = window(n);
    let (steepest_lr, valley_lr) = if hi >= lo + MIN_WINDOW {
        let (l, s) = (&lrs[lo..hi], &smoothed[lo..hi]);
        (steepest(l, s).map(|i| l[i]), valley(s).map(|i| l[i]))
    } else {
        (None, None)
    };
    Ok(Suggestion {
        lr_at_min_loss,
        min_loss: smoothed[imin],
        suggested_lr,
        steepest_lr,
        valley_lr,
        max_lr: suggested_lr,
        base_lr: suggested_lr / 10.0,
    })
}

/// The `[lo, hi)` range of points that `steepest` and `valley` read: fastai drops the first
/// `num_it // 10` points (the flat start) and the last 5 (the blow-up). We take 10 % of the points
/// recorded, not planned, so that `clr plot` on `lr_find.csv` gives the same answer.
pub fn window(n: usize) -> (usize, usize) {
    (n / 10, n.saturating_sub(SKIP_END))
}

/// Index of the most negative d(loss)/d(log10 lr), or `None` when the loss never falls.
fn steepest(lrs: &[f64], losses: &[f64]) -> Option<usize> {
    let x: Vec<f64> = lrs.iter().map(|lr| lr.log10()).collect();
    let grad = gradient(losses, &x);
    let i = (1..grad.len()).fold(0, |b, i| if grad[i] < grad[b] { i } else { b });
    (grad[i] < 0.0).then_some(i)
}

/// `np.gradient(y, x)` (edge_order=1): second-order centred differences inside, valid for uneven
/// spacing (a linear-mode test is uneven in log10 lr), one-sided differences at both ends.
fn gradient(y: &[f64], x: &[f64]) -> Vec<f64> {
    let n = y.len();
    let mut g = vec![0.0; n];
    if n < 2 {
        return g;
    }
    g[0] = (y[1] - y[0]) / (x[1] - x[0]);
    g[n - 1] = (y[n - 1] - y[n - 2]) / (x[n - 1] - x[n - 2]);
    for i in 1..n - 1 {
        let (h0, h1) = (x[i] - x[i - 1], x[i + 1] - x[i]);
        g[i] = (h0 * h0 * y[i + 1] - h1 * h1 * y[i - 1] + (h1 * h1 - h0 * h0) * y[i]) / (h0 * h1 * (h0 + h1));
    }
    g
}

/// fastai 2.x `valley` (callback/schedule.py): the longest strictly decreasing subsequence of the
/// loss (O(n²), first one found), then the point `len/3 + len/6` past the point before its first
/// index: "2/3 of the way down" counted fastai's way. `None` below 3 points in that subsequence,
/// where fastai would return the first point, or (for 2) wrap to the last one via index -1.
fn valley(losses: &[f64]) -> Option<usize> {
    let n = losses.len();
    let mut lds = vec![1usize; n];
    let mut max_end = 0;
    for i in 1..n {
        for j in 0..i {
            if losses[i] < losses[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
        }
        // fastai tests this inside the j loop; lds[i] can pass the record only by reaching
        // record + 1, its final value, so testing once after the loop picks the same max_end.
        if lds[max_end] < lds[i] {
            max_end = i;
        }
    }
    let len = lds[max_end];
    if len < 3 {
        return None;
    }
    // max_start = max_end - len (one before the run); idx = max_start + int(len/3) + int(len/6),
    // summed in an order that cannot underflow (max_end >= len - 1 and len / 3 >= 1).
    Some(max_end + len / 3 + len / 6 - len)
}

/// What `range_test.json` holds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RangeTestReport {
    #[serde(flatten)]
    pub suggestion: Suggestion,
    /// True when the test stopped before its planned iterations.
    pub stopped_early: bool,
    pub stop_reason: StopReason,
    /// Rows recorded in `lr_find.csv`.
    pub steps: u64,
    pub start_lr: f64,
    pub end_lr: f64,
    /// `exp` or `linear`.
    pub mode: String,
    pub smooth: f64,
    pub diverge: f64,
    /// Planned iterations.
    pub iters: u64,
}

impl RangeTestReport {
    /// The report of a finished test; fails as [`RangeTracker::analyse`] does.
    pub fn new(tracker: &RangeTracker, start_lr: f64, end_lr: f64, mode: &str, iters: u64) -> Result<Self> {
        let stop_reason = tracker.stop_reason();
        Ok(RangeTestReport {
            suggestion: tracker.analyse()?,
            stopped_early: stop_reason != StopReason::Completed,
            stop_reason,
            steps: tracker.rows().len() as u64,
            start_lr,
            end_lr,
            mode: mode.to_string(),
            smooth: tracker.settings().smooth,
            diverge: tracker.settings().diverge,
            iters,
        })
    }

    /// The short printed summary: the suggestions and the rule behind each.
    pub fn summary_lines(&self) -> Vec<String> {
        let s = &self.suggestion;
        let opt = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.3e}"));
        let mut lines = vec![
            format!(
                "range test: {} of {} steps, lr {:.3e} -> {:.3e} ({}), {}",
                self.steps,
                self.iters,
                self.start_lr,
                self.end_lr,
                self.mode,
                self.stop_reason.describe(self.diverge)
            ),
            format!("lowest smoothed loss {:.4} at lr {:.3e}", s.min_loss, s.lr_at_min_loss),
            format!("suggested lr {:.3e}  (lr at the lowest loss / 10)", s.suggested_lr),
            format!("max_lr {:.3e}, base_lr {:.3e}  (max = suggested lr, base = max / 10)", s.max_lr, s.base_lr),
            format!("steepest lr {}  (steepest fall of the smoothed loss vs log10 lr)", opt(s.steepest_lr)),
            format!("valley lr {}  (fastai's valley: 2/3 down the longest decreasing stretch)", opt(s.valley_lr)),
        ];
        if s.lr_at_min_loss <= self.start_lr {
            lines.push("warning: the loss is lowest at the first step; try a lower --start-lr".into());
        } else if self.stop_reason == StopReason::Completed {
            // Without a blow-up the true minimum may lie beyond the tested range.
            lines.push(format!(
                "note: the smoothed loss never exceeded {} x its minimum; a higher --end-lr shows more",
                self.diverge
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXACT: f64 = 1e-12;

    fn settings(smooth: f64, diverge: f64) -> RangeTestSettings {
        RangeTestSettings { smooth, diverge }
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

    /// A seeded LCG (Knuth's MMIX constants): uniform numbers in [-1, 1).
    fn lcg_noise(seed: u64, n: usize) -> Vec<f64> {
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
        let s = suggest(&lrs, &losses, &losses).unwrap();
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
        assert_eq!(t.analyse().unwrap().lr_at_min_loss, lrs[40]);
    }

    #[test]
    fn steepest_point_of_a_logistic_drop() {
        let lrs = exp_lrs(100);
        // The drop is centred at lr = 0.1 (step 60), symmetric in log10(lr).
        let losses: Vec<f64> = lrs.iter().map(|lr| 1.0 + 1.0 / (1.0 + (6.0 * (lr.log10() + 1.0)).exp())).collect();
        let s = suggest(&lrs, &losses, &losses).unwrap();
        assert_eq!(s.steepest_lr, Some(lrs[60]));
        assert!(rel_close(s.steepest_lr.unwrap(), 0.1));
    }

    #[test]
    fn steepest_is_none_when_the_loss_never_falls() {
        let lrs = exp_lrs(50);
        let losses: Vec<f64> = (0..50).map(|i| 1.0 + i as f64).collect();
        assert_eq!(suggest(&lrs, &losses, &losses).unwrap().steepest_lr, None);
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
        let s = suggest(&lrs, &losses, &losses).unwrap();
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
        let at_min_clean = suggest(&lrs, &clean, &sc).unwrap().lr_at_min_loss;
        let at_min_noisy = suggest(&lrs, &noisy, &sn).unwrap().lr_at_min_loss;
        // Within 0.1 decade of the noiseless smoothed curve (the EMA lag is common to both).
        assert!((at_min_noisy / at_min_clean).log10().abs() < 0.1, "{at_min_noisy} vs {at_min_clean}");
    }

    #[test]
    fn non_finite_loss_stops_without_a_row() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut t = RangeTracker::new(RangeTestSettings::default());
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
        let mut t = RangeTracker::new(RangeTestSettings::default());
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
        let mut t = RangeTracker::new(RangeTestSettings::default());
        for i in 0..4 {
            t.push(1e-3 * (i + 1) as f64, 2.0);
        }
        let msg = t.analyse().unwrap_err().to_string();
        assert!(msg.contains("4 points") && msg.contains("at least 5"), "{msg}");
        t.push(5e-3, 1.0);
        let s = t.analyse().unwrap();
        assert_eq!((s.steepest_lr, s.valley_lr), (None, None), "window empty at 5 points");
        assert!(suggest(&[], &[], &[]).is_err());

        let lrs = [1e-3, 2e-3, 3e-3, 4e-3, 5e-3];
        let l = [1.0; 5];
        assert!(suggest(&lrs, &l[..4], &l).is_err());
        let msg = suggest(&[1e-3, 2e-3, 2e-3, 4e-3, 5e-3], &l, &l).unwrap_err().to_string();
        assert!(msg.contains("step 2"), "{msg}");
        assert!(suggest(&[0.0, 2e-3, 3e-3, 4e-3, 5e-3], &l, &l).is_err());
        let mut bad = l;
        bad[3] = f64::NAN;
        assert!(suggest(&lrs, &l, &bad).is_err());
    }

    #[test]
    fn settings_validation_names_the_flag() {
        assert!(RangeTestSettings::default().validate().is_ok());
        assert!(settings(0.0, 1.5).validate().is_ok());
        let msg = |s: RangeTestSettings| s.validate().unwrap_err().to_string();
        assert_eq!(msg(settings(1.5, 4.0)), "--smooth (smooth) must be in [0, 1): 1.5");
        assert_eq!(msg(settings(1.0, 4.0)), "--smooth (smooth) must be in [0, 1): 1");
        assert!(msg(settings(-0.1, 4.0)).starts_with("--smooth (smooth)"));
        assert!(msg(settings(f64::NAN, 4.0)).starts_with("--smooth (smooth)"));
        assert_eq!(msg(settings(0.98, 1.0)), "--diverge (diverge) must be a finite number greater than 1: 1");
        assert!(msg(settings(0.98, f64::INFINITY)).starts_with("--diverge (diverge)"));
        assert!(msg(settings(0.98, f64::NAN)).starts_with("--diverge (diverge)"));
    }

    #[test]
    fn report_json_has_the_spec_fields() {
        let lrs = exp_lrs(100);
        let mut t = RangeTracker::new(RangeTestSettings::default());
        for &lr in &lrs {
            // A bowl at 0.01 and a blow-up past 0.1.
            let loss = 1.0 + (lr.log10() + 2.0).powi(2) + (lr * 10.0).powi(2);
            if t.push(lr, loss).is_some() {
                break;
            }
        }
        let report = RangeTestReport::new(&t, 1e-4, 10.0, "exp", 100).unwrap();
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
        let mut t = RangeTracker::new(RangeTestSettings::default());
        for i in 0..20 {
            assert_eq!(t.push(1e-3 * (i + 1) as f64, 3.0 - 0.1 * i as f64), None);
        }
        let report = RangeTestReport::new(&t, 1e-3, 2e-2, "linear", 20).unwrap();
        assert_eq!(report.stop_reason, StopReason::Completed);
        assert!(!report.stopped_early);
        assert!(report.summary_lines().iter().any(|l| l.contains("never exceeded")));
    }
}
