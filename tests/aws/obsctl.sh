#!/usr/bin/env bash
# obsctl itself on the `aws` provider, against the moto AWS mock.
#
#   tests/aws/obsctl.sh
#
# tests/aws/moto.sh drives terraform/stacks/aws with Terraform alone; this
# test drives the same stack through obsctl, in a throw-away obsctl workspace
# (OBSCTL_ROOT: environments/, a link to terraform/ and a copy of ansible/) whose
# only environment, `awsmock`, is environments/prod.toml (4 hosts over 2
# zones, protected, its settings and receivers) with [aws] pointed at moto
# (endpoint, an Ubuntu image moto has, ssh_user ubuntu, deletable bucket):
#
#   up of prod.toml as shipped (admin_cidrs empty, no grafana_certificate_arn)
#     → exit 10 naming both and --without grafana, Terraform not run
#   up --skip-configure --auto-approve --output json  → exit 0, terraform adds
#     resources, summary ok (with a certificate imported into moto's ACM)
#   up --replace bastion --allow-destroy → the bastion's instance alone
#     replaced, its Elastic IP kept, its key pinned before forgotten; an
#     unknown name → exit 10
#   inventory → every host with ansible_host/obsctl_private_address, the
#     groups of prod's topology, all.vars.loki_s3_bucket (obsctl_vars output)
#   plan → exit 0 (in sync)
#   remote state, with [state] added to the env file (an S3 bucket in moto):
#     plan → exit 10, names `obsctl migrate-state` (state still local)
#     migrate-state → state object in S3 with every resource, local file kept
#       only as terraform.tfstate.migrated; plan → exit 0 through S3
#     a lock object left by a "teammate" → plan exit 12 naming the holder;
#       unlock --lock-id … --yes → lock gone, plan exit 0
#     a teammate's checkout (another workspace, the env's ssh/ and secrets/
#       copied) → plan exit 0: the same state
#   Grafana's database password (RDS, write-only, versioned):
#     a teammate's checkout without secrets/ → up exit 10 naming rotate-secret,
#       no password generated
#     rotate-secret grafana-db → version 2; plan exit 2 (drift); up applies it
#       (password_wo_version 2 in the state); plan exit 0
#   Grafana's database in backup and restore (an RDS snapshot; the aws CLI
#     venv obsctl installs once per user, ~/.cache/obsctl/awscli-<version>):
#     backup --only grafana-rds-snapshot → a manual snapshot
#       obsctl-awsmock-grafana-<time> available in moto, tagged with the
#       environment and the archive, named in the manifest (not a member)
#     restore onto the running environment → exit 10 (a running database is
#       not overwritten), the snapshot deleted → exit 10 naming it; nothing written
#     (after the destroy below) restore of a second archive → the controller's
#       state and .obsctl/<env>/grafana-db-restore.json naming its snapshot;
#       plan → exit 2 with grafana_db_snapshot_identifier in the stack's variables
#   destroy without --confirm-env and without a terminal → exit 10, nothing
#     destroyed
#   destroy --confirm-env awsmock → fails on the database and the load
#     balancer (protected environment: deletion protection); after the
#     documented `modify-db-instance --no-deletion-protection` and
#     `modify-load-balancer-attributes` → exit 0, state empty, a
#     final snapshot obsctl-awsmock-grafana-final-<creation time> kept
#   destroy again → "nothing to destroy"
#
# Never talks to real AWS: every AWS_* variable is dropped, dummy credentials
# are set, the stack sends every service it uses to aws.endpoint, and
# AWS_ENDPOINT_URL catches anything else.
#
# Environment:
#   CI=true          missing terraform / provider mirror / tools is a failure, not a skip
#   MOTO_PORT        port for moto_server on 127.0.0.1 (default 5000)
#   MOTO_VENV        venv holding moto (default <repo>/.obsctl/tools/moto-venv, created if missing)
#   MOTO_VERSION     moto version pip installs into a new venv (default 5.2.5)
#   TF_PLUGIN_MIRROR provider mirror (default /opt/tf-plugins)
#   OBSCTL           obsctl binary (default <repo>/target/release/obsctl, built if missing)
#   KEEP_WORK=1      keep the temporary workspace (run logs, state) even on success
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLI_CONFIG="$ROOT/tests/aws/terraformrc"
MIRROR="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
MOTO_PORT="${MOTO_PORT:-5000}"
MOTO_VENV="${MOTO_VENV:-$ROOT/.obsctl/tools/moto-venv}"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
OBSCTL="${OBSCTL:-$ROOT/target/release/obsctl}"
ENV_NAME=awsmock

# Moto's built-in image set has no Debian; these Ubuntu images are in it
# (the same filter as tests/aws/moto.sh).
MOTO_AMI_OWNER="099720109477"
MOTO_AMI_NAME="ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# --- prerequisites --------------------------------------------------------

source "$ROOT/tests/aws/moto-lib.sh"
missing=()
python3 -c 'import tomllib' 2>/dev/null || missing+=("python3 >= 3.11 (tomllib)")
# obsctl backup encrypts the controller's state with age (a Debian package).
for tool in age age-keygen tar; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[[ -x "$OBSCTL" ]] || command -v cargo >/dev/null 2>&1 || missing+=("obsctl binary $OBSCTL (and no cargo to build it)")
moto_require "${missing[@]}"

if [[ "$OBSCTL" == "$ROOT/target/release/obsctl" ]]; then
    log "building obsctl (cargo build --release)"
    (cd "$ROOT" && cargo build --release --locked -q -p obsctl) || die "cargo build --release failed"
fi
[[ -x "$OBSCTL" ]] || die "$OBSCTL is not an executable"

# --- isolate from real AWS ------------------------------------------------

moto_isolate
export TF_CLI_CONFIG_FILE="$CLI_CONFIG"

# --- moto venv, free port ------------------------------------------------

moto_prepare

# --- temporary obsctl workspace and cleanup -------------------------------

moto_workdir obsctl "obsctl run logs in workspace/.obsctl/$ENV_NAME/runs, moto.log"
WS="$WORK/workspace"
# A copy of the roles as they are now: the lab checks that run beside this
# test (tests/run) edit a template in the checkout once the static steps are done.
cp -a "$ROOT/ansible" "$WORK/ansible"

