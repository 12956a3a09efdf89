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

# The up summary (JSON) must show every host running Debian MAJOR, with the
# versions read from the hosts (`installed`): printed for the record.
expect_release() { # expect_release SUMMARY-JSON MAJOR
  local wrong
  wrong=$(jq -r --arg m "$2" '.installed | to_entries[] | select(.value.version_id != $m) | "\(.key): \(.value.release // .value.error)"' <<<"$1")
  [ -z "$wrong" ] || fail "hosts not on Debian $2: $wrong"
  echo "installed (read from the hosts): $(jq -c '[.installed | to_entries[] | {(.key): "\(.value.release): \(.value.packages | to_entries | map("\(.key) \(.value)") | join(", "))"}] | add' <<<"$1")"
}

# The stack serves HTTPS with a certificate of the environment's CA and
# requires basic auth (docs/security.md). scurl ENV CURL-ARGS...: curl that
# trusts that CA and authenticates as obsctl; the password goes from its
# 0600 file into curl's config through a pipe, never on a command line.
scurl() {
  local state="${ROOT:-.}/.obsctl/$1"
  shift
  curl --cacert "$state/tls/ca.crt" -K <(printf 'user = "obsctl:%s"\n' "$(cat "$state/secrets/web_obsctl_password")") "$@"
}

# Builds the release binary the lab tests drive ($OBSCTL, set by the caller).
build_obsctl() {
  say "build obsctl"
  cargo build --release --locked -q
  [ -x "$OBSCTL" ] || fail "target/release/obsctl was not built"
}
