//! `clr range-test --sweep NAME=V1,V2,…` parsed (pure): which second hyper-parameter the range
//! tests sweep and its values. Only the syntax is checked here; whether a value is valid for its
//! parameter (momentum below 1, a batch of at least one image) is the config's own check, run on
//! each value's config where the sweep is run, so the two can never disagree.

use crate::error::UsageError;
use std::str::FromStr;

/// The hyper-parameters a sweep can vary: the three Smith tunes against the LR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepParam {
    WeightDecay,
    Momentum,
    BatchSize,
}
crate::named_enum!(SweepParam, "sweep parameter", WeightDecay => "weight-decay", Momentum => "momentum",
    BatchSize => "batch-size");

impl SweepParam {
    /// The config field it sets (`weight_decay`, `momentum`, `batch_size`).
    pub fn field(self) -> &'static str {
        match self {
            SweepParam::WeightDecay => "weight_decay",
            SweepParam::Momentum => "momentum",
            SweepParam::BatchSize => "batch_size",
        }
    }

    /// A value as the folder names and labels show it: the shorter of plain and scientific
    /// notation (`1e-3`, `0.95`, `512`), so that the same value always gets the same name.
    pub fn value_text(self, value: f64) -> String {
        short_number(value)
    }

    /// `weight-decay=1e-3`: the label of a value, and the name of its sub-folder.
    pub fn label(self, value: f64) -> String {
        format!("{}={}", self.name(), self.value_text(value))
    }
}

/// A number as short as it can be written exactly: `1e-3` rather than `0.001`, `0.4` rather than
/// `4e-1` (labels and folder names of sweeps and grids).
pub fn short_number(value: f64) -> String {
    let plain = format!("{value}");
    let sci = format!("{value:e}");
    if sci.len() < plain.len() {
        sci
    } else {
        plain
    }
}

/// A parsed `--sweep`: the parameter and its values, in the order given (at least one, no
/// value twice; batch sizes are whole numbers).
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub param: SweepParam,
    pub values: Vec<f64>,
}

impl Sweep {
    /// The labels of the values, in order (also the sub-folder names).
    pub fn labels(&self) -> Vec<String> {
        self.values.iter().map(|&v| self.param.label(v)).collect()
    }
}

impl FromStr for Sweep {
    type Err = UsageError;

    fn from_str(s: &str) -> Result<Sweep, UsageError> {
        // clap puts "invalid value '…' for '--sweep …'" before these words.
        let (name, list) = s
            .split_once('=')
            .ok_or_else(|| UsageError::new("expected NAME=V1,V2,… (e.g. weight-decay=1e-3,1e-4,1e-5)"))?;
        let param: SweepParam = name.parse()?;
        let mut values: Vec<f64> = Vec::new();
        for text in list.split(',').map(str::trim) {
            let value = parse_value(param, text).map_err(UsageError)?;
            if values.contains(&value) {
                return Err(UsageError(format!("the value {} is given twice", param.value_text(value))));
            }
            values.push(value);
        }
        Ok(Sweep { param, values })
    }
}

/// One value of the list: a finite number; for the batch size, a whole one.
fn parse_value(param: SweepParam, text: &str) -> Result<f64, String> {
    if text.is_empty() {
        return Err("empty value in the list (values are separated by single commas)".into());
    }
    if param == SweepParam::BatchSize {
        return text.parse::<u32>().map(f64::from).map_err(|_| format!("batch-size '{text}' is not a whole number"));
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{} '{text}' is not a finite number", param.name())),
        Err(_) => Err(format!("{} '{text}' is not a number", param.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        s.parse::<Sweep>().unwrap_err().to_string()
    }

    #[test]
    fn parses_each_parameter_in_the_order_given() {
        let s: Sweep = "weight-decay=1e-3,1e-4,1e-5".parse().unwrap();
        assert_eq!(s, Sweep { param: SweepParam::WeightDecay, values: vec![1e-3, 1e-4, 1e-5] });
        assert_eq!(s.labels(), ["weight-decay=1e-3", "weight-decay=1e-4", "weight-decay=1e-5"]);
        let s: Sweep = "momentum=0.99, 0.95,0.9,0.85".parse().unwrap();
        assert_eq!(s.values, [0.99, 0.95, 0.9, 0.85]);
        assert_eq!(s.labels(), ["momentum=0.99", "momentum=0.95", "momentum=0.9", "momentum=0.85"]);
        let s: Sweep = "batch_size=1024,128".parse().unwrap();
        assert_eq!((s.param, s.values.clone()), (SweepParam::BatchSize, vec![1024.0, 128.0]));
        assert_eq!(s.labels(), ["batch-size=1024", "batch-size=128"]);
        assert_eq!("momentum=0.9".parse::<Sweep>().unwrap().values, [0.9], "one value is a sweep of one");
    }

    #[test]
    fn labels_are_short_and_the_same_for_the_same_value() {
        let p = SweepParam::WeightDecay;
        assert_eq!([p.value_text(0.001), p.value_text(5e-4), p.value_text(0.0)], ["1e-3", "5e-4", "0"]);
        assert_eq!([p.value_text(0.95), p.value_text(512.0), p.value_text(0.1)], ["0.95", "512", "0.1"]);
        assert_eq!(SweepParam::Momentum.field(), "momentum");
        assert_eq!(SweepParam::BatchSize.field(), "batch_size");
    }

    #[test]
    fn bad_sweeps_say_what_is_wrong() {
        assert_eq!(
            err("learning-rate=1,2"),
            "unknown sweep parameter 'learning-rate'; valid: weight-decay, momentum, batch-size"
        );
        assert_eq!(err("momentum"), "expected NAME=V1,V2,… (e.g. weight-decay=1e-3,1e-4,1e-5)");
        assert!(err("momentum=").contains("empty value"), "{}", err("momentum="));
        assert!(err("momentum=0.9,,0.8").contains("empty value"));
        assert_eq!(err("momentum=0.9,high"), "momentum 'high' is not a number");
        assert_eq!(err("weight-decay=inf"), "weight-decay 'inf' is not a finite number");
        assert_eq!(err("batch-size=128,256.5"), "batch-size '256.5' is not a whole number");
        assert!(err("batch-size=-1").contains("not a whole number"));
        assert_eq!(err("weight-decay=1e-3,0.001"), "the value 1e-3 is given twice");
    }
}
