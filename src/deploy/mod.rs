//! Running a deployment: the session every command opens and the phases of
//! `up` (prepare, provision, inventory, configure-or-skip, verify). Imports
//! `check` and the layers below, never `commands`.

pub mod backup;
pub mod configure;
pub mod existing;
pub mod inventory;
pub mod maintenance;
pub mod prepare;
pub mod provision;
pub mod rds;
pub mod restore;
pub mod roll;
pub mod session;
pub mod up;
pub mod verify;
