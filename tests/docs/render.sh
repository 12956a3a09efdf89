#!/usr/bin/env bash
# Checks that every Mermaid diagram in docs/*.md is valid and renders:
#
#   (a) parse:  every block of every page through mermaid.parse under jsdom
#               (tests/docs/parse.mjs). Reports EVERY broken block with file and line.
#   (b) render: every page through mermaid-cli (mmdc) and Debian's Chromium,
#               to SVG in a temporary directory. Any mmdc error, a page that
#               yields fewer SVGs than it has blocks, or an SVG that is
#               Mermaid's error picture fails the run.
#   (c) measure: every SVG's width at Mermaid's own font size (its viewBox)
#               must be at most MAX_WIDTH (1000 px: a page column shows it
#               without shrinking its text), its height at most MAX_HEIGHT
#               (1000 px: it fits on a screen), and no label may be broken
#               inside a word (tests/docs/measure.mjs). First a self-test:
#               measure.mjs must refuse a planted SVG taller than MAX_HEIGHT.
#
#   tests/docs/render.sh              all pages in docs/
#   tests/docs/render.sh FILE.md...   just these
#   KEEP_SVG=DIR tests/docs/render.sh keep the SVGs in DIR
#   KEEP_SVG=DIR PNG=1 tests/docs/render.sh   also PNGs (to look at them)
#
# Installs what it needs when it is missing: Node.js and npm, Debian's `chromium`
# (apt-get, as root), and the pinned npm packages of tests/docs/package.json
# (exact versions, package-lock.json) into tests/docs/node_modules with
# PUPPETEER_SKIP_DOWNLOAD=1. No browser is downloaded; mmdc drives /usr/bin/chromium
# through tests/docs/puppeteer.json.
#
# Under CI=true a tool that is missing and cannot be installed fails the run.
# Elsewhere the run is skipped with a message (exit 0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
started=$(date +%s.%N)

