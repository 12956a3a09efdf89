#!/usr/bin/env bash
# Changing the Debian release, rolling (issue 28 item 5; docs/upgrades.md,
# "The Debian release"): staging's `os` is switched to the other release and
# a plain `up` rolls EVERY host (mon-1, mon-2, mon-3, app-1, the env file's
# order) one at a time, while a real alert is firing:
#
#   errors injected into orders-api on app-1 → a silence created (it matches
#   no alert) and held by every Alertmanager → a probe loop asks every
#   Prometheus and Alertmanager for /-/ready, and every Prometheus for a
#   query, every 100 ms for the whole roll → `plan` shows the roll (order,
#   data volume kept, exit 2) → OrdersHighErrorRatio reaches the webhook →
#   `up --accept-gap` (app-1's orders-api has no peer: off a terminal the
#   gap needs the flag) →
#   four Terraform applies, each replacing one machine (never its data
#   directory), in order, each after the previous host was verified; while a
#   monitoring host was replaced the other Prometheus served (its own TSDB:
#   no restart, a self-scrape at every interval); the restart windows of one
#   component's peers never overlap, a replaced host counting as down from
#   its step's Terraform start to its verify (the kept hosts' journals give
#   their restarts: the Alertmanagers restart once, one at a time, to add
#   --cluster.label once every peer runs a release that has it); the probe
#   saw no component without a member answering for long (see DARK_LIMIT);
#   each Prometheus still answers, for a window before the roll, the samples
#   it answered before (its TSDB was kept); each Alertmanager's data
#   directory on the lab host is the one it had before (same directory), and
#   its silences and nflog files hold the silence and the alert's
#   notification written before (see below); EVERY host reports the new
#   release in /etc/os-release (its package versions are printed); the
#   Alertmanager cluster is whole and labelled; os-roll.json records each
#   host's release and replacement time, and `status` shows no roll pending
#   → the fault is cleared → the webhook's record of the alert (see
#   tests/e2e/repeat_cover.py): a firing notification before the roll began,
#   then one in every repeat interval of it (no gap longer than one
#   notification cycle) except while app-1 is replaced (below), at most one
#   duplicate per replaced Alertmanager (Alertmanager delivers at least
#   once: a replaced peer may not yet hold the notification log when it is
#   its turn), then resolved.
#
# app-1 is rolled too, and its orders-api is the alert's only source: while
# app-1 is replaced the alert's series are gone, so Prometheus resolves the
# alert (the webhook may get "resolved"), and the fault, held in orders-api's
# memory, is gone with the old machine. The check puts the fault back as soon
# as the new orders-api answers (a watcher polls it during app-1's step) and
# waits until the alert fires again: its `for: 1m` restarts then, so from
# app-1's step to that notification the webhook coverage is NOT claimed: it
# is a hole of about app-1's replacement + the rule's rate window and `for`
# (the check bounds it: ALERT_BOUND from the fault put back). The coverage
# holds for the three monitoring hosts' steps, which are what an HA roll
# keeps alerting through; an app host without a peer is down while replaced.
#
# The repeat interval is the one Alertmanager applies to the receiver the
# alert reached (its own repeat_interval, else the route's), read from the
# inventory obsctl rendered from environments/staging.toml: 2m there.
#
# Kept Alertmanager state: Alertmanager writes its silences and nflog
# snapshots every 15 min (--data.maintenance-interval) and when it stops. A
# replacement stops the old machine cleanly (lab.sh machine-down: systemd
# stops the units), so the old Alertmanager writes the silence and the
# notification log onto its data volume; the new machine mounts that volume
# and its Alertmanager loads them. A fresh volume would not hold them: the
# new Alertmanager gets the silence by gossip, in memory, and writes a
# snapshot only at its next stop or after 15 min.
#
# Cost: each replacement is a new machine, its full configuration (the new
# host installs its packages: most of it) and verify: 86 and 90 s per host
# measured on a quiet machine, 129 to 142 s at a load average of 12 (the
# whole check then 13 min, the roll of four hosts 9 min), 4.5 to 6.5 min at
# 20-25. Nothing in a step is redundant for the replaced host (it needs its
# packages, its configuration and a verify); the kept hosts' part of the
# Ansible run (about 25 s each, no change) runs beside the new host's.
# The env file is restored on exit: staging then has a roll back pending for
# every host, which no later check runs (staging-failover runs no `up`, on
# the rolled release; staging-destroy removes all). The fault is cleared and
# the silence expired on exit, whatever happens. Prints each step's duration
# and the probe timeline.
# env: staging
# needs: webhook
# leaves: up
# changes-checkout: environments/staging.toml
source "$(dirname "$0")/lib.sh"
: "${ALERTS:?}"
WINDOW=60    # seconds of `up` samples compared
# The probe's verdict: a component with no member answering for longer than
# this. The decisive evidence is each Prometheus' own TSDB and the journals
# (below): on a loaded machine a serving Prometheus can miss the probe's 1 s
# timeout for tens of seconds (seen: 41 s at a load average of 25, its
# process never restarted), while a replacement leaves its host down for
# minutes.
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
FAULT='{"error_ratio": 0.5, "latency_ms": 0}'
sid=""
fault_set=""
WATCH_PID=""
cleanup_check() {
  [ -z "$WATCH_PID" ] || kill "$WATCH_PID" 2>/dev/null || true
  [ -z "$fault_set" ] || scurl "$ENV" -fsS -X DELETE "$FAULTS" >/dev/null 2>&1 || true
  [ -z "$sid" ] || "$OBSCTL" silence --env "$ENV" expire "$sid" >/dev/null 2>&1 </dev/null || true
}

