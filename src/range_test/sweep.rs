//! `clr range-test --sweep NAME=V1,V2,…`: the range test of `mod.rs`, once per value, each with
//! the config changed in that one field, into `OUT/NAME=V/` (a complete range-test folder), then
//! `sweep.json`, `sweep.csv` and `sweep.png` in `OUT`. Those three are rewritten after every value,
//! so a sweep stopped at any point (Ctrl-C, or killed) leaves them describing what ran. The data
//! is loaded once; every test re-seeds the model and the batch order from `--seed`. On several
//! processes the values run one after another, every rank in each test; rank 0 writes.

use crate::config::Config;
use crate::engine::{self, Session};
use crate::error::UsageError;
use crate::lr_finder::sweep::{Outcome, Sweep, SweepParam, SweepReport};
use crate::records::{RowWriter, SweepRow};
use crate::run_dir::{NewRun, RunDir, RunLock};
use anyhow::{bail, Result};

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

/// Every value's config: `config` with the swept field set, each checked (before anything runs).
pub fn value_configs(config: &Config, sweep: &Sweep) -> Result<Vec<Config>, UsageError> {
    sweep.values.iter().map(|&v| with_value(config, sweep.param, v)).collect()
}

/// Run the sweep into `dir` on the session's data: one test per value of `configs` (see
/// [`value_configs`]); returns its report (`complete` false when Ctrl-C stopped it). A value whose
/// test fails (too few points to analyse, out of memory) is recorded as failed and the sweep goes
/// on; it is an error only when no value gave a usable test.
pub fn run_sweep(configs: &[Config], sweep: &Sweep, session: &Session, dir: &RunDir) -> Result<SweepReport> {
    let lock = session.on_root(|| RunLock::new_run(dir, NewRun::RangeTest))?;
    let labels = sweep.labels();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut report = SweepReport::new(sweep, &outcomes, false);
    for (i, (config, label)) in configs.iter().zip(&labels).enumerate() {
        session.say(&format!("range-test sweep, value {} of {}: {label}", i + 1, labels.len()));
        outcomes.push(one_value(config, session, &dir.sub(label))?);
        // Every rank goes on to the next value, or none does; after the last value there is
        // nothing left to stop.
        let stopped = engine::agreed_stop(session.dist())?.is_some() && i + 1 < labels.len();
        report = SweepReport::new(sweep, &outcomes, stopped);
        if lock.is_some() {
            write_outputs(dir, &report)?;
        }
        if stopped {
            break;
        }
    }
    if report.favoured.is_none() && report.complete {
        bail!("no value of the sweep gave a usable range test; see {}: {}", dir.sweep_json().display(), report.reason);
    }
    Ok(report)
}

/// One value's test. A runtime failure, or a libtorch panic (out of memory at a large batch),
/// becomes that value's outcome; a usage error stops the sweep. On several processes any failure
/// stops it: a rank that failed alone (rank 0 writing its files, say) cannot go on to the next
/// value while the others are still inside the test's collectives; it reports its error, and
/// the others stop when their next collective fails.
fn one_value(config: &Config, session: &Session, dir: &RunDir) -> Result<Outcome> {
    let reader = engine::Reader::new(std::rc::Rc::clone(session.dist()));
    let run = std::panic::AssertUnwindSafe(|| super::run_on(config, session, dir, reader));
    let distributed = session.dist().is_distributed();
    match std::panic::catch_unwind(run) {
        Ok(Ok(report)) => Ok(Ok(report)),
        Ok(Err(e)) if crate::error::holds::<UsageError>(&e) || distributed => Err(e),
        Err(panic) if distributed => std::panic::resume_unwind(panic),
        Ok(Err(e)) => Ok(Err(format!("{e:#}"))),
        Err(panic) => {
            let message = crate::error::panic_message(panic.as_ref());
            let cause = crate::error::torch_cause(message).unwrap_or(message);
            Ok(Err(format!("the test stopped with a libtorch error: {cause}")))
        }
    }
}

/// `sweep.json`, `sweep.csv` and `sweep.png`, each replaced atomically.
fn write_outputs(dir: &RunDir, report: &SweepReport) -> Result<()> {
    crate::files::write_json(&dir.sweep_json(), report)?;
    crate::files::write_with(&dir.sweep_csv(), |tmp| {
        let mut csv = RowWriter::create::<SweepRow>(tmp)?;
        report.results.iter().try_for_each(|row| csv.write(row))
    })?;
    crate::plot::plot_sweep(dir)?;
    Ok(())
}
