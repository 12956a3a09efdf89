#!/usr/bin/env bash
# destroy staging and nothing of it is left (was the end of
# staging-failover.sh): no nspawn process, no process inside a staging
# machine, no mount, no bridge, no apt cache, no lab directory, no inventory,
# no resource in Terraform's state, no machine (lab.sh status), no Terraform
# lock or staging process; a second destroy is a no-op.
# env: staging
# needs:
# leaves: destroyed
source "$(dirname "$0")/lib.sh"
state_resources() {
  [ -f "$STATE/terraform.tfstate" ] || { echo 0; return; }
  jq '[.resources[]? | select(.mode == "managed") | .instances[]?] | length' "$STATE/terraform.tfstate"
}

# --- destroy -------------------------------------------------------------------------
say "destroy"
start=$(now)
"$OBSCTL" destroy --env "$ENV" --auto-approve || fail "destroy failed"
destroy_s=$(since "$start")
bridge=$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["lab"]["bridge"])' "environments/$ENV.toml")
! pgrep -af "systemd-nspawn .*/envs/$ENV/" || fail "lab machines of $ENV still running"
for p in /proc/[0-9]*; do
  case "$(readlink "$p/root" 2>/dev/null)" in "$LAB_ROOT/envs/$ENV/"*) fail "process ${p#/proc/} still runs inside a $ENV machine";; esac
done
! grep -q "$LAB_ROOT/envs/$ENV/" /proc/mounts || fail "mounts left: $(grep "$LAB_ROOT/envs/$ENV/" /proc/mounts)"
! ip link show "$bridge" >/dev/null 2>&1 || fail "bridge $bridge left"
! pgrep -af "apt-cacher-ng -c $LAB_ROOT/envs/$ENV/" || fail "apt cache of $ENV still running"
[ ! -e "$LAB_ROOT/envs/$ENV" ] || fail "lab directory left: $(find "$LAB_ROOT/envs/$ENV" | head)"
[ ! -e "$STATE/inventory.json" ] || fail "inventory left behind"
[ "$(state_resources)" = 0 ] || fail "Terraform state still holds $(state_resources) resources"
[ "$(LAB_ENV="$ENV" "$LAB" status)" = "no machines" ] || fail "machines left after destroy: $(LAB_ENV="$ENV" "$LAB" status)"
check_clean destroy >/dev/null   # no Terraform lock, valid state, no process of staging (faults ran here)
out=$("$OBSCTL" destroy --env "$ENV" --auto-approve 2>&1) || fail "second destroy failed: $out"
grep -q "nothing to destroy" <<<"$out" || fail "second destroy was not a no-op: $out"
echo "PASS: destroy ${destroy_s}s"
