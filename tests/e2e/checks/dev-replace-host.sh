#!/usr/bin/env bash
# Data that survives a machine (issue #28 item 3; docs/upgrades.md): a
# silence in Alertmanager and the samples Prometheus holds for a past window
# → `obsctl up --replace <monitoring host>` (Terraform replaces the machine;
# its data directory on the lab host is another resource, kept and bound
# into the new machine) → the machine is new (another machine-id and SSH
# host key), the same samples are still answered for the same window, the
# silence is still there, and the kept files belong to the new machine's
# users. Prints the replacement's up time. Leaves dev up, as found (the
# silence expired). dev-destroy checks that destroy removes the data.
# env: dev
# needs:
# leaves: as-found
source "$(dirname "$0")/lib.sh"
WINDOW=60   # seconds of `up` samples compared
on_host() { "$OBSCTL" ssh --env "$ENV" "$HOST" -- "$@"; }
sid=""
cleanup() { [ -z "$sid" ] || "$OBSCTL" silence --env "$ENV" expire "$sid" >/dev/null 2>&1 || true; }
trap cleanup EXIT
contract
HOST=$(host_of_role prometheus)
[ "$(host_of_role alertmanager)" = "$HOST" ] || fail "dev's Prometheus and Alertmanager are expected on one host"
PROM="https://$(addr_of_role prometheus):$(port prometheus_port)"
AM="https://$(addr_of_role alertmanager):$(port alertmanager_port)"
DATA="$LAB_ROOT/envs/$ENV/data/$HOST"

say "before: samples of a past window, a silence, the machine's identity"
[ -d "$DATA/var/lib/prometheus/metrics2" ] || fail "no data directory $DATA/var/lib/prometheus/metrics2 on the lab host"
at=$(( $(date +%s) - 5 ))
count_before=$(samples "$at")
[ "$count_before" != none ] && [ "$count_before" -gt 0 ] || fail "no samples of up in the ${WINDOW}s before $at"
sid=$("$OBSCTL" silence --env "$ENV" add alertname=ReplaceHostProbe --duration 2h --comment "dev-replace-host: must survive the machine" --output json | jq -r 'select(.event=="summary") | .id')
[ -n "$sid" ] && [ "$sid" != null ] || fail "could not create the silence"
id_before=$(on_host cat /etc/machine-id)
key_before=$(grep -h "$(addr_of_role prometheus)" "$STATE/ssh/known_hosts" | awk '{print $NF}' | head -1)
echo "  $HOST: machine-id $id_before; samples of up in the ${WINDOW}s before $(date -u -d @"$at" +%H:%M:%SZ): $count_before; silence $sid"

say "up --replace $HOST"
start=$(now)
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --replace "$HOST" --auto-approve --output json >"$WORK/replace.jsonl" 2>"$WORK/replace.err" \
  || fail "up --replace $HOST failed: $(tail -20 "$WORK/replace.err")"
replace_s=$(since "$start")
tf=$(jq -c 'select(.event=="phase_end" and .phase=="terraform")' "$WORK/replace.jsonl")
[ "$(jq -r .destroy <<<"$tf")" = 1 ] && [ "$(jq -r .add <<<"$tf")" = 1 ] \
  || fail "the plan should replace exactly one resource (the machine, not its data directory): $tf"
echo "  terraform: $(jq -r .message <<<"$tf")"

say "after: a new machine with the old data"
contract
id_after=$(on_host cat /etc/machine-id)
[ "$id_after" != "$id_before" ] || fail "$HOST has the same machine-id: it was not replaced"
key_after=$(grep -h "$(addr_of_role prometheus)" "$STATE/ssh/known_hosts" | awk '{print $NF}' | head -1)
[ "$key_after" != "$key_before" ] || fail "$HOST kept its SSH host key: it was not replaced"
count_after=$(samples "$at")
[ "$count_after" = "$count_before" ] || fail "samples of up in the ${WINDOW}s before $at: $count_before before the replacement, $count_after after (the TSDB was not kept)"
state=$(scurl "$ENV" -fsS "$AM/api/v2/silence/$sid" | jq -r .status.state) || fail "Alertmanager does not know silence $sid after the replacement"
[ "$state" = active ] || fail "silence $sid is $state after the replacement, not active"
[ -z "$(on_host find /var/lib/prometheus/metrics2 ! -user prometheus -print -quit)" ] || fail "files of the kept TSDB do not belong to prometheus on the new machine"
am_user=$(jq -r '.all.vars.obsctl_access.system_users.alertmanager' "$STATE/inventory.json")
[ -z "$(on_host find /var/lib/prometheus/alertmanager ! -user "$am_user" -print -quit)" ] || fail "Alertmanager's kept files do not belong to $am_user on the new machine"
on_host findmnt -rn /var/lib/prometheus >/dev/null || fail "/var/lib/prometheus is not a mount of the data directory on the new machine"
echo "  machine-id $id_after; samples: $count_after (same); silence $sid $state; kept files owned by the new machine's users"
echo "PASS: replace-host ${replace_s}s (up --replace)"
