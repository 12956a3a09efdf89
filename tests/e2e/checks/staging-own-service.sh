#!/usr/bin/env bash
# Your own service as data (issue 31, docs/own-services.md), on staging's
# app-1 (a host obsctl created; hosts it did not create are another check):
#   nginx and Debian's prometheus-nginx-exporter are installed by hand over
#   SSH, as a user would; then, with only lines in the env file and files in
#   a user folder (monitoring/<env>/):
#   1. `up` scrapes the exporter on every Prometheus, the user's rule is
#      loaded, the dashboard and the log glob are in what the roles get;
#   2. nginx stopped: the user's alert (with a passing promtool test) reaches
#      the webhook once (2 Prometheus, 3 Alertmanagers), and resolves when
#      nginx starts again;
#   3. refusals, each exit 10 before anything changes on the hosts: a broken
#      rule file, a failing rule test, invalid dashboard JSON, a job named like
#      a built-in one, a target a built-in job scrapes (prometheus.yml and the rules on the Prometheus hosts are
#      unchanged);
#   4. a second `up` takes the fast path; with a rule file edited, `plan`
#      lists it as changed (the job and dashboard unchanged) and the next
#      `up` applies it.
# The env file and the user folder are restored at the end and one more `up`
# puts staging back as it found it (nginx and its exporter are stopped).
# Prints each step's duration.
# env: staging
# needs:
# leaves: as-found
# changes-checkout: environments/staging.toml monitoring/staging
source "$(dirname "$0")/lib.sh"
: "${ALERTS:?}"
ENV_FILE="environments/$ENV.toml"
USER_DIR="monitoring/$ENV"
ALERT=NginxDownOwnService
cp "$ENV_FILE" "$WORK/env.toml"
[ ! -e "$USER_DIR" ] || fail "$USER_DIR exists already; this check creates and removes it"
restore() { cp "$WORK/env.toml" "$ENV_FILE"; rm -rf "$USER_DIR"; rmdir monitoring 2>/dev/null || true; }
trap restore EXIT

inventory="$STATE/inventory.json"
addr() { jq -r --arg h "$1" '.all.hosts[$h].ansible_host' "$inventory"; }
mapfile -t PROMS < <(jq -r '.all.children.prometheus.hosts | keys[]' "$inventory")
APP_HOST=app-1
on() { local host=$1; shift; ssh -i "$STATE/ssh/id_ed25519" -o BatchMode=yes -o LogLevel=ERROR -o StrictHostKeyChecking=yes \
  -o UserKnownHostsFile="$STATE/ssh/known_hosts" "root@$(addr "$host")" "$@"; }
PW=$(cat "$STATE/secrets/web_obsctl_password")
query() { # query HOST PROMQL → the result vector as JSON
  curl -sf --cacert "$STATE/tls/ca.crt" -u "obsctl:$PW" "https://$(addr "$1"):9090/api/v1/query" --data-urlencode "query=$2" | jq -c .data.result
}
rules_of() { curl -sf --cacert "$STATE/tls/ca.crt" -u "obsctl:$PW" "https://$(addr "$1"):9090/api/v1/rules?type=alert" |
  jq -c --arg a "$ALERT" '[.data.groups[].rules[] | select(.name==$a) | .duration]'; }
up_run() { # up_run NAME [ARGS]: up, its JSON events in $WORK/NAME.jsonl, its status echoed
  local name=$1 rc=0; shift
  "$OBSCTL" up --env "$ENV" --without "$WITHOUT" --auto-approve --output json "$@" >"$WORK/$name.jsonl" 2>"$WORK/$name.err" </dev/null || rc=$?
  echo "$rc"
}
configs() { for h in "${PROMS[@]}"; do on "$h" 'sha1sum /etc/prometheus/prometheus.yml /etc/prometheus/rules/*'; done; }
t_all=$(now)

say "1. nginx and its exporter on $APP_HOST, by hand"
t=$(now)
on "$APP_HOST" 'set -e; export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q nginx prometheus-nginx-exporter >/dev/null
  printf "server {\n  listen 127.0.0.1:8099;\n  location = /stub_status { stub_status; }\n}\n" >/etc/nginx/sites-enabled/stub-status
  echo "ARGS=\"--nginx.scrape-uri=http://127.0.0.1:8099/stub_status\"" >/etc/default/prometheus-nginx-exporter
  systemctl restart nginx
  # Debian 12'"'"'s exporter (0.11) exits at start when stub_status does not answer yet.
  for i in $(seq 1 15); do systemctl restart prometheus-nginx-exporter && break; sleep 1; done
  systemctl is-active --quiet prometheus-nginx-exporter'
echo "  installed in $(since "$t") s"

mkdir -p "$USER_DIR/rules" "$USER_DIR/dashboards"
cat >"$USER_DIR/rules/nginx.rules.yml" <<EOF
groups:
  - name: nginx
    rules:
      - alert: $ALERT
        expr: nginx_up{job="nginx"} == 0
        for: 10s
        labels:
          severity: warning
        annotations:
          summary: "nginx on {{ \$labels.host }} is down"
          runbook_url: "https://wiki.example.com/runbooks/nginx"
