# Sourced by every check of tests/e2e/harness.sh (not run): where the check
# is, what the harness started for it, and the helpers the checks share.
#
# The harness exports: ENV (the environment the check runs on, already up),
# WITHOUT, OBSCTL (the release binary, built once), E2E_RUN (this harness
# run's directory: the cold up's events in $E2E_RUN/$ENV/up-cold.jsonl),
# ALERTS (the HTTP sink's notifications from ENV's machines), MAIL (the SMTP
# sink's directory) and SINK_LOG/SMTP_LOG. A check runs alone with
#   tests/e2e/harness.sh CHECK...
# which brings the environment up first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
ROOT=$PWD
source "$ROOT/tests/e2e/lib.sh"
: "${ENV:?run checks through tests/e2e/harness.sh}" "${E2E_RUN:?run checks through tests/e2e/harness.sh}"
WITHOUT=${WITHOUT-grafana,loki,alloy}
OBSCTL=${OBSCTL:-$ROOT/target/release/obsctl}
LAB="$ROOT/terraform/scripts/lab.sh"
LAB_ROOT=/var/lib/obsctl/lab
STATE="$ROOT/.obsctl/$ENV"
SHARED="$E2E_RUN/$ENV"   # what the checks of one environment hand on (the cold up's events)
WORK=$(mktemp -d "$E2E_RUN/work.XXXXXX")
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

# The path `up` took (src/state/converged.rs), from its JSON events in
# $WORK/NAME.jsonl: expect_path NAME fast|full [REGEX] checks the path, that
# the check phase and the summary agree, and a reason matching REGEX.
summary() { jq -c 'select(.event=="summary")' "$WORK/$1.jsonl"; }
expect_path() {
  local s path reasons check
  s=$(summary "$1")
  path=$(jq -r .path <<<"$s")
  reasons=$(jq -c .path_reasons <<<"$s")
  check=$(jq -r 'select(.event=="phase_end" and .phase=="check") | .path' "$WORK/$1.jsonl")
  [ "$check" = "$path" ] || fail "$1: the check phase says '$check', the summary '$path'"
  [ "$path" = "$2" ] || fail "$1: took the $path path, expected $2 (reasons: $reasons)"
  if [ -n "${3:-}" ]; then
    jq -r '.path_reasons[]' <<<"$s" | grep -Eq -- "$3" || fail "$1: no reason matches /$3/: $reasons"
  fi
  local ran
  ran=$(jq -s 'any(.[]; .event=="phase_end" and .phase=="ansible")' "$WORK/$1.jsonl")
  if [ "$2" = fast ]; then
    [ "$ran" = false ] || fail "$1: the fast path ran Ansible"
    [ "$(jq -r .changed_tasks <<<"$s")" = 0 ] || fail "$1: the fast path reports changed tasks: $s"
  else
    [ "$ran" = true ] || fail "$1: the full path did not run Ansible"
  fi
  echo "  $1: $path path ($reasons)"
}

# The lab.sh processes working on environment $1 (LAB_ENV in their
# environment; another environment's may run alongside), as pgrep -af would.
lab_sh_of() {
  local pid
  for pid in $(pgrep -f 'scripts/lab\.sh'); do
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "LAB_ENV=$1" && ps -o pid=,args= -p "$pid"
  done
  return 0
}

# What must hold after any fault: no Terraform lock, valid state files, no
# process of ours left. Prints "no" (lock left) or fails.
check_clean() { # label
  local locks; locks=$(find "$STATE" -name '.terraform.tfstate.lock.info' 2>/dev/null)
  [ -z "$locks" ] || { echo "yes"; fail "$1: Terraform state lock left: $locks"; }
  local f
  for f in "$STATE"/terraform.tfstate "$STATE"/terraform.tfstate.backup; do
    [ -s "$f" ] || continue
    jq empty "$f" 2>/dev/null || fail "$1: $f is not valid JSON"
  done
  local left
  left=$(pgrep -af -- "terraform -chdir=$STATE/"; pgrep -af "ansible-playbook .*$STATE/"; lab_sh_of "$ENV") || true
  [ -z "$left" ] || fail "$1: processes left running after obsctl exited:
$left"
  echo "no"
}

