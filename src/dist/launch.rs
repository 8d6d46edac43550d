//! `--nproc-per-node N`: clr as its own torchrun. The launcher hosts the TCPStore (as torchrun's
//! agent does), starts N workers of the same binary with the same arguments (less the flag) and
//! torchrun's environment, forwards Ctrl-C and SIGTERM to them once each (they stop together at
//! their next agreed step and save), and waits. When a worker fails or dies, the launcher stops
//! the others and says which rank and how. The workers share the launcher's stdout and stderr (as
//! torchrun's do): rank 0 prints the report, the others print nothing on stdout. Their output
//! does not pass through the launcher, so a launcher killed outright leaves them able to stop
//! cleanly: each watches its launcher and stops as on one SIGTERM when it is gone.

use super::store::StoreServer;
use crate::error::UsageError;
use anyhow::{anyhow, Context, Result};
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How this process was started, as `main` saw it: the library reads no environment variable
/// of its own accord.
pub struct Invocation {
    /// The clr binary, to start workers of.
    pub exe: PathBuf,
    /// The arguments after the program's name.
    pub args: Vec<OsString>,
    vars: Box<Lookup>,
}

/// A lookup of environment variables.
type Lookup = dyn Fn(&str) -> Option<String>;

impl Invocation {
    pub fn new(exe: PathBuf, args: Vec<OsString>, vars: impl Fn(&str) -> Option<String> + 'static) -> Invocation {
        Invocation { exe, args, vars: Box::new(vars) }
    }

    /// An environment variable, as the process received it.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.vars)(name)
    }
}

/// After a worker fails, how long the others have to notice and exit by themselves before
/// they are sent SIGTERM, and then how long before SIGKILL. Short: once a rank is gone the others
/// cannot agree on a step to save at (their last checkpoint is what resumes), and a worker that
/// is stopped (SIGSTOP) or hung answers no SIGTERM; the launch ends within seconds of the first
/// failure, itself within --dist-timeout.
const GRACE: Duration = Duration::from_secs(2);
const KILL_AFTER: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(50);
/// Tells a worker the pid of the launcher that started it.
pub const LAUNCHER_VAR: &str = "CLR_LAUNCHER_PID";

/// The arguments of a worker: the launcher's without `--nproc-per-node`, and with `--out OUT`
/// when given (every rank then names the same run folder, even a default one).
pub fn worker_args(args: &[OsString], out: Option<&Path>) -> Vec<OsString> {
    let mut kept = Vec::new();
    let mut skip_value = false;
    for arg in args {
        match arg.to_str() {
            _ if skip_value => skip_value = false,
            Some("--nproc-per-node") => skip_value = true,
            Some(a) if a.starts_with("--nproc-per-node=") => {}
            _ => kept.push(arg.clone()),
        }
    }
    if let Some(out) = out {
        kept.extend(["--out".into(), out.as_os_str().to_os_string()]);
    }
    kept
}

/// One started worker.
struct Worker {
    rank: usize,
    child: Child,
    status: Option<ExitStatus>,
    /// Whether the launcher had begun stopping the workers when this one ended.
    stopped: bool,
}

/// Start `nproc` workers of `inv` (with `out` as their `--out`), wait for them and return the
/// exit code of the run: rank 0's, or an error naming the first worker that failed.
pub fn launch(inv: &Invocation, nproc: usize, out: Option<&Path>, timeout: Duration) -> Result<i32> {
    let store = StoreServer::bind("127.0.0.1", 0, timeout).context("--nproc-per-node: cannot host the TCPStore")?;
    let signals = Forwarder::install()?;
    let args = worker_args(&inv.args, out);
    let threads = inv.var("OMP_NUM_THREADS").is_none().then(|| threads_per_worker(nproc));
    let mut workers = Vec::with_capacity(nproc);
    for rank in 0..nproc {
        let worker = start(inv, &args, rank, nproc, store.port(), threads);
        match worker {
            Ok(w) => workers.push(w),
            Err(e) => {
                stop(&mut workers, libc::SIGKILL);
                return Err(e);
            }
        }
        signals.watch(workers[rank].child.id());
    }
    let pids: Vec<String> = workers.iter().map(|w| format!("rank {} pid {}", w.rank, w.child.id())).collect();
    eprintln!("clr: {nproc} workers on this host (TCPStore 127.0.0.1:{}): {}", store.port(), pids.join(", "));
    let first_failure = wait_all(&mut workers, &signals)?;
    outcome(&workers, first_failure, signals.received())
}

