//! Checks of what is: verification of a deployment, status probes, drift,
//! prerequisites. Imports only `tools` and the layers below.

pub mod drift;
pub mod installed;
pub mod prerequisites;
pub mod probes;
pub mod user_files;
pub mod user_inputs;
pub mod verify;
