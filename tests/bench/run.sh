#!/usr/bin/env bash
# Benchmark of obsctl's user-facing paths on the local lab. It prints
# figures and asserts nothing; docs/performance.md records a run.
#
#   tests/bench/run.sh            dev: cold up, no-op up, status (healthy and
#                                 with a machine stopped), destroy, the hand-made
#                                 baseline, contract → inventory at 10/100/1000 hosts
#   STAGING=1 tests/bench/run.sh  also a cold up of staging (prod's topology)
#
# Needs root (lab machines). Uses the dev environment: anything running in
# dev is destroyed first. The Debian base image and the apt cache are warm
# after the first run (both baseline and obsctl profit from them alike).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OBSCTL=$ROOT/target/release/obsctl
WITHOUT=${WITHOUT-grafana,loki,promtail}
OUT=$(mktemp -d /tmp/obsctl-bench.XXXXXX)
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN{printf "%.1f", e-s}'; }
phases() { jq -r 'select(.event=="summary") | .timings | to_entries | map("\(.key) \(.value)s") | join(", ")' "$1"; }
own() { jq -r 'select(.event=="summary") | .own_cpu_s' "$1"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release --locked -q
cargo build --release --locked -q -p orders-api
"$OBSCTL" destroy --env dev --auto-approve >/dev/null 2>&1 || true
tests/bench/baseline.sh destroy >/dev/null 2>&1 || true

t=$(now); "$OBSCTL" up --env dev --without "$WITHOUT" --output json >"$OUT/cold.jsonl"; cold=$(since "$t")
echo "cold up (machines absent):     ${cold}s   [$(phases "$OUT/cold.jsonl")]  obsctl CPU $(own "$OUT/cold.jsonl")s"
t=$(now); "$OBSCTL" up --env dev --without "$WITHOUT" --output json >"$OUT/noop.jsonl"; noop=$(since "$t")
echo "no-op up (nothing changed):    ${noop}s   [$(phases "$OUT/noop.jsonl")]  obsctl CPU $(own "$OUT/noop.jsonl")s"
t=$(now); "$OBSCTL" status --env dev >/dev/null; st=$(since "$t")
echo "status, healthy:               ${st}s"
jq '.all.vars' ".obsctl/dev/inventory.json" >"$OUT/group_vars_all.json"
kill "$(cat /var/lib/obsctl/lab/envs/dev/machines/app-1/pid)"
sleep 3
t=$(now); "$OBSCTL" status --env dev >/dev/null || true; st_dead=$(since "$t")
echo "status, app-1 machine stopped: ${st_dead}s"
t=$(now); "$OBSCTL" destroy --env dev --auto-approve >/dev/null; destroy=$(since "$t")
echo "destroy:                       ${destroy}s"

export VARS_FROM=$OUT/group_vars_all.json BASE=$OUT/baseline
t=$(now); tests/bench/baseline.sh up; bcold=$(since "$t")
t=$(now); tests/bench/baseline.sh up; bnoop=$(since "$t")
tests/bench/baseline.sh destroy
echo "baseline cold up:              ${bcold}s   (obsctl / baseline = $(awk -v a="$cold" -v b="$bcold" 'BEGIN{printf "%.2f", a/b}'))"
echo "baseline no-op up:             ${bnoop}s   (obsctl / baseline = $(awk -v a="$noop" -v b="$bnoop" 'BEGIN{printf "%.2f", a/b}'))"

if [ "${STAGING:-}" = 1 ]; then
  "$OBSCTL" destroy --env staging --auto-approve >/dev/null 2>&1 || true
  t=$(now); "$OBSCTL" up --env staging --without "$WITHOUT" --output json >"$OUT/staging.jsonl"; stg=$(since "$t")
  echo "staging cold up (4 machines):  ${stg}s   [$(phases "$OUT/staging.jsonl")]  (staging / dev = $(awk -v a="$stg" -v b="$cold" 'BEGIN{printf "%.2f", a/b}'))"
  "$OBSCTL" destroy --env staging --auto-approve >/dev/null
fi

cargo bench --bench inventory 2>/dev/null | tail -5
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); raw events in $OUT"
