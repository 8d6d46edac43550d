use clap::Parser;

fn main() {
    let cli = clr::cli::Cli::parse();
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
