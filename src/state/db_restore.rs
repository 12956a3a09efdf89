//! The restore record of Grafana's RDS database (`.obsctl/<env>/grafana-db-restore.json`):
//! `obsctl restore` of an archive with an RDS snapshot, on an environment
//! that is not up, writes the snapshot's name here; every `up` then passes it
//! to the aws stack (`grafana_db_snapshot_identifier`), so the database it
//! creates starts from the snapshot. An instance that exists ignores it
//! (`ignore_changes` in terraform/modules/aws_grafana_db). `destroy` removes
//! it: a later environment starts empty unless restored again.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::state::workspace::{read_record, remove_record, write_record, StateDir};

pub const FILE: &str = "grafana-db-restore.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbRestore {
    /// The RDS snapshot identifier the next created database starts from.
    pub snapshot: String,
    /// The instance it is a snapshot of, and when RDS took it.
    pub instance: String,
    pub taken: String,
}

pub fn path(state: &StateDir) -> std::path::PathBuf {
    state.dir.join(FILE)
}

pub fn read(state: &StateDir) -> Result<Option<DbRestore>> {
    let p = path(state);
    read_record(&p, "a restore record", format!("remove it (rm {}) and run `obsctl restore` again", p.display()))
}

pub fn write(state: &StateDir, r: &DbRestore) -> Result<()> {
    write_record(&path(state), r)
}

pub fn clear(state: &StateDir) {
    remove_record(&path(state));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_written_read_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir { dir: dir.path().to_path_buf() };
        assert_eq!(read(&state).unwrap(), None);
        let r =
            DbRestore { snapshot: "obsctl-prod-grafana-20261207071500".into(), instance: "obsctl-prod-grafana".into(), taken: "t".into() };
        write(&state, &r).unwrap();
        assert_eq!(read(&state).unwrap(), Some(r));
        std::fs::write(path(&state), "{").unwrap();
        assert!(read(&state).unwrap_err().message.contains("is not a restore record"));
        clear(&state);
        assert_eq!(read(&state).unwrap(), None);
    }
}
