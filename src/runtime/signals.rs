//! Ctrl-C (SIGINT) and SIGTERM (what `kill` and job schedulers send): the first asks the run to
//! stop after the current step, save a checkpoint and exit 128 + the signal (130, 143); loops poll
//! [`requested`]. A second one quits at once with the same status, without running destructors:
//! libtorch's threads may be mid-kernel, and a normal exit from another thread crashed them
//! (segfault). Whatever was last saved stays resumable: every file is written atomically.
//!
//! A rank of a launch may get the same stop twice: from whoever signalled its whole job (a
//! scheduler's SIGTERM, as SLURM sends at a time limit, reaches every process) and again from its
//! launcher (`--nproc-per-node`, torchrun), which forwards what it receives. "Again" is counted
//! per sender, the parent process or anyone else: a second signal quits at once only when its
//! sender sent one before, never when the parent merely repeats a stop that came from outside.
//! Ranks agree on the stop at their next all-reduce (SIGTERM outweighs Ctrl-C, [`agreed`]), so
//! that they all exit with the same status.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithRawSiginfo;
use signal_hook::iterator::SignalsInfo;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::Once;

/// The stop signal this process acts on (the first received, or the one the ranks agreed on),
/// 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The parent process of a rank of a launch (`--nproc-per-node`'s launcher, torchrun's agent,
/// srun's step daemon), which forwards signals; 0 for a process alone, whose parent (a shell,
/// init) forwards nothing: then every second signal counts.
static PARENT: AtomicU32 = AtomicU32::new(0);
/// Whether a stop prints what happens next (rank 0, or a process alone).
static ANNOUNCE: AtomicBool = AtomicBool::new(true);
/// What a stop does, as the notice says it: the command sets it (see [`set_notice`]).
static NOTICE: std::sync::Mutex<&'static str> = std::sync::Mutex::new("finishing the current step");
static INSTALL: Once = Once::new();

/// Who sent a stop signal: the parent process (which forwards what it receives), or anyone else
/// (a terminal's Ctrl-C, `kill`, a scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Parent,
    Other,
}

/// What a stop signal means, given those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop after the current step and save.
    Stop,
    /// The stop already asked for, repeated by the parent or by the job's other sender.
    Repeat,
    /// A second signal from the same sender: quit at once.
    Quit,
}

/// The stop signals received so far, per sender.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stops {
    from_parent: bool,
    from_others: bool,
}

impl Stops {
    pub fn on_signal(&mut self, sender: Sender) -> Action {
        let first = !self.from_parent && !self.from_others;
        let seen = match sender {
            Sender::Parent => std::mem::replace(&mut self.from_parent, true),
            Sender::Other => std::mem::replace(&mut self.from_others, true),
        };
        match (seen, first) {
            (true, _) => Action::Quit,
            (false, true) => Action::Stop,
            (false, false) => Action::Repeat,
        }
    }
}

/// What the first stop's notice says the command does next ("finishing the current step and
/// saving a checkpoint").
pub fn set_notice(what: &'static str) {
    *NOTICE.lock().unwrap_or_else(|e| e.into_inner()) = what;
}

/// This process is a rank of a launch: its parent forwards the signals it receives, so a
/// signal from the parent after the same stop from elsewhere repeats it (see [`Stops`]).
pub fn parent_forwards() {
    // SAFETY: getppid(2) cannot fail.
    PARENT.store(unsafe { libc::getppid() } as u32, Ordering::SeqCst);
}

/// Whether this process says what a stop does (other ranks leave it to rank 0).
pub fn set_announce(announce: bool) {
    ANNOUNCE.store(announce, Ordering::SeqCst);
}

fn sender(pid: Option<u32>) -> Sender {
    match pid {
        Some(p) if p != 0 && p == PARENT.load(Ordering::SeqCst) => Sender::Parent,
        _ => Sender::Other,
    }
}

/// Start listening (once per process; later calls do nothing). A rank of a launch listens from
/// its start, so that a stop forwarded while it loads data or joins its group is a stop too.
pub fn install() {
    INSTALL.call_once(|| {
        let mut signals = match SignalsInfo::<WithRawSiginfo>::new([SIGINT, SIGTERM]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("warning: cannot listen for Ctrl-C ({e}); a Ctrl-C will stop the run without saving");
                return;
            }
        };
        std::thread::spawn(move || {
            let mut stops = Stops::default();
            for info in signals.forever() {
                let signal = info.si_signo;
                // SAFETY: si_pid is the sender of a kill(2); 0 for a signal from the kernel (a
                // terminal's Ctrl-C), whose union fields are zero.
                let pid = unsafe { info.si_pid() };
                match stops.on_signal(sender((pid > 0).then_some(pid as u32))) {
                    // SAFETY: _exit ends the process at once; nothing of ours is left
                    // half-written (atomic writes), and no destructor runs under libtorch's feet.
                    Action::Quit => unsafe { libc::_exit(128 + signal) },
                    Action::Repeat => {}
                    Action::Stop => request(signal),
                }
            }
        });
    });
}