say() { printf 'docs: %s\n' "$*" >&2; }
fail() { printf 'docs: FAIL: %s\n' "$*" >&2; exit 1; }
missing() {
  if [[ "${CI:-}" == "true" ]]; then fail "prerequisite missing: $*"; fi
  say "SKIP: prerequisite missing: $* (under CI=true this fails)"
  exit 0
}
elapsed() { awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

apt_install() { # packages...
  [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1 || return 1
  say "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

# --- pages ------------------------------------------------------------------------

if [[ $# -gt 0 ]]; then
  pages=("$@")
else
  shopt -s nullglob
  pages=("$root"/docs/*.md)
  shopt -u nullglob
fi
[[ ${#pages[@]} -gt 0 ]] || fail "no Markdown pages in $root/docs"
for p in "${pages[@]}"; do [[ -f "$p" ]] || fail "no such page: $p"; done

# --- prerequisites -----------------------------------------------------------------

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm || missing "node and npm (apt-get install nodejs npm, as root)"
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 19) ? 0 : 1)' ||
  missing "Node.js >= 18.19 (found $(node --version))"

chromium=/usr/bin/chromium
if [[ ! -x "$chromium" ]]; then
  apt_install chromium || missing "chromium (apt-get install chromium, as root)"
  [[ -x "$chromium" ]] || missing "chromium at $chromium"
fi

# npm packages: reinstalled only when package-lock.json changed since the last install.
stamp="$here/node_modules/.obsctl-lock-sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [[ ! -x "$here/node_modules/.bin/mmdc" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  say "installing the npm packages of tests/docs/package-lock.json (npm ci)"
  t=$(date +%s)
  (cd "$here" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >"${TMPDIR:-/tmp}/obsctl-docs-npm.log" 2>&1) ||
    { tail -n 20 "${TMPDIR:-/tmp}/obsctl-docs-npm.log" >&2; missing "npm ci in tests/docs failed (log above)"; }
  echo "$want" >"$stamp"
  say "npm packages installed ($(( $(date +%s) - t ))s)"
fi
mmdc="$here/node_modules/.bin/mmdc"

# --- (a) parse every block -----------------------------------------------------------

say "parse: mermaid.parse on every block of ${#pages[@]} pages"
(cd "$root" && node "$here/parse.mjs" "${pages[@]}") || fail "broken Mermaid blocks (listed above)"

# --- (b) render every page ------------------------------------------------------------

out="${KEEP_SVG:-}"
if [[ -z "$out" ]]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/obsctl-docs-svg.XXXXXX")
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

rendered=0
failed=()
for page in "${pages[@]}"; do
  name=$(basename "$page" .md)
  blocks=$(awk '/^[[:space:]]*(```|~~~)[[:space:]]*mermaid[[:space:]]*$/ { n++ } END { print n + 0 }' "$page")
  [[ "$blocks" -gt 0 ]] || continue
  t=$(date +%s.%N)
  if ! "$mmdc" -q -p "$here/puppeteer.json" -c "$here/mermaid.json" -i "$page" -o "$out/$name.md" \
      >"$out/$name.log" 2>&1; then
    sed 's/^/    /' "$out/$name.log" >&2
    failed+=("$page: mmdc failed")
    continue
  fi
  svgs=$(find "$out" -maxdepth 1 -name "$name-*.svg" | wc -l)
  if [[ "$svgs" -ne "$blocks" ]]; then
    failed+=("$page: $blocks Mermaid blocks but $svgs SVGs")
    continue
  fi
  bad=$(grep -l -e 'aria-roledescription="error"' -e 'Syntax error in text' "$out/$name"-*.svg || true)
  if [[ -n "$bad" ]]; then
    failed+=("$page: Mermaid drew its error picture: $(echo $bad | xargs -n1 basename | tr '\n' ' ')")
    continue
  fi
  rendered=$((rendered + blocks))
  say "render: ${page#"$root"/}: $blocks diagrams ($(awk -v s="$t" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')s)"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  printf 'docs: render failed: %s\n' "${failed[@]}" >&2
  fail "${#failed[@]} pages did not render"
fi

if [[ "${PNG:-}" == 1 && -n "${KEEP_SVG:-}" ]]; then
  for page in "${pages[@]}"; do
    grep -qE '^[[:space:]]*(```|~~~)[[:space:]]*mermaid' "$page" || continue
    "$mmdc" -q -p "$here/puppeteer.json" -c "$here/mermaid.json" -e png -i "$page" -o "$out/$(basename "$page" .md).md" >/dev/null 2>&1 ||
      say "PNG of $page failed"
  done
  say "PNGs in $out"
fi

# --- (c) measure every diagram ----------------------------------------------------------

max_w=${MAX_WIDTH:-1000}
max_h=${MAX_HEIGHT:-1000}

# self-test: a planted diagram one pixel over the height limit must fail
plant=$(mktemp -d "${TMPDIR:-/tmp}/obsctl-docs-plant.XXXXXX")
printf '# P\n\n```mermaid\nflowchart TB\n    a --> b\n```\n' >"$plant/plant.md"
printf '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 %d"><text>a</text><text>b</text></svg>\n' "$((max_h + 1))" >"$plant/plant-1.svg"
if node "$here/measure.mjs" "$max_w" "$max_h" "$plant" "$plant/plant.md" >"$plant/out" 2>&1; then
  cat "$plant/out" >&2; rm -rf "$plant"
  fail "self-test: measure.mjs accepted a diagram $((max_h + 1)) px tall (limit $max_h)"
fi
grep -q "px tall, over $max_h" "$plant/out" || { cat "$plant/out" >&2; rm -rf "$plant"; fail "self-test: measure.mjs failed the planted tall diagram, but not for its height"; }
rm -rf "$plant"
say "measure: self-test ok (a planted diagram $((max_h + 1)) px tall fails)"

say "measure: width (at most $max_w px), height (at most $max_h px) and labels of every diagram"
(cd "$root" && node "$here/measure.mjs" "$max_w" "$max_h" "$out" "${pages[@]}") >&2 ||
  fail "diagrams too wide, too tall or with broken words (listed above): split them or lay them out top-down"

say "render: all $rendered diagrams rendered to SVG${KEEP_SVG:+ in $KEEP_SVG} ($(elapsed)s in all)"
