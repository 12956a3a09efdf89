#!/usr/bin/env bash
# destroy dev and nothing is left (was the end of lab.sh, fast_path.sh and
# faults.sh): no machine (lab.sh status), no nspawn process, no overlay
# mount, no bridge, no apt cache, no lab directory (the hosts' data
# directories, which a replaced machine keeps, go too), no inventory, no converged
# record, no Terraform lock or dev process; a second destroy is a no-op.
# env: dev
# needs:
# leaves: destroyed
source "$(dirname "$0")/lib.sh"

say "destroy"
start=$(now)
"$OBSCTL" destroy --env "$ENV" --auto-approve || fail "destroy failed"
destroy_s=$(since "$start")
[ "$(LAB_ENV="$ENV" "$LAB" status)" = "no machines" ] || fail "machines left after destroy: $(LAB_ENV="$ENV" "$LAB" status)"
pgrep -af "systemd-nspawn .*/envs/$ENV/" && fail "lab machines still running"
grep -q "/envs/$ENV/" /proc/mounts && fail "overlay mounts left: $(grep "/envs/$ENV/" /proc/mounts)"
bridge=$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["lab"]["bridge"])' "environments/$ENV.toml")
ip link show "$bridge" >/dev/null 2>&1 && fail "bridge $bridge left"
pgrep -f "apt-cacher-ng -c $LAB_ROOT/envs/$ENV/" && fail "apt cache still running"
[ ! -e "$LAB_ROOT/envs/$ENV/data" ] || fail "data directories left after destroy: $(ls "$LAB_ROOT/envs/$ENV/data")"
[ ! -e "$LAB_ROOT/envs/$ENV" ] || fail "lab directory left: $(find "$LAB_ROOT/envs/$ENV" | head)"
[ ! -e ".obsctl/$ENV/inventory.json" ] || fail "inventory left behind"
[ ! -e ".obsctl/$ENV/converged.json" ] || fail "destroy left .obsctl/$ENV/converged.json"
check_clean destroy >/dev/null
out=$("$OBSCTL" destroy --env "$ENV" --auto-approve 2>&1) || fail "second destroy failed: $out"
grep -q "nothing to destroy" <<<"$out" || fail "second destroy was not a no-op: $out"
echo "PASS: destroy ${destroy_s}s"
