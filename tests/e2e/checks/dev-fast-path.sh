#!/usr/bin/env bash
# The fast path of `up` on dev's lab machines (src/state/converged.rs; was
# fast_path.sh, whose cold up is now checks/dev-up.sh).
#
#   no-op up takes the fast path and changes nothing →
#   each of these makes the next up take the full path, which repairs it, and
#   the up after that is fast again:
#     a managed config file edited on a host, a managed service stopped,
#     a managed package removed, a role template changed in the checkout,
#     an env-file value changed, a host recreated by Terraform;
#   `up --full` always runs Ansible; `plan` reports the drift the quick check
#   finds.
#
# The path taken is read from the JSON events (the `check` phase and the
# summary). The env file is changed in this checkout and restored on exit,
# whatever happens. The template is changed in a copy of ansible/ that only
# this check's `up`s see, bound over ansible/ in a mount namespace of their
# own: staging's lane runs its `up`s from the same checkout meanwhile, and
# an edit of the checkout's roles would reach its hosts (seen in CI: the
# comment line on every staging host, and staging-own-service's fast path
# broken). Leaves dev converged, as it found it.
# env: dev
# needs:
# leaves: as-found
# changes-checkout: environments/dev.toml
source "$(dirname "$0")/lib.sh"
ENV_FILE="environments/$ENV.toml"
ANSIBLE_COPY="$WORK/ansible"
cp -a ansible "$ANSIBLE_COPY"
TEMPLATE="$ANSIBLE_COPY/roles/node_exporter/templates/node-exporter.default.j2"

cp "$ENV_FILE" "$WORK/env.toml"
cp "$TEMPLATE" "$WORK/template"
restore() { cp "$WORK/env.toml" "$ENV_FILE"; }
trap restore EXIT

