#!/usr/bin/env bash
# The shared lab harness: ONE cold `up` of dev and ONE of staging serve every
# end-to-end check (tests/e2e/checks/*.sh), then one destroy of each checks
# that nothing is left.
#
#   tests/e2e/harness.sh              every check of PLAN below
#   tests/e2e/harness.sh CHECK...     those checks (plus their environment's
#                                     up and destroy), e.g. dev-faults
#   tests/e2e/harness.sh --list       the plan, with what each check needs
#
# A check is a script in tests/e2e/checks/ that sources checks/lib.sh and
# declares in its header:
#   # env: dev|staging|any        the environment it runs on (up already;
#                                 any: the one whose PLAN lists it); or
#   # env: NAME                   an environment of its own, which the check
#                                 creates and destroys itself (leaves:
#                                 destroyed): it runs in the lane whose PLAN
#                                 lists it, without that lane's up
#   # needs: webhook smtp         the receivers the harness must serve
#   # leaves: as-found|up|broken|destroyed
#   # changes-checkout: FILES     (optional) files it edits and restores:
#                                 only its environment's own (environments/,
#                                 monitoring/), since both lanes' ups read the
#                                 rest of the checkout
# A check that leaves its environment "as-found" may go anywhere between its
# environment's up and destroy; "broken" ones go last before the destroy. A
# check edits the checkout only after every other step that reads it is done
# (E2E_CHECKOUT_BARRIER, see below). A new check is added to PLAN.
#
# The two environments run as two lanes: dev in the foreground, staging in
# the background from the moment dev is up (most of both is waiting for
# alerts; E2E_PARALLEL=0 runs staging after dev). The receivers (HTTP sink on
# :9099 with each environment's notifications in its own file, SMTP sink on
# :2525) are started once. A failing check names itself and its log; the
# harness then repairs its environment (up --full, else destroy and a cold
# up) and the other checks still run. Exits 1 if any check failed. Prints
# each check's duration, and the logs of all of them, in plan order.
#
# Environment: E2E_LOGS=DIR (default .obsctl/e2e/<time>) keeps the logs and
# the notifications; E2E_ARTIFACTS=DIR copies the received e-mails and
# notifications there; E2E_CHECKOUT_BARRIER=FILE makes checks that edit the
# checkout wait until FILE exists (tests/run creates it once its static steps
# no longer read the checkout). WITHOUT (default grafana,loki,alloy): the
# components left out (Grafana's APT repository is unreachable here). Under
# CI=true a missing prerequisite fails; elsewhere the harness skips.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source "$ROOT/tests/e2e/lib.sh"

# The plan: per environment, in order. up first, destroy last.
# Checks that edit the checkout (changes-checkout:) wait until tests/run's
# static steps are done (about 12 minutes in): each lane runs its others first.
PLAN_dev=(dev-up dev-lab-alerts dev-noop dev-drift dev-converge dev-upgrade dev-cert-renewal faults dev-fast-path dev-ca-rotation dev-replace-host dev-dr-drill dev-destroy lab-jump)
# faults (env: any) runs on dev: staging's lane holds the checks that need peers.
# lab-jump (env: jump, its own) runs after dev-destroy: with os-roll's alert, staging's lane is the longer one.
PLAN_staging=(staging-up staging-watchman staging-rolling staging-existing-host staging-own-service staging-os-roll staging-failover staging-destroy)
ENVS=(dev staging)
SINK_PORT=9099
SMTP_PORT=2525
CHECKS="$ROOT/tests/e2e/checks"

header() { sed -n "s/^# $2: *//p" "$CHECKS/$1.sh" | head -1; }
# own_env CHECK: the environment of its own the check creates and destroys
# itself (its env: header names neither a lane's environment nor any), or nothing.
own_env() {
  local e; e=$(header "$1" env)
  [[ " ${ENVS[*]} any " == *" $e "* ]] || echo "$e"
}
mmss() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

