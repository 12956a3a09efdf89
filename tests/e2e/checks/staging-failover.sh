#!/usr/bin/env bash
# HA failover on staging (was staging-failover.sh): staging loses machines
# while an alert is firing.
#
#   inject errors into the application → OrdersHighErrorRatio reaches the
#   harness's webhook → power mon-2 (a Prometheus replica and an Alertmanager
#   peer) and mon-3 (an Alertmanager peer) off hard → `obsctl status` fails
#   and names what was lost → the alert keeps being delivered by what is
#   left: the firing group again after repeat_interval, new groups
#   (InstanceDown for mon-2 and mon-3), and the resolution once the fault is
#   cleared → every notification group was delivered exactly once per
#   notification cycle (no duplicates from the two replicas or the three
#   peers), without the `replica` label.
#
# What Alertmanager really sends: a firing group is notified once (after
# group_wait), again when its alerts change (at most every group_interval
# per peer), and unchanged only after repeat_interval. Peers share a
# notification log by gossip; the peer at position n of the cluster waits
# n × 15 s and sends only what the log does not already hold. So "exactly
# once per cycle" means: two consecutive notifications of one group with
# the same content (status and the set of alert fingerprints with their
# status) are at least repeat_interval apart. staging.toml sets
# repeat_interval to 2m so that a cycle fits in this test (1h would leave
# nothing to observe while the alert is active).
#
# Machines are stopped with `terraform/scripts/lab.sh machine-stop` (SIGKILL
# to the machine's init: a crash, no clean shutdown, so the other
# Alertmanagers learn it from gossip failure detection, not from a leave).
# It leaves staging broken (two machines down): the last staging check
# before staging-destroy.
# env: staging
# needs: webhook
# leaves: broken
source "$(dirname "$0")/lib.sh"
ALERT_BOUND=${ALERT_BOUND:-240}      # s from fault injection to the first notification
STATUS_BOUND=${STATUS_BOUND:-90}     # s from the failure until `status` reports it all
NEWGROUP_BOUND=${NEWGROUP_BOUND:-240} # s from the failure to InstanceDown notifications
RESOLVE_BOUND=${RESOLVE_BOUND:-300}  # s from clearing the fault to "resolved"
GOSSIP_SETTLE=${GOSSIP_SETTLE:-10}   # s between the first notification and the failure
STOPPED=(mon-2 mon-3)                # mon-2: Prometheus + Alertmanager, mon-3: Alertmanager
LAB_SH=$LAB
: "${ALERTS:?}"
# Only what arrives from now on counts: the checks before this one on staging
# (faults) made notifications of their own.
t_start=$(now)

staging_topology

# --- alert ---------------------------------------------------------------------------
firing_notifications() { # OrdersHighErrorRatio notifications with status firing
  jq -c --argjson t "$t_start" 'select(.received_at >= $t and any(.alerts[]; .labels.alertname == "OrdersHighErrorRatio") and .status == "firing")' "$ALERTS"
}
say "inject errors: PUT https://$APP:8080/admin/faults error_ratio=0.5"
scurl "$ENV" -fsS -X PUT -H 'Content-Type: application/json' -d '{"error_ratio": 0.5, "latency_ms": 0}' "https://$APP:8080/admin/faults" >/dev/null ||
  fail "fault injection failed"
t_inject=$(now)
while [ -z "$(firing_notifications)" ]; do
  [ "$(awk -v s="$t_inject" -v e="$(now)" 'BEGIN { print (e - s > '"$ALERT_BOUND"') }')" = 0 ] ||
    fail "OrdersHighErrorRatio did not reach the webhook within ${ALERT_BOUND}s (received: $(cat "$SINK_LOG"))"
  sleep 1
done
first=$(firing_notifications | head -1)
t_first=$(jq -r .received_at <<<"$first")
alert_s=$(awk -v s="$t_inject" -v e="$t_first" 'BEGIN { printf "%.1f", e - s }')
first_sender=$(jq -r .externalURL <<<"$first")
echo "OrdersHighErrorRatio firing at the webhook after ${alert_s}s (bound ${ALERT_BOUND}s), sent by $first_sender"

# Both replicas evaluate the alert and send it to every Alertmanager; each
# Alertmanager must hold it once (the replicas' copies are one alert).
for p in "${PROMS[@]}"; do
  ok=""
  for _ in $(seq 1 15); do
    scurl "$ENV" -fsS "https://$(addr "$p"):9090/api/v1/alerts" |
      jq -e '[.data.alerts[] | select(.labels.alertname == "OrdersHighErrorRatio" and .state == "firing")] | length == 1' >/dev/null && { ok=1; break; }
    sleep 2
  done
  [ -n "$ok" ] || fail "OrdersHighErrorRatio is not firing on the Prometheus replica $p"
