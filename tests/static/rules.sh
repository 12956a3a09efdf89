#!/usr/bin/env bash
# Static checks of the Prometheus alert and recording rules:
#   1. `promtool check rules` on every ansible/roles/prometheus/files/rules/*.rules.yml
#   2. `promtool test rules` on every tests/promtool/*.test.yml
#   3. rules_coverage.py: every alert has severity/summary/description and a
#      test case where it fires and one where it does not, every tested alert
#      exists (so rules and tests cannot drift apart).
# Needs promtool (Debian: apt-get install prometheus) and a Python with PyYAML
# (the Ansible venv from $OBSCTL_ANSIBLE_VENV, or python3 if it has PyYAML).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rules_dir="$root/ansible/roles/prometheus/files/rules"
tests_dir="$root/tests/promtool"

die() { echo "rules.sh: error: $*" >&2; exit 2; }

command -v promtool >/dev/null 2>&1 ||
  die "promtool not found; install it with: apt-get install -y prometheus"

python=""
venv="${OBSCTL_ANSIBLE_VENV:-$root/.obsctl/venv}"
for candidate in "$venv/bin/python" python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    python="$candidate"
    break
  fi
done
[[ -n "$python" ]] ||
  die "no Python with PyYAML: set OBSCTL_ANSIBLE_VENV to the Ansible venv or install python3-yaml"

shopt -s nullglob
rule_files=("$rules_dir"/*.rules.yml)
test_files=("$tests_dir"/*.test.yml)
((${#rule_files[@]})) || die "no rule files in $rules_dir"
((${#test_files[@]})) || die "no test files in $tests_dir"

passed=0
failed=0
step() { # step NAME COMMAND...
  local name="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "rules.sh: FAILED: $name" >&2
    failed=$((failed + 1))
  fi
}

for f in "${rule_files[@]}"; do
  step "promtool check rules ${f#"$root"/}" promtool check rules "$f"
done
for f in "${test_files[@]}"; do
  step "promtool test rules ${f#"$root"/}" promtool test rules "$f"
done
step "rules_coverage" "$python" "$root/tests/static/rules_coverage.py" "$rules_dir" "$tests_dir"

echo "rules: $passed passed, $failed failed"
((failed == 0))