/// Ask the run to stop as on `signal`, unless a stop is already asked for: what a first Ctrl-C
/// does, and what a worker does when its launcher is gone.
pub fn request(signal: i32) {
    if RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        announce(signal);
    }
}

/// The stop that the ranks' summed [`flag`]s ask for ([`agreed`]), adopted by this process, so
/// that it exits as they all do (and says so, if it had not been asked itself).
pub fn agree(sum: f64) -> Option<i32> {
    let stop = agreed(sum);
    if let Some(signal) = stop {
        if RECEIVED.swap(signal, Ordering::SeqCst) == 0 {
            announce(signal);
        }
    }
    stop
}

fn announce(signal: i32) {
    if ANNOUNCE.load(Ordering::SeqCst) {
        let name = if signal == SIGTERM { "SIGTERM" } else { "interrupt" };
        let what = *NOTICE.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!("\n{name}: {what} (Ctrl-C again to quit at once)");
    }
}

/// A SIGTERM anywhere outweighs any number of Ctrl-Cs in a sum of [`flag`]s.
const TERM_WEIGHT: f64 = (1u64 << 20) as f64;

/// This rank's stop request as a number to sum over the ranks: 0, 1 for Ctrl-C, 2^20 for
/// SIGTERM. The sum says whether any rank was asked to stop, and how ([`agreed`]).
pub fn flag(received: Option<i32>) -> f64 {
    match received {
        None => 0.0,
        Some(SIGTERM) => TERM_WEIGHT,
        Some(_) => 1.0,
    }
}

/// The stop that a sum of [`flag`]s asks for: SIGTERM if any rank got one, else Ctrl-C if any
/// rank got one, else none.
pub fn agreed(sum: f64) -> Option<i32> {
    if sum >= TERM_WEIGHT {
        Some(SIGTERM)
    } else if sum > 0.0 {
        Some(SIGINT)
    } else {
        None
    }
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    received().is_some()
}

/// The stop signal this process acts on (SIGINT or SIGTERM), if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The exit status of a run stopped by a signal: 128 + the signal (130 for Ctrl-C).
pub fn exit_status() -> i32 {
    128 + received().unwrap_or(SIGINT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(senders: &[Sender]) -> Vec<Action> {
        let mut stops = Stops::default();
        senders.iter().map(|&s| stops.on_signal(s)).collect()
    }

    #[test]
    fn a_second_signal_from_the_same_sender_quits() {
        use Sender::*;
        assert_eq!(actions(&[Other, Other]), [Action::Stop, Action::Quit], "Ctrl-C twice, alone");
        assert_eq!(actions(&[Parent, Parent]), [Action::Stop, Action::Quit], "Ctrl-C twice, forwarded");
    }

    #[test]
    fn the_launcher_repeating_a_stop_from_outside_is_the_same_stop() {
        use Sender::*;
        // A scheduler signals the whole job: the worker hears it directly and from its launcher,
        // in either order; a third signal is a deliberate second one.
        assert_eq!(actions(&[Other, Parent, Parent]), [Action::Stop, Action::Repeat, Action::Quit]);
        assert_eq!(actions(&[Parent, Other, Other]), [Action::Stop, Action::Repeat, Action::Quit]);
    }

    #[test]
    fn the_ranks_agree_on_sigterm_over_ctrl_c() {
        let sum = |rs: &[Option<i32>]| rs.iter().map(|&r| flag(r)).sum::<f64>();
        assert_eq!(agreed(sum(&[None, None])), None);
        assert_eq!(agreed(sum(&[None, Some(SIGINT), Some(SIGINT)])), Some(SIGINT));
        assert_eq!(agreed(sum(&[Some(SIGINT), Some(SIGTERM), Some(SIGINT)])), Some(SIGTERM));
        assert_eq!(agreed(sum(&[None, Some(SIGTERM)])), Some(SIGTERM));
    }
}
