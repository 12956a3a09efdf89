#!/usr/bin/env bash
# checkov (static security analysis of Terraform) on both stacks: every
# failed check must be in tests/static/checkov-skips.txt, which gives the
# reason for each; a listed check that fails nowhere any more is reported as
# stale (the list holds only what is really accepted).
#
#   tests/static/checkov.sh
#
# checkov comes from PyPI into its own venv (CHECKOV_VENV, default
# .obsctl/tools/checkov-venv, created on first use). Offline otherwise:
# --skip-download (no guideline download, no API key). Under CI=true a
# missing prerequisite (python3-venv, pip's index) is a failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${CHECKOV_VENV:-$root/.obsctl/tools/checkov-venv}"
VERSION="${CHECKOV_VERSION:-3.3.30}"
SKIPS="$root/tests/static/checkov-skips.txt"
die() { printf 'checkov.sh: FAIL: %s\n' "$*" >&2; exit 1; }

if [[ ! -x "$VENV/bin/checkov" ]]; then
    echo "checkov.sh: installing checkov==$VERSION into $VENV" >&2
    { python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$VERSION"; } ||
        { [[ "${CI:-}" == "true" ]] && die "cannot install checkov==$VERSION into $VENV"; echo "SKIP: checkov could not be installed (set CI=true to fail)" >&2; exit 0; }
fi

# The skip list: ids (first word of each non-comment line), each with a reason.
mapfile -t skips < <(awk '!/^[[:space:]]*(#|$)/ { if (NF < 2) { print "NOREASON:" $1; next } print $1 }' "$SKIPS")
for s in "${skips[@]}"; do [[ "$s" != NOREASON:* ]] || die "$SKIPS: ${s#NOREASON:} has no reason"; done
((${#skips[@]})) || die "$SKIPS lists no check (is it the right file?)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
declare -A used=()
for stack in aws lab; do
    # Soft-fail is off: the JSON is read here. Skipped checks are listed, not failed.
    "$VENV/bin/checkov" -d "$root/terraform/stacks/$stack" --framework terraform --skip-download --quiet --compact \
        -o json >"$work/$stack.json" 2>"$work/$stack.err" || true
    python3 - "$work/$stack.json" "$stack" "${skips[@]}" >"$work/$stack.out" <<'PY' || status=1
import json, sys
path, stack, *skips = sys.argv[1:]
try:
    data = json.load(open(path))
except ValueError:
    sys.exit(f"{stack}: checkov printed no JSON (see its stderr)")
reports = data if isinstance(data, list) else [data]
failed = [f for r in reports if isinstance(r, dict) for f in r.get("results", {}).get("failed_checks", [])]
passed = sum(r.get("summary", {}).get("passed", 0) for r in reports if isinstance(r, dict))
if not reports or (isinstance(data, dict) and "results" not in data and "passed" not in data):
    # checkov prints {"passed": 0, ...} for a directory without resources.
    pass
bad = [f for f in failed if f["check_id"] not in skips]
for f in failed:
    print("USED", f["check_id"])
for f in bad:
    print(f"  {stack}: {f['check_id']} {f['resource']} ({f['file_path']}): {f['check_name']}", file=sys.stderr)
print(f"SUMMARY {stack}: {passed} passed, {len(failed) - len(bad)} failed on the skip list, {len(bad)} failed outside it")
sys.exit(1 if bad else 0)
PY
    [[ -s "$work/$stack.json" ]] || { tail -n 5 "$work/$stack.err" >&2; die "checkov printed nothing for $stack"; }
    while read -r word id; do [[ "$word" == USED ]] && used[$id]=1; done <"$work/$stack.out"
    grep '^SUMMARY' "$work/$stack.out" | sed 's/^SUMMARY /checkov.sh: /'
done
stale=()
for s in "${skips[@]}"; do [[ -n "${used[$s]:-}" ]] || stale+=("$s"); done
if ((${#stale[@]})); then
    printf 'checkov.sh: stale skips (fail nowhere, remove them from %s): %s\n' "$SKIPS" "${stale[*]}" >&2
    status=1
fi
((status == 0)) || die "checkov found failed checks outside the skip list (above)"
echo "checkov.sh: ok (both stacks; ${#skips[@]} accepted checks, each with its reason in tests/static/checkov-skips.txt)"
