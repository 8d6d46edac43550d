//! Every setting of a run, stated once: its config-file field (= flag name with `_` for `-`),
//! its type, its default and its `--help` text. The `settings!` macro turns each table into two
//! structs: the resolved section of [`Config`](super::Config) (plain values) and its layer (the
//! same fields as `Option`s, `None` = not given), which clap fills from the command line and serde
//! from a config file. Layers merge field by field (`over`) and are applied over the defaults
//! (`apply`), so no value ever travels as an untyped key.
//!
//! To add a setting: add one line to a table below, check it in `validate.rs`, use `config.x.y`.

use super::{DatasetKind, DeviceSpec, Labels, MaxLr, Precision};
use crate::lr_finder::{RampMode, Rule};
use crate::model::arch::Arch;
use crate::optim::schedule::{Anneal, PhaseEnds, Policy};
use std::path::PathBuf;

/// How a layer field becomes the resolved value: a plain setting takes the given value or its
/// default; an optional one (`T => Option<T>`) stays `None` (auto) unless given.
pub trait Resolve<T>: Sized {
    fn resolve(given: Option<T>, default: Self) -> Self;
}

impl<T> Resolve<T> for T {
    fn resolve(given: Option<T>, default: T) -> T {
        given.unwrap_or(default)
    }
}

impl<T> Resolve<T> for Option<T> {
    fn resolve(given: Option<T>, default: Option<T>) -> Option<T> {
        given.or(default)
    }
}

/// A layer of one section, as a config file holds it.
pub trait Section: serde::de::DeserializeOwned {
    /// The field names, as in config files (flags: `--` and `-` for `_`).
    const FIELDS: &'static [&'static str];
}

/// clap's parser for every real-valued flag: NaN and infinities are usage errors that name the
/// flag (a JSON file cannot hold them).
pub fn finite(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{s} is not a finite number"))
    }
}

