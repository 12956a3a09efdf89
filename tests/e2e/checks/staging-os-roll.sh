#!/usr/bin/env bash
# Changing the Debian release, rolling (issue 28 item 5; docs/upgrades.md,
# "The Debian release"): staging's `os` is switched to the other release and
# `up --replace mon-1,mon-2` rolls the monitoring pair (the Prometheus
# replicas, two of the three Alertmanagers) one host at a time, while a real
# alert is firing:
#
#   errors injected into orders-api on app-1 (not rolled) → a silence
#   created (it matches no alert) and held by every Alertmanager → a probe
#   loop asks every Prometheus and Alertmanager for /-/ready, and every
#   Prometheus for a query, every 100 ms for the whole roll → `plan` shows
#   the roll (order, data volume kept, exit 2) → OrdersHighErrorRatio reaches
#   the webhook → `up --replace mon-1,mon-2` →
#   two Terraform applies, each replacing one machine (never its data
#   directory), in order, the second after the first host was verified;
#   while each host was replaced the other Prometheus served (its own TSDB:
#   no restart, a self-scrape at every interval); the probe saw no component
#   without a member answering for long (see DARK_LIMIT); each
#   Prometheus still answers, for a window before the roll, the samples it
#   answered before (its TSDB was kept); each replaced Alertmanager's data
#   directory on the lab host is the one it had before (same directory), and
#   its silences and nflog files hold the silence and the alert's
#   notification written before (see below); mon-1 and mon-2 report the new
#   release in /etc/os-release, mon-3 and app-1 the old one; the
#   Alertmanager cluster is whole (status: every peer sees the others; no
#   --cluster.label while the releases are mixed); os-roll.json records each
#   host's release and its replacement time, and `status` shows the roll
#   still pending for mon-3 and app-1 with the command that resumes it →
#   the fault is cleared → the webhook's record of the alert: a firing
#   notification before the roll began, then one in every repeat interval
#   of the roll (no gap longer than one notification cycle, up to the roll's
#   end), at most one duplicate per replaced peer (Alertmanager delivers at
#   least once: a replaced peer may not yet hold the notification log when
#   it is its turn), then resolved (see tests/e2e/repeat_cover.py).
#
# The repeat interval is the one Alertmanager applies to the receiver the
# alert reached (its own repeat_interval, else the route's), read from the
# inventory obsctl rendered from environments/staging.toml: 2m there, so a
# roll of about 3 min (quiet machine) to 12 min (loaded) spans one or more
# cycles; no override is needed.
#
# Kept Alertmanager state: Alertmanager 0.25 writes its silences and nflog
# snapshots every 15 min (--data.maintenance-interval) and when it stops. A
# replacement stops the old machine cleanly (lab.sh machine-down: systemd
# stops the units), so the old Alertmanager writes the silence and the
# notification log onto its data volume; the new machine mounts that volume
# and its Alertmanager loads them. A fresh volume would not hold them: the
# new Alertmanager gets the silence by gossip, in memory, and writes a
# snapshot only at its next stop or after 15 min.
#
# Only the pair is rolled, not all four hosts: each replacement takes a new
# machine, a full configuration and verify (measured: 86 and 90 s on a quiet
# machine, 4.5 to 6.5 min per host at a load average of 20-25), so four would
# not fit the check's budget. mon-3 and app-1 stay on the old release; the
# env file is restored on exit (staging then has a roll back pending, which
# no later check runs: staging-failover runs no `up`, staging-destroy
# removes all). The fault is cleared and the silence expired on exit,
# whatever happens. Prints each step's duration and the probe timeline.
# env: staging
# needs: webhook
# leaves: up
# changes-checkout: environments/staging.toml
source "$(dirname "$0")/lib.sh"
: "${ALERTS:?}"
WINDOW=60    # seconds of `up` samples compared
# The probe's verdict: a component with no member answering for longer than
# this. The decisive evidence is each Prometheus' own TSDB (below): on a
# loaded machine a serving Prometheus can miss the probe's 1 s timeout for
# tens of seconds (seen: 41 s at a load average of 25, its process never
# restarted), while a replacement leaves its host down for minutes.
DARK_LIMIT=60
ALERT=OrdersHighErrorRatio
ALERT_BOUND=${ALERT_BOUND:-240}      # s from fault injection to the first notification
RESOLVE_BOUND=${RESOLVE_BOUND:-300}  # s from clearing the fault to "resolved"
t_start=$(now)   # only what the sink receives from now on counts
step_t=$t_start
step_done() { echo "  [$1: $(since "$step_t")s]"; step_t=$(now); }   # each step's duration

