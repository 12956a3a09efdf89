#!/usr/bin/env bash
# TLS and authentication of a running lab environment (issue 13; the model is
# docs/security.md). Called by tests/e2e/lab.sh (dev) and
# tests/e2e/staging-failover.sh (staging) after `up`:
#
#   tests/e2e/auth_checks.sh ENV
#
# For every endpoint of every component that runs live here (Prometheus,
# Alertmanager, node_exporter, orders-api /metrics and /admin/faults), on
# every host that runs it:
#   - no credentials                      → 401
#   - obsctl with a wrong password        → 401
#   - a client that does not trust the CA → the TLS handshake fails
#   - plain HTTP                          → no answer with data (not 2xx)
#   - obsctl's credentials, trusting the CA → 200
# then: orders-api's public endpoints (/healthz, /orders) answer without
# credentials over HTTPS; fault injection and silences cannot be created
# without credentials (and nothing was created); every scrape target of every
# Prometheus is up over https:// and every Alertmanager it sends to is
# https://; with several Alertmanagers, the gossip port speaks mutual TLS (a
# peer without a certificate of the environment's CA is refused); on the
# hosts, no file under /etc/obsctl but ca.crt is readable by others.
# Prints a table of what each endpoint answered (E2E_ARTIFACTS=DIR keeps it).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ENV=${1:?usage: auth_checks.sh ENV}
source "$ROOT/tests/e2e/lib.sh"
require_lab jq curl python3

STATE="$ROOT/.obsctl/$ENV"
INV="$STATE/inventory.json"
CA="$STATE/tls/ca.crt"
[ -f "$INV" ] || fail "no inventory at $INV: run obsctl up --env $ENV first"
[ -f "$CA" ] || fail "no CA certificate at $CA"
[ -f "$STATE/secrets/web_obsctl_password" ] || fail "no password for obsctl in $STATE/secrets"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

members() { jq -r --arg g "$1" '.all.children[$g].hosts // {} | keys[]' "$INV"; }
addr() { jq -r --arg h "$1" '.all.hosts[$h].ansible_host' "$INV"; }
port() { jq -r --arg c "$1" '.all.vars.obsctl_components[$c].port' "$INV"; }
enabled() { [ "$(jq -r --arg c "$1" '.all.vars.obsctl_components[$c].enabled' "$INV")" = true ] && [ -n "$(members "$1")" ]; }

# code ARGS...: the HTTP status curl got, or "tls-<curl exit>" / "conn-<curl exit>" when there was no answer.
code() {
  local out rc=0
  out=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@") || rc=$?
  case $rc in
    0) echo "$out" ;;
    35 | 51 | 53 | 58 | 59 | 60 | 77 | 80 | 82 | 83 | 90 | 91) echo "tls-$rc" ;;
    *) if [ "$out" != 000 ] && [ -n "$out" ]; then echo "$out"; else echo "conn-$rc"; fi ;;
  esac
}
wrong_password() { printf 'user = "obsctl:%s"\n' "not-the-password-$RANDOM"; }

failures=()
check() { # check WHAT GOT WANT-REGEX
  if [[ "$2" =~ ^($3)$ ]]; then :; else failures+=("$1: got $2, expected $3"); fi
}

