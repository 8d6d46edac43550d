//! The commands: flags and config file → a validated [`Config`] → the module that does the work →
//! a [`Report`] of what happened. Nothing here prints a result or exits: `main` prints the report
//! and turns it into the exit code.

mod compare;
mod dist;
mod eval;
mod export;
mod grid;
mod predict;
mod schedule;
mod train;

use crate::bench::BenchReport;
use crate::cli::{Cli, Command, SettingsArgs};
use crate::config::{Config, DatasetKind, Layer};
use crate::data::download::{self, DownloadOptions};
use crate::dist::Invocation;
use crate::engine::Session;
use crate::error::UsageError;
use crate::lr_finder::{RangeTestReport, StopReason, SweepReport};
use crate::records::{Status, Summary};
use crate::run_dir::{NewRun, RunDir};
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;

/// What a command did, for `main` to print.
#[derive(Debug)]
pub enum Report {
    /// The outcome, and the data set's name.
    Download(download::Outcome, &'static str),
    RangeTest {
        report: RangeTestReport,
        out: PathBuf,
    },
    /// `range-test --sweep`: one test per value, and the favoured value.
    RangeSweep {
        report: SweepReport,
        out: PathBuf,
    },
    Train {
        summary: Summary,
        out: PathBuf,
    },
    /// `train --max-lr auto` whose range test was interrupted: nothing was trained.
    TrainNotStarted {
        range_test: RangeTestReport,
        out: PathBuf,
    },
    /// `train --verify` stopped by a signal during its short runs: nothing trained.
    VerifyStopped {
        report: crate::lr_finder::grid::GridReport,
        out: PathBuf,
    },
    /// `clr grid`: its report (complete, or stopped by a signal).
    Grid {
        report: crate::lr_finder::grid::GridReport,
        out: PathBuf,
    },
    /// `clr schedule`: the CSV went where it was asked to.
    Schedule,
    Eval {
        test_acc: f64,
        test_loss: f64,
        images: usize,
        source: String,
    },
    Plot(Vec<PathBuf>),
    /// `clr predict`: each image and its top classes.
    Predict {
        rows: predict::Rows,
    },
    /// `clr export`: the file written, and the network in it.
    Export {
        format: crate::export::Format,
        net: crate::model::arch::NetConfig,
        steps: u64,
        out: PathBuf,
    },
    Bench {
        report: BenchReport,
        out: PathBuf,
    },
    /// `clr compare`: the table's lines and the files written.
    Compare {
        table: Vec<String>,
        png: PathBuf,
        csv: Option<PathBuf>,
    },
    /// Nothing to print, and an exit code: a rank other than 0 (rank 0 reports the run), or
    /// `--nproc-per-node`'s launcher (its rank 0 printed the report).
    Silent {
        exit_code: i32,
    },
}

/// Run a command; `output` receives the data a command writes to stdout (`clr schedule`'s CSV);
/// `inv` is how the process was started (the commands that train read the launchers' variables).
pub fn run(cli: Cli, output: &mut dyn Write, inv: &Invocation) -> Result<Report> {
    match cli.command {
        Command::Download(a) => self::download(a),
        Command::RangeTest(a) => range_test(a, inv),
        Command::Train(a) => train::run(a, inv),
        Command::Schedule(a) => schedule::run(a, output),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Plot(a) => Ok(Report::Plot(crate::plot::plot_run(&RunDir::new(a.run_dir))?)),
        Command::Export(a) => export::run(a),
        Command::Bench(a) => {
            // Speed work needs no real data: synthetic unless the flags or the file say otherwise.
            let mut preset = Layer::default();
            preset.data.dataset = Some(crate::config::DatasetKind::Synthetic);
            let config = resolve(&a.settings, preset)?;
            crate::files::check_parent(&a.out, "--out")?;
            let report = crate::bench::run(&config, a.steps, a.warmup, &a.out)?;
            Ok(Report::Bench { report, out: a.out })
        }
        Command::Compare(a) => compare::run(a),
        Command::Grid(a) => grid::run(a, inv),
    }
}

impl Report {
    /// The lines `main` prints on stdout.
    pub fn lines(&self) -> Vec<String> {
        let outputs = |out: &PathBuf| format!("outputs in {}", out.display());
        match self {
            Report::Download(download::Outcome::AlreadyPresent(dir), name) => {
                vec![format!("{name} already present in {}", dir.display())]
            }
            Report::Download(download::Outcome::Downloaded(dir), name) => {
                vec![format!("{name} ready in {}", dir.display())]
            }
            Report::RangeTest { report, out } => [report.summary_lines(), vec![outputs(out)]].concat(),
            Report::RangeSweep { report, out } => [report.summary_lines(), vec![outputs(out)]].concat(),
            Report::Train { summary, out } => vec![train::summary_line(summary), outputs(out)],
            Report::TrainNotStarted { range_test, out } => [
                range_test.summary_lines(),
                vec![outputs(out), "interrupted during the range test: nothing trained".into()],
            ]
            .concat(),
            Report::VerifyStopped { report, out } => [
                report.summary_lines(),
                vec![outputs(out), "interrupted during --verify: nothing trained (start the run again)".into()],
            ]
            .concat(),
            Report::Grid { report, out } => [report.summary_lines(), vec![outputs(out)]].concat(),
            Report::Schedule => Vec::new(),
            Report::Eval { test_acc, test_loss, images, source } => {
                vec![format!("test_acc {test_acc:.4}  test_loss {test_loss:.4}  ({images} test images, {source})")]
            }
            Report::Plot(paths) => paths.iter().map(|p| p.display().to_string()).collect(),
            Report::Predict { rows } => rows.iter().map(|(path, ranked)| predict::line(path, ranked)).collect(),
            Report::Export { format, net, steps, out } => {
                let width = net.width.map_or(String::new(), |w| format!(" width {w}"));
                vec![format!(
                    "wrote {} ({format}: {} depth {}{width}, {} classes, {} px, after {steps} steps)",
                    out.display(),
                    net.arch,
                    net.depth,
                    net.classes,
                    net.image_size
                )]
            }
            Report::Bench { report, out } => [report.table(), vec![format!("wrote {}", out.display())]].concat(),
            Report::Compare { table, png, csv } => {
                let written = std::iter::once(png).chain(csv).map(|p| format!("wrote {}", p.display()));
                table.iter().cloned().chain(written).collect()
            }
            Report::Silent { .. } => Vec::new(),
        }
    }

