# Shared by the lab end-to-end tests (sourced, not run): messages, and the
# prerequisite check that fails under CI=true and skips elsewhere.
say() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
prereq() {
  if [ "${CI:-}" = true ]; then fail "prerequisite missing: $*"; fi
  echo "SKIP: prerequisite missing: $*"; exit 0
}

# What every lab test needs: root (systemd-nspawn), terraform, and the tools
# given as arguments.
require_lab() {
  [ "$(id -u)" = 0 ] || prereq "root (the lab boots machines with systemd-nspawn)"
  command -v terraform >/dev/null || prereq "terraform"
  for t in "$@"; do command -v "$t" >/dev/null || prereq "$t"; done
}
