use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints --help/--version and usage errors itself (exit 0 / 2).
    let config = orders_api::cli::parse(std::env::args_os());
    match orders_api::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("orders-api: error: {err}");
            ExitCode::FAILURE
        }
    }
}
