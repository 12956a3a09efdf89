//! Hosts obsctl did not create (`[[existing_hosts]]`, docs/existing-hosts.md).
//! Before anything changes anywhere, `up` checks every existing host:
//! its key file, an SSH login (its pinned host key, or trust on first use
//! with the fingerprint printed and recorded), and that the ports obsctl
//! would listen on there are free (or already obsctl's). It then notes on
//! each host which of obsctl's packages and users it lacks, so that when the
//! host leaves the env file, or on `destroy`, obsctl removes exactly what it
//! added and leaves the machine running.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::deploy::session::Session;
use crate::error::{Error, Phase, Result};
use crate::model::component::{ComponentId, Registry};
use crate::model::contract::{Contract, SshSettings};
use crate::report::Printer;
use crate::state::deployment::Deployment;
use crate::state::workspace::StateDir;
use crate::tools::ssh;

/// Where obsctl keeps, on an existing host, what the host had before it came.
pub const HOST_RECORD_DIR: &str = "/var/lib/obsctl/existing";
/// How long `up` waits for an existing host's SSH login (it is running already).
const LOGIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The env file's existing hosts as a contract of their own (no stack knows them).
fn contract_of(s: &Session) -> Contract {
    let ssh = SshSettings { private_key_file: s.state.ssh_key(), bastion: None, bastion_host_key: None };
    Contract { environment: s.env.name.clone(), hosts: BTreeMap::new(), ssh }.with_existing(&s.env.existing_hosts)
}

/// The checks before Terraform and Ansible; nothing on any host changes
/// unless every existing host passes them.
pub fn preflight(s: &Session) -> Result<()> {
    let (p, env) = (s.printer, &s.env);
    if env.existing_hosts.is_empty() {
        return Ok(());
    }
    let t = Instant::now();
    p.phase_start("existing", &format!("checking {} existing host(s)", env.existing_hosts.len()));
    for h in &env.existing_hosts {
        if !h.ssh_key_file.is_file() {
            return Err(Error::input(format!(
                "{}: existing host `{}`: its ssh_key_file {} is not a readable file",
                env.file.display(),
                h.name,
                h.ssh_key_file.display()
            ))
            .hint(format!(
                "point ssh_key_file at the private key that logs in as {}@{}, then: obsctl up --env {}",
                h.ssh_user, h.address, env.name
            )));
        }
    }
    let contract = contract_of(s);
    let kh = s.state.known_hosts();
    let previous = Deployment::load(&s.state, &env.name).ok().flatten();
    ssh::record_host_keys(previous.as_ref().map(|d| &d.contract), &contract, &kh)?;
    let unpinned: Vec<String> =
        contract.hosts.iter().filter(|(_, h)| ssh::pinned_key(&kh, &h.address, h.ssh_port).is_none()).map(|(n, _)| n.clone()).collect();
    ssh::wait_for_hosts(&contract, &kh, &env.name, LOGIN_TIMEOUT, |_, _| {}).map_err(|e| {
        let hint = format!(
            "nothing was changed on any host. Check the address, ssh_user and ssh_key_file of these [[existing_hosts]] in {} \
             (try: ssh -i KEY USER@ADDRESS true); or remove the host from the file; then: obsctl up --env {}",
            env.file.display(),
            env.name
        );
        if e.hint.is_some() {
            return e; // a refused host key: that error's own hint says how to re-pin
        }
        let names: Vec<&str> = e.details.iter().filter_map(|d| d.split(" (").next()).collect();
        Error::new(
            Phase::Hosts,
            format!("existing host {} did not answer an SSH login within {}s", names.join(", "), LOGIN_TIMEOUT.as_secs()),
        )
        .details(e.details.clone())
        .hint(hint)
    })?;
    for name in &unpinned {
        let h = &contract.hosts[name];
        if let Some(key) = ssh::pinned_key(&kh, &h.address, h.ssh_port) {
            let fp = ssh::fingerprint(&key).unwrap_or_else(|| "(unreadable)".into());
            p.warn(&format!(
                "trusted on first use: existing host {name} ({}) offered the host key {fp}, now pinned in {} (pin it for good with \
                 host_key = \"{key}\" in its [[existing_hosts]] entry)",
                h.address,
                kh.display()
            ));
        }
    }
    let options = ssh::options(&kh);
    let seen = ssh::run_on_all(&contract, &options, |name| Ok(as_root(&contract.hosts[name].ssh_user, &listeners_script())));
    let mut taken = Vec::new();
    for (name, out) in &seen {
        let out = out.as_ref().map_err(|e| Error::new(Phase::Hosts, format!("existing host {name}: {e}")))?;
        let components: Vec<ComponentId> =
            contract.hosts[name].existing.iter().flat_map(|e| &e.components).filter_map(|c| ComponentId::from_name(c)).collect();
        taken.extend(ports_taken(&env.registry, &components, out).into_iter().map(|why| format!("{name}: {why}")));
    }
    if !taken.is_empty() {
        return Err(Error::new(
            Phase::Hosts,
            "what obsctl needs on an existing host is taken by another program (a port, or nginx for the log agent's gateway); nothing was changed on any host",
        )
        .details(taken)
        .hint(format!(
            "stop or move that program (the process is named above, as `ss -ltnp` shows it), or leave the component off the host's \
                 `roles` in {}; then: obsctl up --env {}",
            env.file.display(),
            env.name
        )));
    }
    // What each host had before obsctl came: written once, on the first run.
    let snapshot = snapshot_script();
    for (name, out) in ssh::run_on_all(&contract, &options, |name| Ok(as_root(&contract.hosts[name].ssh_user, &snapshot))) {
        out.map_err(|e| Error::new(Phase::Hosts, format!("existing host {name}: cannot note what it has before obsctl installs: {e}")))?;
    }
    p.phase_end(
        "existing",
        true,
        t.elapsed(),
        &format!("{} existing host(s) ready", contract.hosts.len()),
        json!({ "hosts": contract.hosts.keys().collect::<Vec<_>>() }),
    );
    Ok(())
}

