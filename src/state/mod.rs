//! What obsctl keeps under `.obsctl/<env>/`: the workspace paths, the
//! deployment and converged records, secrets, TLS material, the lock.
//! Imports only `model` and the ground modules.

pub mod ca_rotation;
pub mod converged;
pub mod db_restore;
pub mod deployment;
pub mod lock;
pub mod os_roll;
pub mod secrets;
pub mod tls;
pub mod workspace;
