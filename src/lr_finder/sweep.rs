//! How the range test raises the LR, step by step (pure).

/// The sweep's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepMode {
    Exp,
    Linear,
}
crate::named_enum!(SweepMode, "sweep mode", Exp => "exp", Linear => "linear");

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

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
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
    fn names_parse_and_print() {
        assert_eq!("linear".parse::<SweepMode>().unwrap(), SweepMode::Linear);
        assert_eq!(serde_json::to_string(&SweepMode::Exp).unwrap(), "\"exp\"");
        assert_eq!("log".parse::<SweepMode>().unwrap_err().to_string(), "unknown sweep mode 'log'; valid: exp, linear");
    }
}
