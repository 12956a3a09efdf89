#!/usr/bin/env bash
# The cold `up` of dev that every later dev check shares (was the start of
# lab.sh and fast_path.sh): the summary is ok, every host runs Debian 13, no
# generated secret is readable where it must not be (leak_scan.py sampled
# every command line during the up), the lab stack's obsctl_inventory matches
# docs/contract.schema.json, and the up took the full path ("Terraform
# changed") and recorded every host's managed files in converged.json.
# env: dev
# needs:
# leaves: up
source "$(dirname "$0")/lib.sh"

say "obsctl up --env $ENV --without $WITHOUT (cold)"
python3 tests/e2e/leak_scan.py sample "$WORK/cmdlines" & LEAK_SAMPLER=$!   # every process's command line during up, for the leak scan
start=$(now)
"$OBSCTL" up --env "$ENV" --without "$WITHOUT" --output json >"$WORK/cold.jsonl" </dev/null || { cat "$WORK/cold.jsonl"; fail "cold up failed"; }
cold=$(since "$start")
mkdir -p "$SHARED" && cp "$WORK/cold.jsonl" "$SHARED/up-cold.jsonl"
s=$(summary cold)
[ "$(jq -r .ok <<<"$s")" = true ] || fail "up summary not ok: $s"
echo "cold up: ${cold}s; phases: $(jq -c .timings <<<"$s")"
expect_release "$s" 13   # dev runs Debian 13 (environments/dev.toml)
python3 tests/e2e/leak_scan.py scan --env "$ENV" --cmdlines "$WORK/cmdlines" --stop "$LEAK_SAMPLER" || fail "leak scan: a generated secret is readable where it must not be (above)"

# --- the contract: the lab stack's real output against the JSON Schema ----------
python3 "$ROOT/tests/static/contract_schema.py" --terraform ".obsctl/$ENV" lab || fail "the lab stack's obsctl_inventory breaks docs/contract.schema.json"

# --- the fast path's starting point (src/state/converged.rs) -------------------------
expect_path cold full "Terraform changed"
[ -s "$STATE/converged.json" ] || fail "no .obsctl/$ENV/converged.json after a successful up"
jq -e '.hosts | to_entries | all(.value.expected.files | length > 0)' "$STATE/converged.json" >/dev/null \
  || fail "the record has a host without managed files: $(jq -c '.hosts | map_values(.expected.files | length)' "$STATE/converged.json")"
echo "PASS: cold up ${cold}s"