staging_topology
rolling_setup   # checks/lib.sh: the env file restored on exit, on, up, start_probe
release_of() { on "$1" '. /etc/os-release; echo "debian-$VERSION_ID"'; }
samples_on() { local PROM="https://$(addr "$1"):$PROM_PORT"; samples "$2"; }  # samples_on HOST AT (checks/lib.sh's samples)
FAULTS="https://$APP:$(port app_port)/admin/faults"
sid=""
fault_set=""
cleanup_check() {
  [ -z "$fault_set" ] || scurl "$ENV" -fsS -X DELETE "$FAULTS" >/dev/null 2>&1 || true
  [ -z "$sid" ] || "$OBSCTL" silence --env "$ENV" expire "$sid" >/dev/null 2>&1 </dev/null || true
}

old=$(sed -n 's/^os = "\(debian-[0-9]*\)"/\1/p' "$ENV_FILE")
case "$old" in debian-12) new=debian-13 ;; debian-13) new=debian-12 ;; *) fail "cannot read os from $ENV_FILE: '$old'" ;; esac
ROLLED=(mon-1 mon-2)
KEPT=(mon-3 app-1)
[ "$(with_role app | head -1)" = app-1 ] || fail "expected orders-api on app-1 (not rolled), the contract says: $(with_role app)"

say "a real alert: errors injected into orders-api ($FAULTS), firing through the roll"
scurl "$ENV" -fsS -X PUT -H 'Content-Type: application/json' -d '{"error_ratio": 0.5, "latency_ms": 0}' "$FAULTS" >/dev/null ||
  fail "fault injection failed"
fault_set=1
t_inject=$(now)
step_done "fault injected"

say "a silence on the Alertmanager cluster, held by each peer"
sid=$("$OBSCTL" silence --env "$ENV" add alertname=StagingOsRollMarker --duration 6h \
  --comment "staging-os-roll: must survive the roll on the kept data volumes" --output json </dev/null | jq -r 'select(.event=="summary") | .id')
[ -n "$sid" ] && [ "$sid" != null ] || fail "could not create the silence"
for a in "${AMS[@]}"; do
  ok=""
  for _ in $(seq 1 20); do
    scurl "$ENV" -fsS "https://$(addr "$a"):$AM_PORT/api/v2/silence/$sid" 2>/dev/null | jq -e '.status.state == "active"' >/dev/null && { ok=1; break; }
    sleep 0.5
  done
  [ -n "$ok" ] || fail "the silence $sid did not reach the Alertmanager on $a in 10 s"
done
# Each rolled Alertmanager's data directory as the lab host holds it (its data volume).
am_data=$(on mon-1 'cat /etc/default/prometheus-alertmanager' | grep -o -- '--storage.path=[^ "]*' | cut -d= -f2)
[ -n "$am_data" ] || fail "mon-1: no --storage.path in /etc/default/prometheus-alertmanager"
volume() { echo "$LAB_ROOT/envs/$ENV/data/$1$am_data"; }
declare -A volume_id
for h in "${ROLLED[@]}"; do
  [ -d "$(volume "$h")" ] || fail "$h: no data volume at $(volume "$h") on the lab host"
  volume_id[$h]=$(stat -c %d:%i "$(volume "$h")")
done
echo "  silence $sid active on ${AMS[*]}; the Alertmanager data ($am_data) of ${ROLLED[*]} in $LAB_ROOT/envs/$ENV/data/"
step_done silence

say "before: every host on $old, samples of a past window on each Prometheus"
for h in "${ROLLED[@]}" "${KEPT[@]}"; do
  [ "$(release_of "$h")" = "$old" ] || fail "$h runs $(release_of "$h"), expected $old"
done
at=$(( $(date +%s) - 5 ))
declare -A before id_before
for p in "${PROMS[@]}"; do
  before[$p]=$(samples_on "$p" "$at")
  [ "${before[$p]}" != none ] && [ "${before[$p]}" -gt 0 ] || fail "$p: no samples of up in the ${WINDOW}s before $at"
done
for h in "${ROLLED[@]}"; do id_before[$h]=$(on "$h" 'cat /etc/machine-id'); done
echo "  samples of up in the ${WINDOW}s before $(date -u -d @"$at" +%H:%M:%SZ): $(for p in "${PROMS[@]}"; do printf '%s=%s ' "$p" "${before[$p]}"; done)"
step_done before

