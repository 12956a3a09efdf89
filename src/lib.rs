//! obsctl: deploys an observability stack with Terraform and Ansible.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod ansible;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod component;
pub mod contract;
pub mod converged;
pub mod deployment;
pub mod environment;
pub mod error;
pub mod installed;
pub mod inventory;
pub mod lab;
pub mod lock;
pub mod names;
pub mod prerequisites;
pub mod process;
pub mod report;
pub mod retry;
pub mod secrets;
pub mod signals;
pub mod ssh;
pub mod stack;
pub mod terraform;
pub mod tls;
pub mod verify;
pub mod workspace;
