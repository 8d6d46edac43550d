//! The named choices of a run's settings that are not numbers: the data set, the device, the
//! precision, and `--max-lr`'s three forms. Each parses from the command line and from config
//! files with the same error text.

use crate::error::UsageError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// Files in the CIFAR-10 binary layout (downloaded if missing).
    Cifar10,
    /// Files in the CIFAR-100 binary layout (downloaded if missing); see [`Labels`].
    Cifar100,
    /// CIFAR-shaped images made in memory, 10 classes (smoke tests and speed work; never called
    /// CIFAR-10).
    Synthetic,
    /// The user's own images: `DIR/train/CLASS/*.png|jpg` and `DIR/test/CLASS/…` (or `valid/`, or one
    /// folder and `--valid-fraction`), decoded once into a cache (`data::folder`).
    Folder,
    /// MNIST's IDX files (handwritten digits, 10 classes), gzipped or not (downloaded if missing).
    Mnist,
    /// Fashion-MNIST's IDX files (Zalando's clothing images, 10 classes; downloaded if missing).
    FashionMnist,
}
crate::named_enum!(DatasetKind, "dataset", Cifar10 => "cifar10", Cifar100 => "cifar100", Synthetic => "synthetic",
    Folder => "folder", Mnist => "mnist", FashionMnist => "fashion-mnist");

/// Which label of a CIFAR-100 record is the class: each image has a fine label (100 classes) and
/// the coarse label of its super-class (20). The other data sets have one label per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    Fine,
    Coarse,
}
crate::named_enum!(Labels, "labels", Fine => "fine", Coarse => "coarse");

/// Where a run asks to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = UsageError;

    fn from_str(s: &str) -> Result<DeviceSpec, UsageError> {
        match s {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).map(DeviceSpec::Cuda).ok_or_else(|| {
                UsageError::new(format!("--device (device) must be auto, cpu, cuda or cuda:N, got {s:?}"))
            }),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Arithmetic used for the forward and backward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Fp32,
    /// bf16 autocast on the CPU or CUDA; batch-norm statistics, the loss and the optimiser stay in fp32.
    Bf16,
}
crate::named_enum!(Precision, "precision", Fp32 => "fp32", Bf16 => "bf16");

/// `--max-lr`: a number, `auto` (run the range test first), or a `range_test.json` to read.
#[derive(Debug, Clone, PartialEq)]
pub enum MaxLr {
    Value(f64),
    Auto,
    File(PathBuf),
}

impl FromStr for MaxLr {
    type Err = UsageError;

    fn from_str(s: &str) -> Result<MaxLr, UsageError> {
        match s.trim() {
            "auto" => Ok(MaxLr::Auto),
            t => match t.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(MaxLr::Value(v)),
                Ok(_) => Err(UsageError::new(format!("{t} is not a finite number"))),
                Err(_) => Ok(MaxLr::File(PathBuf::from(t))),
            },
        }
    }
}

impl fmt::Display for MaxLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxLr::Value(v) => write!(f, "{v}"),
            MaxLr::Auto => f.write_str("auto"),
            MaxLr::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Serialize for MaxLr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MaxLr::Value(v) => s.serialize_f64(*v),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for MaxLr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => Ok(MaxLr::Value(n.as_f64().unwrap_or(f64::NAN))),
            serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(format!(
                "expected a number, \"auto\" or a range_test.json path, got {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_form() {
        for (text, spec) in [
            ("auto", DeviceSpec::Auto),
            ("cpu", DeviceSpec::Cpu),
            ("cuda:0", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
        ] {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), spec);
            assert_eq!(spec.to_string(), text);
            assert_eq!(serde_json::to_string(&spec).unwrap(), format!("\"{text}\""));
        }
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        let err = "gpu".parse::<DeviceSpec>().unwrap_err().to_string();
        assert_eq!(err, "--device (device) must be auto, cpu, cuda or cuda:N, got \"gpu\"");
        assert!(serde_json::from_str::<DeviceSpec>("\"tpu\"").is_err());
    }
}
