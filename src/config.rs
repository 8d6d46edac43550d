//! The resolved configuration of a run: one flat struct, read from `--config FILE` (JSON), then
//! overridden by the flags given on the command line, then validated once. `config.json` in a
//! run folder is this struct, so `--config RUN/config.json` repeats the run.

use crate::error::UsageError;
use crate::range_finder::RangeTestSettings;
use crate::schedule::{Anneal, Policy, ScheduleConfig, SweepMode};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// Files in the CIFAR-10 binary layout (downloaded if missing).
    Cifar10,
    /// CIFAR-shaped images made in memory (smoke tests and speed work; never called CIFAR-10).
    Synthetic,
}

/// Arithmetic used for the forward and backward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    /// bf16 autocast on the CPU or CUDA; batch-norm statistics, the loss and the optimiser stay in fp32.
    Bf16,
}

/// `--max-lr`: a number, `auto` (run the range test first), or a `range_test.json` to read.
#[derive(Debug, Clone, PartialEq)]
pub enum MaxLr {
    Value(f64),
    Auto,
    File(PathBuf),
}

impl MaxLr {
    pub fn parse(s: &str) -> MaxLr {
        match s.trim() {
            "auto" => MaxLr::Auto,
            t => match t.parse::<f64>() {
                Ok(v) => MaxLr::Value(v),
                Err(_) => MaxLr::File(PathBuf::from(t)),
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
        match Value::deserialize(d)? {
            Value::Number(n) => Ok(MaxLr::Value(n.as_f64().unwrap_or(f64::NAN))),
            Value::String(s) => Ok(MaxLr::parse(&s)),
            other => Err(serde::de::Error::custom(format!(
                "expected a number, \"auto\" or a range_test.json path, got {other}"
            ))),
        }
    }
}

/// Everything a training, range-test, schedule or bench command needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub policy: Policy,
    // data
    pub dataset: DatasetKind,
    pub data_dir: PathBuf,
    pub url: Option<String>,
    pub md5: Option<String>,
    pub no_download: bool,
    pub synthetic_train: usize,
    pub synthetic_test: usize,
    // model and optimiser
    pub depth: usize,
    pub batch_size: usize,
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    // run
    pub epochs: Option<f64>,
    pub device: String,
    pub precision: Precision,
    pub seed: u64,
    pub threads: Option<usize>,
    /// NHWC convolutions; None = auto: on for the CPU and for bf16 on CUDA.
    pub channels_last: Option<bool>,
    // schedule
    pub base_lr: f64,
    pub max_lr: MaxLr,
    /// Where `max_lr` (and `base_lr`) came from when not given as numbers: written, never read.
    pub lr_source: Option<String>,
    pub final_lr: Option<f64>,
    pub phases: Vec<f64>,
    pub step_size: f64,
    pub gamma: Option<f64>,
    pub milestones: Option<Vec<f64>>,
    pub anneal: Anneal,
    pub cycle_momentum: Option<Vec<f64>>,
    // range test
    pub start_lr: f64,
    pub end_lr: f64,
    pub iters: Option<u64>,
    pub mode: SweepMode,
    pub smooth: f64,
    pub diverge: f64,
    pub val_batches: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policy: Policy::OneCycle,
            dataset: DatasetKind::Cifar10,
            data_dir: PathBuf::from("data"),
            url: None,
            md5: None,
            no_download: false,
            synthetic_train: 50_000,
            synthetic_test: 10_000,
            depth: 56,
            batch_size: 512,
            momentum: 0.9,
            weight_decay: 1e-4,
            nesterov: false,
            epochs: None,
            device: "auto".into(),
            precision: Precision::Fp32,
            seed: 0,
            threads: None,
            channels_last: None,
            base_lr: 0.08,
            max_lr: MaxLr::Value(0.8),
            lr_source: None,
            final_lr: None,
            phases: vec![41.0, 41.0, 13.0],
            step_size: 8.0,
            gamma: None,
            milestones: None,
            anneal: Anneal::Linear,
            cycle_momentum: None,
            start_lr: 1e-4,
            end_lr: 10.0,
            iters: None,
            mode: SweepMode::Exp,
            smooth: 0.98,
            diverge: 4.0,
            val_batches: 0,
        }
    }
}

/// Steps of the range test when `--iters` is not given: enough for a few epochs, capped so
/// that a full-size run stays short.
pub const DEFAULT_RANGE_TEST_EPOCHS: u64 = 3;

