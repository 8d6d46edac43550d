//! Ctrl-C (SIGINT) and SIGTERM (what `kill` and job schedulers send): the first asks the run to
//! stop after the current step, save a checkpoint and exit 128 + the signal (130, 143); loops poll
//! [`requested`]. A second one quits at once with the same status, without running destructors:
//! libtorch's threads may be mid-kernel, and a normal exit from another thread crashed them
//! (segfault). Whatever was last saved stays resumable: every file is written atomically.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Once;

/// The first stop signal received, 0 before any.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();

/// Start listening (once per process; later calls do nothing).
pub fn install() {
    INSTALL.call_once(|| {
        let mut signals = match Signals::new([SIGINT, SIGTERM]) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("warning: cannot listen for Ctrl-C ({e}); a Ctrl-C will stop the run without saving");
                return;
            }
        };
        std::thread::spawn(move || {
            for signal in signals.forever() {
                if RECEIVED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                    // SAFETY: _exit ends the process at once; nothing of ours is left half-written
                    // (atomic writes), and no destructor runs under libtorch's feet.
                    unsafe { libc::_exit(128 + signal) };
                }
                let name = if signal == SIGTERM { "SIGTERM" } else { "interrupt" };
                eprintln!(
                    "\n{name}: finishing the current step and saving a checkpoint (Ctrl-C again to quit at once)"
                );
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
