#!/usr/bin/env bash
# The disaster-recovery drill (issue #29): dev has run with orders-api
# traffic for a few minutes → a silence is created and a SQLite database
# stands in for Grafana's on the Grafana host (Grafana cannot be installed
# here) → `obsctl backup` → a tampered archive (a member changed; the
# archive's bytes changed) is refused → `destroy`, and the controller loses
# its CA and passwords (tls/ and secrets/ removed) → a cold `up` (a new CA)
# → `obsctl restore`: the archive's CA and passwords come back (the hosts
# are reconfigured with them), then the data. Then: the number of samples
# of every `up` series over the window before the backup is the number
# before (printed), the silence is active, the stand-in database is the
# same byte for byte, the CA's fingerprint is the same, and an alert still
# reaches every receiver. Prints the archive's listing and size and the
# backup, destroy, up and restore times. Leaves dev up, no fault injected,
# no silence active.
# env: dev
# needs: webhook smtp
# leaves: up
source "$(dirname "$0")/lib.sh"
: "${ALERTS:?}" "${MAIL:?}"
TRAFFIC_MIN=${TRAFFIC_MIN:-180}  # seconds of traffic before the backup
WINDOW=120                       # seconds of samples compared
ALERT=OrdersHighErrorRatio
ALERT_BOUND=${ALERT_BOUND:-240}
# The key outside .obsctl/, as the docs say (the harness's work folder may be
# under .obsctl/e2e/, and backup refuses a key there).
KEY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/obsctl-dr-key.XXXXXX")
KEY="$KEY_DIR/backup.agekey"
TO="$WORK/backups"
notes() { python3 tests/e2e/notifications.py "$ALERTS" "$MAIL" "$ALERT" "$ENV" "$@"; }
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$STATE/tls/ca.crt" | cut -d= -f2; }
app_url() { echo "https://$(addr_of_role app):$(port app_port)/admin/faults"; }
sid=""
cleanup() {
  rm -rf "$KEY_DIR"
  scurl "$ENV" -fsS -X DELETE "$(app_url)" >/dev/null 2>&1 || true
  [ -z "$sid" ] || "$OBSCTL" silence --env "$ENV" expire "$sid" >/dev/null 2>&1 || true
}
trap cleanup EXIT
contract
PROM="https://$(addr_of_role prometheus):$(port prometheus_port)"
GRAFANA_HOST=$(host_of_role grafana)
DB=/var/lib/grafana/grafana.db

say "traffic for at least ${TRAFFIC_MIN}s before the backup"
first=$(scurl "$ENV" -fsS --get "$PROM/api/v1/query" --data-urlencode 'query=min(timestamp(process_start_time_seconds{job="prometheus"}) - process_start_time_seconds{job="prometheus"})' | jq -r '.data.result[0].value[1] // 0')
up_for=${first%.*}
[ "$up_for" -ge "$TRAFFIC_MIN" ] || { echo "  Prometheus up for ${up_for}s: waiting $((TRAFFIC_MIN - up_for))s"; sleep $((TRAFFIC_MIN - up_for)); }
reqs=$(scurl "$ENV" -fsS --get "$PROM/api/v1/query" --data-urlencode 'query=sum(increase(orders_http_requests_total[2m]))' | jq -r '.data.result[0].value[1] // 0')
echo "  orders-api requests in the last 2m: ${reqs%.*}"
[ "${reqs%.*}" -gt 0 ] || fail "no orders-api traffic in the last 2 minutes"

say "a silence, and a SQLite database standing in for Grafana's on $GRAFANA_HOST"
sid=$("$OBSCTL" silence --env "$ENV" add alertname=DrDrillProbe --duration 6h --comment "DR drill: must survive backup and restore" --output json | jq -r 'select(.event=="summary") | .id')
[ -n "$sid" ] && [ "$sid" != null ] || fail "could not create the silence"
"$OBSCTL" ssh --env "$ENV" "$GRAFANA_HOST" -- "mkdir -p /var/lib/grafana && python3 -c \"import sqlite3; c = sqlite3.connect('$DB'); c.execute('create table if not exists dashboard(id integer primary key, title text, data blob)'); c.executemany('insert into dashboard(title, data) values (?, randomblob(2000))', [('drill %d' % i,) for i in range(200)]); c.commit()\"" \
  || fail "could not write the stand-in database on $GRAFANA_HOST"
db_before=$("$OBSCTL" ssh --env "$ENV" "$GRAFANA_HOST" -- sha256sum "$DB" | cut -d' ' -f1)
ca_before=$(fingerprint)
at=$(( $(date +%s) - 10 ))
count_before=$(samples "$at")
[ "$count_before" != none ] && [ "$count_before" -gt 0 ] || fail "no samples of up in the ${WINDOW}s before $at"
echo "  samples of up in the ${WINDOW}s before $(date -u -d @"$at" +%H:%M:%SZ): $count_before; stand-in db sha256 $db_before; CA $ca_before"

