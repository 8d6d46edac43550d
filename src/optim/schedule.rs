//! Learning-rate and momentum schedules: one-cycle, the cyclical policies (triangular,
//! triangular2, exp-range), fixed and step. Pure: no libtorch, no files.
//!
//! Every value is a pure function of the global 0-based mini-batch index, so a resumed run
//! continues exactly where it stopped. The cyclical formulas are PyTorch's `CyclicLR`; one-cycle
//! is `OneCycleLR(three_phase=True)` except that by default clr's phases end exactly on the epoch
//! boundaries (the LR is `max_lr` at step `UP * steps_per_epoch`, the seed's convention), where
//! PyTorch ends them one or two steps earlier: the two differ by at most two steps of a phase's
//! steepest slope, `2 (max_lr - base_lr) / (UP * steps_per_epoch)` for linear annealing (π/2 times
//! that for cos): 0.05 % of max_lr on the reference run, 2 % with 24 steps per epoch and 3.5-epoch
//! phases. `PhaseEnds::Pytorch` ends them where
//! PyTorch does. Both are tested against fixtures from PyTorch in tests/fixtures/schedules.

use crate::error::UsageError;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// How the LR moves during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    OneCycle,
    Triangular,
    Triangular2,
    ExpRange,
    Fixed,
    Step,
}
crate::named_enum!(Policy, "policy", OneCycle => "one-cycle", Triangular => "triangular",
    Triangular2 => "triangular2", ExpRange => "exp-range", Fixed => "fixed", Step => "step");

impl Policy {
    /// The policies that climb to `max_lr` (and so need `base_lr < max_lr`).
    pub fn uses_max_lr(self) -> bool {
        !matches!(self, Policy::Fixed | Policy::Step)
    }

    /// The policies whose LR cycles with `step_size`.
    pub fn is_cyclical(self) -> bool {
        matches!(self, Policy::Triangular | Policy::Triangular2 | Policy::ExpRange)
    }
}

/// Where one-cycle's phases end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PhaseEnds {
    /// On epoch boundaries: max_lr at step UP × steps per epoch (the seed's 41/41/13 epochs).
    #[default]
    Epoch,
    /// Where `OneCycleLR(three_phase=True)` ends them: steps UP·spe − 1, (UP+DOWN)·spe − 2 and
    /// total − 1 (needs UP = DOWN and a tail).
    Pytorch,
}
crate::named_enum!(PhaseEnds, "phase ends", Epoch => "epoch", Pytorch => "pytorch");

/// One-cycle interpolation within a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anneal {
    Linear,
    Cos,
}
crate::named_enum!(Anneal, "anneal strategy", Linear => "linear", Cos => "cos");

impl Anneal {
    /// From `start` to `end` as `pct` goes 0 → 1; PyTorch's `_annealing_linear`/`_annealing_cos`
    /// term for term, so that the values agree to the last bit where the phases agree.
    pub fn interpolate(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Anneal::Linear => (end - start) * pct + start,
            Anneal::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
        }
    }
}

/// Everything that defines a schedule. Fields a policy does not use are neither checked nor used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    pub policy: Policy,
    pub base_lr: f64,
    /// `None` while not yet known (`--max-lr auto` or a file still to read): the checks that
    /// need it wait, and [`Schedule::new`] refuses a policy that uses it.
    pub max_lr: Option<f64>,
    /// One-cycle: the LR at the end of the tail; `None` means `base_lr / 10` (0.08 → 0.008).
    pub final_lr: Option<f64>,
    /// One-cycle UP, DOWN, TAIL in epochs (fractions allowed); TAIL 0 gives the two-phase shape.
    pub phases: [f64; 3],
    /// Cyclical policies: half a cycle, in epochs; `step_size * steps_per_epoch` steps, which
    /// need not be whole (PyTorch's CyclicLR also takes its step size as a float).
    pub step_size: f64,
    /// exp-range: factor per step (`None`: 0.99994, the CLR paper's); step: factor at each
    /// milestone (`None`: 0.1).
    pub gamma: Option<f64>,
    /// Step policy: epochs at which the LR is multiplied by gamma; `None`: 50 % and 75 % of
    /// `epochs`. Milestone `m` is reached at step `round(m * steps_per_epoch)`.
    pub milestones: Option<Vec<f64>>,
    pub anneal: Anneal,
    /// The momentum when `cycle_momentum` is `None`.
    pub momentum: f64,
    /// (high, low): momentum moves against the LR, high where the LR is at its base.
    pub cycle_momentum: Option<(f64, f64)>,
    pub epochs: f64,
    /// One-cycle: where the phases end.
    #[serde(default)]
    pub phase_ends: PhaseEnds,
}

