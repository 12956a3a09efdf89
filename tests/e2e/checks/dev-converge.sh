#!/usr/bin/env bash
# The declared state wins (issue #27, docs/architecture.md "The declared
# state wins"). Behind obsctl's back, in one batch (they do not interfere):
# an unknown file in every kind of directory obsctl owns (rules, notification
# templates, a service's TLS directory, the top of the TLS directory, a
# directory at the top of the secrets one, a drop-in directory, sshd's drop-ins),
# a drop-in that turns TLS off on node_exporter (app-1), a full override of
# Alertmanager's unit, a mask of node_exporter (mon-1), world-readable
# modes on a TLS key and on a password file, another owner on a config file.
# The next `up` takes the full path and names every change among its
# reasons, names every removed file, and leaves the hosts exactly as
# declared (the converged record's modes and owners, TLS back on); the `up`
# after it takes the fast path. Then a fast-path `up` that fails verify
# (node_exporter frozen with SIGSTOP: running for systemd, down for
# Prometheus) exits 50 and the next `up` takes the full path. `sshd -T` on
# every host shows password authentication off. Leaves dev converged.
# env: dev
# needs:
# leaves: as-found
source "$(dirname "$0")/lib.sh"
t0=$(now)
on() { "$OBSCTL" ssh --env "$ENV" "$1" -- "$2"; }
record="$STATE/converged.json"
[ -s "$record" ] && jq -e .hosts "$record" >/dev/null || fail "no converged record in $record before the check (dev-drift leaves one)"
declared() { jq -r --arg h "$1" --arg p "$2" '.hosts[$h].expected.modes[$p] // empty' "$record"; }
first_mode_path() { jq -r --arg h "$1" --arg re "$2" '[.hosts[$h].expected.modes | keys[] | select(test($re))][0] // empty' "$record"; }
inv="$STATE/inventory.json"
app=$(jq -r '.all.children.app.hosts | keys[0]' "$inv")
app_addr=$(jq -r --arg h "$app" '.contract.hosts[$h].address' "$STATE/deployment.json")
ne_port=$(jq -r .all.vars.obsctl_components.node_exporter.port "$inv")
ne_unit=$(jq -r .all.vars.obsctl_components.node_exporter.unit "$inv")
am_unit=$(jq -r .all.vars.obsctl_components.alertmanager.unit "$inv")
mon=$(jq -r '.all.children.prometheus.hosts | keys[0]' "$inv")
key=$(first_mode_path "$mon" '/tls/prometheus/server\.key$')
password=$(first_mode_path "$mon" '/secrets/prometheus/.*_password$')
config=/etc/prometheus/prometheus.yml
for v in app_addr ne_port ne_unit am_unit key password; do [ -n "${!v}" ] && [ "${!v}" != null ] || fail "cannot read $v from $inv / $record"; done
for p in "$key" "$password" "$config"; do [ -n "$(declared "$mon" "$p")" ] || fail "the converged record has no mode and owner of $p"; done
templates=$(jq -r '.hosts[$h].managed.dirs[] | select(test("alertmanager-templates$"))' --arg h "$mon" "$record")
[ -n "$templates" ] || fail "no notification templates directory in the record"

say "behind obsctl's back: stray files, drop-ins, an override, a mask, modes, an owner"
tls_top=$(dirname "$(dirname "$key")"); secrets_top=$(dirname "$(dirname "$password")")
stray=(/etc/prometheus/rules/intruder.rules.yml "$templates/intruder.tmpl" "$(dirname "$key")/intruder.pem"
  "$tls_top/intruder.pem" "$secrets_top/intruder"
  /etc/systemd/system/prometheus.service.d/intruder.conf /etc/systemd/system/"$am_unit".service
  /etc/systemd/system/"$ne_unit".service /etc/ssh/sshd_config.d/01-intruder.conf)
on "$mon" "set -e
  echo 'groups: []' >/etc/prometheus/rules/intruder.rules.yml
  echo '{{ define \"intruder\" }}x{{ end }}' >'$templates/intruder.tmpl'
  echo intruder >'$(dirname "$key")/intruder.pem'
  echo intruder >'$tls_top/intruder.pem'
  mkdir -p '$secrets_top/intruder' && echo x >'$secrets_top/intruder/password'
  printf '[Service]\nEnvironment=INTRUDER=1\n' >/etc/systemd/system/prometheus.service.d/intruder.conf
  cp /lib/systemd/system/$am_unit.service /etc/systemd/system/$am_unit.service
  systemctl mask $ne_unit >/dev/null 2>&1
  echo 'PasswordAuthentication yes' >/etc/ssh/sshd_config.d/01-intruder.conf
  chmod 0644 '$key' '$password'
  chown nobody '$config'
  systemctl daemon-reload"
tls_off=/etc/systemd/system/$ne_unit.service.d/intruder-no-tls.conf
on "$app" "set -e
  printf '[Service]\nExecStart=\nExecStart=/usr/bin/prometheus-node-exporter --web.listen-address=:$ne_port\n' >$tls_off
  systemctl daemon-reload; systemctl restart $ne_unit"
sleep 1
curl -sf -o /dev/null "http://$app_addr:$ne_port/metrics" || fail "the TLS-off drop-in did not take: http://$app_addr:$ne_port/metrics does not answer"
echo "  $app's node_exporter serves plain HTTP without credentials"

