//! Errors that decide the exit code: usage and configuration errors exit 2, everything else 1.

use std::fmt;

/// A usage or configuration error: one line that names the flag, field or file. Exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl UsageError {
    pub fn new(msg: impl Into<String>) -> Self {
        UsageError(msg.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `bail!`-like shorthand for a usage error.
#[macro_export]
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err($crate::error::UsageError::new(format!($($arg)*)).into())
    };
}

/// A failure every rank reaches together (a divergence), which rank 0 reports: another rank
/// exits 1 with it and prints nothing, so that the message appears once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportedByRank0;

impl fmt::Display for ReportedByRank0 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rank 0 reports this failure")
    }
}

impl std::error::Error for ReportedByRank0 {}

/// A command stopped by Ctrl-C or SIGTERM before it had anything to report: `main` exits 128 +
/// the signal, as for a run that was interrupted with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoppedBySignal;

impl fmt::Display for StoppedBySignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopped by a signal")
    }
}

impl std::error::Error for StoppedBySignal {}

/// Whether any link of the error chain is an `E` (a usage error, a failure rank 0 reports, …).
pub fn holds<E: std::error::Error + 'static>(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.is::<E>())
}

/// Exit code for an error chain: 2 when any link is a usage error, else 1.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    if holds::<UsageError>(err) {
        2
    } else {
        1
    }
}

/// The text of a caught panic (`panic!` with a string, or a formatted message).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
}

/// The cause in a tch panic message, without the unwrap wrapper and libtorch's stack frames:
/// `called \`Result::unwrap()\` on an \`Err\` value: Torch("CAUSE\nframe #0: …")` → `CAUSE`.
/// None for a panic that did not come from libtorch.
pub fn torch_cause(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("Torch(\"")?;
    let cause = rest.split("\\n").next().unwrap_or(rest);
    Some(cause.lines().next().unwrap_or(cause).trim_end_matches("\")"))
}

/// The first line of a libtorch error message (a C++ backtrace follows it).
pub fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_cause_keeps_the_first_line_of_the_cause() {
        let msg = "called `Result::unwrap()` on an `Err` value: Torch(\"CUDA out of memory. Tried to allocate 2 GiB\\nframe #0: c10::x\\n\")";
        assert_eq!(torch_cause(msg), Some("CUDA out of memory. Tried to allocate 2 GiB"));
        assert_eq!(torch_cause("index out of bounds: the len is 3"), None, "not every panic is libtorch's");
    }
}
