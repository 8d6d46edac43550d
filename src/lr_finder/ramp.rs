//! The LR ramp of the range test: how it raises the LR, step by step (pure).

/// The ramp's shape (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RampMode {
    Exp,
    Linear,
}
crate::named_enum!(RampMode, "ramp mode", Exp => "exp", Linear => "linear");

/// The LR of step `i` of the range test (the seed's rule): `start * (end/start)^(i/n)` for `Exp`,
/// `start + (end - start) * i/n` for `Linear`, `i` in `0..n` (so `end` itself is never used).
/// `n == 0` gives `start`.
pub fn ramp_lr(start_lr: f64, end_lr: f64, i: u64, n: u64, mode: RampMode) -> f64 {
    if n == 0 {
        return start_lr;
    }
    let r = i as f64 / n as f64;
    match mode {
        RampMode::Exp => start_lr * (end_lr / start_lr).powf(r),
        RampMode::Linear => start_lr + (end_lr - start_lr) * r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn the_ramp_is_the_seeds_formula() {
        assert_eq!(ramp_lr(1e-4, 10.0, 0, 100, RampMode::Exp), 1e-4);
        assert_eq!(ramp_lr(1e-4, 10.0, 0, 100, RampMode::Linear), 1e-4);
        // (10 / 1e-4)^(50/100) = 316.2...: the geometric mean of start and end.
        assert!(close(ramp_lr(1e-4, 10.0, 50, 100, RampMode::Exp), (1e-4f64 * 10.0).sqrt(), 1e-15));
        assert_eq!(ramp_lr(1e-4, 10.0, 37, 100, RampMode::Exp), 1e-4 * 1e5f64.powf(0.37));
        assert_eq!(ramp_lr(1e-4, 10.0, 37, 100, RampMode::Linear), 1e-4 + (10.0 - 1e-4) * 0.37);
        assert!(close(ramp_lr(0.0, 1.0, 99, 100, RampMode::Linear), 0.99, 1e-15));
        assert!(ramp_lr(1e-4, 10.0, 99, 100, RampMode::Exp) < 10.0);
        assert_eq!(ramp_lr(0.5, 10.0, 0, 0, RampMode::Exp), 0.5);
    }

    #[test]
    fn names_parse_and_print() {
        assert_eq!("linear".parse::<RampMode>().unwrap(), RampMode::Linear);
        assert_eq!(serde_json::to_string(&RampMode::Exp).unwrap(), "\"exp\"");
        assert_eq!("log".parse::<RampMode>().unwrap_err().to_string(), "unknown ramp mode 'log'; valid: exp, linear");
    }
}
