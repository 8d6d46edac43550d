//! `clr train`: a new run (with `--max-lr auto|FILE` turned into numbers first), or `--resume`;
//! alone, as one rank of several processes, or as `--nproc-per-node`'s launcher.

use super::dist::{self, Start};
use super::{default_out, merged, Report};
use crate::cli::TrainArgs;
use crate::config::{Config, DataLayer, Layer, MaxLr, RunLayer};
use crate::dist::{Dist, Invocation};
use crate::lr_finder::analysis::Suggestion;
use crate::lr_finder::{self, LrFile, RangeTestReport, StopReason, SweepReport};
use crate::train::summary::Summary;
use anyhow::Result;
use std::path::Path;
use std::rc::Rc;

pub fn run(a: TrainArgs, inv: &Invocation) -> Result<Report> {
    let progress = !a.run.no_progress;
    if let Some(dir) = a.resume {
        // Every rank reads config.json (its device decides the group's backend); the checkpoint
        // is rank 0's to read.
        let config = resume_config(&dir, &a.run)?;
        let dist = match dist::start(&a.run.dist, inv, &config.run)? {
            Start::Launch(n) => {
                crate::run_dir::check_not_in_use(&dir)?;
                return dist::launch(inv, n, None, &a.run.dist);
            }
            Start::Run(dist) => dist,
        };
        let summary = crate::train::run(&config, &dir, true, progress, Rc::clone(&dist))?;
        return Ok(dist::of_rank(Report::Train { summary, out: dir }, &dist));
    }
    let (layer, base_given) = merged(&a.run.settings, Layer::default())?;
    let mut config = layer.resolve()?;
    let out = a.run.out.clone().unwrap_or_else(|| default_out("train", &config));
    let dist = match dist::start(&a.run.dist, inv, &config.run)? {
        Start::Launch(n) => {
            crate::train::check_fresh(&out)?;
            return dist::launch(inv, n, Some(&out), &a.run.dist);
        }
        Start::Run(dist) => dist,
    };
    dist.on_root(|| Ok(crate::train::check_fresh(&out)?))?;
    let report = match resolve_max_lr(&mut config, &out, base_given, progress, &dist)? {
        Some(range_test) => Report::TrainNotStarted { range_test, out },
        None => Report::Train { summary: crate::train::run(&config, &out, false, progress, Rc::clone(&dist))?, out },
    };
    Ok(dist::of_rank(report, &dist))
}

/// The config of a run to resume: its config.json, with only the flags that say where the data
/// is and what runs it (device, threads, the data location) allowed to change.
fn resume_config(dir: &Path, run: &crate::cli::RunArgs) -> Result<Config> {
    let flags = &run.settings.flags;
    let allowed = Layer {
        // The labels decide the model's outputs, the image size and the held-out fraction what
        // it sees: the checkpoint's cannot change.
        data: DataLayer { labels: None, image_size: None, valid_fraction: None, ..flags.data.clone() },
        run: RunLayer { device: flags.run.device, threads: flags.run.threads, ..RunLayer::default() },
        ..Layer::default()
    };
    if let Some(bad) = flags.given().into_iter().find(|f| !allowed.given().contains(f)) {
        crate::usage!(
            "--resume continues {} with its config.json; --{} cannot change it (allowed: --device, --threads, \
             --data-dir, --url, --md5, --no-download, --cache-dir, --strict, --no-progress, --nproc-per-node, \
             --dist-backend, --dist-timeout)",
            dir.display(),
            bad.replace('_', "-")
        );
    }
    if run.settings.config.is_some() || run.out.is_some() {
        crate::usage!("--resume RUN_DIR takes neither --config nor --out: the run folder holds both");
    }
    let file = dir.join("config.json");
    if !file.is_file() {
        crate::usage!("--resume {}: no config.json there (not a clr run folder)", dir.display());
    }
    Ok(allowed.over(Layer::from_file(&file)?).resolve()?)
}