old=$(sed -n 's/^os = "\(debian-[0-9]*\)"/\1/p' "$ENV_FILE")
case "$old" in debian-12) new=debian-13 ;; debian-13) new=debian-12 ;; *) fail "cannot read os from $ENV_FILE: '$old'" ;; esac
# Every host, in the env file's order: the order of the roll.
mapfile -t ROLLED < <(python3 -c 'import tomllib,sys; [print(h["name"]) for h in tomllib.load(open(sys.argv[1],"rb"))["hosts"]]' "$ENV_FILE")
[ "${ROLLED[*]}" = "mon-1 mon-2 mon-3 app-1" ] || fail "expected the hosts mon-1 mon-2 mon-3 app-1 in $ENV_FILE, found: ${ROLLED[*]}"
APP_HOST=$(with_role app | head -1)
[ "$APP_HOST" = app-1 ] || fail "expected orders-api on app-1, the contract says: $(with_role app)"

say "a real alert: errors injected into orders-api ($FAULTS), firing through the roll"
scurl "$ENV" -fsS -X PUT -H 'Content-Type: application/json' -d "$FAULT" "$FAULTS" >/dev/null || fail "fault injection failed"
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
# Each Alertmanager's data directory as the lab host holds it (its data volume).
am_data=$(on mon-1 'cat /etc/default/prometheus-alertmanager' | grep -o -- '--storage.path=[^ "]*' | cut -d= -f2)
[ -n "$am_data" ] || fail "mon-1: no --storage.path in /etc/default/prometheus-alertmanager"
volume() { echo "$LAB_ROOT/envs/$ENV/data/$1$am_data"; }
declare -A volume_id
for h in "${AMS[@]}"; do
  [ -d "$(volume "$h")" ] || fail "$h: no data volume at $(volume "$h") on the lab host"
  volume_id[$h]=$(stat -c %d:%i "$(volume "$h")")
done
echo "  silence $sid active on ${AMS[*]}; the Alertmanager data ($am_data) of ${AMS[*]} in $LAB_ROOT/envs/$ENV/data/"
step_done silence

say "before: every host on $old, samples of a past window on each Prometheus"
for h in "${ROLLED[@]}"; do
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
for h in "${ROLLED[@]}"; do
  grep -q "$h: $old → $new, replaced, data volume kept" <<<"$roll" || fail "plan does not show $h in the roll: $roll"
done
[ "$(grep -o '^ *[0-9]*\. [a-z0-9-]*:' <<<"$roll" | awk '{print $2}' | tr -d : | paste -sd' ')" = "${ROLLED[*]}" ] ||
  fail "plan: the roll's order is not the env file's (${ROLLED[*]}): $roll"
step_done "probe and plan"

