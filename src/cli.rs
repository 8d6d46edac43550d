//! The command line: clap derive structs with the help text of every command. The settings of a
//! run are one [`Layer`] (its flags and help come from the tables in `config/settings.rs`); the
//! `[default: …]` of each is added to its help from `Config::default()`, where it is stated once.

use crate::config::{finite, Config, DataLayer, Layer};
use crate::config::{DatasetKind, DeviceSpec, Precision};
use crate::lr_finder::Sweep;
use clap::{Args, CommandFactory, Parser, Subcommand};
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
    /// Fetch the CIFAR-10 (or CIFAR-100) binary archive, verify its MD5, extract it; or the four
    /// IDX files of MNIST or Fashion-MNIST, each verified.
    Download(DownloadArgs),
    /// Run the LR range test: lr_find.csv, range_test.json, range_test.png and a suggestion
    /// (with --sweep: one test per value of a second hyper-parameter, and the value to use).
    RangeTest(RangeTestArgs),
    /// Train with a learning-rate policy; writes config.json, steps.csv, epochs.csv,
    /// summary.json, curves.png and checkpoints into --out.
    Train(TrainArgs),
    /// Dry run of a schedule: CSV step,epoch,lr,momentum, one row per step.
    Schedule(ScheduleArgs),
    /// Test accuracy and loss of a saved checkpoint.
    Eval(EvalArgs),
    /// The most likely classes of image files (PNG, JPEG) by a saved checkpoint.
    Predict(PredictArgs),
    /// Redraw the PNG plots of a run folder from its CSV files.
    Plot(PlotArgs),
    /// Write a trained network in a file PyTorch loads without clr: TorchScript (torch.jit.load;
    /// input: float RGB in [0, 1], normalisation inside; output: logits) or safetensors
    /// (PyTorch's parameter and buffer names; arch, classes and the normalisation in its metadata).
    Export(ExportArgs),
    /// Measure training and evaluation throughput (images/s); writes bench.json.
    Bench(BenchArgs),
    /// Short one-cycle runs over a geometric grid of max_lr, from the same initial weights and data
    /// order: grid.csv, grid.json, grid.png; with a range test, each suggestion rule's regret (the
    /// best accuracy of the grid minus the accuracy at the rule's LR).
    Grid(GridArgs),
    /// Training runs side by side: a table (best and final test accuracy, epochs and seconds to
    /// --target) and one PNG of test accuracy, test loss and LR per epoch and per second.
    Compare(CompareArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DownloadArgs {
    /// Which data set: cifar10, cifar100, mnist or fashion-mnist (synthetic data is made in memory
    /// and a folder is yours: neither is downloaded)
    #[arg(long, default_value = "cifar10")]
    pub dataset: DatasetKind,
    /// Folder for the data; the files land in DIR/cifar-10-batches-bin (cifar100:
    /// DIR/cifar-100-binary, mnist: DIR/mnist, fashion-mnist: DIR/fashion-mnist)
    #[arg(long, value_name = "DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Archive to fetch [default: $CLR_CIFAR10_URL (cifar100: $CLR_CIFAR100_URL), else the
    /// official URL]; mnist, fashion-mnist: the folder URL of the four .gz files [default:
    /// $CLR_MNIST_URL, $CLR_FASHION_MNIST_URL, else the official one]
    #[arg(long)]
    pub url: Option<String>,
    /// MD5 the archive must match [default: $CLR_CIFAR10_MD5 (cifar100: $CLR_CIFAR100_MD5), else
    /// the official checksum]; mnist, fashion-mnist: four, comma-separated, in the order train
    /// images, train labels, test images, test labels [default: $CLR_MNIST_MD5,
    /// $CLR_FASHION_MNIST_MD5, else the official ones]
    #[arg(long, value_name = "HEX")]
    pub md5: Option<String>,
    /// Do not draw a progress bar
    #[arg(long)]
    pub no_progress: bool,
}

/// The settings of a run: `--config FILE` and the flags that override it.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    /// JSON config file; flags given on the command line override its fields
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub flags: Layer,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Run folder for the outputs [default: a new folder under runs/]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Plain log lines instead of a progress bar
    #[arg(long)]
    pub no_progress: bool,
    /// Several processes: options of the launch, not stored in config.json (see dist::setup).
    #[command(flatten)]
    pub dist: crate::dist::DistArgs,
}

