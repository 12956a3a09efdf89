#!/usr/bin/env bash
# Changing the Debian release, rolling (issue 28 item 5; docs/upgrades.md,
# "The Debian release"): staging's `os` is switched to the other release and
# `up --replace mon-1,mon-2` rolls the monitoring pair (the Prometheus
# replicas, two of the three Alertmanagers) one host at a time:
#
#   a probe loop asks every Prometheus and Alertmanager for /-/ready, and
#   every Prometheus for a query, every 100 ms for the whole roll →
#   `plan` shows the roll (order, data volume kept, exit 2) →
#   `up --replace mon-1,mon-2` →
#   two Terraform applies, each replacing one machine (never its data
#   directory), in order, the second after the first host was verified;
#   while each host was replaced the other Prometheus served (its own TSDB:
#   no restart, a self-scrape at every interval); the probe saw no component
#   without a member answering for long (see DARK_LIMIT); each
#   Prometheus still answers, for a window before the roll, the samples it
#   answered before (its TSDB was kept); mon-1 and mon-2 report the new
#   release in /etc/os-release, mon-3 and app-1 the old one; the
#   Alertmanager cluster is whole (status: every peer sees the others; no
#   --cluster.label while the releases are mixed) and os-roll.json records
#   each host's release and its replacement time.
#
# Only the pair is rolled, not all four hosts: each replacement takes a new
# machine, a full configuration and verify (measured on a lab machine at a
# load average of 20-25: 4.5 to 6.5 min per host, of which Ansible 3.5 to 6),
# so four would not fit the check's budget; even two may exceed its 4 min. mon-3 and app-1 stay on the old release; the env file
# is restored on exit (staging then has a roll back pending, which no later
# check runs: staging-failover runs no `up`, staging-destroy removes all).
# Prints each step's duration and the probe timeline.
# env: staging
# needs:
# leaves: up
# changes-checkout: environments/staging.toml
source "$(dirname "$0")/lib.sh"
ENV_FILE="environments/$ENV.toml"
PROBE="$ROOT/tests/e2e/ready_probe.py"
PROBE_LOG="$WORK/probe.log"
WINDOW=60    # seconds of `up` samples compared
# The probe's verdict: a component with no member answering for longer than
# this. The decisive evidence is each Prometheus' own TSDB (below): on a
# loaded machine a serving Prometheus can miss the probe's 1 s timeout for
# tens of seconds (seen: 41 s at a load average of 25, its process never
# restarted), while a replacement leaves its host down for minutes.
DARK_LIMIT=60

staging_topology
cp "$ENV_FILE" "$WORK/env.toml"
restore() {
  [ -n "${PROBE_PID:-}" ] && kill "$PROBE_PID" 2>/dev/null
  cp "$WORK/env.toml" "$ENV_FILE"
}
trap restore EXIT
on() { "$OBSCTL" ssh --env "$ENV" "$1" -- "$2"; }
release_of() { on "$1" '. /etc/os-release; echo "debian-$VERSION_ID"'; }
PROM_PORT=$(port prometheus_port)
samples_on() { local PROM="https://$(addr "$1"):$PROM_PORT"; samples "$2"; }  # samples_on HOST AT (checks/lib.sh's samples)

old=$(sed -n 's/^os = "\(debian-[0-9]*\)"/\1/p' "$ENV_FILE")
case "$old" in debian-12) new=debian-13 ;; debian-13) new=debian-12 ;; *) fail "cannot read os from $ENV_FILE: '$old'" ;; esac
ROLLED=(mon-1 mon-2)
KEPT=(mon-3 app-1)

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

say "probe every Prometheus and Alertmanager every 100 ms"
targets=()
for p in "${PROMS[@]}"; do
  targets+=("prometheus@$p=https://$(addr "$p"):$PROM_PORT/-/ready" "prometheus-query@$p=https://$(addr "$p"):$PROM_PORT/api/v1/query?query=up")
done
for a in "${AMS[@]}"; do targets+=("alertmanager@$a=https://$(addr "$a"):9093/-/ready"); done
python3 "$PROBE" run "$STATE/tls/ca.crt" "$STATE/secrets/web_obsctl_password" "$PROBE_LOG" "${targets[@]}" &
PROBE_PID=$!
sleep 2
[ -s "$PROBE_LOG" ] || fail "the probe wrote nothing in 2 s"

say "os = \"$new\" in $ENV_FILE; plan shows the roll"
sed -i "s/^os = \"$old\"/os = \"$new\"/" "$ENV_FILE"
t=$(now)
rc=0
"$OBSCTL" plan --env "$ENV" --output json >"$WORK/plan.jsonl" </dev/null || rc=$?
[ "$rc" = 2 ] || fail "plan exited $rc with a release roll pending, expected 2 (drift): $(tail -3 "$WORK/plan.jsonl")"
roll=$(summary plan | jq -r '.release_roll[]')
echo "$roll" | sed 's/^/  /'
for h in mon-1 mon-2 mon-3 app-1; do
  grep -q "$h: $old → $new, replaced, data volume kept" <<<"$roll" || fail "plan does not show $h in the roll: $roll"
done
[ "$(grep -n 'mon-1:' <<<"$roll" | cut -d: -f1)" -lt "$(grep -n 'mon-2:' <<<"$roll" | cut -d: -f1)" ] || fail "plan: mon-1 should roll before mon-2"
echo "  plan: $(since "$t")s"

say "up --replace ${ROLLED[*]}: one host at a time"
t0=$(now)
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --replace "$(IFS=,; echo "${ROLLED[*]}")" --auto-approve --output json >"$WORK/roll.jsonl" 2>"$WORK/roll.err" </dev/null ||
  fail "the roll failed: $(tail -20 "$WORK/roll.err")"
t0e=$(now)
roll_s=$(since "$t0")
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

kill "$PROBE_PID"; wait "$PROBE_PID" 2>/dev/null || true; PROBE_PID=""
say "probe timeline of the roll"
python3 "$PROBE" report "$PROBE_LOG" "$t0" "$t0e" | tee "$WORK/roll.probe" | sed '$d'
tail -1 "$WORK/roll.probe" | jq -e --argjson l "$DARK_LIMIT" '[.dark[]] | all(. <= $l)' >/dev/null ||
  fail "a component had no member answering for more than ${DARK_LIMIT}s during the roll: $(tail -1 "$WORK/roll.probe" | jq -c .dark)"

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
! on mon-1 'grep -q -- --cluster.label /etc/default/prometheus-alertmanager' || fail "mon-1's Alertmanager has --cluster.label while mon-3 runs $old: the cluster would split"
"$OBSCTL" status --env "$ENV" --output json >"$WORK/status.jsonl" </dev/null || fail "status after the roll: $(tail -3 "$WORK/status.jsonl")"
jq -e --arg o "$old" --arg n "$new" '.target == $n and .hosts["mon-1"] == $n and .hosts["mon-2"] == $n and .hosts["mon-3"] == $o and .current == null' \
  "$STATE/os-roll.json" >/dev/null || fail "os-roll.json does not record the roll: $(cat "$STATE/os-roll.json")"
echo "  $(for h in "${ROLLED[@]}" "${KEPT[@]}"; do printf '%s=%s ' "$h" "$(release_of "$h")"; done); samples kept on ${PROMS[*]}; status healthy"
echo "  replacement times (os-roll.json): $(jq -c .seconds "$STATE/os-roll.json")"
echo "PASS: staging-os-roll: roll of ${ROLLED[*]} ($old → $new) ${roll_s}s"
