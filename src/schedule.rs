//! Learning-rate and momentum schedules: one-cycle, the cyclical policies (triangular,
//! triangular2, exp-range), fixed and step, plus the range-test sweep.
//!
//! Every value is a pure function of the global 0-based mini-batch index, so a resumed run
//! continues exactly where it stopped. The cyclical formulas are PyTorch's `CyclicLR`; one-cycle
//! is `OneCycleLR(three_phase=True)` except that clr's phases end exactly on the epoch
//! boundaries (the LR is `max_lr` at step `UP * steps_per_epoch`), where PyTorch ends them one
//! or two steps earlier. The difference is below 0.5 % of `max_lr` at every step (tested
//! against fixtures from PyTorch in tests/fixtures/schedules).

use crate::error::UsageError;
use crate::records::ScheduleRow;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

/// Implements `Display` and `FromStr` from a list of (variant, name); parsing also accepts
/// `_` for `-` (PyTorch spells the mode `exp_range`) and any case.
macro_rules! named_enum {
    ($t:ident, $what:literal, $($v:ident => $name:literal),+) => {
        impl $t {
            /// Every variant, in the order the help text lists them.
            pub const ALL: &'static [$t] = &[$($t::$v),+];

            /// The name used on the command line and in config files.
            pub fn name(self) -> &'static str {
                match self { $($t::$v => $name),+ }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $t {
            type Err = UsageError;

            fn from_str(s: &str) -> Result<Self, UsageError> {
                let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
                Self::ALL.iter().copied().find(|v| v.name() == wanted).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                    UsageError::new(format!(
                        concat!("unknown ", $what, " '{}'; valid: {}"),
                        s,
                        names.join(", ")
                    ))
                })
            }
        }
    };
}

/// How the LR moves during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    OneCycle,
    Triangular,
    Triangular2,
    ExpRange,
    Fixed,
    Step,
}
named_enum!(Policy, "policy", OneCycle => "one-cycle", Triangular => "triangular",
    Triangular2 => "triangular2", ExpRange => "exp-range", Fixed => "fixed", Step => "step");

impl Policy {
    /// The policies that climb to `max_lr` (and so need `base_lr < max_lr`).
    pub fn uses_max_lr(self) -> bool {
        !matches!(self, Policy::Fixed | Policy::Step)
    }

    /// CyclicLR's policies: repeated cycles of `2 * step_size` epochs.
    pub fn is_cyclical(self) -> bool {
        matches!(self, Policy::Triangular | Policy::Triangular2 | Policy::ExpRange)
    }
}

/// One-cycle interpolation within a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Anneal {
    Linear,
    Cos,
}
named_enum!(Anneal, "anneal strategy", Linear => "linear", Cos => "cos");

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

/// How the range test raises the LR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepMode {
    Exp,
    Linear,
}
named_enum!(SweepMode, "sweep mode", Exp => "exp", Linear => "linear");

/// The range-test sweep (the seed's rule): `start * (end/start)^(i/n)` for `Exp`,
/// `start + (end - start) * i/n` for `Linear`, `i` in `0..n` (so `end` itself is never used).
/// `n == 0` gives `start`.
pub fn sweep_lr(start_lr: f64, end_lr: f64, i: u64, n: u64, mode: SweepMode) -> f64 {
    if n == 0 {
        return start_lr;
    }
    let r = i as f64 / n as f64;
    match mode {
        SweepMode::Exp => start_lr * (end_lr / start_lr).powf(r),
        SweepMode::Linear => start_lr + (end_lr - start_lr) * r,
    }
}

/// Everything that defines a schedule. Fields a policy does not use are neither checked nor used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    pub policy: Policy,
    pub base_lr: f64,
    pub max_lr: f64,
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
    pub steps_per_epoch: u64,
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
    Cyclical { step_size_steps: f64, gamma: f64 },
    Fixed,
    Step { milestone_steps: Vec<u64>, gamma: f64 },
}