/// The longest schedule clr runs or writes, in steps: 10^12 (30 years at a millisecond a step).
/// Lengths are worked out in floating point from epochs; a user's `1e300` must be refused here,
/// not saturated into `u64::MAX` steps and run (or written) for ever.
pub const MAX_STEPS: u64 = 1_000_000_000_000;

/// A usage error unless `steps` (a length worked out from the user's numbers) is within
/// [`MAX_STEPS`]; `what` names the flag, the field and the numbers it came from.
pub fn check_steps(steps: f64, what: impl FnOnce() -> String) -> Result<(), UsageError> {
    if steps > MAX_STEPS as f64 {
        crate::usage!("{} makes {} steps, more than clr's limit of {MAX_STEPS:.0e}", what(), short(steps));
    }
    Ok(())
}

/// The exp-range gamma of the CLR paper (Smith 2015).
pub const DEFAULT_EXP_RANGE_GAMMA: f64 = 0.99994;
/// The step policy's factor at each milestone.
pub const DEFAULT_STEP_GAMMA: f64 = 0.1;

/// One one-cycle phase: from `start` to `end` (steps, fractional) LR and momentum move between
/// the given pairs.
#[derive(Debug, Clone, Copy)]
struct Phase {
    start: f64,
    end: f64,
    lr: (f64, f64),
    momentum: (f64, f64),
}

/// Policy-specific values worked out once by [`Schedule::new`].
#[derive(Debug, Clone)]
enum Shape {
    OneCycle { phases: Vec<Phase>, final_lr: f64, final_momentum: f64 },
    Cyclical { max_lr: f64, step_size_steps: f64, gamma: f64 },
    Fixed,
    Step { milestone_steps: Vec<u64>, gamma: f64 },
}

/// A validated schedule: the LR and momentum of every step.
#[derive(Debug, Clone)]
pub struct Schedule {
    cfg: ScheduleConfig,
    steps_per_epoch: u64,
    total_steps: u64,
    shape: Shape,
}

/// One step of a schedule: what `clr schedule` prints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SchedulePoint {
    pub step: u64,
    pub epoch: u64,
    pub lr: f64,
    pub momentum: f64,
}

/// `a,b,c` as the flags take lists.
pub fn list(values: &[f64]) -> String {
    values.iter().map(|&v| short(v)).collect::<Vec<_>>().join(",")
}

/// A number as a user writes it: the shorter of plain and scientific notation (`41`, `0.1`,
/// `1e300`, not three hundred digits).
pub fn short(v: f64) -> String {
    let (plain, sci) = (format!("{v}"), format!("{v:e}"));
    if sci.len() < plain.len() {
        sci
    } else {
        plain
    }
}

fn positive_finite(value: f64, flag: &str, field: &str) -> Result<(), UsageError> {
    if !(value.is_finite() && value > 0.0) {
        crate::usage!("{flag} ({field}) must be a positive finite number: {value}");
    }
    Ok(())
}

fn unit_interval(value: f64) -> bool {
    (0.0..1.0).contains(&value)
}

impl ScheduleConfig {
    /// The one-cycle final LR, default applied.
    pub fn final_lr_or_default(&self) -> f64 {
        self.final_lr.unwrap_or(self.base_lr / 10.0)
    }

    /// The gamma the policy uses, default applied.
    pub fn gamma_or_default(&self) -> f64 {
        match (self.gamma, self.policy) {
            (Some(g), _) => g,
            (None, Policy::Step) => DEFAULT_STEP_GAMMA,
            (None, _) => DEFAULT_EXP_RANGE_GAMMA,
        }
    }

    /// The step-policy milestones in epochs, default applied.
    pub fn milestones_or_default(&self) -> Vec<f64> {
        self.milestones.clone().unwrap_or_else(|| vec![0.5 * self.epochs, 0.75 * self.epochs])
    }

    /// Check every field the policy uses; the error names the flag and the config field.
    pub fn validate(&self) -> Result<(), UsageError> {
        if !(self.epochs.is_finite() && self.epochs > 0.0) {
            crate::usage!("--epochs (epochs) must be a positive finite number: {}", self.epochs);
        }
        // At least one step per epoch: refused here, before any data is loaded.
        check_steps(self.epochs, || format!("--epochs (epochs) {} (at one step per epoch)", short(self.epochs)))?;
        positive_finite(self.base_lr, "--base-lr", "base_lr")?;
        if let (Some(max_lr), true) = (self.max_lr, self.policy.uses_max_lr()) {
            positive_finite(max_lr, "--max-lr", "max_lr")?;
            if self.base_lr >= max_lr {
                crate::usage!("--base-lr (base_lr) must be below --max-lr (max_lr): {} >= {max_lr}", self.base_lr);
            }
        }
        if !unit_interval(self.momentum) {
            crate::usage!("--momentum (momentum) must be in [0, 1): {}", self.momentum);
        }
        if let (Some((high, low)), true) = (self.cycle_momentum, self.policy.uses_max_lr()) {
            if !(unit_interval(high) && unit_interval(low)) {
                crate::usage!("--cycle-momentum (cycle_momentum) values must be in [0, 1): {high},{low}");
            }
            if high < low {
                crate::usage!("--cycle-momentum (cycle_momentum) HIGH must be at least LOW: {high} < {low}");
            }
        }
        match self.policy {
            Policy::OneCycle => self.validate_one_cycle(),
            Policy::Triangular | Policy::Triangular2 | Policy::ExpRange => {
                if !(self.step_size.is_finite() && self.step_size > 0.0) {
                    crate::usage!("--step-size (step_size) must be a positive number of epochs: {}", self.step_size);
                }
                self.validate_gamma()
            }
            Policy::Fixed => Ok(()),
            Policy::Step => {
                self.validate_gamma()?;
                self.validate_milestones()
            }
        }
    }

