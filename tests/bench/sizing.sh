#!/usr/bin/env bash
# Sizing figures measured on the lab: brings dev up, lets it run, reads what
# Prometheus holds and how fast the orders-api log grows, then destroys dev.
# It prints the figures and writes them as JSON; it asserts nothing.
# docs/scaling.md's sizing table is generated from the JSON it wrote
# (tests/bench/sizing-dev.json) and the environment files (tests/docs/drift.py --write).
#
#   flock -o /work/locks/lab tests/bench/sizing.sh         (shared machine: hold the lab lock)
#   SETTLE=300 OUT=/tmp/sizing.json tests/bench/sizing.sh
#
# Needs root (lab machines). Uses `dev`: anything running in dev is destroyed
# first. Grafana, Loki and Alloy are left out (WITHOUT), as everywhere on
# machines that cannot reach Grafana's APT repository, so their own series
# are not measured. With TLS and basic auth on Prometheus (.obsctl/dev/tls/ca.crt
# and the `obsctl` user's password, .obsctl/dev/secrets/web_obsctl_password), queries use them.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OBSCTL=$ROOT/target/release/obsctl
WITHOUT=${WITHOUT-grafana,loki,alloy}
SETTLE=${SETTLE:-330}   # past Prometheus's 5-minute lookback, so the package's default scrapes (before obsctl's restart) have gone stale
OUT=${OUT:-$ROOT/tests/bench/sizing-dev.json}
work=$(mktemp -d /tmp/obsctl-sizing.XXXXXX)

cargo build --release --locked -q
cargo build --release --locked -q -p orders-api
"$OBSCTL" destroy --env dev --auto-approve >/dev/null 2>&1 || true
cleanup() { "$OBSCTL" destroy --env dev --auto-approve >/dev/null 2>&1 || true; }
trap cleanup EXIT

"$OBSCTL" up --env dev --without "$WITHOUT" --output json >"$work/up.jsonl"
inv=.obsctl/dev/inventory.json
addr() { jq -r --arg h "$1" '.all.hosts[$h].obsctl_private_address // empty' "$inv"; }
mon=$(jq -r '.all.children.prometheus.hosts | keys[0]' "$inv")
app=$(jq -r '.all.children.app.hosts | keys[0]' "$inv")
mon_ip=$(addr "$mon"); app_ip=$(addr "$app")
[ -n "$mon_ip" ] && [ -n "$app_ip" ] || { echo "sizing: cannot read the addresses of $mon and $app from $inv" >&2; exit 1; }
port=$(jq -r '.all.vars.prometheus_port' "$inv")

# Prometheus over HTTPS, trusting the environment's CA, as obsctl: the password
# goes from its 0600 file into curl's config through a pipe, never on a command line.
scheme=https
prom() {
  curl -fsS --max-time 10 --cacert .obsctl/dev/tls/ca.crt \
    -K <(printf 'user = "obsctl:%s"\n' "$(cat .obsctl/dev/secrets/web_obsctl_password)") "$@"
}
q() { prom --data-urlencode "query=$1" "$scheme://$mon_ip:$port/api/v1/query"; }
val() { q "$1" | jq -r '.data.result[0].value[1] // "0"'; }
ssh_to() { ssh -i .obsctl/dev/ssh/id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "root@$1" "$2"; }

tsdb0=$(ssh_to "$mon_ip" 'du -sb /var/lib/prometheus/metrics2 | cut -f1')
log0=$(ssh_to "$app_ip" 'stat -c %s /var/log/orders-api/orders-api.log'); lines0=$(ssh_to "$app_ip" 'wc -l </var/log/orders-api/orders-api.log')
t0=$(date +%s)
echo "sizing: dev is up; letting it run ${SETTLE}s" >&2
sleep "$SETTLE"
t1=$(date +%s)
tsdb1=$(ssh_to "$mon_ip" 'du -sb /var/lib/prometheus/metrics2 | cut -f1')
log1=$(ssh_to "$app_ip" 'stat -c %s /var/log/orders-api/orders-api.log'); lines1=$(ssh_to "$app_ip" 'wc -l </var/log/orders-api/orders-api.log')
dt=$((t1 - t0))

head_series=$(val 'prometheus_tsdb_head_series')
samples_s=$(val 'rate(prometheus_tsdb_head_samples_appended_total[2m])')
# obsctl's targets carry `host`; the package's default configuration (before obsctl's first restart) did not.
per_job=$(q 'sum by (job) (scrape_samples_post_metric_relabeling{host!=""})' | jq '[.data.result[] | {(.metric.job): (.value[1] | tonumber)}] | add')
targets=$(q 'count by (job) (up{host!=""})' | jq '[.data.result[] | {(.metric.job): (.value[1] | tonumber)}] | add')
active=$(val 'count({__name__=~".+"})')
rules=$(val 'count({__name__=~"job.*:.+"})')
scrape_timeout=$(prom "$scheme://$mon_ip:$port/api/v1/status/config" | jq -r '.data.yaml' | awk '/^global:/{g=1} g && /scrape_timeout:/{print $2; exit}')
interval=$(prom "$scheme://$mon_ip:$port/api/v1/status/config" | jq -r '.data.yaml' | awk '/^global:/{g=1} g && /scrape_interval:/{print $2; exit}')

jq -n --arg date "$(date -u +%Y-%m-%d)" --arg os "$(jq -r '.all.vars.obsctl_os' "$inv")" --arg without "$WITHOUT" \
  --argjson settle "$dt" --argjson head_series "$head_series" --argjson active "$active" --argjson samples_s "$samples_s" \
  --argjson per_job "$per_job" --argjson targets "$targets" --argjson rule_series "$rules" \
  --arg scrape_interval "$interval" --arg scrape_timeout "$scrape_timeout" \
  --argjson tsdb_growth "$(( (tsdb1 - tsdb0) / dt ))" --argjson tsdb_bytes "$tsdb1" \
  --argjson log_bytes_s "$(awk -v a="$log0" -v b="$log1" -v t="$dt" 'BEGIN{printf "%.1f", (b-a)/t}')" \
  --argjson log_lines_s "$(awk -v a="$lines0" -v b="$lines1" -v t="$dt" 'BEGIN{printf "%.2f", (b-a)/t}')" \
  --argjson rps "$(jq -r '.all.vars.app_traffic_rps' "$inv")" \
  '{measured: $date, environment: "dev", os: $os, without: $without, seconds: $settle,
    scrape_interval: $scrape_interval, scrape_timeout: $scrape_timeout,
    head_series: $head_series, active_series: $active, samples_per_second: $samples_s, recording_rule_series: $rule_series,
    samples_per_scrape_by_job: $per_job, targets_by_job: $targets,
    tsdb_bytes_after: $tsdb_bytes, tsdb_growth_bytes_per_second: $tsdb_growth,
    orders_api_log_bytes_per_second: $log_bytes_s, orders_api_log_lines_per_second: $log_lines_s,
    traffic_rps: $rps}' >"$OUT"
cat "$OUT"
cleanup
trap - EXIT
machinectl list --no-legend 2>/dev/null | grep -q obs-dev && { echo "sizing: dev machines still listed by machinectl" >&2; exit 1; }
rm -rf "$work"