endpoint() { # endpoint COMPONENT HOST PATH [METHOD]
  local c=$1 h=$2 path=$3 method=${4:-GET} a p url plain none wrong untrusted ok
  a=$(addr "$h"); p=$(port "$c")
  url="https://$a:$p$path"; plain="http://$a:$p$path"
  none=$(code -X "$method" --cacert "$CA" "$url")
  wrong=$(code -X "$method" --cacert "$CA" -K <(wrong_password) "$url")
  # The system's trust store only: the environment's CA is not in it.
  untrusted=$(code -X "$method" "$url")
  plain=$(code -X "$method" "$plain")
  ok=$(scurl "$ENV" -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$method" "$url" || echo "err-$?")
  printf '%-13s %-8s %-38s %-8s %-8s %-10s %-9s %-8s\n' "$c" "$h" "$path${4:+ ($method)}" "$none" "$wrong" "$untrusted" "$plain" "$ok" | tee -a "$WORK/table.txt"
  check "$c on $h $path without credentials" "$none" 401
  check "$c on $h $path with a wrong password" "$wrong" 401
  check "$c on $h $path from a client that does not trust the CA" "$untrusted" 'tls-[0-9]+'
  check "$c on $h $path over plain HTTP" "$plain" '[0-9]{3}|conn-[0-9]+|tls-[0-9]+'
  [[ "$plain" =~ ^2 ]] && failures+=("$c on $h $path answers plain HTTP with $plain")
  check "$c on $h $path as obsctl" "$ok" 200
}

say "TLS and basic auth of every live endpoint ($ENV)"
printf '%-13s %-8s %-38s %-8s %-8s %-10s %-9s %-8s\n' COMPONENT HOST URL "NO-AUTH" "WRONG-PW" "UNTRUSTED" "PLAIN-HTTP" "OBSCTL" | tee "$WORK/table.txt"
live=(prometheus alertmanager node_exporter app)
for c in "${live[@]}"; do
  enabled "$c" || continue
  for h in $(members "$c"); do
    case $c in
      prometheus) endpoint "$c" "$h" /api/v1/targets; endpoint "$c" "$h" /-/ready ;;
      alertmanager) endpoint "$c" "$h" /api/v2/status; endpoint "$c" "$h" /-/ready ;;
      node_exporter) endpoint "$c" "$h" /metrics ;;
      app) endpoint "$c" "$h" /metrics; endpoint "$c" "$h" /admin/faults ;;
    esac
  done
done
for c in grafana loki alloy promtail; do
  enabled "$c" && echo "($c is deployed but not checked here: its TLS and auth are checked statically, tests/static/configs.sh)"
done

if enabled app; then
  say "orders-api: the public endpoints stay open (over HTTPS); fault injection needs credentials"
  for h in $(members app); do
    a=$(addr "$h"); p=$(port app)
    check "orders-api on $h /healthz without credentials" "$(code --cacert "$CA" "https://$a:$p/healthz")" 200
    # A fault a caller injected on purpose (dev-lab-alerts runs this while
    # its silence holds) answers some requests with 5xx: open means a 200
    # without credentials, asked up to 20 times while the answers are 5xx.
    for _ in $(seq 20); do o=$(code --cacert "$CA" "https://$a:$p/orders"); [[ "$o" =~ ^5 ]] || break; done
    check "orders-api on $h /orders without credentials" "$o" 200
    # The faults as they were (a caller may have injected one on purpose,
    # e.g. dev-lab-alerts while its silence holds): unchanged by the refused PUT.
    before=$(scurl "$ENV" -fsS "https://$a:$p/admin/faults" | jq -cS .)
    check "orders-api on $h PUT /admin/faults without credentials" \
      "$(code --cacert "$CA" -X PUT -H 'Content-Type: application/json' -d '{"error_ratio": 1, "latency_ms": 1}' "https://$a:$p/admin/faults")" 401
    faults=$(scurl "$ENV" -fsS "https://$a:$p/admin/faults" | jq -cS .)
    [ "$(jq -r .error_ratio <<<"$faults")" != 1 ] && [ "$faults" = "$before" ] ||
      failures+=("orders-api on $h: a fault was injected without credentials: $before became $faults")
    echo "  $h: /healthz and /orders open, PUT /admin/faults without credentials refused, faults still $faults"
  done
fi

say "Alertmanager: a silence cannot be created without credentials"
marker="auth_checks.sh $RANDOM$RANDOM"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ); later=$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)
body=$(jq -nc --arg c "$marker" --arg s "$now" --arg e "$later" \
  '{matchers: [{name: "alertname", value: "AuthCheck", isRegex: false, isEqual: true}], startsAt: $s, endsAt: $e, createdBy: "auth_checks.sh", comment: $c}')