say "probe every Prometheus and Alertmanager every 100 ms"
start_probe

say "os = \"$new\" in $ENV_FILE; plan shows the roll"
sed -i "s/^os = \"$old\"/os = \"$new\"/" "$ENV_FILE"
rc=0
"$OBSCTL" plan --env "$ENV" --output json >"$WORK/plan.jsonl" </dev/null || rc=$?
[ "$rc" = 2 ] || fail "plan exited $rc with a release roll pending, expected 2 (drift): $(tail -3 "$WORK/plan.jsonl")"
roll=$(summary plan | jq -r '.release_roll[]')
echo "$roll" | sed 's/^/  /'
for h in mon-1 mon-2 mon-3 app-1; do
  grep -q "$h: $old → $new, replaced, data volume kept" <<<"$roll" || fail "plan does not show $h in the roll: $roll"
done
[ "$(grep -n 'mon-1:' <<<"$roll" | cut -d: -f1)" -lt "$(grep -n 'mon-2:' <<<"$roll" | cut -d: -f1)" ] || fail "plan: mon-1 should roll before mon-2"
step_done "probe and plan"

say "$ALERT reaches the webhook before the roll begins (bound ${ALERT_BOUND}s from the fault)"
notes_of() { # STATUS: the alert's notifications of that status received since the check began
  jq -c --argjson t "$t_start" --arg a "$ALERT" --arg s "$1" \
    'select(.received_at >= $t and .status == $s and any(.alerts[]; .labels.alertname == $a))' "$ALERTS"
}
while [ -z "$(notes_of firing)" ]; do
  [ "$(awk -v s="$t_inject" -v e="$(now)" -v b="$ALERT_BOUND" 'BEGIN { print (e - s > b) }')" = 0 ] ||
    fail "$ALERT did not reach the webhook within ${ALERT_BOUND}s of the fault (sink: $(tail -3 "$SINK_LOG"))"
  sleep 1
done
first=$(notes_of firing | head -1)
RECEIVER=$(jq -r .receiver <<<"$first")
# The receiver's repeat interval: its own, else the route's (the inventory, rendered from the env file).
REPEAT=$(dur "$(jq -r --arg r "$RECEIVER" '.all.vars as $v | ([$v.alertmanager_receivers[] | select(.name == $r) | .repeat_interval // empty][0] // $v.alertmanager_repeat_interval)' "$inventory")")
echo "  first notification to $RECEIVER $(awk -v s="$t_inject" -v e="$(jq -r .received_at <<<"$first")" 'BEGIN { printf "%.1f", e - s }')s after the fault, by $(jq -r .externalURL <<<"$first"); its repeat interval ${REPEAT}s"
step_done "alert at the webhook"

say "up --replace ${ROLLED[*]}: one host at a time"
t0=$(now)
roll_s=$(up roll --replace "$(IFS=,; echo "${ROLLED[*]}")")
t0e=$(now)
# One Terraform apply per host, each replacing one machine (not its data directory).
jq -c 'select(.event=="phase_end" and .phase=="terraform")' "$WORK/roll.jsonl" >"$WORK/tf"
[ "$(wc -l <"$WORK/tf")" = 2 ] || fail "expected 2 Terraform phases (one per host), got $(wc -l <"$WORK/tf"): $(cat "$WORK/tf")"
jq -e -s 'all(.destroy == 1 and .add == 1)' "$WORK/tf" >/dev/null || fail "each step must replace exactly one resource: $(cat "$WORK/tf")"
grep -o 'release roll [0-9]/[0-9]: [a-z0-9-]*' "$WORK/roll.jsonl" | sed 's/^/  /' >"$WORK/steps"
cat "$WORK/steps"
[ "$(awk '{print $NF}' "$WORK/steps" | paste -sd' ')" = "mon-1 mon-2" ] || fail "the roll did not replace mon-1 then mon-2: $(cat "$WORK/steps")"
jq -r 'select(.event=="summary") | .timings | "  step: terraform \(.terraform)s, hosts \(.hosts)s, ansible \(.ansible)s, verify \(.verify)s"' "$WORK/roll.jsonl"

