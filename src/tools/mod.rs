//! The programs obsctl drives (child processes, Terraform, Ansible, ssh, the
//! lab script, the Alertmanager API) and what they are given. Imports only
//! `state`, `model` and the ground modules.

pub mod alertmanager;
pub mod ansible;
pub mod archive;
pub mod aws;
pub mod http;
pub mod inventory;
pub mod lab;
pub mod pipes;
pub mod process;
pub mod retry;
pub mod ssh;
pub mod stack;
pub mod terraform;
pub mod tunnel;
pub mod venv;