#[derive(Debug, Args)]
pub struct RangeTestArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// One range test per value of a second hyper-parameter, each from the same initial weights
    /// and data order: NAME is weight-decay, momentum or batch-size (e.g. weight-decay=1e-3,1e-4).
    /// Each test goes to OUT/NAME=VALUE/; OUT gets sweep.csv, sweep.json (the favoured value: the
    /// lowest loss, ties within 1% going to the curve that diverges later) and sweep.png
    /// [default: off: a single range test]
    #[arg(long, value_name = "NAME=V1,V2,...", help_heading = "Range test")]
    pub sweep: Option<Sweep>,
    /// Continue the --sweep stopped in this folder (Ctrl-C, or killed), with its config.json: only
    /// the values that did not finish run (only --device, --threads, --no-progress, the
    /// data-location flags and the Distributed options may be given)
    #[arg(long, value_name = "OUT")]
    pub resume: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Continue the stopped run in this folder from its last checkpoint, with its config.json
    /// (only --device, --threads, --no-progress, the data-location flags and the Distributed
    /// options may be given: a run may continue on another number of processes)
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// With --max-lr auto (or a range_test.json): before training, N short one-cycle runs at the
    /// suggestion x0.5 ... x2 (OUT/verify/, a clr grid) choose the max_lr that trains best
    /// (config.json's lr_source lists them) [default: off; N: 3]
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "3", conflicts_with = "resume")]
    #[arg(value_parser = clap::value_parser!(u64).range(2..=9))]
    pub verify: Option<u64>,
    /// The epochs of each --verify run
    #[arg(long, value_name = "EPOCHS", default_value_t = 3.0, requires = "verify", value_parser = finite)]
    pub verify_epochs: f64,
    /// Each --verify candidate at N seeds (--seed, --seed+1, ...), chosen by its mean final
    /// accuracy: one short run's accuracy moves by about a point between seeds
    #[arg(long, value_name = "N", default_value_t = 1, requires = "verify")]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=10))]
    pub verify_seeds: u64,
}

#[derive(Debug, Args)]
pub struct GridArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The max_lr of each run, e.g. 0.05,0.1,0.2,0.4 (each run's base_lr is max / 10 unless
    /// --base-lr is given); with --resume, values to add to the grid (to refine it around its
    /// best: its finished runs are kept) [default: --from/--to/--points; with --range-test and
    /// neither: 7 points from a tenth to ten times its suggestion]
    #[arg(long, value_delimiter = ',', value_name = "LR,...", value_parser = finite, help_heading = "Grid")]
    #[arg(conflicts_with_all = ["from", "to"])]
    pub max_lrs: Option<Vec<f64>>,
    /// The lowest max_lr of a geometric grid
    #[arg(long, value_name = "LR", value_parser = finite, requires = "to", help_heading = "Grid")]
    pub from: Option<f64>,
    /// The highest max_lr of a geometric grid
    #[arg(long, value_name = "LR", value_parser = finite, requires = "from", help_heading = "Grid")]
    pub to: Option<f64>,
    /// Runs of the geometric grid, --from and --to included
    #[arg(long, value_name = "N", default_value_t = 7, help_heading = "Grid")]
    pub points: usize,
    /// Runs per max_lr, at seeds --seed, --seed+1, ...: the grid compares each value's mean final
    /// accuracy (and measures regret against it), and prints the seeds' spread: one run's
    /// accuracy moves by points between seeds [default: 1]; with --resume, the grid's new
    /// number of seeds (seeds to add to a grid of several: its runs are kept)
    #[arg(long, value_name = "N", help_heading = "Grid")]
    pub seeds: Option<usize>,
    /// Measure the range test's rules against the grid: a range-test folder, or auto (run one
    /// first, into OUT/range_test/, with the range-test flags given); with --resume, a folder to
    /// measure against the grid instead of the one it had [default: no range test]
    #[arg(long, value_name = "DIR|auto", help_heading = "Grid")]
    pub range_test: Option<String>,
    /// Continue the stopped grid in this folder (finished runs are kept, the stopped one resumes
    /// from its checkpoint); only --max-lrs (values to add), --seeds (seeds to add), --range-test,
    /// --device, --threads, --no-progress, the data-location flags and the Distributed options may
    /// be given
    #[arg(long, value_name = "DIR", conflicts_with_all = ["from", "to"])]
    pub resume: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
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
    pub data: DataLayer,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Evaluation batch size
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// fp32, or bf16 autocast (the checkpoint is fp32 either way)
    #[arg(long, default_value = "fp32")]
    pub precision: Precision,
    /// CPU threads for libtorch [default: libtorch's choice]
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Checkpoint file written by clr train (RUN_DIR/checkpoint.pt); it records the image size,
    /// the training set's statistics and, for folders and MNIST-format sets, the class names
    #[arg(long, value_name = "FILE")]
    pub checkpoint: PathBuf,
    /// Image files (PNG or JPEG), each decoded and resized as an image folder's cache does
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// How many classes to print per image, most likely first (at most the model's classes)
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub top_k: u64,
    /// auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// fp32, or bf16 autocast (the checkpoint is fp32 either way)
    #[arg(long, default_value = "fp32")]
    pub precision: Precision,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Run folder holding steps.csv/epochs.csv and/or lr_find.csv
    pub run_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run folder of clr train (its checkpoint.pt), or a checkpoint file
    pub run_dir: PathBuf,
    /// torchscript (the traced network, evaluation mode) or safetensors (its variables)
    #[arg(long)]
    pub format: crate::export::Format,
    /// The file to write (e.g. model.pt, model.safetensors)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
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

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run folders of clr train (each with epochs.csv; a run still in progress is fine)
    #[arg(required = true, value_name = "RUN_DIR")]
    pub run_dirs: Vec<PathBuf>,
    /// The PNG to write
    #[arg(long, value_name = "FILE", default_value = "compare.png")]
    pub out: PathBuf,
    /// Also write the table as CSV here (empty fields where the table shows "-")
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Test accuracy (a fraction): the table gives the epochs and training seconds each run took to
    /// first reach it
    #[arg(long, value_name = "ACC", default_value_t = 0.9, value_parser = crate::config::finite)]
    pub target: f64,
}