/// `--max-lr auto` runs the range test on a fresh model (into OUT/range_test/) and
/// `--max-lr FILE` reads a previous one; both set max_lr and, unless base_lr was given (and is
/// below the proposed max), base_lr from the proposal, and record where they came from. For
/// `fixed` and `step`, whose LR is base_lr, base_lr becomes the suggested LR itself. Returns the
/// range test's report when it was interrupted (then nothing is to be trained).
pub(super) fn resolve_max_lr(
    config: &mut Config,
    out: &Path,
    base_given: bool,
    progress: bool,
    dist: &Rc<Dist>,
) -> Result<Option<RangeTestReport>> {
    // Every rank resolves the same numbers; rank 0 says so.
    let say = |line: &str| {
        if dist.is_primary() {
            eprintln!("{line}");
        }
    };
    let (report, source) = match config.schedule.max_lr.clone() {
        MaxLr::Value(_) => return Ok(None),
        MaxLr::Auto => {
            let dir = out.join("range_test");
            say(&format!("--max-lr auto: running the LR range test first, into {}", dir.display()));
            let report = lr_finder::run(config, &dir, progress, dist)?;
            if report.stop_reason == StopReason::Interrupted {
                return Ok(Some(report));
            }
            for line in report.summary_lines() {
                say(&line);
            }
            (
                report.suggestion,
                format!("range test run by --max-lr auto: {}", dir.join(lr_finder::REPORT_FILE).display()),
            )
        }
        MaxLr::File(path) => match lr_finder::read_lr_file(&path)? {
            LrFile::RangeTest(report) => (report.suggestion, format!("--max-lr {}", path.display())),
            LrFile::Sweep(sweep) => favoured_value(config, sweep, &path, dist.is_primary())?,
        },
    };
    let s = &report;
    let schedule = &mut config.schedule;
    schedule.max_lr = MaxLr::Value(s.max_lr);
    if !schedule.policy.uses_max_lr() {
        if !base_given {
            schedule.base_lr = s.suggested_lr;
        }
    } else if !base_given || schedule.base_lr >= s.max_lr {
        schedule.base_lr = s.base_lr;
    }
    let base_lr = schedule.base_lr;
    config.lr_source = Some(format!("{source} (max_lr = lr_at_min_loss/10 = {}, base_lr = {base_lr})", s.max_lr));
    say(&format!("using max_lr {} and base_lr {base_lr} ({source})", s.max_lr));
    config.validate()?;
    Ok(None)
}

/// A sweep's favoured value (`--max-lr sweep.json`): sets its hyper-parameter in `config`;
/// returns its range test's proposal and the words for `lr_source`. A sweep that was interrupted
/// or favoured nothing is refused: its choice would not be the rule's over the values asked for.
fn favoured_value(config: &mut Config, sweep: SweepReport, path: &Path, say: bool) -> Result<(Suggestion, String)> {
    let place = format!("--max-lr {}", path.display());
    if !sweep.complete {
        crate::usage!("{place}: the sweep did not finish ({}); run it again to the end", sweep.reason);
    }
    let Some(favoured) = sweep.favoured else {
        crate::usage!("{place}: the sweep favoured no value: {}", sweep.reason);
    };
    let setting = format!("{} = {}", sweep.param.field(), sweep.param.value_text(favoured.value));
    *config = lr_finder::with_value(config, sweep.param, favoured.value)?;
    if say {
        eprintln!("{setting}: the value the sweep in {} favours", path.display());
    }
    Ok((favoured.suggestion, format!("{place}: the sweep's favoured value {} sets {setting}", favoured.label)))
}

/// The line `main` prints when a run ends.
pub(super) fn summary_line(summary: &Summary) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
    format!(
        "{:?}: {} epochs, {} steps in {:.1}s; final test accuracy {}, best {}",
        summary.status,
        summary.epochs,
        summary.steps,
        summary.seconds,
        pct(summary.final_test_acc),
        pct(summary.best_test_acc)
    )
}
