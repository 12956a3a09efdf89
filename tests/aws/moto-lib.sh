# Shared by tests/aws/moto.sh and tests/aws/obsctl.sh (sourced, not run).
# Expects: MIRROR, MOTO_VENV, MOTO_VERSION, MOTO_PORT, ENDPOINT, and the caller's
# `log` and `die` functions; moto_workdir sets WORK, MOTO_PID and ok, and
# moto_start needs WORK and sets MOTO_PID.

# Prerequisites both tests need (terraform, the aws provider in $MIRROR, jq,
# ssh-keygen, python3, curl, openssl) plus any the caller found missing ("$@"). Under
# CI=true a missing one fails; elsewhere the test is skipped.
moto_require() {
    local missing=("$@")
    command -v terraform >/dev/null 2>&1 || missing+=("terraform (not on PATH)")
    compgen -G "$MIRROR/registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws_*" >/dev/null ||
        missing+=("hashicorp/aws provider in the mirror $MIRROR")
    for tool in jq ssh-keygen python3 curl openssl; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        if [[ "${CI:-}" == "true" ]]; then
            die "missing: ${missing[*]}"
        fi
        printf 'SKIP: missing: %s (set CI=true to make this a failure)\n' "${missing[*]}" >&2
        exit 0
    fi
}

# Never reach real AWS: drop every AWS_* variable, use dummy credentials and
# send every SDK call to moto.
moto_isolate() {
    while read -r var; do unset "$var"; done < <(compgen -e | grep '^AWS_' || true)
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=eu-west-1
    export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
    export AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL="$ENDPOINT"
}

# The moto venv (created once) and a free port.
moto_prepare() {
    if [[ ! -x "$MOTO_VENV/bin/moto_server" ]]; then
        log "creating moto venv in $MOTO_VENV (moto[server]==$MOTO_VERSION)"
        python3 -m venv "$MOTO_VENV"
        "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" ||
            die "pip install moto[server] into $MOTO_VENV failed"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null; then
        die "port $MOTO_PORT on 127.0.0.1 is already in use (another moto_server?); stop it or set MOTO_PORT"
    fi
}

# Starts moto_server in the background (log in $WORK/moto.log) and waits
# until it answers, at most 30 s.
moto_start() {
    log "starting moto_server on $ENDPOINT"
    "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
    MOTO_PID=$!
    for _ in $(seq 1 60); do
        kill -0 "$MOTO_PID" 2>/dev/null || { tail -n 20 "$WORK/moto.log" >&2; die "moto_server exited at start"; }
        curl -fsS -o /dev/null "$ENDPOINT/moto-api/data.json" 2>/dev/null && return 0
        sleep 0.5
    done
    die "moto_server did not answer on $ENDPOINT within 30 s"
}

# The test's temporary directory: sets WORK (obsctl-aws-$1.XXXXXX), MOTO_PID
# and ok=0, and on exit stops moto and removes WORK, unless the test did not
# set ok=1 or KEEP_WORK=1: then it is kept and named with $2 (what it holds).
moto_workdir() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/obsctl-aws-$1.XXXXXX")"
    MOTO_PID=""
    ok=0
    MOTO_WORK_HOLDS=$2
    trap moto_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
moto_cleanup() {
    local rc=$?
    if [[ -n "$MOTO_PID" ]] && kill -0 "$MOTO_PID" 2>/dev/null; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    if ((ok)) && [[ "${KEEP_WORK:-}" != "1" ]]; then
        rm -rf "$WORK"
    else
        printf 'work directory kept: %s (%s)\n' "$WORK" "$MOTO_WORK_HOLDS" >&2
    fi
    exit "$rc"
}

# Timestamps and the seconds between two of them (one decimal).
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# The user's certificate for Grafana's load balancer, as a user would bring
# it (issue 13: HTTPS only): a self-signed one for $1, imported into moto's
# ACM; prints its ARN. Needs moto running and WORK.
moto_certificate() {
    local name=$1 dir="$WORK/acm"
    mkdir -p -m 0700 "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$name" \
        -addext "subjectAltName=DNS:$name" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null ||
        die "openssl could not make a test certificate for $name"
    "$MOTO_VENV/bin/python" - "$ENDPOINT" "$dir/cert.pem" "$dir/key.pem" <<'PY' || die "importing a certificate into moto's ACM failed"
import sys, boto3
endpoint, cert, key = sys.argv[1:]
acm = boto3.client("acm", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
print(acm.import_certificate(Certificate=open(cert, "rb").read(), PrivateKey=open(key, "rb").read())["CertificateArn"])
PY
}
