//! `clr train`: a new run (with `--max-lr auto|FILE` turned into numbers first), or `--resume`;
//! alone, as one rank of several processes, or as `--nproc-per-node`'s launcher.

use super::dist::{self, Start};
use super::{default_out, merged, Report};
use crate::cli::TrainArgs;
use crate::config::{Config, DataLayer, Layer, MaxLr, RunLayer};
use crate::dist::{Dist, Invocation};
use crate::engine::Session;
use crate::grid::verify::{self, Verify};
use crate::lr_finder::grid::GridReport;
use crate::lr_finder::{RangeTestReport, StopReason, Suggestion, SweepReport};
use crate::range_test::{self, LrFile};
use crate::records::Summary;
use crate::run_dir::{NewRun, RunDir};
use crate::train::Open;
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
                RunDir::new(&dir).check_not_in_use()?;
                return dist::launch(inv, n, None, &a.run.dist);
            }
            Start::Run(dist) => dist,
        };
        let session = Session::start(&config, Rc::clone(&dist), progress)?;
        let summary = crate::train::run(&config, &session, &RunDir::new(&dir), Open::Resume)?;
        return Ok(dist::of_rank(Report::Train { summary, out: dir }, &dist));
    }
    let (layer, base_given) = merged(&a.run.settings, Layer::default())?;
    let mut config = layer.resolve()?;
    let verify = verify_of(&a, &config)?;
    let out = a.run.out.clone().unwrap_or_else(|| default_out("train", &config));
    let dist = match dist::start(&a.run.dist, inv, &config.run)? {
        Start::Launch(n) => {
            RunDir::new(&out).check_fresh(NewRun::Training)?;
            return dist::launch(inv, n, Some(&out), &a.run.dist);
        }
        Start::Run(dist) => dist,
    };
    // A new run never writes over an old one: its checkpoint would be mistaken for this run's by
    // `--resume`. (A folder with config.json alone holds a run that never started.)
    let run_dir = RunDir::new(&out);
    dist.on_root(|| Ok(run_dir.check_fresh(NewRun::Training)?))?;
    let report = match prepare(&mut config, &run_dir, base_given, progress, &dist, verify)? {
        Err(NotStarted::RangeTest(range_test)) => Report::TrainNotStarted { range_test, out },
        Err(NotStarted::Verify(report)) => Report::VerifyStopped { report, out },
        Ok(session) => Report::Train { summary: crate::train::run(&config, &session, &run_dir, Open::Fresh)?, out },
    };
    Ok(dist::of_rank(report, &dist))
}

/// The config of a run to resume: its config.json, with only the flags that say where the data
/// is and what runs it (device, threads, the data location) allowed to change.
pub(super) fn resume_config(dir: &Path, run: &crate::cli::RunArgs) -> Result<Config> {
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
    let file = RunDir::new(dir).config_json();
    if !file.is_file() {
        crate::usage!("--resume {}: no config.json there (not a clr run folder)", dir.display());
    }
    Ok(allowed.over(Layer::from_file(&file)?).resolve()?)
}

/// `--verify N --verify-epochs E`, checked: it needs a proposal to verify and a `max_lr` to vary.
fn verify_of(a: &TrainArgs, config: &Config) -> Result<Option<Verify>> {
    let Some(runs) = a.verify else { return Ok(None) };
    if matches!(config.schedule.max_lr, MaxLr::Value(_)) {
        crate::usage!("--verify checks a range test's suggestion: give --max-lr auto (or a range_test.json)");
    }
    if !config.schedule.policy.uses_max_lr() {
        crate::usage!("--verify varies max_lr, which --policy {} does not use", config.schedule.policy);
    }
    if !(a.verify_epochs > 0.0 && a.verify_epochs <= MAX_VERIFY_EPOCHS) {
        crate::usage!("--verify-epochs must be above 0 and at most {MAX_VERIFY_EPOCHS}, got {}", a.verify_epochs);
    }
    if crate::config::seeds_from(config.run.seed, a.verify_seeds).is_none() {
        crate::usage!("--verify-seeds {} from --seed {} would pass the largest seed", a.verify_seeds, config.run.seed);
    }
    Ok(Some(Verify { runs: runs as usize, epochs: a.verify_epochs, seeds: a.verify_seeds }))
}

/// Short runs are short: a longer "verification" is a grid (`clr grid`).
const MAX_VERIFY_EPOCHS: f64 = 1000.0;

/// Why a new run trained nothing: a signal during its range test, or during `--verify`'s runs.
pub(super) enum NotStarted {
    RangeTest(RangeTestReport),
    Verify(GridReport),
}

