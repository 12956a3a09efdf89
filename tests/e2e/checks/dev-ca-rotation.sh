#!/usr/bin/env bash
# CA rotation (issue #29): `obsctl renew-certs --rotate-ca` replaces dev's CA
# in three configuration runs (trust both → issue from the new → trust the
# new only) → the controller's CA is new, every host's CA file holds exactly
# it, every host certificate is issued by it → over the whole rotation
# Prometheus' own record shows no target missed a scrape
# (min_over_time(up[w]) == 1; orders-api, restarted at each step because it
# reads its certificate at start, at most one scrape per restart) and no
# alert failed to reach Alertmanager
# (prometheus_notifications_errors_total did not grow) → status is healthy.
# Leaves dev up with the new CA (as-found otherwise).
# env: dev
# needs:
# leaves: as-found
source "$(dirname "$0")/lib.sh"
prometheus_of_env
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
mapfile -t HOSTS < <(jq -r '.hosts | keys[]' "$WORK/contract.json")

say "rotate the CA"
old=$(fingerprint "$STATE/tls/ca.crt")
errors_before=$(promql 'sum(prometheus_notifications_errors_total)' | jq -r '.[0].value[1] // "0"')
t0=$(date +%s)
"$OBSCTL" renew-certs --env "$ENV" --rotate-ca --output json >"$WORK/rotate.jsonl" 2>"$WORK/rotate.err" ||
  fail "renew-certs --rotate-ca failed: $(tail -5 "$WORK/rotate.err"; tail -3 "$WORK/rotate.jsonl")"
t_done=$(date +%s)
jq -r 'select(.event=="info") | .message' "$WORK/rotate.jsonl" | grep -E "^CA rotation, step" | sed 's/^/  /'
[ "$(jq -r 'select(.event=="info") | .message' "$WORK/rotate.jsonl" | grep -c '^CA rotation, step')" = 3 ] ||
  fail "the rotation did not run its three steps: $(jq -c 'select(.event=="info")' "$WORK/rotate.jsonl")"
new=$(fingerprint "$STATE/tls/ca.crt")
echo "  CA $old → $new ($(( t_done - t0 ))s)"
[ "$old" != "$new" ] || fail "the CA is the same after the rotation"
for f in trust.crt ca.old.crt ca.next.crt ca-rotation; do
  [ ! -e "$STATE/tls/$f" ] || fail "the rotation left $STATE/tls/$f behind"
done

say "every host holds the new CA alone, and a certificate it issued"
for h in "${HOSTS[@]}"; do
  "$OBSCTL" ssh --env "$ENV" "$h" -- cat /etc/obsctl/tls/ca.crt >"$WORK/$h.ca.crt" || fail "$h: cannot read its CA file"
  [ "$(grep -c 'BEGIN CERTIFICATE' "$WORK/$h.ca.crt")" = 1 ] || fail "$h: its CA file holds $(grep -c 'BEGIN CERTIFICATE' "$WORK/$h.ca.crt") certificates"
  [ "$(fingerprint "$WORK/$h.ca.crt")" = "$new" ] || fail "$h: its CA file is not the new CA"
  openssl verify -CAfile "$STATE/tls/ca.crt" "$STATE/tls/hosts/$h.crt" >/dev/null || fail "$h: its certificate is not issued by the new CA"
  echo "  $h: CA file = the new CA; certificate verified against it"
done

say "nothing missed during the rotation"
sleep $(( 2 * SCRAPE ))
# Every target but orders-api reads its files per handshake and must miss
# no scrape; orders-api is restarted at each of the three steps (app_scrapes).
no_missed_scrape "$t0" "the rotation" "$(app_job)"
app_scrapes 3 "the rotation"
errors_after=$(promql 'sum(prometheus_notifications_errors_total)' | jq -r '.[0].value[1] // "0"')
echo "  alert sending errors $errors_before → $errors_after"
[ "$errors_after" = "$errors_before" ] || fail "Prometheus failed to send alerts to Alertmanager during the rotation ($errors_before → $errors_after)"
"$OBSCTL" status --env "$ENV" >"$WORK/status.txt" 2>&1 || fail "status is not healthy after the rotation: $(tail -5 "$WORK/status.txt")"
echo "PASS: CA rotated in $(( t_done - t0 ))s (three runs) with min(up) = 1, $COUNTS samples per target over ${SPAN}s, no alert sending error"