/// The stack's contract with the env file's existing hosts; those of the
/// last deployment that the env file no longer lists are cleaned first.
pub fn merge(s: &Session, previous: Option<&Contract>, contract: Contract) -> Contract {
    if let Some(previous) = previous {
        let keep: BTreeSet<String> = s.env.existing_hosts.iter().map(|h| h.name.clone()).collect();
        remove_departed(s.printer, &s.state, &s.env.registry, previous, &keep);
    }
    contract.with_existing(&s.env.existing_hosts)
}

/// Removes what obsctl installed on the existing hosts of `previous` that
/// `keep` no longer lists (all of them for `destroy`). A host that cannot be
/// cleaned is named in a warning with what is left there; the machine itself
/// is never stopped. Returns the hosts cleaned.
pub fn remove_departed(p: &Printer, state: &StateDir, registry: &Registry, previous: &Contract, keep: &BTreeSet<String>) -> Vec<String> {
    let kh = state.known_hosts();
    let mut leaving = previous.clone();
    leaving.hosts.retain(|name, h| h.is_existing() && !keep.contains(name));
    if leaving.hosts.is_empty() {
        return Vec::new();
    }
    let script = cleanup_script(registry);
    let mut cleaned = Vec::new();
    for (name, out) in ssh::run_on_all(&leaving, &ssh::options(&kh), |name| Ok(as_root(&leaving.hosts[name].ssh_user, &script))) {
        match out {
            Ok(text) => {
                let removed = text.lines().find_map(|l| l.strip_prefix("obsctl-removed:")).unwrap_or("").trim().to_string();
                p.step(
                    "existing",
                    &format!(
                        "{name} left the environment: removed what obsctl installed there (packages: {}); the machine keeps running",
                        if removed.is_empty() { "none it added" } else { &removed }
                    ),
                );
                // Its key is no longer obsctl's to pin: added again later, it is trusted on first use again.
                let h = &leaving.hosts[&name];
                if let Err(e) = ssh::forget_key(&kh, &h.address, h.ssh_port) {
                    p.warn(&format!("could not forget the pinned key of {name} in {}: {}", kh.display(), e.message));
                }
                cleaned.push(name);
            }
            Err(e) => p.warn(&format!(
                "could not remove what obsctl installed on existing host {name} ({e}); it is left there: its node_exporter and log agent, \
                 {} and {HOST_RECORD_DIR}. Run the same removal later by adding the host back and removing it again",
                crate::state::tls::HOST_TLS_DIR
            )),
        }
    }
    cleaned
}