/// Threads per worker when the user set none: the CPUs shared out, as torchrun's one thread
/// (it sets OMP_NUM_THREADS=1) would leave most of a many-core host idle.
fn threads_per_worker(nproc: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    (cpus / nproc).max(1)
}

fn start(
    inv: &Invocation,
    args: &[OsString],
    rank: usize,
    nproc: usize,
    port: u16,
    threads: Option<usize>,
) -> Result<Worker> {
    let mut cmd = Command::new(&inv.exe);
    cmd.args(args)
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("WORLD_SIZE", nproc.to_string())
        .env("LOCAL_WORLD_SIZE", nproc.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env("TORCHELASTIC_USE_AGENT_STORE", "True")
        .env(LAUNCHER_VAR, std::process::id().to_string())
        // Its own process group: a Ctrl-C at the terminal reaches the launcher alone, which
        // forwards it once (a worker reads a second one as "quit at once").
        .process_group(0);
    if let Some(t) = threads {
        cmd.env("OMP_NUM_THREADS", t.to_string());
    }
    let child = cmd.spawn().with_context(|| format!("cannot start worker {rank} ({})", inv.exe.display()))?;
    Ok(Worker { rank, child, status: None, stopped: false })
}

/// Wait for every worker; once one fails, or dies of a forwarded signal (before it listened for
/// it: the others cannot finish without it), give the others `GRACE` to end by themselves, then
/// SIGTERM, then SIGKILL. Returns the first failure (its rank).
fn wait_all(workers: &mut [Worker], signals: &Forwarder) -> Result<Option<usize>> {
    let mut first_failure: Option<usize> = None;
    let mut trouble: Option<Instant> = None;
    let mut stage = 0;
    loop {
        for w in workers.iter_mut().filter(|w| w.status.is_none()) {
            if let Some(status) = signals.reap(&mut w.child)? {
                w.status = Some(status);
                w.stopped = stage > 0;
                let forwarded = signals.received();
                let fails = failed(status, forwarded);
                if fails && first_failure.is_none() {
                    first_failure = Some(w.rank);
                }
                if (fails || died_of(status, forwarded)) && trouble.is_none() {
                    trouble = Some(Instant::now());
                }
            }
        }
        if workers.iter().all(|w| w.status.is_some()) {
            return Ok(first_failure);
        }
        if let Some(at) = trouble {
            let since = at.elapsed();
            if stage == 0 && since >= GRACE {
                stage = 1;
                stop(workers, libc::SIGTERM);
            } else if stage == 1 && since >= GRACE + KILL_AFTER {
                stage = 2;
                stop(workers, libc::SIGKILL);
            }
        }
        std::thread::sleep(POLL);
    }
}

/// In a worker: once the launcher `pid` is gone (killed outright), stop the run at its next
/// agreed step and save, as on one SIGTERM; not by sending one, which after a SIGTERM forwarded
/// before the launcher died would read as a second ("quit at once").
pub fn watch_launcher(pid: u32) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: getppid(2) cannot fail.
        if unsafe { libc::getppid() } as u32 != pid {
            crate::runtime::signals::request(libc::SIGTERM);
            return;
        }
    });
}

/// A worker's end that is a failure: not a success, nor the stop a forwarded signal asked for
/// (its 130 or 143, or its death by that signal before it listened for it).
fn failed(status: ExitStatus, forwarded: Option<i32>) -> bool {
    let asked = forwarded.is_some() && (matches!(status.code(), Some(130) | Some(143)) || died_of(status, forwarded));
    !status.success() && !asked
}

/// Whether the worker was killed by the signal the launcher forwarded.
fn died_of(status: ExitStatus, forwarded: Option<i32>) -> bool {
    forwarded.is_some() && status.signal() == forwarded
}

/// A worker's exit code, 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn stop(workers: &mut [Worker], signal: i32) {
    for w in workers.iter().filter(|w| w.status.is_none()) {
        // SAFETY: a plain kill(2) of our own child.
        unsafe { libc::kill(w.child.id() as libc::pid_t, signal) };
    }
}