/// The session a new run trains on, once `--max-lr auto|FILE` is numbers: `--max-lr auto` runs the
/// range test on a fresh model (into OUT/range_test/, on the data the run then trains on) and
/// `--max-lr FILE` reads a previous one (before any data is loaded); both set max_lr and, unless
/// base_lr was given (and is below the proposed max), base_lr from the proposal, and record where
/// they came from. For `fixed` and `step`, whose LR is base_lr, base_lr becomes the suggested LR
/// itself. With `--verify`, short runs around the proposal then choose max_lr (OUT/verify/).
pub(super) fn prepare(
    config: &mut Config,
    out: &RunDir,
    base_given: bool,
    progress: bool,
    dist: &Rc<Dist>,
    verify: Option<Verify>,
) -> Result<Result<Session, NotStarted>> {
    // Every rank resolves the same numbers; rank 0 says so.
    let say = |line: &str| {
        if dist.is_primary() {
            eprintln!("{line}");
        }
    };
    let (session, suggestion) = if config.schedule.max_lr != MaxLr::Auto {
        let from = config.schedule.max_lr.clone();
        let suggestion = max_lr_from_file(config, base_given, &say)?;
        let source = match from {
            MaxLr::File(path) => path.display().to_string(),
            _ => String::new(),
        };
        (Session::start(config, Rc::clone(dist), progress)?, suggestion.map(|s| (source, s)))
    } else {
        let session = Session::start(config, Rc::clone(dist), progress)?;
        let dir = out.auto_range_test();
        say(&format!("--max-lr auto: running the LR range test first, into {}", dir.path().display()));
        let report = range_test::run(config, &session, &dir)?;
        if report.stop_reason == StopReason::Interrupted {
            return Ok(Err(NotStarted::RangeTest(report)));
        }
        for line in report.summary_lines() {
            say(&line);
        }
        let source = format!("range test run by --max-lr auto: {}", dir.range_test_json().display());
        use_proposal(config, &report.suggestion, &source, base_given, &say)?;
        (session, Some((dir.path().display().to_string(), report.suggestion)))
    };
    if let (Some(verify), Some((source, suggestion))) = (verify, suggestion) {
        let base_lr = base_given.then_some(config.schedule.base_lr);
        let dir = out.verify();
        say(&format!(
            "--verify: {} one-cycle runs of {} epochs at max_lr {:?}, into {}",
            verify.runs,
            verify.epochs,
            verify.candidates(suggestion.max_lr),
            dir.path().display()
        ));
        let report = verify.run(config, (source, &suggestion), base_lr, &session, &dir)?;
        if !report.complete {
            return Ok(Err(NotStarted::Verify(report)));
        }
        use_verified(config, &report, verify, &dir, &say)?;
    }
    Ok(Ok(session))
}

/// max_lr and base_lr from the candidate that trained best; `lr_source` lists them all.
fn use_verified(
    config: &mut Config,
    report: &GridReport,
    verify: Verify,
    dir: &RunDir,
    say: &dyn Fn(&str),
) -> Result<()> {
    let Some((max_lr, base_lr)) = verify::choice(report) else {
        anyhow::bail!(
            "--verify: every candidate diverged (see {}): the range test's suggestion is far too high",
            dir.path().display()
        );
    };
    let text = verify::source_text(report, verify.epochs, dir);
    say(&text);
    config.schedule.max_lr = MaxLr::Value(max_lr);
    config.schedule.base_lr = base_lr;
    config.lr_source = Some(format!("{}; {text}", config.lr_source.take().unwrap_or_default()));
    config.validate()?;
    Ok(())
}

/// `--max-lr FILE` (a range_test.json or a sweep.json) as numbers, and the proposal they came
/// from; nothing to do for a number.
pub(super) fn max_lr_from_file(
    config: &mut Config,
    base_given: bool,
    say: &dyn Fn(&str),
) -> Result<Option<Suggestion>> {
    let MaxLr::File(path) = config.schedule.max_lr.clone() else { return Ok(None) };
    let (suggestion, source) = match range_test::read_lr_file(&path)? {
        LrFile::RangeTest(report) => (report.suggestion, format!("--max-lr {}", path.display())),
        LrFile::Sweep(sweep) => favoured_value(config, sweep, &path, say)?,
    };
    use_proposal(config, &suggestion, &source, base_given, say)?;
    Ok(Some(suggestion))
}

/// Set max_lr (and base_lr, unless given) from a range test's proposal, and `lr_source`.
fn use_proposal(config: &mut Config, s: &Suggestion, source: &str, base_given: bool, say: &dyn Fn(&str)) -> Result<()> {
    let schedule = &mut config.schedule;
    schedule.max_lr = MaxLr::Value(s.max_lr);
    if !schedule.policy.uses_max_lr() {
        if !base_given {
            schedule.base_lr = s.suggested_lr;
        }
    } else if !base_given || schedule.base_lr >= s.max_lr {
        if base_given {
            say(&format!(
                "warning: the base_lr given, {}, is not below the max_lr {} ({source}): using its base_lr {} instead",
                schedule.base_lr, s.max_lr, s.base_lr
            ));
        }
        schedule.base_lr = s.base_lr;
    }
    let base_lr = schedule.base_lr;
    config.lr_source =
        Some(format!("{source} (max_lr = the {} rule's suggestion = {}, base_lr = {base_lr})", s.rule, s.max_lr));
    say(&format!("using max_lr {} and base_lr {base_lr} ({source})", s.max_lr));
    config.validate()?;
    Ok(())
}

/// A sweep's favoured value (`--max-lr sweep.json`): sets its hyper-parameter in `config`;
/// returns its range test's proposal and the words for `lr_source`. A sweep that was interrupted
/// or favoured nothing is refused: its choice would not be the rule's over the values asked for.
fn favoured_value(
    config: &mut Config,
    sweep: SweepReport,
    path: &Path,
    say: &dyn Fn(&str),
) -> Result<(Suggestion, String)> {
    let place = format!("--max-lr {}", path.display());
    if !sweep.complete {
        crate::usage!("{place}: the sweep did not finish ({}); run it again to the end", sweep.reason);
    }
    let Some(favoured) = sweep.favoured else {
        crate::usage!("{place}: the sweep favoured no value: {}", sweep.reason);
    };
    let setting = format!("{} = {}", sweep.param.field(), sweep.param.value_text(favoured.value));
    *config = range_test::with_value(config, sweep.param, favoured.value)?;
    say(&format!("{setting}: the value the sweep in {} favours", path.display()));
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