mkdir -p "$WS/environments"
ln -s "$ROOT/terraform" "$WS/terraform"
ln -s "$WORK/ansible" "$WS/ansible"
# awsmock = environments/prod.toml (topology, protection, components,
# settings, receivers) with only what the mock needs changed in [aws]: the
# endpoint, an image moto has, its login user, and buckets and databases
# that destroy may delete.
python3 - "$ROOT/environments/prod.toml" "$WS/environments/$ENV_NAME.toml" "$WORK/expected.json" \
    "$ENDPOINT" "$MOTO_AMI_OWNER" "$MOTO_AMI_NAME" <<'PY' || die "cannot derive $ENV_NAME.toml from environments/prod.toml"
import json, re, sys, tomllib
src, dst, expected_out, endpoint, owner, ami = sys.argv[1:]
text = open(src).read()
prod = tomllib.loads(text)
aws = dict(prod["aws"])
aws.update(endpoint=endpoint, ami_owner=owner, ami_name=ami, ssh_user="ubuntu", loki_force_destroy=True)

def value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
    raise SystemExit(f"cannot write {v!r}")

lines = text.splitlines()
begin = next(i for i, l in enumerate(lines) if re.match(r"\s*\[aws\]\s*(#.*)?$", l))
end = next((i for i in range(begin + 1, len(lines)) if re.match(r"\s*\[", lines[i])), len(lines))
table = ["[aws]"] + [f"{k} = {value(v)}" for k, v in aws.items()] + [""]
out = ["# Generated by tests/aws/obsctl.sh from environments/prod.toml: [aws] points at moto."]
out += lines[:begin] + table + lines[end:]
open(dst, "w").write("\n".join(out) + "\n")

env = tomllib.loads(open(dst).read())
components = env.get("components", ["prometheus", "alertmanager", "node_exporter", "grafana", "loki", "alloy", "app"])
hosts = [h["name"] for h in env["hosts"]]
groups = {}
for c in ["prometheus", "alertmanager", "grafana", "loki", "app"]:
    groups[c] = sorted(h["name"] for h in env["hosts"] if c in h["roles"]) if c in components else []
for c in ["node_exporter", "alloy", "promtail"]:
    groups[c] = sorted(hosts) if c in components else []
json.dump({"protected": env.get("protected", False), "hosts": sorted(hosts), "groups": groups,
           "zones": sorted(set(env["aws"]["availability_zones"][h.get("zone", 0)] for h in env["hosts"])),
           "vpc_cidr": env["aws"].get("vpc_cidr", "10.60.0.0/16"),
           "password_env": sorted({v for r in env.get("alertmanager", {}).get("receivers", [])
                                   for kind in ("email", "webhook", "slack", "pagerduty")
                                   for k, v in (r.get(kind) or {}).items() if k.endswith("_env")})},
          open(expected_out, "w"))
PY
EXPECTED="$WORK/expected.json"
jq -e '.protected == true' "$EXPECTED" >/dev/null || die "prod is not protected: this test checks the guarded destroy"
# Receivers' credentials (*_env) come from the environment: a dummy for the mock.
while read -r var; do export "$var=moto-test-not-a-secret"; done < <(jq -r '.password_env[]' "$EXPECTED")

export OBSCTL_ROOT="$WS"
STATE="$WS/.obsctl/$ENV_NAME"
obsctl() { "$OBSCTL" "$@"; }
STATE_BUCKET="obsctl-state-$ENV_NAME"
STATE_KEY="obsctl/$ENV_NAME/terraform.tfstate"
REMOTE=0 # 1 once the state lives in S3
# S3 in moto, with boto3 from the moto venv: s3 OPERATION ARGS…
#   bucket-exists B | make-bucket B | get B K (prints it) | exists B K | put B K FILE
s3() {
    "$MOTO_VENV/bin/python" - "$ENDPOINT" "$@" <<'PY'
import sys
import boto3, botocore
endpoint, op, *args = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
try:
    if op == "bucket-exists":
        s3.head_bucket(Bucket=args[0])
    elif op == "make-bucket":
        s3.create_bucket(Bucket=args[0], CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket=args[0], VersioningConfiguration={"Status": "Enabled"})
    elif op == "get":
        sys.stdout.write(s3.get_object(Bucket=args[0], Key=args[1])["Body"].read().decode())
    elif op == "exists":
        s3.head_object(Bucket=args[0], Key=args[1])
    elif op == "put":
        s3.put_object(Bucket=args[0], Key=args[1], Body=open(args[2], "rb").read())
except botocore.exceptions.ClientError:
    sys.exit(1)
PY
}
bucket_exists() { s3 bucket-exists "$1"; }
# Managed resources in the environment's Terraform state (0 without state),
# local or in S3.
state_resources() {
    local text
    if ((REMOTE)); then
        text=$(s3 get "$STATE_BUCKET" "$STATE_KEY") || { echo 0; return; }
    else
        [[ -f "$STATE/terraform.tfstate" ]] || { echo 0; return; }
        text=$(cat "$STATE/terraform.tfstate")
    fi
    jq '[.resources[]? | select(.mode == "managed") | .instances[]?] | length' <<<"$text"
}
show() { # $1 = file: its last lines
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n 30 "$1" >&2
}

# --- moto -----------------------------------------------------------------

moto_start

# --- Grafana over HTTPS only: the user's certificate ------------------------

# prod.toml as shipped (issue 32): admin_cidrs empty and no
# grafana_certificate_arn; up names each missing value before Terraform runs
# (exit 10, with the way out for Grafana).
cp "$WS/environments/$ENV_NAME.toml" "$WS/environments/awsnocert.toml"
rc=0
obsctl up --env awsnocert --skip-configure --auto-approve </dev/null >"$WORK/up-nocert.log" 2>&1 || rc=$?
((rc == 10)) || { show "$WORK/up-nocert.log"; die "up of prod.toml as shipped exited with $rc, expected 10"; }
for want in '2 values to fill in' 'aws.admin_cidrs' 'aws.grafana_certificate_arn' '--without grafana'; do
    tr -s ' \n' ' ' <"$WORK/up-nocert.log" | grep -qF -- "$want" ||
        { show "$WORK/up-nocert.log"; die "up of prod.toml as shipped did not name: $want"; }
