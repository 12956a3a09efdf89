#!/usr/bin/env bash
# Package updates as an explicit, visible step (issue 28) on dev's lab machines.
#
#   app-1 gets a prometheus-node-exporter OLDER than APT's candidate: the
#   archive's own package, rebuilt with its version lowered to
#   "<candidate>~obsctl.old" (same files; dpkg orders it before the
#   candidate), installed with dpkg →
#   `status` and `plan` list the update pending on app-1 (and only there);
#   a plain `up` does not install it and its summary lists it as pending →
#   `up --upgrade` installs the candidate, restarts node_exporter (verify
#   passes), and its summary shows app-1's version before → after; then
#   nothing is pending.
#
# Leaves dev converged at the candidate versions, as the cold up left it.
# env: dev
# needs:
# leaves: as-found
source "$(dirname "$0")/lib.sh"
HOST=app-1
PKG=prometheus-node-exporter

on() { "$OBSCTL" ssh --env "$ENV" "$1" -- "$2"; }
# up NAME [ARGS..]: an up with JSON events in $WORK/NAME.jsonl; prints its seconds.
up() {
  local name=$1 t
  shift
  t=$(now)
  "$OBSCTL" up --env "$ENV" --without "$WITHOUT" --auto-approve --output json "$@" >"$WORK/$name.jsonl" </dev/null \
    || { tail -5 "$WORK/$name.jsonl" >&2; fail "up ($name) failed"; }
  since "$t"
}

say "install an older $PKG on $HOST"
candidate=$(on "$HOST" "apt-cache policy $PKG | sed -n 's/^ *Candidate: *//p'")
[ -n "$candidate" ] && [ "$candidate" != "(none)" ] || fail "$HOST: APT has no candidate for $PKG"
old="$candidate~obsctl.old"
on "$HOST" "set -e; d=\$(mktemp -d); chmod 755 \$d; cd \$d; apt-get download -q $PKG >/dev/null; dpkg-deb -R ${PKG}_*.deb x;
  sed -i 's/^Version: .*/Version: $old/' x/DEBIAN/control; dpkg-deb -b x old.deb >/dev/null;
  dpkg -i old.deb >/dev/null; cd /; rm -rf \$d" || fail "could not install $PKG $old on $HOST"
[ "$(on "$HOST" "dpkg-query -W -f='\${Version}' $PKG")" = "$old" ] || fail "$HOST: $PKG is not at $old"
echo "  $HOST: $PKG $old installed (candidate $candidate)"

say "status and plan list the update pending"
t=$(now)
"$OBSCTL" status --env "$ENV" --output json >"$WORK/status.jsonl" 2>/dev/null || true
status_s=$(since "$t")
pending=$(jq -c 'select(.event=="summary") | .updates_pending' "$WORK/status.jsonl")
[ "$(jq -r --arg h "$HOST" '.[$h][0].package + " " + .[$h][0].installed + " " + .[$h][0].candidate' <<<"$pending")" = "$PKG $old $candidate" ] ||
  fail "status does not report $PKG $old → $candidate pending on $HOST: $pending"
[ "$(jq 'keys | length' <<<"$pending")" = 1 ] || fail "status reports updates pending on other hosts too: $pending"
"$OBSCTL" status --env "$ENV" 2>/dev/null | grep -F "$HOST: $PKG $old → $candidate" || fail "status (human) does not show the pending update"
"$OBSCTL" plan --env "$ENV" --output json >"$WORK/plan.jsonl" 2>/dev/null || true
jq -e --arg h "$HOST" --arg c "$candidate" 'select(.event=="summary") | .updates_pending[$h][0].candidate == $c' "$WORK/plan.jsonl" >/dev/null ||
  fail "plan does not report the update pending on $HOST: $(jq -c 'select(.event=="summary") | .updates_pending' "$WORK/plan.jsonl")"
echo "  status (${status_s}s) and plan list it"

say "a plain up leaves it pending and says so"
d_plain=$(up plain)
[ "$(on "$HOST" "dpkg-query -W -f='\${Version}' $PKG")" = "$old" ] || fail "a plain up changed $PKG on $HOST"
jq -e --arg h "$HOST" --arg c "$candidate" '.updates_pending[$h][0].candidate == $c' <<<"$(summary plain)" >/dev/null ||
  fail "the up summary does not list the update pending: $(summary plain | jq -c .updates_pending)"
echo "  up: ${d_plain}s, still $old, listed as pending"

say "up --upgrade installs the candidate and shows before → after"
t_upgrade=$(now)
d_upgrade=$(up upgrade --upgrade)
expect_path upgrade full "--upgrade"
[ "$(on "$HOST" "dpkg-query -W -f='\${Version}' $PKG")" = "$candidate" ] || fail "up --upgrade did not install $PKG $candidate on $HOST"
s=$(summary upgrade)
jq -e --arg h "$HOST" --arg p "$PKG" --arg o "$old" --arg c "$candidate" \
  '[.upgraded[] | select(.host == $h)] == [{host: $h, package: $p, before: $o, after: $c}]' <<<"$s" >/dev/null ||
  fail "the summary's upgraded list is not $HOST $PKG $old → $candidate: $(jq -c .upgraded <<<"$s")"
[ "$(jq -c .updates_pending <<<"$s")" = "{}" ] || fail "updates still pending after up --upgrade: $(jq -c .updates_pending <<<"$s")"
# The service runs the new binary: (re)started by this up, after the upgrade.
started=$(on "$HOST" "date -d \"\$(systemctl show -p ActiveEnterTimestamp --value prometheus-node-exporter)\" +%s")
[ "$started" -ge "${t_upgrade%.*}" ] || fail "node_exporter on $HOST was not restarted by up --upgrade (running since $started, the up began at ${t_upgrade%.*})"
echo "  up --upgrade: ${d_upgrade}s; $HOST: $PKG $old → $candidate; node_exporter restarted; nothing pending"
echo "dev-upgrade: status ${status_s}s, up ${d_plain}s, up --upgrade ${d_upgrade}s"
