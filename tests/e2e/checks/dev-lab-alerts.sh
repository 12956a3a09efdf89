#!/usr/bin/env bash
# dev's stack from the outside (was the middle of lab.sh): every scrape target
# up (checked over HTTPS from here) → inject errors into the application →
# OrdersHighErrorRatio reaches dev's four receivers, served by the harness:
# e-mail (a real SMTP server, smtp_sink.py), webhook, Slack-compatible chat
# and PagerDuty Events API v2 (webhook_sink.py), each message naming the
# alert, the environment and an existing runbook section, once → `obsctl
# silence` holds off every notification for a whole repeat interval (while
# it holds: every endpoint refuses requests without credentials,
# auth_checks.sh, and every dashboard query returns data) → expire → the
# repeat arrives → clear → each receiver gets the resolved message, nothing
# twice. One fault serves the first notification and the silence, so the
# check waits for `for:` once and for the resolution once (its phases print
# their seconds). Leaves dev as it found it: no fault injected, no silence
# active.
# env: dev
# needs: webhook smtp
# leaves: as-found
source "$(dirname "$0")/lib.sh"
ALERT_BOUND=${ALERT_BOUND:-240}      # seconds from fault injection to the webhook
RESOLVE_BOUND=${RESOLVE_BOUND:-300}  # seconds from clearing the fault to "resolved"
ALERT=OrdersHighErrorRatio
: "${ALERTS:?}" "${MAIL:?}"
# notifications.py: what the four receivers got about $ALERT (see its header).
notes() { python3 tests/e2e/notifications.py "$ALERTS" "$MAIL" "$ALERT" "$ENV" "$@"; }
inject() { scurl "$ENV" -fsS -X PUT -H 'Content-Type: application/json' -d '{"error_ratio": 0.5, "latency_ms": 0}' "https://$app:$(port app_port)/admin/faults" >/dev/null; }
clear_fault() { scurl "$ENV" -fsS -X DELETE "https://$app:$(port app_port)/admin/faults" >/dev/null; }
# Whatever happens, no fault stays injected and no silence active for the
# checks after this one.
sid=""
auth_pid=""
restore() {
  [ -z "$auth_pid" ] || kill "$auth_pid" 2>/dev/null || true
  clear_fault 2>/dev/null || true
  [ -z "$sid" ] || "$OBSCTL" silence --env "$ENV" expire "$sid" >/dev/null 2>&1 || true
}
trap restore EXIT

# --- targets, checked from here ------------------------------------------------
inv="$WORK/contract.json"
jq .contract ".obsctl/$ENV/deployment.json" >"$inv"
prom=$(jq -r '[.hosts | to_entries[] | select(.value.roles | index("prometheus"))][0].value.address' "$inv")
app=$(jq -r '[.hosts | to_entries[] | select(.value.roles | index("app"))][0].value.address' "$inv")
port() { jq -r ".all.vars.$1" ".obsctl/$ENV/inventory.json"; } # the registry's ports, as obsctl passed them
PROM="https://$prom:$(port prometheus_port)"
say "scrape targets on $PROM"
targets=$(scurl "$ENV" -fsS "$PROM/api/v1/targets?state=active")
hosts=$(jq -r '.hosts | length' "$inv")
for job in prometheus alertmanager node orders-api; do
  n=$(jq --arg j "$job" '[.data.activeTargets[] | select(.labels.job==$j and .health=="up")] | length' <<<"$targets")
  [ "$n" -ge 1 ] || fail "no healthy target for job $job"
  echo "  $job: $n up"
