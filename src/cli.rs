//! Command-line interface: clap derive structs with the help text. Flags that shape a run are
//! `Option`s so that a flag not given leaves the `--config` file's value (or the default) alone;
//! `config::Config::resolve` merges them and validates once.

use crate::config::{DatasetKind, Precision};
use crate::schedule::{Anneal, Policy, SweepMode};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "clr",
    version,
    about = "Leslie Smith's learning-rate discipline for CIFAR-10 ResNets: the LR range test, \
             cyclical and one-cycle policies, logs and plots"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch the CIFAR-10 binary archive, verify its MD5, extract it.
    Download(crate::download::DownloadArgs),
    /// Run the LR range test: lr_find.csv, range_test.json, range_test.png and a suggestion.
    RangeTest(RunArgs),
    /// Train with a learning-rate policy; writes config.json, steps.csv, epochs.csv,
    /// summary.json, curves.png and checkpoints into --out.
    Train(TrainArgs),
    /// Dry run of a schedule: CSV step,epoch,lr,momentum, one row per step.
    Schedule(ScheduleArgs),
    /// Test accuracy and loss of a saved checkpoint.
    Eval(EvalArgs),
    /// Redraw the PNG plots of a run folder from its CSV files.
    Plot(PlotArgs),
    /// Measure training and evaluation throughput (images/s); writes bench.json.
    Bench(BenchArgs),
}

/// Where the data comes from (shared by every command that reads it).
#[derive(Debug, Clone, Default, Args, Serialize)]
pub struct DataArgs {
    /// Data set: cifar10 (files in the CIFAR-10 binary layout) or synthetic (made in memory)
    /// [default: cifar10]
    #[arg(long, value_enum, help_heading = "Data")]
    pub dataset: Option<DatasetKind>,
    /// Folder with the .bin files, or one that holds cifar-10-batches-bin/ [default: data]
    #[arg(long, value_name = "DIR", help_heading = "Data")]
    pub data_dir: Option<PathBuf>,
    /// Mirror of the CIFAR-10 archive [default: $CLR_CIFAR10_URL, else the official URL]
    #[arg(long, help_heading = "Data")]
    pub url: Option<String>,
    /// MD5 the archive must match [default: $CLR_CIFAR10_MD5, else the official MD5]
    #[arg(long, help_heading = "Data")]
    pub md5: Option<String>,
    /// Fail instead of downloading when the data is missing [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", help_heading = "Data")]
    pub no_download: Option<bool>,
    /// Training images of --dataset synthetic [default: 50000]
    #[arg(long, value_name = "N", help_heading = "Data")]
    pub synthetic_train: Option<usize>,
    /// Test images of --dataset synthetic [default: 10000]
    #[arg(long, value_name = "N", help_heading = "Data")]
    pub synthetic_test: Option<usize>,
}

/// Every flag that shapes a training run, a range test or a schedule. Field names are the
/// config file's field names.
#[derive(Debug, Clone, Default, Args, Serialize)]
pub struct ConfigArgs {
    /// JSON config file; flags given on the command line override its fields
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    #[serde(flatten)]
    pub data: DataArgs,

    /// ResNet depth, 6n+2: 20, 32, 44, 56, 110 (tiny: 8, 14) [default: 56]
    #[arg(long, help_heading = "Model and optimiser")]
    pub depth: Option<usize>,
    /// Mini-batch size [default: 512]
    #[arg(long, help_heading = "Model and optimiser")]
    pub batch_size: Option<usize>,
    /// SGD momentum (constant unless --cycle-momentum) [default: 0.9]
    #[arg(long, help_heading = "Model and optimiser")]
    pub momentum: Option<f64>,
    /// L2 weight decay, PyTorch SGD semantics [default: 1e-4]
    #[arg(long, help_heading = "Model and optimiser")]
    pub weight_decay: Option<f64>,
    /// Nesterov momentum [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", help_heading = "Model and optimiser")]
    pub nesterov: Option<bool>,

    /// Training length in epochs [default: the one-cycle phases' sum, 95]
    #[arg(long, help_heading = "Run")]
    pub epochs: Option<f64>,
    /// auto, cpu, cuda or cuda:N; auto picks CUDA when present [default: auto]
    #[arg(long, help_heading = "Run")]
    pub device: Option<String>,
    /// fp32, or bf16 autocast (on the CPU or CUDA; batch norm, loss and SGD stay fp32) [default: fp32]
    #[arg(long, value_enum, help_heading = "Run")]
    pub precision: Option<Precision>,
    /// Seed of the initialisation, the shuffle and the augmentation [default: 0]
    #[arg(long, help_heading = "Run")]
    pub seed: Option<u64>,
    /// CPU threads for libtorch [default: libtorch's choice]
    #[arg(long, help_heading = "Run")]
    pub threads: Option<usize>,
    /// NHWC (channels-last) convolutions [default: auto: on for the CPU and for bf16 on CUDA]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", help_heading = "Run")]
    pub channels_last: Option<bool>,