for h in $(members alertmanager); do
  url="https://$(addr "$h"):$(port alertmanager)/api/v2/silences"
  check "POST a silence to $h without credentials" "$(code --cacert "$CA" -X POST -H 'Content-Type: application/json' -d "$body" "$url")" 401
  check "POST a silence to $h with a wrong password" "$(code --cacert "$CA" -K <(wrong_password) -X POST -H 'Content-Type: application/json' -d "$body" "$url")" 401
  n=$(scurl "$ENV" -fsS "$url" | jq --arg c "$marker" '[.[] | select(.comment == $c)] | length')
  [ "$n" = 0 ] || failures+=("Alertmanager on $h holds $n silences created without credentials")
  echo "  $h: refused (401) without credentials and with a wrong one; no such silence exists"
done

# ---------------------------------------------------------------------------
# Least privilege: what each of obsctl's credentials may do (issue 27; the
# model is src/model/access.rs, its table docs/security.md). The policy is
# written here once more, on purpose: the inventory's obsctl_access must say
# the same, and every endpoint must answer as it says.
#   ACTION      CREDENTIALS ALLOWED (every other one is refused)
POLICY='
scrape      obsctl prometheus
query       obsctl grafana
silence     obsctl grafana
post_alert  obsctl prometheus
reload      obsctl
admin       obsctl
remote_read
quit
'
CREDS=(obsctl prometheus grafana alloy promtail)
for cred in "${CREDS[@]}"; do
  [ -f "$STATE/secrets/web_${cred}_password" ] || fail "no password for $cred in $STATE/secrets"
done
may() { # may ACTION CRED: the policy above allows it
  awk -v a="$1" -v c="$2" '$1 == a { for (i = 2; i <= NF; i++) if ($i == c) found = 1 } END { exit !found }' <<<"$POLICY"
}
model=$(jq -c '.all.vars.obsctl_access.actions' "$INV")
for a in $(awk 'NF { print $1 }' <<<"$POLICY"); do
  want=$(awk -v a="$a" '$1 == a { $1 = ""; print }' <<<"$POLICY" | xargs)
  got=$(jq -r --arg a "$a" '.[$a] // [] | join(" ")' <<<"$model")
  [ "$want" = "$got" ] || failures+=("obsctl_access in the inventory allows $a to '$got', this test's policy to '$want'")
done