done
[[ ! -e "$WS/.obsctl/awsnocert/terraform.tfstate" ]] || die "up of prod.toml as shipped ran Terraform"
rm "$WS/environments/awsnocert.toml"
log "up of prod.toml as shipped: each missing value named (exit 10), nothing created"
# What a new user fills in: the admins' network, then the certificate.
sed -i 's|^admin_cidrs = \[\]$|admin_cidrs = ["198.18.0.0/24"]|' "$WS/environments/$ENV_NAME.toml"
grep -q '^admin_cidrs = \["198.18.0.0/24"\]' "$WS/environments/$ENV_NAME.toml" || die "could not set admin_cidrs in $ENV_NAME.toml"
# The user's certificate, imported into moto's ACM, goes into [aws].
CERT_ARN="$(moto_certificate grafana.awsmock.example)"
sed -i "s|^\[aws\]\$|[aws]\ngrafana_certificate_arn = \"$CERT_ARN\"|" "$WS/environments/$ENV_NAME.toml"
grep -q "^grafana_certificate_arn = \"arn:aws:acm:" "$WS/environments/$ENV_NAME.toml" || die "could not set the certificate in $ENV_NAME.toml"

# --- up -------------------------------------------------------------------

log "obsctl up --env $ENV_NAME --skip-configure --auto-approve --output json"
UP="$WORK/up.jsonl"
rc=0
t0=$(now)
obsctl up --env "$ENV_NAME" --skip-configure --auto-approve --output json </dev/null >"$UP" 2>"$WORK/up.stderr" || rc=$?
up_wall=$(elapsed "$t0" "$(now)")
((rc == 0)) || { show "$UP"; show "$WORK/up.stderr"; die "up exited with $rc"; }
jq -e . "$UP" >/dev/null 2>&1 || { show "$UP"; die "up --output json printed something that is not JSON lines"; }
tf_end=$(jq -c 'select(.event == "phase_end" and .phase == "terraform")' "$UP")
[[ -n "$tf_end" ]] || { show "$UP"; die "no phase_end event for terraform"; }
jq -e '.ok == true and .add > 0 and .destroy == 0' <<<"$tf_end" >/dev/null || die "terraform phase_end not as expected: $tf_end"
added=$(jq -r .add <<<"$tf_end")
apply_s=$(jq -r .elapsed_s <<<"$tf_end")
summary=$(jq -c 'select(.event == "summary")' "$UP")
[[ $(wc -l <<<"$summary") == 1 && -n "$summary" ]] || { show "$UP"; die "expected exactly one summary event"; }
jq -e --slurpfile exp "$EXPECTED" '.ok == true and .environment == "awsmock" and .configured == false and (.hosts | sort) == $exp[0].hosts' \
    <<<"$summary" >/dev/null || die "summary not as expected: $summary"
[[ "$(tail -n 1 "$UP" | jq -r .event)" == summary ]] || die "the summary is not the last line of the JSON output"
resources=$(state_resources)
((resources >= added)) || die "state holds $resources managed resources, the plan added $added"
log "up: $added resources added in ${apply_s}s"

# --- the contract: the aws stack's real output against the JSON Schema -----
python3 "$ROOT/tests/static/contract_schema.py" --terraform "$STATE" aws || die "the aws stack's obsctl_inventory breaks docs/contract.schema.json"

# --- up --replace bastion: its instance alone, its old key forgotten --------

log "obsctl up --env $ENV_NAME --replace bastion --skip-configure --allow-destroy"
bastion=$(jq -r .contract.ssh.bastion "$STATE/deployment.json")
bastion_addr=${bastion#*@}
bastion_id() { jq -r '[.resources[] | select(.module == "module.bastion" and .type == "aws_instance") | .instances[0].attributes.id][0]' "$STATE/terraform.tfstate"; }
old_bastion=$(bastion_id)
# The key a first connection would have pinned (aws publishes none: trusted on first use).
mkdir -p "$STATE/ssh" && echo "$bastion_addr ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldBastionKeyOldBastionKeyOldBastionKey00" >>"$STATE/ssh/known_hosts"
rc=0
obsctl up --env "$ENV_NAME" --replace bastion --skip-configure --allow-destroy --auto-approve --output json </dev/null \
    >"$WORK/up-bastion.jsonl" 2>"$WORK/up-bastion.stderr" || rc=$?
((rc == 0)) || { show "$WORK/up-bastion.jsonl"; show "$WORK/up-bastion.stderr"; die "up --replace bastion exited with $rc"; }
jq -e -s 'any(.[]; .event == "phase_end" and .phase == "terraform" and .destroy == 1)' "$WORK/up-bastion.jsonl" >/dev/null ||
    die "up --replace bastion must replace one resource (the bastion's instance): $(jq -c 'select(.event == "phase_end" and .phase == "terraform")' "$WORK/up-bastion.jsonl")"
[[ "$(bastion_id)" != "$old_bastion" && "$(bastion_id)" == i-* ]] || die "the bastion's instance was not replaced ($old_bastion, now $(bastion_id))"
[[ "$(jq -r .contract.ssh.bastion "$STATE/deployment.json")" == "$bastion" ]] || die "the bastion's address (its Elastic IP) changed: $(jq -r .contract.ssh.bastion "$STATE/deployment.json")"
! grep -q "^$bastion_addr " "$STATE/ssh/known_hosts" || die "the replaced bastion's old host key is still pinned"
rc=0
obsctl up --env "$ENV_NAME" --replace bastion-1 --skip-configure --auto-approve </dev/null >"$WORK/up-nohost.log" 2>&1 || rc=$?
((rc == 10)) && grep -q -- "--replace bastion-1: \`$ENV_NAME\` has no host of that name" "$WORK/up-nohost.log" ||
    die "up --replace of an unknown name must exit 10 naming it (exit $rc): $(tail -n 3 "$WORK/up-nohost.log")"
log "bastion replaced: $old_bastion -> $(bastion_id), $bastion kept, its old key forgotten"

# --- inventory ------------------------------------------------------------

log "obsctl inventory --env $ENV_NAME"
INV="$WORK/inventory.json"
obsctl inventory --env "$ENV_NAME" >"$INV" || die "inventory failed"
check() { # $1 = description, $2 = jq condition on the inventory ($exp[0]: what the env file says)
    jq -e --slurpfile exp "$EXPECTED" "$2" "$INV" >/dev/null || { jq . "$INV" >&2; die "inventory: $1"; }
}
check "is JSON with all.hosts" '.all.hosts | type == "object"'
check "exactly the hosts of the environment" '(.all.hosts | keys) == $exp[0].hosts'
check "every host has ansible_host, obsctl_private_address inside the VPC, user ubuntu, port 22" \
    '[.all.hosts[] | (.ansible_host | type == "string" and length > 0) and (.obsctl_private_address | type == "string")
      and .ansible_user == "ubuntu" and .ansible_port == 22] | all'
