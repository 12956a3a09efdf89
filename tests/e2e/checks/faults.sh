#!/usr/bin/env bash
# Faults on lab machines, with real Terraform and Ansible (was faults.sh on
# dev; its cold up and destroy are now the environment's own checks): an `up`
# is interrupted, hung up or loses its output at two moments, and must leave
# nothing broken; the next `up` must heal everything. Runs on any lab
# environment with an app-1: the harness plans it on dev (staging's lane
# holds the checks that need peers).
#
#   faults: SIGINT to obsctl's pid, SIGINT to its process group (a terminal's
#           Ctrl-C, a cancelled CI job), SIGTERM, SIGHUP to its group (the
#           terminal closed), its output pipe closed (the reader went away)
#   moments: during `terraform apply` (a lab machine being created), during
#           Ansible (a few tasks in)
#   matrix: at each moment one signal to the pid alone, one to the group and
#           a closed pipe (apply: SIGINT to the pid, SIGHUP; Ansible: SIGINT
#           to the group, SIGTERM), so each signal and each way it arrives
#           meets each moment's code once
#
# After each: the documented exit code (130 for SIGINT, 143, 129; 0 for a closed
# pipe: the run goes on), no Terraform lock left, every state file valid
# JSON, no terraform/ansible-playbook/lab.sh process of the environment left, and the next
# `up` succeeds with every scrape target up (its time is in the table). Plus:
# a machine's container killed behind obsctl's back is replaced by `up` (and
# its new host key pinned); a machine that dies during Ansible gives exit 30
# naming it, and the next `up` converges it; a host key regenerated on a
# machine makes `up` stop before Ansible with exit 30 and a message giving
# the `ssh-keygen -R` command, after which the next `up` succeeds.
#
# A real apply in flight costs one machine: app-1's container is stopped
# first (lab.sh machine-stop, as a crash would), so the faulted `up` replaces
# it and the signal lands while Terraform's lab.sh is creating it. Every case
# ends with a successful `up`: dev is left deployed and converged.
#
# Prints the table fault x moment -> exit code, lock left, next up.
# env: any
# needs:
# leaves: as-found
source "$(dirname "$0")/lib.sh"
VICTIM=app-1
command -v setsid >/dev/null && command -v pgrep >/dev/null || prereq "setsid and pgrep"

up_args=(up --env "$ENV" --without "$WITHOUT" --auto-approve --output json)

# A plain `up` that must succeed with every target up; prints its seconds.
up_ok() { # label
  local start; start=$(now)
  "$OBSCTL" "${up_args[@]}" >"$WORK/$1.jsonl" 2>"$WORK/$1.err" || {
    cat "$WORK/$1.jsonl" "$WORK/$1.err" >&2; fail "$1: up failed"; }
  local summary; summary=$(jq -c 'select(.event=="summary")' "$WORK/$1.jsonl")
  [ "$(jq -r .ok <<<"$summary")" = true ] || fail "$1: summary not ok: $summary"
  [ "$(jq -r .targets_up <<<"$summary")" -ge 1 ] || fail "$1: no scrape targets up: $summary"
  since "$start"
}

