//! Ctrl-C (SIGINT) and SIGTERM (what `kill` and job schedulers send): the first asks the run to
//! stop after the current step, save a checkpoint and exit 128 + the signal (130, 143); loops poll
//! [`requested`]. A second one quits at once with the same status, without running destructors:
//! libtorch's threads may be mid-kernel, and a normal exit from another thread crashed them
//! (segfault). Whatever was last saved stays resumable: every file is written atomically.
//!
//! A worker of `--nproc-per-node` may get the same stop twice: from whoever signalled its whole
//! job (a scheduler's SIGTERM, as SLURM sends at a time limit, reaches every process) and again
//! from its launcher, which forwards what it receives. "Again" is counted per sender: a second
//! signal quits at once only when it comes from the sender of an earlier one (the launcher, or
//! anyone else), never when the launcher merely repeats a stop that already came from outside.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithRawSiginfo;
use signal_hook::iterator::SignalsInfo;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Once;

/// The first stop signal received, 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The pid of this worker's launcher (`--nproc-per-node`), 0 when there is none.
static LAUNCHER: AtomicU32 = AtomicU32::new(0);
/// Whether the first signal prints what happens next (rank 0, or a process alone).
static ANNOUNCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
static INSTALL: Once = Once::new();

/// Who sent a stop signal: this worker's launcher (or the worker itself, standing in for a
/// launcher that died), or anyone else (a terminal, `kill`, a scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Launcher,
    Other,
}

/// What a stop signal means, given those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop after the current step and save.
    Stop,
    /// The stop already asked for, repeated by the launcher or by the job's other sender.
    Repeat,
    /// A second signal from the same sender: quit at once.
    Quit,
}

/// The stop signals received so far, per sender.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stops {
    from_launcher: bool,
    from_others: bool,
}

impl Stops {
    pub fn on_signal(&mut self, sender: Sender) -> Action {
        let first = !self.from_launcher && !self.from_others;
        let seen = match sender {
            Sender::Launcher => std::mem::replace(&mut self.from_launcher, true),
            Sender::Other => std::mem::replace(&mut self.from_others, true),
        };
        match (seen, first) {
            (true, _) => Action::Quit,
            (false, true) => Action::Stop,
            (false, false) => Action::Repeat,
        }
    }
}

/// This process is a worker of the launcher `pid`: its forwarded signals repeat, not add.
pub fn set_launcher(pid: u32) {
    LAUNCHER.store(pid, Ordering::SeqCst);
}

/// Whether this process says what a first signal does (other ranks leave it to rank 0).
pub fn set_announce(announce: bool) {
    ANNOUNCE.store(announce, Ordering::SeqCst);
}

fn sender(pid: Option<u32>) -> Sender {
    let launcher = LAUNCHER.load(Ordering::SeqCst);
    match pid {
        Some(p) if launcher != 0 && (p == launcher || p == std::process::id()) => Sender::Launcher,
        _ => Sender::Other,
    }
}

/// Start listening (once per process; later calls do nothing).
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
                    Action::Stop => {
                        RECEIVED.store(signal, Ordering::SeqCst);
                        if ANNOUNCE.load(Ordering::SeqCst) {
                            let name = if signal == SIGTERM { "SIGTERM" } else { "interrupt" };
                            eprintln!(
                                "\n{name}: finishing the current step and saving a checkpoint (Ctrl-C again to quit at once)"
                            );
                        }
                    }
                }
            }
        });
    });
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    received().is_some()
}

/// The first stop signal received (SIGINT or SIGTERM), if any.
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
        assert_eq!(actions(&[Launcher, Launcher]), [Action::Stop, Action::Quit], "Ctrl-C twice, forwarded");
    }

    #[test]
    fn the_launcher_repeating_a_stop_from_outside_is_the_same_stop() {
        use Sender::*;
        // A scheduler signals the whole job: the worker hears it directly and from its launcher,
        // in either order; a third signal is a deliberate second one.
        assert_eq!(actions(&[Other, Launcher, Launcher]), [Action::Stop, Action::Repeat, Action::Quit]);
        assert_eq!(actions(&[Launcher, Other, Other]), [Action::Stop, Action::Repeat, Action::Quit]);
    }
}