# Staging's shape, read from its deployment record and inventory (staging-up
# and staging-failover): PROMS, AMS, APP, EXPECTED_TARGETS, the Alertmanager
# intervals in seconds and REPEAT_BOUND; addr HOST and with_role ROLE.
staging_topology() {
  contract="$WORK/contract.json"
  jq .contract "$STATE/deployment.json" >"$contract"
  inventory="$STATE/inventory.json"
  addr() { jq -r --arg h "$1" '.hosts[$h].address' "$contract"; }
  with_role() { jq -r --arg r "$1" '.hosts | to_entries[] | select(.value.roles | index($r)) | .key' "$contract" | sort; }
  mapfile -t PROMS < <(with_role prometheus)
  mapfile -t AMS < <(with_role alertmanager)
  APP=$(addr "$(with_role app | head -1)")
  [ "${PROMS[*]}" = "mon-1 mon-2" ] || fail "expected Prometheus on mon-1 and mon-2, the contract says: ${PROMS[*]}"
  [ "${AMS[*]}" = "mon-1 mon-2 mon-3" ] || fail "expected Alertmanager on mon-1, mon-2, mon-3, the contract says: ${AMS[*]}"
  # One scrape target per member of each component's group (empty when left out).
  EXPECTED_TARGETS=$(jq '[.all.children[] | .hosts | length] | add' "$inventory")
  # Durations as Alertmanager got them, in seconds.
  dur() { python3 -c 'import re,sys; u={"ms":.001,"s":1,"m":60,"h":3600,"d":86400,"w":604800,"y":31536000}; print(int(sum(int(n)*u[x] for n,x in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", sys.argv[1]))))' "$1"; }
  GROUP_INTERVAL=$(dur "$(jq -r .all.vars.alertmanager_group_interval "$inventory")")
  REPEAT_INTERVAL=$(dur "$(jq -r .all.vars.alertmanager_repeat_interval "$inventory")")
  PEER_WAIT=15   # Alertmanager's --cluster.peer-timeout default: the wait per cluster position
  REPEAT_BOUND=$(( REPEAT_INTERVAL + GROUP_INTERVAL + 2 * PEER_WAIT + 15 ))
  [ "$REPEAT_INTERVAL" -le 600 ] ||
    fail "staging's repeat_interval is ${REPEAT_INTERVAL}s: too long to observe a repeat here (environments/staging.toml)"
}

# The deployed contract (hosts, roles, addresses) in $WORK/contract.json, and
# what the checks read from it and from the inventory obsctl wrote.
contract() { jq .contract "$STATE/deployment.json" >"$WORK/contract.json"; }
addr_of_role() { jq -r --arg r "$1" '[.hosts | to_entries[] | select(.value.roles | index($r))][0].value.address' "$WORK/contract.json"; }
host_of_role() { jq -r --arg r "$1" '[.hosts | to_entries[] | select(.value.roles | index($r))][0].key' "$WORK/contract.json"; }
port() { jq -r ".all.vars.$1" "$STATE/inventory.json"; }

# The first Prometheus of the environment: PROM (its URL) and SCRAPE (the
# scrape interval in seconds); promql PROMQL prints the result vector as JSON;
# samples AT: the samples of every `up` series in the WINDOW seconds before AT.
prometheus_of_env() {
  contract
  PROM="https://$(addr_of_role prometheus):$(port prometheus_port)"
  SCRAPE=$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["prometheus"]["scrape_interval"].rstrip("s"))' "environments/$ENV.toml")
}
promql() { scurl "$ENV" -fsS --get "$PROM/api/v1/query" --data-urlencode "query=$1" | jq -c '.data.result'; }
samples() { promql "sum(count_over_time(up[${WINDOW}s] @ $1))" | jq -r '.[0].value[1] // "none"'; }

# no_missed_scrape SINCE WHAT [JOB]: over the span from SINCE (epoch
# seconds) to now, Prometheus' own record shows that no target missed a
# scrape (min_over_time(up) is 1) and that each target has the samples its
# scrape interval gives. JOB, if given, is left out of the first (the caller
# checks it its own way). Sets SPAN (seconds) and COUNTS ([min, max] samples).
no_missed_scrape() {
  local since=$1 what=$2 sel="" min expected
  [ -z "${3:-}" ] || sel="{job!=\"$3\"}"
  SPAN=$(( $(date +%s) - since ))
  min=$(promql "min(min_over_time(up$sel[${SPAN}s]))" | jq -r '.[0].value[1]')
  COUNTS=$(promql "count_over_time(up[${SPAN}s])" | jq -c '[.[] | .value[1] | tonumber] | [min, max]')
  expected=$(( SPAN / SCRAPE ))
  echo "  over the ${SPAN}s of $what: min(up) = $min, samples per target [min, max] = $COUNTS (expected about $expected)"
  [ "$min" = 1 ] || fail "a target missed a scrape during $what: $(promql "min_over_time(up$sel[${SPAN}s]) < 1" | jq -c '[.[] | .metric | {job, host}]')"
  [ "$(jq '.[0]' <<<"$COUNTS")" -ge $(( expected - 1 )) ] || fail "a target has fewer samples than its scrape interval gives during $what: $COUNTS, expected about $expected"
}

