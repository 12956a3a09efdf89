#!/usr/bin/env bash
# Drift on dev (was lab.sh): a stopped service and a hand-edited config.
# status names the stopped node_exporter and exits 50; plan names the
# drifted and the stopped tasks and exits 2; up converges, plan is in sync and
# status healthy again; the record it wrote still checks sshd on every host.
# Leaves dev converged, as it found it.
# env: dev
# needs:
# leaves: as-found
source "$(dirname "$0")/lib.sh"
inv="$WORK/contract.json"
jq .contract ".obsctl/$ENV/deployment.json" >"$inv"
prom=$(jq -r '[.hosts | to_entries[] | select(.value.roles | index("prometheus"))][0].value.address' "$inv")
app=$(jq -r '[.hosts | to_entries[] | select(.value.roles | index("app"))][0].value.address' "$inv")

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
# That up changed neither sshd's files nor its keys (its reload did not run):
# the record it wrote still requires sshd on every host.
jq -e '[.hosts[].managed.services | has("ssh")] | all' "$STATE/converged.json" >/dev/null \
  || fail "the converged record after a run that left sshd alone does not check sshd: $(jq -c '.hosts | map_values(.managed.services | keys)' "$STATE/converged.json")"
echo "PASS"
