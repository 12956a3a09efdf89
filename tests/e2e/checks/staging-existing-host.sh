#!/usr/bin/env bash
# A host obsctl did not create (#31, docs/existing-hosts.md): a lab machine
# booted here directly with lab.sh's machine-up under a lab name of its own
# (ext-<env>, on the environment's bridge, from the lab's base image: neither
# obsctl nor Terraform knows it), running a real Debian-packaged service and
# its Debian-packaged exporter (postgresql, prometheus-postgres-exporter,
# from the lab's apt cache), logged in to as root with a key of its own.
#
#   1. listed in the env file with a wrong address: `up` fails with exit 30
#      naming it, and the other hosts are unchanged (the deployment record,
#      the inventory, Prometheus' configuration on its hosts);
#   2. with the right address: `up` trusts its host key on first use (the
#      fingerprint printed and pinned), installs node_exporter there (and
#      nothing else: no sshd hardening), Prometheus scrapes it and it is up,
#      and the env file's scrape job for group db scrapes its postgres exporter,
#      `status` shows it marked existing, the inventory puts it in the log
#      agent's group (the agent's rendered configuration is checked
#      statically: tests/static/configs.sh renders it for an existing host);
#   3. the user's alert on its own service (a rule file with a passing
#      promtool test, in a folder the env file names): postgresql stopped
#      on it → PostgresDownOnExistingHost reaches the webhook once (2
#      Prometheus, 3 Alertmanagers), and resolves when it starts again;
#   4. a second `up` with nothing changed takes the fast path;
#   5. removed from the env file: `up` takes away node_exporter, obsctl's
#      files and the users it added, and the machine keeps running with its
#      service.
# The machine is stopped and removed at the end, whatever happens (trap).
# env: staging
# needs: webhook
# leaves: as-found
# changes-checkout: environments/staging.toml
source "$(dirname "$0")/lib.sh"
: "${ALERTS:?}"
require_lab jq python3 ssh ssh-keygen curl
started=$(now)
FILE="$ROOT/environments/$ENV.toml"
NAME=db-1
EXT="ext-$ENV"    # lab.sh's namespace for this machine: not the environment's own
cp "$FILE" "$WORK/env.toml.orig"

read -r BRIDGE GATEWAY PREFIX ADDR WRONG OS < <(python3 - "$FILE" <<'PY'
import ipaddress, sys, tomllib
e = tomllib.load(open(sys.argv[1], "rb"))
net = ipaddress.ip_network(e["lab"]["cidr"])
print(e["lab"]["bridge"], net[1], net.prefixlen, net[200], net[201], e.get("os", "debian-13"))
PY
)
KEY="$WORK/db-1_ed25519"
ssh-keygen -q -t ed25519 -N "" -C "existing-host-test" -f "$KEY"
lab_ext() { LAB_ENV="$EXT" LAB_NAME="$NAME" LAB_OS="$OS" "$LAB" "$@"; }
cleanup() {
  cp "$WORK/env.toml.orig" "$FILE"
  lab_ext machine-down >/dev/null 2>&1 || true
  rmdir "$LAB_ROOT/envs/$EXT/machines" "$LAB_ROOT/envs/$EXT" 2>/dev/null || true
}
trap cleanup EXIT
on_db() { ssh -q -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 "root@$ADDR" "$@"; }
up() { # NAME: up, events in $WORK/NAME.jsonl, exit status in $rc
  rc=0
  "$OBSCTL" up --env "$ENV" --without "$WITHOUT" --auto-approve --output json >"$WORK/$1.jsonl" 2>"$WORK/$1.err" </dev/null || rc=$?
}
with_host() { # ADDRESS: the env file with the existing host at ADDRESS
  cp "$WORK/env.toml.orig" "$FILE"
  cat >>"$FILE" <<TOML

[[existing_hosts]]
name = "$NAME"
address = "$1"
ssh_user = "root"
ssh_key_file = "$KEY"
groups = ["db"]

# Its own service's exporter, as data (#31): every host of group db.
[[scrape_jobs]]
name = "postgres"
group = "db"
port = 9187
labels = { service = "postgres" }

[user]
rules_dir = "$RULES"
TOML
}
# The user's alert on its own service, with its promtool test.
ALERT=PostgresDownOnExistingHost
RULES="$(realpath "$WORK")/rules"   # the env file names it: an absolute path
mkdir -p "$RULES"
cat >"$RULES/postgres.rules.yml" <<EOF
groups:
  - name: postgres
    rules:
      - alert: $ALERT
        expr: pg_up{job="postgres"} == 0
        for: 10s
        labels:
          severity: warning
        annotations:
          summary: "PostgreSQL on {{ \$labels.host }} is down"
          runbook_url: "https://wiki.example.com/runbooks/postgres"
