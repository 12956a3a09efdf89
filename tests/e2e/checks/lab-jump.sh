#!/usr/bin/env bash
# The lab with a jump host (issue 32): the bastion path, which the aws stack
# uses for every connection, proved live in an environment of its own
# (environments/jump.toml, written here and removed on exit): one host,
# mon-1, on the bridge obs-jump, deployed directly, then put behind the
# bastion ([lab] bastion = true) and taken out again while it runs; behind
# it the lab host may enter the network only through the bastion (an
# nftables table of the environment's own).
#
#   a cold up without the bastion; `plan` then says the bastion is switched
#   on; `up` creates it and the isolation, pins the bastion's published key,
#   replaces no host (mon-1 keeps its machine) and takes the fast path
#   through it; the maintenance silence made the direct way is expired
#   through the bastion; obsctl never tried a direct connection after that
#   (the isolation rule's counter is 0); status lists the host; `obsctl ssh`
#   works; a direct connection to mon-1's SSH and Prometheus ports is
#   refused while the bastion answers;
#   the bastion machine stopped: status exits 30 naming it, and up replaces
#   it like any stopped lab machine, pins the new machine's key and takes
#   the fast path (no host changed); `up --replace bastion` replaces the
#   running bastion the same way;
#   the bastion refusing connections: status and up exit 30 naming it;
#   the bastion switched off: `up` removes it and the isolation, forgets its
#   key, replaces no host, takes the fast path directly, and expires its
#   silence directly; status works directly;
#   destroy removes the machines, the bridge and the nftables table.
# Prints each step's duration.
# env: jump
# needs:
# leaves: destroyed
# changes-checkout: environments/jump.toml
source "$(dirname "$0")/lib.sh"
ENV_FILE="environments/$ENV.toml"
BLOCK="obsctl_test_block_$ENV"   # this check's own table: the bastion refusing connections
MARK="# Written by tests/e2e/checks/lab-jump.sh and removed when it ends."
[ ! -e "$ENV_FILE" ] || [ "$(head -1 "$ENV_FILE")" = "$MARK" ] || fail "$ENV_FILE exists and is not this check's: it writes its own (move that file away)"
require_lab nft
finish() {
  local rc=$?
  nft delete table inet "$BLOCK" 2>/dev/null || true
  if [ -e "$LAB_ROOT/envs/$ENV" ] || [ -e "$STATE/inventory.json" ]; then
    "$OBSCTL" destroy --env "$ENV" --auto-approve >"$WORK/destroy-on-exit.log" 2>&1 || echo "destroy of $ENV on exit failed: $WORK/destroy-on-exit.log" >&2
  fi
  rm -f "$ENV_FILE"
  exit "$rc"
}
trap finish EXIT

# write_env on|off: the env file, with the bastion switched on (the line "bastion = true"
# added to [lab], as a user would add it) or off (the line removed).
write_env() {
  cat >"$ENV_FILE" <<TOML
$MARK
description = "Lab behind a jump host: the bastion path tested live"
provider = "lab"
protected = false
components = ["prometheus", "alertmanager", "node_exporter"]

[lab]
bridge = "obs-jump"
cidr = "10.92.0.0/24"$([ "$1" = on ] && printf '\nbastion = true')

[[hosts]]
name = "mon-1"
roles = ["prometheus", "alertmanager"]

[prometheus]
scrape_interval = "5s"
evaluation_interval = "5s"

[alertmanager]
silence_during_up = true
TOML
}

# up NAME [ARGS..]: an up with JSON events in $WORK/NAME.jsonl; prints its seconds.
up() {
  local name=$1 t
  shift
  t=$(now)
  "$OBSCTL" up --env "$ENV" --auto-approve --output json "$@" >"$WORK/$name.jsonl" 2>"$WORK/$name.err" </dev/null \
    || { tail -n 5 "$WORK/$name.jsonl" "$WORK/$name.err" >&2; fail "up ($name) failed"; }
  since "$t"
}
isolation() { LAB_ENV="$ENV" "$LAB" isolation; }
refused_count() { isolation | grep -o 'packets [0-9]*' | awk '{print $2}'; }
connects() { timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>"$WORK/connect.err"; }
# has_event FILE JQ-CONDITION: some event of FILE meets it (jq 1.6's -e looks only at the last input's result).
has_event() { [ -n "$(jq -c --arg b "${bastion:-}" "select($2)" "$1")" ]; }
steps=()
step() { steps+=("$1 $2s"); echo "  $1: $2s"; }

