//! The data obsctl works on, parsed and validated: the environment file, the
//! component registry, the Terraform contract, names and units. Imports only
//! the ground modules (error, report, signals, cli).

pub mod access;
pub mod aws;
pub mod backup;
pub mod component;
pub mod contract;
pub mod environment;
pub mod names;
pub mod units;
