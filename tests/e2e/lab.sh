#!/usr/bin/env bash
# End-to-end test on real lab machines: real Terraform, systemd-nspawn
# machines, real Ansible, real Prometheus and Alertmanager.
#
#   up --env dev → every scrape target up (checked over HTTPS from here)
#   → every endpoint refuses requests without credentials (auth_checks.sh)
#   → dashboard queries return data → inject errors into the application →
#   OrdersHighErrorRatio reaches dev's four receivers, served here: e-mail
#   (a real SMTP server, smtp_sink.py), webhook, Slack-compatible chat and
#   PagerDuty Events API v2 (webhook_sink.py), each message naming the alert,
#   the environment and an existing runbook section → clear → each gets the
#   resolved message, nothing twice → inject again → `obsctl silence` holds
#   off every notification for a whole repeat interval → expire → the next
#   notification arrives → clear → second up (its maintenance silence is
#   expired at the end) changes nothing → status healthy → destroy →
#   nothing left → second destroy is a no-op.
#
# E2E_ARTIFACTS=DIR keeps the received e-mails and notifications there.
#
# Grafana, Loki and Promtail cannot be installed on machines without access
# to Grafana's APT repository; WITHOUT (default grafana,loki,promtail) leaves
# them out. Under CI=true a missing prerequisite fails the test; elsewhere it
# skips.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ENV=dev
WITHOUT=${WITHOUT-grafana,loki,promtail}
OBSCTL="$ROOT/target/release/obsctl"
WORK=$(mktemp -d /tmp/obsctl-e2e.XXXXXX)
ALERT_BOUND=${ALERT_BOUND:-240}      # seconds from fault injection to the webhook
RESOLVE_BOUND=${RESOLVE_BOUND:-300}  # seconds from clearing the fault to "resolved"
SINK_PORT=9099
SMTP_PORT=2525
ALERT=OrdersHighErrorRatio

source "$ROOT/tests/e2e/lib.sh"
require_lab jq curl python3
# Debian's python3-aiosmtpd is installed for the system's Python.
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || prereq "python3-aiosmtpd (apt-get install python3-aiosmtpd; tests/setup.sh installs it)"