newest_run() { ls -td "$STATE"/runs/*-up 2>/dev/null | head -n 1; }

# Waits (up to 300 s) for the moment in the run started after $1 (the newest
# run dir before it); returns 1 if obsctl ($2) ended first.
wait_for_moment() { # before-run pid moment
  local before=$1 pid=$2 moment=$3 run
  for _ in $(seq 1 3000); do
    kill -0 "$pid" 2>/dev/null || return 1
    run=$(newest_run)
    if [ -n "$run" ] && [ "$run" != "$before" ]; then
      case "$moment" in
        apply) grep -qF "module.machine[\"$VICTIM\"].terraform_data.machine: Creating..." "$run/terraform.log" 2>/dev/null && return 0 ;;
        ansible)
          local tasks; tasks=$(grep -c '^TASK \[' "$run/ansible.log" 2>/dev/null || true)
          [ "${tasks:-0}" -ge 4 ] && return 0 ;;
      esac
    fi
    sleep 0.1
  done
  return 1
}


ROWS=()
row() { ROWS+=("$(printf '%-14s %-8s %-5s %-4s %-5s %-9s %s' "$@")"); }

# One fault at one moment, then the checks and the next `up`.
fault() { # fault moment expected-exit
  local fault=$1 moment=$2 expected=$3 label="$1-$2"
  say "$fault during $moment (expect exit $expected)"
  if [ "$moment" = apply ]; then LAB_ENV="$ENV" LAB_NAME="$VICTIM" "$LAB" machine-stop >/dev/null; fi
  local before; before=$(newest_run)
  local out="$WORK/$label.jsonl" err="$WORK/$label.err" reader=""
  # A converged environment takes the fast path, which runs no Ansible:
  # --full makes this `up` reach the moment the fault is meant for.
  local args=("${up_args[@]}")
  [ "$moment" = ansible ] && args+=(--full)
  if [ "$fault" = closed-pipe ]; then
    # obsctl writes into a FIFO whose only reader is killed at the moment.
    mkfifo "$WORK/$label.fifo"
    cat "$WORK/$label.fifo" >"$out" &
    reader=$!
    setsid "$OBSCTL" "${args[@]}" >"$WORK/$label.fifo" 2>&1 </dev/null &
  else
    setsid "$OBSCTL" "${args[@]}" >"$out" 2>"$err" </dev/null &
  fi
  local pid=$!  # setsid execs obsctl: its pid, and its process group
  local hit=yes
  wait_for_moment "$before" "$pid" "$moment" || hit=no
  local sent; sent=$(now)
  case "$fault" in
    sigint-pid) kill -INT "$pid" ;;
    sigint-group) kill -INT -- "-$pid" ;;
    sigterm) kill -TERM "$pid" ;;
    sighup) kill -HUP -- "-$pid" ;;
    closed-pipe) kill "$reader" ;;
  esac
  local rc=0
  wait "$pid" || rc=$?
  local stop; stop=$(since "$sent")
  local run; run=$(newest_run)
  # The signal must have reached the moment it was meant for.
  if [ "$hit" = yes ] && [ "$moment" = apply ] && [ "$fault" != closed-pipe ]; then
    grep -q "Interrupt received" "$run/terraform.log" || hit="late"
  fi
  echo "exit $rc after ${stop}s (moment hit: $hit); run log: $run"
  [ "$rc" = "$expected" ] || { tail -n 30 "$run/obsctl.log" >&2; fail "$label: exit $rc, expected $expected"; }
  if [ "$fault" != closed-pipe ]; then
    grep -q "Two interrupts received" "$run/terraform.log" 2>/dev/null && fail "$label: Terraform got two interrupts"
  else
    grep -q "cannot write to" "$run/obsctl.log" || fail "$label: the lost output is not noted in $run/obsctl.log"
  fi
  local lock; lock=$(check_clean "$label")
  local t; t=$(up_ok "$label-next")
  echo "next up ok in ${t}s"
  row "$fault" "$moment" "$rc" "$expected" "$lock" "$hit" "ok ${t}s"
}

# --- a machine killed behind obsctl's back ----------------------------------------
say "kill $VICTIM's container behind obsctl's back; up replaces it"
LAB_ENV="$ENV" LAB_NAME="$VICTIM" "$LAB" machine-stop >/dev/null
t=$(up_ok dead)
jq -r 'select(.event=="info") | .message' "$WORK/dead.jsonl" | grep -q "lab machine $VICTIM is in Terraform's state but not running" \
  || fail "up did not say it replaces $VICTIM"
added=$(jq -s '[.[] | select(.event=="phase_end" and .phase=="terraform")][0].add // 0' "$WORK/dead.jsonl")
[ "$added" -ge 1 ] || fail "up did not recreate $VICTIM"
echo "replaced and verified in ${t}s"
dead_row=$(printf '%-14s %-8s %-5s %-4s %-5s %-9s %s' "container-kill" "before" 0 0 no yes "ok (the same up) ${t}s")

# --- the matrix -----------------------------------------------------------------
# Each moment gets a signal to obsctl's pid alone (obsctl must stop its
# child) and one to the whole process group (the child gets it too), and
# each signal appears once: a signal's exit code is the same code at either
# moment, and tests/cli.rs sends every signal during a real Terraform apply.
fault sigint-pid apply 130
fault sighup apply 129
fault closed-pipe apply 0
fault sigint-group ansible 130
fault sigterm ansible 143
fault closed-pipe ansible 0

# --- a host that dies during Ansible ------------------------------------------------
say "$VICTIM dies during Ansible (expect exit 30 naming it)"
before=$(newest_run)
"$OBSCTL" "${up_args[@]}" --full >"$WORK/dies.jsonl" 2>"$WORK/dies.err" </dev/null &
pid=$!
wait_for_moment "$before" "$pid" ansible || fail "Ansible never started"
LAB_ENV="$ENV" LAB_NAME="$VICTIM" "$LAB" machine-stop >/dev/null
rc=0
wait "$pid" || rc=$?
[ "$rc" = 30 ] || { cat "$WORK/dies.jsonl" >&2; fail "a host dying during Ansible exited $rc, expected 30"; }
msg=$(jq -r 'select(.event=="error") | .message' "$WORK/dies.jsonl")
grep -q "$VICTIM" <<<"$msg" || fail "the error does not name $VICTIM: $msg"
echo "exit 30: $msg"
lock=$(check_clean host-dies)
t=$(up_ok dies-next)
dies_row=$(printf '%-14s %-8s %-5s %-4s %-5s %-9s %s' "host-dies" "ansible" "$rc" 30 "$lock" yes "ok ${t}s")

# --- a host key that changed -------------------------------------------------------
# The key pinned for $VICTIM was recorded when Terraform (re)created it; a key
# regenerated on the machine itself must be refused before Ansible runs.
say "$VICTIM's SSH host key is regenerated on the machine: up refuses it (expect exit 30, no Ansible)"
addr=$(jq -r --arg h "$VICTIM" '.contract.hosts[$h].address' "$STATE/deployment.json")
# Through the pinned key: it must be the one the lab recorded at creation.
ssh -i "$STATE/ssh/id_ed25519" -o BatchMode=yes -o LogLevel=ERROR -o StrictHostKeyChecking=yes \
  -o UserKnownHostsFile="$STATE/ssh/known_hosts" "root@$addr" \
  'rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh' || fail "cannot regenerate $VICTIM's host keys"
rc=0
"$OBSCTL" "${up_args[@]}" >"$WORK/hostkey.jsonl" 2>"$WORK/hostkey.err" </dev/null || rc=$?
run=$(newest_run)
[ "$rc" = 30 ] || { cat "$WORK/hostkey.jsonl" "$WORK/hostkey.err" >&2; fail "a changed host key: exit $rc, expected 30"; }
msg=$(jq -r 'select(.event=="error") | .message' "$WORK/hostkey.jsonl")
hint=$(jq -r 'select(.event=="error") | .hint' "$WORK/hostkey.jsonl")
grep -q "host key of $VICTIM changed" <<<"$msg" || fail "the error does not say $VICTIM's host key changed: $msg"
for what in recreate intercepting "obsctl up --env $ENV"; do
  grep -q "$what" <<<"$hint" || fail "the hint does not mention \"$what\": $hint"
done
jq -e -s 'any(.[]; .event=="phase_start" and .phase=="ansible")' "$WORK/hostkey.jsonl" >/dev/null && fail "Ansible started although the host key was refused"
[ ! -s "$run/ansible.log" ] || fail "Ansible ran although the host key was refused: $run/ansible.log"
echo "exit 30: $msg"
echo "hint: $hint"
forget=$(grep -o "ssh-keygen -R '[^']*' -f [^ \`]*" <<<"$hint") || fail "the hint gives no ssh-keygen -R command: $hint"
say "forget the old key as the message says: $forget; the next up pins the new one"
eval "$forget"
lock=$(check_clean host-key)
t=$(up_ok hostkey-next)
ssh -i "$STATE/ssh/id_ed25519" -o BatchMode=yes -o LogLevel=ERROR -o StrictHostKeyChecking=yes \
  -o UserKnownHostsFile="$STATE/ssh/known_hosts" "root@$addr" true || fail "the new key of $VICTIM is not pinned after up"
hostkey_row=$(printf '%-14s %-8s %-5s %-4s %-5s %-9s %s' "host-key" "hosts" "$rc" 30 "$lock" yes "ok after ssh-keygen -R, ${t}s")

say "fault matrix (exit: got / documented; hit: the fault landed in that moment)"
printf '%-14s %-8s %-5s %-4s %-5s %-9s %s\n' fault moment exit doc lock hit "next up"
printf '%s\n' "${ROWS[@]}" "$dies_row" "$dead_row" "$hostkey_row"
echo "faults: all passed"