# While each host was replaced, the other Prometheus served: its own TSDB
# (kept across its replacement) shows no restart of its process and a sample
# of its self-scrape at every interval (at least 80 %) during that step.
interval=$(sed -n 's/^scrape_interval = "\([0-9]*\)s"/\1/p' "$ENV_FILE")
mapfile -t starts < <(jq -r 'select(.event=="phase_start" and .phase=="terraform") | .ts' "$WORK/roll.jsonl")
mapfile -t ends < <(jq -r 'select(.event=="phase_end" and .phase=="verify") | .ts' "$WORK/roll.jsonl")
[ "${#starts[@]}" = 2 ] && [ "${#ends[@]}" = 2 ] || fail "expected 2 steps (terraform start, verify end) in the roll's events"
prom_q() { scurl "$ENV" -fsS --get "https://$(addr "$1"):$PROM_PORT/api/v1/query" --data-urlencode "query=$2" | jq -r '.data.result[0].value[1] // "none"'; }
for i in 0 1; do
  h=${ROLLED[$i]}
  other=$([ "$h" = mon-1 ] && echo mon-2 || echo mon-1)
  s=$(date -d "${starts[$i]}" +%s); e=$(date -d "${ends[$i]}" +%s); d=$((e - s))
  [ "$i" = 0 ] || [ "$s" -ge "$(date -d "${ends[0]}" +%s)" ] || fail "step 2 started before step 1 was verified"
  sel="job=\"prometheus\",instance=\"$(addr "$other"):$PROM_PORT\""
  restarts=$(prom_q "$other" "changes(process_start_time_seconds{$sel}[${d}s] @ $e)")
  got=$(prom_q "$other" "sum_over_time(up{$sel}[${d}s] @ $e)")
  want=$(( d / interval ))
  echo "  step $((i + 1)): $h replaced in ${d}s; $other meanwhile: $restarts restarts, $got of ~$want self-scrapes up"
  [ "$restarts" = 0 ] || fail "$other's Prometheus restarted while $h was replaced: the pair was not kept serving"
  [ "$got" != none ] && [ "$(( got * 10 ))" -ge "$(( want * 8 ))" ] || fail "$other's Prometheus has $got of ~$want samples while $h was replaced"
done
step_done roll

stop_probe
say "probe timeline of the roll"
python3 "$PROBE" report "$PROBE_LOG" "$t0" "$t0e" | tee "$WORK/roll.probe" | sed '$d'
tail -1 "$WORK/roll.probe" | jq -e --argjson l "$DARK_LIMIT" '[.dark[]] | all(. <= $l)' >/dev/null ||
  fail "a component had no member answering for more than ${DARK_LIMIT}s during the roll: $(tail -1 "$WORK/roll.probe" | jq -c .dark)"

say "the roll is done: the fault cleared"
scurl "$ENV" -fsS -X DELETE "$FAULTS" >/dev/null || fail "clearing the fault failed"
fault_set=""
t_clear=$(now)

say "after: the pair on $new with its data, the others untouched"
for h in "${ROLLED[@]}"; do
  r=$(release_of "$h")
  [ "$r" = "$new" ] || fail "$h runs $r after the roll, expected $new"
  [ "$(on "$h" 'cat /etc/machine-id')" != "${id_before[$h]}" ] || fail "$h has the same machine-id: it was not replaced"
  [ -z "$(on "$h" 'find /var/lib/prometheus/metrics2 ! -user prometheus -print -quit')" ] || fail "$h: kept TSDB files not owned by prometheus"
done
for h in "${KEPT[@]}"; do [ "$(release_of "$h")" = "$old" ] || fail "$h was not to be rolled, but runs $(release_of "$h")"; done
for p in "${PROMS[@]}"; do
  a=$(samples_on "$p" "$at")
  [ "$a" = "${before[$p]}" ] || fail "$p: samples of up in the ${WINDOW}s before $at: ${before[$p]} before the roll, $a after (the TSDB was not kept)"
done
# Each replaced Alertmanager: the same data directory, whose snapshots hold
# the silence and the alert's notification from before the roll, and the
# silence active on it.
for h in "${ROLLED[@]}"; do
  v=$(volume "$h")
  [ "$(stat -c %d:%i "$v")" = "${volume_id[$h]}" ] || fail "$h: $v is not the directory it was before the roll (the data volume was not kept)"
  grep -aqF -- "$sid" "$v/silences" || fail "$h: the kept volume's silences file ($v/silences) does not hold the silence $sid created before the roll"
  grep -aqF -- "alertname=\"$ALERT\"" "$v/nflog" || fail "$h: the kept volume's nflog ($v/nflog) holds no notification of $ALERT"
  am_user=$(on "$h" 'systemctl show -p User --value prometheus-alertmanager')
  [ -n "$am_user" ] && [ -z "$(on "$h" "find $am_data ! -user $am_user -print -quit")" ] || fail "$h: kept Alertmanager files not owned by its user ($am_user)"
  scurl "$ENV" -fsS "https://$(addr "$h"):$AM_PORT/api/v2/silence/$sid" | jq -e '.status.state == "active"' >/dev/null ||
    fail "$h: the silence $sid is not active on its Alertmanager after the roll"
  echo "  $h: $v kept; silences $(stat -c %s "$v/silences") B (holds $sid), nflog $(stat -c %s "$v/nflog") B (holds $ALERT), written $(date -u -d @"$(stat -c %Y "$v/nflog")" +%H:%M:%SZ)"