say "$ALERT reaches the webhook before the roll begins (bound ${ALERT_BOUND}s from the fault)"
notes_of() { # STATUS [SINCE]: the alert's notifications of that status received since SINCE (default: the check's start)
  jq -c --argjson t "${2:-$t_start}" --arg a "$ALERT" --arg s "$1" \
    'select(.received_at >= $t and .status == $s and any(.alerts[]; .labels.alertname == $a))' "$ALERTS"
}
within() { [ "$(awk -v s="$1" -v e="$(now)" -v b="$2" 'BEGIN { print (e - s > b) }')" = 0 ]; }  # within SINCE BOUND
while [ -z "$(notes_of firing)" ]; do
  within "$t_inject" "$ALERT_BOUND" || fail "$ALERT did not reach the webhook within ${ALERT_BOUND}s of the fault (sink: $(tail -3 "$SINK_LOG"))"
  sleep 1
done
first=$(notes_of firing | head -1)
RECEIVER=$(jq -r .receiver <<<"$first")
# The receiver's repeat interval: its own, else the route's (the inventory, rendered from the env file).
REPEAT=$(dur "$(jq -r --arg r "$RECEIVER" '.all.vars as $v | ([$v.alertmanager_receivers[] | select(.name == $r) | .repeat_interval // empty][0] // $v.alertmanager_repeat_interval)' "$inventory")")
echo "  first notification to $RECEIVER $(awk -v s="$t_inject" -v e="$(jq -r .received_at <<<"$first")" 'BEGIN { printf "%.1f", e - s }')s after the fault, by $(jq -r .externalURL <<<"$first"); its repeat interval ${REPEAT}s"
step_done "alert at the webhook"

# The fault lives in orders-api's memory: once app-1's step began, it is put
# back on the new orders-api as soon as that answers with no fault (the old
# one answers with the fault until its machine stops).
watch_app() {
  until grep -q "release roll [0-9]*/[0-9]*: $APP_HOST " "$WORK/roll.jsonl" 2>/dev/null; do sleep 1; done
  while :; do
    if scurl "$ENV" -fsS --max-time 2 "$FAULTS" 2>/dev/null | jq -e '.error_ratio == 0' >/dev/null; then
      scurl "$ENV" -fsS --max-time 5 -X PUT -H 'Content-Type: application/json' -d "$FAULT" "$FAULTS" >/dev/null 2>&1 &&
        { now >"$WORK/fault-back"; return 0; }
    fi
    sleep 0.5
  done
}
watch_app &
WATCH_PID=$!

say "up --accept-gap (plain: no --replace): every host, one at a time"
t0=$(now)
roll_s=$(up roll --accept-gap)
t0e=$(now)
kill "$WATCH_PID" 2>/dev/null || true
WATCH_PID=""
[ -s "$WORK/fault-back" ] || fail "the fault was not put back on $APP_HOST's new orders-api during its step (GET $FAULTS never answered error_ratio 0)"
t_back=$(cat "$WORK/fault-back")
# One Terraform apply per host, each replacing one machine (not its data directory).
jq -c 'select(.event=="phase_end" and .phase=="terraform")' "$WORK/roll.jsonl" >"$WORK/tf"
[ "$(wc -l <"$WORK/tf")" = "${#ROLLED[@]}" ] || fail "expected ${#ROLLED[@]} Terraform phases (one per host), got $(wc -l <"$WORK/tf"): $(cat "$WORK/tf")"
jq -e -s 'all(.destroy == 1 and .add == 1)' "$WORK/tf" >/dev/null || fail "each step must replace exactly one resource: $(cat "$WORK/tf")"
grep -o 'release roll [0-9]/[0-9]: [a-z0-9-]*' "$WORK/roll.jsonl" | awk '{print $NF}' >"$WORK/steps"
[ "$(paste -sd' ' "$WORK/steps")" = "${ROLLED[*]}" ] || fail "the roll did not replace ${ROLLED[*]} in that order: $(paste -sd' ' "$WORK/steps")"
mapfile -t starts < <(jq -r 'select(.event=="phase_start" and .phase=="terraform") | .ts' "$WORK/roll.jsonl")
mapfile -t ends < <(jq -r 'select(.event=="phase_end" and .phase=="verify") | .ts' "$WORK/roll.jsonl")
[ "${#starts[@]}" = "${#ROLLED[@]}" ] && [ "${#ends[@]}" -ge "${#ROLLED[@]}" ] || fail "expected ${#ROLLED[@]} steps (terraform start, verify end) in the roll's events"
# Each step's time, and its phases (each step's summary; os-roll.json: replacement to verified).
jq -r -s '[.[] | select(.event=="summary")] as $s | range(0; $s | length) as $i | $s[$i] |
  "  step \($i + 1) \(.timings | "(terraform \(.terraform)s, hosts \(.hosts)s, ansible \(.ansible)s, verify \(.verify)s)")"' "$WORK/roll.jsonl" >"$WORK/timings"
