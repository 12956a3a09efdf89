#!/usr/bin/env bash
# A second `up` on a converged dev changes nothing (was lab.sh): 0 changed
# Ansible tasks, 0 Terraform changes; dev's maintenance silence was set and
# expired (silence_during_up = true); no silence left; status is healthy;
# `obsctl ssh` reaches each host with the pinned key (no stdin, no prompt).
# env: dev
# needs:
# leaves: as-found
source "$(dirname "$0")/lib.sh"

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
say "obsctl ssh reaches every host"
for h in $(jq -r '.contract.hosts | keys[]' "$STATE/deployment.json"); do
  got=$("$OBSCTL" ssh --env "$ENV" "$h" -- cat /etc/hostname </dev/null) || fail "obsctl ssh --env $ENV $h failed"
  [ "$got" = "$h" ] || fail "obsctl ssh --env $ENV $h reached '$got'"
done
echo "obsctl ssh: every host answered with its own name"
echo "PASS: no-op up ${noop}s"
