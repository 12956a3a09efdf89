//! `up`'s maintenance silence (`silence_during_up = true`).

use std::time::Duration;

use crate::model::contract::Contract;
use crate::model::environment::Environment;
use crate::report::Printer;
use crate::tools::alertmanager::{default_author, Cluster, Matcher};

/// `up`'s maintenance silence (`silence_during_up = true`): every host of
/// the deployment, for the length of the run. Dropping it expires it,
/// whatever the outcome of the run. No connection is kept open meanwhile:
/// the expiry connects anew, the way to the hosts of the latest contract
/// (`follow`).
pub struct Maintenance<'a> {
    id: String,
    printer: &'a Printer,
    /// The way to the Alertmanagers: the environment, the contract, the state.
    way: (Environment, Contract, crate::state::workspace::StateDir),
}

/// The longest an `up` can keep its silence if it could not expire it (killed).
const MAINTENANCE_BOUND: Duration = Duration::from_secs(2 * 3600);

impl<'a> Maintenance<'a> {
    /// Creates the silence; None (with a warning) when no Alertmanager
    /// answers, e.g. on the first `up`, when there is none yet.
    pub fn start(
        env: &Environment,
        contract: &Contract,
        state: &crate::state::workspace::StateDir,
        printer: &'a Printer,
    ) -> Option<Maintenance<'a>> {
        let cluster = match crate::state::tls::Access::load(state, &env.name)
            .and_then(|access| Cluster::new(env, contract, &state.known_hosts(), &access))
        {
            Ok(c) => c,
            Err(e) => {
                printer.warn(&format!("no maintenance silence (silence_during_up): {}", e.message));
                return None;
            }
        };
        let hosts: Vec<&str> = contract.hosts.keys().map(String::as_str).collect();
        // Alerts that already fire stay out of the silence: Alertmanager drops
        // the resolved notification of an alert that is silenced when its
        // group is next sent, so an alert that this run repairs (an expiring
        // certificate, a stopped service) would never be resolved at the
        // receivers (a PagerDuty incident left open).
        let firing = match cluster.firing_alertnames(&hosts) {
            Ok(f) => f,
            Err(e) => {
                printer.warn(&format!("no maintenance silence (silence_during_up): {}", e.message));
                return None;
            }
        };
        let matchers = silence_matchers(&env.name, &hosts, &firing);
        let comment = format!("obsctl up --env {}: services on these hosts may restart (expired when the run ends)", env.name);
        match cluster.create(&matchers, MAINTENANCE_BOUND, &comment, &default_author()) {
            Ok(id) => {
                let except = if firing.is_empty() { String::new() } else { format!(", except the firing {}", firing.join(", ")) };
                printer.step("maintenance", &format!("silenced alerts of {}{except} while up runs (silence {id})", hosts.join(", ")));
                Some(Maintenance { id, printer, way: (env.clone(), contract.clone(), state.clone()) })
            }
            Err(e) => {
                printer.warn(&format!("no maintenance silence (silence_during_up): {}", e.message));
                None
            }
        }
    }
}

impl Maintenance<'_> {
    /// After the apply: the silence is expired the way to the hosts of the
    /// new contract when the run ends. The old way may be gone: the lab's
    /// bastion switched on (the network isolated) or off (the bastion
    /// removed), or the bastion replaced (its tunnel ended with it).
    pub fn follow(&mut self, contract: &Contract) {
        self.way.1 = contract.clone();
    }
}

/// The maintenance silence's matchers: the environment's alerts on `hosts`,
/// except those named in `firing` (they keep notifying, resolved included).
fn silence_matchers(env: &str, hosts: &[&str], firing: &[String]) -> Vec<Matcher> {
    let mut m = vec![
        Matcher { name: "env".into(), value: env.into(), is_regex: false, is_equal: true },
        Matcher { name: "host".into(), value: hosts.join("|"), is_regex: true, is_equal: true },
    ];
    if !firing.is_empty() {
        m.push(Matcher { name: "alertname".into(), value: firing.join("|"), is_regex: true, is_equal: false });
    }
    m
}

impl Drop for Maintenance<'_> {
    fn drop(&mut self) {
        let (env, contract, state) = &self.way;
        let expired = crate::state::tls::Access::load(state, &env.name)
            .and_then(|access| Cluster::new(env, contract, &state.known_hosts(), &access))
            .and_then(|cluster| cluster.expire(&self.id));
        match expired {
            Ok(()) => self.printer.step("maintenance", &format!("expired the maintenance silence {}", self.id)),
            Err(e) => self.printer.warn(&format!(
                "could not expire the maintenance silence {} ({}); it ends by itself within {}h, or: obsctl silence --env {} expire {}",
                self.id,
                e.message,
                MAINTENANCE_BOUND.as_secs() / 3600,
                env.name,
                self.id
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firing_alerts_stay_out_of_the_silence() {
        let none = silence_matchers("dev", &["mon-1", "app-1"], &[]);
        assert_eq!(none.iter().map(|m| m.to_string()).collect::<Vec<_>>(), ["env=dev", "host=~mon-1|app-1"]);
        let some = silence_matchers("dev", &["mon-1"], &["CertificateExpiringSoon".into(), "TargetDown".into()]);
        assert_eq!(some.last().map(|m| m.to_string()).as_deref(), Some("alertname!~CertificateExpiringSoon|TargetDown"));
    }
}