for i in "${!ROLLED[@]}"; do
  sed -n "$((i + 1))p" "$WORK/timings" | sed "s/^  step [0-9]* /  step $((i + 1)) ${ROLLED[$i]}: $(jq -r --arg h "${ROLLED[$i]}" '.seconds[$h]' "$STATE/os-roll.json")s /"
done
[ "$(grep -c '^  step ' "$WORK/timings")" -ge "${#ROLLED[@]}" ] || fail "expected a summary per step: $(cat "$WORK/timings")"
echo "  the whole roll: ${roll_s}s"

# While each monitoring host was replaced, every other Prometheus served:
# its own TSDB (kept across its replacement) shows a sample of its
# self-scrape at every interval (at least 80 %) during that step, and, while
# its partner was replaced, no restart of its process.
interval=$(sed -n 's/^scrape_interval = "\([0-9]*\)s"/\1/p' "$ENV_FILE")
prom_q() { scurl "$ENV" -fsS --get "https://$(addr "$1"):$PROM_PORT/api/v1/query" --data-urlencode "query=$2" | jq -r '.data.result[0].value[1] // "none"'; }
: >"$WORK/replaced"
for i in "${!ROLLED[@]}"; do
  h=${ROLLED[$i]}
  s=$(date -d "${starts[$i]}" +%s); e=$(date -d "${ends[$i]}" +%s); d=$((e - s))
  echo "$h $s $e" >>"$WORK/replaced"
  [ "$i" = 0 ] || [ "$s" -ge "$(date -d "${ends[$((i - 1))]}" +%s)" ] || fail "step $((i + 1)) started before step $i was verified"
  for other in "${PROMS[@]}"; do
    [ "$other" != "$h" ] || continue
    sel="job=\"prometheus\",instance=\"$(addr "$other"):$PROM_PORT\""
    restarts=$(prom_q "$other" "changes(process_start_time_seconds{$sel}[${d}s] @ $e)")
    got=$(prom_q "$other" "sum_over_time(up{$sel}[${d}s] @ $e)")
    want=$(( d / interval ))
    echo "  step $((i + 1)): $h replaced in ${d}s; $other meanwhile: $restarts restarts, $got of ~$want self-scrapes up"
    [[ " ${PROMS[*]} " != *" $h "* ]] || [ "$restarts" = 0 ] || fail "$other's Prometheus restarted while $h was replaced: the pair was not kept serving"
    [ "$got" != none ] && [ "$(( got * 10 ))" -ge "$(( want * 8 ))" ] || fail "$other's Prometheus has $got of ~$want samples while $h was replaced"
  done
done
# The restart windows of one component's peers never overlap: a replaced
# host is down from its step's Terraform start to its verify; the journals
# of the machines now running give every restart (the first start of a new
# machine's unit is no restart, and restarts within the host's own
# replacement are part of it).
windows prometheus.service 'Server is ready to receive web requests' "$t0" "${PROMS[@]}" >"$WORK/j.prometheus"
windows prometheus-alertmanager.service 'gossip settled; proceeding' "$t0" "${AMS[@]}" >"$WORK/j.alertmanager"
for comp in prometheus alertmanager; do
  case $comp in prometheus) peers="${PROMS[*]}" ;; alertmanager) peers="${AMS[*]}" ;; esac
  python3 - "$comp" "$peers" "$WORK/replaced" "$WORK/j.$comp" <<'PY' || fail "$comp: restart windows of its peers overlap during the roll (above)"