# Every check file is in the plan, and every planned check exists.
planned=" ${PLAN_dev[*]} ${PLAN_staging[*]} "
for f in "$CHECKS"/*.sh; do
  c=$(basename "$f" .sh)
  [ "$c" = lib ] && continue
  [[ "$planned" == *" $c "* ]] || fail "tests/e2e/checks/$c.sh is not in the harness's PLAN (tests/e2e/harness.sh)"
done
for c in $planned; do
  [ -f "$CHECKS/$c.sh" ] || fail "PLAN names $c, but tests/e2e/checks/$c.sh does not exist"
  for e in "${ENVS[@]}"; do
    plan="PLAN_$e[*]"
    [[ " ${!plan} " == *" $c "* ]] && { [[ "$(header "$c" env)" =~ ^($e|any)$ ]] || [ -n "$(own_env "$c")" ] || fail "$c is planned on $e but declares env: $(header "$c" env)"; }
  done
  [ -z "$(own_env "$c")" ] || [ "$(header "$c" leaves)" = destroyed ] ||
    fail "$c brings up its own environment $(own_env "$c"), so it must destroy it (leaves: destroyed)"
  # The lanes share the checkout: a check edits only what its own
  # environment reads (its env file, its monitoring/ folder). Roles,
  # templates and stacks are changed in a copy of its own (dev-fast-path).
  for f in $(header "$c" changes-checkout); do
    [[ "$f" =~ ^(environments|monitoring)/ ]] ||
      fail "$c edits $f in the checkout, which the other lane's ups read too: change a copy (see dev-fast-path's OWN_ANSIBLE)"
  done
done
# A check that leaves its environment broken is followed only by the destroy.
for e in "${ENVS[@]}"; do
  plan="PLAN_$e[@]"
  prev=""
  for c in "${!plan}"; do
    [ "$(header "$prev" leaves 2>/dev/null)" != broken ] || [ "$(header "$c" leaves)" = destroyed ] ||
      fail "$c is planned after $prev, which leaves $e broken: move it before $prev (tests/e2e/harness.sh)"
    prev=$c
  done
done
env_of() { local e plan; for e in "${ENVS[@]}"; do plan="PLAN_$e[*]"; [[ " ${!plan} " == *" $1 "* ]] && echo "$e"; done; return 0; }

if [ "${1:-}" = --list ]; then
  for e in "${ENVS[@]}"; do
    plan="PLAN_$e[@]"
    for c in "${!plan}"; do
      printf '%-8s %-18s needs: %-13s leaves: %s\n' "$e" "$c" "$(header "$c" needs)" "$(header "$c" leaves)"
    done
  done
  exit 0
fi

# What to run: everything, or the named checks with their environment's up and destroy.
declare -A RUN=()
if [ $# -gt 0 ]; then
  for c in "$@"; do
    [[ "$planned" == *" $c "* ]] || fail "no check $c (tests/e2e/harness.sh --list)"
    e=$(env_of "$c")
    RUN[$c]=1
    # A check with an environment of its own needs nothing of its lane's.
    [ -n "$(own_env "$c")" ] || RUN[$e-up]=1 RUN[$e-destroy]=1
  done
else
  for c in $planned; do RUN[$c]=1; done
fi
lane_checks() { # the checks to run on environment $1, in plan order
  local plan="PLAN_$1[@]" c
  for c in "${!plan}"; do [ -n "${RUN[$c]:-}" ] && echo "$c"; done
  return 0
}
needs_any() { local c; for c in "${!RUN[@]}"; do [[ " $(header "$c" needs) " == *" $1 "* ]] && return 0; done; return 1; }

require_lab jq curl python3 ip setsid pgrep
if needs_any smtp; then
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || prereq "python3-aiosmtpd (apt-get install python3-aiosmtpd; tests/setup.sh installs it)"
fi

export ENV WITHOUT=${WITHOUT-grafana,loki,alloy}
export OBSCTL="$ROOT/target/release/obsctl"
E2E_RUN=${E2E_LOGS:-$ROOT/.obsctl/e2e/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$E2E_RUN/logs"
export E2E_RUN MAIL="$E2E_RUN/mail" SINK_LOG="$E2E_RUN/sink.log" SMTP_LOG="$E2E_RUN/smtp.log"
RESULTS="$E2E_RUN/results"   # one line per check: env check result seconds
: >"$RESULTS"
started=$(date +%s)

cleanup() {
  local rc=$?
  trap '' INT TERM   # a second signal must not cut the destroy below short
  [ -n "${LANE_PID:-}" ] && kill "$LANE_PID" 2>/dev/null && wait "$LANE_PID" 2>/dev/null
  [ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null
  [ -n "${SMTP_PID:-}" ] && kill "$SMTP_PID" 2>/dev/null
  if [ -n "${E2E_ARTIFACTS:-}" ]; then
    mkdir -p "$E2E_ARTIFACTS" && cp -r "$MAIL" "$E2E_RUN"/alerts-*.jsonl "$E2E_ARTIFACTS/" 2>/dev/null || true
  fi
  # Whatever was interrupted: nothing stays deployed (of the environments
  # this run brought up; a check's own environment is its own to destroy).
  for e in "${ENVS[@]}"; do
    [ -n "${RUN[$e-up]:-}" ] || continue
    if [ -e "/var/lib/obsctl/lab/envs/$e" ] || [ -e ".obsctl/$e/inventory.json" ]; then
      echo "harness: $e is still deployed; destroying it" >&2
      "$OBSCTL" destroy --env "$e" --auto-approve >/dev/null 2>&1 || echo "harness: destroy of $e failed: see .obsctl/$e/runs/" >&2
    fi
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_obsctl

# Leftovers of an earlier run would make the cold ups warm ones.
for e in "${ENVS[@]}"; do
  [ -n "${RUN[$e-up]:-}" ] || continue
  "$OBSCTL" destroy --env "$e" --auto-approve >"$E2E_RUN/logs/$e-leftover-destroy.log" 2>&1 \
    || fail "could not destroy the leftover $e (log: $E2E_RUN/logs/$e-leftover-destroy.log)"
done

# --- receivers, started once ------------------------------------------------------
routes=""
for e in "${ENVS[@]}"; do
  cidr=$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["lab"]["cidr"])' "environments/$e.toml")
  routes+="$cidr=$E2E_RUN/alerts-$e.jsonl "
  : >>"$E2E_RUN/alerts-$e.jsonl"
done
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if needs_any webhook; then
  port_free "$SINK_PORT" || fail "port $SINK_PORT is in use (another webhook sink?); the environments' receivers need it"
  say "receivers: HTTP sink (webhook, chat, paging) on :$SINK_PORT"
  SINK_ROUTES="$routes" python3 tests/e2e/webhook_sink.py 0.0.0.0 "$SINK_PORT" "$E2E_RUN/alerts-other.jsonl" >"$SINK_LOG" 2>&1 &
  SINK_PID=$!
fi
if needs_any smtp; then
  port_free "$SMTP_PORT" || fail "port $SMTP_PORT is in use (another SMTP sink?); dev's e-mail receiver needs it"
  say "receivers: SMTP server on :$SMTP_PORT"
  /usr/bin/python3 tests/e2e/smtp_sink.py 0.0.0.0 "$SMTP_PORT" "$MAIL" >"$SMTP_LOG" 2>&1 &
  SMTP_PID=$!
fi
sleep 1
[ -z "${SINK_PID:-}" ] || kill -0 "$SINK_PID" 2>/dev/null || fail "HTTP sink did not start: $(cat "$SINK_LOG")"
[ -z "${SMTP_PID:-}" ] || kill -0 "$SMTP_PID" 2>/dev/null || fail "SMTP sink did not start: $(cat "$SMTP_LOG")"

# --- lanes ---------------------------------------------------------------------------
# run_check ENV CHECK: runs it with its log in logs/CHECK.log; records the result.
run_check() {
  local e=$1 c=$2 log="$E2E_RUN/logs/$2.log" t0 rc=0 secs
  t0=$(date +%s)
  printf '[%s] %s  start %s\n' "$(date -u +%H:%M:%S)" "$e" "$c"
  local own; own=$(own_env "$c")
  ENV=${own:-$e} ALERTS="$E2E_RUN/alerts-${own:-$e}.jsonl" bash "$CHECKS/$c.sh" >"$log" 2>&1 </dev/null || rc=$?
  secs=$(( $(date +%s) - t0 ))
  if [ $rc = 0 ]; then
    printf '[%s] %s  pass  %s (%s)\n' "$(date -u +%H:%M:%S)" "$e" "$c" "$(mmss $secs)"
    echo "$e $c pass $secs" >>"$RESULTS"
  else
    printf '[%s] %s  FAIL  %s (%s, exit %s): log %s; run logs .obsctl/%s/runs/\n' "$(date -u +%H:%M:%S)" "$e" "$c" "$(mmss $secs)" "$rc" "$log" "$e"
    tail -n 5 "$log" | sed 's/^/        | /'
    echo "$e $c FAIL $secs" >>"$RESULTS"
  fi
  return $rc
}
# repair ENV: after a failed check, a converged environment for the next ones.
repair() {
  local e=$1 log="$E2E_RUN/logs/$1-repair.log"
  printf '[%s] %s  repairing %s after the failure (log %s)\n' "$(date -u +%H:%M:%S)" "$e" "$e" "$log"
  "$OBSCTL" up --env "$e" --without "$WITHOUT" --full --auto-approve >"$log" 2>&1 </dev/null && return 0
  "$OBSCTL" destroy --env "$e" --auto-approve >>"$log" 2>&1 </dev/null
  "$OBSCTL" up --env "$e" --without "$WITHOUT" --auto-approve >>"$log" 2>&1 </dev/null
}
# lane ENV [UP-RESULT]: its checks in order (UP-RESULT pass|FAIL: its up
# already ran). A failed up skips the rest but the destroy.
lane() {
  local e=$1 c up_failed=""
  [ "${2:-}" = FAIL ] && up_failed=1
  for c in $(lane_checks "$e"); do
    [ -n "${2:-}" ] && [ "$c" = "$e-up" ] && continue
    if [ -n "$up_failed" ] && [ "$(header "$c" leaves)" != destroyed ]; then
      printf '[%s] %s  skip  %s (%s is not up)\n' "$(date -u +%H:%M:%S)" "$e" "$c" "$e"
      echo "$e $c skipped 0" >>"$RESULTS"
      continue
    fi
    if [ -n "$(header "$c" changes-checkout)" ]; then
      # Nothing else may read the checkout meanwhile: tests/run's static
      # steps (E2E_CHECKOUT_BARRIER) and the other lane's up.
      while [ -n "${E2E_CHECKOUT_BARRIER:-}" ] && [ ! -e "$E2E_CHECKOUT_BARRIER" ]; do sleep 2; done
      while [ -n "${STAGING_UP_DONE:-}" ] && [ ! -e "$STAGING_UP_DONE" ]; do sleep 2; done
    fi
    if ! run_check "$e" "$c"; then
      case "$(header "$c" leaves)" in
        up) up_failed=1 ;;
        as-found) repair "$e" || up_failed=1 ;;
      esac
    fi
    [ "$c" = "$e-up" ] && touch "$E2E_RUN/$e.up-done"
  done
  touch "$E2E_RUN/$e.up-done"
  return 0
}

STAGING_UP_DONE=""
if [ -n "$(lane_checks dev)" ] && [ -n "$(lane_checks staging)" ] && [ "${E2E_PARALLEL:-1}" = 1 ]; then
  # dev's cold up first (two cold ups at once only share 2 cores), then
  # staging's lane in the background while dev's checks run.
  dev_up=pass
  run_check dev dev-up || dev_up=FAIL
  STAGING_UP_DONE="$E2E_RUN/staging.up-done"
  lane staging >"$E2E_RUN/staging-lane.out" 2>&1 &
  LANE_PID=$!
  tail -n +1 -f --pid "$LANE_PID" "$E2E_RUN/staging-lane.out" &
  TAIL_PID=$!
  lane dev "$dev_up"
  wait "$LANE_PID" || true
  LANE_PID=""
  wait "$TAIL_PID" 2>/dev/null || true
else
  [ -z "$(lane_checks dev)" ] || lane dev
  [ -z "$(lane_checks staging)" ] || lane staging
fi

# --- report --------------------------------------------------------------------------
for e in "${ENVS[@]}"; do
  for c in $(lane_checks "$e"); do
    [ -f "$E2E_RUN/logs/$c.log" ] || continue
    printf '\n----- %s (%s) ----- %s\n' "$c" "$e" "$E2E_RUN/logs/$c.log"
    cat "$E2E_RUN/logs/$c.log"
  done
done
say "end-to-end checks (dev and staging lanes; wall clock $(mmss $(( $(date +%s) - started ))))"
printf '  %-8s %-18s %-7s %6s  %s\n' env check result time log
failed=0
while read -r e c r s; do
  printf '  %-8s %-18s %-7s %6s  %s\n' "$e" "$c" "$r" "$(mmss "$s")" "$E2E_RUN/logs/$c.log"
  [ "$r" = pass ] || failed=$((failed + 1))
done <"$RESULTS"
[ "$failed" = 0 ] || fail "$failed end-to-end check(s) failed or were skipped (logs above; run logs under .obsctl/<env>/runs/)"
say "PASS: every end-to-end check (logs in $E2E_RUN)"
