#!/usr/bin/env bash
# Benchmark of obsctl's user-facing paths on the local lab. It prints
# figures and asserts nothing; docs/performance.md records a run.
#
#   tests/bench/run.sh            dev: cold up, no-op up on the fast path
#                                 (median of 5) and with --full, status
#                                 (healthy and with a machine stopped),
#                                 destroy; the hand-made baseline (cold and
#                                 no-op, with its wait until every target is
#                                 up) beside them; contract → inventory at
#                                 10/100/1000 hosts
#   STAGING=1 tests/bench/run.sh  the same for staging (prod's topology) too
#
# Needs root (lab machines). Uses the dev (and staging) environments: anything
# running there is destroyed first. The Debian base image and the apt cache
# are warm after the first run (both baseline and obsctl profit from them alike).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OBSCTL=$ROOT/target/release/obsctl
WITHOUT=${WITHOUT-grafana,loki,alloy}
OUT=$(mktemp -d /tmp/obsctl-bench.XXXXXX)
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN{printf "%.1f", e-s}'; }
phases() { jq -r 'select(.event=="summary") | .timings | to_entries | map("\(.key) \(.value)s") | join(", ")' "$1"; }
own() { jq -r 'select(.event=="summary") | .own_cpu_s' "$1"; }
path() { jq -r 'select(.event=="summary") | .path' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release --locked -q
cargo build --release --locked -q -p orders-api

bench() { # bench ENV
  local env=$1 t cold noops=() noop full st st_dead destroy bcold bnoop
  "$OBSCTL" destroy --env "$env" --auto-approve >/dev/null 2>&1 || true
  ENV=$env BASE=$OUT/baseline-$env tests/bench/baseline.sh destroy >/dev/null 2>&1 || true
  echo "--- $env (load $(cut -d' ' -f1 /proc/loadavg))"

  t=$(now); "$OBSCTL" up --env "$env" --without "$WITHOUT" --output json >"$OUT/$env-cold.jsonl"; cold=$(since "$t")
  echo "cold up (machines absent):       ${cold}s   [$(phases "$OUT/$env-cold.jsonl")]  obsctl CPU $(own "$OUT/$env-cold.jsonl")s"
  for i in 1 2 3 4 5; do
    t=$(now); "$OBSCTL" up --env "$env" --without "$WITHOUT" --output json >"$OUT/$env-noop$i.jsonl"; noops+=("$(since "$t")")
    [ "$(path "$OUT/$env-noop$i.jsonl")" = fast ] || echo "  (no-op up $i took the $(path "$OUT/$env-noop$i.jsonl") path: $(jq -c 'select(.event=="summary") | .path_reasons' "$OUT/$env-noop$i.jsonl"))"
  done
  noop=$(median "${noops[@]}")
  echo "no-op up, fast path (median of 5): ${noop}s   (runs: ${noops[*]}) [$(phases "$OUT/$env-noop1.jsonl")]"
  t=$(now); "$OBSCTL" up --env "$env" --without "$WITHOUT" --output json --full >"$OUT/$env-full.jsonl"; full=$(since "$t")
  echo "no-op up --full (Ansible runs):  ${full}s   [$(phases "$OUT/$env-full.jsonl")]"
  if [ "$env" = dev ]; then
    t=$(now); "$OBSCTL" status --env "$env" >/dev/null; st=$(since "$t")
    echo "status, healthy:                 ${st}s"
  fi
  jq '.all.vars' ".obsctl/$env/inventory.json" >"$OUT/group_vars_all-$env.json"
  if [ "$env" = dev ]; then
    kill "$(cat "/var/lib/obsctl/lab/envs/$env/machines/app-1/pid")"
    sleep 3
    t=$(now); "$OBSCTL" status --env "$env" >/dev/null || true; st_dead=$(since "$t")
    echo "status, app-1 machine stopped:   ${st_dead}s"
  fi
  t=$(now); "$OBSCTL" destroy --env "$env" --auto-approve >/dev/null; destroy=$(since "$t")
  echo "destroy:                         ${destroy}s"

  # The baseline with its own wait until every target is up (baseline.sh).
  t=$(now); ENV=$env VARS_FROM=$OUT/group_vars_all-$env.json BASE=$OUT/baseline-$env tests/bench/baseline.sh up; bcold=$(since "$t")
  t=$(now); ENV=$env VARS_FROM=$OUT/group_vars_all-$env.json BASE=$OUT/baseline-$env tests/bench/baseline.sh up; bnoop=$(since "$t")
  ENV=$env BASE=$OUT/baseline-$env tests/bench/baseline.sh destroy
  echo "baseline cold up (with wait):    ${bcold}s   (obsctl / baseline = $(ratio "$cold" "$bcold"))"
  echo "baseline no-op up (with wait):   ${bnoop}s   (obsctl fast / baseline = $(ratio "$noop" "$bnoop"), obsctl --full / baseline = $(ratio "$full" "$bnoop"))"
  echo "$cold" >"$OUT/$env-cold-s"
}

bench dev
if [ "${STAGING:-}" = 1 ]; then
  bench staging
  echo "staging / dev cold up: $(ratio "$(cat "$OUT/staging-cold-s")" "$(cat "$OUT/dev-cold-s")")"
fi

cargo bench --bench inventory 2>/dev/null | tail -5
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); raw events in $OUT"
