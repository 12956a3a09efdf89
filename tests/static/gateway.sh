#!/usr/bin/env bash
# The log gateway's rendered nginx site (role loki_gateway), through nginx
# itself: `nginx -t` on it as rendered, then a live run on this machine's
# loopback in front of a stub HTTPS backend that stands in for Loki or
# the log agent, Alloy or the legacy Promtail (which cannot be installed
# here). Per endpoint the site serves:
#   - plain HTTP to the TLS port                      → 400
#   - no credentials, a wrong password, a user the
#     endpoint does not accept                         → 401 (WWW-Authenticate: Basic)
#   - every user it accepts                            → 200 from the backend, which
#     never sees the Authorization header
#   - a backend whose certificate names another host   → 502 (the gateway checks it)
# and for the endpoints with per-path rules (Prometheus, Alertmanager), per
# request kind (an action of docs/security.md, by method and path, including
# paths nginx normalizes) and per user: 200 with the credentials passed on
# to the backend for the users of that action, 401 for the others, 403 for
# everyone on what is off (/-/quit, Prometheus' /-/reload).
#
#   tests/static/gateway.sh RENDERED-GATEWAY-DIR TLS-DIR HOST SECRETS-DIR
#
# RENDERED-GATEWAY-DIR holds log-gateway.conf and <endpoint>.htpasswd as
# render.yml wrote them for HOST; TLS-DIR holds ca.crt and hosts/<host>.crt,
# .key (configs.sh makes them); SECRETS-DIR the web_<user>_password files
# the htpasswd hashes are of. Paths, the listen ports and the backends'
# ports are moved into a scratch directory and free loopback ports for the
# live run; nothing else of the site is changed. Called by configs.sh.
# Needs nginx (tests/setup.sh installs Debian's), curl, python3.
set -euo pipefail

dir="$1" tls="$2" host="$3" secrets="$4"
nginx="$(command -v nginx || echo /usr/sbin/nginx)"
if [[ ! -x "$nginx" ]]; then
  echo "gateway.sh: error: no nginx on this machine; run tests/setup.sh (apt-get install nginx)" >&2
  exit 2
fi
command -v curl >/dev/null || { echo "gateway.sh: error: no curl; run tests/setup.sh" >&2; exit 2; }

w="$(mktemp -d)"
pids=()
cleanup() {
  if [[ -f "$w/live/nginx.pid" ]]; then kill "$(cat "$w/live/nginx.pid")" 2>/dev/null || true; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$w"
}
trap cleanup EXIT

passed=0
failed=0
ok() { echo "gateway: $host: $*"; passed=$((passed + 1)); }
bad() { echo "gateway: $host: FAILED: $*" >&2; failed=$((failed + 1)); }