/// The clap command, every setting's help ending with its default from `Config::default()`, a
/// flag given twice keeping its last value (as in ripgrep), so that a wrapper can override, and
/// negative numbers taken as values.
pub fn command() -> clap::Command {
    let defaults = match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    Cli::command().mut_subcommands(|sub| {
        // `bench` measures on synthetic images unless told otherwise (its own preset).
        let mut defaults = defaults.clone();
        if sub.get_name() == "bench" {
            defaults.insert("dataset".into(), serde_json::Value::String("synthetic".into()));
        }
        if sub.get_name() == "grid" {
            defaults.insert("phases".into(), serde_json::json!(crate::grid::PHASES));
        }
        sub.args_override_self(true).mut_args(|arg| {
            // `--max-lr -0`, `--seed -1`: the value goes to the flag, whose own check then
            // speaks (clap would take it for an unknown flag `-0`).
            // A list (`--phases -1,2,3`) is no number to clap: it takes any value starting with '-'.
            let arg = match (arg.get_action().takes_values(), arg.get_value_delimiter().is_some()) {
                (true, true) => arg.allow_hyphen_values(true),
                (true, false) => arg.allow_negative_numbers(true),
                _ => arg,
            };
            let id = arg.get_id().as_str().to_string();
            match defaults.get(&id).and_then(default_text) {
                Some(text) if arg.get_default_values().is_empty() => with_default(arg, &text),
                _ => arg,
            }
        })
    })
}

/// A default as the help shows it (`1e-4`, `41,41,13`, `one-cycle`); None when there is none.
fn default_text(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => n.as_f64().map(number_text),
        Value::Array(items) => items.iter().map(default_text).collect::<Option<Vec<_>>>().map(|v| v.join(",")),
        other => Some(other.to_string()),
    }
}

/// Short and exact: `1e-4` rather than `0.0001`, `10` rather than `10.0`.
fn number_text(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn with_default(arg: clap::Arg, text: &str) -> clap::Arg {
    let suffix = format!(" [default: {text}]");
    let long = arg.get_long_help().map(|h| format!("{h}{suffix}"));
    let short = arg.get_help().map(|h| format!("{h}{suffix}"));
    let arg = match short {
        Some(h) => arg.help(h),
        None => arg,
    };
    match long {
        Some(h) => arg.long_help(h),
        None => arg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_read_as_users_write_them() {
        assert_eq!(number_text(1e-4), "1e-4");
        assert_eq!(number_text(0.98), "0.98");
        assert_eq!(number_text(10.0), "10");
        assert_eq!(number_text(0.0), "0");
        assert_eq!(default_text(&serde_json::json!([41.0, 41.0, 13.0])).as_deref(), Some("41,41,13"));
        assert_eq!(default_text(&serde_json::json!(null)), None);
    }

    #[test]
    fn bench_says_its_own_default_data_set() {
        let help = |name: &str| {
            let mut cmd = command();
            let sub = cmd.find_subcommand_mut(name).unwrap();
            let text = sub.get_arguments().find(|a| a.get_id() == "dataset").unwrap().get_help().unwrap().to_string();
            text
        };
        assert!(help("bench").ends_with("[default: synthetic]"), "{}", help("bench"));
        assert!(help("train").ends_with("[default: cifar10]"), "{}", help("train"));
    }

    #[test]
    fn the_command_is_well_formed() {
        command().debug_assert();
    }
}
