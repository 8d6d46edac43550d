use clap::error::ErrorKind;
use clap::Parser;

fn main() {
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
    if let Err(err) = clr::app::run(cli) {
        let code = clr::error::exit_code(&err);
        if code == 2 {
            eprintln!("error: {err}");
        } else {
            eprintln!("error: {err:#}");
        }
        std::process::exit(code);
    }
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