say "leftovers of an earlier run"
write_env off
"$OBSCTL" destroy --env "$ENV" --auto-approve >"$WORK/leftover-destroy.log" 2>&1 || fail "could not destroy a leftover $ENV: $WORK/leftover-destroy.log"

say "cold up without the bastion, then the bastion switched on"
s=$(up cold); step "cold up (direct)" "$s"
has_event "$WORK/cold.jsonl" '.event=="summary"' || fail "cold up printed no summary"
[ "$(jq -r .contract.ssh.bastion "$STATE/deployment.json")" = null ] || fail "the cold up without [lab] bastion has a bastion"
[ "$(isolation)" = none ] || fail "an isolation without a bastion: $(isolation)"
mon_key=$(cat "$LAB_ROOT/envs/$ENV/machines/mon-1/ssh_host_ed25519_key.pub")
write_env on
t=$(now)
rc=0; "$OBSCTL" plan --env "$ENV" >"$WORK/plan-on.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "bastion switched on" "$WORK/plan-on.out" \
  || fail "plan with the bastion added exited $rc (expected 2 saying the bastion is switched on): $(tail -5 "$WORK/plan-on.out")"
grep -q "destroys module.machine" "$WORK/plan-on.out" && fail "plan would replace a host to switch the bastion on: $(cat "$WORK/plan-on.out")"
step "plan, bastion on" "$(since "$t")"
s=$(up on); step "up switching the bastion on" "$s"
has_event "$WORK/on.jsonl" '.event=="info" and (.message | test("bastion switched on"))' || fail "up did not say it switches the bastion on"
has_event "$WORK/on.jsonl" '.event=="phase_end" and .phase=="terraform" and .destroy==0' || fail "switching the bastion on destroyed something: $(jq -c 'select(.phase=="terraform" and .event=="phase_end")' "$WORK/on.jsonl")"
# No host changed: the fast path, through the bastion (the counter below says nothing went direct).
expect_path on fast
has_event "$WORK/on.jsonl" '.event=="step" and .phase=="maintenance" and (.message | test("^expired the maintenance silence"))' \
  || fail "the maintenance silence was not expired through the bastion: $(jq -c 'select(.phase=="maintenance" or .event=="warning")' "$WORK/on.jsonl")"
