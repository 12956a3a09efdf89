#!/usr/bin/env bash
# The size axis of the bench: dev's shape (mon-1 and its roles, orders-api on
# the app hosts) with 2, 4, 8 and 16 lab machines (mon-1 + N-1 app hosts).
# For each size: cold `up`, no-op `up` (fast path, median of NOOPS), `up --full`,
# `status`, `plan`, `destroy`, then the hand-made baseline (tests/bench/baseline.sh)
# cold and no-op with its wait; obsctl's own CPU time and peak memory (the
# summary's own_cpu_s and own_peak_rss_mb: this process only, never Terraform's
# or Ansible's) and the load average before and after each size. It prints
# figures and asserts nothing; docs/performance.md's scale table and plot are
# generated from the JSON it writes (tests/docs/drift.py --write,
# tests/bench/scale_plot.py).
#
#   tests/bench/scale.sh                          2 4 8 16 on dev's network (hold the lab lock)
#   SIZES="2 4" NOOPS=3 OUT=/tmp/s.json tests/bench/scale.sh
#   KEEP=1 SIZES=16 tests/bench/scale.sh          measure 16 again, keep the other sizes of OUT
#   BRIDGE=obs-sc NET=10.91.0 CIDR=10.91.0.0/25 tests/bench/scale.sh   a private bridge and network
#
# The environments are generated as environments/scale-<N>.toml (removed at the
# end; obsctl finds environments there only) from environments/dev.toml with
# the bridge and network swapped. Needs root (lab machines). A size's results
# are appended as soon as it ends, so an interrupted run keeps what it measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OBSCTL=$ROOT/target/release/obsctl
WITHOUT=${WITHOUT-grafana,loki,alloy}
SIZES=${SIZES:-2 4 8 16}
NOOPS=${NOOPS:-3}
BRIDGE=${BRIDGE:-obs-dev}
NET=${NET:-10.77.0}           # the network's first three octets; the host is .1, machines .10 on
CIDR=${CIDR:-$NET.0/24}
OUT=${OUT:-$ROOT/tests/bench/scale.json}
work=$(mktemp -d /tmp/obsctl-scale.XXXXXX)
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN{printf "%.2f", e-s}'; }
load1() { cut -d' ' -f1 /proc/loadavg; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
sum() { jq -c "select(.event==\"summary\") | $2" "$1"; }

machine="$(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "machine: $machine"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release --locked -q
cargo build --release --locked -q -p orders-api

envs=()
cleanup() {
  for e in "${envs[@]}"; do
    "$OBSCTL" destroy --env "$e" --auto-approve >/dev/null 2>&1 || true
    ENV=$e BASE=$work/baseline-$e tests/bench/baseline.sh destroy >/dev/null 2>&1 || true
    rm -f "environments/$e.toml"
  done
}
trap cleanup EXIT

# environments/scale-N.toml: dev.toml with N-1 app hosts, the bridge and network swapped.
generate() { # generate N NAME
  python3 - "$1" "environments/$2.toml" "$BRIDGE" "$NET" "$CIDR" <<'PY'
import re, sys
n, path, bridge, net, cidr = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
text = open("environments/dev.toml").read()
app = '[[hosts]]\nname = "app-1"\nroles = ["app"]\n'
assert app in text, "environments/dev.toml no longer has the app-1 host block this bench multiplies"
text = text.replace(app, "\n".join(f'[[hosts]]\nname = "app-{i}"\nroles = ["app"]\n' for i in range(1, n)))
text = text.replace('bridge = "obs-dev"', f'bridge = "{bridge}"').replace('"10.77.0.0/24"', f'"{cidr}"').replace("10.77.0.", f"{net}.")
text = re.sub(r'^description = .*$', f'description = "Bench: dev\'s shape with {n} machines (tests/bench/scale.sh)"', text, flags=re.M)
open(path, "w").write(text)
PY
}

# KEEP=1: keep the sizes OUT already holds that this run does not measure
# (e.g. the large sizes run apart on a busy machine); each keeps its own load.
: >"$work/results.jsonl"
if [ "${KEEP:-}" = 1 ] && [ -f "$OUT" ]; then
  jq -c --arg sizes "$SIZES" '.sizes[] | select(.machines as $m | ($sizes | split(" ") | map(tonumber) | index($m)) | not)' "$OUT" >"$work/results.jsonl"
fi
for n in $SIZES; do
  env=scale-$n
  envs+=("$env")
  generate "$n" "$env"
  "$OBSCTL" destroy --env "$env" --auto-approve >/dev/null 2>&1 || true
  ENV=$env BASE=$work/baseline-$env tests/bench/baseline.sh destroy >/dev/null 2>&1 || true
  l0=$(load1)
  echo "--- $n machines ($env, load $l0)"
  f=$work/$env
  t=$(now); "$OBSCTL" up --env "$env" --without "$WITHOUT" --output json >"$f-cold.jsonl"; cold=$(since "$t")
  echo "cold up:             ${cold}s  $(sum "$f-cold.jsonl" '{own_cpu_s, own_peak_rss_mb, timings}')"
  noops=()
  for i in $(seq "$NOOPS"); do
    t=$(now); "$OBSCTL" up --env "$env" --without "$WITHOUT" --output json >"$f-noop$i.jsonl"; noops+=("$(since "$t")")
    [ "$(sum "$f-noop$i.jsonl" .path)" = '"fast"' ] || echo "  (no-op up $i took the full path: $(sum "$f-noop$i.jsonl" .path_reasons))"
  done
  noop=$(median "${noops[@]}")
  echo "no-op up (median):   ${noop}s  (runs: ${noops[*]}) $(sum "$f-noop1.jsonl" '{own_cpu_s, own_peak_rss_mb, timings}')"
  t=$(now); "$OBSCTL" up --env "$env" --without "$WITHOUT" --output json --full >"$f-full.jsonl"; full=$(since "$t")
  echo "up --full:           ${full}s  $(sum "$f-full.jsonl" '{own_cpu_s, own_peak_rss_mb, changed_tasks}')"
  t=$(now); "$OBSCTL" status --env "$env" --output json >"$f-status.jsonl" || true; st=$(since "$t")
  echo "status:              ${st}s  $(sum "$f-status.jsonl" '{own_cpu_s, own_peak_rss_mb}')"
  t=$(now); "$OBSCTL" plan --env "$env" --output json >"$f-plan.jsonl" || true; pl=$(since "$t")
  echo "plan:                ${pl}s  $(sum "$f-plan.jsonl" '{own_cpu_s, own_peak_rss_mb}')"
  jq '.all.vars' ".obsctl/$env/inventory.json" >"$work/vars-$env.json"
  t=$(now); "$OBSCTL" destroy --env "$env" --auto-approve --output json >"$f-destroy.jsonl"; de=$(since "$t")
  echo "destroy:             ${de}s"
  b=(env "ENV=$env" "VARS_FROM=$work/vars-$env.json" "BASE=$work/baseline-$env" tests/bench/baseline.sh)
  t=$(now); "${b[@]}" up; bcold=$(since "$t")
  t=$(now); "${b[@]}" up; bnoop=$(since "$t")
  "${b[@]}" destroy
  echo "baseline cold/no-op: ${bcold}s / ${bnoop}s (obsctl/baseline: cold $(awk -v a="$cold" -v b="$bcold" 'BEGIN{printf "%.2f", a/b}'), no-op $(awk -v a="$noop" -v b="$bnoop" 'BEGIN{printf "%.2f", a/b}'))"
  l1=$(load1)
  jq -n -c --argjson n "$n" --argjson cold "$cold" --argjson noop "$noop" --argjson full "$full" --argjson status "$st" \
    --argjson plan "$pl" --argjson destroy "$de" --argjson bcold "$bcold" --argjson bnoop "$bnoop" \
    --argjson l0 "$l0" --argjson l1 "$l1" --arg runs "${noops[*]}" \
    --slurpfile c "$f-cold.jsonl" --slurpfile o "$f-noop1.jsonl" --slurpfile u "$f-full.jsonl" \
    --slurpfile s "$f-status.jsonl" --slurpfile p "$f-plan.jsonl" --slurpfile d "$f-destroy.jsonl" '
    def own($f): ($f | map(select(.event=="summary")) | first // {}) | {cpu_s: .own_cpu_s, peak_rss_mb: .own_peak_rss_mb};
    {machines: $n, cold_s: $cold, noop_s: $noop, noop_runs_s: ($runs | split(" ") | map(tonumber)), full_s: $full,
     status_s: $status, plan_s: $plan, destroy_s: $destroy, baseline_cold_s: $bcold, baseline_noop_s: $bnoop,
     noop_path: (($o | map(select(.event=="summary")) | first // {}).path),
     full_changed_tasks: (($u | map(select(.event=="summary")) | first // {}).changed_tasks),
     own: {cold: own($c), noop: own($o), full: own($u), status: own($s), plan: own($p), destroy: own($d)},
     load_before: $l0, load_after: $l1}' >>"$work/results.jsonl"
  jq -n --arg date "$(date -u +%Y-%m-%d)" --arg machine "$machine" --arg without "$WITHOUT" --argjson noops "$NOOPS" \
    --arg commit "${COMMIT:-$(git rev-parse --short HEAD)}" --slurpfile r "$work/results.jsonl" \
    '{measured: $date, commit: $commit, machine: $machine, without: $without, noop_runs: $noops, sizes: ($r | sort_by(.machines))}' >"$OUT"
  rm -f "environments/$env.toml"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); figures in $OUT, raw events in $work"
python3 tests/bench/scale_plot.py "$OUT"