# as CRED CURL-ARGS...: the status code of a request with CRED's credentials.
as() {
  local cred=$1
  shift
  code --cacert "$CA" -K <(printf 'user = "%s:%s"\n' "$cred" "$(cat "$STATE/secrets/web_${cred}_password")") "$@"
}
silence_body() {
  local now later
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ); later=$(date -u -d '+5 min' +%Y-%m-%dT%H:%M:%SZ)
  jq -nc --arg s "$now" --arg e "$later" --arg c "auth_checks.sh privilege $1" \
    '{matchers: [{name: "alertname", value: "AuthCheckMatchesNothing", isRegex: false, isEqual: true}], startsAt: $s, endsAt: $e, createdBy: "auth_checks.sh", comment: $c}'
}
printf '%-10s %-11s %-13s %-8s %-30s %-6s %-9s %s\n' ACTION CREDENTIAL COMPONENT HOST REQUEST GOT EXPECTED VERDICT >"$WORK/privilege.txt"
probe() { # probe ACTION COMPONENT HOST CRED ALLOWED-CODES REFUSED-CODES METHOD PATH [CURL-ARGS...]
  local action=$1 c=$2 h=$3 cred=$4 ok=$5 no=$6 method=$7 path=$8 want got verdict
  shift 8
  if [ "$action" = quit ] || { [ "$c" = prometheus ] && [ "$action" = reload ]; }; then
    want=403 # off for everyone
  elif may "$action" "$cred"; then want=$ok; else want=$no; fi
  got=$(as "$cred" -X "$method" "$@" "https://$(addr "$h"):$(port "$c")$path")
  if [[ "$got" =~ ^($want)$ ]]; then verdict=ok; else verdict=FAIL; failures+=("$cred $action on $c ($h) $method $path: got $got, expected $want"); fi
  printf '%-10s %-11s %-13s %-8s %-30s %-6s %-9s %s\n' "$action" "$cred" "$c" "$h" "$method $path" "$got" "$want" "$verdict" >>"$WORK/privilege.txt"
}
say "least privilege: every credential against every action (expected answers from the policy above)"
for cred in "${CREDS[@]}"; do
  for c in prometheus alertmanager node_exporter app; do
    enabled "$c" || continue
    for h in $(members "$c"); do
      probe scrape "$c" "$h" "$cred" 200 401 GET /metrics
      case $c in
        prometheus)
          probe query "$c" "$h" "$cred" 200 401 GET '/api/v1/query?query=up'
          probe query "$c" "$h" "$cred" 200 401 POST /api/v1/query --data-urlencode query=up
          # Harmless when allowed: 204, or without --web.enable-admin-api
          # Prometheus' own 500 "admin APIs disabled" (checked below).
          probe admin "$c" "$h" "$cred" '204|500' 401 POST /api/v1/admin/tsdb/clean_tombstones
          if [ "$cred" = obsctl ]; then
            r=$(scurl "$ENV" -s --max-time 10 -X POST -w ' %{http_code}' "https://$(addr "$h"):$(port "$c")/api/v1/admin/tsdb/clean_tombstones")
            [[ "$r" == *" 204" || "$r" == *"admin APIs disabled"*" 500" ]] || failures+=("obsctl's admin request on $h did not reach Prometheus: $r")
          fi
          # Remote read: refused for every credential (replicas reading
          # each other loop; src/model/access.rs).
          probe remote_read "$c" "$h" "$cred" - 401 POST /api/v1/read
          probe reload "$c" "$h" "$cred" - - POST /-/reload
          probe quit "$c" "$h" "$cred" - - POST /-/quit
          ;;
        alertmanager)
          probe query "$c" "$h" "$cred" 200 401 GET /api/v2/alerts
          # An empty batch: authorized or not, and no notification sent.
          probe post_alert "$c" "$h" "$cred" 200 401 POST /api/v2/alerts -H 'Content-Type: application/json' -d '[]'
          body=$(silence_body "$cred $RANDOM$RANDOM")
          probe silence "$c" "$h" "$cred" 200 401 POST /api/v2/silences -H 'Content-Type: application/json' -d "$body"
          # What that POST left: expired with the same credential if allowed, absent otherwise.
          id=$(scurl "$ENV" -fsS "https://$(addr "$h"):$(port "$c")/api/v2/silences" |
            jq -r --arg c "$(jq -r .comment <<<"$body")" '[.[] | select(.comment == $c and .status.state != "expired")][0].id // empty')
          if may silence "$cred"; then
            [ -n "$id" ] || failures+=("$cred's silence on $h was not created")
            probe silence "$c" "$h" "$cred" 200 401 DELETE "/api/v2/silence/${id:-none}"
          else
            [ -z "$id" ] || { failures+=("$cred created silence $id on $h"); scurl "$ENV" -fsS -X DELETE "https://$(addr "$h"):$(port "$c")/api/v2/silence/$id" >/dev/null; }
            probe silence "$c" "$h" "$cred" 200 401 DELETE "/api/v2/silence/$(cat /proc/sys/kernel/random/uuid)"
          fi
          probe reload "$c" "$h" "$cred" 200 401 POST /-/reload
          probe quit "$c" "$h" "$cred" - - POST /-/quit
          ;;
        app)
          # orders-api checks /admin itself: a user its web.yml accepts but who
          # may not administer gets 403.
          probe admin "$c" "$h" "$cred" 200 "$( [ "$cred" = prometheus ] && echo 403 || echo 401)" GET /admin/faults
          ;;
      esac
    done
  done
done
cat "$WORK/privilege.txt"
# Nothing a refused request could have done happened: every service still runs.
for c in prometheus alertmanager; do
  for h in $(members "$c"); do
    check "$c on $h still ready after the probes" "$(code --cacert "$CA" -K <(printf 'user = "obsctl:%s"\n' "$(cat "$STATE/secrets/web_obsctl_password")") "https://$(addr "$h"):$(port "$c")/-/ready")" 200
  done
done