done
! on mon-1 'grep -q -- --cluster.label /etc/default/prometheus-alertmanager' || fail "mon-1's Alertmanager has --cluster.label while mon-3 runs $old: the cluster would split"
"$OBSCTL" status --env "$ENV" --output json >"$WORK/status.jsonl" </dev/null || fail "status after the roll: $(tail -3 "$WORK/status.jsonl")"
jq -e --arg o "$old" --arg n "$new" '.target == $n and .hosts["mon-1"] == $n and .hosts["mon-2"] == $n and .hosts["mon-3"] == $o and .current == null' \
  "$STATE/os-roll.json" >/dev/null || fail "os-roll.json does not record the roll: $(cat "$STATE/os-roll.json")"
# status shows the roll still pending: mon-3 next, and the command that resumes it.
summary status | jq -e --arg o "$old" --arg n "$new" --arg env "$ENV" '.release_roll as $r | $r.target == $n and $r.pending == ["mon-3", "app-1"]
  and $r.next == "mon-3" and $r.hosts["mon-1"] == $n and $r.hosts["app-1"] == $o and ($r.resume | contains("obsctl up --env \($env)"))' >/dev/null ||
  fail "status does not show the pending roll: $(summary status | jq -c .release_roll)"
echo "  $(for h in "${ROLLED[@]}" "${KEPT[@]}"; do printf '%s=%s ' "$h" "$(release_of "$h")"; done); samples kept on ${PROMS[*]}; status healthy, roll pending: $(summary status | jq -c '.release_roll | {pending, next}')"
echo "  replacement times (os-roll.json): $(jq -c .seconds "$STATE/os-roll.json")"
"$OBSCTL" silence --env "$ENV" expire "$sid" >/dev/null </dev/null || fail "could not expire the silence $sid"
sid=""
step_done after

say "$ALERT resolved at the webhook, and quiet for two peer waits (bound ${RESOLVE_BOUND}s from clearing the fault)"
# At the threshold crossing the two Prometheus replicas evaluate at different
# moments: one may still send the alert firing after the other sent it
# resolved (Alertmanager takes the latest word, and notifies it again). So:
# until the last notification is "resolved" and nothing came for two peer
# waits (a late duplicate then counts here, not in the next check).
quiet=$(( 2 * PEER_WAIT + 5 ))
while :; do
  last=$(jq -c --argjson t "$t_clear" --arg a "$ALERT" 'select(.received_at >= $t and any(.alerts[]; .labels.alertname == $a))' "$ALERTS" | tail -1)
  [ -n "$last" ] && [ "$(jq -r .status <<<"$last")" = resolved ] &&
    [ "$(awk -v r="$(jq -r .received_at <<<"$last")" -v n="$(now)" -v q="$quiet" 'BEGIN { print (n - r >= q) }')" = 1 ] && break
  [ "$(awk -v s="$t_clear" -v e="$(now)" -v b="$(( RESOLVE_BOUND + quiet ))" 'BEGIN { print (e - s > b) }')" = 0 ] ||
    fail "$ALERT was not resolved at the webhook (and quiet for ${quiet}s) within $(( RESOLVE_BOUND + quiet ))s of clearing the fault: last ${last:-nothing}"
  sleep 2
done
step_done "alert resolved"

say "the webhook's record of $ALERT: one notification per repeat interval through the roll"
python3 tests/e2e/repeat_cover.py "$ALERTS" "$ALERT" "$RECEIVER" "$t_start" "$t_inject" "$t0" "$t0e" "$t_clear" \
  "$REPEAT" "$GROUP_INTERVAL" "$PEER_WAIT" "${#ROLLED[@]}" ||
  fail "the webhook's record of $ALERT does not cover the roll (notifications: $ALERTS)"
echo "PASS: staging-os-roll: roll of ${ROLLED[*]} ($old → $new) ${roll_s}s with $ALERT firing; check $(since "$t_start")s"