EOF
cat >"$USER_DIR/rules/nginx.test.yml" <<EOF
rule_files: [nginx.rules.yml]
evaluation_interval: 10s
tests:
  - interval: 10s
    input_series:
      - series: 'nginx_up{job="nginx", host="app-1"}'
        values: "0x10"
    alert_rule_test:
      - eval_time: 30s
        alertname: $ALERT
        exp_alerts:
          - exp_labels: {severity: warning, job: nginx, host: app-1}
            exp_annotations: {summary: "nginx on app-1 is down", runbook_url: "https://wiki.example.com/runbooks/nginx"}
EOF
cat >"$USER_DIR/dashboards/nginx.json" <<'EOF'
{"uid": "own-nginx", "title": "nginx", "schemaVersion": 39,
 "panels": [{"title": "connections", "type": "timeseries", "targets": [{"expr": "sum by (host) (rate(nginx_http_requests_total{job=~\"$job\"}[$__rate_interval]))"}]}]}
EOF
cat >>"$ENV_FILE" <<EOF

[user]
rules_dir = "../$USER_DIR/rules"
dashboards_dir = "../$USER_DIR/dashboards"

[[scrape_jobs]]
name = "nginx"
targets = ["$APP_HOST:9113"]
labels = { service = "nginx" }

[[logs]]
hosts = ["$APP_HOST"]
files = ["/var/log/nginx/*.log"]
units = ["nginx.service"]
labels = { service = "nginx" }
EOF

say "2. up with the user's job, rule, dashboard and log files"
t=$(now)
rc=$(up_run own-up)
[ "$rc" = 0 ] || fail "up with the user's files: exit $rc: $(tail -5 "$WORK/own-up.err")"
expect_path own-up full
for h in "${PROMS[@]}"; do
  ok=""
  for _ in $(seq 1 30); do
    [ "$(query "$h" 'up{job="nginx"}' | jq -r '.[0].value[1] // empty')" = 1 ] && { ok=1; break; }
    sleep 2
  done
  [ -n "$ok" ] || fail "$h: the user's job nginx is not up: $(query "$h" 'up{job="nginx"}')"
  [ "$(rules_of "$h")" = "[10]" ] || fail "$h: the user's alert $ALERT is not loaded as written: $(rules_of "$h")"
done
jq -e '.all.vars.grafana_user_dashboards | map(.name) == ["user-nginx.json"]' "$inventory" >/dev/null ||
  fail "the dashboard is not in what the grafana role gets: $(jq -c .all.vars.grafana_user_dashboards "$inventory")"
jq -e --arg h "$APP_HOST" '.all.hosts[$h].obsctl_user_logs[0].files == ["/var/log/nginx/*.log"]' "$inventory" >/dev/null ||
  fail "the log glob is not in what the log agent's role gets for $APP_HOST"
echo "  scraped and up on ${PROMS[*]}; rule loaded; dashboard and logs handed to their roles ($(since "$t") s)"

say "3. nginx stopped: $ALERT reaches the webhook once, then resolves"
t=$(now)
firing() { jq -c --arg a "$ALERT" 'select(.kind=="webhook" and .path=="/alerts") | select(any(.alerts[]; .labels.alertname==$a and .status==$s))' --arg s "$1" "$ALERTS" 2>/dev/null | wc -l; }
on "$APP_HOST" systemctl stop nginx
for _ in $(seq 1 60); do [ "$(firing firing)" -ge 1 ] && break; sleep 2; done
[ "$(firing firing)" -ge 1 ] || fail "$ALERT did not reach the webhook within 120 s of nginx stopping"
echo "  fired after $(since "$t") s"
sleep 20   # shorter than group_interval: any second notification now is a duplicate
[ "$(firing firing)" = 1 ] || fail "$ALERT reached the webhook $(firing firing) times (2 Prometheus, 3 Alertmanagers must make it once)"
on "$APP_HOST" systemctl start nginx
for _ in $(seq 1 60); do [ "$(firing resolved)" -ge 1 ] && break; sleep 2; done
[ "$(firing resolved)" -ge 1 ] || fail "$ALERT did not resolve within 120 s of nginx starting"
echo "  once, resolved after $(since "$t") s in all"

