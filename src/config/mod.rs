//! The configuration of a run: defaults < `--config FILE` < flags, merged as typed layers and
//! validated once into a [`Config`] that the rest of the code reads. `config.json` in a run folder
//! is a `Config`, flat, so `--config RUN/config.json` repeats the run.
//!
//! - `settings.rs`: every setting in one table per section (field, type, default, help);
//! - `choices.rs`: the named choices a setting can take (data set, labels, device, precision, max LR);
//! - `validate.rs`: the checks, each error naming the flag and the field;
//! - this file: the whole [`Layer`] and [`Config`], config files, `max_lr`.

mod choices;
mod settings;
mod validate;

pub use choices::{DatasetKind, DeviceSpec, Labels, MaxLr, Precision};
pub use settings::{
    finite, DataLayer, DataSettings, ModelLayer, ModelSettings, RangeTestLayer, RangeTestSettings, RunLayer,
    RunSettings, ScheduleLayer, ScheduleSettings, Section,
};
pub use validate::{MAX_IMAGE_SIZE, MIN_IMAGE_SIZE};

use crate::error::UsageError;
use crate::model::arch::NetConfig;
use crate::optim::schedule::{Policy, ScheduleConfig};
use serde::Serialize;
use std::path::Path;

/// Everything a training, range-test, schedule or bench command needs to know.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    #[serde(flatten)]
    pub data: DataSettings,
    #[serde(flatten)]
    pub model: ModelSettings,
    #[serde(flatten)]
    pub run: RunSettings,
    #[serde(flatten)]
    pub schedule: ScheduleSettings,
    #[serde(flatten)]
    pub range_test: RangeTestSettings,
    /// Written by clr: where `max_lr` and `base_lr` came from when they were not given as
    /// numbers (ignored on input: it would describe another run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_source: Option<String>,
    /// Written by clr: the names of the data's classes, in label order, when the data set has
    /// them (an image folder's class folders, Fashion-MNIST's clothes; ignored on input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_names: Option<Vec<String>>,
}

/// Fields a config file may hold that set nothing, ignored on input: `lr_source` and
/// `class_names`, which clr writes into a run's config.json (they describe that run, not the next),
/// and `comment`, free text for people (the presets in configs/ give their source and the paper's
/// figure in it).
const IGNORED_ON_INPUT: [&str; 3] = ["lr_source", "class_names", "comment"];

/// The settings one source gives (the command line, a config file, a command's own defaults);
/// `None` everywhere it is silent.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct Layer {
    #[command(flatten)]
    pub data: DataLayer,
    #[command(flatten)]
    pub model: ModelLayer,
    #[command(flatten)]
    pub run: RunLayer,
    #[command(flatten)]
    pub schedule: ScheduleLayer,
    #[command(flatten)]
    pub range_test: RangeTestLayer,
}

impl Layer {
    /// Each value of `self` where given, else `lower`'s.
    pub fn over(self, lower: Layer) -> Layer {
        Layer {
            data: self.data.over(lower.data),
            model: self.model.over(lower.model),
            run: self.run.over(lower.run),
            schedule: self.schedule.over(lower.schedule),
            range_test: self.range_test.over(lower.range_test),
        }
    }

    /// The given values over the defaults, validated.
    pub fn resolve(self) -> Result<Config, UsageError> {
        let base = Config::default();
        let depth_given = self.model.depth.is_some();
        let mut model = self.model.apply(base.model);
        // Each network's own default depth and width when not given.
        if !depth_given {
            model.depth = model.arch.default_depth();
        }
        model.width = model.width.or(model.arch.default_width());
        let phases_given = self.schedule.phases.is_some();
        let run = self.run.apply(base.run);
        let mut schedule = self.schedule.apply(base.schedule);
        if let (false, Some(epochs), Policy::OneCycle) = (phases_given, run.epochs, schedule.policy) {
            schedule.phases = stretched_phases(&schedule.phases, epochs);
        }
        let config = Config {
            data: self.data.apply(base.data),
            model,
            run,
            schedule,
            range_test: self.range_test.apply(base.range_test),
            lr_source: None,
            class_names: None,
        };
        config.validate()?;
        Ok(config)
    }

