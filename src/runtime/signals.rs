//! Ctrl-C: the first one asks the run to stop after the current step and save; training loops
//! poll [`requested`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static STOP: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: the user means it.
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing the current step and saving a checkpoint (Ctrl-C again to quit at once)");
        });
    });
}

pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