# The files where the site expects them, under $w/<mode>/root.
# prepare MODE: writes $w/MODE/nginx.conf (live: free ports, and
# $w/MODE/ports.json {endpoint: [listen, backend]}).
prepare() {
  local mode="$1" m="$w/$1"
  mkdir -p "$m/root/etc/obsctl/tls/loki_gateway" "$m/root/etc/nginx/obsctl" "$m/logs" "$m/tmp"
  cp "$tls/ca.crt" "$m/root/etc/obsctl/tls/ca.crt"
  cp "$tls/hosts/$host.crt" "$m/root/etc/obsctl/tls/loki_gateway/server.crt"
  cp "$tls/hosts/$host.key" "$m/root/etc/obsctl/tls/loki_gateway/server.key"
  cp "$dir"/*.htpasswd "$m/root/etc/nginx/obsctl/"
  python3 - "$dir/log-gateway.conf" "$m" "$mode" <<'PY'
import json, re, socket, sys
site, m, mode = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
for prefix in ("/etc/obsctl/", "/etc/nginx/obsctl/"):
    site = site.replace(prefix, f"{m}/root{prefix}")
site = site.replace("/var/log/nginx/", f"{m}/logs/")
ports = {}
# The per-path fronts listen on the host's private address: on loopback here.
site = re.sub(r"listen [0-9.]+:(\d+) ssl;", r"listen 127.0.0.1:\1 ssl;", site)
if mode == "live":
    def free():
        s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
    for name, backend in re.findall(r"upstream obsctl_(\w+)\s*\{\s*server 127\.0\.0\.1:(\d+);", site):
        new_backend = free()
        site = site.replace(f"server 127.0.0.1:{backend};", f"server 127.0.0.1:{new_backend};")
        ports[name] = [None, new_backend]
    for listen, name in re.findall(r"listen ((?:127\.0\.0\.1:)?\d+) ssl;.*?auth_basic\s+\"(\w+)\";", site, re.S):
        new_listen = free()
        site = site.replace(f"listen {listen} ssl;", f"listen 127.0.0.1:{new_listen} ssl;", 1)
        ports[name][0] = new_listen
open(f"{m}/site.conf", "w").write(site)
open(f"{m}/ports.json", "w").write(json.dumps(ports))
open(f"{m}/nginx.conf", "w").write(f"""user root;
pid {m}/nginx.pid;
error_log {m}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {m}/tmp/body;
    proxy_temp_path {m}/tmp/proxy;
    fastcgi_temp_path {m}/tmp/fastcgi;
    uwsgi_temp_path {m}/tmp/uwsgi;
    scgi_temp_path {m}/tmp/scgi;
    access_log {m}/logs/access.log;
    include {m}/site.conf;
}}
""")
PY
}

# 1. nginx -t on the site as rendered (its own ports and backends).
prepare check
if "$nginx" -t -c "$w/check/nginx.conf" -p "$w/check/" >"$w/check.log" 2>&1; then
  ok "nginx -t accepts the rendered site ($("$nginx" -v 2>&1 | sed 's/.*: //'))"
else
  cat "$w/check.log" >&2
  bad "nginx -t refuses the rendered site"
fi

# 2. Live, on free loopback ports.
prepare live
# A stub backend per endpoint: HTTPS with a certificate (of $2), answers 200
# with whether it saw an Authorization header.
stub() { # stub PORT CERT-HOST
  python3 - "$1" "$tls/hosts/$2.crt" "$tls/hosts/$2.key" <<'PY' &
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = json.dumps({"path": self.path, "authorization": "Authorization" in self.headers}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
  pids+=("$!")
  # Until it answers (TLS up, whichever certificate it has).
  for _ in $(seq 100); do
    curl -sk --max-time 2 -o /dev/null "https://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "gateway.sh: the stub backend on port $1 did not start" >&2
  return 1
}
if ! "$nginx" -c "$w/live/nginx.conf" -p "$w/live/" >"$w/live.log" 2>&1; then
  cat "$w/live.log" "$w/live/logs/error.log" >&2 2>/dev/null || true
  bad "nginx does not start with the rendered site"
  echo "gateway: $passed passed, $failed failed"
  exit 1
fi

declare -A accepts=([loki]="obsctl prometheus grafana alloy promtail" [alloy]="obsctl prometheus" [promtail]="obsctl prometheus")
# Who may do each action (docs/security.md, src/model/access.rs), and per
# front with rules, requests of each kind: METHOD PATH ACTION (off: nobody).
declare -A may=([scrape]="obsctl prometheus" [query]="obsctl grafana" [silence]="obsctl grafana"
  [post_alert]="obsctl prometheus" [reload]="obsctl" [admin]="obsctl" [remote_read]="" [off]="")
declare -A requests=(
  [prometheus]="GET /metrics scrape|GET /api/v1/query?query=up query|POST /api/v1/query query|GET /-/ready query
POST /api/v1/admin/tsdb/snapshot admin|POST /api/v1//admin/tsdb/snapshot admin|POST /api/v1/%61dmin/tsdb/snapshot admin
POST /api/v1/query/../admin/tsdb/snapshot admin|POST /api/v1/read remote_read|POST /api/v1//read remote_read|GET /api/v1/read query
POST /-/reload off|POST /-/quit off|PUT /api/v1/query off|DELETE /api/v1/series off"
  [alertmanager]="GET /metrics scrape|GET /api/v2/alerts query|GET /api/v2/silences query|POST /api/v2/alerts post_alert
POST /api/v1/alerts post_alert|POST /api/v2/silences silence|DELETE /api/v2/silence/0d3a silence|POST /-/reload reload
POST /-/quit off|POST /api/v2/status off|PUT /api/v2/silences off")
for name in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))))' "$w/live/ports.json"); do
  read -r port backend < <(python3 -c 'import json,sys; print(*json.load(open(sys.argv[1]))[sys.argv[2]])' "$w/live/ports.json" "$name")
  stub "$backend" "$host"
  url="https://$host:$port/metrics"
  c=(curl -s --max-time 5 --cacert "$tls/ca.crt" --resolve "$host:$port:127.0.0.1")
  for _ in $(seq 50); do "${c[@]}" -o /dev/null "$url" && break; sleep 0.1; done
  code() { "${c[@]}" -o "$w/body" -w '%{http_code}' "$@"; }

  got=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
  [[ "$got" == 400 ]] && ok "$name: plain HTTP refused (400)" || bad "$name: plain HTTP got $got, expected 400"
  got=$(code -D "$w/headers" "$url")
  if [[ "$got" == 401 ]] && grep -qi "^WWW-Authenticate: Basic realm=\"$name\"" "$w/headers"; then
    ok "$name: no credentials refused (401, WWW-Authenticate: Basic)"
  else
    bad "$name: no credentials got $got (headers: $(tr -d '\r' <"$w/headers" | tr '\n' ' '))"
  fi
  got=$(code -u "prometheus:wrong-password" "$url")
  [[ "$got" == 401 ]] && ok "$name: a wrong password refused (401)" || bad "$name: a wrong password got $got"
  if [[ -n "${requests[$name]:-}" ]]; then
    while read -r method path action; do
      for user in obsctl prometheus grafana alloy promtail; do
        pw="$(tr -d '\n' <"$secrets/web_${user}_password")"
        got=$(code --path-as-is -X "$method" -u "$user:$pw" "https://$host:$port$path")
        if [[ "$action" == off ]]; then want=403
        elif [[ " ${may[$action]} " == *" $user "* ]]; then want=200
        else want=401; fi
        if [[ "$got" == "$want" ]] && { [[ "$want" != 200 ]] || grep -q '"authorization": true' "$w/body"; }; then
          passed=$((passed + 1))
        else
          bad "$name: $user $method $path ($action) got $got ($(cat "$w/body" 2>/dev/null)), expected $want"
        fi
      done
    done < <(tr '|' '\n' <<<"${requests[$name]}")
    ok "$name: every request kind as every user answered as its action's users say (credentials passed on)"
  else
  for user in obsctl prometheus grafana alloy promtail; do
    pw="$(tr -d '\n' <"$secrets/web_${user}_password")"
    got=$(code -u "$user:$pw" "$url")
    if [[ " ${accepts[$name]} " == *" $user "* ]]; then
      if [[ "$got" == 200 ]] && grep -q '"authorization": false' "$w/body"; then
        ok "$name: $user accepted (200), the backend did not see the credentials"
      else
        bad "$name: $user got $got ($(cat "$w/body" 2>/dev/null)), expected 200 without credentials passed on"
      fi
    else
      [[ "$got" == 401 ]] && ok "$name: $user refused (401): not a user of $name" || bad "$name: $user got $got, expected 401"
    fi
  done
  fi
  # A backend whose certificate is another host's: the gateway must refuse it.
  other=mon-2; [[ "$host" == mon-2 ]] && other=mon-3
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  stub "$backend" "$other"
  pw="$(tr -d '\n' <"$secrets/web_obsctl_password")"
  got=$(code -u "obsctl:$pw" "$url")
  [[ "$got" == 502 ]] && ok "$name: a backend with $other's certificate refused (502)" ||
    bad "$name: a backend with $other's certificate got $got, expected 502"
done

echo "gateway: $passed passed, $failed failed"
((failed == 0))