done
node_up=$(jq '[.data.activeTargets[] | select(.labels.job=="node" and .health=="up")] | length' <<<"$targets")
[ "$node_up" = "$hosts" ] || fail "node_exporter up on $node_up of $hosts hosts"
down=$(jq '[.data.activeTargets[] | select(.health!="up")] | length' <<<"$targets")
[ "$down" = 0 ] || fail "$down targets not up: $(jq -c '[.data.activeTargets[] | select(.health!="up") | {job: .labels.job, host: .labels.host, err: .lastError}]' <<<"$targets")"
scurl "$ENV" -fsS "https://$prom:$(port alertmanager_port)/-/ready" >/dev/null || fail "Alertmanager not ready"
scurl "$ENV" -fsS "https://$app:$(port app_port)/healthz" >/dev/null || fail "orders-api not healthy"

query() { scurl "$ENV" -fsS --get "$PROM/api/v1/query" --data-urlencode "query=$1" | jq '.data.result | length'; }

# --- alert flow: four receivers, then a maintenance silence on the same fault --
# One injected fault serves both: the first notification, then a silence
# held for a whole repeat interval (TLS/auth checks and dashboard queries
# run meanwhile: they need neither a quiet Alertmanager nor a quiet app),
# expire, the repeat arrives, clear, resolved once.
repeat=$(jq -r .all.vars.alertmanager_repeat_interval ".obsctl/$ENV/inventory.json")
group_interval=$(jq -r .all.vars.alertmanager_group_interval ".obsctl/$ENV/inventory.json")
secs() { awk -v d="$1" 'BEGIN { n = d + 0; u = substr(d, length(d)); print n * (u == "m" ? 60 : u == "h" ? 3600 : 1) }'; }
hold=$(( $(secs "$repeat") + $(secs "$group_interval") + 15 ))
[ "$hold" -le 400 ] || fail "$ENV's repeat_interval is $repeat: too long to hold a silence over it here (environments/$ENV.toml)"

say "inject errors: PUT /admin/faults error_ratio=0.5"
inject
t0=$(date +%s.%N)
fired=$(notes wait firing "$t0" "$ALERT_BOUND") || fail "$ALERT did not reach every receiver within ${ALERT_BOUND}s (HTTP sink: $(cat "$SINK_LOG"); SMTP: $(cat "$SMTP_LOG"))"
echo "$ALERT firing, seconds from fault injection to each receiver: $fired"
mail=$(jq -r --arg a "$ALERT" --argjson t "$t0" 'select((.headers.Subject | contains($a)) and .received_at >= $t) | .file' "$MAIL/messages.jsonl" | head -1)
echo "--- the firing e-mail as received ($mail): headers and text part"
tr -d '\r' <"$MAIL/$mail" | sed -n '/^$/q;p' | grep -E '^(Subject|From|To|Date|Message-Id|Content-Type|MIME-Version):'
jq -r --arg f "$mail" 'select(.file==$f) | .text' "$MAIL/messages.jsonl"
echo "--- end of e-mail"

say "silence $ALERT while it fires: nothing for ${hold}s (repeat_interval $repeat + group_interval $group_interval + 15s)"
"$OBSCTL" --output json silence --env "$ENV" add "alertname=$ALERT" --duration 30m --comment "tests/e2e/checks/dev-lab-alerts.sh: silence test" >"$WORK/silence.jsonl" \
  || { cat "$WORK/silence.jsonl"; fail "obsctl silence add failed"; }
t3=$(date +%s.%N)
sid=$(jq -r 'select(.event=="summary") | .id' "$WORK/silence.jsonl")
"$OBSCTL" silence --env "$ENV" list | grep -q "$sid .*active" || fail "silence $sid is not listed as active: $("$OBSCTL" silence --env "$ENV" list)"
# Up to the silence, each receiver got the firing message once.
counts=$(notes count "$t0" "$t3")
bad=$(jq -c 'to_entries | map(select(.value.firing != 1 or .value.resolved != 0)) | from_entries' <<<"$counts")
[ "$bad" = "{}" ] || fail "each receiver must get $ALERT once firing before the silence: $counts"
first=$(jq -c --argjson t "$t0" 'select(.kind=="webhook" and .received_at >= $t) | select(.alerts[]? | .labels.alertname=="'"$ALERT"'") | .alerts[] | select(.labels.alertname=="'"$ALERT"'") | .labels' "$ALERTS" | head -1)
[ "$(jq -r .env <<<"$first")" = "$ENV" ] || fail "alert lacks env=$ENV: $first"
[ "$(jq -r '.replica // "dropped"' <<<"$first")" = dropped ] || fail "replica label reached Alertmanager: $first"