EOF
cat >"$RULES/postgres.test.yml" <<EOF
rule_files: [postgres.rules.yml]
evaluation_interval: 10s
tests:
  - interval: 10s
    input_series:
      - series: 'pg_up{job="postgres", host="$NAME"}'
        values: "0x10"
    alert_rule_test:
      - eval_time: 30s
        alertname: $ALERT
        exp_alerts:
          - exp_labels: {severity: warning, job: postgres, host: $NAME}
            exp_annotations: {summary: "PostgreSQL on $NAME is down", runbook_url: "https://wiki.example.com/runbooks/postgres"}
EOF

say "a machine outside obsctl: $NAME at $ADDR on $BRIDGE, with postgresql and its exporter"
t=$(now)
LAB_ADDRESS="$ADDR" LAB_PREFIX="$PREFIX" LAB_GATEWAY="$GATEWAY" LAB_BRIDGE="$BRIDGE" LAB_PUBKEY_FILE="$KEY.pub" \
  lab_ext machine-up 2>"$WORK/machine-up.log" || { cat "$WORK/machine-up.log"; fail "lab.sh machine-up of $NAME failed"; }
for _ in $(seq 1 100); do on_db true 2>/dev/null && break; sleep 0.3; done
on_db true || fail "$NAME did not answer SSH at $ADDR"
on_db 'apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql prometheus-postgres-exporter >/dev/null' ||
  fail "could not install postgresql and prometheus-postgres-exporter on $NAME"
# Debian ships the exporter without a data source: it reads PostgreSQL as
# the database role `prometheus` (peer authentication over the socket).
on_db "su postgres -c 'createuser prometheus' &&
  sed -i \"s|^DATA_SOURCE_NAME=.*|DATA_SOURCE_NAME='user=prometheus host=/run/postgresql dbname=postgres'|\" /etc/default/prometheus-postgres-exporter &&
  systemctl restart prometheus-postgres-exporter" || fail "could not give the exporter its data source on $NAME"
on_db 'systemctl is-active postgresql prometheus-postgres-exporter' >/dev/null || fail "postgresql or its exporter is not running on $NAME"
on_db 'dpkg -s prometheus-node-exporter' >/dev/null 2>&1 && fail "$NAME has node_exporter before obsctl came"
echo "  ready in $(since "$t") s"

say "wrong address: exit 30 naming $NAME, the other hosts unchanged"
PROM=$(jq -r '.contract.hosts | to_entries[] | select(.value.roles | index("prometheus")) | .key' "$STATE/deployment.json" | head -1)
prom_conf() { "$OBSCTL" ssh --env "$ENV" "$PROM" -- sha256sum /etc/prometheus/prometheus.yml; }
before="$(sha256sum "$STATE/deployment.json" "$STATE/inventory.json" | cut -d' ' -f1) $(prom_conf)"
with_host "$WRONG"
t=$(now)
up wrong
[ "$rc" = 30 ] || { cat "$WORK/wrong.err"; fail "a wrong address gave exit $rc, expected 30"; }
msg=$(jq -r 'select(.event=="error") | "\(.message) [\(.details | join("; "))] hint: \(.hint)"' "$WORK/wrong.jsonl")
grep -q "existing host $NAME did not answer" <<<"$msg" || fail "the error does not name $NAME: $msg $(cat "$WORK/wrong.err")"
jq -e 'select(.event=="phase_start" and .phase=="terraform")' "$WORK/wrong.jsonl" >/dev/null && fail "Terraform ran before the existing host was checked"
after="$(sha256sum "$STATE/deployment.json" "$STATE/inventory.json" | cut -d' ' -f1) $(prom_conf)"
[ "$before" = "$after" ] || fail "the other hosts' configuration changed after the refused run"
echo "  exit 30 in $(since "$t") s: $msg"