python3 - "$INV" "$EXPECTED" <<'PY' || die "inventory: private addresses must lie inside the VPC CIDR"
import ipaddress, json, sys
inv, exp = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
net = ipaddress.ip_network(exp["vpc_cidr"])
bad = {h: v["obsctl_private_address"] for h, v in inv["all"]["hosts"].items() if ipaddress.ip_address(v["obsctl_private_address"]) not in net}
sys.exit(f"outside {net}: {bad}" if bad else 0)
PY
check "instance ids and the environment's zones in the host labels" \
    '([.all.hosts[].obsctl_labels.instance_id | startswith("i-")] | all) and ([.all.hosts[].obsctl_labels.zone] | unique) == $exp[0].zones'
for g in prometheus alertmanager grafana loki app node_exporter alloy promtail; do
    got=$(jq -c --arg g "$g" '.all.children[$g].hosts | keys' "$INV")
    want=$(jq -c --arg g "$g" '.groups[$g]' "$EXPECTED")
    [[ "$got" == "$want" ]] || die "inventory: group $g is $got, expected $want"
done
groups_line=$(jq -r '[.groups | to_entries[] | "\(.key) \(.value | length)"] | join(", ")' "$EXPECTED")
check "env-wide vars" '.all.vars.obsctl_environment == "awsmock" and .all.vars.obsctl_provider == "aws" and .all.vars.obsctl_protected == true'
check "loki_s3_bucket from the stack's obsctl_vars (derived name)" '.all.vars.loki_s3_bucket == "obsctl-awsmock-loki-123456789012-eu-west-1"'
check "loki_s3_region and grafana_root_url from obsctl_vars" \
    '.all.vars.loki_s3_region == "eu-west-1" and (.all.vars.grafana_root_url | test("^https://.+"))'
bucket=$(jq -r .all.vars.loki_s3_bucket "$INV")
bucket_exists "$bucket" || die "bucket $bucket not found in moto"
log "inventory: $(jq '.hosts | length' "$EXPECTED") hosts; groups $groups_line; loki_s3_bucket=$bucket"

# --- plan: in sync ---------------------------------------------------------

log "obsctl plan --env $ENV_NAME (expect in sync)"
rc=0
obsctl plan --env "$ENV_NAME" --output json </dev/null >"$WORK/plan.jsonl" 2>"$WORK/plan.stderr" || rc=$?
if ((rc != 0)); then
    jq -c 'select(.event == "summary" or .event == "error")' "$WORK/plan.jsonl" >&2 || show "$WORK/plan.jsonl"
    die "plan exited with $rc (expected 0: no changes after up)"
fi
jq -e 'select(.event == "summary") | .in_sync == true and .add == 0 and .change == 0 and .destroy == 0' "$WORK/plan.jsonl" >/dev/null ||
    die "plan summary is not in sync: $(jq -c 'select(.event == "summary")' "$WORK/plan.jsonl")"

# --- an instance deleted behind Terraform's back --------------------------

# Terraform's refresh notices reality on aws: the same `up` recreates it.
victim=$(jq -r '.all.hosts | keys[0]' "$INV")
old_id=$(jq -r --arg h "$victim" '.all.hosts[$h].obsctl_labels.instance_id' "$INV")
log "terminate $victim ($old_id) in moto behind Terraform's back; up must recreate it"
"$MOTO_VENV/bin/python" - "$ENDPOINT" "$old_id" <<'PY' || die "cannot terminate $old_id in moto"
import sys
import boto3
endpoint, instance = sys.argv[1:]
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
ec2.terminate_instances(InstanceIds=[instance])
PY
rc=0
obsctl up --env "$ENV_NAME" --skip-configure --auto-approve --output json </dev/null >"$WORK/up-gone.jsonl" 2>"$WORK/up-gone.stderr" || rc=$?
((rc == 0)) || { show "$WORK/up-gone.jsonl"; show "$WORK/up-gone.stderr"; die "up after $old_id was terminated exited $rc"; }
readded=$(jq -s '[.[] | select(.event == "phase_end" and .phase == "terraform")][0].add // 0' "$WORK/up-gone.jsonl")
((readded >= 1)) ||
    die "up did not recreate $victim: $(jq -c 'select(.event == "phase_end" and .phase == "terraform")' "$WORK/up-gone.jsonl")"
obsctl inventory --env "$ENV_NAME" >"$INV" || die "inventory failed"
new_id=$(jq -r --arg h "$victim" '.all.hosts[$h].obsctl_labels.instance_id' "$INV")
[[ "$new_id" == i-* && "$new_id" != "$old_id" ]] || die "$victim's instance is $new_id after up (was $old_id)"
log "instance deleted behind Terraform's back: up recreated $victim ($old_id -> $new_id)"

# --- remote state: local -> S3, locking, a teammate's checkout ------------

# plan: exit 0, or die showing its summary/error. $1 = what this plan checks.
plan_in_sync() {
    local rc=0
    obsctl plan --env "$ENV_NAME" --output json </dev/null >"$WORK/plan.jsonl" 2>"$WORK/plan.stderr" || rc=$?
    if ((rc != 0)); then
        jq -c 'select(.event == "summary" or .event == "error")' "$WORK/plan.jsonl" >&2 || show "$WORK/plan.jsonl"
        die "plan ($1) exited with $rc, expected 0 (in sync)"
    fi
}

log "remote state: [state] backend = s3, bucket $STATE_BUCKET in moto"
s3 make-bucket "$STATE_BUCKET" || die "cannot create the state bucket in moto"
printf '\n[state]\nbackend = "s3"\nbucket = "%s"\nregion = "eu-west-1"\nendpoint = "%s"\n' "$STATE_BUCKET" "$ENDPOINT" \
    >>"$WS/environments/$ENV_NAME.toml"
local_resources=$(state_resources)

log "obsctl plan with the state still local (expect exit 10 naming migrate-state)"
rc=0
out=$(obsctl plan --env "$ENV_NAME" </dev/null 2>&1) || rc=$?
((rc == 10)) || { printf '%s\n' "$out" >&2; die "plan with the state elsewhere than [state] says exited $rc, expected 10"; }
grep -q "obsctl migrate-state --env $ENV_NAME" <<<"$out" || { printf '%s\n' "$out" >&2; die "the refusal does not name migrate-state"; }
if s3 exists "$STATE_BUCKET" "$STATE_KEY"; then die "a refused plan wrote a state to S3"; fi