    fn validate_one_cycle(&self) -> Result<(), UsageError> {
        let final_lr = self.final_lr_or_default();
        positive_finite(final_lr, "--final-lr", "final_lr")?;
        if final_lr > self.base_lr {
            crate::usage!("--final-lr (final_lr) must not exceed --base-lr (base_lr): {final_lr} > {}", self.base_lr);
        }
        let p = &self.phases;
        if p.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            crate::usage!("--phases (phases) must be non-negative finite epochs: {}", list(p));
        }
        let sum: f64 = p.iter().sum();
        if sum == 0.0 {
            crate::usage!("--phases (phases) must not all be zero");
        }
        // A relative slack so that fractions such as 0.1,0.2,0.3 over 0.6 epochs still fit.
        if sum > self.epochs * (1.0 + 1e-9) {
            crate::usage!("--phases (phases) add up to {sum} epochs, more than --epochs (epochs) {}", self.epochs);
        }
        if self.phase_ends == PhaseEnds::Pytorch && (p[0] != p[1] || p[2] == 0.0) {
            crate::usage!(
                "--phase-ends pytorch (phase_ends) follows OneCycleLR(three_phase=True): it needs UP = DOWN and a \
                 TAIL, got --phases {}",
                list(p)
            );
        }
        Ok(())
    }

    fn validate_gamma(&self) -> Result<(), UsageError> {
        let gamma = self.gamma_or_default();
        if !(gamma > 0.0 && gamma <= 1.0) {
            crate::usage!("--gamma (gamma) must be in (0, 1]: {gamma}");
        }
        Ok(())
    }

    fn validate_milestones(&self) -> Result<(), UsageError> {
        let ms = self.milestones_or_default();
        if ms.iter().any(|m| !(m.is_finite() && *m > 0.0 && *m < self.epochs)) {
            crate::usage!("--milestones (milestones) must lie inside (0, {}) epochs: {}", self.epochs, list(&ms));
        }
        if ms.windows(2).any(|w| w[0] >= w[1]) {
            crate::usage!("--milestones (milestones) must be strictly increasing: {}", list(&ms));
        }
        Ok(())
    }
}

impl Schedule {
    /// Validate `cfg` and work out the policy's step boundaries for `steps_per_epoch` steps.
    pub fn new(cfg: ScheduleConfig, steps_per_epoch: u64) -> Result<Schedule, UsageError> {
        cfg.validate()?;
        if steps_per_epoch == 0 {
            crate::usage!("--steps-per-epoch (steps_per_epoch) must be at least 1");
        }
        let spe = steps_per_epoch as f64;
        check_steps(cfg.epochs * spe, || {
            format!("--epochs (epochs) {} of {steps_per_epoch} steps (--steps-per-epoch)", short(cfg.epochs))
        })?;
        if cfg.policy.is_cyclical() {
            check_steps(cfg.step_size * spe, || {
                format!(
                    "--step-size (step_size) {} of {steps_per_epoch} steps (--steps-per-epoch)",
                    short(cfg.step_size)
                )
            })?;
        }
        if (cfg.epochs * spe).round() < 1.0 {
            crate::usage!("--epochs (epochs) gives no steps: {} epochs of {steps_per_epoch} steps", cfg.epochs);
        }
        let total_steps = (cfg.epochs * spe).round() as u64;
        let max_lr = || match cfg.max_lr {
            Some(v) => Ok(v),
            None => Err(UsageError::new(format!("--max-lr (max_lr) must be a number for the {} policy", cfg.policy))),
        };
        let shape = match cfg.policy {
            Policy::OneCycle => one_cycle_shape(&cfg, max_lr()?, spe),
            Policy::Triangular | Policy::Triangular2 | Policy::ExpRange => Shape::Cyclical {
                max_lr: max_lr()?,
                step_size_steps: cfg.step_size * spe,
                gamma: cfg.gamma_or_default(),
            },
            Policy::Fixed => Shape::Fixed,
            Policy::Step => Shape::Step {
                milestone_steps: cfg.milestones_or_default().iter().map(|m| (m * spe).round() as u64).collect(),
                gamma: cfg.gamma_or_default(),
            },
        };
        Ok(Schedule { cfg, steps_per_epoch, total_steps, shape })
    }