    /// The field names that are given, in table order.
    pub fn given(&self) -> Vec<&'static str> {
        [self.data.given(), self.model.given(), self.run.given(), self.schedule.given(), self.range_test.given()]
            .concat()
    }

    /// Read a JSON config file: an object whose fields are the config fields (and an ignored
    /// `comment` string). Unknown fields, wrong types and invalid JSON are usage errors naming
    /// the file (and the field).
    pub fn from_file(path: &Path) -> Result<Layer, UsageError> {
        let place = format!("--config {}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| UsageError::new(format!("{place}: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| UsageError::new(format!("{place}: not valid JSON: {e}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(UsageError::new(format!("{place}: expected a JSON object")));
        };
        // One rule with the flags' (a setting given once, its value a value): JSON would quietly
        // keep one of two duplicate keys, and a null would quietly mean the default.
        let _: UniqueKeys = serde_json::from_str(&text).map_err(|e| UsageError::new(format!("{place}: {e}")))?;
        let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
        if let Some((key, _)) =
            map.iter().find(|(k, v)| v.is_null() && !defaults.get(k.as_str()).is_some_and(|d| d.is_null()))
        {
            return Err(UsageError::new(format!(
                "{place}: field `{key}` is null; leave it out for its default (null means \"automatic\" only where that \
                 is the default: {})",
                nullable(&defaults).join(", ")
            )));
        }
        let known =
            [DataLayer::FIELDS, ModelLayer::FIELDS, RunLayer::FIELDS, ScheduleLayer::FIELDS, RangeTestLayer::FIELDS]
                .concat();
        if let Some(unknown) =
            map.keys().find(|k| !known.contains(&k.as_str()) && !IGNORED_ON_INPUT.contains(&k.as_str()))
        {
            return Err(UsageError::new(format!(
                "{place}: unknown field `{unknown}`; valid fields: {}, comment",
                known.join(", ")
            )));
        }
        if let Some(comment) = map.get("comment").filter(|c| !c.is_string()) {
            return Err(UsageError::new(format!("{place}: field `comment`: expected a string, got {comment}")));
        }
        Ok(Layer {
            data: section(&map, &place)?,
            model: section(&map, &place)?,
            run: section(&map, &place)?,
            schedule: section(&map, &place)?,
            range_test: section(&map, &place)?,
        })
    }
}

/// A config file's object read only to refuse a key given twice.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut seen = std::collections::HashSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if !seen.insert(key.clone()) {
                        return Err(serde::de::Error::custom(format!("field `{key}` is given twice")));
                    }
                }
                Ok(UniqueKeys)
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// The fields whose default is null (automatic: `epochs`, `threads`, …), the only ones a null may set.
fn nullable(defaults: &serde_json::Value) -> Vec<&str> {
    defaults
        .as_object()
        .map_or_else(Vec::new, |m| m.iter().filter(|(_, v)| v.is_null()).map(|(k, _)| k.as_str()).collect())
}

/// One section's fields out of a config file's object (the others are ignored here).
fn section<T: Section>(map: &serde_json::Map<String, serde_json::Value>, place: &str) -> Result<T, UsageError> {
    let mine: serde_json::Map<_, _> =
        map.iter().filter(|(k, _)| T::FIELDS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    serde_path_to_error::deserialize(serde_json::Value::Object(mine))
        .map_err(|e| UsageError::new(format!("{place}: field `{}`: {}", e.path(), e.inner())))
}

impl ModelSettings {
    /// The network these settings describe, for data of `classes` classes and `image_size` px.
    pub fn net(&self, classes: usize, image_size: i64) -> NetConfig {
        NetConfig { arch: self.arch, depth: self.depth, width: self.width, classes: classes as i64, image_size }
    }
}

/// `n` consecutive seeds from `first` (`--seeds`, `--repeats`, `--verify-seeds`); None when they
/// would pass the largest seed.
pub fn seeds_from(first: u64, n: u64) -> Option<Vec<u64>> {
    first.checked_add(n.saturating_sub(1)).map(|_| (0..n).map(|i| first + i).collect())
}

/// A one-cycle run given its length (`--epochs`) but not its phases: the default phases' shape
/// (the seed's 41:41:13) stretched to that length, as fastai's `fit_one_cycle(n)` and PyTorch's
/// `OneCycleLR(epochs=n)` take a length alone. The tail takes what the two phases leave, so the
/// three add up to `epochs`.
pub fn stretched_phases(default: &[f64], epochs: f64) -> Vec<f64> {
    let total: f64 = default.iter().sum();
    let mut phases: Vec<f64> = default.iter().map(|p| p * epochs / total).collect();
    if let Some((tail, head)) = phases.split_last_mut() {
        *tail = (epochs - head.iter().sum::<f64>()).max(0.0);
    }
    phases
}

impl Config {
    /// Training length in epochs: `epochs`, else the one-cycle phases' sum rounded up.
    pub fn total_epochs(&self) -> f64 {
        self.run.epochs.unwrap_or_else(|| self.schedule.phases.iter().sum::<f64>().ceil())
    }

    /// The number `max_lr` holds, when it is one (not `auto` or a file still to read).
    pub fn max_lr_value(&self) -> Option<f64> {
        match self.schedule.max_lr {
            MaxLr::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The pure schedule's configuration of this run (`max_lr` None while not yet known).
    pub fn schedule_config(&self) -> Result<ScheduleConfig, UsageError> {
        let s = &self.schedule;
        let phases: [f64; 3] = match s.phases.as_slice() {
            [u, d, t] => [*u, *d, *t],
            [u, d] => [*u, *d, 0.0],
            _ => crate::usage!(
                "--phases (phases) takes UP,DOWN,TAIL (or UP,DOWN) in epochs, got {} values",
                s.phases.len()
            ),
        };
        let cycle_momentum = match s.cycle_momentum.as_deref() {
            None => None,
            Some([hi, lo]) => Some((*hi, *lo)),
            Some(v) => crate::usage!("--cycle-momentum (cycle_momentum) takes HIGH,LOW, got {} values", v.len()),
        };
        Ok(ScheduleConfig {
            policy: s.policy,
            base_lr: s.base_lr,
            max_lr: self.max_lr_value(),
            final_lr: s.final_lr,
            phases,
            step_size: s.step_size,
            gamma: s.gamma,
            milestones: s.milestones.clone(),
            anneal: s.anneal,
            momentum: self.model.momentum,
            cycle_momentum,
            epochs: self.total_epochs(),
            phase_ends: s.phase_ends,
        })
    }

    /// This config with the class names of the data it runs on, for its config.json.
    pub fn with_class_names(&self, names: Option<&[String]>) -> Config {
        Config { class_names: names.map(<[String]>::to_vec), ..self.clone() }
    }

    /// Write this config to `path` (a run folder's config.json), atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context;
        crate::files::write_json(path, self).with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests;