say "backup"
start=$(now)
"$OBSCTL" backup --env "$ENV" --to "$TO" --key "$KEY" || fail "backup failed"
backup_s=$(since "$start")
archive=$(ls "$TO"/obsctl-backup-"$ENV"-*.tar)
[ -f "$KEY" ] && [ -f "$archive.sha256" ] || fail "no key or no checksum file after the backup"
(cd "$TO" && sha256sum -c "$(basename "$archive").sha256") || fail "the archive does not match its checksum file"
echo "--- archive $(basename "$archive"): $(stat -c %s "$archive") bytes"
tar -tvf "$archive"
tar -xOf "$archive" manifest.json | jq -c '{environment, created, ca_sha256, skipped, members: [.members[] | {file, bytes}]}'
tar -tf "$archive" >"$WORK/listing"
for member in controller/controller.tar.age "prometheus-tsdb/" alertmanager-state/silences.json "grafana-db/$GRAFANA_HOST.db"; do
  grep -q "^$member" "$WORK/listing" || fail "the archive lacks $member"
done
tar -xOf "$archive" controller/controller.tar.age >"$WORK/controller.age"
[ "$(head -c 21 "$WORK/controller.age")" = "age-encryption.org/v1" ] || fail "the controller's state is not age-encrypted"
! grep -qa "BEGIN" "$WORK/controller.age" || fail "the controller's state holds clear text"

say "a tampered archive is refused, and nothing is restored"
bad="$WORK/tampered"; mkdir -p "$bad/x"
tar -xf "$archive" -C "$bad/x"
printf 'x' >>"$bad/x/grafana-db/$GRAFANA_HOST.db"
tar -cf "$bad/member.tar" -C "$bad/x" .
code=0; out=$("$OBSCTL" restore --env "$ENV" --from "$bad/member.tar" --key "$KEY" 2>&1) || code=$?
[ "$code" = 10 ] && grep -q "has SHA-256" <<<"$out" || fail "a changed member was not refused (exit $code): $out"
echo "  changed member: exit $code: $(grep -m1 error <<<"$out")"
cp "$archive" "$bad/bytes.tar"; sed "s/  .*/  bytes.tar/" "$archive.sha256" >"$bad/bytes.tar.sha256"; printf 'x' >>"$bad/bytes.tar"
code=0; out=$("$OBSCTL" restore --env "$ENV" --from "$bad/bytes.tar" --key "$KEY" 2>&1) || code=$?
[ "$code" = 10 ] && grep -q "says" <<<"$out" || fail "an archive that does not match its .sha256 was not refused (exit $code): $out"
echo "  archive changed: exit $code: $(grep -m1 error <<<"$out")"

say "destroy, and the controller loses its CA and passwords"
start=$(now)
"$OBSCTL" destroy --env "$ENV" --auto-approve >/dev/null || fail "destroy failed"
destroy_s=$(since "$start")
rm -rf "$STATE/tls" "$STATE/secrets"

say "up (cold: a new CA, new passwords)"
start=$(now)
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --auto-approve >"$WORK/up.log" 2>&1 || fail "up after destroy failed: $(tail -20 "$WORK/up.log")"
up_s=$(since "$start")
[ "$(fingerprint)" != "$ca_before" ] || fail "up after losing tls/ kept the old CA: the drill would prove nothing"

say "restore"
start=$(now)
"$OBSCTL" restore --env "$ENV" --from "$archive" --key "$KEY" || fail "restore failed"
restore_s=$(since "$start")
contract

say "after the restore"
ca_after=$(fingerprint)
[ "$ca_after" = "$ca_before" ] || fail "CA fingerprint $ca_after, before the backup $ca_before"
echo "  CA fingerprint: the same ($ca_after)"
count_after=$(samples "$at")
echo "  samples of up in the ${WINDOW}s before $(date -u -d @"$at" +%H:%M:%SZ): before the backup $count_before, after the restore $count_after"
[ "$count_after" = "$count_before" ] || fail "sample count differs after the restore"
db_after=$("$OBSCTL" ssh --env "$ENV" "$GRAFANA_HOST" -- sha256sum "$DB" | cut -d' ' -f1)
[ "$db_after" = "$db_before" ] || fail "the stand-in database differs: $db_after, before $db_before"
echo "  stand-in Grafana database: the same bytes ($db_after)"
active=$("$OBSCTL" silence --env "$ENV" list --output json | jq -r 'select(.event=="summary") | .silences[] | select(.comment | startswith("DR drill")) | "\(.state) \(.id)"')
grep -q '^active ' <<<"$active" || fail "the drill's silence is not active after the restore: $active"
sid=$(awk '/^active /{print $2; exit}' <<<"$active")
echo "  silence: $active"

say "an alert still reaches every receiver"
scurl "$ENV" -fsS -X PUT -H 'Content-Type: application/json' -d '{"error_ratio": 0.5, "latency_ms": 0}' "$(app_url)" >/dev/null
t0=$(now)
fired=$(notes wait firing "$t0" "$ALERT_BOUND") || fail "$ALERT did not reach every receiver within ${ALERT_BOUND}s after the restore"
echo "  $ALERT firing, seconds to each receiver: $fired"
scurl "$ENV" -fsS -X DELETE "$(app_url)" >/dev/null
echo "PASS: DR drill: backup ${backup_s}s ($(stat -c %s "$archive") bytes), destroy ${destroy_s}s, up ${up_s}s, restore ${restore_s}s; samples $count_before = $count_after"