    pub fn steps_per_epoch(&self) -> u64 {
        self.steps_per_epoch
    }

    /// `round(epochs * steps_per_epoch)`.
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// The 0-based epoch that `step` belongs to.
    pub fn epoch_of(&self, step: u64) -> u64 {
        step / self.steps_per_epoch
    }

    /// The LR used for mini-batch `step` (global, 0-based). Defined past `total_steps` too.
    pub fn lr(&self, step: u64) -> f64 {
        self.lr_and_momentum(step).0
    }

    /// The momentum used for mini-batch `step`.
    pub fn momentum(&self, step: u64) -> f64 {
        self.lr_and_momentum(step).1
    }

    /// Both values of `step`; the momentum is the configured constant unless it cycles.
    pub fn lr_and_momentum(&self, step: u64) -> (f64, f64) {
        let cfg = &self.cfg;
        let t = step as f64;
        match &self.shape {
            Shape::OneCycle { phases, final_lr, final_momentum } => {
                // Phases of zero length are skipped: their end value is the next one's start.
                match phases.iter().find(|p| t <= p.end && p.end > p.start) {
                    Some(p) => {
                        let pct = (t - p.start) / (p.end - p.start);
                        (
                            cfg.anneal.interpolate(p.lr.0, p.lr.1, pct),
                            cfg.anneal.interpolate(p.momentum.0, p.momentum.1, pct),
                        )
                    }
                    None => (*final_lr, *final_momentum),
                }
            }
            Shape::Cyclical { max_lr, step_size_steps, gamma } => {
                // CyclicLR.get_lr with step_size_down = step_size_up (step_ratio 0.5), written
                // as PyTorch writes it; it equals the paper's max(0, 1 - |t/s - 2 cycle + 1|).
                let total_size = 2.0 * step_size_steps;
                let cycle = (1.0 + t / total_size).floor();
                let x = 1.0 + t / total_size - cycle;
                let scale_factor = if x <= 0.5 { x / 0.5 } else { (x - 1.0) / (0.5 - 1.0) };
                let scale = match cfg.policy {
                    Policy::Triangular2 => 1.0 / 2f64.powf(cycle - 1.0),
                    Policy::ExpRange => gamma.powf(t),
                    _ => 1.0,
                };
                let lr = cfg.base_lr + (max_lr - cfg.base_lr) * scale_factor * scale;
                let momentum = match cfg.cycle_momentum {
                    Some((high, low)) => high - (high - low) * scale_factor * scale,
                    None => cfg.momentum,
                };
                (lr, momentum)
            }
            Shape::Fixed => (cfg.base_lr, cfg.momentum),
            Shape::Step { milestone_steps, gamma } => {
                let reached = milestone_steps.iter().filter(|&&m| step >= m).count();
                (cfg.base_lr * gamma.powi(reached as i32), cfg.momentum)
            }
        }
    }

    /// Every step of training, in order, for `clr schedule`.
    pub fn points(&self) -> impl Iterator<Item = SchedulePoint> + '_ {
        (0..self.total_steps).map(move |step| {
            let (lr, momentum) = self.lr_and_momentum(step);
            SchedulePoint { step, epoch: self.epoch_of(step), lr, momentum }
        })
    }
}

/// base → max over UP, max → base over DOWN, base → final over TAIL, all on exact epoch
/// boundaries; momentum high → low → high, then high (OneCycleLR with three_phase=True).
fn one_cycle_shape(cfg: &ScheduleConfig, max: f64, spe: f64) -> Shape {
    let [up, down, tail] = cfg.phases;
    let (b1, b2, b3) = match cfg.phase_ends {
        PhaseEnds::Epoch => (up * spe, (up + down) * spe, (up + down + tail) * spe),
        // OneCycleLR: float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2,
        // total_steps - 1.
        PhaseEnds::Pytorch => (up * spe - 1.0, (up + down) * spe - 2.0, ((up + down + tail) * spe).round() - 1.0),
    };
    let (high, low) = cfg.cycle_momentum.unwrap_or((cfg.momentum, cfg.momentum));
    let (base, final_lr) = (cfg.base_lr, cfg.final_lr_or_default());
    let phases = vec![
        Phase { start: 0.0, end: b1, lr: (base, max), momentum: (high, low) },
        Phase { start: b1, end: b2, lr: (max, base), momentum: (low, high) },
        Phase { start: b2, end: b3, lr: (base, final_lr), momentum: (high, high) },
    ];
    Shape::OneCycle { phases, final_lr, final_momentum: high }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
