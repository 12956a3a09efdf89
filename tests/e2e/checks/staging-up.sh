#!/usr/bin/env bash
# The cold `up` of staging (prod's topology: mon-1 and mon-2 with Prometheus +
# Alertmanager, mon-3 with Alertmanager, app-1 with the application) that
# every staging check shares (was the start of staging-failover.sh): the
# summary is ok, every host runs Debian 12, both Prometheus replicas see
# every target up, send to all three Alertmanagers and do not remote-read
# each other (that loops; no per-replica external label), the Alertmanager cluster has 3 peers seen from every peer, and TLS
# and authentication hold (auth_checks.sh, gossip included).
# env: staging
# needs: webhook
# leaves: up
source "$(dirname "$0")/lib.sh"

say "obsctl up --env $ENV --without $WITHOUT"
start=$(now)
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json >"$WORK/up.jsonl" ||
  { jq -c 'select(.event == "error" or .event == "phase_end")' "$WORK/up.jsonl" 2>/dev/null || tail -n 20 "$WORK/up.jsonl"; fail "up failed"; }
up_s=$(since "$start")
mkdir -p "$SHARED" && cp "$WORK/up.jsonl" "$SHARED/up-cold.jsonl"
summary=$(jq -c 'select(.event == "summary")' "$WORK/up.jsonl")
[ "$(jq -r .ok <<<"$summary")" = true ] || fail "up summary not ok: $summary"
echo "up: ${up_s}s; phases: $(jq -c .timings <<<"$summary")"
expect_release "$summary" 12   # staging stays on Debian 12 (environments/staging.toml)

staging_topology

say "both Prometheus replicas: all $EXPECTED_TARGETS targets up, alerts to all ${#AMS[@]} Alertmanagers"
for p in "${PROMS[@]}"; do
  url="https://$(addr "$p"):9090"
  t=$(scurl "$ENV" -fsS "$url/api/v1/targets?state=active") || fail "Prometheus on $p does not answer"
  up=$(jq '[.data.activeTargets[] | select(.health == "up")] | length' <<<"$t")
  down=$(jq -c '[.data.activeTargets[] | select(.health != "up") | {job: .labels.job, host: .labels.host, err: .lastError}]' <<<"$t")
  [ "$up" = "$EXPECTED_TARGETS" ] || fail "Prometheus on $p: $up of $EXPECTED_TARGETS targets up; not up: $down"
  n=$(scurl "$ENV" -fsS "$url/api/v1/alertmanagers" | jq '.data.activeAlertmanagers | length')
  [ "$n" = "${#AMS[@]}" ] || fail "Prometheus on $p sends to $n Alertmanagers, expected ${#AMS[@]}"
  # The replicas do not remote-read each other (they would loop:
  # src/model/access.rs), and a query answers at once on a fresh replica.
  cfg=$(scurl "$ENV" -fsS "$url/api/v1/status/config" | jq -r .data.yaml)
  ! grep -q "^remote_read:" <<<"$cfg" || fail "Prometheus on $p has a remote_read"
  scurl "$ENV" -fsS --max-time 5 "$url/api/v1/query" --data-urlencode 'query=up' >/dev/null || fail "Prometheus on $p does not answer a query within 5s"
  echo "  $p: $up/$EXPECTED_TARGETS targets up, sends to $n Alertmanagers, answers queries"
done
say "Alertmanager cluster: ${#AMS[@]} peers seen from every peer"
deadline=$(( $(date +%s) + 60 ))
for a in "${AMS[@]}"; do
  while :; do
    s=$(scurl "$ENV" -fsS "https://$(addr "$a"):9093/api/v2/status" || echo '{}')
    peers=$(jq '.cluster.peers // [] | length' <<<"$s")
    [ "$peers" = "${#AMS[@]}" ] && [ "$(jq -r .cluster.status <<<"$s")" = ready ] && break
    [ "$(date +%s)" -lt "$deadline" ] || fail "Alertmanager on $a sees $peers peers (status $(jq -r .cluster.status <<<"$s")), expected ${#AMS[@]}"
    sleep 2
  done
  echo "  $a: cluster ready, $peers peers ($(jq -r '[.cluster.peers[].address] | sort | join(", ")' <<<"$s"))"
done
tests/e2e/auth_checks.sh "$ENV" || fail "TLS and authentication checks failed (tests/e2e/auth_checks.sh), gossip included"
echo "PASS: up ${up_s}s"
