use std::process::ExitCode;

use clap::Parser;

use obsctl::cli::Cli;
use obsctl::report::Printer;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 64,
            });
        }
    };
    let unhandled = obsctl::signals::install();
    let printer = Printer::new(cli.output, cli.verbose);
    for warning in unhandled {
        printer.warn(&warning);
    }
    match obsctl::commands::run(cli.command, &printer) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            printer.error(&err);
            ExitCode::from(err.phase.exit_code())
        }
    }
}
