#!/usr/bin/env bash
# The lab with a jump host (issue 32): the bastion path, which the aws stack
# uses for every connection, proved live in an environment of its own
# (environments/jump.toml, written here and removed on exit): one host,
# mon-1, behind the bastion ([lab] bastion = true), on the bridge obs-jump,
# which the lab host may enter only through the bastion (an nftables table
# of the environment's own).
#
#   cold up passes verify through the bastion (SSH as a ProxyCommand, HTTPS
#   through the SOCKS tunnel), the bastion's published host key pinned, and
#   obsctl never tried a direct connection (the isolation rule's counter is 0);
#   status lists the host; a second up takes the fast path; `obsctl ssh` works;
#   a direct connection to mon-1's SSH and Prometheus ports is refused while
#   the bastion answers;
#   the bastion machine stopped: status exits 30 naming it, and up replaces
#   it like any stopped lab machine, pins the new machine's key and takes
#   the fast path (no host changed);
#   the bastion refusing connections: status and up exit 30 naming it;
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

cat >"$ENV_FILE" <<TOML
$MARK
description = "Lab behind a jump host: the bastion path tested live"
provider = "lab"
protected = false
components = ["prometheus", "alertmanager", "node_exporter"]

[lab]
bridge = "obs-jump"
cidr = "10.92.0.0/24"
bastion = true

[[hosts]]
name = "mon-1"
roles = ["prometheus", "alertmanager"]

[prometheus]
scrape_interval = "5s"
evaluation_interval = "5s"
TOML

# up NAME [ARGS..]: an up with JSON events in $WORK/NAME.jsonl; prints its seconds.
up() {
  local name=$1 t
  shift
  t=$(now)
  "$OBSCTL" up --env "$ENV" --auto-approve --output json "$@" >"$WORK/$name.jsonl" 2>"$WORK/$name.err" </dev/null \
    || { tail -5 "$WORK/$name.jsonl" "$WORK/$name.err" >&2; fail "up ($name) failed"; }
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
"$OBSCTL" destroy --env "$ENV" --auto-approve >"$WORK/leftover-destroy.log" 2>&1 || fail "could not destroy a leftover $ENV: $WORK/leftover-destroy.log"

say "cold up through the bastion"
s=$(up cold); step "cold up" "$s"
has_event "$WORK/cold.jsonl" '.event=="summary"' || fail "cold up printed no summary"
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
echo "  bastion $bastion (key pinned: ${published:0:40}…); mon-1 at $mon"

say "status, the fast path and obsctl ssh, all through the bastion"
t=$(now)
rc=0; "$OBSCTL" status --env "$ENV" >"$WORK/status.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "status exited $rc through the bastion: $(tail -5 "$WORK/status.out")"
grep -Eq '^mon-1 +prometheus +up' "$WORK/status.out" || fail "status does not list mon-1's Prometheus up: $(cat "$WORK/status.out")"
step status "$(since "$t")"
s=$(up second); step "second up" "$s"
expect_path second fast
t=$(now)
[ "$("$OBSCTL" ssh --env "$ENV" mon-1 -- hostname </dev/null)" = mon-1 ] || fail "obsctl ssh mon-1 -- hostname did not answer mon-1"
step "obsctl ssh" "$(since "$t")"
[ "$(refused_count)" = 0 ] || fail "obsctl tried $(refused_count) direct connections into the network (the isolation refused them): every one must go through the bastion"
echo "  no direct connection attempted by up, status, the fast path or ssh (isolation counter 0)"

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
