//! Dispatch of the commands: flags and config file → validated Config → the command's module.

use crate::cli::{Cli, Command, ConfigArgs, EvalArgs, ScheduleArgs, TrainArgs};
use crate::config::{self, Config, MaxLr};
use crate::range_finder::StopReason;
use crate::records::{Row, ScheduleRow};
use anyhow::{Context, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// CIFAR-10's training set size: `clr schedule`'s default steps per epoch come from it.
const CIFAR10_TRAIN_IMAGES: u64 = 50_000;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Download(a) => crate::download::run(&a),
        Command::RangeTest(a) => {
            let config = resolve(&a.config, Map::new())?;
            let out = a.out.unwrap_or_else(|| default_out("range-test", &config));
            let report = crate::range_test::run(&config, &out, !a.no_progress)?;
            println!("outputs in {}", out.display());
            if report.stop_reason == StopReason::Interrupted {
                std::process::exit(130);
            }
            Ok(())
        }
        Command::Train(a) => train(a),
        Command::Schedule(a) => schedule(a),
        Command::Eval(a) => eval(a),
        Command::Plot(a) => {
            for path in crate::plot::plot_run(&a.run_dir)? {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Bench(a) => {
            // Speed work needs no real data: synthetic unless the flags or the file say otherwise.
            let mut defaults = Map::new();
            defaults.insert("dataset".into(), Value::String("synthetic".into()));
            let config = resolve(&a.config, defaults)?;
            crate::bench::run(&config, a.steps, a.warmup, &a.out)?;
            println!("wrote {}", a.out.display());
            Ok(())
        }
    }
}

/// Defaults < `defaults` < config file < flags given; validated.
fn resolve(args: &ConfigArgs, defaults: Map<String, Value>) -> Result<Config> {
    Config::resolve(defaults, args.config.as_deref(), given_flags(args)?)
}

fn given_flags(args: &ConfigArgs) -> Result<Map<String, Value>> {
    Ok(config::given(serde_json::to_value(args)?))
}

fn default_out(command: &str, config: &Config) -> PathBuf {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    PathBuf::from("runs").join(format!("{command}-{}-d{}-{}", config.policy, config.depth, utc_stamp(secs)))
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

/// Flags that may accompany `--resume`: where the data is and what runs it, not what is run.
const RESUME_FLAGS: &[&str] = &["device", "threads", "data_dir", "url", "md5", "no_download"];

fn train(a: TrainArgs) -> Result<()> {
    let progress = !a.run.no_progress;
    if let Some(dir) = &a.resume {
        let flags = given_flags(&a.run.config)?;
        if let Some(bad) = flags.keys().find(|k| !RESUME_FLAGS.contains(&k.as_str())) {
            crate::usage!(
                "--resume continues {} with its config.json; --{} cannot change it (allowed: --device, --threads, \
                 --data-dir, --url, --md5, --no-download)",
                dir.display(),
                bad.replace('_', "-")
            );
        }
        if a.run.config.config.is_some() || a.run.out.is_some() {
            crate::usage!("--resume RUN_DIR takes neither --config nor --out: the run folder holds both");
        }
        let file = dir.join("config.json");
        if !file.is_file() {
            crate::usage!("--resume {}: no config.json there (not a clr run folder)", dir.display());
        }
        let config = Config::resolve(Map::new(), Some(&file), flags)?;
        let summary = crate::train::run(&config, dir, true, progress)?;
        return report(&summary, dir);
    }
    let mut config = resolve(&a.run.config, Map::new())?;
    let out = a.run.out.clone().unwrap_or_else(|| default_out("train", &config));
    crate::train::check_fresh_out(&out)?;
    resolve_max_lr(&mut config, &out, base_lr_given(&a.run.config), progress)?;
    let summary = crate::train::run(&config, &out, false, progress)?;
    report(&summary, &out)
}

/// Whether `base_lr` was given, by a flag or by the config file.
fn base_lr_given(args: &ConfigArgs) -> bool {
    let in_flags = given_flags(args).map(|m| m.contains_key("base_lr")).unwrap_or(false);
    let in_file =
        args.config.as_deref().and_then(|p| Config::from_file(p).ok()).is_some_and(|m| m.contains_key("base_lr"));
    in_flags || in_file
}

/// `--max-lr auto` runs the range test on a fresh model (into OUT/range_test/) and
/// `--max-lr FILE` reads a previous one; both set max_lr and, unless --base-lr was given (and is
/// below the proposed max), base_lr from the proposal, and record where they came from. For
/// `fixed` and `step`, whose LR is base_lr, base_lr becomes the suggested LR itself.
fn resolve_max_lr(config: &mut Config, out: &Path, base_given: bool, progress: bool) -> Result<()> {
    let (report, source) = match &config.max_lr {
        MaxLr::Value(_) => return Ok(()),
        MaxLr::Auto => {
            let dir = out.join("range_test");
            eprintln!("--max-lr auto: running the LR range test first, into {}", dir.display());
            let report = crate::range_test::run(config, &dir, progress)?;
            if report.stop_reason == StopReason::Interrupted {
                eprintln!("interrupted during the range test: nothing trained");
                std::process::exit(130);
            }
            (report, format!("range test run by --max-lr auto: {}", dir.join(crate::range_test::REPORT_FILE).display()))
        }
        MaxLr::File(path) => (crate::range_test::read_report(path)?, format!("--max-lr {}", path.display())),
    };
    let s = &report.suggestion;
    config.max_lr = MaxLr::Value(s.max_lr);
    if !config.policy.uses_max_lr() {
        if !base_given {
            config.base_lr = s.suggested_lr;
        }
    } else if !base_given || config.base_lr >= s.max_lr {
        config.base_lr = s.base_lr;
    }
    config.lr_source =
        Some(format!("{source} (max_lr = lr_at_min_loss/10 = {}, base_lr = {})", s.max_lr, config.base_lr));
    eprintln!("using max_lr {} and base_lr {} ({source})", s.max_lr, config.base_lr);
    config.validate()
}

fn report(summary: &crate::train::Summary, out: &Path) -> Result<()> {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
    println!(
        "{:?}: {} epochs, {} steps in {:.1}s; final test accuracy {}, best {}",
        summary.status,
        summary.epochs,
        summary.steps,
        summary.seconds,
        pct(summary.final_test_acc),
        pct(summary.best_test_acc)
    );
    println!("outputs in {}", out.display());
    if summary.status == crate::train::Status::Interrupted {
        // The conventional status of a command stopped by SIGINT; the run can be resumed.
        std::process::exit(130);
    }
    Ok(())
}

fn schedule(a: ScheduleArgs) -> Result<()> {
    let mut config = resolve(&a.config, Map::new())?;
    if config.max_lr == MaxLr::Auto {
        crate::usage!("--max-lr auto needs a range test; clr schedule runs none: give a number or a range_test.json");
    }
    // A range_test.json sets max_lr and base_lr as it does for `train`, so the dry run shows
    // the schedule that `train` would run.
    resolve_max_lr(&mut config, Path::new("."), base_lr_given(&a.config), false)?;
    let steps_per_epoch = match a.steps_per_epoch {
        Some(0) => crate::usage!("--steps-per-epoch must be at least 1"),
        Some(n) => n,
        None => CIFAR10_TRAIN_IMAGES.div_ceil(config.batch_size as u64),
    };
    let schedule = crate::schedule::Schedule::new(config.schedule_config(steps_per_epoch)?)?;
    let rows: Vec<ScheduleRow> = schedule.rows().collect();
    let write = |w: &mut dyn std::io::Write| -> Result<()> {
        let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(w);
        csv.write_record(ScheduleRow::HEADER)?;
        for row in &rows {
            csv.serialize(row)?;
        }
        csv.flush()?;
        Ok(())
    };
    match &a.out {
        Some(path) => crate::atomic::write_with(path, |tmp| {
            let mut f = std::fs::File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            write(&mut f)
        })?,
        None => write(&mut std::io::stdout().lock())?,
    }
    if let Some(png) = &a.plot {
        let title = format!("{} schedule, {} steps/epoch", config.policy, steps_per_epoch);
        crate::plot::schedule_png(png, &rows, &title)?;
    }
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    let ck = crate::checkpoint::load(&a.checkpoint)?;
    let mut flags = config::given(serde_json::to_value(&a.data)?);
    flags.insert("device".into(), Value::String(a.device.clone()));
    flags.insert("depth".into(), Value::from(ck.meta.depth));
    flags.insert("precision".into(), serde_json::to_value(a.precision)?);
    let config = Config::resolve(Map::new(), None, flags)?;
    let device = crate::device::prepare(&config)?;
    let mut data = crate::dataset::Data::load(&config, device, true)?;
    // Normalise as the model was trained.
    data.set_statistics(ck.meta.mean, ck.meta.std);
    let mut learner = crate::learner::Learner::new(&config, device);
    ck.restore_model(&mut learner.vs)?;
    let (loss, acc) = learner.evaluate(&data, &data.test, a.batch_size.max(1), None);
    println!("test_acc {acc:.4}  test_loss {loss:.4}  ({} test images, {})", data.test.len, data.source);
    Ok(())
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
