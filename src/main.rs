//! The `clr` binary: parse the command line, run the command, print its report, and choose the
//! exit code (SPEC: 0 success, 1 runtime failure, 2 usage error, 130 interrupted).

use clap::error::ErrorKind;
use clap::FromArgMatches;
use std::sync::Mutex;

fn main() {
    // First, while this is the only thread: the environment c10d reads.
    clr::dist::c10d::set_process_environment();
    // Reuse freed activation memory instead of page-faulting it in again at every step.
    clr::runtime::malloc::tune();
    let cli = match clr::cli::command().try_get_matches().and_then(|m| clr::cli::Cli::from_arg_matches(&m)) {
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
    static PANIC: Mutex<Option<String>> = Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(place);
    }));
    let (mut stdout, inv) = (std::io::stdout(), invocation());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| clr::commands::run(cli, &mut stdout, &inv)));
    let code = match result {
        Ok(Ok(report)) => {
            for line in report.lines() {
                println!("{line}");
            }
            report.exit_code()
        }
        Ok(Err(err)) => report_error(&err),
        Err(panic) => {
            let message = clr::error::panic_message(panic.as_ref());
            match clr::error::torch_cause(message) {
                Some(cause) => eprintln!("error: libtorch: {cause}"),
                None => {
                    let place = PANIC.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
                    eprintln!("error: internal error (a bug in clr, please report it): {message}{place}");
                }
            }
            1
        }
    };
    std::process::exit(code);
}

/// Print a command's error as the SPEC asks and return the exit code it calls for.
fn report_error(err: &anyhow::Error) -> i32 {
    // `clr schedule | head`: the reader has what it wanted.
    if broken_pipe(err) {
        return 0;
    }
    // Rank 0 prints it; the message once is enough.
    if clr::error::holds::<clr::error::ReportedByRank0>(err) {
        return 1;
    }
    if clr::error::holds::<clr::error::StoppedBySignal>(err) {
        eprintln!("{err}");
        return clr::runtime::signals::exit_status();
    }
    let code = clr::error::exit_code(err);
    if code == 2 {
        eprintln!("error: {err}");
    } else {
        eprintln!("error: {err:#}");
    }
    code
}

/// How this process was started: the library reads the environment (torchrun's and SLURM's
/// variables) and starts workers of this binary through it alone.
fn invocation() -> clr::dist::Invocation {
    let exe = std::env::current_exe().unwrap_or_else(|_| std::env::args_os().next().unwrap_or_default().into());
    clr::dist::Invocation::new(exe, std::env::args_os().skip(1).collect(), |name| std::env::var(name).ok())
}

/// Whether the error is a write to a pipe whose reader has gone.
fn broken_pipe(err: &anyhow::Error) -> bool {
    let pipe = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(pipe)
            || e.downcast_ref::<csv::Error>().is_some_and(|c| matches!(c.kind(), csv::ErrorKind::Io(io) if pipe(io)))
    })
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
