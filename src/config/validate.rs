//! The checks of a [`Config`], run once when it is resolved. Each error is one line naming the flag
//! and the config field. Nothing here touches the filesystem or the device: a `--max-lr FILE` is
//! read, and `--device cuda:3` looked for, where they are used.

use super::{Config, DataSettings, DatasetKind, Labels, ModelSettings, RangeTestSettings, RunSettings};
use crate::error::UsageError;
use crate::lr_finder::analysis::MIN_POINTS;
use crate::model::arch::IMAGE_SIZE;
use crate::optim::schedule::{check_steps, list};

/// The most seeds `--repeats` runs (each a whole range test).
pub const MAX_REPEATS: usize = 20;

impl Config {
    pub fn validate(&self) -> Result<(), UsageError> {
        self.data.validate()?;
        self.model.validate()?;
        // The network on the data's images (an image folder's own size is checked once read).
        self.model.net(10, self.data.image_size.map_or(IMAGE_SIZE, |s| s as i64)).check()?;
        self.run.validate()?;
        self.range_test.validate()?;
        let repeats = self.range_test.repeats as u64;
        if super::seeds_from(self.run.seed, repeats).is_none() {
            crate::usage!("--repeats (repeats) {repeats} from --seed {} would pass the largest seed", self.run.seed);
        }
        // Without --epochs the phases set the run's length: a length too long to run names them.
        if self.run.epochs.is_none() {
            let p = &self.schedule.phases;
            check_steps(p.iter().sum(), || {
                format!("--phases (phases) {} (the run's epochs without --epochs, at one step per epoch)", list(p))
            })?;
        }
        self.schedule_config()?.validate()
    }
}

impl DataSettings {
    fn validate(&self) -> Result<(), UsageError> {
        if self.dataset == DatasetKind::Synthetic && (self.synthetic_train == 0 || self.synthetic_test == 0) {
            crate::usage!("--synthetic-train/--synthetic-test must be at least 1");
        }
        // Only CIFAR-100 has two labels; a coarse run on anything else would quietly be a fine one.
        if self.labels == Labels::Coarse && self.dataset != DatasetKind::Cifar100 {
            crate::usage!(
                "--labels (labels) coarse needs --dataset cifar100: {} has one label per image (leave --labels fine)",
                self.dataset
            );
        }
        self.validate_images()
    }

    /// The image size, and the settings that only an image folder reads: a setting the data set
    /// ignores would silently do nothing.
    fn validate_images(&self) -> Result<(), UsageError> {
        let (dataset, folder) = (self.dataset, self.dataset == DatasetKind::Folder);
        match self.image_size {
            Some(s) if !(MIN_IMAGE_SIZE..=MAX_IMAGE_SIZE).contains(&s) => {
                crate::usage!("--image-size (image_size) must be {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} pixels, got {s}")
            }
            Some(s) if s != 32 && matches!(dataset, DatasetKind::Cifar10 | DatasetKind::Cifar100) => crate::usage!(
                "--image-size (image_size) {s}: {dataset} images are 32x32 (other sizes: --dataset folder, mnist, \
                 fashion-mnist or synthetic)"
            ),
            _ => {}
        }
        if let Some(f) = self.valid_fraction {
            if !folder {
                crate::usage!(
                    "--valid-fraction (valid_fraction) needs --dataset folder: {dataset} has its own test split"
                );
            }
            if !(f > 0.0 && f < 1.0) {
                crate::usage!("--valid-fraction (valid_fraction) must be between 0 and 1 (exclusive), got {f}");
            }
        }
        if !folder && self.cache_dir.is_some() {
            crate::usage!("--cache-dir (cache_dir) needs --dataset folder: {dataset} is read without a cache");
        }
        if !folder && self.strict {
            crate::usage!("--strict (strict) needs --dataset folder: {dataset} has no image files to skip");
        }
        Ok(())
    }
}

/// The deepest ResNet clr builds: 6 × 1000 + 2.
const MAX_DEPTH: usize = 6002;

/// The image sizes a run accepts: from LeNet-sized inputs to large photographs.
pub const MIN_IMAGE_SIZE: usize = 8;
pub const MAX_IMAGE_SIZE: usize = 1024;

impl ModelSettings {
    fn validate(&self) -> Result<(), UsageError> {
        // Building the model is a loop over its blocks: a depth of billions ran for ever.
        if self.depth > MAX_DEPTH {
            crate::usage!(
                "--depth (depth) must be at most {MAX_DEPTH} (1000 blocks a stage; He et al.'s deepest CIFAR ResNet \
                 is 1202), got {}",
                self.depth
            );
        }
        if self.batch_size == 0 {
            crate::usage!("--batch-size (batch_size) must be at least 1");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            crate::usage!("--weight-decay (weight_decay) must be >= 0, got {}", self.weight_decay);
        }
        Ok(())
    }
}

impl RunSettings {
    fn validate(&self) -> Result<(), UsageError> {
        if let Some(e) = self.epochs {
            if !(e > 0.0 && e.is_finite()) {
                crate::usage!("--epochs (epochs) must be positive, got {e}");
            }
        }
        if self.threads == Some(0) {
            crate::usage!("--threads (threads) must be at least 1");
        }
        Ok(())
    }
}

impl RangeTestSettings {
    fn validate(&self) -> Result<(), UsageError> {
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
        match self.iters {
            Some(n) if n < MIN_POINTS as u64 => crate::usage!(
                "--iters (iters) must be at least {MIN_POINTS}, the points a range test needs to suggest an LR; got {n}"
            ),
            Some(n) => check_steps(n as f64, || format!("--iters (iters) {n}"))?,
            None => {}
        }
        // Written so that NaN fails both checks.
        if !(self.smooth >= 0.0 && self.smooth < 1.0) {
            crate::usage!("--smooth (smooth) must be in [0, 1): {}", self.smooth);
        }
        if !(1..=MAX_REPEATS).contains(&self.repeats) {
            crate::usage!("--repeats (repeats) must be from 1 to {MAX_REPEATS}, got {}", self.repeats);
        }
        // Infinite would never stop and cannot be written to range_test.json.
        if !(self.diverge > 1.0 && self.diverge.is_finite()) {
            crate::usage!("--diverge (diverge) must be a finite number greater than 1: {}", self.diverge);
        }
        Ok(())
    }
}