say "right address: node_exporter installed, scraped, up, in status"
with_host "$ADDR"
t=$(now)
up add
[ "$rc" = 0 ] || { tail -20 "$WORK/add.err"; jq -c 'select(.event=="error")' "$WORK/add.jsonl"; fail "up with $NAME failed (exit $rc)"; }
tofu=$(jq -r 'select(.event=="warning") | .message' "$WORK/add.jsonl" | grep "trusted on first use: existing host $NAME") ||
  fail "no trust-on-first-use line for $NAME"
fp=$(grep -o 'SHA256:[A-Za-z0-9+/]*' <<<"$tofu" | head -1)
pinned=$(ssh-keygen -l -F "$ADDR" -f "$STATE/ssh/known_hosts" | grep -o 'SHA256:[A-Za-z0-9+/]*' | head -1)
[ -n "$fp" ] && [ "$fp" = "$pinned" ] || fail "printed fingerprint '$fp', pinned '$pinned'"
[ "$fp" = "$(ssh-keygen -lf <(on_db cat /etc/ssh/ssh_host_ed25519_key.pub) | awk '{print $2}')" ] ||
  fail "the pinned key is not $NAME's ed25519 key"
echo "  up in $(since "$t") s; $tofu"
on_db 'systemctl is-active prometheus-node-exporter' >/dev/null || fail "node_exporter is not running on $NAME"
on_db 'test ! -e /etc/ssh/sshd_config.d/00-obsctl.conf && test ! -e /etc/ssh/obsctl_authorized_keys' ||
  fail "obsctl hardened sshd on a host it did not create"
jq -e --arg h "$NAME" '.all.hosts[$h].obsctl_existing == true and (.all.children.existing.hosts | has($h))
  and (.all.children.db.hosts | has($h)) and (.all.children.node_exporter.hosts | has($h))' "$STATE/inventory.json" >/dev/null ||
  fail "the inventory does not hold $NAME as an existing host in groups existing, db, node_exporter"
# The log agent's group: with the agent left out of this run (WITHOUT) it is
# empty; the inventory `up` renders with it holds the existing host.
jq -e --arg h "$NAME" '.all.children.alloy.hosts | length == 0 or has($h)' "$STATE/inventory.json" >/dev/null ||
  fail "the log agent's group lacks $NAME"
addr_of() { jq -r --arg h "$1" '.contract.hosts[$h].address' "$STATE/deployment.json"; }
port=$(jq -r .all.vars.prometheus_port "$STATE/inventory.json")
q() { scurl "$ENV" -fsS "https://$(addr_of "$PROM"):$port/api/v1/query" --data-urlencode "query=$1"; }
for _ in $(seq 1 30); do
  v=$(q "up{job=\"node\",host=\"$NAME\"}" | jq -r '.data.result[0].value[1] // "none"')
  [ "$v" = 1 ] && break
  sleep 2
done
[ "$v" = 1 ] || fail "Prometheus on $PROM does not see $NAME's node_exporter up (up = $v)"
echo "  Prometheus on $PROM: up{job=\"node\",host=\"$NAME\"} = 1"
for _ in $(seq 1 30); do
  v=$(q "up{job=\"postgres\",host=\"$NAME\",service=\"postgres\"}" | jq -r '.data.result[0].value[1] // "none"')
  [ "$v" = 1 ] && break
  sleep 2
