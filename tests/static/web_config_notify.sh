#!/usr/bin/env bash
# The web_config role notifies the handler a service names in
# web_config_notify exactly when that service's files, or the host's CA,
# changed: the real role, run on this machine (connection local) into a
# scratch directory, for three services of one host:
#   svc1  main entry point (web.yml too),  web_config_notify: h1
#   svc2  certificates entry point, a client password,  web_config_notify: h2
#   svc3  main entry point, no handler (re-reads its files by itself)
# Each step changes one input on the controller and checks which handlers ran.
# Usage: web_config_notify.sh VENV WORKDIR (called by configs.sh). Offline;
# as root (the role's files are owned by root).
set -euo pipefail
venv="$(cd "$1" && pwd)"
work="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rm -rf "$work"
mkdir -p "$work/ctl"
[ "$(id -u)" = 0 ] || { echo "web_config_notify: must run as root (the role's files are owned by root)" >&2; exit 2; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=web-config-test -days 2 \
  -keyout "$work/ctl/host.key" -out "$work/ctl/host.crt" 2>/dev/null
cp "$work/ctl/host.crt" "$work/ctl/ca.crt"
echo first-password >"$work/ctl/prometheus_password"
users() { # users HASH: the basic-auth users as obsctl puts them in the inventory (the hash only goes into web.yml)
  cat >"$work/users.json" <<EOF
{"obsctl_web_users": {
  "obsctl": {"password_file": "$work/ctl/prometheus_password", "bcrypt": "$1"},
  "prometheus": {"password_file": "$work/ctl/prometheus_password", "bcrypt": "$1"}}}
EOF
}
users '$2y$04$aaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'

cat >"$work/play.yml" <<EOF
- hosts: localhost
  gather_facts: false
  vars:
    obsctl_tls_ca_file: $work/ctl/ca.crt
    obsctl_tls_cert_file: $work/ctl/host.crt
    obsctl_tls_key_file: $work/ctl/host.key
    obsctl_host_tls_dir: $work/host/tls
    obsctl_host_secrets_dir: $work/host/secrets
  tasks:
    - ansible.builtin.import_role: {name: web_config}
      vars: {web_config_service: svc1, web_config_group: root, web_config_notify: h1}
    - ansible.builtin.import_role: {name: web_config, tasks_from: certificates}
      vars: {web_config_service: svc2, web_config_group: root, web_config_client_users: [prometheus], web_config_notify: h2}
    - ansible.builtin.import_role: {name: web_config}
      vars: {web_config_service: svc3, web_config_group: root}
  # As in the roles, the handlers listen to a topic (web_config_notify names it).
  handlers:
    - {name: Handler of svc1, listen: h1, ansible.builtin.debug: {msg: "RAN h1"}}
    - {name: Handler of svc2, listen: h2, ansible.builtin.debug: {msg: "RAN h2"}}
EOF

step=0
failed=0
expect() { # expect WHAT HANDLERS...: run the play, the handlers that ran must be exactly HANDLERS
  local what=$1 want got
  shift
  step=$((step + 1))
  want=$(printf '%s\n' "$@" | sort | xargs)
  ANSIBLE_ROLES_PATH="$root/ansible/roles" ANSIBLE_HOME="$work/home" ANSIBLE_LOCAL_TEMP="$work/tmp" \
    ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_DEPRECATION_WARNINGS=0 \
    "$venv/bin/ansible-playbook" -i localhost, -c local -e "ansible_python_interpreter=$venv/bin/python" \
    -e "@$work/users.json" "$work/play.yml" >"$work/run-$step.log" 2>&1 ||
    { cat "$work/run-$step.log" >&2; echo "web_config_notify: the play failed ($what)" >&2; exit 1; }
  got=$({ grep -oE 'RAN h[0-9]' "$work/run-$step.log" || true; } | cut -d' ' -f2 | sort | xargs)
  if [ "$got" = "$want" ]; then
    echo "web_config_notify: $what: notified ${want:-nothing}"
  else
    echo "web_config_notify: FAILED: $what: expected ${want:-no handler}, got ${got:-none}; the run's notifications:" >&2
    grep -A1 -E '^(TASK \[web_config : Notify|RUNNING HANDLER)' "$work/run-$step.log" >&2 || true
    failed=$((failed + 1))
  fi
}

expect "first run (every file new)" h1 h2
expect "second run (nothing changed)"
cat "$work/ctl/host.crt" "$work/ctl/host.crt" >"$work/ctl/ca.crt"
expect "the CA changed (placed by svc1, the host's first service)" h1 h2
echo second-password >"$work/ctl/prometheus_password"
expect "svc2's client password changed" h2
users '$2y$04$bbbbbbbbbbbbbbbbbbbbb.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
expect "the basic-auth users' hashes changed (svc1's and svc3's web.yml)" h1
expect "nothing changed again"
((failed == 0))