import sys
comp, peers, replaced, journal = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4]
rep = {h: (float(s), float(e)) for h, s, e in (l.split() for l in open(replaced)) if h in peers}
wins = [(s, e, h, "replaced") for h, (s, e) in rep.items()]
for l in open(journal):
    h, s, e = l.split()
    if e == "never-ready":
        print(f"  ERROR: {comp} on {h}: restarted at {float(s):.3f}, never logged ready"); sys.exit(1)
    s, e = float(s), float(e)
    if h in rep and rep[h][0] <= s <= rep[h][1]:
        continue
    wins.append((s, e, h, "restart"))
wins.sort()
bad = 0
for i, (s, e, h, k) in enumerate(wins):
    print(f"    {comp} {h} {k} {s:.1f} → {e:.1f} ({e - s:.1f}s)")
    for s2, e2, h2, k2 in wins[i + 1:]:
        if s2 < e and h2 != h:
            print(f"  ERROR: {comp}: {h2} {k2} at {s2:.1f} while {h} ({k}) was not back yet (until {e:.1f})"); bad = 1
sys.exit(bad)
PY
done
step_done roll

stop_probe
say "probe timeline of the roll"
python3 "$PROBE" report "$PROBE_LOG" "$t0" "$t0e" | tee "$WORK/roll.probe" | sed '$d'
tail -1 "$WORK/roll.probe" | jq -e --argjson l "$DARK_LIMIT" '[.dark[]] | all(. <= $l)' >/dev/null ||
  fail "a component had no member answering for more than ${DARK_LIMIT}s during the roll: $(tail -1 "$WORK/roll.probe" | jq -c .dark)"

say "after: every host on $new with its data"
for h in "${ROLLED[@]}"; do
  r=$(release_of "$h")
  [ "$r" = "$new" ] || fail "$h runs $r after the roll, expected $new"
  [ "$(on "$h" 'cat /etc/machine-id')" != "${id_before[$h]}" ] || fail "$h has the same machine-id: it was not replaced"
  echo "  $h: $(on "$h" '. /etc/os-release; echo "$PRETTY_NAME"'); $(on "$h" "dpkg-query -W -f '\${Package} \${Version}, ' prometheus prometheus-alertmanager prometheus-node-exporter nginx 2>/dev/null; true" | sed 's/, $//')"
done
# obsctl's own record of them (the last step's summary: /etc/os-release and dpkg, read over SSH).
summary roll | tail -1 | jq -e --arg v "${new#debian-}" '[.installed[] | .version_id == $v] | all' >/dev/null ||
  fail "the roll's summary does not report every host on $new: $(summary roll | tail -1 | jq -c '.installed | map_values(.release)')"
for h in "${PROMS[@]}"; do
  [ -z "$(on "$h" 'find /var/lib/prometheus/metrics2 ! -user prometheus -print -quit')" ] || fail "$h: kept TSDB files not owned by prometheus"
done
for p in "${PROMS[@]}"; do
  a=$(samples_on "$p" "$at")
  [ "$a" = "${before[$p]}" ] || fail "$p: samples of up in the ${WINDOW}s before $at: ${before[$p]} before the roll, $a after (the TSDB was not kept)"
done
# Each replaced Alertmanager: the same data directory, whose snapshots hold
# the silence and the alert's notification from before the roll, and the
# silence active on it.
for h in "${AMS[@]}"; do
  v=$(volume "$h")
  [ "$(stat -c %d:%i "$v")" = "${volume_id[$h]}" ] || fail "$h: $v is not the directory it was before the roll (the data volume was not kept)"
  grep -aqF -- "$sid" "$v/silences" || fail "$h: the kept volume's silences file ($v/silences) does not hold the silence $sid created before the roll"
  grep -aqF -- "alertname=\"$ALERT\"" "$v/nflog" || fail "$h: the kept volume's nflog ($v/nflog) holds no notification of $ALERT"
  am_user=$(on "$h" 'systemctl show -p User --value prometheus-alertmanager')
  [ -n "$am_user" ] && [ -z "$(on "$h" "find $am_data ! -user $am_user -print -quit")" ] || fail "$h: kept Alertmanager files not owned by its user ($am_user)"
  scurl "$ENV" -fsS "https://$(addr "$h"):$AM_PORT/api/v2/silence/$sid" | jq -e '.status.state == "active"' >/dev/null ||
    fail "$h: the silence $sid is not active on its Alertmanager after the roll"
  peers=$(scurl "$ENV" -fsS "https://$(addr "$h"):$AM_PORT/api/v2/status" | jq '.cluster.peers | length')
  [ "$peers" = "${#AMS[@]}" ] || fail "$h's Alertmanager sees $peers cluster peers, expected ${#AMS[@]}"
  echo "  $h: $v kept; silences $(stat -c %s "$v/silences") B (holds $sid), nflog $(stat -c %s "$v/nflog") B (holds $ALERT), written $(date -u -d @"$(stat -c %Y "$v/nflog")" +%H:%M:%SZ); $peers peers"
