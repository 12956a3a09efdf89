#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
                _ => obsctl::error::USAGE_EXIT,
            });
        }
    };
    let unhandled = obsctl::signals::install();
    let printer = Printer::new(cli.output, cli.verbose);
    for warning in unhandled {
        printer.warn(&warning);
    }
    obsctl::report::install_panic_hook();
    // A panic (a bug) has already been reported by the hook, with the run
    // log's path; it exits with the `internal` code, never Rust's 101.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obsctl::commands::run(cli.command, &printer)));
    // The SSH tunnel over a bastion, if this run opened one (it would also
    // end on its own once obsctl's pipe to it closes).
    obsctl::tools::tunnel::close();
    match run {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(err)) => {
            printer.error(&err);
            ExitCode::from(err.phase.exit_code())
        }
        Err(_) => ExitCode::from(obsctl::error::Phase::Internal.exit_code()),
    }
}
