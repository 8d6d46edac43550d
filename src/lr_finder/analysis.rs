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

use super::rules::{self, Rule};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Fewer recorded points than this cannot give a suggestion: `analyse` fails.
pub const MIN_POINTS: usize = 5;
/// Points dropped at the end before `steepest`/`valley`: the last ones are the blow-up.
pub const SKIP_END: usize = 5;
/// The window for `steepest`/`valley` must keep at least this many points, else they are `None`.
const MIN_WINDOW: usize = 3;
/// Below this many steps per decade of LR a test's suggestion is unsteady: in the regret
/// measurements (BENCHMARKS.md) the floor rule's LR moved up to 10x between tests of 15 steps
/// per decade and the same tests at 30 or more; the summary says so.
pub const STEADY_STEPS_PER_DECADE: f64 = 30.0;

/// The steps an exponential test from `start_lr` to `end_lr` needs to be steady:
/// [`STEADY_STEPS_PER_DECADE`] per decade, rounded up.
pub fn steady_iters(start_lr: f64, end_lr: f64) -> u64 {
    // The rounding keeps 30 x 5.000000000000001 decades at 150.
    let decades = ((end_lr / start_lr).log10() * 1e9).round() / 1e9;
    (STEADY_STEPS_PER_DECADE * decades).ceil() as u64
}

/// A test's steps when `--iters` is not given: `epochs` of data, and for an exponential ramp at
/// least [`steady_iters`], so that the default test is never one whose pick is unsteady (a small
/// set's 3 epochs can be 72 steps over 5 decades). A linear ramp spends its steps on the highest
/// LRs, where steps per decade say little: it keeps the epochs.
pub fn default_iters(steps_per_epoch: u64, epochs: u64, start_lr: f64, end_lr: f64, exponential: bool) -> u64 {
    let of_data = epochs.saturating_mul(steps_per_epoch);
    if exponential {
        of_data.max(steady_iters(start_lr, end_lr))
    } else {
        of_data
    }
}

/// How the range test smooths its loss and when it gives up (checked by the config).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct TrackerSettings {
    /// EMA factor `beta` in [0, 1); 0 means no smoothing.
    pub smooth: f64,
    /// Stop when the smoothed loss exceeds this multiple of its minimum; > 1.
    pub diverge: f64,
}

/// One recorded mini-batch of the range test: a row of `lr_find.csv`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LrFindRow {
    pub step: u64,
    pub lr: f64,
    pub loss: f64,
    pub smoothed_loss: f64,
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
    /// Stopped by the user (Ctrl-C): the LR never reached --end-lr, and the proposal is not to be used.
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
            StopReason::Interrupted => "interrupted before --end-lr: its proposal is not to be used".into(),
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
    settings: TrackerSettings,
    ema: Ema,
    best: f64,
    rows: Vec<LrFindRow>,
    stopped: Option<StopReason>,
}

impl RangeTracker {
    /// `settings` come from a validated config (smooth in [0, 1), diverge > 1).
    pub fn new(settings: TrackerSettings) -> Self {
        RangeTracker { settings, ema: Ema::new(settings.smooth), best: f64::INFINITY, rows: Vec::new(), stopped: None }
    }