/// The launcher's exit code, or the error that names the first worker to fail. When every
/// worker ended with the same exit code by itself (a divergence, a usage error: rank 0 said
/// why), that code, without a word more. A run stopped by a forwarded signal exits 128 + that
/// signal, even when a worker died of it before it could listen and the others then failed
/// for want of it (the last checkpoint is kept; their own output says what they saw).
fn outcome(workers: &[Worker], first_failure: Option<usize>, forwarded: Option<i32>) -> Result<i32> {
    let code = |w: &Worker| w.status.and_then(|s| s.code());
    let died = workers.iter().any(|w| w.status.is_some_and(|s| died_of(s, forwarded)));
    if let Some(signal) = forwarded.filter(|_| died) {
        return Ok(128 + signal);
    }
    let Some(rank) = first_failure else {
        return Ok(workers[0].status.map_or(1, exit_code));
    };
    let failed = &workers[rank];
    let all_alike = workers.iter().all(|w| !w.stopped && code(w).is_some() && code(w) == code(failed));
    if all_alike {
        return Ok(code(failed).unwrap_or(1));
    }
    let status = failed.status.expect("every worker has ended");
    let message = format!(
        "worker rank {rank} of {} (pid {}) {}; the other workers were stopped",
        workers.len(),
        failed.child.id(),
        describe(status)
    );
    Err(match status.code() {
        Some(2) => UsageError::new(message).into(),
        _ => anyhow!(message),
    })
}

/// "exited with status 1", "was killed by signal 9 (SIGKILL)".
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    let signal = status.signal().unwrap_or(0);
    let name = match signal {
        libc::SIGHUP => " (SIGHUP)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGFPE => " (SIGFPE)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGTERM => " (SIGTERM)",
        _ => "",
    };
    format!("was killed by signal {signal}{name}")
}

/// Ctrl-C and SIGTERM sent to the launcher, passed on to every worker (each signal once).
struct Forwarder {
    pids: Arc<Mutex<Vec<u32>>>,
    first: Arc<AtomicI32>,
}

impl Forwarder {
    fn install() -> Result<Forwarder> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).context("cannot listen for Ctrl-C and SIGTERM")?;
        let (pids, first) = (Arc::new(Mutex::new(Vec::<u32>::new())), Arc::new(AtomicI32::new(0)));
        let (to, seen) = (Arc::clone(&pids), Arc::clone(&first));
        std::thread::spawn(move || {
            for signal in signals.forever() {
                let _ = seen.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
                for &pid in to.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    // SAFETY: kill(2) of a worker we started.
                    unsafe { libc::kill(pid as libc::pid_t, signal) };
                }
            }
        });
        Ok(Forwarder { pids, first })
    }

    /// Forward to `pid` from now on, and now the signal that came before it was started.
    fn watch(&self, pid: u32) {
        self.pids.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
        if let Some(signal) = self.received() {
            // SAFETY: as above.
            unsafe { libc::kill(pid as libc::pid_t, signal) };
        }
    }

    /// `child`'s exit status if it has ended, reaping it; once reaped its pid is free for the
    /// system to reuse, so it leaves the list in the same breath (under the list's lock).
    fn reap(&self, child: &mut Child) -> std::io::Result<Option<ExitStatus>> {
        let mut pids = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        let status = child.try_wait()?;
        if status.is_some() {
            pids.retain(|&p| p != child.id());
        }
        Ok(status)
    }

    fn received(&self) -> Option<i32> {
        match self.first.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn workers_get_the_arguments_without_the_launch_flag() {
        let args = os(&["train", "--nproc-per-node", "2", "--depth", "8", "--nproc-per-node=3", "--no-progress"]);
        assert_eq!(worker_args(&args, None), os(&["train", "--depth", "8", "--no-progress"]));
        let with_out = worker_args(&os(&["range-test", "--nproc-per-node", "2"]), Some(Path::new("runs/x")));
        assert_eq!(with_out, os(&["range-test", "--out", "runs/x"]));
    }

    #[test]
    fn exits_are_described_by_code_or_signal() {
        assert_eq!(describe(ExitStatus::from_raw(1 << 8)), "exited with status 1");
        assert_eq!(describe(ExitStatus::from_raw(9)), "was killed by signal 9 (SIGKILL)");
        assert!(failed(ExitStatus::from_raw(130 << 8), None));
        assert!(!failed(ExitStatus::from_raw(130 << 8), Some(2)), "the stop a forwarded Ctrl-C asked for");
        assert!(!failed(ExitStatus::from_raw(0), None));
        assert!(!failed(ExitStatus::from_raw(libc::SIGTERM), Some(libc::SIGTERM)), "killed by the forwarded SIGTERM");
        assert!(failed(ExitStatus::from_raw(libc::SIGTERM), None), "killed by a SIGTERM from elsewhere");
        assert!(failed(ExitStatus::from_raw(libc::SIGKILL), Some(libc::SIGTERM)));
    }
}