cleanup() {
  local rc=$?
  [ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null || true
  [ -n "${SMTP_PID:-}" ] && kill "$SMTP_PID" 2>/dev/null || true
  if [ -n "${E2E_ARTIFACTS:-}" ]; then
    mkdir -p "$E2E_ARTIFACTS" && cp -r "$WORK/mail" "$WORK/alerts.jsonl" "$E2E_ARTIFACTS/" 2>/dev/null || true
  fi
  if [ $rc -ne 0 ]; then
    echo "--- test failed (exit $rc); tearing the lab down. Run logs: $ROOT/.obsctl/$ENV/runs/" >&2
    "$OBSCTL" destroy --env "$ENV" --auto-approve >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

build_obsctl

say "receivers: HTTP sink (webhook, chat, paging) on :$SINK_PORT, SMTP server on :$SMTP_PORT"
python3 tests/e2e/webhook_sink.py 0.0.0.0 "$SINK_PORT" "$WORK/alerts.jsonl" >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
/usr/bin/python3 tests/e2e/smtp_sink.py 0.0.0.0 "$SMTP_PORT" "$WORK/mail" >"$WORK/smtp.log" 2>&1 &
SMTP_PID=$!
sleep 1
kill -0 "$SINK_PID" 2>/dev/null || fail "HTTP sink did not start (port $SINK_PORT busy?): $(cat "$WORK/sink.log")"
kill -0 "$SMTP_PID" 2>/dev/null || fail "SMTP sink did not start (port $SMTP_PORT busy?): $(cat "$WORK/smtp.log")"
# notifications.py: what the four receivers got about $ALERT (see its header).
notes() { python3 tests/e2e/notifications.py "$WORK/alerts.jsonl" "$WORK/mail" "$ALERT" "$ENV" "$@"; }
inject() { scurl "$ENV" -fsS -X PUT -H 'Content-Type: application/json' -d '{"error_ratio": 0.5, "latency_ms": 0}' "https://$app:8080/admin/faults" >/dev/null; }
clear_fault() { scurl "$ENV" -fsS -X DELETE "https://$app:8080/admin/faults" >/dev/null; }

# --- cold up -----------------------------------------------------------------
say "obsctl up --env $ENV --without $WITHOUT (cold)"
python3 tests/e2e/leak_scan.py sample "$WORK/cmdlines" & LEAK_SAMPLER=$!   # every process's command line during up, for the leak scan
start=$(date +%s.%N)
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json >"$WORK/up1.jsonl" || { cat "$WORK/up1.jsonl"; fail "cold up failed"; }
cold=$(awk -v s="$start" -v e="$(date +%s.%N)" "BEGIN{printf \"%.1f\", e-s}")
summary=$(jq -c 'select(.event=="summary")' "$WORK/up1.jsonl")
[ "$(jq -r .ok <<<"$summary")" = true ] || fail "up summary not ok: $summary"
echo "cold up: ${cold}s; phases: $(jq -c .timings <<<"$summary")"
expect_release "$summary" 13   # dev runs Debian 13 (environments/dev.toml)
python3 tests/e2e/leak_scan.py scan --env "$ENV" --cmdlines "$WORK/cmdlines" --stop "$LEAK_SAMPLER" || fail "leak scan: a generated secret is readable where it must not be (above)"

# --- the contract: the lab stack's real output against the JSON Schema ----------
python3 "$ROOT/tests/static/contract_schema.py" --terraform ".obsctl/$ENV" lab || fail "the lab stack's obsctl_inventory breaks docs/contract.schema.json"

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
tests/e2e/auth_checks.sh "$ENV" || fail "TLS and authentication checks failed (tests/e2e/auth_checks.sh)"

query() { scurl "$ENV" -fsS --get "$PROM/api/v1/query" --data-urlencode "query=$1" | jq '.data.result | length'; }

# --- alert flow: four receivers ---------------------------------------------------
say "inject errors: PUT /admin/faults error_ratio=0.5"
inject
t0=$(date +%s.%N)
fired=$(notes wait firing "$t0" "$ALERT_BOUND") || fail "$ALERT did not reach every receiver within ${ALERT_BOUND}s (HTTP sink: $(cat "$WORK/sink.log"); SMTP: $(cat "$WORK/smtp.log"))"
echo "$ALERT firing, seconds from fault injection to each receiver: $fired"
first=$(jq -c 'select(.kind=="webhook") | select(.alerts[]? | .labels.alertname=="'"$ALERT"'") | .alerts[] | select(.labels.alertname=="'"$ALERT"'") | .labels' "$WORK/alerts.jsonl" | head -1)
[ "$(jq -r .env <<<"$first")" = "$ENV" ] || fail "alert lacks env=$ENV: $first"
[ "$(jq -r '.replica // "dropped"' <<<"$first")" = dropped ] || fail "replica label reached Alertmanager: $first"
mail=$(jq -r --arg a "$ALERT" 'select(.headers.Subject | contains($a)) | .file' "$WORK/mail/messages.jsonl" | head -1)
echo "--- the firing e-mail as received ($mail): headers and text part"
tr -d '\r' <"$WORK/mail/$mail" | sed -n '/^$/q;p' | grep -E '^(Subject|From|To|Date|Message-Id|Content-Type|MIME-Version):'
jq -r --arg f "$mail" 'select(.file==$f) | .text' "$WORK/mail/messages.jsonl"
echo "--- end of e-mail"

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
  echo "$checked dashboard queries returned data"
  [ "$checked" -gt 10 ] || fail "only $checked dashboard queries checked"
else
  fail "tests/static/dashboards.py is missing"
fi

say "clear the fault: DELETE /admin/faults"
clear_fault
t1=$(date +%s.%N)
resolved=$(notes wait resolved "$t1" "$RESOLVE_BOUND") || fail "$ALERT was not resolved at every receiver within ${RESOLVE_BOUND}s"
echo "$ALERT resolved, seconds from clearing to each receiver: $resolved"
sleep 5   # anything sent twice would arrive now
counts=$(notes count "$t0" "$(date +%s.%N)")
bad=$(jq -c 'to_entries | map(select(.value.firing != 1 or .value.resolved != 1)) | from_entries' <<<"$counts")
[ "$bad" = "{}" ] || fail "each receiver must get $ALERT once firing and once resolved: $counts"
echo "each receiver got one firing and one resolved message: $counts"

# --- maintenance silence ----------------------------------------------------------
repeat=$(awk -F'"' '/^repeat_interval/ {print $2}' "environments/$ENV.toml")
group_interval=$(awk -F'"' '/^group_interval/ {print $2}' "environments/$ENV.toml")
secs() { awk -v d="$1" 'BEGIN { n = d + 0; u = substr(d, length(d)); print n * (u == "m" ? 60 : u == "h" ? 3600 : 1) }'; }
hold=$(( $(secs "$repeat") + $(secs "$group_interval") + 15 ))
say "silence: inject again, silence $ALERT, nothing for ${hold}s (repeat_interval $repeat + group_interval $group_interval), expire, it comes back"
inject
t2=$(date +%s.%N)
notes wait firing "$t2" "$ALERT_BOUND" >/dev/null || fail "$ALERT did not fire again within ${ALERT_BOUND}s"
"$OBSCTL" --output json silence --env "$ENV" add "alertname=$ALERT" --duration 30m --comment "tests/e2e/lab.sh: silence test" >"$WORK/silence.jsonl" \
  || { cat "$WORK/silence.jsonl"; fail "obsctl silence add failed"; }
t3=$(date +%s.%N)
sid=$(jq -r 'select(.event=="summary") | .id' "$WORK/silence.jsonl")
"$OBSCTL" silence --env "$ENV" list | grep -q "$sid .*active" || fail "silence $sid is not listed as active: $("$OBSCTL" silence --env "$ENV" list)"
sleep "$hold"
counts=$(notes count "$t3" "$(date +%s.%N)")
[ "$(jq '[.[] | .firing + .resolved] | add' <<<"$counts")" = 0 ] || fail "notifications arrived while silence $sid held: $counts"
echo "no notification for ${hold}s while silence $sid held"
"$OBSCTL" silence --env "$ENV" expire "$sid" >/dev/null || fail "obsctl silence expire $sid failed"
t4=$(date +%s.%N)
back=$(notes wait firing "$t4" 120) || fail "$ALERT did not come back within 120s after the silence was expired"
echo "after expiring the silence, $ALERT arrived again after: $back"
clear_fault
notes wait resolved "$(date +%s.%N)" "$RESOLVE_BOUND" >/dev/null || fail "$ALERT was not resolved after the silence test"

# --- no-op up -------------------------------------------------------------------------
say "second up changes nothing"
start=$(date +%s.%N)
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json >"$WORK/up2.jsonl" || { cat "$WORK/up2.jsonl"; fail "second up failed"; }
noop=$(awk -v s="$start" -v e="$(date +%s.%N)" "BEGIN{printf \"%.1f\", e-s}")
summary=$(jq -c 'select(.event=="summary")' "$WORK/up2.jsonl")
changed=$(jq -r .changed_tasks <<<"$summary")
[ "$changed" = 0 ] || fail "second up changed $changed Ansible tasks (idempotence): $(jq -c 'select(.event=="phase_end" and .phase=="ansible") | .changed_tasks' "$WORK/up2.jsonl")"
tf_changes=$(jq -c 'select(.event=="phase_end" and .phase=="terraform") | .add + .change + .destroy' "$WORK/up2.jsonl")
[ "$tf_changes" = 0 ] || fail "second up changed $tf_changes Terraform resources"
echo "no-op up: ${noop}s, 0 changed tasks, 0 Terraform changes"
# dev has silence_during_up: the run silenced its hosts and expired that silence at the end.
for what in "silenced alerts of" "expired the maintenance silence"; do
  # -s and any(): jq 1.6's -e judges only the last line of a stream, which is the summary.
  jq -e -s --arg w "$what" 'any(.[]; .event=="step" and .phase=="maintenance" and (.message | startswith($w)))' "$WORK/up2.jsonl" >/dev/null \
    || fail "second up: no maintenance step \"$what …\" (silence_during_up = true in environments/$ENV.toml)"
done
"$OBSCTL" silence --env "$ENV" list | grep -q '^0 silence' || fail "a silence is still active after up: $("$OBSCTL" silence --env "$ENV" list)"
echo "up's maintenance silence was set and expired; no silence left active"

say "status is healthy"
"$OBSCTL" status --env "$ENV" >"$WORK/status.txt" || { cat "$WORK/status.txt"; fail "status reports unhealthy"; }
tail -1 "$WORK/status.txt"

# --- drift: a stopped service and a hand-edited config ----------------------------
SSH=(ssh -i ".obsctl/$ENV/ssh/id_ed25519" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR)
say "stop node_exporter on app-1: status names it and exits non-zero"
"${SSH[@]}" "root@$app" systemctl stop prometheus-node-exporter
rc=0; "$OBSCTL" status --env "$ENV" >"$WORK/status.txt" || rc=$?
[ "$rc" = 50 ] || { cat "$WORK/status.txt"; fail "status exited $rc with a service stopped (expected 50)"; }
grep -Eq '^app-1 +node_exporter +DOWN' "$WORK/status.txt" || { cat "$WORK/status.txt"; fail "status does not name app-1 node_exporter as DOWN"; }
tail -1 "$WORK/status.txt"

say "edit prometheus.yml on mon-1 by hand: plan reports drift in that task, exit 2"
"${SSH[@]}" "root@$prom" "sed -i 's/^  scrape_interval: .*/  scrape_interval: 59s/' /etc/prometheus/prometheus.yml"
rc=0; "$OBSCTL" plan --env "$ENV" >"$WORK/plan.txt" 2>"$WORK/plan.err" || rc=$?
[ "$rc" = 2 ] || { cat "$WORK/plan.txt" "$WORK/plan.err"; fail "plan exited $rc on drift (expected 2)"; }
grep -q "mon-1: prometheus : Write prometheus.yml" "$WORK/plan.txt" || { cat "$WORK/plan.txt"; fail "plan does not name the drifted task"; }
grep -q "app-1: node_exporter : Enable and start node_exporter" "$WORK/plan.txt" || { cat "$WORK/plan.txt"; fail "plan does not name the stopped service"; }
cat "$WORK/plan.txt"

say "up converges; plan is in sync again"
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json >"$WORK/up3.jsonl" || { cat "$WORK/up3.jsonl"; fail "converging up failed"; }
"$OBSCTL" plan --env "$ENV" >"$WORK/plan.txt" 2>"$WORK/plan.err" || { cat "$WORK/plan.txt" "$WORK/plan.err"; fail "plan not in sync after up"; }
grep -q "in sync" "$WORK/plan.txt" || fail "plan output does not say in sync: $(cat "$WORK/plan.txt")"
"$OBSCTL" status --env "$ENV" >/dev/null || fail "status unhealthy after converging"

# --- destroy -------------------------------------------------------------------------
say "destroy"
start=$(date +%s.%N)
"$OBSCTL" destroy --env "$ENV" --auto-approve || fail "destroy failed"
destroy_s=$(awk -v s="$start" -v e="$(date +%s.%N)" "BEGIN{printf \"%.1f\", e-s}")
pgrep -f "systemd-nspawn .*/envs/$ENV/" && fail "lab machines still running"
grep -q "/envs/$ENV/" /proc/mounts && fail "overlay mounts left: $(grep "/envs/$ENV/" /proc/mounts)"
ip link show obs-dev >/dev/null 2>&1 && fail "bridge obs-dev left"
pgrep -f "apt-cacher-ng -c /var/lib/obsctl/lab/envs/$ENV/" && fail "apt cache still running"
[ ! -e "/var/lib/obsctl/lab/envs/$ENV" ] || fail "lab directory left: $(find /var/lib/obsctl/lab/envs/$ENV | head)"
[ ! -e ".obsctl/$ENV/inventory.json" ] || fail "inventory left behind"
out=$("$OBSCTL" destroy --env "$ENV" --auto-approve 2>&1) || fail "second destroy failed: $out"
grep -q "nothing to destroy" <<<"$out" || fail "second destroy was not a no-op: $out"

say "PASS"
printf '  cold up:   %6.1fs\n  no-op up:  %6.1fs\n  destroy:   %6.1fs\n  firing after (s): %s\n  resolved after (s): %s\n' "$cold" "$noop" "$destroy_s" "$fired" "$resolved"
