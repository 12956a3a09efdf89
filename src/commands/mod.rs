//! The subcommands. Each opens a `Session` (environment loaded and
//! validated, its lock held, a run directory for logs) and does its job.

mod backup;
mod destroy;
mod doctor;
mod facts;
mod inventory;
mod migrate_state;
mod plan;
mod renew_certs;
mod restore;
mod rotate_secret;
mod silence;
mod ssh;
mod status;
mod unlock;
mod up;

use crate::cli::Command;
use crate::error::Result;
use crate::report::Printer;

pub fn run(command: Command, printer: &Printer) -> Result<u8> {
    match command {
        Command::Up(args) => up::run(args, printer),
        Command::Destroy(args) => destroy::run(args, printer),
        Command::Plan(args) => plan::run(&args.env.env, printer),
        Command::Inventory(args) => inventory::run(&args.env.env, args.contract.as_deref(), printer),
        Command::Status(args) => status::run(&args.env.env, printer),
        Command::Doctor(args) => doctor::run(args.env.as_deref(), args.fix, printer),
        Command::Unlock(args) => unlock::run(args, printer),
        Command::MigrateState(args) => migrate_state::run(&args.env.env, printer),
        Command::Ssh(args) => ssh::run(args, printer),
        Command::Silence(args) => silence::run(args, printer),
        Command::RotateSecret(args) => rotate_secret::run(args, printer),
        Command::Backup(args) => backup::run(args, printer),
        Command::Restore(args) => restore::run(args, printer),
        Command::RenewCerts(args) => renew_certs::run(&args.env.env, printer),
        Command::Facts => facts::run(),
    }
}