# While the silence holds: TLS and authentication of every endpoint (in the
# background, its output printed below) and every dashboard query (they
# need the errors the fault makes).
tests/e2e/auth_checks.sh "$ENV" >"$WORK/auth.log" 2>&1 &
auth_pid=$!
say "every dashboard query returns data (components without $WITHOUT)"
if [ -f tests/static/dashboards.py ]; then
  checked=0; empty=()
  while IFS= read -r line; do
    expr=$(jq -r .expr <<<"$line"); title=$(jq -r '"\(.dashboard) / \(.panel) [\(.ref_id)]"' <<<"$line")
    n=$(query "$expr") || fail "query failed for $title: $expr"
    checked=$((checked + 1))
    [ "$n" -gt 0 ] || empty+=("$title: $expr")
  done < <("$ROOT/.obsctl/venv/bin/python" tests/static/dashboards.py --list-promql \
           | jq -c --arg w "$WITHOUT" '($w | split(",")) as $off | select((.jobs - $off) == .jobs)')
  [ ${#empty[@]} -eq 0 ] || { printf '  no data: %s\n' "${empty[@]}"; fail "${#empty[@]} of $checked dashboard queries returned no data"; }
  echo "$checked dashboard queries returned data ($(since "$t3")s into the silence)"
  [ "$checked" -gt 10 ] || fail "only $checked dashboard queries checked"
else
  fail "tests/static/dashboards.py is missing"
fi
auth_rc=0
wait "$auth_pid" || auth_rc=$?
auth_pid=""
cat "$WORK/auth.log"
[ "$auth_rc" = 0 ] || fail "TLS and authentication checks failed (tests/e2e/auth_checks.sh)"
echo "(TLS and authentication checks done $(since "$t3")s into the silence)"
left=$(awk -v t="$t3" -v h="$hold" -v n="$(now)" 'BEGIN { l = t + h - n; printf "%d", (l > 0 ? l + 1 : 0) }')
sleep "$left"
counts=$(notes count "$t3" "$(date +%s.%N)")
[ "$(jq '[.[] | .firing + .resolved] | add' <<<"$counts")" = 0 ] || fail "notifications arrived while silence $sid held: $counts"
echo "no notification for $(since "$t3")s while silence $sid held"

say "expire the silence: the repeat arrives"
"$OBSCTL" silence --env "$ENV" expire "$sid" >/dev/null || fail "obsctl silence expire $sid failed"
sid=""
t4=$(date +%s.%N)
back=$(notes wait firing "$t4" 120) || fail "$ALERT did not come back within 120s after the silence was expired"
echo "after expiring the silence, $ALERT arrived again after: $back"

say "clear the fault: DELETE /admin/faults"
clear_fault
t1=$(date +%s.%N)
resolved=$(notes wait resolved "$t1" "$RESOLVE_BOUND") || fail "$ALERT was not resolved at every receiver within ${RESOLVE_BOUND}s"
echo "$ALERT resolved, seconds from clearing to each receiver: $resolved"
sleep 5   # anything sent twice would arrive now
counts=$(notes count "$t4" "$(date +%s.%N)")
bad=$(jq -c 'to_entries | map(select(.value.firing != 1 or .value.resolved != 1)) | from_entries' <<<"$counts")
[ "$bad" = "{}" ] || fail "after the silence each receiver must get $ALERT once firing and once resolved: $counts"
echo "after the silence each receiver got one firing and one resolved message: $counts"
printf "PASS\n  firing after (s): %s\n  resolved after (s): %s\n  silence held: %ss\n" "$fired" "$resolved" "$hold"
