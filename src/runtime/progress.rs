//! Progress on stderr: an indicatif bar on a terminal, plain log lines otherwise (CI logs,
//! redirected output), at most one every few seconds besides the lines that matter.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub struct Progress {
    bar: Option<ProgressBar>,
    last_line: Instant,
    quiet_for: Duration,
    /// Prints nothing at all (the ranks of a distributed run but rank 0).
    silent: bool,
}

impl Progress {
    /// `total` steps; a bar when `enabled` and stderr is a terminal.
    pub fn new(total: u64, enabled: bool) -> Progress {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Progress { bar, last_line: Instant::now(), quiet_for: Duration::from_secs(10), silent: false }
    }

    /// Progress that is never shown, lines included.
    pub fn silent() -> Progress {
        Progress { silent: true, ..Progress::new(0, false) }
    }

    /// Move to `pos` with a status message; without a bar, print it now and then.
    pub fn update(&mut self, pos: u64, msg: String) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(pos);
                bar.set_message(msg);
            }
            None => {
                if self.last_line.elapsed() >= self.quiet_for {
                    self.line(&msg);
                }
            }
        }
    }

    /// A line that is always shown (above the bar, if any).
    pub fn line(&mut self, msg: &str) {
        if self.silent {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => eprintln!("{msg}"),
        }
        self.last_line = Instant::now();
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
