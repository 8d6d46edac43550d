//! `clr range-test --sweep NAME=V1,V2,…`: the range test of `mod.rs`, once per value, each with
//! the config changed in that one field, into `OUT/NAME=V/` (a complete range-test folder), then
//! `sweep.json`, `sweep.csv` and `sweep.png` in `OUT`. Those three are rewritten after every value,
//! so a sweep stopped at any point (Ctrl-C, or killed) leaves them describing what ran. The data
//! is loaded once; every test re-seeds the model and the batch order from `--seed`. On several
//! processes the values run one after another, every rank in each test; rank 0 writes.

use super::sweep_choice::{Outcome, SweepReport};
use super::sweep_param::{Sweep, SweepParam};
use crate::config::Config;
use crate::data::Data;
use crate::dist::{setup, Dist};
use crate::error::UsageError;
use crate::records::{RowWriter, SweepRow};
use crate::run_dir::RunLock;
use crate::runtime::{device, signals};
use anyhow::{bail, Result};
use std::path::Path;
use std::rc::Rc;

/// The sweep's report, in the `--out` folder.
pub const SWEEP_FILE: &str = "sweep.json";
/// One row per value.
pub const SWEEP_CSV: &str = "sweep.csv";

/// `config` with `param` set to `value`, validated by the config's own checks: a value its
/// parameter does not allow (momentum 1.5, batch size 0) is a usage error naming both.
pub fn with_value(config: &Config, param: SweepParam, value: f64) -> Result<Config, UsageError> {
    let mut c = config.clone();
    match param {
        SweepParam::WeightDecay => c.model.weight_decay = value,
        SweepParam::Momentum => c.model.momentum = value,
        // The flag's parser admits whole numbers only.
        SweepParam::BatchSize => c.model.batch_size = value as usize,
    }
    c.validate().map_err(|e| UsageError::new(format!("--sweep {}: {e}", param.label(value))))?;
    Ok(c)
}

/// Run the sweep into `out`; returns its report (`complete` false when Ctrl-C stopped it). Every
/// value is checked before the first test starts. A value whose test fails (too few points to
/// analyse, out of memory) is recorded as failed and the sweep goes on; it is an error only when
/// no value gave a usable test.
///
/// `kept`: a stopped sweep resumed (`--resume`): the outcomes of the values that finished, which
/// do not run again; None for a new sweep.
pub fn run_sweep(
    config: &Config,
    sweep: &Sweep,
    out: &Path,
    progress: bool,
    dist: &Rc<Dist>,
    kept: Option<Vec<Outcome>>,
) -> Result<SweepReport> {
    let configs: Vec<Config> =
        sweep.values.iter().map(|&v| with_value(config, sweep.param, v)).collect::<Result<_, _>>()?;
    let device = device::prepare(&dist.rank_settings(&config.run))?;
    let data = setup::load_data(&config.data, config.run.seed, device, progress, dist)?;
    let labels = sweep.labels();
    let _lock = dist.on_root(|| take_folder(config, sweep, out, kept.as_ref().map(|k| &labels[k.len()..])))?;
    let mut outcomes: Vec<Outcome> = kept.unwrap_or_default();
    let mut report = SweepReport::new(sweep, &outcomes, false);
    for (i, (config, label)) in configs.iter().zip(&labels).enumerate().skip(outcomes.len()) {
        if dist.is_primary() {
            eprintln!("range-test sweep, value {} of {}: {label}", i + 1, labels.len());
        }
        outcomes.push(one_value(config, &data, device, &out.join(label), progress, dist)?);
        // Every rank goes on to the next value, or none does; after the last value there is
        // nothing left to stop.
        let stopped = dist.agreed_stop(signals::received())?.is_some() && i + 1 < labels.len();
        report = SweepReport::new(sweep, &outcomes, stopped);
        if dist.is_primary() {
            write_outputs(out, &report)?;
        }
        if stopped {
            break;
        }
    }
    if report.favoured.is_none() && report.complete {
        bail!(
            "no value of the sweep gave a usable range test; see {}: {}",
            out.join(SWEEP_FILE).display(),
            report.reason
        );
    }
    Ok(report)
}

/// Lock `out` for the sweep: a new sweep takes a folder that holds no run and writes there what
/// `--resume` reads, its settings (`config.json`) and values (`sweep.json`, no value run yet); a
/// resumed one clears what the values still to run (`unfinished`) left.
fn take_folder(config: &Config, sweep: &Sweep, out: &Path, unfinished: Option<&[String]>) -> Result<RunLock> {
    let lock = RunLock::acquire(out)?;
    match unfinished {
        None => {
            lock.check_fresh(false)?;
            config.save(out)?;
            crate::files::write_json(&out.join(SWEEP_FILE), &SweepReport::new(sweep, &[], false))?;
        }
        Some(labels) => {
            super::sweep_resume::clear_unfinished(out, labels)?;
            eprintln!("resuming the sweep in {}: the values still to run are {}", out.display(), labels.join(", "));
        }
    }
    Ok(lock)
}

/// One value's test. A runtime failure, or a libtorch panic (out of memory at a large batch),
/// becomes that value's outcome; a usage error stops the sweep. On several processes any failure
/// stops it: a rank that failed alone (rank 0 writing its files, say) cannot go on to the next
/// value while the others are still inside the test's collectives; it reports its error, and
/// the others stop when their next collective fails.
fn one_value(
    config: &Config,
    data: &Data,
    device: tch::Device,
    dir: &Path,
    progress: bool,
    dist: &Rc<Dist>,
) -> Result<Outcome> {
    let run = std::panic::AssertUnwindSafe(|| super::run_on(config, data, device, dir, progress, dist));
    match std::panic::catch_unwind(run) {
        Ok(Ok(report)) => Ok(Ok(report)),
        Ok(Err(e)) if crate::error::holds::<UsageError>(&e) || dist.is_distributed() => Err(e),
        Err(panic) if dist.is_distributed() => std::panic::resume_unwind(panic),
        Ok(Err(e)) => Ok(Err(format!("{e:#}"))),
        Err(panic) => {
            let message = crate::error::panic_message(panic.as_ref());
            let cause = crate::error::torch_cause(message).unwrap_or(message);
            Ok(Err(format!("the test stopped with a libtorch error: {cause}")))
        }
    }
}

/// `sweep.json`, `sweep.csv` and `sweep.png`, each replaced atomically.
fn write_outputs(out: &Path, report: &SweepReport) -> Result<()> {
    crate::files::write_json(&out.join(SWEEP_FILE), report)?;
    crate::files::write_with(&out.join(SWEEP_CSV), |tmp| {
        let mut csv = RowWriter::create::<SweepRow>(tmp)?;
        report.results.iter().try_for_each(|row| csv.write(row))
    })?;
    crate::plot::plot_sweep(out)?;
    Ok(())
}