    /// one-cycle, triangular, triangular2, exp-range, fixed or step [default: one-cycle]
    #[arg(long, help_heading = "Schedule")]
    pub policy: Option<Policy>,
    /// Lower LR bound (one-cycle start, cyclical base; the LR of fixed and step) [default: 0.08]
    #[arg(long, help_heading = "Schedule")]
    pub base_lr: Option<f64>,
    /// Upper LR bound: a number, auto (run the range test first), or a range_test.json
    /// [default: 0.8]
    #[arg(long, value_name = "LR|auto|FILE", help_heading = "Schedule")]
    pub max_lr: Option<String>,
    /// One-cycle: LR at the end of the tail [default: base_lr / 10]
    #[arg(long, help_heading = "Schedule")]
    pub final_lr: Option<f64>,
    /// One-cycle: UP,DOWN,TAIL in epochs, fractions allowed [default: 41,41,13]
    #[arg(long, value_delimiter = ',', value_name = "UP,DOWN,TAIL", help_heading = "Schedule")]
    pub phases: Option<Vec<f64>>,
    /// Cyclical policies: half a cycle, in epochs [default: 8]
    #[arg(long, value_name = "EPOCHS", help_heading = "Schedule")]
    pub step_size: Option<f64>,
    /// exp-range: LR amplitude factor per iteration [default: 0.99994]; step: factor at each
    /// milestone [default: 0.1]
    #[arg(long, help_heading = "Schedule")]
    pub gamma: Option<f64>,
    /// step: epochs at which the LR is multiplied by --gamma [default: 50% and 75% of --epochs]
    #[arg(long, value_delimiter = ',', value_name = "EPOCH,...", help_heading = "Schedule")]
    pub milestones: Option<Vec<f64>>,
    /// One-cycle interpolation: linear (the seed) or cos (fastai, PyTorch) [default: linear]
    #[arg(long, help_heading = "Schedule")]
    pub anneal: Option<Anneal>,
    /// Momentum moving against the LR, e.g. 0.95,0.85 [default: off, constant --momentum]
    #[arg(long, value_delimiter = ',', value_name = "HIGH,LOW", help_heading = "Schedule")]
    pub cycle_momentum: Option<Vec<f64>>,

    /// Range test: first LR [default: 1e-4]
    #[arg(long, help_heading = "Range test")]
    pub start_lr: Option<f64>,
    /// Range test: LR reached after --iters steps [default: 10]
    #[arg(long, help_heading = "Range test")]
    pub end_lr: Option<f64>,
    /// Range test: number of steps over which the LR goes from start to end
    /// [default: 3 epochs of data]
    #[arg(long, help_heading = "Range test")]
    pub iters: Option<u64>,
    /// Range test: exp (lr_i = start*(end/start)^(i/n), the seed's) or linear [default: exp]
    #[arg(long, help_heading = "Range test")]
    pub mode: Option<SweepMode>,
    /// Range test: beta of the bias-corrected moving average of the loss, 0 = none
    /// [default: 0.98]
    #[arg(long, help_heading = "Range test")]
    pub smooth: Option<f64>,
    /// Range test: stop once the smoothed loss exceeds this multiple of its minimum
    /// [default: 4]
    #[arg(long, help_heading = "Range test")]
    pub diverge: Option<f64>,
    /// Range test: after each step, use the loss on N held-out batches (the test split, in
    /// evaluation mode) instead of the training batch's: a smoother curve [default: 0, off]
    #[arg(long, value_name = "N", help_heading = "Range test")]
    pub val_batches: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Run folder for the outputs [default: a new folder under runs/]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Plain log lines instead of a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Continue the stopped run in this folder from its last checkpoint, with its config.json
    /// (only --device, --threads, --no-progress and the data-location flags may be given)
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Mini-batches per epoch (e.g. 98 for CIFAR-10 at batch 512)
    /// [default: from --batch-size and 50,000 images]
    #[arg(long, value_name = "N")]
    pub steps_per_epoch: Option<u64>,
    /// Write the CSV here instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also draw LR and momentum against the step into this PNG
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Checkpoint file written by clr train (RUN_DIR/checkpoint.pt)
    #[arg(long, value_name = "FILE")]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Evaluation batch size
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// fp32, or bf16 autocast (the checkpoint is fp32 either way)
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: Precision,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Run folder holding steps.csv/epochs.csv and/or lr_find.csv
    pub run_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Timed training steps (after the warm-up)
    #[arg(long, default_value_t = 50)]
    pub steps: u64,
    /// Untimed warm-up steps
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Write the JSON here
    #[arg(long, value_name = "FILE", default_value = "bench.json")]
    pub out: PathBuf,
}