    pub fn settings(&self) -> TrackerSettings {
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

    /// The suggestions for the recorded curve, `rule` making `suggested_lr`; an error when too
    /// few points were recorded.
    pub fn analyse(&self, rule: Rule) -> Result<Suggestion> {
        let lrs: Vec<f64> = self.rows.iter().map(|r| r.lr).collect();
        let losses: Vec<f64> = self.rows.iter().map(|r| r.loss).collect();
        let smoothed: Vec<f64> = self.rows.iter().map(|r| r.smoothed_loss).collect();
        suggest(&lrs, &losses, &smoothed, rule)
    }
}

/// What the range test proposes: every rule's LR, and the one `rule` makes `suggested_lr`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// LR where the EMA-smoothed loss is lowest (over all recorded points).
    pub lr_at_min_loss: f64,
    /// That smoothed loss.
    pub min_loss: f64,
    /// The rule that made `suggested_lr` (a report written before rules were named: `seed`).
    #[serde(default = "Rule::legacy")]
    pub rule: Rule,
    /// The rule's LR.
    pub suggested_lr: f64,
    /// The seed's rule: `lr_at_min_loss / 10`.
    #[serde(default)]
    pub seed_lr: Option<f64>,
    /// The `floor` rule's LR: the middle of the floor in log LR times its factor (`rules.rs`).
    #[serde(default)]
    pub floor_lr: Option<f64>,
    /// The first and the last LR on the floor of the loss smoothed over log10(lr).
    #[serde(default)]
    pub floor_start_lr: Option<f64>,
    #[serde(default)]
    pub floor_end_lr: Option<f64>,
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

impl Suggestion {
    /// The LR `rule` gives on this curve; None when it gives none (`steepest` and `valley` on a
    /// curve too short for their window; `floor` in a report written before it existed).
    pub fn lr_of(&self, rule: Rule) -> Option<f64> {
        match rule {
            Rule::Floor => self.floor_lr,
            Rule::Seed => Some(self.seed_lr.unwrap_or(self.lr_at_min_loss / 10.0)),
            Rule::Steepest => self.steepest_lr,
            Rule::Valley => self.valley_lr,
        }
    }
}

/// The suggestions for a curve given as arrays (from a tracker, or from `lr_find.csv`): `floor`
/// reads the raw `losses` (it smooths them over log10 lr itself), the others the EMA-`smoothed`
/// ones. `rule` makes `suggested_lr`; where it gives no LR (`steepest` or `valley` without a
/// window), `floor` does, and `rule` says so.
pub fn suggest(lrs: &[f64], losses: &[f64], smoothed: &[f64], rule: Rule) -> Result<Suggestion> {
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
    let floor = rules::floor_rule(lrs, losses);
    let (lo, hi) = window(n);
    let (steepest_lr, valley_lr) = if hi >= lo + MIN_WINDOW {
        let (l, s) = (&lrs[lo..hi], &smoothed[lo..hi]);
        (steepest(l, s).map(|i| l[i]), valley(s).map(|i| l[i]))
    } else {
        (None, None)
    };
    let mut s = Suggestion {
        lr_at_min_loss,
        min_loss: smoothed[imin],
        rule,
        suggested_lr: f64::NAN,
        seed_lr: Some(lr_at_min_loss / 10.0),
        floor_lr: Some(floor.suggested),
        floor_start_lr: Some(floor.start),
        floor_end_lr: Some(floor.end),
        steepest_lr,
        valley_lr,
        max_lr: f64::NAN,
        base_lr: f64::NAN,
    };
    let (rule, lr) = match s.lr_of(rule) {
        Some(lr) => (rule, lr),
        None => (Rule::Floor, floor.suggested),
    };
    (s.rule, s.suggested_lr, s.max_lr, s.base_lr) = (rule, lr, lr, lr / 10.0);
    Ok(s)
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
    /// `--repeats N`: the seeds' tests this report combines (each in its `seed=S` sub-folder);
    /// `steps` and `iters` are then totals over them. Absent for a single test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<super::repeats::Repeats>,
}

impl RangeTestReport {
    /// The report of a finished test, `rule` making its suggestion; fails as
    /// [`RangeTracker::analyse`] does.
    pub fn new(tracker: &RangeTracker, rule: Rule, start_lr: f64, end_lr: f64, mode: &str, iters: u64) -> Result<Self> {
        let stop_reason = tracker.stop_reason();
        Ok(RangeTestReport {
            suggestion: tracker.analyse(rule)?,
            stopped_early: stop_reason != StopReason::Completed,
            stop_reason,
            steps: tracker.rows().len() as u64,
            start_lr,
            end_lr,
            mode: mode.to_string(),
            smooth: tracker.settings().smooth,
            diverge: tracker.settings().diverge,
            iters,
            repeats: None,
        })
    }

    /// The short printed summary: the suggestions and the rule behind each.
    pub fn summary_lines(&self) -> Vec<String> {
        let s = &self.suggestion;
        let opt = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.3e}"));
        let tests = match &self.repeats {
            Some(r) => format!("range tests at {} seeds: {} of {} steps in all", r.seeds.len(), self.steps, self.iters),
            None => format!("range test: {} of {} steps", self.steps, self.iters),
        };
        let mut lines = vec![
            format!(
                "{tests}, lr {:.3e} -> {:.3e} ({}), {}",
                self.start_lr,
                self.end_lr,
                self.mode,
                self.stop_reason.describe(self.diverge)
            ),
            format!("lowest smoothed loss {:.4} at lr {:.3e}", s.min_loss, s.lr_at_min_loss),
            format!("suggested lr {:.3e}  (rule {}: {})", s.suggested_lr, s.rule, s.rule.explain()),
            format!("max_lr {:.3e}, base_lr {:.3e}  (max = suggested lr, base = max / 10)", s.max_lr, s.base_lr),
        ];
        if let (Some(a), Some(b)) = (s.floor_start_lr, s.floor_end_lr) {
            lines.push(format!("floor of the loss from lr {a:.3e} to {b:.3e}"));
        }
        if let Some(r) = &self.repeats {
            lines.extend(r.summary_lines(s.rule));
        }
        let others = Rule::ALL.iter().filter(|r| **r != s.rule);
        lines.push(format!(
            "other rules: {}",
            others.map(|r| format!("{r} {}", opt(s.lr_of(*r)))).collect::<Vec<_>>().join(", ")
        ));
        // Measured on exponential ramps; a linear one spends few of its steps on the low decades.
        let decades = (self.end_lr / self.start_lr).log10();
        let steady = steady_iters(self.start_lr, self.end_lr);
        let iters = self.iters / self.repeats.as_ref().map_or(1, |r| r.seeds.len().max(1) as u64);
        if self.mode == super::RampMode::Exp.name() && iters < steady {
            lines.push(format!(
                "note: {:.0} steps per decade of LR, below the {STEADY_STEPS_PER_DECADE} at which suggestions hold \
                 steady between tests: --iters {steady} or more for a steadier pick",
                iters as f64 / decades
            ));
        }
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
#[path = "analysis_tests.rs"]
pub(super) mod tests;