say "every scrape target is up over HTTPS; every Alertmanager is reached over HTTPS"
for h in $(members prometheus); do
  base="https://$(addr "$h"):$(port prometheus)"
  t=$(scurl "$ENV" -fsS "$base/api/v1/targets?state=active")
  n=$(jq '.data.activeTargets | length' <<<"$t")
  bad=$(jq -c '[.data.activeTargets[] | select((.scrapeUrl | startswith("https://") | not) or .health != "up") | {job: .labels.job, host: .labels.host, url: .scrapeUrl, health, err: .lastError}]' <<<"$t")
  [ "$n" -gt 0 ] || failures+=("Prometheus on $h has no targets")
  [ "$bad" = "[]" ] || failures+=("Prometheus on $h: targets not up over https: $bad")
  ams=$(scurl "$ENV" -fsS "$base/api/v1/alertmanagers" | jq -r '.data.activeAlertmanagers[].url')
  [ "$(grep -c . <<<"$ams")" = "$(members alertmanager | grep -c .)" ] || failures+=("Prometheus on $h sends to: $ams")
  grep -qv '^https://' <<<"$ams" && failures+=("Prometheus on $h sends alerts over plain HTTP: $ams")
  echo "  $h: $n targets, all up over https://; sends alerts to $(tr '\n' ' ' <<<"$ams")"
done

AMS=($(members alertmanager))
if [ "${#AMS[@]}" -gt 1 ]; then
  say "Alertmanager cluster gossip: mutual TLS on the cluster port"
  cport=$(jq -r .all.vars.alertmanager_cluster_port "$INV")
  for h in "${AMS[@]}"; do
    a=$(addr "$h")
    # A peer with a certificate of the environment's CA is let in; a client
    # without one, or trusting another CA, is not.
    python3 - "$a" "$cport" "$CA" "$STATE/tls/hosts/$h.crt" "$STATE/tls/hosts/$h.key" <<'PY' || failures+=("gossip on $h:$cport is not mutual TLS")
