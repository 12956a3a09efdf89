#!/usr/bin/env bash
# The watchman outside the stack (issue #29): staging's heartbeat receiver
# (severities = ["none"], its own repeat_interval) gets Watchdog once per
# interval at the sink standing in for a heartbeat service → every
# Prometheus stopped: the heartbeats stop within two intervals → `up`: they
# resume → every Alertmanager stopped: they stop within two intervals →
# `up`: they resume. A stopped phase ends when Alertmanager's API shows the
# cause (no active Watchdog left; no Alertmanager answering) and one whole
# interval after it passed without a heartbeat, not after a fixed sleep.
# Prints each gap between heartbeats. Leaves staging as it found it
# (converged by the last `up`).
# env: staging
# needs: webhook
# leaves: as-found
source "$(dirname "$0")/lib.sh"
: "${ALERTS:?}"
staging_topology
HEARTBEAT=$(jq -r '.all.vars.alertmanager_receivers[] | select(.severities == ["none"]) | .repeat_interval // empty' "$inventory" | head -1)
[ -n "$HEARTBEAT" ] || fail "staging has no heartbeat receiver with its own repeat_interval (environments/staging.toml)"
INTERVAL=$(dur "$HEARTBEAT")
# A repeat is sent at the first group_interval tick after the interval, by
# the first peer in cluster order that has not seen it sent (peer timeout).
BOUND=$(( INTERVAL + GROUP_INTERVAL + 2 * PEER_WAIT + 10 ))
echo "heartbeat every ${INTERVAL}s (bound ${BOUND}s per beat)"
# Firing Watchdog notifications at the heartbeat path after time $1: their
# arrival times. Two peers may both send one beat (Alertmanager's HA
# notifies at least once): beats within 10s of the previous count once.
beats() {
  jq -r --argjson t "$1" 'select(.path=="/heartbeat" and .status=="firing" and .received_at > $t) | .received_at' "$ALERTS" |
    sort -n | awk 'NR == 1 || $1 - last > 10 { print } { last = $1 }'
}
count_beats() { beats "$1" | wc -l; }
wait_beats() { # wait_beats SINCE N BOUND-SECONDS: N heartbeats after SINCE within the bound
  local deadline=$(( $(date +%s) + $3 ))
  while [ "$(count_beats "$1")" -lt "$2" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 2
  done
}
on_all() { # on_all HOSTS... -- COMMAND
  local hosts=() h
  while [ "$1" != -- ]; do hosts+=("$1"); shift; done
  shift
  for h in "${hosts[@]}"; do "$OBSCTL" ssh --env "$ENV" "$h" -- "$@" || fail "$h: $* failed"; done
}
# Watchdog as the Alertmanager on HOST holds it: how many active (endsAt
# not passed) Watchdog alerts its API lists, or "down" when it does not answer.
watchdogs_on() {
  local out
  out=$(scurl "$ENV" -fsS --max-time 5 --get "https://$(addr "$1"):$(port alertmanager_port)/api/v2/alerts" \
    --data-urlencode 'filter=alertname="Watchdog"' 2>/dev/null) || { echo down; return 0; }
  jq '[.[] | select((.endsAt | sub("\\.[0-9]+"; "") | fromdateiso8601) > now)] | length' <<<"$out"
}
# every_am Prometheus|Alertmanager: the Alertmanagers that still hold (or,
# for Alertmanager, still serve) Watchdog, as " host:state"; empty when none.
every_am() {
  local h n pending=""
  for h in "${AMS[@]}"; do
    n=$(watchdogs_on "$h")
    if [ "$1" = Prometheus ]; then [ "$n" = 0 ] || pending+=" $h:$n"; else [ "$n" = down ] || pending+=" $h:$n"; fi
  done
  echo "$pending"
}
stopped_phase() { # stopped_phase WHAT UNIT HOSTS...
  local what=$1 unit=$2 t_stop t_gone quiet_from until last after late pending
  shift 2
  say "every $what stopped: the heartbeats stop within two intervals"
  on_all "$@" -- systemctl stop "$unit"
  t_stop=$(date +%s)
  # The cause, read from Alertmanager's API instead of waited out: with every
  # Prometheus stopped, each Alertmanager drops Watchdog once its endsAt
  # passes (Prometheus sends alerts valid for 4 resend delays or evaluation
  # intervals); with every Alertmanager stopped, none answers.
  while pending=$(every_am "$what"); [ -n "$pending" ]; do
    [ $(( $(date +%s) - t_stop )) -lt "$BOUND" ] ||
      fail "${BOUND}s after every $what stopped, Alertmanager still holds Watchdog (host:active Watchdog alerts):$pending"
    sleep 2
  done
  t_gone=$(date +%s)
  # A notification taken before that may still wait for its place in the
  # cluster (two peer timeouts at most); after it, no heartbeat for one
  # whole interval.
  quiet_from=$(( t_gone + 2 * PEER_WAIT + 5 ))
  until=$(( quiet_from + INTERVAL ))
  sleep $(( until - $(date +%s) ))
  last=$(beats "$t_stop" | tail -1)
  after=$(count_beats "$quiet_from")
  late=$(count_beats $(( t_stop + BOUND )))
  echo "  Watchdog gone from every Alertmanager $(( t_gone - t_stop ))s after the stop; watched until $(( until - t_stop ))s after it"
  echo "  heartbeats after the stop: $(count_beats "$t_stop") (the last $(if [ -n "$last" ]; then awk -v l="$last" -v s="$t_stop" 'BEGIN { printf "%.0fs after the stop", l - s }'; else echo "none"; fi))"
  [ "$after" = 0 ] || fail "$after heartbeat(s) in the ${INTERVAL}s from $(( quiet_from - t_stop ))s after every $what stopped (Watchdog had left every Alertmanager $(( t_gone - t_stop ))s after the stop)"
  [ "$late" = 0 ] || fail "$late heartbeat(s) more than ${BOUND}s after every $what stopped"
  pending=$(every_am "$what")
  [ -z "$pending" ] || fail "Watchdog came back while every $what was stopped:$pending"
  say "up: the heartbeats resume"
  local t_up; t_up=$(date +%s)
  "$OBSCTL" up --env "$ENV" --without "$WITHOUT" --auto-approve >"$WORK/up-$unit.log" 2>&1 || fail "up after stopping every $what failed: $(tail -5 "$WORK/up-$unit.log")"
  wait_beats "$t_up" 1 $(( BOUND + 60 )) || fail "no heartbeat within $(( BOUND + 60 ))s of the up that restarted every $what"
  echo "  first heartbeat $(awk -v l="$(beats "$t_up" | head -1)" -v s="$t_up" 'BEGIN { printf "%.0f", l - s }')s after the up started"
}

say "heartbeats arrive once per interval"
t0=$(date +%s)
wait_beats "$t0" 3 $(( 3 * BOUND + 30 )) || fail "fewer than 3 heartbeats in $(( 3 * BOUND + 30 ))s (got $(count_beats "$t0"))"
mapfile -t at < <(beats "$t0")
for ((i = 1; i < 3; i++)); do
  gap=$(awk -v a="${at[$i]}" -v b="${at[$((i - 1))]}" 'BEGIN { printf "%.0f", a - b }')
  echo "  gap $i: ${gap}s"
  [ "$gap" -ge $(( INTERVAL - 5 )) ] || fail "heartbeats ${gap}s apart: more than once per ${INTERVAL}s"
  [ "$gap" -le "$BOUND" ] || fail "heartbeats ${gap}s apart: beyond the bound of ${BOUND}s"
done

stopped_phase Prometheus prometheus "${PROMS[@]}"
stopped_phase Alertmanager prometheus-alertmanager "${AMS[@]}"
echo "PASS: heartbeats every ${INTERVAL}s; stopped with every Prometheus and with every Alertmanager; resumed after up"
