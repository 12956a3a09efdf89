//! What a saved Terraform plan changes (`terraform show -json`), as `up`
//! and `plan` show it.

use serde_json::Value;

#[derive(Debug, Default)]
pub struct PlanSummary {
    pub changes: bool,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    /// Resources the plan deletes or replaces.
    pub destroyed: Vec<String>,
    /// Every resource the plan touches, with what it does to it.
    pub actions: Vec<(Action, String)>,
}

/// What a plan does to one resource, as Terraform's own plan output says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update in-place",
            Action::Replace => "replace (destroy, then create)",
            Action::Delete => "destroy",
        }
    }
    fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

impl PlanSummary {
    /// The plan adds, changes or destroys resources. A plan can have changes
    /// without that: only output values differ (e.g. the SSH key path of
    /// another checkout sharing the S3 state); `up` applies those, but they
    /// are not drift of the infrastructure.
    pub fn changes_resources(&self) -> bool {
        self.add + self.change + self.destroy > 0
    }

    /// The plan changes something of the hosts: any change but one to the
    /// bastion alone (`module.bastion` in every stack: the lab's jump
    /// machine, aws' bastion instance, and the lab's isolation that goes
    /// with it), which Ansible never configures; a stopped lab bastion
    /// replaced, or the lab's bastion switched on or off, changes no host.
    /// Output values only count as a change (as `changes`).
    pub fn changes_hosts(&self) -> bool {
        self.changes && (!self.changes_resources() || self.actions.iter().any(|(_, a)| !is_bastion(a)))
    }

    /// The resources the plan touches, one line each (`+ address`, `~`,
    /// `-/+`, `-`), grouped by action: what a Terraform user reviews before
    /// approving.
    pub fn resource_lines(&self) -> Vec<String> {
        let mut sorted = self.actions.clone();
        sorted.sort();
        sorted.iter().map(|(a, addr)| format!("{:>3} {addr}   ({})", a.symbol(), a.verb())).collect()
    }

    pub fn describe(&self) -> String {
        if !self.changes {
            "no changes".into()
        } else if !self.changes_resources() {
            "no resource changes (only output values differ)".into()
        } else {
            format!("{} to add, {} to change, {} to destroy", self.add, self.change, self.destroy)
        }
    }
}

/// Where every stack keeps its bastion (terraform/stacks/*/main.tf).
pub const BASTION_MODULE: &str = "module.bastion";

/// The lab's isolation of a network behind a bastion
/// (terraform/modules/lab_network): created and removed with the bastion.
pub const ISOLATION: &str = "module.network.terraform_data.isolation";

/// A resource of the bastion: under `module.bastion`, or the lab's isolation.
fn is_bastion(address: &str) -> bool {
    [BASTION_MODULE, ISOLATION].iter().any(|m| address.strip_prefix(m).is_some_and(|rest| rest.starts_with(['.', '['])))
}

/// What a plan (`terraform show -json`) does, resource by resource.
pub(super) fn summary_of(v: &Value) -> PlanSummary {
    let mut s = PlanSummary { changes: true, ..Default::default() };
    for rc in v["resource_changes"].as_array().into_iter().flatten() {
        let actions: Vec<&str> = rc["change"]["actions"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).collect();
        let address = rc["address"].as_str().unwrap_or("?").to_string();
        let action = match (actions.contains(&"create"), actions.contains(&"delete"), actions.contains(&"update")) {
            (true, true, _) => Some(Action::Replace),
            (true, false, _) => Some(Action::Create),
            (false, true, _) => Some(Action::Delete),
            (false, false, true) => Some(Action::Update),
            _ => None,
        };
        if let Some(a) = action {
            s.actions.push((a, address.clone()));
        }
        if actions.contains(&"create") {
            s.add += 1;
        }
        if actions.contains(&"update") {
            s.change += 1;
        }
        if actions.contains(&"delete") {
            s.destroy += 1;
            s.destroyed.push(if actions.contains(&"create") { format!("{address} (replace)") } else { address });
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_plan_lists_every_resource_with_its_action() {
        let plan = json!({ "resource_changes": [
            { "address": "a.new", "change": { "actions": ["create"] } },
            { "address": "a.same", "change": { "actions": ["no-op"] } },
            { "address": "a.moved", "change": { "actions": ["delete", "create"] } },
            { "address": "a.tag", "change": { "actions": ["update"] } },
            { "address": "a.gone", "change": { "actions": ["delete"] } },
        ]});
        let s = summary_of(&plan);
        assert_eq!((s.add, s.change, s.destroy), (2, 1, 2));
        assert_eq!(s.destroyed, ["a.moved (replace)", "a.gone"]);
        let lines = s.resource_lines();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].contains("+ a.new") && lines[1].contains("~ a.tag"), "{lines:?}");
        assert!(lines[2].contains("-/+ a.moved") && lines[3].contains("- a.gone"), "{lines:?}");
        assert!(s.changes_hosts());
    }

    /// Issue 32: replacing only the bastion changes no host (the fast path
    /// may still be taken); anything else with it does.
    #[test]
    fn a_plan_that_replaces_only_the_bastion_changes_no_host() {
        let replace = |addresses: &[&str]| {
            let rc: Vec<_> = addresses.iter().map(|a| json!({ "address": a, "change": { "actions": ["delete", "create"] } })).collect();
            summary_of(&json!({ "resource_changes": rc }))
        };
        assert!(!replace(&["module.bastion[0].terraform_data.machine", "module.bastion[0].terraform_data.data"]).changes_hosts());
        assert!(!replace(&["module.bastion.aws_instance.this"]).changes_hosts());
        assert!(replace(&["module.bastion[0].terraform_data.machine", "module.machine[\"mon-1\"].terraform_data.machine"]).changes_hosts());
        assert!(replace(&["module.bastionish.x"]).changes_hosts());
        // The lab's bastion switched on or off: the machine and the isolation, no host.
        let create = |addresses: &[&str]| {
            let rc: Vec<_> = addresses.iter().map(|a| json!({ "address": a, "change": { "actions": ["create"] } })).collect();
            summary_of(&json!({ "resource_changes": rc }))
        };
        let on = create(&["module.bastion[0].terraform_data.machine", "module.network.terraform_data.isolation[0]"]);
        assert!(!on.changes_hosts());
        assert!(create(&["module.network.terraform_data.network"]).changes_hosts());
        let outputs_only = PlanSummary { changes: true, ..Default::default() };
        assert!(outputs_only.changes_hosts(), "output values alone still count");
        assert!(!PlanSummary::default().changes_hosts());
    }
}