log "obsctl migrate-state --env $ENV_NAME"
rc=0
t0=$(now)
obsctl migrate-state --env "$ENV_NAME" --output json </dev/null >"$WORK/migrate.jsonl" 2>"$WORK/migrate.stderr" || rc=$?
migrate_wall=$(elapsed "$t0" "$(now)")
((rc == 0)) || { show "$WORK/migrate.jsonl"; show "$WORK/migrate.stderr"; die "migrate-state exited with $rc"; }
jq -e --argjson n "$local_resources" 'select(.event == "summary") | .moved == true and .resources == $n' "$WORK/migrate.jsonl" >/dev/null ||
    die "migrate-state summary: $(jq -c 'select(.event == "summary")' "$WORK/migrate.jsonl") (expected moved, $local_resources resources)"
REMOTE=1
(($(state_resources) == local_resources)) || die "s3://$STATE_BUCKET/$STATE_KEY holds $(state_resources) resources, expected $local_resources"
[[ ! -e "$STATE/terraform.tfstate" ]] || die "the local state file is still there after migrate-state"
[[ -f "$STATE/terraform.tfstate.migrated" ]] || die "the old local state was not kept as terraform.tfstate.migrated"
# The shared state holds no secret obsctl generated (the RDS password is write-only).
db_password=$(cat "$STATE/secrets/grafana_db_password") || die "no RDS password in $STATE/secrets"
if s3 get "$STATE_BUCKET" "$STATE_KEY" | grep -qF -- "$db_password"; then die "the RDS password is in the S3 state"; fi
log "migrate-state: $local_resources resources now in s3://$STATE_BUCKET/$STATE_KEY (${migrate_wall}s)"

log "obsctl plan through S3 (expect in sync)"
plan_in_sync "through the S3 state"
if s3 exists "$STATE_BUCKET" "$STATE_KEY.tflock"; then die "plan left its lock object $STATE_KEY.tflock behind"; fi

log "a teammate's run holds the lock: plan (expect exit 12 naming the holder), then unlock"
LOCK_ID="5c6d7e8f-0000-4000-8000-00000000abcd"
jq -n --arg id "$LOCK_ID" --arg path "$STATE_BUCKET/$STATE_KEY" \
    '{ID: $id, Operation: "OperationTypeApply", Info: "", Who: "teammate@laptop", Version: "1.11.4", Created: "2026-11-24T05:00:00Z", Path: $path}' \
    >"$WORK/teammate.tflock"
s3 put "$STATE_BUCKET" "$STATE_KEY.tflock" "$WORK/teammate.tflock" || die "cannot put the lock object"
rc=0
out=$(obsctl plan --env "$ENV_NAME" </dev/null 2>&1) || rc=$?
((rc == 12)) || { printf '%s\n' "$out" >&2; die "plan on a locked state exited $rc, expected 12"; }
grep -q "teammate@laptop" <<<"$out" || { printf '%s\n' "$out" >&2; die "the lock error does not name the holder"; }
grep -q "obsctl unlock --env $ENV_NAME --lock-id $LOCK_ID" <<<"$out" ||
    { printf '%s\n' "$out" >&2; die "the lock error does not give the unlock command"; }
rc=0
out=$(obsctl unlock --env "$ENV_NAME" --lock-id "$LOCK_ID" --yes </dev/null 2>&1) || rc=$?
((rc == 0)) || { printf '%s\n' "$out" >&2; die "unlock exited $rc"; }
if s3 exists "$STATE_BUCKET" "$STATE_KEY.tflock"; then die "unlock left the lock object"; fi
plan_in_sync "after unlock"

log "a teammate's checkout (own workspace, the env's ssh/ and secrets/ shared) plans against the same state"
WS2="$WORK/teammate"
mkdir -p "$WS2/environments" "$WS2/.obsctl/$ENV_NAME"
ln -s "$ROOT/terraform" "$WS2/terraform"
ln -s "$WORK/ansible" "$WS2/ansible"
cp "$WS/environments/$ENV_NAME.toml" "$WS2/environments/"
cp -a "$STATE/ssh" "$STATE/secrets" "$WS2/.obsctl/$ENV_NAME/"
OBSCTL_ROOT="$WS2" plan_in_sync "from the teammate's checkout"
[[ ! -e "$WS2/.obsctl/$ENV_NAME/terraform.tfstate" ]] || die "the teammate's checkout wrote a local state"

# --- Grafana's database password: versioned, never silently replaced --------