/// Runs `script` as root: through `sudo -n` for another login user.
fn as_root(user: &str, script: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(script);
    let sh = if user == "root" { "sh" } else { "sudo -n sh" };
    format!("echo {b64} | base64 -d | {sh}")
}

/// The host's listening TCP sockets with their processes, and whether
/// obsctl has been there before.
fn listeners_script() -> String {
    format!(
        "if [ -d {HOST_RECORD_DIR} ]; then echo obsctl-here; fi; \
         if dpkg-query -W -f='${{Status}}' {GATEWAY_PACKAGE} 2>/dev/null | grep -q 'ok installed'; then echo gateway-installed; fi; ss -ltnpH"
    )
}

/// The gateway's package and unit (ansible/roles/loki_gateway/vars/main.yml), on hosts with a log agent.
const GATEWAY_PACKAGE: &str = "nginx";

/// The processes that are obsctl's own once it has installed them.
const OURS: &[&str] = &["prometheus-node", "node_exporter", "alloy", "promtail", "nginx"];

/// What stands in the way of `components` on a host, from `listeners_script`'s
/// output: each port another program listens on (naming the process), and
/// an nginx of the host's own where the log agent's gateway would need one
/// (obsctl would take over its configuration).
fn ports_taken(registry: &Registry, components: &[ComponentId], listing: &str) -> Vec<String> {
    let obsctl_here = listing.lines().any(|l| l.trim() == "obsctl-here");
    let mut out = Vec::new();
    if !obsctl_here && listing.lines().any(|l| l.trim() == "gateway-installed") {
        if let Some(agent) = components.iter().find(|c| c.is_log_agent()) {
            out.push(format!(
                "{GATEWAY_PACKAGE} is installed already: the log agent ({}) is served through obsctl's gateway, an {GATEWAY_PACKAGE} whose \
                 configuration obsctl owns, and it would take over this one; leave the log agent off this host (roles = [\"node_exporter\"])",
                agent.name()
            ));
        }
    }
    for c in components {
        for port in &registry.get(*c).ports {
            for line in listing.lines() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let Some(local) = fields.get(3) else { continue };
                if local.rsplit(':').next() != Some(&port.number.to_string()) {
                    continue;
                }
                let process = line.split("((\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("an unknown process");
                let pid = line.split("pid=").nth(1).and_then(|r| r.split(',').next()).unwrap_or("?");
                if obsctl_here && OURS.contains(&process) {
                    continue;
                }
                out.push(format!("port {} ({}, {}) is taken by `{process}` (pid {pid}): {}", port.number, c.name(), port.var, line.trim()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Notes, once, the packages and users the host has before obsctl installs.
fn snapshot_script() -> String {
    format!(
        "set -e; d={HOST_RECORD_DIR}; mkdir -p \"$d\"; chmod 700 \"$d\"; \
         [ -f \"$d/packages-before\" ] || dpkg-query -W -f='${{Package}}\\n' > \"$d/packages-before\"; \
         [ -f \"$d/users-before\" ] || cut -d: -f1 /etc/passwd > \"$d/users-before\""
    )
}

/// Takes away what obsctl put on a host: its packages (only those the host
/// did not have before, and what they alone pulled in), its files and units,
/// the system users it added. Prints `obsctl-removed: <packages>`.
pub fn cleanup_script(registry: &Registry) -> String {
    let per_host: Vec<&crate::model::component::Component> = registry.iter().filter(|c| c.every_host).collect();
    let mut packages: Vec<&str> = per_host.iter().filter_map(|c| c.package).collect();
    packages.push(GATEWAY_PACKAGE);
    let mut units: Vec<&str> = per_host.iter().map(|c| c.unit).collect();
    units.push(GATEWAY_PACKAGE);
    let mut users: Vec<&str> = per_host.iter().map(|c| crate::model::access::system_user(c.id)).collect();
    users.push("prometheus");
    let tls = Path::new(crate::state::tls::HOST_TLS_DIR).parent().map_or("/etc/obsctl".into(), |p| p.display().to_string());
    format!(
        r#"set -u
d={HOST_RECORD_DIR}
[ -f "$d/packages-before" ] || {{ echo "obsctl-removed:"; exit 0; }}
added=""
for p in {packages}; do
  if dpkg-query -W -f='${{Status}}' "$p" 2>/dev/null | grep -q 'ok installed' && ! grep -qx "$p" "$d/packages-before"; then added="$added $p"; fi
done
systemctl disable --now obsctl-tls-expiry.timer obsctl-tls-expiry.service >/dev/null 2>&1 || true
rm -f /etc/systemd/system/obsctl-tls-expiry.timer /etc/systemd/system/obsctl-tls-expiry.service
for u in {units}; do rm -rf "/etc/systemd/system/$u.service.d" "/run/systemd/system/$u.service.d"; done
rm -rf /usr/local/lib/obsctl {tls}
if [ -n "$added" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $added >/dev/null
  extra=""
  for p in $(apt-get -s autoremove | awk '/^Remv/ {{print $2}}'); do grep -qx "$p" "$d/packages-before" || extra="$extra $p"; done
  [ -z "$extra" ] || DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $extra >/dev/null
fi
for u in {users}; do
  if id -u "$u" >/dev/null 2>&1 && ! grep -qx "$u" "$d/users-before"; then userdel "$u" >/dev/null 2>&1 || true; fi
done
systemctl daemon-reload
rm -rf "$d"; rmdir /var/lib/obsctl 2>/dev/null || true
echo "obsctl-removed:$added"
"#,
        packages = packages.join(" "),
        units = units.join(" "),
        users = users.join(" "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_held_by_another_program_is_named_with_its_process() {
        let r = Registry::new(crate::model::component::DEFAULT_APP_PORT);
        let port = r.get(ComponentId::NodeExporter).port();
        let ss = format!(
            "LISTEN 0 244 127.0.0.1:5432 0.0.0.0:* users:((\"postgres\",pid=77,fd=6))\n\
             LISTEN 0 4096 *:{port} *:* users:((\"pg_exporter\",pid=91,fd=3))\n"
        );
        let ss = ss.as_str();
        let taken = ports_taken(&r, &[ComponentId::NodeExporter], ss);
        assert_eq!(taken.len(), 1, "{taken:?}");
        assert!(taken[0].contains(&format!("port {port}")) && taken[0].contains("`pg_exporter` (pid 91)"), "{}", taken[0]);
        // obsctl's own node_exporter, once obsctl has been there, is no conflict.
        let ours = format!("obsctl-here\nLISTEN 0 4096 *:{port} *:* users:((\"prometheus-node\",pid=5,fd=3))\n");
        let ours = ours.as_str();
        assert!(ports_taken(&r, &[ComponentId::NodeExporter], ours).is_empty());
        // The same program on a host obsctl never touched is someone else's.
        assert_eq!(ports_taken(&r, &[ComponentId::NodeExporter], &ours.replace("obsctl-here\n", "")).len(), 1);
        // Ports of components the host does not get are not checked.
        assert!(ports_taken(&r, &[ComponentId::Alloy], ss).is_empty());
        // The host's own nginx: no log agent (its gateway is an nginx obsctl owns), node_exporter is fine.
        let nginx = "gateway-installed\nLISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:((\"nginx\",pid=9,fd=6))\n";
        let refused = ports_taken(&r, &[ComponentId::Alloy, ComponentId::NodeExporter], nginx);
        assert!(refused.len() == 1 && refused[0].contains("leave the log agent off"), "{refused:?}");
        assert!(ports_taken(&r, &[ComponentId::NodeExporter], nginx).is_empty());
        assert!(ports_taken(&r, &[ComponentId::Alloy], &format!("obsctl-here\n{nginx}")).is_empty());
    }

    #[test]
    fn the_cleanup_removes_only_what_the_host_lacked_before() {
        let s = cleanup_script(&Registry::new(crate::model::component::DEFAULT_APP_PORT));
        for needle in
            ["prometheus-node-exporter", "packages-before", "users-before", "apt-get purge", "userdel", "/etc/obsctl", "obsctl-removed:"]
        {
            assert!(s.contains(needle), "cleanup lacks `{needle}`:\n{s}");
        }
        assert!(!s.contains("poweroff") && !s.contains("shutdown") && !s.contains("sshd"), "{s}");
        assert!(as_root("admin", "true").starts_with("echo dHJ1ZQ== | base64 -d | sudo -n sh"));
    }
}
