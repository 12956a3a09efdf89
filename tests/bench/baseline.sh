#!/usr/bin/env bash
# The baseline obsctl is measured against: the same steps done the way a user
# would by hand, on the same lab, with the same Terraform stack and playbook.
#
#   terraform apply  →  terraform output -json | jq  →  ansible-playbook
#   →  wait until Prometheus reports every scrape target up
#
# - Terraform runs with its own data dir and state (under $BASE).
# - The inventory is built with jq from `obsctl_inventory`.
# - The env-wide variables come from group_vars (a user keeps these by hand;
#   here they are copied once from obsctl's generated inventory).
# - ansible-playbook runs with Ansible's default settings (no ansible.cfg:
#   forks 5, no pipelining).
#
# - It then waits, as a user would before calling the stack up, until
#   Prometheus's targets API lists targets and every one of them is up: the
#   same proof obsctl's verify gives (the script given its own wait).
#
#   baseline.sh up       apply (or no-op), inventory, ansible-playbook, wait for every target
#   baseline.sh destroy  terraform destroy
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BASE=${BASE:-/tmp/obsctl-baseline}
ENV=${ENV:-dev}   # the environment whose tfvars and machines it uses
VARS_FROM=${VARS_FROM:-$BASE/group_vars_all.json}
mkdir -p "$BASE/group_vars"
: >"$BASE/ansible.cfg"        # Ansible's defaults, nothing tuned
: >"$BASE/terraformrc"
export TF_DATA_DIR=$BASE/terraform TF_IN_AUTOMATION=1 TF_CLI_CONFIG_FILE=$BASE/terraformrc
tf() { terraform -chdir="$ROOT/terraform/stacks/lab" "$@"; }

case "${1:-}" in
  up)
    [ -f "$BASE/terraform.tfvars.json" ] || cp ".obsctl/$ENV/terraform.tfvars.json" "$BASE/terraform.tfvars.json"
    [ -f "$BASE/group_vars/all.json" ] || cp "$VARS_FROM" "$BASE/group_vars/all.json"
    tf init -input=false -backend-config="path=$BASE/terraform.tfstate" >/dev/null
    tf apply -input=false -auto-approve -var-file="$BASE/terraform.tfvars.json" >/dev/null
    tf output -json obsctl_inventory | jq --arg tls "$ROOT/.obsctl/$ENV/tls/hosts" '
      . as $c
      | { all: {
            hosts: ($c.hosts | with_entries(.value = {
              ansible_host: .value.address, ansible_user: .value.ssh_user, ansible_port: .value.ssh_port,
              ansible_ssh_private_key_file: $c.ssh.private_key_file,
              ansible_ssh_common_args: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
              ansible_python_interpreter: "/usr/bin/python3",
              obsctl_private_address: .value.private_address, obsctl_labels: .value.labels, obsctl_roles: .value.roles,
              # the host certificate obsctl issued (the environment CA and users are in group_vars)
              obsctl_tls_cert_file: "\($tls)/\(.key).crt", obsctl_tls_key_file: "\($tls)/\(.key).key" })),
            children: (
              ([ "prometheus", "alertmanager", "grafana", "loki", "app" ] | map({ key: ., value: { hosts: (
                  . as $r | $c.hosts | with_entries(select(.value.roles | index($r))) | map_values({})) } }) | from_entries)
              + { node_exporter: { hosts: ($c.hosts | map_values({})) }, alloy: { hosts: {} }, promtail: { hosts: {} } }
              + { grafana: { hosts: {} }, loki: { hosts: {} } })
        } }' >"$BASE/inventory.json"
    cp "$BASE/group_vars/all.json" "$BASE/inventory_vars.json"
    (cd "$ROOT/ansible" && ANSIBLE_CONFIG=$BASE/ansible.cfg ANSIBLE_CALLBACK_PLUGINS=$ROOT/ansible/callback_plugins \
       "$ROOT/.obsctl/venv/bin/ansible-playbook" -i "$BASE/inventory.json" -e "@$BASE/group_vars/all.json" site.yml >"$BASE/ansible.log")
    # The wait: every active target of the first Prometheus is up (each has
    # been scraped at least once). With the stack's TLS and basic auth when
    # the variables name a CA and the operator's password file.
    var() { jq -r "$1 // empty" "$BASE/group_vars/all.json"; }
    prom=$(jq -r '(.all.children.prometheus.hosts | keys[0]) as $h | .all.hosts[$h].ansible_host' "$BASE/inventory.json")
    curl_args=(-fsS --max-time 3) scheme=http
    if [ -n "$(var .obsctl_tls_ca_file)" ]; then curl_args+=(--cacert "$(var .obsctl_tls_ca_file)"); scheme=https; fi
    if [ -n "$(var .obsctl_web_users.obsctl.password_file)" ]; then
      # The password goes through a 0600 config file, never the command line.
      (umask 077; printf 'user = "obsctl:%s"\n' "$(cat "$(var .obsctl_web_users.obsctl.password_file)")" >"$BASE/curl.cfg")
      curl_args+=(--config "$BASE/curl.cfg")
    fi
    url="$scheme://$prom:$(var .prometheus_port)/api/v1/targets?state=active"
    deadline=$(( $(date +%s) + 120 ))
    until curl "${curl_args[@]}" "$url" 2>/dev/null \
        | jq -e '(.data.activeTargets | length) > 0 and all(.data.activeTargets[]; .health == "up")' >/dev/null; do
      [ "$(date +%s)" -lt "$deadline" ] || { echo "baseline: targets not all up within 120s at $url" >&2; exit 1; }
      sleep 0.5
    done
    ;;
  destroy)
    tf destroy -input=false -auto-approve -var-file="$BASE/terraform.tfvars.json" >/dev/null
    rm -rf "$BASE/terraform" "$BASE/terraform.tfstate" "$BASE/terraform.tfstate.backup" "$BASE/inventory.json"
    ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