macro_rules! settings {
    (
        $(#[$smeta:meta])*
        $config:ident / $layer:ident, heading $heading:literal {
            $( $(#[$fmeta:meta])* $field:ident : $lt:ty => $ct:ty = $default:expr ; )*
        }
    ) => {
        $(#[$smeta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        pub struct $config {
            $( pub $field: $ct, )*
        }

        impl Default for $config {
            fn default() -> Self {
                $config { $( $field: $default, )* }
            }
        }

        $(#[$smeta])*
        /// One source's values (`None`: not given there).
        #[derive(Debug, Clone, Default, PartialEq, clap::Args, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $layer {
            $( $(#[$fmeta])* #[arg(long, help_heading = $heading)] pub $field: Option<$lt>, )*
        }

        impl Section for $layer {
            const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
        }

        impl $layer {
            /// Each field of `self` where given, else `lower`'s.
            pub fn over(self, lower: Self) -> Self {
                Self { $( $field: self.$field.or(lower.$field), )* }
            }

            /// The resolved section: each given value, else `base`'s.
            pub fn apply(self, base: $config) -> $config {
                $config { $( $field: Resolve::resolve(self.$field, base.$field), )* }
            }

            /// The names of the fields that are given.
            pub fn given(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $( if self.$field.is_some() { names.push(stringify!($field)); } )*
                names
            }
        }
    };
}

settings! {
    /// Where the data comes from.
    DataSettings / DataLayer, heading "Data" {
        /// Data set: cifar10, cifar100 (files in their binary layouts), mnist, fashion-mnist (IDX
        /// files), folder (your images: DIR/train/CLASS/*.png|jpg and DIR/test/CLASS/...) or synthetic
        /// (made in memory, 10 classes)
        dataset: DatasetKind => DatasetKind = DatasetKind::Cifar10;
        /// cifar100's classes: fine (100) or coarse (the 20 super-classes); the other data sets
        /// have one label per image, and coarse is an error with them
        labels: Labels => Labels = Labels::Fine;
        /// Folder with the .bin files, or one that holds cifar-10-batches-bin/ (cifar100:
        /// cifar-100-binary/; mnist, fashion-mnist: the four IDX files, or mnist/, fashion-mnist/);
        /// folder: the image folder
        #[arg(value_name = "DIR")]
        data_dir: PathBuf => PathBuf = PathBuf::from("data");
        /// Mirror of the archive [default: $CLR_CIFAR10_URL (cifar100: $CLR_CIFAR100_URL), else the
        /// official URL]; mnist, fashion-mnist: the folder URL of the four files ($CLR_MNIST_URL,
        /// $CLR_FASHION_MNIST_URL)
        url: String => Option<String> = None;
        /// MD5 the archive must match [default: $CLR_CIFAR10_MD5 (cifar100: $CLR_CIFAR100_MD5), else
        /// the official MD5]; mnist, fashion-mnist: four, comma-separated, in the order train
        /// images, train labels, test images, test labels ($CLR_MNIST_MD5, $CLR_FASHION_MNIST_MD5)
        md5: String => Option<String> = None;
        /// Fail instead of downloading when the data is missing
        #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        no_download: bool => bool = false;
        /// Training images of --dataset synthetic
        #[arg(value_name = "N")]
        synthetic_train: usize => usize = 50_000;
        /// Test images of --dataset synthetic
        #[arg(value_name = "N")]
        synthetic_test: usize => usize = 10_000;
        /// Side of the square images the network sees, in pixels [default: 32; mnist, fashion-mnist:
        /// 28x28 zero-padded to 32, another size resizes them; folder: the images' own size when they
        /// all agree]. folder: each image is resized so that its shorter side is S, then centre-cropped
        #[arg(value_name = "S")]
        image_size: usize => Option<usize> = None;
        /// folder: hold out this fraction of each class (a seeded draw, the same on every run) as the
        /// test split, for a DIR without test/ or valid/ [default: none: DIR needs test/ or valid/]
        #[arg(value_name = "F", value_parser = finite)]
        valid_fraction: f64 => Option<f64> = None;
        /// folder: where the decoded images are cached [default: DIR/.clr-cache]
        #[arg(value_name = "DIR")]
        cache_dir: PathBuf => Option<PathBuf> = None;
        /// folder: an unreadable or corrupt image is an error, instead of skipped with a warning
        #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        strict: bool => bool = false;
    }
}

settings! {
    /// The network and its optimiser.
    ModelSettings / ModelLayer, heading "Model and optimiser" {
        /// Network: resnet (He et al.'s CIFAR ResNet), preact-resnet18 (pre-activation ResNet-18,
        /// for images larger than 32 px too), wrn (wide ResNet WRN-depth-width), densenet (DenseNet,
        /// growth rate 12), lenet5 (LeCun et al.'s LeNet-5, 32 px and up), smith3 (Caffe's 3-layer
        /// CIFAR-10 net of Smith's CLR paper) or smith-wide (the wide ResNet of Smith's one-cycle runs)
        arch: Arch => Arch = Arch::ResNet;
        /// Depth: resnet and smith-wide 6n+2 (20, 32, 44, 56, 110; tiny: 8, 14), wrn 6n+4 (16, 28;
        /// tiny: 10), densenet 3n+4 (40, 100; tiny: 7); fixed for the others. Without it: resnet 56,
        /// wrn 28, densenet 40, smith-wide 32
        depth: usize => usize = 56;
        /// Channel multiplier of wrn (k: WRN-28-10) and smith-wide (channels ×width from stage to
        /// stage) [default: wrn 10, smith-wide 4; the other networks have none]
        width: usize => Option<usize> = None;
        /// Mini-batch size
        batch_size: usize => usize = 512;
        /// SGD momentum (constant unless --cycle-momentum)
        #[arg(value_parser = finite)]
        momentum: f64 => f64 = 0.9;
        /// L2 weight decay, PyTorch SGD semantics
        #[arg(value_parser = finite)]
        weight_decay: f64 => f64 = 1e-4;
        /// Nesterov momentum
        #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        nesterov: bool => bool = false;
    }
}

settings! {
    /// How long, where and how the run computes.
    RunSettings / RunLayer, heading "Run" {
        /// Training length in epochs [default: the one-cycle phases' sum, 95]
        #[arg(value_parser = finite)]
        epochs: f64 => Option<f64> = None;
        /// auto, cpu, cuda or cuda:N; auto picks CUDA when present
        device: DeviceSpec => DeviceSpec = DeviceSpec::Auto;
        /// fp32, or bf16 autocast (on the CPU or CUDA; batch-norm statistics, loss and SGD stay fp32)
        precision: Precision => Precision = Precision::Fp32;
        /// Seed of the initialisation, the shuffle and the augmentation
        seed: u64 => u64 = 0;
        /// CPU threads for libtorch [default: libtorch's choice]
        threads: usize => Option<usize> = None;
        /// NHWC (channels-last) convolutions [default: auto: on for the CPU and for bf16 on CUDA]
        #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        channels_last: bool => Option<bool> = None;
        /// Also write TensorBoard event files into the run folder, as the run goes
        /// (`tensorboard --logdir runs`)
        #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        tensorboard: bool => bool = false;
    }
}

settings! {
    /// The learning-rate and momentum policy.
    ScheduleSettings / ScheduleLayer, heading "Schedule" {
        /// one-cycle, triangular, triangular2, exp-range, fixed or step
        policy: Policy => Policy = Policy::OneCycle;
        /// Lower LR bound (one-cycle start, cyclical base; the LR of fixed and step)
        #[arg(value_parser = finite)]
        base_lr: f64 => f64 = 0.08;
        /// Upper LR bound: a number, auto (run the range test first), or a range_test.json or
        /// sweep.json (its proposal)
        #[arg(value_name = "LR|auto|FILE")]
        max_lr: MaxLr => MaxLr = MaxLr::Value(0.8);
        /// One-cycle: LR at the end of the tail [default: base_lr / 10]
        #[arg(value_parser = finite)]
        final_lr: f64 => Option<f64> = None;
        /// One-cycle: UP,DOWN,TAIL in epochs, fractions allowed; with --epochs alone, the default's
        /// shape stretched to it (--epochs 10: 4.32,4.32,1.37)
        #[arg(value_delimiter = ',', value_name = "UP,DOWN,TAIL", value_parser = finite)]
        phases: Vec<f64> => Vec<f64> = vec![41.0, 41.0, 13.0];
        /// Cyclical policies: half a cycle, in epochs
        #[arg(value_name = "EPOCHS", value_parser = finite)]
        step_size: f64 => f64 = 8.0;
        /// exp-range: LR amplitude factor per iteration [default: 0.99994]; step: factor at each
        /// milestone [default: 0.1]
        #[arg(value_parser = finite)]
        gamma: f64 => Option<f64> = None;
        /// step: epochs at which the LR is multiplied by --gamma [default: 50% and 75% of --epochs]
        #[arg(value_delimiter = ',', value_name = "EPOCH,...", value_parser = finite)]
        milestones: Vec<f64> => Option<Vec<f64>> = None;
        /// One-cycle interpolation: linear (the seed) or cos (fastai, PyTorch)
        anneal: Anneal => Anneal = Anneal::Linear;
        /// One-cycle: where the phases end: epoch (on epoch boundaries, the seed's) or pytorch
        /// (OneCycleLR(three_phase=True)'s steps, one or two earlier; needs UP = DOWN and a TAIL)
        phase_ends: PhaseEnds => PhaseEnds = PhaseEnds::Epoch;
        /// Momentum moving against the LR, e.g. 0.95,0.85 [default: off, constant --momentum]
        #[arg(value_delimiter = ',', value_name = "HIGH,LOW", value_parser = finite)]
        cycle_momentum: Vec<f64> => Option<Vec<f64>> = None;
    }
}

settings! {
    /// The LR range test.
    RangeTestSettings / RangeTestLayer, heading "Range test" {
        /// Range test: first LR
        #[arg(value_parser = finite)]
        start_lr: f64 => f64 = 1e-4;
        /// Range test: the LR the test heads for; step i of n trains at start*(end/start)^(i/n), so
        /// the last step, n-1, is just below it
        #[arg(value_parser = finite)]
        end_lr: f64 => f64 = 10.0;
        /// Range test: number of steps over which the LR goes from start to end
        /// [default: 3 epochs of data; an exp test at least 30 steps per decade of LR]
        iters: u64 => Option<u64> = None;
        /// Range test: exp (lr_i = start*(end/start)^(i/n), the seed's) or linear
        mode: RampMode => RampMode = RampMode::Exp;
        /// Range test: the rule that makes the suggestion (suggested_lr, and so max_lr): floor (the
        /// middle of the loss's floor in log LR, measured best against grids of short runs), seed
        /// (the LR at the lowest smoothed loss / 10), steepest or valley (fastai's)
        rule: Rule => Rule = Rule::Floor;
        /// Range test: beta of the bias-corrected moving average of the loss, 0 = none
        #[arg(value_parser = finite)]
        smooth: f64 => f64 = 0.98;
        /// Range test: stop once the smoothed loss exceeds this multiple of its minimum
        #[arg(value_parser = finite)]
        diverge: f64 => f64 = 4.0;
        /// Range test: after each step, use the loss on N held-out batches (the test split, with
        /// batch statistics as in training) instead of the training batch's: a smoother curve
        /// that sees over-fitting; its pick measured about as good as the training loss's
        /// (BENCHMARKS.md) (0: off)
        #[arg(value_name = "N")]
        val_batches: usize => usize = 0;
        /// Range test: run it at N seeds (--seed, --seed+1, ...; each its own initial weights and
        /// data order, in OUT/seed=S/) and suggest the geometric median of their LRs: one test's
        /// pick moves 2-4x with its seed, a median of 5 hardly (BENCHMARKS.md)
        #[arg(value_name = "N")]
        repeats: usize => usize = 1;
    }
}
