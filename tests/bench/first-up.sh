#!/usr/bin/env bash
# The newcomer's first run: the README's first command from nothing, then
# the same command again. It prints figures and asserts nothing;
# docs/performance.md ("First run") records a run.
#
#   ENV=nc ENV_FILE=environments/nc.toml tests/bench/first-up.sh
#
# From nothing means: a fresh clone of this checkout's HEAD (no target/, so
# cargo builds everything; no .obsctl/, so no Ansible venv, and pip without
# its cache), and, in a mount namespace of its own, an empty directory over
# the lab's base images and over its apt cache (other environments on this
# machine keep theirs, untouched). Crates already downloaded by cargo stay.
#
# Run 1 prints its parts: cargo's build of obsctl (until obsctl's first
# event), then obsctl's own phases (prepare, terraform with the base image
# inside it, build: the wait for orders-api, hosts, ansible, verify), and the
# total; the heaviest crates of the build (cargo --timings). Run 2 prints
# its total, cargo's own check in it, and the path obsctl took (fast).
# Then the environment is destroyed. Every figure is printed with the load.
#
# CLONE=DIR: reuse that clone of an earlier run (brought to this HEAD,
# its target/ kept): everything but the build is from nothing again.
# ENV: an environment whose bridge no one else uses (default dev: needs
# the shared lab lock, see the common rules of tests/e2e). ENV_FILE: copied
# into the clone's environments/ (a private environment is not committed).
# Needs root (lab machines, the mount namespace).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ENV=${ENV:-dev}
ENV_FILE=${ENV_FILE:-}
WITHOUT=${WITHOUT-grafana,loki,alloy}
LAB_ROOT=/var/lib/obsctl/lab
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN{printf "%.1f", e-s}'; }

if [ -z "${FIRST_UP_INSIDE:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "first-up.sh: needs root (lab machines, a mount namespace)" >&2; exit 1; }
  WORK=$(mktemp -d /var/tmp/obsctl-first-up.XXXXXX)
  if [ -n "${CLONE:-}" ]; then
    REPO=$(cd "$CLONE" && pwd)
    git -C "$REPO" pull -q --ff-only "$ROOT" HEAD
    rm -rf "$REPO/.obsctl"
  else
    REPO=$WORK/obsctl
    git clone -q "$ROOT" "$REPO"
  fi
  [ -z "$ENV_FILE" ] || cp "$ENV_FILE" "$REPO/environments/"
  mkdir -p "$WORK/base" "$WORK/apt-cache" "$LAB_ROOT/base" "$LAB_ROOT/apt-cache"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r); clone of $(git rev-parse --short HEAD) in $REPO${CLONE:+ (reused: target/ kept)}"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  rc=0
  # The empty base and cache directories exist only in this namespace.
  FIRST_UP_INSIDE=1 WORK=$WORK REPO=$REPO ENV=$ENV WITHOUT=$WITHOUT unshare --mount --propagation private \
    bash -c 'mount --bind "$WORK/base" '"$LAB_ROOT"'/base && mount --bind "$WORK/apt-cache" '"$LAB_ROOT"'/apt-cache && exec "$REPO/tests/bench/first-up.sh"' || rc=$?
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); the clone and its logs: $WORK (rm -rf it when done)"
  exit "$rc"
fi

cd "$REPO"
OBSCTL=$PWD/target/release/obsctl
export PIP_NO_CACHE_DIR=1
trap '"$OBSCTL" destroy --env "$ENV" --auto-approve >"$WORK/destroy.log" 2>&1 || echo "destroy failed: $WORK/destroy.log"' EXIT

# Seconds between a start (epoch) and the first JSON event obsctl printed.
first_event() { python3 - "$1" "$2" <<'PY'
import json, re, sys
from datetime import datetime
start = float(sys.argv[2])
for line in open(sys.argv[1]):
    try:
        ts = json.loads(line)["ts"]
    except (ValueError, KeyError):
        continue
    ts = re.sub(r"(\.\d{6})\d+", r"\1", ts).replace("Z", "+00:00")
    print(f"{datetime.fromisoformat(ts).timestamp() - start:.1f}")
    break
PY
}
# The summary's phases, and the base image's build from the lab's own lines.
parts() { python3 - "$1" <<'PY'
import json, re, sys
from datetime import datetime
def t(ts):
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", ts).replace("Z", "+00:00")).timestamp()
base = {}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    msg = str(e.get("message", ""))
    if "base image with" in msg and "building" in msg:
        base["start"] = t(e["ts"])
    elif "base image ready" in msg:
        base["end"] = t(e["ts"])
    if e.get("event") == "summary":
        print("  obsctl phases: " + ", ".join(f"{k} {v}s" for k, v in e.get("timings", {}).items()) + f"; path {e.get('path')}")
if len(base) == 2:
    print(f"  base image (inside terraform): {base['end'] - base['start']:.1f}s")
else:
    print("  base image: not built by this run (found)")
PY
}
# The crates that took longest (cargo's --timings report).
heaviest() { python3 - "$1" <<'PY'
import json, re, sys
html = open(sys.argv[1]).read()
m = re.search(r"const UNIT_DATA = (\[.*?\]);\n", html, re.S)
if not m:
    sys.exit(0)
units = sorted((u for u in json.loads(m.group(1)) if u["duration"] >= 1), key=lambda u: -u["duration"])[:8]
if units:
        print("  heaviest units: " + ", ".join(f"{u['name']} {u['duration']:.0f}s" for u in units))
PY
}

readme=(cargo run --release -- up --env "$ENV" --without "$WITHOUT" --auto-approve --output json)
echo "--- run 1: ${readme[*]} (from nothing; --timings added to the first run only)"
t=$(now)
cargo run --release --timings -- up --env "$ENV" --without "$WITHOUT" --auto-approve --output json >"$WORK/run1.jsonl" 2>"$WORK/run1.stderr" \
  || { echo "run 1 failed: tail of $WORK/run1.stderr"; tail -n 20 "$WORK/run1.stderr"; exit 1; }
total=$(since "$t")
echo "  cargo build of obsctl (until obsctl's first event): $(first_event "$WORK/run1.jsonl" "$t")s (load $(load))"
parts "$WORK/run1.jsonl"
heaviest "$(ls -t target/cargo-timings/cargo-timing-*.html | head -1)"
echo "first up, total: ${total}s (load $(load))"

echo "--- run 2: the same command again, nothing changed"
t=$(now)
"${readme[@]}" >"$WORK/run2.jsonl" 2>"$WORK/run2.stderr" || { echo "run 2 failed: $WORK/run2.stderr"; exit 1; }
total=$(since "$t")
echo "  cargo's own check (until obsctl's first event): $(first_event "$WORK/run2.jsonl" "$t")s"
parts "$WORK/run2.jsonl"
grep -q Compiling "$WORK/run2.stderr" && echo "  cargo compiled again: $(grep -c Compiling "$WORK/run2.stderr") crates"
echo "second up, total: ${total}s (load $(load))"