done
[ "$v" = 1 ] || fail "Prometheus on $PROM does not see $NAME's postgres exporter (the env file's scrape job) up (up = $v): $(scurl "$ENV" -fsS "https://$(addr_of "$PROM"):$port/api/v1/targets" | jq -c '[.data.activeTargets[] | select(.labels.job == "postgres") | {scrapeUrl, health, lastError}]')"
pg=$(q "pg_up{host=\"$NAME\"}" | jq -r '.data.result[0].value[1] // "none"')
[ "$pg" = 1 ] || fail "the exporter on $NAME does not reach PostgreSQL (pg_up = $pg)"
echo "  Prometheus on $PROM: up{job=\"postgres\",host=\"$NAME\"} = 1 and pg_up = 1 (a [[scrape_jobs]] entry for group db)"
"$OBSCTL" status --env "$ENV" --output json >"$WORK/status.jsonl" 2>/dev/null || true
jq -e --arg h "$NAME" 'select(.event=="summary") | any(.checks[]; .host == $h and .component == "node_exporter" and .existing == true)' \
  "$WORK/status.jsonl" >/dev/null || fail "status does not show $NAME's node_exporter marked existing"
"$OBSCTL" status --env "$ENV" 2>/dev/null | grep -q "$NAME (existing)" || fail "status's table does not mark $NAME existing"

say "postgresql stopped on $NAME: $ALERT reaches the webhook once, then resolves"
t=$(now)
notes() { jq -c --arg a "$ALERT" --arg s "$1" 'select(.kind=="webhook" and .path=="/alerts") | select(any(.alerts[]; .labels.alertname==$a and .status==$s))' "$ALERTS" 2>/dev/null | wc -l; }
on_db systemctl stop postgresql
for _ in $(seq 1 60); do [ "$(notes firing)" -ge 1 ] && break; sleep 2; done
[ "$(notes firing)" -ge 1 ] || fail "$ALERT did not reach the webhook within 120 s of postgresql stopping on $NAME"
echo "  fired after $(since "$t") s"
sleep 20   # shorter than group_interval: any second notification now is a duplicate
[ "$(notes firing)" = 1 ] || fail "$ALERT reached the webhook $(notes firing) times (2 Prometheus, 3 Alertmanagers must make it once)"
on_db systemctl start postgresql
for _ in $(seq 1 60); do [ "$(notes resolved)" -ge 1 ] && break; sleep 2; done
[ "$(notes resolved)" -ge 1 ] || fail "$ALERT did not resolve within 120 s of postgresql starting on $NAME"
echo "  once, resolved after $(since "$t") s in all"

say "nothing changed: the fast path"
up again
[ "$rc" = 0 ] || fail "the second up failed (exit $rc)"
expect_path again fast

say "$NAME leaves the env file: obsctl takes back what it installed, the machine keeps running"
cp "$WORK/env.toml.orig" "$FILE"
t=$(now)
up remove
[ "$rc" = 0 ] || { tail -20 "$WORK/remove.err"; fail "up without $NAME failed (exit $rc)"; }
jq -r 'select(.event=="step" or .event=="warning") | .message' "$WORK/remove.jsonl" | grep "$NAME left the environment" ||
  fail "up did not say it removed what it installed on $NAME"
on_db 'dpkg -s prometheus-node-exporter' >/dev/null 2>&1 && fail "node_exporter is still installed on $NAME"
on_db 'test ! -e /etc/obsctl && test ! -e /var/lib/obsctl && ! id -u node-exporter' >/dev/null 2>&1 ||
  fail "obsctl's files or users are left on $NAME"
on_db 'systemctl is-active postgresql prometheus-postgres-exporter' >/dev/null || fail "$NAME's own service stopped"
jq -e --arg h "$NAME" '.contract.hosts | has($h) | not' "$STATE/deployment.json" >/dev/null || fail "the record still holds $NAME"
ssh-keygen -F "$ADDR" -f "$STATE/ssh/known_hosts" >/dev/null && fail "$NAME left, but its host key is still pinned"
echo "  removed in $(since "$t") s; $NAME still runs postgresql"
echo "staging-existing-host: $(since "$started") s"