impl Config {
    /// Read a JSON config file (unknown fields are errors that name the field and the file).
    pub fn from_file(path: &Path) -> Result<Map<String, Value>> {
        let text =
            std::fs::read_to_string(path).map_err(|e| UsageError::new(format!("--config {}: {e}", path.display())))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| UsageError::new(format!("--config {}: not valid JSON: {e}", path.display())))?;
        match value {
            Value::Object(map) => Ok(map),
            _ => Err(UsageError::new(format!("--config {}: expected a JSON object", path.display())).into()),
        }
    }

    /// Defaults, overridden by a command's own `defaults`, by the file's fields, then by the
    /// flags given (`flags` holds only those: a JSON object of field → value).
    pub fn resolve(defaults: Map<String, Value>, file: Option<&Path>, flags: Map<String, Value>) -> Result<Config> {
        let mut merged = defaults;
        if let Some(path) = file {
            merged.extend(Config::from_file(path)?);
        }
        let origin = file.map(|p| format!("--config {}", p.display()));
        merged.extend(flags);
        let mut config: Config = serde_json::from_value(Value::Object(merged)).map_err(|e| {
            let place = origin.clone().unwrap_or_else(|| "configuration".into());
            UsageError::new(format!("{place}: {e}"))
        })?;
        // Written by clr to say where max_lr came from; on input it would describe another run.
        config.lr_source = None;
        config.validate()?;
        Ok(config)
    }

    /// Training length in epochs: `epochs`, else the one-cycle phases' sum rounded up.
    pub fn total_epochs(&self) -> f64 {
        self.epochs.unwrap_or_else(|| self.phases.iter().sum::<f64>().ceil())
    }

    /// Number of whole epochs the train loop runs.
    pub fn whole_epochs(&self) -> u64 {
        self.total_epochs().ceil() as u64
    }

    /// Whether convolutions run channels-last on `device` (`channels_last`, or auto: on the CPU,
    /// where oneDNN's NHWC kernels measured faster, and with bf16 on CUDA, as the PyTorch peer's
    /// fast mode; fp32 on CUDA stays NCHW until measured).
    pub fn channels_last_on(&self, device: tch::Device) -> bool {
        self.channels_last.unwrap_or(match device {
            tch::Device::Cpu => true,
            _ => self.precision == Precision::Bf16,
        })
    }

    /// The number `max_lr` holds (after `auto`/file resolution).
    pub fn max_lr_value(&self) -> Result<f64> {
        match &self.max_lr {
            MaxLr::Value(v) => Ok(*v),
            other => {
                Err(UsageError::new(format!("--max-lr (max_lr) {other} must be resolved to a number before training"))
                    .into())
            }
        }
    }

    /// The schedule of this run, validated.
    pub fn schedule_config(&self, steps_per_epoch: u64) -> Result<ScheduleConfig> {
        let max_lr = match &self.max_lr {
            MaxLr::Value(v) => *v,
            // Not yet resolved (`clr schedule` cannot run a range test): validate with a stand-in
            // above base so that the other checks still run.
            _ => self.base_lr * 10.0,
        };
        let phases: [f64; 3] = match self.phases.as_slice() {
            [u, d, t] => [*u, *d, *t],
            [u, d] => [*u, *d, 0.0],
            _ => crate::usage!(
                "--phases (phases) takes UP,DOWN,TAIL (or UP,DOWN) in epochs, got {} values",
                self.phases.len()
            ),
        };
        let cycle_momentum = match self.cycle_momentum.as_deref() {
            None => None,
            Some([hi, lo]) => Some((*hi, *lo)),
            Some(v) => crate::usage!("--cycle-momentum (cycle_momentum) takes HIGH,LOW, got {} values", v.len()),
        };
        Ok(ScheduleConfig {
            policy: self.policy,
            base_lr: self.base_lr,
            max_lr,
            final_lr: self.final_lr,
            phases,
            step_size: self.step_size,
            gamma: self.gamma,
            milestones: self.milestones.clone(),
            anneal: self.anneal,
            momentum: self.momentum,
            cycle_momentum,
            epochs: self.total_epochs(),
            steps_per_epoch,
        })
    }

    pub fn range_test_settings(&self) -> RangeTestSettings {
        RangeTestSettings { smooth: self.smooth, diverge: self.diverge }
    }

    /// Checks that do not depend on the data (the schedule's own checks run once the number
    /// of steps per epoch is known, and here with a stand-in of 100).
    pub fn validate(&self) -> Result<()> {
        let model = crate::resnet::ResNetConfig { depth: self.depth, num_classes: 10 };
        if model.blocks_per_stage().is_none() {
            crate::usage!(
                "--depth (depth) must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {}",
                self.depth
            );
        }
        if self.batch_size == 0 {
            crate::usage!("--batch-size (batch_size) must be at least 1");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            crate::usage!("--weight-decay (weight_decay) must be >= 0, got {}", self.weight_decay);
        }
        if let Some(e) = self.epochs {
            if !(e > 0.0 && e.is_finite()) {
                crate::usage!("--epochs (epochs) must be positive, got {e}");
            }
        }
        if self.dataset == DatasetKind::Synthetic && (self.synthetic_train == 0 || self.synthetic_test == 0) {
            crate::usage!("--synthetic-train/--synthetic-test must be at least 1");
        }
        if self.threads == Some(0) {
            crate::usage!("--threads (threads) must be at least 1");
        }
        crate::device::parse_device(&self.device)?;
        if !(self.start_lr > 0.0 && self.start_lr.is_finite()) {
            crate::usage!("--start-lr (start_lr) must be positive, got {}", self.start_lr);
        }
        if !(self.end_lr > self.start_lr && self.end_lr.is_finite()) {
            crate::usage!(
                "--end-lr (end_lr) must be above --start-lr (start_lr): {} <= {}",
                self.end_lr,
                self.start_lr
            );
        }
        if self.iters == Some(0) {
            crate::usage!("--iters (iters) must be at least 1");
        }
        if let MaxLr::File(p) = &self.max_lr {
            if !p.exists() {
                crate::usage!(
                    "--max-lr (max_lr) must be a number, auto, or an existing range_test.json: {} not found",
                    p.display()
                );
            }
        }
        self.range_test_settings().validate()?;
        crate::schedule::Schedule::new(self.schedule_config(100)?)?;
        Ok(())
    }
}

/// Remove `null`s from a JSON object of flags, so that flags not given do not override.
pub fn given(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Map::new(),
    }
}

/// Write `config.json` in a run folder.
pub fn save(config: &Config, dir: &Path) -> Result<()> {
    crate::atomic::write_json(&dir.join("config.json"), config).context("cannot write config.json")
}