import socket, ssl, sys
addr, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
def attempt(with_cert, verify):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = verify
    if verify:
        ctx.load_verify_locations(ca)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if with_cert:
        ctx.load_cert_chain(cert, key)
    try:
        with socket.create_connection((addr, port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname=addr) as s:
            s.settimeout(2)
            try:
                s.recv(1)  # TLS 1.3: a refused client certificate shows up here
            except socket.timeout:
                pass
            return "accepted"
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return f"refused ({type(e).__name__})"
peer = attempt(True, True)
anonymous = attempt(False, False)
print(f"  {addr}:{port}: peer with the CA's certificate {peer}; client without a certificate {anonymous}")
sys.exit(0 if peer == "accepted" and anonymous.startswith("refused") else 1)
PY
  done
fi

say "files on the hosts: only ca.crt is readable by others under /etc/obsctl"
key="$STATE/ssh/id_ed25519"
for h in $(jq -r '.all.hosts | keys[]' "$INV"); do
  read -r -a opts <<<"$(jq -r --arg h "$h" '.all.hosts[$h].ansible_ssh_common_args' "$INV")"
  user=$(jq -r --arg h "$h" '.all.hosts[$h].ansible_user' "$INV")
  sport=$(jq -r --arg h "$h" '.all.hosts[$h].ansible_port' "$INV")
  listing=$(ssh -i "$key" "${opts[@]}" -o LogLevel=ERROR -o BatchMode=yes -p "$sport" "$user@$(addr "$h")" \
    'find /etc/obsctl -type f -printf "%m %u:%g %p\n" | sort') || { failures+=("cannot list /etc/obsctl on $h"); continue; }
  open=$(awk '$3 !~ /\/ca\.crt$/ && substr($1, length($1), 1) != "0"' <<<"$listing")
  [ -z "$open" ] || failures+=("files readable by others on $h: $open")
  keys=$(grep -c '/server.key$' <<<"$listing" || true)
  echo "  $h: $(grep -c . <<<"$listing") files, $keys private keys, none readable by others but ca.crt"
done

say "one system user per component: each key and password is readable by its own service's user only"
# /etc/obsctl/{tls,secrets}/<service>/ belong to <service>'s user (the model's
# system_users; the app's directory is orders-api), Alertmanager's receiver
# credentials and configuration to alertmanager. Each running service's user
# is read from its unit's main process; `test -r` runs as that user.
owners=$(jq -r '.all.vars.obsctl_access.system_users | to_entries[] | "\(.key)=\(.value)"' "$INV" | sed 's/^app=/orders-api=/' | tr '\n' ' ')
for h in $(jq -r '.all.hosts | keys[]' "$INV"); do
  read -r -a opts <<<"$(jq -r --arg h "$h" '.all.hosts[$h].ansible_ssh_common_args' "$INV")"
  user=$(jq -r --arg h "$h" '.all.hosts[$h].ansible_user' "$INV")
  sport=$(jq -r --arg h "$h" '.all.hosts[$h].ansible_port' "$INV")
  out=$(ssh -i "$key" "${opts[@]}" -o LogLevel=ERROR -o BatchMode=yes -p "$sport" "$user@$(addr "$h")" "OWNERS='$owners' bash -s" <<'HOST'
set -u
declare -A owner
for kv in $OWNERS; do owner[${kv%%=*}]=${kv#*=}; done
owner[loki_gateway]=root
users=()
for unit in prometheus prometheus-alertmanager prometheus-node-exporter orders-api; do
  pid=$(systemctl show -p MainPID --value "$unit" 2>/dev/null)
  [ -n "$pid" ] && [ "$pid" != 0 ] || continue
  u=$(ps -o user= -p "$pid" | tr -d ' ')
  echo "RUNS $unit $u"
  users+=("$u")
done
files=$(find /etc/obsctl/tls /etc/obsctl/secrets -mindepth 2 -type f 2>/dev/null; ls -d /etc/prometheus/alertmanager.yml /etc/prometheus/alertmanager-secrets/* 2>/dev/null)
for f in $files; do
  case $f in
    /etc/obsctl/*) svc=$(cut -d/ -f5 <<<"$f"); want=${owner[$svc]:-root} ;;
    *) want=${owner[alertmanager]} ;;
  esac
  readers=()
  for u in $(printf '%s\n' "${users[@]}" | sort -u); do
    runuser -u "$u" -- test -r "$f" && readers+=("$u")
  done
  for u in "${readers[@]}"; do [ "$u" = "$want" ] || echo "LEAK $f is readable by $u (only $want should)"; done
  echo "FILE $f ${readers[*]:-nobody}"
done
HOST
  ) || { failures+=("cannot check the service users on $h"); continue; }
  runs=$(awk '$1 == "RUNS" { printf "%s as %s, ", $2, $3 }' <<<"$out")
  leaks=$(grep '^LEAK' <<<"$out" || true)
  [ -z "$leaks" ] || failures+=("$h: $leaks")
  # Two services of one host never share a user.
  dup=$(awk '$1 == "RUNS" { print $3 }' <<<"$out" | sort | uniq -d)
  [ -z "$dup" ] || failures+=("$h: several services run as $dup")
  echo "  $h: ${runs%, }; $(grep -c '^FILE' <<<"$out") secret files, each readable by its own service's user only"
  if [ -n "${E2E_ARTIFACTS:-}" ]; then mkdir -p "$E2E_ARTIFACTS" && printf '%s\n' "$out" >"$E2E_ARTIFACTS/readers-$ENV-$h.txt"; fi
done

[ -n "${E2E_ARTIFACTS:-}" ] && mkdir -p "$E2E_ARTIFACTS" && cp "$WORK/table.txt" "$E2E_ARTIFACTS/auth-$ENV.txt" &&
  cp "$WORK/privilege.txt" "$E2E_ARTIFACTS/privilege-$ENV.txt"
if [ ${#failures[@]} -gt 0 ]; then
  printf '  %s\n' "${failures[@]}" >&2
  fail "${#failures[@]} TLS/authentication check(s) failed"
fi
echo "auth_checks ($ENV): every check passed"