    /// The process exit code: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM) for a run stopped
    /// that way (it can be resumed or rerun), 0 otherwise.
    pub fn exit_code(&self) -> i32 {
        let interrupted = match self {
            Report::Train { summary, .. } => summary.status == Status::Interrupted,
            Report::RangeTest { report, .. } => report.stop_reason == StopReason::Interrupted,
            Report::TrainNotStarted { .. } | Report::VerifyStopped { .. } => true,
            Report::RangeSweep { report, .. } => !report.complete,
            Report::Grid { report, .. } => !report.complete,
            Report::Silent { exit_code } => return *exit_code,
            _ => false,
        };
        if interrupted {
            crate::runtime::signals::exit_status()
        } else {
            0
        }
    }
}

/// `clr download`: a CIFAR archive, or an MNIST-format set's four files.
fn download(a: crate::cli::DownloadArgs) -> Result<Report> {
    let archive = match a.dataset {
        DatasetKind::Cifar10 => &download::CIFAR10,
        DatasetKind::Cifar100 => &download::CIFAR100,
        DatasetKind::Mnist | DatasetKind::FashionMnist => return download_idx(a),
        DatasetKind::Synthetic => crate::usage!("--dataset synthetic is made in memory: nothing to download"),
        DatasetKind::Folder => crate::usage!("--dataset folder reads your own images: nothing to download"),
    };
    let opts = DownloadOptions::from_env(archive, a.data_dir, a.url, a.md5, !a.no_progress)?;
    Ok(Report::Download(download::download(&opts)?, archive.layout.name))
}

/// `clr download --dataset mnist|fashion-mnist`.
fn download_idx(a: crate::cli::DownloadArgs) -> Result<Report> {
    use crate::data::mnist_download::{self, IdxDownload};
    use anyhow::Context;
    let set =
        crate::data::mnist::set_of(a.dataset).with_context(|| format!("{} is not an MNIST-format set", a.dataset))?;
    let opts = IdxDownload::from_env(set, a.data_dir, a.url, a.md5, !a.no_progress)?;
    Ok(Report::Download(mnist_download::download(&opts)?, set.name))
}

/// `clr range-test` (one test, or a sweep, new or resumed), alone, on several processes, or
/// launching them.
fn range_test(a: crate::cli::RangeTestArgs, inv: &Invocation) -> Result<Report> {
    if let Some(dir) = &a.resume {
        return resume_sweep(&a, dir, inv);
    }
    let config = resolve(&a.run.settings, Layer::default())?;
    if a.sweep.is_some() && config.range_test.repeats > 1 {
        crate::usage!("--repeats and --sweep: a sweep runs one range test per value, at --seed (give one of them)");
    }
    let progress = !a.run.no_progress;
    let name = a.sweep.as_ref().map_or("range-test".to_string(), |s| format!("range-test-sweep-{}", s.param));
    let out = a.run.out.clone().unwrap_or_else(|| default_out(&name, &config));
    let dist = match dist::start(&a.run.dist, inv, &config.run)? {
        dist::Start::Launch(n) => {
            // What can be refused is refused once, here, before any worker starts.
            if let Some(sweep) = &a.sweep {
                crate::range_test::value_configs(&config, sweep)?;
            }
            RunDir::new(&out).check_fresh(NewRun::RangeTest)?;
            return dist::launch(inv, n, Some(&out), &a.run.dist);
        }
        dist::Start::Run(dist) => dist,
    };
    let report = match &a.sweep {
        Some(sweep) => {
            let configs = crate::range_test::value_configs(&config, sweep)?;
            let session = Session::start(&config, Rc::clone(&dist), progress)?;
            let report = crate::range_test::run_sweep(&config, &configs, sweep, &session, &RunDir::new(&out), None)?;
            Report::RangeSweep { report, out }
        }
        None => {
            let session = Session::start(&config, Rc::clone(&dist), progress)?;
            Report::RangeTest { report: crate::range_test::run(&config, &session, &RunDir::new(&out))?, out }
        }
    };
    Ok(dist::of_rank(report, &dist))
}

/// `clr range-test --resume DIR`: the sweep stopped in DIR goes on with the values it did not
/// finish, with its config.json (only where it runs may change, as for `train --resume`).
fn resume_sweep(a: &crate::cli::RangeTestArgs, dir: &std::path::Path, inv: &Invocation) -> Result<Report> {
    if a.sweep.is_some() {
        crate::usage!("--resume {} continues the sweep in that folder; it takes no --sweep", dir.display());
    }
    let config = train::resume_config(dir, &a.run)?;
    let run_dir = RunDir::new(dir);
    let stopped = crate::range_test::read_stopped_sweep(&run_dir)?;
    let configs = crate::range_test::value_configs(&config, &stopped.sweep)?;
    let dist = match dist::start(&a.run.dist, inv, &config.run)? {
        dist::Start::Launch(n) => {
            run_dir.check_not_in_use()?;
            return dist::launch(inv, n, None, &a.run.dist);
        }
        dist::Start::Run(dist) => dist,
    };
    let session = Session::start(&config, Rc::clone(&dist), !a.run.no_progress)?;
    let kept = Some(stopped.kept);
    let report = crate::range_test::run_sweep(&config, &configs, &stopped.sweep, &session, &run_dir, kept)?;
    Ok(dist::of_rank(Report::RangeSweep { report, out: dir.to_path_buf() }, &dist))
}

/// `preset` (a command's own defaults) < the config file < the flags given, merged; and whether
/// `base_lr` was chosen to go with a max_lr that a range test will set: by `--base-lr`, or by a
/// config file whose own `max_lr` is `auto` or a file. A preset's `base_lr` belongs with the
/// preset's numeric `max_lr`: when `--max-lr auto|FILE` replaces that, the base comes from the
/// range test too.
fn merged(args: &SettingsArgs, preset: Layer) -> Result<(Layer, bool), UsageError> {
    let file = match &args.config {
        Some(path) => Layer::from_file(path)?,
        None => Layer::default(),
    };
    let file_pairs_base_with_a_test = file.schedule.base_lr.is_some()
        && file.schedule.max_lr.as_ref().is_some_and(|m| !matches!(m, crate::config::MaxLr::Value(_)));
    let base_chosen = args.flags.schedule.base_lr.is_some() || file_pairs_base_with_a_test;
    Ok((args.flags.clone().over(file.over(preset)), base_chosen))
}

/// The merged settings over the defaults, validated.
fn resolve(args: &SettingsArgs, preset: Layer) -> Result<Config, UsageError> {
    merged(args, preset)?.0.resolve()
}

/// `runs/COMMAND-POLICY-dDEPTH-YYYYmmdd-HHMMSS`.
fn default_out(command: &str, config: &Config) -> PathBuf {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let name = format!("{command}-{}-d{}-{}", config.schedule.policy, config.model.depth, utc_stamp(secs));
    PathBuf::from("runs").join(name)
}

/// `YYYYmmdd-HHMMSS` in UTC (days → civil date, Howard Hinnant's algorithm).
fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(1_795_913_433), "20261129-005033");
    }
}