done
for a in "${AMS[@]}"; do
  got=$(scurl "$ENV" -fsS --get "https://$(addr "$a"):9093/api/v2/alerts" --data-urlencode 'filter=alertname="OrdersHighErrorRatio"')
  [ "$(jq length <<<"$got")" = 1 ] || fail "Alertmanager on $a holds $(jq length <<<"$got") OrdersHighErrorRatio alerts, expected 1: $(jq -c '[.[].labels]' <<<"$got")"
  jq -e '.[0].labels | has("replica") | not' <<<"$got" >/dev/null || fail "Alertmanager on $a got the replica label: $(jq -c '.[0].labels' <<<"$got")"
done
echo "  firing on both replicas; held once by each of the ${#AMS[@]} Alertmanagers, without a replica label"

# --- failure -------------------------------------------------------------------------
sleep "$GOSSIP_SETTLE"   # the notification log has reached every peer (gossip every 200 ms)
say "power off ${STOPPED[*]} (hard, while the alert is active)"
for m in "${STOPPED[@]}"; do
  LAB_ROOT=$LAB_ROOT LAB_ENV=$ENV LAB_NAME=$m "$LAB_SH" machine-stop
done
t_kill=$(now)
for m in "${STOPPED[@]}"; do
  pid=$(cat "$LAB_ROOT/envs/$ENV/machines/$m/pid")
  ! kill -0 "$pid" 2>/dev/null || fail "$m (nspawn pid $pid) still runs after machine-stop"
  ! timeout 3 bash -c "exec 3<>/dev/tcp/$(addr "$m")/9093" 2>/dev/null || fail "$m still answers on 9093"
done
echo "  ${STOPPED[*]} are down"

