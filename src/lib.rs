//! obsctl: deploys an observability stack with Terraform and Ansible.
//!
//! The modules are layers, each importing only from the ones below it
//! (tests/layers.rs keeps it so):
//!
//! ```text
//! commands   the subcommands: parse, call deploy/check, print
//! deploy     the session every command opens, the phases of a run
//! check      verify, status probes, drift, prerequisites
//! tools      process, terraform, ansible, ssh, lab, alertmanager
//! state      .obsctl/<env>/: workspace, records, secrets, tls, lock
//! model      environment, components, contract, names, units
//! ground     error, report, signals, cli
//! ```
#![deny(clippy::print_stdout, clippy::print_stderr)]
// A bug is reported by the panic hook; everything else is an `Error` with a
// phase and a hint. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod check;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod error;
pub mod model;
pub mod report;
pub mod signals;
pub mod state;
pub mod tools;
