#!/usr/bin/env bash
# A lab environment on a host belongs to one checkout (terraform/scripts/lab.sh,
# "ownership"): two copies of lab.sh stand for two checkouts; rootless, with a
# LAB_ROOT of its own (data-up and data-down need no root).
#   A creates → owner is A's .obsctl/<env>;  B's create is refused naming A and
#   the destroy command;  B's remove leaves A's data;  A's own path through
#   Terraform's copy (.obsctl/<env>/stack/scripts) is the same owner;  A gone →
#   B takes over;  B's remove of the last thing (data-down, machine-down)
#   removes the env's directory.
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fails=0
ok() { printf 'lab_owner: ok: %s\n' "$1"; }
bad() { printf 'lab_owner: FAIL: %s\n' "$1" >&2; fails=$((fails + 1)); }
for c in A B; do mkdir -p "$t/$c/terraform/scripts" "$t/$c/.obsctl/zz/stack/scripts"
  cp "$here/terraform/scripts/lab.sh" "$t/$c/terraform/scripts/lab.sh"
  cp "$here/terraform/scripts/lab.sh" "$t/$c/.obsctl/zz/stack/scripts/lab.sh"; done
export LAB_ROOT="$t/root" LAB_ENV=zz LAB_NAME=h1 LAB_DATA_PATHS=/var/lib/prometheus
env_dir="$LAB_ROOT/envs/zz"
lab() { local c=$1; shift; "$t/$c/$LAB_SH" "$@" 2>"$t/err"; }

LAB_SH=terraform/scripts/lab.sh
lab A data-up && [ "$(cat "$env_dir/owner")" = "$t/A/.obsctl/zz" ] && ok "A's create records A's .obsctl/zz" || bad "A's create: owner $(cat "$env_dir/owner" 2>&1)"
LAB_SH=.obsctl/zz/stack/scripts/lab.sh
lab A data-up && ok "Terraform's copy in A is the same owner" || bad "Terraform's copy in A refused: $(cat "$t/err")"
if lab B data-up; then bad "B's create was not refused"
elif grep -q "belongs to another checkout ($t/A/.obsctl/zz)" "$t/err" && grep -q "cd $t/A && obsctl destroy --env zz" "$t/err"; then ok "B's create refused, naming A and the command"
else bad "B's refusal does not name A and the command: $(cat "$t/err")"; fi
lab B data-down && [ -d "$env_dir/data/h1/var/lib/prometheus" ] && grep -q "left alone" "$t/err" && ok "B's remove leaves A's data" || bad "B's remove touched A's data or failed: $(cat "$t/err")"
rm -rf "$t/A/.obsctl"
lab B data-up && [ "$(cat "$env_dir/owner")" = "$t/B/.obsctl/zz" ] && grep -q "taking over" "$t/err" && ok "A gone: B takes over" || bad "B did not take over: $(cat "$t/err")"
lab B data-down && [ ! -e "$env_dir" ] && ok "B's remove of the last thing removes the env's directory" || bad "left: $(ls -A "$env_dir" 2>&1)"
# A machine on another environment's bridge (no net-up of its own, as the
# existing-host check boots one): its machine-down leaves no owner behind.
export LAB_ENV=ext
mkdir -p "$LAB_ROOT/envs/ext/machines/h1"; echo "$t/B/.obsctl/ext" >"$LAB_ROOT/envs/ext/owner"
lab B machine-down && [ ! -e "$LAB_ROOT/envs/ext" ] && ok "the last machine-down removes the env's directory and its owner" || bad "left: $(ls -A "$LAB_ROOT/envs/ext" 2>&1) $(cat "$t/err")"
[ "$fails" = 0 ] || exit 1