done
# Debian 13's Alertmanager has --cluster.label: every peer has it once all run it.
if [ "$new" = debian-13 ]; then
  for h in "${AMS[@]}"; do
    on "$h" 'grep -q -- --cluster.label /etc/default/prometheus-alertmanager' || fail "$h's Alertmanager has no --cluster.label although every peer runs $new"
  done
fi
"$OBSCTL" status --env "$ENV" --output json >"$WORK/status.jsonl" </dev/null || fail "status after the roll: $(tail -3 "$WORK/status.jsonl")"
jq -e --arg n "$new" '.target == $n and ([.hosts[]] | all(. == $n)) and (.hosts | length) == 4 and .current == null and .stopped == null' \
  "$STATE/os-roll.json" >/dev/null || fail "os-roll.json does not record the whole roll: $(cat "$STATE/os-roll.json")"
summary status | jq -e '.release_roll == null' >/dev/null || fail "status still shows a roll: $(summary status | jq -c .release_roll)"
echo "  replacement times (os-roll.json): $(jq -c .seconds "$STATE/os-roll.json"); status healthy, no roll pending"
"$OBSCTL" silence --env "$ENV" expire "$sid" >/dev/null </dev/null || fail "could not expire the silence $sid"
sid=""
step_done after

say "$ALERT fires again from $APP_HOST's new orders-api (fault put back $(awk -v s="$t0" -v e="$t_back" 'BEGIN { printf "%.0f", e - s }')s into the roll; bound ${ALERT_BOUND}s)"
t_app=$(date -d "${starts[$(( ${#ROLLED[@]} - 1 ))]}" +%s)
until [ -n "$(notes_of firing "$t_back")" ]; do
  within "$t_back" "$ALERT_BOUND" || fail "$ALERT did not fire again within ${ALERT_BOUND}s of the fault put back on $APP_HOST"
  sleep 1
done
t_refire=$(notes_of firing "$t_back" | head -1 | jq -r .received_at)
echo "  firing again $(awk -v s="$t_back" -v e="$t_refire" 'BEGIN { printf "%.1f", e - s }')s after the fault was put back; no coverage claimed from $APP_HOST's step ($(awk -v s="$t_inject" -v e="$t_app" 'BEGIN { printf "%.1f", e - s }')s) to then"
step_done "alert again"

say "the fault cleared"
scurl "$ENV" -fsS -X DELETE "$FAULTS" >/dev/null || fail "clearing the fault failed"
fault_set=""
t_clear=$(now)

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
  within "$t_clear" "$(( RESOLVE_BOUND + quiet ))" ||
    fail "$ALERT was not resolved at the webhook (and quiet for ${quiet}s) within $(( RESOLVE_BOUND + quiet ))s of clearing the fault: last ${last:-nothing}"
  sleep 2
done
step_done "alert resolved"

say "the webhook's record of $ALERT: one notification per repeat interval through the roll (but $APP_HOST's hole)"
python3 tests/e2e/repeat_cover.py "$ALERTS" "$ALERT" "$RECEIVER" "$t_start" "$t_inject" "$t0" "$t0e" "$t_clear" \
  "$REPEAT" "$GROUP_INTERVAL" "$PEER_WAIT" "${#AMS[@]}" "$t_app" "$t_refire" ||
  fail "the webhook's record of $ALERT does not cover the roll (notifications: $ALERTS)"
echo "PASS: staging-os-roll: roll of ${ROLLED[*]} ($old → $new) ${roll_s}s with $ALERT firing; check $(since "$t_start")s"