# With UP_WRAP=("${OWN_ANSIBLE[@]}"), `up` sees $ANSIBLE_COPY as ansible/.
OWN_ANSIBLE=(unshare --mount --propagation private -- bash -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' bind "$ANSIBLE_COPY" "$ROOT/ansible")
UP_WRAP=()
# up NAME [ARGS..]: an up with JSON events in $WORK/NAME.jsonl; prints its seconds.
up() {
  local name=$1 t
  shift
  t=$(now)
  "${UP_WRAP[@]}" "$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json "$@" >"$WORK/$name.jsonl" </dev/null \
    || { tail -5 "$WORK/$name.jsonl" >&2; fail "up ($name) failed"; }
  since "$t"
}
addr() { jq -r --arg h "$1" '.contract.hosts[$h].address' ".obsctl/$ENV/deployment.json"; }
on() { local host=$1; shift; ssh -i ".obsctl/$ENV/ssh/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "root@$(addr "$host")" "$@"; }
# fast_again NAME: the up after a repair finds every host converged.
fast_again() { local t; t=$(up "$1"); expect_path "$1" fast; echo "  (${t}s)"; }

# The record the last up (a converged dev) wrote: the fast path must not rewrite it.
record=$(sha256sum ".obsctl/$ENV/converged.json")

say "no-op up takes the fast path and changes nothing"
t=$(up noop)
expect_path noop fast "are as last converged"
tf=$(jq -c 'select(.event=="phase_end" and .phase=="terraform") | .add + .change + .destroy' "$WORK/noop.jsonl")
[ "$tf" = 0 ] || fail "no-op up changed $tf Terraform resources"
[ "$(sha256sum ".obsctl/$ENV/converged.json")" = "$record" ] || fail "the fast path rewrote the converged record"
[ "$(jq -r .targets_up <<<"$(summary noop)")" -ge 1 ] || fail "the fast path did not verify the targets"
echo "  no-op up: ${t}s"

say "up --full always runs Ansible (and changes nothing)"
up full --full >/dev/null
expect_path full full "^--full$"
[ "$(jq -r .changed_tasks <<<"$(summary full)")" = 0 ] || fail "up --full changed tasks on a converged stack"

say "plan: the quick check finds every host converged"
"$OBSCTL" --output json plan --env "$ENV" >"$WORK/plan.jsonl" || { cat "$WORK/plan.jsonl"; fail "plan not in sync"; }
[ "$(jq -r 'select(.event=="phase_end" and .phase=="check") | .in_sync' "$WORK/plan.jsonl")" = true ] || fail "plan's quick check did not find the stack converged"
jq -s -e 'any(.[]; .event=="phase_end" and .phase=="ansible") | not' "$WORK/plan.jsonl" >/dev/null || fail "plan ran Ansible although the quick check found no drift"

say "a managed config file edited on app-1"
on app-1 "echo '# edited by hand' >>/etc/default/prometheus-node-exporter"
rc=0; "$OBSCTL" --output json plan --env "$ENV" >"$WORK/plan2.jsonl" || rc=$?
[ "$rc" = 2 ] || fail "plan exited $rc with an edited file (expected 2)"
jq -r 'select(.event=="phase_end" and .phase=="check") | .reasons[]' "$WORK/plan2.jsonl" | grep -q "app-1: /etc/default/prometheus-node-exporter was changed" \
  || fail "plan's quick check does not name the edited file: $(jq -c 'select(.event=="phase_end" and .phase=="check")' "$WORK/plan2.jsonl")"
up edited >/dev/null
expect_path edited full "app-1: /etc/default/prometheus-node-exporter was changed"
on app-1 "! grep -q 'edited by hand' /etc/default/prometheus-node-exporter" || fail "the full up did not restore the edited file"
fast_again edited-fast

say "a managed service stopped on mon-1"
on mon-1 systemctl stop prometheus-alertmanager
up stopped >/dev/null
expect_path stopped full "mon-1: service prometheus-alertmanager is (inactive|failed)"
[ "$(on mon-1 systemctl is-active prometheus-alertmanager)" = active ] || fail "the full up did not start prometheus-alertmanager again"
fast_again stopped-fast

say "a managed package removed on app-1"
on app-1 "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q prometheus-node-exporter >/dev/null 2>&1"
up removed >/dev/null
expect_path removed full "app-1: package prometheus-node-exporter is not installed"
on app-1 "dpkg-query -W -f='\${db:Status-Abbrev}' prometheus-node-exporter | grep -q '^ii'" || fail "the full up did not reinstall prometheus-node-exporter"
[ "$(on app-1 systemctl is-active prometheus-node-exporter)" = active ] || fail "prometheus-node-exporter is not running after the full up"
fast_again removed-fast

say "a role template changed in the checkout (this check's own copy of ansible/)"
echo "# fast_path.sh: template changed" >>"$TEMPLATE"
UP_WRAP=("${OWN_ANSIBLE[@]}")
up template >/dev/null
expect_path template full "inputs changed"
on app-1 "grep -q 'fast_path.sh: template changed' /etc/default/prometheus-node-exporter" || fail "the changed template did not reach app-1"
! grep -q 'fast_path.sh' ansible/roles/node_exporter/templates/node-exporter.default.j2 || fail "the edit reached the checkout's own ansible/"
cp "$WORK/template" "$TEMPLATE"
up template-back >/dev/null
UP_WRAP=()
expect_path template-back full "inputs changed"
on app-1 "! grep -q 'fast_path.sh' /etc/default/prometheus-node-exporter" || fail "the restored template did not reach app-1"
fast_again template-fast

say "an env-file value changed ([app] traffic_rps)"
sed -i 's/^traffic_rps = .*/traffic_rps = 3/' "$ENV_FILE"
grep -q '^traffic_rps = 3' "$ENV_FILE" || fail "could not change traffic_rps in $ENV_FILE"
up envfile >/dev/null
expect_path envfile full "inputs changed"
on app-1 "grep -q -- '--traffic-rps 3' /etc/default/orders-api" || fail "the new traffic_rps did not reach app-1"
cp "$WORK/env.toml" "$ENV_FILE"
up envfile-back >/dev/null
expect_path envfile-back full "inputs changed"
fast_again envfile-fast

say "an env-file setting runs Ansible every time ([up] always_configure = true)"
printf '\n[up]\nalways_configure = true\n' >>"$ENV_FILE"
up always >/dev/null
expect_path always full "always_configure = true"
cp "$WORK/env.toml" "$ENV_FILE"

say "app-1 recreated by Terraform (its machine stopped behind obsctl's back)"
LAB_ENV="$ENV" LAB_NAME=app-1 "$LAB" machine-stop >/dev/null
up recreated >/dev/null
expect_path recreated full "Terraform changed"
added=$(jq -s '[.[] | select(.event=="phase_end" and .phase=="terraform")][0].add // 0' "$WORK/recreated.jsonl")
[ "$added" -ge 1 ] || fail "Terraform did not recreate app-1"
[ "$(on app-1 systemctl is-active orders-api)" = active ] || fail "orders-api is not running on the recreated app-1"
fast_again recreated-fast
echo "PASS"