# orders-api reads its certificate at start, and obsctl restarts it when its
# TLS files change (docs/security.md): a restart may cost it one scrape, so
# no_missed_scrape leaves its job out (app_job) and app_scrapes checks it:
# app_scrapes RESTARTS WHAT: over the SPAN no_missed_scrape measured, its
# successful scrapes are the interval's count less at most one per restart
# (and one for the span's edge).
app_job() { jq -r .all.vars.obsctl_components.app.job "$STATE/inventory.json"; }
app_scrapes() {
  local restarts=$1 what=$2 job ok expected
  job=$(app_job)
  ok=$(promql "sum(sum_over_time(up{job=\"$job\"}[${SPAN}s]))" | jq -r '.[0].value[1] // "0"')
  expected=$(( SPAN / SCRAPE ))
  echo "  $job (restarted $restarts time(s) during $what): $ok successful scrapes of about $expected"
  [ "${ok%.*}" -ge $(( expected - restarts - 1 )) ] || fail "$job missed more than one scrape per restart during $what: $ok of about $expected"
}

# The set-up the rolling checks share (staging-rolling, staging-os-roll;
# after staging_topology): the env file ENV_FILE is copied to $WORK/env.toml
# and put back on exit, whatever happens, after the check's own
# cleanup_check (if it defines one) and with the probe stopped;
# `on HOST 'COMMAND'` runs one string by the host's shell (obsctl ssh);
# `up NAME [ARG...]` runs `up` with JSON events in $WORK/NAME.jsonl (stderr
# in $WORK/NAME.err) and prints its seconds; start_probe starts the probe
# loop (tests/e2e/ready_probe.py: every Prometheus and Alertmanager asked for
# /-/ready, every Prometheus for a query, every 100 ms, into $PROBE_LOG);
# stop_probe ends it.
rolling_setup() {
  ENV_FILE="environments/$ENV.toml"
  PROBE="$ROOT/tests/e2e/ready_probe.py"
  PROBE_LOG="$WORK/probe.log"
  PROBE_PID=""
  PROM_PORT=$(port prometheus_port)
  AM_PORT=$(port alertmanager_port)
  cp "$ENV_FILE" "$WORK/env.toml"
  trap rolling_restore EXIT
  on() { "$OBSCTL" ssh --env "$ENV" "$1" -- "$2"; }
  up() {
    local name=$1 t
    shift
    t=$(now)
    "$OBSCTL" up --env "$ENV" --without "$WITHOUT" --auto-approve --output json "$@" >"$WORK/$name.jsonl" 2>"$WORK/$name.err" </dev/null \
      || fail "up ($name) failed: $(tail -5 "$WORK/$name.jsonl"; tail -20 "$WORK/$name.err")"
    since "$t"
  }
}
# windows UNIT READY-REGEX SINCE HOST...: "HOST START END" per restart of
# UNIT on the HOSTs since SINCE (epoch s), from each host's journal (after
# rolling_setup; staging-rolling, staging-os-roll): START is systemd's
# "Stopping UNIT", END the unit's next line matching READY-REGEX. A unit's
# first start on a new machine has no "Stopping": it is no restart.
windows() {
  local unit=$1 ready=$2 since=$3 host
  for host in "${@:4}"; do
    on "$host" "journalctl -u $unit --since @${since%.*} -o json --no-pager" |
      python3 -c '
import json, re, sys
host, unit, ready = sys.argv[1:4]
start = None
for line in sys.stdin:
    e = json.loads(line)
    t = int(e["__REALTIME_TIMESTAMP"]) / 1e6
    m = e.get("MESSAGE") or ""
    if isinstance(m, list):
        m = bytes(m).decode(errors="replace")
    if m.startswith("Stopping ") and e.get("SYSLOG_IDENTIFIER") == "systemd":
        start = t
    elif start is not None and re.search(ready, m):
        print(f"{host} {start:.3f} {t:.3f}")
        start = None
if start is not None:
    print(f"{host} {start:.3f} never-ready")
' "$host" "$unit" "$ready"
  done
}
rolling_restore() {
  ! declare -F cleanup_check >/dev/null || cleanup_check || true
  [ -z "${PROBE_PID:-}" ] || kill "$PROBE_PID" 2>/dev/null || true
  cp "$WORK/env.toml" "$ENV_FILE"
}
start_probe() {
  local targets=() p a
  for p in "${PROMS[@]}"; do
    targets+=("prometheus@$p=https://$(addr "$p"):$PROM_PORT/-/ready"
              "prometheus-query@$p=https://$(addr "$p"):$PROM_PORT/api/v1/query?query=up")
  done
  for a in "${AMS[@]}"; do targets+=("alertmanager@$a=https://$(addr "$a"):$AM_PORT/-/ready"); done
  python3 "$PROBE" run "$STATE/tls/ca.crt" "$STATE/secrets/web_obsctl_password" "$PROBE_LOG" "${targets[@]}" &
  PROBE_PID=$!
  PROBE_TARGETS=${#targets[@]}
  sleep 3
  [ -s "$PROBE_LOG" ] || fail "the probe wrote nothing in 3 s"
}
stop_probe() { kill "$PROBE_PID"; wait "$PROBE_PID" 2>/dev/null || true; PROBE_PID=""; }