say "4. refusals: exit 10 before anything changes on the hosts"
t=$(now)
configs >"$WORK/configs.before"
refuse() { # refuse NAME MESSAGE-REGEX
  local rc; rc=$(up_run "$1")
  [ "$rc" = 10 ] || fail "$1: exit $rc, expected 10: $(tail -5 "$WORK/$1.err")"
  grep -Eq -- "$2" "$WORK/$1.jsonl" "$WORK/$1.err" || fail "$1: no message matches /$2/: $(tail -5 "$WORK/$1.jsonl")"
  echo "  $1: exit 10 ($(grep -Eho -- "$2" "$WORK/$1.jsonl" "$WORK/$1.err" | head -1))"
}
printf 'groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: up ==\n' >"$USER_DIR/rules/broken.rules.yml"
refuse broken-rule 'broken\.rules\.yml: ?[0-9]+:[0-9]+'
rm "$USER_DIR/rules/broken.rules.yml"
cp "$USER_DIR/rules/nginx.test.yml" "$WORK/test.yml"
sed -i 's/severity: warning, job: nginx/severity: critical, job: nginx/' "$USER_DIR/rules/nginx.test.yml"
refuse failing-test 'nginx\.test\.yml fails'
cp "$WORK/test.yml" "$USER_DIR/rules/nginx.test.yml"
echo '{"uid": "own-broken", ' >"$USER_DIR/dashboards/broken.json"
refuse invalid-dashboard 'broken\.json is not JSON'
rm "$USER_DIR/dashboards/broken.json"
sed -i 's/^name = "nginx"$/name = "node"/' "$ENV_FILE"
refuse clashing-job 'is a built-in job of obsctl'
sed -i 's/^name = "node"$/name = "nginx"/' "$ENV_FILE"
sed -i "s/^targets = \[\"$APP_HOST:9113\"\]$/targets = [\"$APP_HOST:9113\", \"${PROMS[0]}:9090\"]/" "$ENV_FILE"
refuse built-in-target "scrapes \`${PROMS[0]}:9090\`, which obsctl's built-in job \`prometheus\` already scrapes"
sed -i "s/, \"${PROMS[0]}:9090\"\]$/]/" "$ENV_FILE"
grep -q "^targets = \[\"$APP_HOST:9113\"\]$" "$ENV_FILE" || fail "the env file's targets line was not restored: $(grep '^targets' "$ENV_FILE")"
configs >"$WORK/configs.after"
diff "$WORK/configs.before" "$WORK/configs.after" || fail "a refused up changed the Prometheus hosts' configuration"
echo "  the hosts' prometheus.yml and rules unchanged ($(since "$t") s)"

say "5. nothing changed: fast path; an edited rule: applied"
t=$(now)
rc=$(up_run own-again)
[ "$rc" = 0 ] || fail "up again: exit $rc"
expect_path own-again fast
sed -i 's/for: 10s/for: 20s/' "$USER_DIR/rules/nginx.rules.yml"
sed -i 's/eval_time: 30s/eval_time: 40s/' "$USER_DIR/rules/nginx.test.yml"
# plan lists the user's inputs against what the last up applied (deployment.json's `user`).
t_plan=$(now); rc=0
"$OBSCTL" plan --env "$ENV" --output json >"$WORK/plan.jsonl" 2>"$WORK/plan.err" </dev/null || rc=$?
[ "$rc" = 2 ] || fail "plan with an edited rule file: exit $rc, expected 2 (drift): $(tail -5 "$WORK/plan.err")"
change() { jq -r --arg k "$1" --arg n "$2" 'select(.event=="summary") | .user_inputs[] | select(.kind==$k and .name==$n) | .change' "$WORK/plan.jsonl"; }
[ "$(change "rule file" nginx.rules.yml)" = changed ] || fail "plan: nginx.rules.yml is not listed as changed: $(jq -c 'select(.event=="summary") | .user_inputs' "$WORK/plan.jsonl")"
[ "$(change "rule file" nginx.test.yml)" = changed ] || fail "plan: nginx.test.yml is not listed as changed"
[ "$(change "scrape job" nginx)" = unchanged ] || fail "plan: the unchanged job nginx is not listed as unchanged: $(change "scrape job" nginx)"
[ "$(change dashboard nginx.json)" = unchanged ] || fail "plan: the dashboard is not listed as unchanged"
echo "  plan: exit 2, nginx.rules.yml and nginx.test.yml changed, job nginx and the dashboard unchanged ($(since "$t_plan") s)"
rc=$(up_run own-edited)
[ "$rc" = 0 ] || fail "up with an edited rule: exit $rc"
expect_path own-edited full 'inputs changed'
for h in "${PROMS[@]}"; do [ "$(rules_of "$h")" = "[20]" ] || fail "$h: the edited rule is not applied: $(rules_of "$h")"; done
echo "  ($(since "$t") s)"

say "6. as found: the env file and folder restored, one more up"
t=$(now)
restore
on "$APP_HOST" 'systemctl disable --now nginx prometheus-nginx-exporter >/dev/null 2>&1'
rc=$(up_run restored)
[ "$rc" = 0 ] || fail "up with the env file restored: exit $rc"
for h in "${PROMS[@]}"; do
  [ "$(rules_of "$h")" = "[]" ] || fail "$h: the user's rule is still loaded after it left the env file"
done
echo "  restored ($(since "$t") s); the check took $(since "$t_all") s"
