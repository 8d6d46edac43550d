//! The commands that train (`train`, `range-test`) on several processes: which role this process
//! plays (alone, `--nproc-per-node`'s launcher, or one rank of a launch), and what a rank reports.

use super::Report;
use crate::config::RunSettings;
use crate::dist::setup::{self, Role};
use crate::dist::{Dist, DistArgs, Invocation};
use crate::engine::digest;
use crate::runtime::signals;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What this process does for the command.
pub(super) enum Start {
    /// Start this many workers and wait for them.
    Launch(usize),
    /// Run the command, alone or as one rank.
    Run(Rc<Dist>),
}

/// This process's part from the flags and the environment; a rank joins its group here (with
/// the device `run` asks for).
pub(super) fn start(args: &DistArgs, inv: &Invocation, run: &RunSettings) -> Result<Start> {
    // The tests' hook: digests of the replicas at the end of each run.
    if let Some(dir) = inv.var(digest::VAR).filter(|d| !d.is_empty()) {
        digest::request(PathBuf::from(dir));
    }
    Ok(match setup::role(args, run, &|name| inv.var(name))? {
        Role::Launcher(n) => Start::Launch(n),
        Role::Rank(env) => {
            // Listen from the start: a stop forwarded while this rank loads data or joins its
            // group is a stop at the first agreed step, not a death that looks like a failure.
            signals::parent_forwards();
            signals::install();
            if let Some(pid) = inv.var(crate::dist::launch::LAUNCHER_VAR).and_then(|p| p.parse().ok()) {
                crate::dist::launch::watch_launcher(pid);
            }
            let dist = setup::join(&env, args, run)?;
            // Rank 0 says what a Ctrl-C does; the others stop with it, silently.
            signals::set_announce(dist.is_primary());
            Start::Run(dist)
        }
        Role::Single => Start::Run(Rc::new(Dist::single())),
    })
}

/// Start `n` workers of this command (with `out` as their `--out`) and wait: their exit code;
/// rank 0 printed the report.
pub(super) fn launch(inv: &Invocation, n: usize, out: Option<&Path>, args: &DistArgs) -> Result<Report> {
    let exit_code = crate::dist::launch::launch(inv, n, out, args.timeout())?;
    Ok(Report::Silent { exit_code })
}

/// Rank 0's report as it is; the other ranks print nothing and exit as rank 0 does.
pub(super) fn of_rank(report: Report, dist: &Dist) -> Report {
    if dist.is_primary() {
        report
    } else {
        Report::Silent { exit_code: report.exit_code() }
    }
}
