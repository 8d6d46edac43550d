//! `clr range-test --repeats N`: the range test of `mod.rs` at seeds `--seed` … `--seed`+N−1, each
//! from its own initial weights and data order, into `OUT/seed=S/` (a complete range-test folder);
//! `OUT/range_test.json` combines them (`lr_finder::repeats`: every LR the geometric median of
//! the seeds') and `OUT/range_test.png` draws every seed's curve and pick. The combined report is
//! rewritten after every seed, so a run stopped once the first seed's test has its first points
//! (Ctrl-C, or killed between seeds) leaves it describing what ran, marked interrupted
//! (`--max-lr` then refuses it). On several processes the seeds run one after another, every rank
//! in each test; rank 0 writes.

use crate::config::Config;
use crate::engine::{self, Reader, Session};
use crate::lr_finder::repeats::{combine_reports, label};
use crate::lr_finder::{RangeTestReport, StopReason};
use crate::run_dir::{NewRun, RunDir, RunLock};
use anyhow::Result;
use std::rc::Rc;

/// Run the seeds' tests into `dir` and return the combined report.
pub fn run(config: &Config, session: &Session, dir: &RunDir) -> Result<RangeTestReport> {
    let n = config.range_test.repeats as u64;
    // The config's validation checked that the seeds fit.
    let seeds = crate::config::seeds_from(config.run.seed, n).unwrap_or_else(|| vec![config.run.seed]);
    let lock = session.on_root(|| {
        let lock = RunLock::new_run(dir, NewRun::RangeTest)?;
        check_no_seed_ran(dir, &seeds)?;
        session.recorded(config).save(&dir.config_json())?;
        Ok(lock)
    })?;
    let mut reports = Vec::new();
    let mut combined = None;
    for (i, &seed) in seeds.iter().enumerate() {
        session.say(&format!("range test {} of {n}: seed {seed}", i + 1));
        let report =
            super::run_on(&seed_config(config, seed), session, &dir.sub(&label(seed)), reader(session))?.report;
        let cut = report.stop_reason == StopReason::Interrupted;
        reports.push(report);
        combined = combine_reports(&seeds, &reports, config.range_test.rule);
        if let (Some(report), Some(_)) = (&combined, &lock) {
            crate::files::write_json(&dir.range_test_json(), report)?;
            crate::plot::plot_run(dir)?;
        }
        // Every rank goes on to the next seed, or none does.
        if cut || (engine::agreed_stop(session.dist())?.is_some() && i + 1 < seeds.len()) {
            break;
        }
    }
    combined.ok_or_else(|| anyhow::anyhow!("--repeats: no range test ran"))
}

/// A folder whose first seed's test was killed before the combined report was written holds no
/// `range_test.json` yet, but is still a run's: refused, naming the seed's files.
fn check_no_seed_ran(dir: &RunDir, seeds: &[u64]) -> Result<()> {
    for &seed in seeds {
        if let Some(file) = dir.sub(&label(seed)).run_file() {
            crate::usage!(
                "--out {} already holds a run ({}/{file}): choose another --out",
                dir.path().display(),
                label(seed)
            );
        }
    }
    Ok(())
}

/// The config of one seed's test: a single test at that seed.
fn seed_config(config: &Config, seed: u64) -> Config {
    let mut c = config.clone();
    c.run.seed = seed;
    c.range_test.repeats = 1;
    c
}

fn reader(session: &Session) -> Reader<f64> {
    Reader::new(Rc::clone(session.dist()))
}