say "up: full path, every change named, every stray file removed"
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json >"$WORK/up1.jsonl" || { tail -20 "$WORK/up1.jsonl"; fail "the converging up failed"; }
expect_path up1 full
reasons=$(summary up1 | jq -r '.path_reasons[]')
for p in "${stray[@]}" "$tls_off"; do
  grep -qF -- "$p was not there after the last configuration" <<<"$reasons" || fail "the check phase does not name $p: $reasons"
done
for p in "$key" "$password" "$config"; do
  grep -qF -- "$p has mode and owner" <<<"$reasons" || fail "the check phase does not name the mode/owner of $p: $reasons"
done
grep -qF "service $ne_unit is masked" <<<"$reasons" || fail "the check phase does not name the mask of $ne_unit: $reasons"
removed=$(jq -r 'select(.event=="removed") | .hosts | to_entries[] | .key as $h | .value[] | "\($h): \(.)"' "$WORK/up1.jsonl")
for p in "${stray[@]}"; do
  grep -qxF "$mon: $p" <<<"$removed" || fail "up does not name $mon: $p as removed: $removed"
done
grep -qxF "$app: $tls_off" <<<"$removed" || fail "up does not name $app: $tls_off as removed: $removed"
jq -r 'select(.event=="warning") | .message' "$WORK/up1.jsonl" | grep -q "removed what obsctl did not write" || fail "no warning names the removed files"
echo "  removed: $(tr '\n' ' ' <<<"$removed")"

say "the hosts are exactly as declared"
on "$mon" "for p in ${stray[*]}; do [ -e \"\$p\" ] || [ -L \"\$p\" ] && echo \"left: \$p\"; done; true" >"$WORK/left.txt"
on "$app" "[ -e $tls_off ] && echo 'left: $tls_off'; true" >>"$WORK/left.txt"
[ ! -s "$WORK/left.txt" ] || fail "still there after up: $(cat "$WORK/left.txt")"
for p in "$key" "$password" "$config"; do
  got=$(on "$mon" "stat -c '%a %U:%G' '$p'")
  [ "$got" = "$(declared "$mon" "$p")" ] || fail "$p is $got after up, declared $(declared "$mon" "$p")"
done
[ "$(on "$mon" "systemctl is-enabled $ne_unit")" = enabled ] || fail "$ne_unit on $mon is not unmasked and enabled"
frag=$(on "$mon" "systemctl show -p FragmentPath --value $am_unit")
[[ "$frag" != /etc/* ]] || fail "$am_unit still runs from the override $frag"
curl -sf -o /dev/null "http://$app_addr:$ne_port/metrics" && fail "node_exporter on $app still serves plain HTTP"
code=$(curl -sk -o /dev/null -w '%{http_code}' "https://$app_addr:$ne_port/metrics")
[ "$code" = 401 ] || fail "node_exporter on $app answers $code without credentials over HTTPS (expected 401)"
echo "  modes and owners as recorded, $ne_unit unmasked, $am_unit from its package, TLS and auth back on $app"

say "sshd -T on every host: no password authentication, only obsctl's key"
jq -r '.contract.hosts | keys[]' "$STATE/deployment.json" >"$WORK/hosts.txt"
while read -r h; do
  t=$(on "$h" "sshd -T" </dev/null)
  grep -qx "passwordauthentication no" <<<"$t" || fail "$h: sshd -T shows $(grep passwordauthentication <<<"$t")"
  grep -qx "kbdinteractiveauthentication no" <<<"$t" || fail "$h: keyboard-interactive authentication is on"
  grep -q "^authorizedkeysfile /etc/ssh/obsctl_authorized_keys/%u$" <<<"$t" || fail "$h: sshd reads other keys: $(grep authorizedkeysfile <<<"$t")"
  echo "  $h: passwordauthentication no, authorizedkeysfile /etc/ssh/obsctl_authorized_keys/%u"
done <"$WORK/hosts.txt"

say "the up after it takes the fast path"
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json >"$WORK/up2.jsonl" || { tail -20 "$WORK/up2.jsonl"; fail "up after converging failed"; }
expect_path up2 fast

say "a fast-path up that fails verify (exit 50) is followed by a full-path up"
pid=$(on "$app" "systemctl show -p MainPID --value $ne_unit")
[ "${pid:-0}" -gt 0 ] || fail "no main pid of $ne_unit on $app"
on "$app" "kill -STOP $pid"
sleep 12 # a scrape interval and its timeout: Prometheus marks the target down
rc=0
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json --verify-timeout 15 >"$WORK/up3.jsonl" || rc=$?
on "$app" "kill -CONT $pid"
[ "$rc" = 50 ] || { tail -5 "$WORK/up3.jsonl"; fail "up with a frozen node_exporter exited $rc (expected 50)"; }
[ "$(jq -r 'select(.event=="phase_end" and .phase=="check") | .path' "$WORK/up3.jsonl")" = fast ] || fail "the failing up did not take the fast path"
jq -e .failed "$record" >/dev/null || fail "the record does not say the last run failed: $(cat "$record")"
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json >"$WORK/up4.jsonl" || { tail -20 "$WORK/up4.jsonl"; fail "up after the failed verify failed"; }
expect_path up4 full "the last run failed \(verify failed, exit 50"
echo "dev-converge took $(since "$t0")s"
echo "PASS"