# RDS as moto holds it: $1 = jq condition on the DB instance.
rds_check() {
    "$MOTO_VENV/bin/python" - "$ENDPOINT" <<'PY' | jq -e "$1" >/dev/null
import json, sys
import boto3
rds = boto3.client("rds", endpoint_url=sys.argv[1], region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
dbs = rds.describe_db_instances()["DBInstances"]
print(json.dumps(dbs[0] if len(dbs) == 1 else None, default=str))
PY
}
db_version_in_state() {
    s3 get "$STATE_BUCKET" "$STATE_KEY" |
        jq '[.resources[] | select(.type == "aws_db_instance") | .instances[0].attributes.password_wo_version][0]'
}
rds_check '.DBInstanceIdentifier == "obsctl-awsmock-grafana" and .DeletionProtection == true' ||
    die "the protected environment's database is not obsctl-awsmock-grafana with deletion protection"
[[ "$(cat "$STATE/secrets/grafana_db_password.version")" == 1 ]] || die "the first password is not version 1"
[[ "$(db_version_in_state)" == 1 ]] || die "password_wo_version in the state is $(db_version_in_state), expected 1"

log "a teammate's checkout without secrets/: up must refuse to generate a new database password"
WS3="$WORK/teammate-no-secrets"
mkdir -p "$WS3/environments" "$WS3/.obsctl/$ENV_NAME"
ln -s "$ROOT/terraform" "$WS3/terraform"
ln -s "$WORK/ansible" "$WS3/ansible"
cp "$WS/environments/$ENV_NAME.toml" "$WS3/environments/"
cp -a "$STATE/ssh" "$WS3/.obsctl/$ENV_NAME/"
rc=0
out=$(OBSCTL_ROOT="$WS3" obsctl up --env "$ENV_NAME" --skip-configure --auto-approve </dev/null 2>&1) || rc=$?
((rc == 10)) || { printf '%s\n' "$out" >&2; die "up without the database password exited $rc, expected 10"; }
grep -q "obsctl rotate-secret --env $ENV_NAME grafana-db" <<<"$out" || { printf '%s\n' "$out" >&2; die "the refusal does not name rotate-secret"; }
[[ ! -e "$WS3/.obsctl/$ENV_NAME/secrets/grafana_db_password" ]] || die "the refused up generated a database password"

log "obsctl rotate-secret --env $ENV_NAME grafana-db, then up sends it to RDS"
old_password=$(cat "$STATE/secrets/grafana_db_password")
rc=0
out=$(obsctl rotate-secret --env "$ENV_NAME" grafana-db </dev/null 2>&1) || rc=$?
((rc == 0)) || { printf '%s\n' "$out" >&2; die "rotate-secret exited $rc"; }
[[ "$(cat "$STATE/secrets/grafana_db_password.version")" == 2 ]] || die "rotate-secret did not raise the version to 2"
[[ "$(cat "$STATE/secrets/grafana_db_password")" != "$old_password" ]] || die "rotate-secret kept the old password"
rc=0
obsctl plan --env "$ENV_NAME" </dev/null >"$WORK/plan-rotated.log" 2>&1 || rc=$?
((rc == 2)) || { show "$WORK/plan-rotated.log"; die "plan after rotate-secret exited $rc, expected 2 (the database gets the new password)"; }
rc=0
obsctl up --env "$ENV_NAME" --skip-configure --auto-approve </dev/null >"$WORK/up-rotated.log" 2>&1 || rc=$?
((rc == 0)) || { show "$WORK/up-rotated.log"; die "up after rotate-secret exited $rc"; }
[[ "$(db_version_in_state)" == 2 ]] || die "password_wo_version in the state is $(db_version_in_state) after up, expected 2"
if s3 get "$STATE_BUCKET" "$STATE_KEY" | grep -qF -- "$(cat "$STATE/secrets/grafana_db_password")"; then die "the new RDS password is in the S3 state"; fi
plan_in_sync "after the rotated password was applied"

# --- backup and restore: Grafana's database as an RDS snapshot ---------------

# The hosts are not configured here (--skip-configure): `backup --only
# grafana-rds-snapshot` takes the controller's state and the snapshot, and
# each restore below stops before anything is written.
rds_t0=$(now)
BACKUPS="$WORK/backups"
BACKUP_KEY="$WORK/backup.agekey"
log "obsctl backup --env $ENV_NAME --only grafana-rds-snapshot (a manual RDS snapshot, named in the manifest)"
rc=0
obsctl backup --env "$ENV_NAME" --to "$BACKUPS" --key "$BACKUP_KEY" --only grafana-rds-snapshot --output json </dev/null \
    >"$WORK/backup.jsonl" 2>"$WORK/backup.stderr" || rc=$?
((rc == 0)) || { show "$WORK/backup.jsonl"; show "$WORK/backup.stderr"; die "backup --only grafana-rds-snapshot exited $rc"; }
ARCHIVE=$(jq -r 'select(.event == "summary") | .archive' "$WORK/backup.jsonl")
[[ -f "$ARCHIVE" ]] || die "backup's summary names no archive: $(jq -c 'select(.event == "summary")' "$WORK/backup.jsonl")"
tar -xOf "$ARCHIVE" manifest.json >"$WORK/manifest.json" || die "no manifest.json in $ARCHIVE"
jq -e --arg env "$ENV_NAME" '.snapshots | length == 1 and (.[0] | .item == "grafana-rds-snapshot" and .instance == "obsctl-\($env)-grafana"
        and .region == "eu-west-1" and (.identifier | test("^obsctl-\($env)-grafana-[0-9]{14}$")) and (.created | length > 0))' \
    "$WORK/manifest.json" >/dev/null || die "the manifest does not name the snapshot as expected: $(jq -c .snapshots "$WORK/manifest.json")"
jq -e '([.members[].item] | unique) == ["controller"] and (.skipped | any(startswith("prometheus-tsdb: not among --only")))' \
    "$WORK/manifest.json" >/dev/null || die "the archive holds more than the controller's state, or does not say what --only left out: $(jq -c '{members, skipped}' "$WORK/manifest.json")"