[ "$(cat "$LAB_ROOT/envs/$ENV/machines/mon-1/ssh_host_ed25519_key.pub")" = "$mon_key" ] || fail "mon-1's machine was replaced by switching the bastion on"
contract=$(jq -c .contract "$STATE/deployment.json")
bastion=$(jq -r .ssh.bastion <<<"$contract")
bastion_addr=${bastion#*@}
mon=$(jq -r '.hosts["mon-1"].address' <<<"$contract")
[[ "$bastion" =~ ^root@[0-9.]+$ ]] || fail "the contract's ssh.bastion is '$bastion', not root@<address>"
jq -e '.hosts | has("bastion") | not' <<<"$contract" >/dev/null || fail "the bastion is a host of the inventory"
# Pinned from what the stack published, not learnt on first use.
published=$(cut -d' ' -f1,2 "$LAB_ROOT/envs/$ENV/machines/bastion/ssh_host_ed25519_key.pub")
[ "$(jq -r .ssh.bastion_host_key <<<"$contract")" = "$published" ] || fail "the contract's bastion_host_key is not the bastion machine's key"
grep -qx "$bastion_addr $published" "$STATE/ssh/known_hosts" || fail "the bastion's key is not pinned in $STATE/ssh/known_hosts"
rules=$(isolation)
grep -q "ip daddr != { .*$bastion_addr" <<<"$rules" || fail "no isolation rule naming the bastion: $rules"
python3 "$ROOT/tests/static/contract_schema.py" --terraform "$STATE" lab >/dev/null || fail "the lab stack's obsctl_inventory with a bastion breaks docs/contract.schema.json"
echo "  bastion $bastion (key pinned: ${published:0:40}…); mon-1 at $mon, its machine kept"

say "status and obsctl ssh through the bastion"
t=$(now)
rc=0; "$OBSCTL" status --env "$ENV" >"$WORK/status.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "status exited $rc through the bastion: $(tail -5 "$WORK/status.out")"
grep -Eq '^mon-1 +prometheus +up' "$WORK/status.out" || fail "status does not list mon-1's Prometheus up: $(cat "$WORK/status.out")"
step status "$(since "$t")"
t=$(now)
[ "$("$OBSCTL" ssh --env "$ENV" mon-1 -- hostname </dev/null)" = mon-1 ] || fail "obsctl ssh mon-1 -- hostname did not answer mon-1"
step "obsctl ssh" "$(since "$t")"
[ "$(refused_count)" = 0 ] || fail "obsctl tried $(refused_count) direct connections into the network (the isolation refused them): every one must go through the bastion"
echo "  no direct connection attempted by up (silence, fast path, verify), status or ssh (isolation counter 0)"

say "the isolation is real: mon-1 refuses the lab host, the bastion answers"
connects "$mon" 22 && fail "a direct SSH connection to mon-1 ($mon:22) was let through"
grep -q refused "$WORK/connect.err" || fail "a direct SSH connection to mon-1 failed, but not refused: $(cat "$WORK/connect.err")"
prom_port=$(port prometheus_port)
connects "$mon" "$prom_port" && fail "a direct connection to mon-1's Prometheus ($mon:$prom_port) was let through"
connects "$bastion_addr" 22 || fail "the bastion ($bastion_addr:22) does not answer: $(cat "$WORK/connect.err")"
[ "$(refused_count)" -ge 2 ] || fail "the isolation rule did not count the refused connections: $(isolation)"
echo "  mon-1:22 and mon-1:$prom_port refused, bastion:22 open"

say "the bastion machine stopped: status exits 30, up replaces it"
LAB_ENV="$ENV" LAB_NAME=bastion "$LAB" machine-stop 2>/dev/null
t=$(now)
rc=0; "$OBSCTL" status --env "$ENV" >"$WORK/status-stopped.out" 2>&1 || rc=$?
[ "$rc" = 30 ] && grep -q "the bastion $bastion is unreachable" "$WORK/status-stopped.out" \
  || fail "status with the bastion stopped exited $rc (expected 30 naming it): $(tail -3 "$WORK/status-stopped.out")"
step "status, bastion stopped" "$(since "$t")"
s=$(up heal); step "up replacing the bastion" "$s"
has_event "$WORK/heal.jsonl" '.event=="info" and (.message | test("lab machine bastion .*replacing it"))' \
  || fail "up did not say it replaced the stopped bastion"
# Only the bastion changed: the hosts are looked at, not configured again.
expect_path heal fast "no change to a host"
renewed=$(cut -d' ' -f1,2 "$LAB_ROOT/envs/$ENV/machines/bastion/ssh_host_ed25519_key.pub")
[ "$renewed" != "$published" ] || fail "the replaced bastion kept its old host key"
grep -qx "$bastion_addr $renewed" "$STATE/ssh/known_hosts" || fail "the new bastion's key is not pinned"
grep -q "$published" "$STATE/ssh/known_hosts" && fail "the old bastion's key is still pinned"
"$OBSCTL" status --env "$ENV" >/dev/null 2>&1 || fail "status after the bastion's replacement failed"
echo "  the new bastion's key pinned, the old one forgotten; status healthy"
s=$(up replace --replace bastion); step "up --replace bastion" "$s"
expect_path replace fast "no change to a host"
replaced=$(cut -d' ' -f1,2 "$LAB_ROOT/envs/$ENV/machines/bastion/ssh_host_ed25519_key.pub")
[ "$replaced" != "$renewed" ] || fail "up --replace bastion kept the bastion's host key"
grep -qx "$bastion_addr $replaced" "$STATE/ssh/known_hosts" && ! grep -q "$renewed" "$STATE/ssh/known_hosts" \
  || fail "after up --replace bastion the new key is not pinned alone: $(cat "$STATE/ssh/known_hosts")"
[ "$(cat "$LAB_ROOT/envs/$ENV/machines/mon-1/ssh_host_ed25519_key.pub")" = "$mon_key" ] || fail "up --replace bastion replaced mon-1"
echo "  up --replace bastion: a new bastion, its key pinned, mon-1 kept"

say "a bastion that refuses connections: exit 30 naming it"
nft -f - <<NFT
table inet $BLOCK {
  chain output {
    type filter hook output priority -1; policy accept;
    ip daddr $bastion_addr tcp dport 22 ct state new reject with tcp reset
  }
}
NFT
t=$(now)
rc=0; "$OBSCTL" status --env "$ENV" >"$WORK/status-blocked.out" 2>&1 || rc=$?
[ "$rc" = 30 ] || fail "status with the bastion refusing exited $rc, not 30: $(tail -3 "$WORK/status-blocked.out")"
grep -q "the bastion $bastion is unreachable" "$WORK/status-blocked.out" || fail "status does not name the bastion: $(cat "$WORK/status-blocked.out")"
step "status, bastion refusing" "$(since "$t")"
t=$(now)
rc=0; "$OBSCTL" up --env "$ENV" --auto-approve --ssh-timeout 10 --output json >"$WORK/up-blocked.jsonl" 2>/dev/null </dev/null || rc=$?
[ "$rc" = 30 ] || fail "up with the bastion refusing exited $rc, not 30: $(tail -2 "$WORK/up-blocked.jsonl")"
has_event "$WORK/up-blocked.jsonl" '.event=="error" and .exit_code==30 and (.message | contains("the bastion " + $b + " is unreachable"))' \
  || fail "up's error event does not name the bastion: $(tail -1 "$WORK/up-blocked.jsonl")"
step "up, bastion refusing" "$(since "$t")"
nft delete table inet "$BLOCK"

say "the bastion switched off: up removes it and the isolation, the hosts reached directly"
write_env off
s=$(up off); step "up switching the bastion off" "$s"
has_event "$WORK/off.jsonl" '.event=="info" and (.message | test("bastion switched off"))' || fail "up did not say it switches the bastion off"
expect_path off fast
has_event "$WORK/off.jsonl" '.event=="step" and .phase=="maintenance" and (.message | test("^expired the maintenance silence"))' \
  || fail "the maintenance silence was not expired directly: $(jq -c 'select(.phase=="maintenance" or .event=="warning")' "$WORK/off.jsonl")"
[ "$(isolation)" = none ] || fail "the isolation is left after the bastion was switched off: $(isolation)"
[ "$(jq -r .contract.ssh.bastion "$STATE/deployment.json")" = null ] || fail "the contract still names a bastion"
[ ! -e "$LAB_ROOT/envs/$ENV/machines/bastion" ] || fail "the bastion machine is left: $(LAB_ENV="$ENV" "$LAB" status)"
grep -q "^$bastion_addr " "$STATE/ssh/known_hosts" && fail "the removed bastion's key is still pinned"
[ "$(cat "$LAB_ROOT/envs/$ENV/machines/mon-1/ssh_host_ed25519_key.pub")" = "$mon_key" ] || fail "mon-1's machine was replaced by switching the bastion off"
t=$(now)
"$OBSCTL" status --env "$ENV" >"$WORK/status-direct.out" 2>&1 || fail "status without the bastion failed: $(tail -5 "$WORK/status-direct.out")"
grep -Eq '^mon-1 +prometheus +up' "$WORK/status-direct.out" || fail "status does not list mon-1's Prometheus up: $(cat "$WORK/status-direct.out")"
connects "$mon" 22 || fail "mon-1:22 is not reachable directly after the bastion was switched off: $(cat "$WORK/connect.err")"
step "status, direct" "$(since "$t")"
echo "  bastion and isolation gone, its key forgotten, mon-1 kept and reached directly"

say "destroy removes the machines, the bridge and the isolation"
t=$(now)
"$OBSCTL" destroy --env "$ENV" --auto-approve >"$WORK/destroy.log" 2>&1 || fail "destroy failed: $WORK/destroy.log"
step destroy "$(since "$t")"
[ "$(LAB_ENV="$ENV" "$LAB" status)" = "no machines" ] || fail "machines left after destroy: $(LAB_ENV="$ENV" "$LAB" status)"
pgrep -af "systemd-nspawn .*/envs/$ENV/" && fail "lab machines of $ENV still running"
[ "$(isolation)" = none ] || fail "the nftables table is left after destroy: $(isolation)"
ip link show obs-jump >/dev/null 2>&1 && fail "bridge obs-jump left"
[ ! -e "$LAB_ROOT/envs/$ENV" ] || fail "lab directory left: $(find "$LAB_ROOT/envs/$ENV" | head)"
check_clean destroy >/dev/null
echo "PASS: the lab behind a jump host (${steps[*]})"
