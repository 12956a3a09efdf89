#!/usr/bin/env bash
# Rolling restarts on staging (issue 28): the peers of a replicated component
# restart one at a time, each ready before the next.
#
#   a probe loop asks every Prometheus and every Alertmanager for /-/ready,
#   and every Prometheus for a query, every 100 ms for the whole check →
#   1. the Prometheus retention changes in the env file; `up` restarts both
#      Prometheus replicas (and no Alertmanager);
#   2. the env file is restored and every Alertmanager's flags file is edited
#      by hand; `up` repairs both, restarting both Prometheus and all three
#      Alertmanagers →
#   each time, the restart windows of one component's peers never overlap,
#   read from each host's journal (from systemd's "Stopping <unit>" to the
#   unit's own ready line: Prometheus' "Server is ready to receive web
#   requests.", a clustered Alertmanager's "gossip settled; proceeding"), and
#   the probe never saw every member of a component fail at once.
#
# The journal is the evidence, not only the probe: the lab's small TSDB
# restarts in under a second, so a probe can miss two simultaneous restarts.
# Prints the windows, the probe's longest gap per component and member, and
# each step's duration. The env file is restored on exit, whatever happens;
# leaves staging converged, as it found it.
# env: staging
# needs:
# leaves: as-found
# changes-checkout: environments/staging.toml
source "$(dirname "$0")/lib.sh"
staging_topology
rolling_setup   # checks/lib.sh: the env file restored on exit, on, up, start_probe

# one_at_a_time COMPONENT EXPECTED WINDOWS-FILE: EXPECTED restarts, none overlapping.
one_at_a_time() {
  local comp=$1 want=$2 file=$3
  sed "s/^/    $comp /" "$file" | awk '{ if ($4 == "never-ready") print; else printf "%s %s restart %.3f → %.3f (%.2fs)\n", $1, $2, $3, $4, $4 - $3 }'
  ! grep -q never-ready "$file" || fail "$comp: a restarted unit never logged ready (journal above)"
  [ "$(wc -l <"$file")" = "$want" ] || fail "$comp: $(wc -l <"$file") restarts in the journals, expected $want"
  sort -k2,2n "$file" | awk -v c="$comp" 'NR > 1 && $2 < end { printf "%s: %s restarted at %.3f while %s was not ready yet (until %.3f)\n", c, $1, $2, host, end; bad = 1 }
    { end = $3; host = $1 } END { exit bad }' >&2 || fail "$comp: restart windows overlap"
}
# no_dark STEP FROM TO: the probe's timeline of the step (printed), and no
# component without a member answering for longer than DARK_LIMIT seconds.
# The journals (read above) decide whether two peers restarted at once: a
# lab Prometheus restarts in under a second. The probe counts a peer as down
# when it refuses, says not ready or fails the query; an answer slower than
# its 1 s timeout is counted apart as slow (the CI machine runs both lab
# lanes and the moto stack on 2 cores: a busy peer that is still serving can
# miss the timeout for seconds), so it does not make a component dark.
DARK_LIMIT=5
no_dark() {
  python3 "$PROBE" report "$PROBE_LOG" "$2" "$3" | tee "$WORK/$1.probe" | sed '$d'
  tail -1 "$WORK/$1.probe" | jq -e --argjson l "$DARK_LIMIT" '[.dark[]] | all(. <= $l)' >/dev/null ||
    fail "$1: a component had no member answering for more than ${DARK_LIMIT}s: $(tail -1 "$WORK/$1.probe" | jq -c .dark)"
  tail -1 "$WORK/$1.probe" | jq -e '[.dark[]] | all(. == 0)' >/dev/null ||
    echo "  note: the probe saw a component with no member answering (seconds): $(tail -1 "$WORK/$1.probe" | jq -c .dark); the journals show no overlapping restart"
}

say "probe every Prometheus and Alertmanager every 100 ms"
start_probe
# Before any change every target answers (one slow answer on a loaded
# machine is not a gap of the roll: those are measured from here on).
python3 "$PROBE" report "$PROBE_LOG" | tail -1 | jq -e --argjson n "$PROBE_TARGETS" '(.answered | length) == $n and ([.answered[]] | all(. > 0))' >/dev/null ||
  fail "a target did not answer before any change: $(python3 "$PROBE" report "$PROBE_LOG")"

# --- 1. retention --------------------------------------------------------------------
old=$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["prometheus"]["retention"])' "$ENV_FILE")
new=$([ "$old" = 8d ] && echo 9d || echo 8d)
say "1. Prometheus retention $old → $new: up"
sed -i "s/^retention = \"$old\"/retention = \"$new\"/" "$ENV_FILE"
grep -q "^retention = \"$new\"" "$ENV_FILE" || fail "could not change the retention in $ENV_FILE"
t1=$(now)
d1=$(up retention)
t1e=$(now)
expect_path retention full
for p in "${PROMS[@]}"; do
  on "$p" 'cat /etc/default/prometheus' | grep -q -- "--storage.tsdb.retention.time=$new" || fail "$p: the retention $new did not reach /etc/default/prometheus"
done
windows prometheus.service 'Server is ready to receive web requests' "$t1" "${PROMS[@]}" >"$WORK/1.prometheus"
windows prometheus-alertmanager.service 'gossip settled; proceeding' "$t1" "${AMS[@]}" >"$WORK/1.alertmanager"
one_at_a_time prometheus "${#PROMS[@]}" "$WORK/1.prometheus"
one_at_a_time alertmanager 0 "$WORK/1.alertmanager"
no_dark retention "$t1" "$t1e"
echo "  step 1: up ${d1}s"

# --- 2. restore, and every Alertmanager's flags edited by hand -------------------------
say "2. retention back to $old, every Alertmanager's flags file edited by hand: up"
cp "$WORK/env.toml" "$ENV_FILE"
for a in "${AMS[@]}"; do on "$a" "echo '# edited by hand (staging-rolling.sh)' >>/etc/default/prometheus-alertmanager"; done
t2=$(now)
d2=$(up repair)
t2e=$(now)
expect_path repair full
for a in "${AMS[@]}"; do
  ! on "$a" "grep -q 'edited by hand' /etc/default/prometheus-alertmanager" || fail "$a: up did not restore the flags file"
done
windows prometheus.service 'Server is ready to receive web requests' "$t2" "${PROMS[@]}" >"$WORK/2.prometheus"
windows prometheus-alertmanager.service 'gossip settled; proceeding' "$t2" "${AMS[@]}" >"$WORK/2.alertmanager"
one_at_a_time prometheus "${#PROMS[@]}" "$WORK/2.prometheus"
one_at_a_time alertmanager "${#AMS[@]}" "$WORK/2.alertmanager"
no_dark repair "$t2" "$t2e"
echo "  step 2: up ${d2}s"

stop_probe
say "probe timeline, whole check"
python3 "$PROBE" report "$PROBE_LOG" | sed '$d'
echo "staging-rolling: step 1 (retention) ${d1}s, step 2 (restore + hand edits) ${d2}s; peers restarted one at a time (journals), no component dark past ${DARK_LIMIT}s (probe)"