SNAPSHOT=$(jq -r '.snapshots[0].identifier' "$WORK/manifest.json")
# rds_snapshot SNAPSHOT ENV ARCHIVE_ID: moto holds it, manual and available, tagged with both.
rds_snapshot() {
    "$MOTO_VENV/bin/python" - "$ENDPOINT" "$@" <<'PY'
import sys
import boto3
endpoint, snap, env, archive = sys.argv[1:]
rds = boto3.client("rds", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
found = rds.describe_db_snapshots(DBSnapshotIdentifier=snap)["DBSnapshots"]
s = found[0] if len(found) == 1 else {}
tags = {t["Key"]: t["Value"] for t in s.get("TagList", [])}
ok = (s.get("Status") == "available" and s.get("SnapshotType") == "manual" and s.get("DBInstanceIdentifier") == f"obsctl-{env}-grafana"
      and tags.get("Environment") == env and tags.get("ObsctlArchive") == archive)
if not ok:
    print(f"  snapshot {snap}: {s}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}
rds_snapshot "$SNAPSHOT" "$ENV_NAME" "$(basename "$ARCHIVE" .tar)" ||
    die "moto has no available manual snapshot $SNAPSHOT of obsctl-$ENV_NAME-grafana tagged with the environment and the archive"
backup_s=$(elapsed "$rds_t0" "$(now)")
log "backup: $SNAPSHOT available in moto, named in $(basename "$ARCHIVE")'s manifest (${backup_s}s)"

# restore_refused WHAT WANT...: restore exits 10 naming each WANT, and writes nothing.
restore_refused() {
    local what=$1 rc=0 out
    shift
    touch "$WORK/restore.mark"
    out=$(obsctl restore --env "$ENV_NAME" --from "$ARCHIVE" --key "$BACKUP_KEY" </dev/null 2>&1) || rc=$?
    ((rc == 10)) || { printf '%s\n' "$out" >&2; die "restore ($what) exited $rc, expected 10"; }
    for want in "$@"; do
        tr -s ' \n' ' ' <<<"$out" | grep -qF -- "$want" || { printf '%s\n' "$out" >&2; die "restore ($what) did not say: $want"; }
    done
    [[ ! -e "$STATE/grafana-db-restore.json" && -z "$(find "$STATE/tls" "$STATE/secrets" -newer "$WORK/restore.mark")" ]] ||
        die "the refused restore ($what) wrote something under $STATE"
}
log "obsctl restore onto the running environment (expect a refusal: the running database is not overwritten)"
restore_refused "a running database" "obsctl does not overwrite a running database with the archive's snapshot $SNAPSHOT" \
    "obsctl destroy --env $ENV_NAME" "--keep-grafana-db"
log "the snapshot deleted in moto: obsctl restore (expect a refusal naming it)"
"$MOTO_VENV/bin/python" - "$ENDPOINT" "$SNAPSHOT" <<'PY' || die "cannot delete $SNAPSHOT in moto"
import sys
import boto3
rds = boto3.client("rds", endpoint_url=sys.argv[1], region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
rds.delete_db_snapshot(DBSnapshotIdentifier=sys.argv[2])
PY
restore_refused "a missing snapshot" "snapshot of Grafana's database, $SNAPSHOT (of obsctl-$ENV_NAME-grafana" \
    "does not exist in RDS (eu-west-1); nothing was restored" "obsctl restore --env $ENV_NAME --from $ARCHIVE --keep-grafana-db"
# A second archive, whose snapshot stays: restored after destroy, below.
rc=0
obsctl backup --env "$ENV_NAME" --to "$BACKUPS" --key "$BACKUP_KEY" --only grafana-rds-snapshot --output json </dev/null \
    >"$WORK/backup2.jsonl" 2>"$WORK/backup2.stderr" || rc=$?
((rc == 0)) || { show "$WORK/backup2.jsonl"; show "$WORK/backup2.stderr"; die "the second backup exited $rc"; }
ARCHIVE2=$(jq -r 'select(.event == "summary") | .archive' "$WORK/backup2.jsonl")
SNAPSHOT2=$(jq -r 'select(.event == "summary") | .snapshots[0].identifier' "$WORK/backup2.jsonl")
[[ "$SNAPSHOT2" == obsctl-$ENV_NAME-grafana-* && "$SNAPSHOT2" != "$SNAPSHOT" ]] ||
    die "the second backup's summary names snapshot $SNAPSHOT2 (the first was $SNAPSHOT)"
rds_s=$(elapsed "$rds_t0" "$(now)")
log "restore: a running database and a missing snapshot refused, nothing written; $SNAPSHOT2 taken (backups and restores ${rds_s}s)"

# --- destroy: protected ----------------------------------------------------

log "obsctl destroy --env $ENV_NAME without --confirm-env and without a terminal (expect refusal)"
before=$(state_resources)
rc=0
out=$(obsctl destroy --env "$ENV_NAME" </dev/null 2>&1) || rc=$?
((rc == 10)) || { printf '%s\n' "$out" >&2; die "protected destroy without --confirm-env exited $rc, expected 10"; }
grep -q -- "--confirm-env $ENV_NAME" <<<"$out" || { printf '%s\n' "$out" >&2; die "refusal does not name --confirm-env $ENV_NAME"; }
after=$(state_resources)
((after == before)) || die "refused destroy changed the state: $before -> $after resources"
bucket_exists "$bucket" || die "refused destroy removed the bucket"
[[ -f "$STATE/inventory.json" ]] || die "refused destroy removed the inventory"

log "obsctl destroy --env $ENV_NAME --confirm-env wrong (expect refusal)"
rc=0
out=$(obsctl destroy --env "$ENV_NAME" --confirm-env prod </dev/null 2>&1) || rc=$?
((rc == 10)) || { printf '%s\n' "$out" >&2; die "destroy with a wrong --confirm-env exited $rc, expected 10"; }
(($(state_resources) == before)) || die "destroy with a wrong --confirm-env changed the state"

# The load balancer of a protected environment is protected too (issue 32).
# Checked before destroying: moto does not enforce the protection (its
# destroy below removes the load balancer; AWS would refuse, exit 20).
"$MOTO_VENV/bin/python" - "$ENDPOINT" <<'PY' || die "the protected environment's load balancer has no deletion protection"
import sys
import boto3
elb = boto3.client("elbv2", endpoint_url=sys.argv[1], region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
lbs = elb.describe_load_balancers(Names=["obsctl-awsmock"])["LoadBalancers"]
attrs = [{a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]} for lb in lbs]
if len(attrs) != 1 or attrs[0].get("deletion_protection.enabled") != "true":
    sys.exit(f"load balancer attributes: {attrs}")
PY

log "obsctl destroy --env $ENV_NAME --confirm-env $ENV_NAME (expect a failure on the protected database)"
rc=0
obsctl destroy --env "$ENV_NAME" --confirm-env "$ENV_NAME" </dev/null >"$WORK/destroy-protected.log" 2>&1 || rc=$?
((rc == 20)) || { show "$WORK/destroy-protected.log"; die "destroy of a database with deletion protection exited $rc, expected 20"; }
rds_check '.DeletionProtection == true' || die "the protected database is gone"
before=$(state_resources)
# What docs/operations.md tells the operator: switch protection off by hand
# (the database and the load balancer) and empty the audit log bucket,
# versions included (a protected environment's is not force-destroyed).
"$MOTO_VENV/bin/python" - "$ENDPOINT" <<'PY' || die "cannot switch off deletion protection or empty the log bucket in moto"
import sys
import boto3
kw = dict(endpoint_url=sys.argv[1], region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
rds = boto3.client("rds", **kw)
rds.modify_db_instance(DBInstanceIdentifier="obsctl-awsmock-grafana", DeletionProtection=False, ApplyImmediately=True)
elb = boto3.client("elbv2", **kw)
names = {lb["LoadBalancerName"]: lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"]}
if "obsctl-awsmock" in names:  # still there on AWS; moto let the first destroy remove it
    elb.modify_load_balancer_attributes(LoadBalancerArn=names["obsctl-awsmock"], Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}])
s3 = boto3.client("s3", **kw)
log_bucket = "obsctl-awsmock-logs-123456789012-eu-west-1"
if log_bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
    versions = s3.list_object_versions(Bucket=log_bucket)
    objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for k in ("Versions", "DeleteMarkers") for v in versions.get(k, [])]
    if objects:
        s3.delete_objects(Bucket=log_bucket, Delete={"Objects": objects})
    print(f"  log bucket emptied: {len(objects)} object versions", file=sys.stderr)
PY

log "obsctl destroy --env $ENV_NAME --confirm-env $ENV_NAME"
DESTROY="$WORK/destroy.jsonl"
rc=0
t0=$(now)
obsctl destroy --env "$ENV_NAME" --confirm-env "$ENV_NAME" --output json </dev/null >"$DESTROY" 2>"$WORK/destroy.stderr" || rc=$?
destroy_wall=$(elapsed "$t0" "$(now)")
((rc == 0)) || { show "$DESTROY"; show "$WORK/destroy.stderr"; die "destroy --confirm-env exited with $rc"; }
destroy_s=$(jq -r 'select(.event == "phase_end" and .phase == "terraform") | .elapsed_s' "$DESTROY")
jq -e --argjson n "$before" 'select(.event == "summary") | .ok == true and .destroyed == $n' "$DESTROY" >/dev/null ||
    die "destroy summary: $(jq -c 'select(.event == "summary")' "$DESTROY") (expected destroyed=$before)"
left=$(state_resources)
((left == 0)) || die "state still holds $left resources after destroy"
[[ ! -e "$STATE/inventory.json" ]] || die "inventory left behind after destroy"
if bucket_exists "$bucket"; then die "bucket $bucket still exists in moto after destroy"; fi
"$MOTO_VENV/bin/python" - "$ENDPOINT" <<'PY' || die "no final snapshot obsctl-awsmock-grafana-final-<timestamp> after destroy"
import re, sys
import boto3
rds = boto3.client("rds", endpoint_url=sys.argv[1], region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
names = [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]]
print(f"  snapshots: {names}", file=sys.stderr)
sys.exit(0 if any(re.fullmatch(r"obsctl-awsmock-grafana-final-[0-9]{14}", n) for n in names) else 1)
PY

log "second destroy (expect nothing to destroy)"
rc=0
out=$(obsctl destroy --env "$ENV_NAME" --confirm-env "$ENV_NAME" </dev/null 2>&1) || rc=$?
((rc == 0)) || { printf '%s\n' "$out" >&2; die "second destroy exited $rc"; }
grep -q "nothing to destroy" <<<"$out" || { printf '%s\n' "$out" >&2; die "second destroy did not say nothing to destroy"; }

# --- Grafana's database from the snapshot, onto the destroyed environment ----

rds2_t0=$(now)
log "obsctl restore onto the destroyed environment (expect the controller's state and a restore record naming $SNAPSHOT2)"
rds_snapshot "$SNAPSHOT2" "$ENV_NAME" "$(basename "$ARCHIVE2" .tar)" || die "$SNAPSHOT2 did not outlive the database's destroy"
rc=0
obsctl restore --env "$ENV_NAME" --from "$ARCHIVE2" --key "$BACKUP_KEY" --output json </dev/null \
    >"$WORK/restore-down.jsonl" 2>"$WORK/restore-down.stderr" || rc=$?
((rc == 0)) || { show "$WORK/restore-down.jsonl"; show "$WORK/restore-down.stderr"; die "restore onto the destroyed environment exited $rc"; }
jq -e 'select(.event == "summary") | .controller_only == true and (.written | index("grafana-db-restore.json") != null)' \
    "$WORK/restore-down.jsonl" >/dev/null || die "restore's summary: $(jq -c 'select(.event == "summary")' "$WORK/restore-down.jsonl")"
jq -e --arg s "$SNAPSHOT2" --arg i "obsctl-$ENV_NAME-grafana" '.snapshot == $s and .instance == $i' "$STATE/grafana-db-restore.json" \
    >/dev/null || die "the restore record does not name $SNAPSHOT2: $(cat "$STATE/grafana-db-restore.json" 2>&1)"
log "obsctl plan (expect exit 2: Grafana's database created from $SNAPSHOT2)"
rc=0
obsctl plan --env "$ENV_NAME" </dev/null >"$WORK/plan-restore.log" 2>&1 || rc=$?
((rc == 2)) || { show "$WORK/plan-restore.log"; die "plan after the restore exited $rc, expected 2 (everything to create)"; }
jq -e --arg s "$SNAPSHOT2" '.grafana_db_snapshot_identifier == $s' "$STATE/terraform.tfvars.json" >/dev/null ||
    die "the stack's variables do not pass $SNAPSHOT2 as grafana_db_snapshot_identifier"
grep -qE "\+ snapshot_identifier += \"$SNAPSHOT2\"" "$(ls -d "$STATE"/runs/*-plan | tail -n 1)/terraform.log" ||
    die "Terraform's plan does not create Grafana's database from $SNAPSHOT2 (snapshot_identifier)"
rds2_s=$(elapsed "$rds2_t0" "$(now)")
log "restore onto the destroyed environment: record and stack variable name $SNAPSHOT2 (${rds2_s}s)"

ok=1
cat <<EOF
PASS: obsctl on the aws provider against moto ($ENDPOINT)
  resources created:  $added (managed resources in state: $resources)
  up:                 terraform phase (init, plan, apply) ${apply_s} s; whole command ${up_wall} s
  destroy:            terraform phase ${destroy_s} s; whole command ${destroy_wall} s
  inventory:          $(jq '.hosts | length' "$EXPECTED") hosts; groups $groups_line
  obsctl_vars:        $(jq -r '[.all.vars | keys[] | select(startswith("loki_s3") or startswith("grafana_"))] | join(", ")' "$INV")
  loki_s3_bucket:     $bucket
  plan after up:      in sync (exit 0)
  protected destroy:  refused without --confirm-env (exit 10) and with a wrong name (exit 10); fails on the
                      database (deletion protection, exit 20) until it is switched off; final snapshot kept;
                      the load balancer had deletion protection; the audit log bucket kept until emptied
  database password:  no new one without the state's (exit 10); rotate-secret -> version 2 -> applied by up
  remote state:       local -> s3://$STATE_BUCKET/$STATE_KEY by migrate-state in ${migrate_wall} s ($local_resources resources);
                      plan before migrating refused (exit 10); foreign lock -> exit 12, unlock frees it;
                      a teammate's checkout plans in sync; no RDS password in it; destroy ran against the S3 state
  grafana's database: backup --only grafana-rds-snapshot -> $SNAPSHOT available in moto, tagged, named in the manifest;
                      restore refused onto the running database and without the snapshot (exit 10, nothing written);
                      after destroy, restore wrote the record and the next plan passes $SNAPSHOT2 to the stack;
                      added: ${rds_s} s before destroy, ${rds2_s} s after
EOF
