//! Pinning the host keys a stack publishes (each host's `ssh_host_key`, the
//! bastion's `ssh.bastion_host_key`) in the environment's known_hosts.

use std::path::Path;

use super::known_hosts_name;
use crate::error::{Error, Result};
use crate::model::contract::Contract;

/// Pins in `known_hosts` the host keys the contract publishes, for each host
/// that is new or was recreated since `previous` (its key or its address
/// changed), or for every keyed host when the file does not exist. A host
/// whose key did not change keeps its entry as it is, so a key the operator
/// forgot and let `up` pin again stays pinned. Returns the hosts recorded.
pub fn record_host_keys(previous: Option<&Contract>, contract: &Contract, known_hosts: &Path) -> Result<Vec<String>> {
    let text = match std::fs::read_to_string(known_hosts) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::internal(format!("cannot read {}: {e}", known_hosts.display()))),
    };
    let mut lines: Vec<String> = text.as_deref().unwrap_or("").lines().map(str::to_string).collect();
    let mut recorded = Vec::new();
    for (name, h) in &contract.hosts {
        let Some(key) = &h.ssh_host_key else { continue };
        let before = previous.and_then(|p| p.hosts.get(name));
        let unchanged = before.is_some_and(|b| b.ssh_host_key.as_ref() == Some(key) && b.address == h.address && b.ssh_port == h.ssh_port);
        if text.is_some() && unchanged {
            continue;
        }
        let kh = known_hosts_name(&h.address, h.ssh_port);
        drop_name(&mut lines, &kh);
        lines.push(format!("{kh} {key}"));
        recorded.push(name.clone());
    }
    // The bastion's key, when the stack publishes it: pinned the same way.
    if let (Some(bastion), Some(key)) = (&contract.ssh.bastion, &contract.ssh.bastion_host_key) {
        let before = previous.map(|p| (&p.ssh.bastion, &p.ssh.bastion_host_key));
        if text.is_none() || before != Some((&contract.ssh.bastion, &contract.ssh.bastion_host_key)) {
            let kh = known_hosts_name(super::bastion_parts(bastion).1, 22);
            drop_name(&mut lines, &kh);
            lines.push(format!("{kh} {key}"));
            recorded.push(bastion.clone());
        }
    }
    // A bastion switched off (the lab) or moved: its old key is forgotten.
    let mut forgot = false;
    if let Some(old) = previous.and_then(|p| p.ssh.bastion.as_ref()).filter(|b| contract.ssh.bastion.as_ref() != Some(*b)) {
        forgot = drop_name(&mut lines, &known_hosts_name(super::bastion_parts(old).1, 22));
    }
    if !recorded.is_empty() || text.is_none() || forgot {
        let mut out = lines.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        crate::state::workspace::write_atomic(known_hosts, out.as_bytes(), 0o600)?;
    }
    Ok(recorded)
}

/// Removes the known_hosts lines that name `kh`; whether there was one.
fn drop_name(lines: &mut Vec<String>, kh: &str) -> bool {
    let before = lines.len();
    lines.retain(|l| !l.split_whitespace().next().is_some_and(|names| names.split(',').any(|n| n == kh)));
    lines.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::contract::tests::{contract, env, HOST_KEY};
    use crate::tools::ssh::tests::keyed;
    use serde_json::json;

    #[test]
    fn records_keys_of_new_and_recreated_hosts_only() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        let other = HOST_KEY.replace("kz5d", "kz5e");
        // First run: no file, every published key is recorded; app-1 publishes none.
        let first = keyed(&[("mon-1", HOST_KEY)]);
        assert_eq!(record_host_keys(None, &first, &kh).unwrap(), vec!["mon-1"]);
        assert_eq!(std::fs::read_to_string(&kh).unwrap(), format!("10.77.0.10 {HOST_KEY}\n"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&kh).unwrap().permissions().mode() & 0o777, 0o600);
        // A key learnt on first use (app-1) and an unchanged contract: nothing is touched.
        std::fs::write(&kh, format!("10.77.0.10 {HOST_KEY}\n10.77.0.11 ssh-ed25519 TOFU\n")).unwrap();
        assert!(record_host_keys(Some(&first), &first, &kh).unwrap().is_empty());
        // The operator forgot mon-1's key on purpose: an unchanged contract does not put it back.
        std::fs::write(&kh, "10.77.0.11 ssh-ed25519 TOFU\n").unwrap();
        assert!(record_host_keys(Some(&first), &first, &kh).unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(&kh).unwrap(), "10.77.0.11 ssh-ed25519 TOFU\n");
        // Terraform recreated mon-1 (new key): its old entries go, the new key is pinned.
        std::fs::write(&kh, format!("10.77.0.10,mon-1 {HOST_KEY}\n10.77.0.11 ssh-ed25519 TOFU\n10.77.0.100 ssh-ed25519 X\n")).unwrap();
        let recreated = keyed(&[("mon-1", &other)]);
        assert_eq!(record_host_keys(Some(&first), &recreated, &kh).unwrap(), vec!["mon-1"]);
        assert_eq!(
            std::fs::read_to_string(&kh).unwrap(),
            format!("10.77.0.11 ssh-ed25519 TOFU\n10.77.0.100 ssh-ed25519 X\n10.77.0.10 {other}\n")
        );
        // The file was deleted: the published keys are recorded again.
        std::fs::remove_file(&kh).unwrap();
        assert_eq!(record_host_keys(Some(&recreated), &recreated, &kh).unwrap(), vec!["mon-1"]);
    }

    /// Issue 32: the lab's bastion publishes its key: pinned before the first
    /// jump, and again when the bastion is recreated (a new key).
    #[test]
    fn the_bastions_published_key_is_pinned_and_follows_a_recreation() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        let with = |key: &str| {
            let mut v = contract();
            v["ssh"]["bastion"] = json!("root@10.77.0.9");
            v["ssh"]["bastion_host_key"] = json!(key);
            crate::model::contract::parse(&v.to_string(), &env()).unwrap()
        };
        let first = with(HOST_KEY);
        assert_eq!(record_host_keys(None, &first, &kh).unwrap(), vec!["root@10.77.0.9"]);
        assert_eq!(std::fs::read_to_string(&kh).unwrap(), format!("10.77.0.9 {HOST_KEY}\n"));
        assert!(record_host_keys(Some(&first), &first, &kh).unwrap().is_empty());
        let other = HOST_KEY.replace("kz5d", "kz5e");
        assert_eq!(record_host_keys(Some(&first), &with(&other), &kh).unwrap(), vec!["root@10.77.0.9"]);
        assert_eq!(std::fs::read_to_string(&kh).unwrap(), format!("10.77.0.9 {other}\n"));
        // The bastion switched off: its key is forgotten, the hosts' stay.
        let direct = crate::model::contract::parse(&contract().to_string(), &env()).unwrap();
        std::fs::write(&kh, format!("10.77.0.9 {other}\n10.77.0.10 ssh-ed25519 TOFU\n")).unwrap();
        assert!(record_host_keys(Some(&with(&other)), &direct, &kh).unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(&kh).unwrap(), "10.77.0.10 ssh-ed25519 TOFU\n");
    }
}