/// A validated schedule: the LR and momentum of every step.
#[derive(Debug, Clone)]
pub struct Schedule {
    cfg: ScheduleConfig,
    total_steps: u64,
    shape: Shape,
}

/// `a,b,c` as the flags take lists.
fn list(values: &[f64]) -> String {
    values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
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
        if self.steps_per_epoch == 0 {
            crate::usage!("--steps-per-epoch (steps_per_epoch) must be at least 1");
        }
        if (self.epochs * self.steps_per_epoch as f64).round() < 1.0 {
            crate::usage!("--epochs (epochs) gives no steps: {} epochs of {} steps", self.epochs, self.steps_per_epoch);
        }
        positive_finite(self.base_lr, "--base-lr", "base_lr")?;
        if self.policy.uses_max_lr() {
            positive_finite(self.max_lr, "--max-lr", "max_lr")?;
            if self.base_lr >= self.max_lr {
                crate::usage!(
                    "--base-lr (base_lr) must be below --max-lr (max_lr): {} >= {}",
                    self.base_lr,
                    self.max_lr
                );
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
    /// Validate `cfg` and work out the policy's step boundaries.
    pub fn new(cfg: ScheduleConfig) -> Result<Schedule, UsageError> {
        cfg.validate()?;
        let spe = cfg.steps_per_epoch as f64;
        let total_steps = (cfg.epochs * spe).round() as u64;
        let shape = match cfg.policy {
            Policy::OneCycle => one_cycle_shape(&cfg),
            Policy::Triangular | Policy::Triangular2 | Policy::ExpRange => {
                Shape::Cyclical { step_size_steps: cfg.step_size * spe, gamma: cfg.gamma_or_default() }
            }
            Policy::Fixed => Shape::Fixed,
            Policy::Step => Shape::Step {
                milestone_steps: cfg.milestones_or_default().iter().map(|m| (m * spe).round() as u64).collect(),
                gamma: cfg.gamma_or_default(),
            },
        };
        Ok(Schedule { cfg, total_steps, shape })
    }

    pub fn config(&self) -> &ScheduleConfig {
        &self.cfg
    }

    /// `round(epochs * steps_per_epoch)`.
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// The 0-based epoch that `step` belongs to.
    pub fn epoch_of(&self, step: u64) -> u64 {
        step / self.cfg.steps_per_epoch
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
            Shape::Cyclical { step_size_steps, gamma } => {
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
                let lr = cfg.base_lr + (cfg.max_lr - cfg.base_lr) * scale_factor * scale;
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

    /// One row per step of training, for `clr schedule`.
    pub fn rows(&self) -> impl Iterator<Item = ScheduleRow> + '_ {
        (0..self.total_steps).map(move |step| {
            let (lr, momentum) = self.lr_and_momentum(step);
            ScheduleRow { step, epoch: self.epoch_of(step), lr, momentum }
        })
    }
}

/// base → max over UP, max → base over DOWN, base → final over TAIL, all on exact epoch
/// boundaries; momentum high → low → high, then high (OneCycleLR with three_phase=True).
fn one_cycle_shape(cfg: &ScheduleConfig) -> Shape {
    let spe = cfg.steps_per_epoch as f64;
    let [up, down, tail] = cfg.phases;
    let (b1, b2, b3) = (up * spe, (up + down) * spe, (up + down + tail) * spe);
    let (high, low) = cfg.cycle_momentum.unwrap_or((cfg.momentum, cfg.momentum));
    let (base, max, final_lr) = (cfg.base_lr, cfg.max_lr, cfg.final_lr_or_default());
    let phases = vec![
        Phase { start: 0.0, end: b1, lr: (base, max), momentum: (high, low) },
        Phase { start: b1, end: b2, lr: (max, base), momentum: (low, high) },
        Phase { start: b2, end: b3, lr: (base, final_lr), momentum: (high, high) },
    ];
    Shape::OneCycle { phases, final_lr, final_momentum: high }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::path::PathBuf;

    /// The reference run of the SPEC: 0.08 → 0.8 → 0.08 → 0.008 over 41, 41, 13 epochs of 98 steps.
    fn reference(anneal: Anneal) -> ScheduleConfig {
        ScheduleConfig {
            policy: Policy::OneCycle,
            base_lr: 0.08,
            max_lr: 0.8,
            final_lr: None,
            phases: [41.0, 41.0, 13.0],
            step_size: 2.0,
            gamma: None,
            milestones: None,
            anneal,
            momentum: 0.9,
            cycle_momentum: None,
            epochs: 95.0,
            steps_per_epoch: 98,
        }
    }

    fn cyclical(policy: Policy) -> ScheduleConfig {
        ScheduleConfig {
            policy,
            base_lr: 0.001,
            max_lr: 0.006,
            step_size: 2.0,
            epochs: 20.0,
            steps_per_epoch: 50,
            cycle_momentum: Some((0.95, 0.85)),
            ..reference(Anneal::Linear)
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn names_parse_and_print() {
        for p in Policy::ALL {
            assert_eq!(p.to_string().parse::<Policy>().unwrap(), *p);
            // The serde name is the command-line name.
            assert_eq!(serde_json::to_string(p).unwrap(), format!("\"{p}\""));
        }
        assert_eq!("exp_range".parse::<Policy>().unwrap(), Policy::ExpRange);
        assert_eq!("One-Cycle".parse::<Policy>().unwrap(), Policy::OneCycle);
        assert_eq!(Policy::Triangular2.to_string(), "triangular2");
        let err = "cosine".parse::<Policy>().unwrap_err().to_string();
        assert_eq!(err, "unknown policy 'cosine'; valid: one-cycle, triangular, triangular2, exp-range, fixed, step");
        for a in Anneal::ALL {
            assert_eq!(a.to_string().parse::<Anneal>().unwrap(), *a);
            assert_eq!(serde_json::to_string(a).unwrap(), format!("\"{a}\""));
        }
        assert_eq!("cos".parse::<Anneal>().unwrap(), Anneal::Cos);
        assert_eq!("x".parse::<Anneal>().unwrap_err().to_string(), "unknown anneal strategy 'x'; valid: linear, cos");
        assert_eq!("linear".parse::<SweepMode>().unwrap(), SweepMode::Linear);
        assert_eq!(serde_json::to_string(&SweepMode::Exp).unwrap(), "\"exp\"");
        assert_eq!("log".parse::<SweepMode>().unwrap_err().to_string(), "unknown sweep mode 'log'; valid: exp, linear");
    }

    #[test]
    fn config_round_trips_through_json() {
        let mut cfg = reference(Anneal::Cos);
        cfg.cycle_momentum = Some((0.95, 0.85));
        cfg.milestones = Some(vec![1.5, 3.0]);
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(json.contains("\"policy\":\"one-cycle\"") && json.contains("\"cycle_momentum\":[0.95,0.85]"));
        assert_eq!(serde_json::from_str::<ScheduleConfig>(&json).unwrap(), cfg);
    }

    #[test]
    fn sweep_is_the_seeds_formula() {
        assert_eq!(sweep_lr(1e-4, 10.0, 0, 100, SweepMode::Exp), 1e-4);
        assert_eq!(sweep_lr(1e-4, 10.0, 0, 100, SweepMode::Linear), 1e-4);
        // (10 / 1e-4)^(50/100) = 316.2...: the geometric mean of start and end.
        assert!(close(sweep_lr(1e-4, 10.0, 50, 100, SweepMode::Exp), (1e-4f64 * 10.0).sqrt(), 1e-15));
        assert_eq!(sweep_lr(1e-4, 10.0, 37, 100, SweepMode::Exp), 1e-4 * 1e5f64.powf(0.37));
        assert_eq!(sweep_lr(1e-4, 10.0, 37, 100, SweepMode::Linear), 1e-4 + (10.0 - 1e-4) * 0.37);
        assert!(close(sweep_lr(0.0, 1.0, 99, 100, SweepMode::Linear), 0.99, 1e-15));
        assert!(sweep_lr(1e-4, 10.0, 99, 100, SweepMode::Exp) < 10.0);
        assert_eq!(sweep_lr(0.5, 10.0, 0, 0, SweepMode::Exp), 0.5);
    }

    #[test]
    fn one_cycle_hits_the_epoch_boundaries() {
        for anneal in Anneal::ALL {
            let s = Schedule::new(reference(*anneal)).unwrap();
            assert_eq!(s.total_steps(), 9310);
            let at = |step| s.lr(step);
            assert!(close(at(0), 0.08, 1e-10), "{anneal}");
            assert!(close(at(41 * 98), 0.8, 1e-10), "{anneal}");
            assert!(close(at(82 * 98), 0.08, 1e-10), "{anneal}");
            // The last step is 1273 of the tail's 1274 steps: just above final.
            let last = anneal.interpolate(0.08, 0.008, 1273.0 / 1274.0);
            assert!(close(at(9309), last, 1e-10) && last > 0.008 && last < 0.0081, "{anneal}");
            assert!(close(at(9310), 0.008, 1e-10) && at(20_000) == 0.008, "{anneal}");
            // Monotone within each phase.
            assert!((1..4018).all(|i| at(i) > at(i - 1)));
            assert!((4019..8036).all(|i| at(i) < at(i - 1)));
            assert!((8037..9310).all(|i| at(i) < at(i - 1)));
            assert!((0..9400).all(|i| s.momentum(i) == 0.9));
        }
        let lin = Schedule::new(reference(Anneal::Linear)).unwrap();
        assert!(close(lin.lr(2009), 0.44, 1e-10));
        let cos = Schedule::new(reference(Anneal::Cos)).unwrap();
        assert!(close(cos.lr(2009), 0.44, 1e-10) && cos.lr(1000) < lin.lr(1000));
    }

    #[test]
    fn one_cycle_momentum_moves_against_the_lr() {
        let mut cfg = reference(Anneal::Linear);
        cfg.cycle_momentum = Some((0.95, 0.85));
        cfg.epochs = 100.0;
        let s = Schedule::new(cfg).unwrap();
        assert!(close(s.momentum(0), 0.95, 1e-12));
        assert!(close(s.momentum(2009), 0.90, 1e-12));
        assert!(close(s.momentum(4018), 0.85, 1e-12));
        assert!(close(s.momentum(8036), 0.95, 1e-12));
        assert!((8036..9800).all(|i| s.momentum(i) == 0.95));
        // Epochs past the phases stay at final.
        assert_eq!(s.total_steps(), 9800);
        assert!(close(s.lr(9310), 0.008, 1e-12) && (9311..9800).all(|i| s.lr(i) == 0.008));
    }

    #[test]
    fn one_cycle_odd_phases() {
        // TAIL 0: the two-phase shape, base at the end of DOWN, final after it.
        let mut cfg = reference(Anneal::Linear);
        cfg.phases = [2.5, 2.5, 0.0];
        cfg.final_lr = Some(0.01);
        cfg.epochs = 6.0;
        cfg.steps_per_epoch = 10;
        let s = Schedule::new(cfg.clone()).unwrap();
        assert!(close(s.lr(25), 0.8, 1e-12) && close(s.lr(50), 0.08, 1e-12) && s.lr(51) == 0.01);
        // UP 0 starts at max; fractional phase boundaries interpolate between steps.
        cfg.phases = [0.0, 1.0, 0.55];
        let s = Schedule::new(cfg.clone()).unwrap();
        assert!(close(s.lr(0), 0.8, 1e-12) && close(s.lr(10), 0.08, 1e-12));
        assert!(close(s.lr(15), 0.01 + 0.07 * 0.5 / 5.5, 1e-12) && s.lr(16) == 0.01);
        // final_lr == base_lr gives a flat tail.
        cfg.final_lr = Some(0.08);
        assert!(Schedule::new(cfg).unwrap().lr(13) == 0.08);
    }

    /// The CLR paper's form (and the brief's): cycle = floor(1 + t/2s), x = |t/s - 2 cycle + 1|.
    fn paper_lr(cfg: &ScheduleConfig, step: u64) -> f64 {
        let s = cfg.step_size * cfg.steps_per_epoch as f64;
        let t = step as f64;
        let cycle = (1.0 + t / (2.0 * s)).floor();
        let x = (t / s - 2.0 * cycle + 1.0).abs();
        let scale = match cfg.policy {
            Policy::Triangular2 => 1.0 / 2f64.powi(cycle as i32 - 1),
            Policy::ExpRange => cfg.gamma_or_default().powi(step as i32),
            _ => 1.0,
        };
        cfg.base_lr + (cfg.max_lr - cfg.base_lr) * (1.0 - x).max(0.0) * scale
    }

    #[test]
    fn cyclical_policies_follow_the_paper() {
        for policy in [Policy::Triangular, Policy::Triangular2, Policy::ExpRange] {
            let cfg = cyclical(policy);
            let s = Schedule::new(cfg.clone()).unwrap();
            assert_eq!(s.total_steps(), 1000);
            for step in 0..1000 {
                assert!(close(s.lr(step), paper_lr(&cfg, step), 1e-15), "{policy} {step}");
            }
            assert_eq!(s.lr(0), 0.001);
            assert!(close(s.lr(200), 0.001, 1e-15) && close(s.momentum(200), 0.95, 1e-15));
            assert!(close(s.momentum(0), 0.95, 1e-15));
        }
        let peak = |p, step| Schedule::new(cyclical(p)).unwrap().lr(step);
        assert!(close(peak(Policy::Triangular, 100), 0.006, 1e-15));
        assert!(close(peak(Policy::Triangular, 300), 0.006, 1e-15));
        assert!(close(peak(Policy::Triangular, 150), 0.0035, 1e-15));
        assert!(close(peak(Policy::Triangular2, 300), 0.001 + 0.005 / 2.0, 1e-15));
        assert!(close(peak(Policy::Triangular2, 500), 0.001 + 0.005 / 4.0, 1e-15));
        assert!(close(peak(Policy::ExpRange, 100), 0.001 + 0.005 * 0.99994f64.powi(100), 1e-15));
        let s = Schedule::new(cyclical(Policy::Triangular)).unwrap();
        assert!(close(s.momentum(100), 0.85, 1e-15) && close(s.momentum(50), 0.90, 1e-15));
        let mut cfg = cyclical(Policy::Triangular2);
        cfg.cycle_momentum = None;
        let s = Schedule::new(cfg).unwrap();
        assert!((0..1000).all(|i| s.momentum(i) == 0.9));
    }

    #[test]
    fn cyclical_step_size_may_be_fractional() {
        let mut cfg = cyclical(Policy::Triangular);
        cfg.step_size = 0.25;
        cfg.steps_per_epoch = 10; // 2.5 steps per half cycle
        let s = Schedule::new(cfg).unwrap();
        assert!(close(s.lr(1), 0.001 + 0.005 * 0.4, 1e-15));
        assert!(close(s.lr(5), 0.001, 1e-15) && close(s.lr(3), 0.001 + 0.005 * 0.8, 1e-15));
    }

    #[test]
    fn fixed_and_step() {
        let mut cfg = reference(Anneal::Linear);
        cfg.policy = Policy::Fixed;
        cfg.base_lr = 0.1;
        cfg.max_lr = f64::NAN; // not used, not checked
        cfg.epochs = 8.0;
        cfg.steps_per_epoch = 25;
        let s = Schedule::new(cfg.clone()).unwrap();
        assert!((0..300).all(|i| s.lr(i) == 0.1 && s.momentum(i) == 0.9));
        cfg.policy = Policy::Step;
        let s = Schedule::new(cfg.clone()).unwrap();
        assert_eq!((s.lr(99), s.lr(100), s.lr(149)), (0.1, 0.1 * 0.1, 0.1 * 0.1));
        assert_eq!((s.lr(150), s.lr(199)), (0.1 * 0.1f64.powi(2), 0.1 * 0.1f64.powi(2)));
        // Milestone m is reached at round(m * steps_per_epoch): 1.5 * 25 = 37.5 -> 38.
        cfg.milestones = Some(vec![1.5, 6.0]);
        cfg.gamma = Some(0.5);
        let s = Schedule::new(cfg).unwrap();
        assert_eq!((s.lr(37), s.lr(38), s.lr(149), s.lr(150)), (0.1, 0.05, 0.05, 0.025));
    }

    #[test]
    fn rows_and_epochs() {
        let mut cfg = cyclical(Policy::Triangular);
        cfg.epochs = 2.5;
        cfg.steps_per_epoch = 7;
        let s = Schedule::new(cfg).unwrap();
        assert_eq!(s.total_steps(), 18); // round(17.5)
        let rows: Vec<ScheduleRow> = s.rows().collect();
        assert_eq!(rows.len(), 18);
        assert_eq!((s.epoch_of(6), s.epoch_of(7), s.epoch_of(17)), (0, 1, 2));
        for (i, row) in rows.iter().enumerate() {
            let step = i as u64;
            assert_eq!(*row, ScheduleRow { step, epoch: step / 7, lr: s.lr(step), momentum: s.momentum(step) });
        }
    }

    /// One line per check of `validate`, in the order of `edits` below.
    const MESSAGES: &str = "\
        --base-lr (base_lr) must be below --max-lr (max_lr): 0.08 >= 0.08
        --base-lr (base_lr) must be below --max-lr (max_lr): 0.8 >= 0.006
        --base-lr (base_lr) must be a positive finite number: -0.1
        --max-lr (max_lr) must be a positive finite number: inf
        --final-lr (final_lr) must be a positive finite number: 0
        --final-lr (final_lr) must not exceed --base-lr (base_lr): 0.1 > 0.08
        --phases (phases) must be non-negative finite epochs: 41,-1,13
        --phases (phases) must not all be zero
        --phases (phases) add up to 96 epochs, more than --epochs (epochs) 95
        --step-size (step_size) must be a positive number of epochs: 0
        --gamma (gamma) must be in (0, 1]: 1.5
        --gamma (gamma) must be in (0, 1]: 0
        --momentum (momentum) must be in [0, 1): 1
        --cycle-momentum (cycle_momentum) HIGH must be at least LOW: 0.85 < 0.95
        --cycle-momentum (cycle_momentum) values must be in [0, 1): 1.2,0.85
        --steps-per-epoch (steps_per_epoch) must be at least 1
        --epochs (epochs) must be a positive finite number: 0
        --epochs (epochs) gives no steps: 0.005 epochs of 50 steps
        --milestones (milestones) must be strictly increasing: 60,50
        --milestones (milestones) must lie inside (0, 95) epochs: 50,95";

    #[test]
    fn validation_messages() {
        type Edit = fn(&mut ScheduleConfig);
        let one = reference(Anneal::Linear);
        let tri = cyclical(Policy::Triangular);
        let step = ScheduleConfig { policy: Policy::Step, ..one.clone() };
        let edits: Vec<(&ScheduleConfig, Edit)> = vec![
            (&one, |c| c.max_lr = 0.08),
            (&tri, |c| c.base_lr = 0.8),
            (&one, |c| c.base_lr = -0.1),
            (&one, |c| c.max_lr = f64::INFINITY),
            (&one, |c| c.final_lr = Some(0.0)),
            (&one, |c| c.final_lr = Some(0.1)),
            (&one, |c| c.phases = [41.0, -1.0, 13.0]),
            (&one, |c| c.phases = [0.0; 3]),
            (&one, |c| c.phases = [41.0, 41.0, 14.0]),
            (&tri, |c| c.step_size = 0.0),
            (&tri, |c| (c.policy, c.gamma) = (Policy::ExpRange, Some(1.5))),
            (&step, |c| c.gamma = Some(0.0)),
            (&one, |c| c.momentum = 1.0),
            (&tri, |c| c.cycle_momentum = Some((0.85, 0.95))),
            (&one, |c| c.cycle_momentum = Some((1.2, 0.85))),
            (&one, |c| c.steps_per_epoch = 0),
            (&tri, |c| c.epochs = 0.0),
            (&tri, |c| c.epochs = 0.005),
            (&step, |c| c.milestones = Some(vec![60.0, 50.0])),
            (&step, |c| c.milestones = Some(vec![50.0, 95.0])),
        ];
        let messages: Vec<&str> = MESSAGES.lines().map(str::trim).collect();
        assert_eq!(messages.len(), edits.len());
        for ((cfg, edit), want) in edits.into_iter().zip(messages) {
            let mut cfg = cfg.clone();
            edit(&mut cfg);
            assert_eq!(Schedule::new(cfg).unwrap_err().to_string(), want);
        }
        // Fractional phases that add up to the epochs up to rounding still fit.
        let mut cfg = one.clone();
        (cfg.phases, cfg.epochs) = ([0.1, 0.2, 0.3], 0.6);
        assert!(Schedule::new(cfg).is_ok());
    }

    /// One fixture written by scripts/gen_schedule_fixtures.py from torch.optim.lr_scheduler.
    #[derive(Deserialize)]
    struct Case {
        name: String,
        file: String,
        lr_tol: f64,
        momentum_tol: f64,
        config: ScheduleConfig,
    }

    #[derive(Deserialize)]
    struct Manifest {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Row {
        step: u64,
        lr: f64,
        momentum: f64,
    }

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedules")
    }

    fn read_fixture(file: &str) -> Vec<Row> {
        let mut text = String::new();
        let gz = std::fs::File::open(fixtures().join(file)).unwrap();
        flate2::read::GzDecoder::new(gz).read_to_string(&mut text).unwrap();
        csv::Reader::from_reader(text.as_bytes()).deserialize().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn matches_pytorch_fixtures() {
        let manifest: Manifest =
            serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap()).unwrap();
        let policies: Vec<Policy> = manifest.cases.iter().map(|c| c.config.policy).collect();
        for p in [Policy::OneCycle, Policy::Triangular, Policy::Triangular2, Policy::ExpRange, Policy::Step] {
            assert!(policies.contains(&p), "no fixture for {p}");
        }
        for case in &manifest.cases {
            // The bounds are the contract, whatever the manifest says.
            let (lr_bound, momentum_bound) = match case.config.policy {
                Policy::OneCycle => (0.005 * case.config.max_lr, 0.005),
                _ => (1e-6, 1e-6),
            };
            assert!(case.lr_tol <= lr_bound && case.momentum_tol <= momentum_bound, "{}", case.name);
            let s = Schedule::new(case.config.clone()).unwrap();
            let rows = read_fixture(&case.file);
            assert_eq!(rows.len() as u64, s.total_steps(), "{}", case.name);
            for (i, row) in rows.iter().enumerate() {
                assert_eq!(row.step, i as u64);
                let (lr, momentum) = s.lr_and_momentum(row.step);
                assert!(close(lr, row.lr, case.lr_tol), "{} step {}: lr {lr} vs torch {}", case.name, i, row.lr);
                assert!(
                    close(momentum, row.momentum, case.momentum_tol),
                    "{} step {}: momentum {momentum} vs torch {}",
                    case.name,
                    i,
                    row.momentum
                );
            }
        }
    }
}