say "obsctl status reports the lost members (bound ${STATUS_BOUND}s)"
# Alertmanager learns of the dead peers from gossip failure detection: poll.
expect_status=(
  '^mon-2 +prometheus +DOWN'
  '^mon-2 +alertmanager +DOWN'
  '^mon-3 +alertmanager +DOWN'
  '^mon-2 +node_exporter +DOWN'
  '^mon-3 +node_exporter +DOWN'
  "Alertmanager cluster seen from mon-1: 1 of ${#AMS[@]} peers"
)
while :; do
  rc=0
  "$OBSCTL" status --env "$ENV" >"$WORK/status.txt" 2>&1 || rc=$?
  missing=()
  for re in "${expect_status[@]}"; do grep -Eq "$re" "$WORK/status.txt" || missing+=("$re"); done
  [ "$rc" != 0 ] && [ ${#missing[@]} -eq 0 ] && break
  if [ "$(awk -v s="$t_kill" -v e="$(now)" 'BEGIN { print (e - s > '"$STATUS_BOUND"') }')" = 1 ]; then
    cat "$WORK/status.txt"
    fail "status (exit $rc) does not report the failure within ${STATUS_BOUND}s; missing: ${missing[*]}"
  fi
  sleep 3
done
status_rc=$rc
status_s=$(since "$t_kill")
echo "status exit $status_rc after ${status_s}s:"
sed 's/^/  | /' "$WORK/status.txt"
[ "$status_rc" = 50 ] || fail "status exited $status_rc, expected 50 (verify)"

say "the alert keeps being delivered (repeat within ${REPEAT_BOUND}s of the last notification, InstanceDown for ${STOPPED[*]})"
after_kill() { # notifications received after the failure matching a jq condition
  jq -c --argjson t "$t_kill" "select(.received_at > \$t and ($1))" "$ALERTS"
}
repeat_deadline=$(awk -v s="$t_first" -v b="$REPEAT_BOUND" 'BEGIN { printf "%d", s + b }')
newgroup_deadline=$(awk -v s="$t_kill" -v b="$NEWGROUP_BOUND" 'BEGIN { printf "%d", s + b }')
repeat="" ; down2="" ; down3=""
while :; do
  [ -n "$repeat" ] || repeat=$(after_kill '.status == "firing" and any(.alerts[]; .labels.alertname == "OrdersHighErrorRatio")' | head -1)
  [ -n "$down2" ] || down2=$(after_kill '.groupLabels.alertname == "InstanceDown" and .groupLabels.host == "mon-2"' | head -1)
  [ -n "$down3" ] || down3=$(after_kill '.groupLabels.alertname == "InstanceDown" and .groupLabels.host == "mon-3"' | head -1)
  [ -n "$repeat" ] && [ -n "$down2" ] && [ -n "$down3" ] && break
  t=$(date +%s)
  [ -n "$repeat" ] || [ "$t" -lt "$repeat_deadline" ] ||
    fail "no OrdersHighErrorRatio notification after the failure within ${REPEAT_BOUND}s of the first one (repeat_interval ${REPEAT_INTERVAL}s)"
  { [ -n "$down2" ] && [ -n "$down3" ]; } || [ "$t" -lt "$newgroup_deadline" ] ||
    fail "InstanceDown for mon-2/mon-3 not notified within ${NEWGROUP_BOUND}s of the failure (mon-2: ${down2:+yes}, mon-3: ${down3:+yes})"
  sleep 2
done
repeat_s=$(awk -v s="$t_first" -v e="$(jq -r .received_at <<<"$repeat")" 'BEGIN { printf "%.1f", e - s }')
echo "  OrdersHighErrorRatio repeated ${repeat_s}s after the first notification, by $(jq -r .externalURL <<<"$repeat")"
for n in "$down2" "$down3"; do
  echo "  InstanceDown host=$(jq -r .groupLabels.host <<<"$n"): $(jq -r '[.alerts[].labels.job] | sort | join(", ")' <<<"$n") after $(awk -v s="$t_kill" -v e="$(jq -r .received_at <<<"$n")" 'BEGIN { printf "%.1f", e - s }')s, by $(jq -r .externalURL <<<"$n")"
done

# --- clear ---------------------------------------------------------------------------
say "clear the fault: DELETE /admin/faults"
scurl "$ENV" -fsS -X DELETE "https://$APP:8080/admin/faults" >/dev/null || fail "clearing the fault failed"
t_clear=$(now)
resolved=""
while [ -z "$resolved" ]; do
  resolved=$(jq -c --argjson t "$t_start" 'select(.received_at >= $t and any(.alerts[]; .labels.alertname == "OrdersHighErrorRatio" and .status == "resolved"))' "$ALERTS" | head -1)
  [ -n "$resolved" ] && break
  [ "$(awk -v s="$t_clear" -v e="$(now)" 'BEGIN { print (e - s > '"$RESOLVE_BOUND"') }')" = 0 ] ||
    fail "OrdersHighErrorRatio was not resolved within ${RESOLVE_BOUND}s"
  sleep 2
done
resolve_s=$(awk -v s="$t_clear" -v e="$(jq -r .received_at <<<"$resolved")" 'BEGIN { printf "%.1f", e - s }')
echo "resolved at the webhook ${resolve_s}s after clearing, by $(jq -r .externalURL <<<"$resolved")"
# A late duplicate would come within 2 peer waits; give it the chance.
sleep $(( 2 * PEER_WAIT + 5 ))

# --- every notification, checked ------------------------------------------------------
say "notifications: once per group and cycle, no replica label"
python3 - "$ALERTS" "$t_inject" "$t_kill" "$t_clear" "$GROUP_INTERVAL" "$REPEAT_INTERVAL" "$REPEAT_BOUND" "$ENV" "$t_start" "$ROOT/environments/$ENV.toml" <<'EOF' || fail "notification check failed (payloads: $ALERTS)"
import json, sys
from collections import defaultdict

path, t_inject, t_kill, t_clear = sys.argv[1], *map(float, sys.argv[2:5])
group_interval, repeat_interval, repeat_bound, env = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), sys.argv[8]
TOLERANCE = 2.0  # s: the sink's clock vs. the notification log's
t_start = float(sys.argv[9])
# A receiver may repeat on its own interval (the heartbeat's, every minute):
# a group is a duplicate when it comes again sooner than ITS receiver's.
import re, tomllib
def seconds(d):
    return sum(float(v) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for v, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", d))
with open(sys.argv[10], "rb") as f:
    own_repeat = {r["name"]: seconds(r["repeat_interval"])
                  for r in tomllib.load(f).get("alertmanager", {}).get("receivers", []) if "repeat_interval" in r}
notes = [n for n in (json.loads(l) for l in open(path) if l.strip()) if n["received_at"] >= t_start]
errors = []
groups = defaultdict(list)
for n in notes:
    groups[n["groupKey"]].append(n)
    for where, labels in [("groupLabels", n.get("groupLabels", {})), ("commonLabels", n.get("commonLabels", {}))] + \
            [(f"alert {a['labels'].get('alertname')}", a["labels"]) for a in n["alerts"]]:
        if "replica" in labels:
            errors.append(f"{where} of a notification for {n['groupKey']} carries replica={labels['replica']}")
        if where.startswith("alert") and labels.get("env") != env:
            errors.append(f"{where} has env={labels.get('env')}, expected {env}")

def content(n):
    return (n["status"], tuple(sorted((a["fingerprint"], a["status"]) for a in n["alerts"])))

def sender(n):
    return n.get("externalURL", "?").split("://")[-1].split(":")[0]

def rel(t):
    return f"{t - t_inject:7.1f}s"

print(f"{len(notes)} notifications in {len(groups)} groups (times from the fault injection; failure at {rel(t_kill).strip()}, fault cleared at {rel(t_clear).strip()})")
print(f"  {'group':<58} {'before':>6} {'after':>5}  deliveries (time status/alerts sender)")
for key, ns in sorted(groups.items(), key=lambda kv: kv[1][0]["received_at"]):
    ns.sort(key=lambda n: n["received_at"])
    before = sum(n["received_at"] <= t_kill for n in ns)
    label = ",".join(f"{k}={v}" for k, v in sorted(ns[0]["groupLabels"].items()))
    seq = "; ".join(f"{rel(n['received_at']).strip()} {n['status']}/{len(n['alerts'])} {sender(n)}" for n in ns)
    print(f"  {label:<58} {before:>6} {len(ns) - before:>5}  {seq}")
    repeat = own_repeat.get(ns[0].get("receiver"), repeat_interval)
    for a, b in zip(ns, ns[1:]):
        gap = b["received_at"] - a["received_at"]
        if content(a) == content(b) and gap < repeat - TOLERANCE:
            errors.append(f"duplicate: {label} delivered twice with the same content {gap:.1f}s apart "
                          f"(by {sender(a)} and {sender(b)}; repeat_interval {repeat:.0f}s)")
        elif gap < group_interval - TOLERANCE:
            print(f"    note: {label}: changed content {gap:.1f}s apart (by {sender(a)}, then {sender(b)})")

key = next((k for k, ns in groups.items() if ns[0]["groupLabels"].get("alertname") == "OrdersHighErrorRatio"), None)
if key is None:
    errors.append("no OrdersHighErrorRatio group")
else:
    ns = groups[key]
    firing = [n for n in ns if n["status"] == "firing"]
    resolved = [n for n in ns if n["status"] == "resolved"]
    before = [n for n in firing if n["received_at"] <= t_kill]
    after = [n for n in firing if n["received_at"] > t_kill]
    if len(before) != 1:
        errors.append(f"OrdersHighErrorRatio: {len(before)} firing notifications before the failure, expected exactly 1")
    if not after:
        errors.append("OrdersHighErrorRatio: no firing notification after the failure")
    for a, b in zip(firing, firing[1:]):
        gap = b["received_at"] - a["received_at"]
        if gap > repeat_bound:
            errors.append(f"OrdersHighErrorRatio: {gap:.1f}s between firing notifications, more than one cycle ({repeat_bound:.0f}s)")
    if len(resolved) != 1:
        errors.append(f"OrdersHighErrorRatio: {len(resolved)} resolved notifications, expected exactly 1")
    gaps = [f"{b['received_at'] - a['received_at']:.1f}s" for a, b in zip(firing, firing[1:])]
    print(f"OrdersHighErrorRatio: {len(before)} firing before the failure, {len(after)} after (gaps {', '.join(gaps) or '-'}; "
          f"repeat_interval {repeat_interval:.0f}s), {len(resolved)} resolved")
for e in errors:
    print("  ERROR: " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
printf '  alert at the webhook:  %6.1fs after the fault (bound %ss), sent by %s\n' "$alert_s" "$ALERT_BOUND" "$first_sender"
printf '  failure:               %s powered off %ss after the first notification\n' "${STOPPED[*]}" "$GOSSIP_SETTLE"
printf '  status:                exit %s, the whole failure reported %ss after it\n' "$status_rc" "$status_s"
printf '  repeat after failure:  %6.1fs after the first notification (repeat_interval %ss, group_interval %ss)\n' "$repeat_s" "$REPEAT_INTERVAL" "$GROUP_INTERVAL"
printf '  resolved:              %6.1fs after clearing the fault\n' "$resolve_s"
echo "PASS"
