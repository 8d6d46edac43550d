use clap::error::ErrorKind;
use clap::Parser;

fn main() {
    // Reuse freed activation memory instead of page-faulting it in again at every step.
    clr::malloc::tune();
    let cli = match clr::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => match err.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => err.exit(),
            // A usage error is one line (SPEC): clap's message without its usage and hint lines.
            _ => {
                eprintln!("{}", one_line(&err.render().to_string()));
                std::process::exit(2);
            }
        },
    };
    // tch turns a libtorch error inside an operator (out of memory, say) into a panic: report it
    // as the runtime failure it is (exit 1, one message), not as a crash with a backtrace.
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| clr::app::run(cli));
    let err = match result {
        Ok(Ok(())) => return,
        Ok(Err(err)) => err,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            eprintln!("error: libtorch: {}", torch_cause(message));
            std::process::exit(1);
        }
    };
    let code = clr::error::exit_code(&err);
    if code == 2 {
        eprintln!("error: {err}");
    } else {
        eprintln!("error: {err:#}");
    }
    std::process::exit(code);
}

/// Join the lines of a clap error that say what is wrong, dropping the usage and help hints.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The cause in a tch panic message, without the unwrap wrapper and libtorch's stack frames:
/// `called \`Result::unwrap()\` on an \`Err\` value: Torch("CAUSE\nframe #0: …")` → `CAUSE`.
fn torch_cause(message: &str) -> &str {
    let cause = message.split_once("Torch(\"").map_or(message, |(_, rest)| rest);
    let cause = cause.split("\\n").next().unwrap_or(cause);
    cause.lines().next().unwrap_or(cause).trim_end_matches("\")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_cause_keeps_the_first_line_of_the_cause() {
        let msg = "called `Result::unwrap()` on an `Err` value: Torch(\"CUDA out of memory. Tried to allocate 2 GiB\\nframe #0: c10::x\\n\")";
        assert_eq!(torch_cause(msg), "CUDA out of memory. Tried to allocate 2 GiB");
        assert_eq!(torch_cause("plain message"), "plain message");
    }
}
