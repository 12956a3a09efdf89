#!/usr/bin/env bash
# End-to-end test of terraform/stacks/aws against the moto AWS mock.
#
#   tests/aws/moto.sh
#
# init -> plan -out -> apply -> check obsctl_inventory, obsctl_vars and what
# moto holds (instances, security groups, ALB, Loki bucket, Grafana's RDS
# database; Grafana's load balancer over HTTPS only: 443 with the user's
# certificate, imported into moto's ACM, 80 only redirecting, HTTPS to the
# targets; a data volume per stateful host, encrypted, attached) -> plan
# (no diff) -> mon-1's instance replaced (-replace, as `up --replace` does):
# its data volume is not, and is attached to the new instance -> the bastion's
# replacement planned (`up --replace bastion`): its instance alone, the
# Elastic IP kept -> destroy -> state and moto empty, plus input
# validations that must refuse (Grafana without a certificate among them)
# and a plan without grafana_db_password that must not create a database.
# Never talks to real AWS: every AWS_* variable is dropped, the stack gets
# aws.endpoint (all services it uses go to moto with test credentials) and
# AWS_ENDPOINT_URL catches anything else.
#
# Environment:
#   CI=true          missing terraform / provider mirror / tools is a failure, not a skip
#   MOTO_PORT        port for moto_server on 127.0.0.1 (default 5000)
#   MOTO_VENV        venv holding moto (default <repo>/.obsctl/tools/moto-venv, created if missing)
#   MOTO_VERSION     moto version pip installs into a new venv (default 5.2.5)
#   TF_PLUGIN_MIRROR provider mirror (default /opt/tf-plugins)
#   KEEP_WORK=1      keep the temporary directory (logs, state) even on success
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK="$ROOT/terraform/stacks/aws"
CLI_CONFIG="$ROOT/tests/aws/terraformrc"
MIRROR="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
MOTO_PORT="${MOTO_PORT:-5000}"
MOTO_VENV="${MOTO_VENV:-$ROOT/.obsctl/tools/moto-venv}"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"

# Moto's built-in image set has no Debian; these Ubuntu images are in it
# (moto/ec2/resources/amis.json.gz, loaded in every region).
MOTO_AMI_OWNER="099720109477"
MOTO_AMI_NAME="ubuntu/images/hvm-ssd/ubuntu-*-amd64-server-*"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# --- prerequisites --------------------------------------------------------

source "$ROOT/tests/aws/moto-lib.sh"
moto_require

# --- isolate from real AWS ------------------------------------------------

moto_isolate

# --- moto venv, free port ------------------------------------------------

moto_prepare

# --- work dir and cleanup -------------------------------------------------

moto_workdir moto "terraform logs, state, moto.log"

# Runs terraform with the test's settings; output goes to $WORK/<name>.log
# and its tail is shown if it fails.
tf() {
    local name=$1
    shift
    local rc=0
    TF_CLI_CONFIG_FILE="$CLI_CONFIG" TF_DATA_DIR="$WORK/tfdata" TF_IN_AUTOMATION=1 TF_INPUT=0 \
        terraform -chdir="$STACK" "$@" >"$WORK/$name.log" 2>&1 || rc=$?
    return "$rc"
}
show_log() {
    printf -- '--- last lines of %s ---\n' "$WORK/$1.log" >&2
    tail -n 40 "$WORK/$1.log" >&2
}

# --- moto -----------------------------------------------------------------

moto_start

# --- inputs ---------------------------------------------------------------

# The user's certificate for Grafana's load balancer (HTTPS only).
CERT_ARN="$(moto_certificate grafana.moto.example)"
[[ "$CERT_ARN" == arn:aws:acm:eu-west-1:* ]] || die "no ACM certificate ARN from moto: $CERT_ARN"

mkdir -m 0700 "$WORK/ssh"
ssh-keygen -q -t ed25519 -N '' -C obsctl-moto-test -f "$WORK/ssh/id_ed25519"

VPC_CIDR="10.60.0.0/16"
AZS='["eu-west-1a", "eu-west-1b"]'
# What obsctl generates for Grafana's database (32 letters and digits).
DB_PASSWORD="$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true)"
DB_ID="obsctl-moto-grafana" # obsctl-<environment>-grafana

# $1 = output file; extra jq filter in $2 modifies the default document.
write_tfvars() {
    jq -n --arg pub "$WORK/ssh/id_ed25519.pub" --arg key "$WORK/ssh/id_ed25519" \
        --arg endpoint "$ENDPOINT" --arg cidr "$VPC_CIDR" --argjson azs "$AZS" \
        --arg owner "$MOTO_AMI_OWNER" --arg ami "$MOTO_AMI_NAME" --arg dbpw "$DB_PASSWORD" --arg cert "$CERT_ARN" '
    {
      environment: "moto",
      hosts: {
        "mon-1": {roles: ["prometheus", "alertmanager", "grafana", "loki"], size: "medium", disk_gb: 40, data_gb: 30, zone: 0},
        "mon-2": {roles: ["prometheus", "alertmanager", "grafana", "loki"], size: "medium", disk_gb: 40, zone: 1},
        "mon-3": {roles: ["alertmanager", "loki"], size: "small", disk_gb: 20, zone: 0},
        "app-1": {roles: ["app"], size: "small", disk_gb: 10, zone: 1}
      },
      ports: {prometheus_port: 9090, alertmanager_port: 9093, alertmanager_cluster_port: 9094, node_exporter_port: 9100,
              grafana_http_port: 3000, grafana_alerting_ha_port: 9095, loki_http_port: 3100, loki_grpc_port: 9096, loki_memberlist_port: 7946,
              alloy_http_port: 12345, promtail_http_port: 9080, app_port: 8181, loki_backend_port: 3101,
              alloy_backend_port: 12346, promtail_backend_port: 9081},
      components: ["prometheus", "alertmanager", "node_exporter", "grafana", "loki", "alloy", "app"],
      protected: false,
      loki_retention_days: 30,
      ssh_public_key_file: $pub,
      ssh_private_key_file: $key,
      grafana_db_password: $dbpw,
      grafana_db_password_version: 1,
      egress_tcp_ports: [587],
      aws: {
        region: "eu-west-1",
        availability_zones: $azs,
        vpc_cidr: $cidr,
        admin_cidrs: ["203.0.113.0/24"],
        instance_types: {small: "t3.small", medium: "t3.medium", large: "m6i.large"},
        ami_owner: $owner,
        ami_name: $ami,
        ssh_user: "ubuntu",
        loki_bucket_name: null,
        endpoint: $endpoint,
        loki_force_destroy: true,
        grafana_certificate_arn: $cert
      }
    } | '"${2:-.}" >"$1"
}
TFVARS="$WORK/terraform.tfvars.json"
write_tfvars "$TFVARS"

# --- init -----------------------------------------------------------------

log "terraform init"
tf init init -input=false -no-color -lockfile=readonly \
    -backend-config="path=$WORK/terraform.tfstate" || { show_log init; die "terraform init failed"; }

# --- validations that must refuse -----------------------------------------

# name | jq change | text the error must contain
refusals=(
    'open-admin|.aws.admin_cidrs = ["0.0.0.0/0"]|0.0.0.0/0'
    'internet-halves|.aws.admin_cidrs = ["0.0.0.0/1", "128.0.0.0/1"]|larger than a /8'
    'graviton-on-amd64|.aws.instance_types.small = "t4g.small"|cannot boot image'
    'env-trailing-hyphen|.environment = "moto-"|environment must be 1-20 characters'
    'env-double-hyphen|.environment = "mo--to"|environment must be 1-20 characters'
    'port-missing|del(.ports.app_port)|ports must hold exactly'
    'component-unknown|.components += ["nginx"]|components must be out of'
    'zone-range|.hosts["app-1"].zone = 2|zone must be an index'
    'one-az|.aws.availability_zones = ["eu-west-1a"]|at least two'
    'bad-role|.hosts["app-1"].roles = ["nginx"]|Offending hosts: app-1'
    'short-db-password|.grafana_db_password = "tooShort123"|grafana_db_password must be null (no database) or at least 16 characters'
    'db-password-chars|.grafana_db_password = "has@an-at-sign-and-is-long"|RDS refuses them'
    'db-storage|.aws.grafana_db_storage_gb = 10|grafana_db_storage_gb must be a whole number'
    'grafana-without-certificate|del(.aws.grafana_certificate_arn)|aws.grafana_certificate_arn is required when Grafana is deployed'
)
for case in "${refusals[@]}"; do
    IFS='|' read -r name change expect <<<"$case"
    write_tfvars "$WORK/bad-$name.tfvars.json" "$change"
    if tf "refuse-$name" plan -input=false -no-color -var-file="$WORK/bad-$name.tfvars.json"; then
        show_log "refuse-$name"
        die "plan accepted invalid input ($name: $change)"
    fi
    # Terraform wraps long messages: compare with line breaks folded.
    tr -s ' \n│' ' ' <"$WORK/refuse-$name.log" | grep -qF "$expect" ||
        { show_log "refuse-$name"; die "plan refused $name but without the expected message: $expect"; }
    log "refused as expected: $name"
done

# Without a password (an environment on SQLite) there is no database.
write_tfvars "$WORK/no-db.tfvars.json" '.grafana_db_password = null'
tf plan-no-db plan -input=false -no-color -var-file="$WORK/no-db.tfvars.json" ||
    { show_log plan-no-db; die "plan without grafana_db_password failed"; }
if grep -q 'module\.grafana_db' "$WORK/plan-no-db.log"; then
    grep 'module\.grafana_db' "$WORK/plan-no-db.log" >&2
    die "plan without grafana_db_password still creates the Grafana database"
fi
log "no grafana_db_password: no database planned"

# --- plan and apply -------------------------------------------------------

log "terraform plan"
tf plan plan -input=false -no-color -var-file="$TFVARS" -out="$WORK/tfplan" ||
    { show_log plan; die "terraform plan failed"; }

log "terraform apply"
t0=$(now)
tf apply apply -input=false -no-color "$WORK/tfplan" || { show_log apply; die "terraform apply failed"; }
t1=$(now)
apply_s=$(elapsed "$t0" "$t1")

tf state-list state list || { show_log state-list; die "terraform state list failed"; }
resources=$(grep -cv -e '^data\.' -e '\.data\.' "$WORK/state-list.log" || true)
# The RDS password is write-only (password_wo): RDS got it, the state must not.
if grep -qF -- "$DB_PASSWORD" "$WORK/terraform.tfstate"; then die "the RDS password is in the Terraform state"; fi

# --- check the inventory contract ----------------------------------------

tf output output -json || { show_log output; die "terraform output failed"; }
OUT="$WORK/output.log"
jq -e . "$OUT" >/dev/null || die "terraform output -json is not JSON"
INV="$WORK/inventory.json"
jq '.obsctl_inventory.value' "$OUT" >"$INV"

check() { # $1 = description, $2 = jq condition on the inventory
    jq -e --slurpfile vars "$TFVARS" "$2" "$INV" >/dev/null || { jq . "$INV" >&2; die "inventory: $1"; }
}
check "schema is 1" '.schema == 1'
check "environment is moto" '.environment == "moto"'
check "exactly the hosts of tfvars" '(.hosts | keys) == ($vars[0].hosts | keys)'
check "every host has address, private_address, ssh_user, ssh_port 22" \
    '[.hosts[] | (.address | type == "string" and length > 0) and (.private_address | type == "string" and length > 0)
      and .ssh_user == "ubuntu" and .ssh_port == 22] | all'
check "roles as given" '[.hosts | to_entries[] | .value.roles == $vars[0].hosts[.key].roles] | all'
check "labels zone/provider/instance_id" \
    '[.hosts | to_entries[] | .value.labels.provider == "aws" and (.value.labels.instance_id | startswith("i-"))
      and .value.labels.zone == $vars[0].aws.availability_zones[$vars[0].hosts[.key].zone]] | all'
check "hosts spread over both availability zones" '[.hosts[].labels.zone] | unique | length == 2'
check "ssh block: the key, and the bastion every connection jumps through" \
    '.ssh.private_key_file == $vars[0].ssh_private_key_file and (.ssh.bastion | test("^ubuntu@[0-9.]+$"))'
check "every host addressed at its private IP (no public one)" '[.hosts[] | .address == .private_address] | all'
BASTION_IP="$(jq -r '.ssh.bastion | sub("^ubuntu@"; "")' "$INV")"
jq -e --arg ip "$BASTION_IP" '.bastion.value == $ip' "$OUT" >/dev/null || die "output bastion is not the contract's: $(jq -c .bastion.value "$OUT")"


python3 - "$INV" "$VPC_CIDR" <<'EOF' || die "inventory: private addresses must lie inside the VPC CIDR"
import ipaddress, json, sys
inv, net = json.load(open(sys.argv[1])), ipaddress.ip_network(sys.argv[2])
bad = {h: v["private_address"] for h, v in inv["hosts"].items() if ipaddress.ip_address(v["private_address"]) not in net}
sys.exit(f"outside {net}: {bad}" if bad else 0)
EOF

jq -e '.grafana_url.value | test("^https://.+/$")' "$OUT" >/dev/null || die "grafana_url missing or not https: $(jq -c .grafana_url.value "$OUT")"
jq -e '.loki_bucket.value == "obsctl-moto-loki-123456789012-eu-west-1"' "$OUT" >/dev/null ||
    die "loki_bucket is not the derived name: $(jq -c .loki_bucket.value "$OUT")"
jq -e '.grafana_db_endpoint.value | test("^[a-z0-9.-]+:5432$")' "$OUT" >/dev/null ||
    die "grafana_db_endpoint is not host:5432: $(jq -c .grafana_db_endpoint.value "$OUT")"
jq -e '.obsctl_vars.value as $v | $v.grafana_database == "postgres" and $v.grafana_database_host == .grafana_db_endpoint.value
       and $v.grafana_database_name == "grafana" and $v.grafana_database_user == "grafana" and $v.grafana_database_ssl_mode == "require"' \
    "$OUT" >/dev/null || die "obsctl_vars lacks Grafana's database settings: $(jq -c .obsctl_vars.value "$OUT")"
if grep -qF "$DB_PASSWORD" "$OUT"; then die "terraform output shows the database password"; fi

# What moto now holds: the security-relevant settings really reached the API.
"$MOTO_VENV/bin/python" - "$ENDPOINT" "$INV" "$DB_ID" "$(jq -r .grafana_db_endpoint.value "$OUT")" "$CERT_ARN" "$BASTION_IP" \
    "$(jq -r .log_bucket.value "$OUT")" <<'EOF' ||
import json, sys
import boto3
endpoint, inv, db_id, db_endpoint, cert_arn = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4], sys.argv[5]
bastion_ip, log_bucket = sys.argv[6], sys.argv[7]
kw = dict(endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
ec2, elb, s3, rds = (boto3.client(s, **kw) for s in ("ec2", "elbv2", "s3", "rds"))
errors = []
ids = {h: v["labels"]["instance_id"] for h, v in inv["hosts"].items()}
for r in ec2.describe_instances(InstanceIds=list(ids.values()))["Reservations"]:
    for i in r["Instances"]:
        host = next(h for h, x in ids.items() if x == i["InstanceId"])
        if i["MetadataOptions"].get("HttpTokens") != "required":
            errors.append(f"{host}: IMDSv2 not required")
        vol_id = i["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
        vol = ec2.describe_volumes(VolumeIds=[vol_id])["Volumes"][0]
        if not vol["Encrypted"] or vol["VolumeType"] != "gp3":
            errors.append(f"{host}: root volume {vol['VolumeType']} encrypted={vol['Encrypted']}")
        # Issue 32: private hosts, no public IPv4, in a subnet that maps none.
        if i.get("PublicIpAddress"):
            errors.append(f"{host}: public IP {i['PublicIpAddress']}")
        subnet = ec2.describe_subnets(SubnetIds=[i["SubnetId"]])["Subnets"][0]
        if subnet["MapPublicIpOnLaunch"] or not any(t["Key"] == "Tier" and t["Value"] == "private" for t in subnet.get("Tags", [])):
            errors.append(f"{host}: subnet {subnet['SubnetId']} is not a private one ({subnet.get('Tags')})")
        # Its groups read back from the instance (what the provider compares
        # vpc_security_group_ids with): the stack group and one role group.
        groups = sorted(g["GroupName"] for g in i["SecurityGroups"])
        if len(groups) != 2 or not any(g.endswith("-stack") for g in groups):
            errors.append(f"{host}: instance security groups {groups}, expected the stack group and one role group")
        loki = "loki" in inv["hosts"][host]["roles"]
        if loki != ("IamInstanceProfile" in i):
            errors.append(f"{host}: instance profile {'missing' if loki else 'unexpected'}")
for sg in ec2.describe_security_groups(Filters=[{"Name": "tag:Environment", "Values": ["moto"]}])["SecurityGroups"]:
    for p in sg["IpPermissions"]:
        if any(x["CidrIp"] == "0.0.0.0/0" for x in p.get("IpRanges", [])):
            errors.append(f"{sg['GroupName']}: ingress from 0.0.0.0/0 on {p.get('FromPort')}")
tgs = elb.describe_target_groups()["TargetGroups"]
grafana = {ids[h] for h, v in inv["hosts"].items() if "grafana" in v["roles"]}
for tg in tgs:
    registered = {d["Target"]["Id"] for d in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]}
    if tg["HealthCheckPath"] != "/api/health" or registered != grafana:
        errors.append(f"target group {tg['TargetGroupName']}: path {tg['HealthCheckPath']}, targets {registered}")
if len(tgs) != 1:
    errors.append(f"{len(tgs)} target groups")
# Grafana over HTTPS only (issue 13): 443 with the user's certificate, 80 only
# redirects to it, and the load balancer speaks HTTPS to Grafana.
for tg in tgs:
    if tg["Protocol"] != "HTTPS" or tg.get("HealthCheckProtocol") != "HTTPS":
        errors.append(f"target group {tg['TargetGroupName']}: {tg['Protocol']}, health check {tg.get('HealthCheckProtocol')}")
listeners = {l["Port"]: l for lb in elb.describe_load_balancers()["LoadBalancers"]
             for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
if sorted(listeners) != [80, 443]:
    errors.append(f"listeners on {sorted(listeners)}, expected 80 and 443")
https = listeners.get(443, {})
if https.get("Protocol") != "HTTPS" or [c["CertificateArn"] for c in https.get("Certificates", [])] != [cert_arn]:
    errors.append(f"listener 443: {https.get('Protocol')} with {https.get('Certificates')}, expected HTTPS with {cert_arn}")
redirect = [a.get("RedirectConfig", {}) for a in listeners.get(80, {}).get("DefaultActions", [])]
if len(redirect) != 1 or redirect[0].get("Protocol") != "HTTPS" or str(redirect[0].get("Port")) != "443":
    errors.append(f"listener 80 does not only redirect to HTTPS:443: {listeners.get(80, {}).get('DefaultActions')}")
bucket = "obsctl-moto-loki-123456789012-eu-west-1"
# Loki's bucket: only the tenant's chunks expire, Loki's retention (30 days) + 7.
loki_rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
expiring = [(r.get("Filter", {}).get("Prefix"), r["Expiration"]["Days"]) for r in loki_rules if "Days" in r.get("Expiration", {})]
if expiring != [("fake/", 37)]:
    errors.append(f"lifecycle expiry {expiring}, expected only fake/ after 37 days")
iam = boto3.client("iam", **kw)
roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("obsctl-")]
if roles != ["obsctl-moto-eu-west-1-loki"]:
    errors.append(f"IAM roles {roles}, expected obsctl-moto-eu-west-1-loki (IAM is global: the region is in the name)")
# T3 hosts: standard credits (unlimited is billed).
t3 = list(ids.values())  # every host of this test is t3.small or t3.medium
for c in ec2.describe_instance_credit_specifications(InstanceIds=t3)["InstanceCreditSpecifications"]:
    if c["CpuCredits"] != "standard":
        errors.append(f"{c['InstanceId']}: cpu credits {c['CpuCredits']}")
# The application's port is the one obsctl passes (ports.app_port = 8181).
app_sg = [sg for sg in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["obsctl-moto-role-app"]}])["SecurityGroups"]]
if [sorted({p["FromPort"] for p in sg["IpPermissions"]}) for sg in app_sg] != [[8181]]:
    errors.append(f"app security group: {[sg['IpPermissions'] for sg in app_sg]}")
if not s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]:
    errors.append("bucket not encrypted")
if not all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()):
    errors.append("bucket public access not fully blocked")
# Grafana's database: one Multi-AZ, encrypted, private PostgreSQL instance
# over subnets in both zones, reachable on 5432 from the Grafana hosts' role
# group(s) and nothing else.
dbs = rds.describe_db_instances()["DBInstances"]
if [d["DBInstanceIdentifier"] for d in dbs] != [db_id]:
    errors.append(f"DB instances {[d['DBInstanceIdentifier'] for d in dbs]}, expected [{db_id}]")
grafana_ids = [ids[h] for h, v in inv["hosts"].items() if "grafana" in v["roles"]]
grafana_groups = sorted({g["GroupId"] for r in ec2.describe_instances(InstanceIds=grafana_ids)["Reservations"]
                         for i in r["Instances"] for g in i["SecurityGroups"] if not g["GroupName"].endswith("-stack")})
for db in dbs:
    want = {"Engine": "postgres", "MultiAZ": True, "StorageEncrypted": True, "PubliclyAccessible": False,
            "BackupRetentionPeriod": 7, "DBName": "grafana", "MasterUsername": "grafana", "StorageType": "gp3",
            "DeletionProtection": False}
    got = {k: db.get(k) for k in want}
    if got != want:
        errors.append(f"DB instance {db['DBInstanceIdentifier']}: {got}, expected {want}")
    if f"{db['Endpoint']['Address']}:{db['Endpoint']['Port']}" != db_endpoint:
        errors.append(f"DB endpoint {db['Endpoint']} is not grafana_db_endpoint {db_endpoint}")
    azs = {s["SubnetAvailabilityZone"]["Name"] for s in db["DBSubnetGroup"]["Subnets"]}
    if azs != {"eu-west-1a", "eu-west-1b"}:
        errors.append(f"DB subnet group spans {sorted(azs)}")
    db_sgs = [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]]
    for sg in ec2.describe_security_groups(GroupIds=db_sgs)["SecurityGroups"]:
        rules = [(p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"),
                  sorted(x["GroupId"] for x in p.get("UserIdGroupPairs", [])),
                  p.get("IpRanges", []) + p.get("Ipv6Ranges", []) + p.get("PrefixListIds", []))
                 for p in sg["IpPermissions"]]
        if not grafana_groups or rules != [("tcp", 5432, 5432, grafana_groups, [])]:
            errors.append(f"DB security group {sg['GroupName']}: ingress {rules}, expected 5432 from {grafana_groups} only")
        if sg["IpPermissionsEgress"]:
            errors.append(f"DB security group {sg['GroupName']}: unexpected egress {sg['IpPermissionsEgress']}")
# Issue 32 item 1: only the bastion has a public address; NAT per zone; S3 endpoint.
public = [(i["InstanceId"], i.get("PublicIpAddress")) for r in ec2.describe_instances(Filters=[{"Name": "tag:Environment", "Values": ["moto"]}, {"Name": "instance-state-name", "Values": ["running", "pending"]}])["Reservations"]
          for i in r["Instances"] if i.get("PublicIpAddress")]
if any(ip != bastion_ip for _, ip in public):
    errors.append(f"instances with a public IP: {public}, expected only the bastion {bastion_ip}")
vpc_id = ec2.describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["moto"]}])["Vpcs"][0]["VpcId"]
nats = [n for n in ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"] if n["State"] != "deleted"]
if len(nats) != 2:
    errors.append(f"{len(nats)} NAT gateways, expected one per zone (2)")
endpoints = [e["ServiceName"] for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]]
if endpoints != ["com.amazonaws.eu-west-1.s3"]:
    errors.append(f"VPC endpoints {endpoints}, expected the S3 gateway endpoint")
# Item 2: no all-protocol rule to 0.0.0.0/0; the load balancer reaches only
# Grafana's port on the Grafana hosts' groups.
groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
for sg in groups:
    for p in sg["IpPermissionsEgress"]:
        if p["IpProtocol"] == "-1" and any(x["CidrIp"] == "0.0.0.0/0" for x in p.get("IpRanges", [])):
            errors.append(f"{sg['GroupName']}: all-protocol egress to 0.0.0.0/0")
        if any(x["CidrIp"] == "0.0.0.0/0" for x in p.get("IpRanges", [])) and (p["IpProtocol"] != "tcp" or p["FromPort"] not in (80, 443, 587)):
            errors.append(f"{sg['GroupName']}: egress to the internet on {p['IpProtocol']} {p.get('FromPort')}")
    if sg["GroupName"] == "default" and (sg["IpPermissions"] or sg["IpPermissionsEgress"]):
        errors.append(f"default security group keeps rules: {sg['IpPermissions']} {sg['IpPermissionsEgress']}")
lb_sg = [sg for sg in groups if sg["GroupName"] == "obsctl-moto-grafana-lb"]
lb_egress = sorted((p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), g["GroupId"]) for sg in lb_sg for p in sg["IpPermissionsEgress"]
                   for g in (p.get("UserIdGroupPairs") or [{"GroupId": str(p.get("IpRanges"))}]))
if lb_egress != sorted(("tcp", 3000, 3000, g) for g in grafana_groups):
    errors.append(f"load balancer egress {lb_egress}, expected tcp 3000 to {grafana_groups} only")
# Item 3: audit trails.
flows = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
if [(f["TrafficType"], f["LogDestinationType"], f["LogDestination"]) for f in flows] != [("ALL", "s3", f"arn:aws:s3:::{log_bucket}")]:
    errors.append(f"flow logs {flows}")
for lb in elb.describe_load_balancers()["LoadBalancers"]:
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    want = {"access_logs.s3.enabled": "true", "access_logs.s3.bucket": log_bucket, "access_logs.s3.prefix": "alb", "deletion_protection.enabled": "false"}
    if {k: attrs.get(k) for k in want} != want:
        errors.append(f"load balancer attributes {attrs}, expected {want}")
logging = s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled", {})
if logging.get("TargetBucket") != log_bucket:
    errors.append(f"Loki bucket access logs: {logging}")
if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
    errors.append("Loki bucket not versioned")
if not any(r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays") == 7 for r in loki_rules):
    errors.append(f"Loki bucket: noncurrent versions do not expire: {loki_rules}")
log_rules = s3.get_bucket_lifecycle_configuration(Bucket=log_bucket)["Rules"]
if [r.get("Expiration", {}).get("Days") for r in log_rules] != [90]:
    errors.append(f"log bucket retention {log_rules}")
if not all(s3.get_public_access_block(Bucket=log_bucket)["PublicAccessBlockConfiguration"].values()):
    errors.append("log bucket public access not fully blocked")
for db in dbs:
    if sorted(db.get("EnabledCloudwatchLogsExports", [])) != ["postgresql", "upgrade"]:
        errors.append(f"RDS log exports {db.get('EnabledCloudwatchLogsExports')}")
for e in errors:
    print("  " + e, file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
    die "resources in moto do not match the stack's promises"
log "inventory, obsctl_vars and resources (with Grafana's database) check out"

# --- no perpetual diff ----------------------------------------------------

log "terraform plan -detailed-exitcode (expect no changes)"
rc=0
tf replan plan -input=false -no-color -detailed-exitcode -var-file="$TFVARS" || rc=$?
if ((rc == 2)); then
    grep -E '^\s+[-+~]|# .* will be|must be replaced' "$WORK/replan.log" | head -n 60 >&2 || true
    die "second plan wants changes (perpetual diff)"
elif ((rc != 0)); then
    show_log replan
    die "second plan failed"
fi

# --- data volumes: kept across an instance replacement ----------------------

# data_volumes FILE: per host its instance, and its data volume as moto has it.
data_volumes() {
    "$MOTO_VENV/bin/python" - "$ENDPOINT" "$INV" >"$1" <<'EOF' || die "could not read the data volumes from moto"
import json, sys
import boto3
endpoint, inv = sys.argv[1], json.load(open(sys.argv[2]))
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
out = {}
for h, v in inv["hosts"].items():
    vol = None
    if v.get("data_volume"):
        x = ec2.describe_volumes(VolumeIds=[v["data_volume"]])["Volumes"][0]
        vol = {"id": x["VolumeId"], "encrypted": x["Encrypted"], "type": x["VolumeType"], "size": x["Size"], "az": x["AvailabilityZone"],
               "attached": [[a["InstanceId"], a["Device"], a["State"]] for a in x["Attachments"]]}
    out[h] = {"instance": v["labels"]["instance_id"], "zone": v["labels"]["zone"], "volume": vol}
json.dump(out, sys.stdout)
EOF
}
data_volumes "$WORK/volumes-before.json"
jq -e '[to_entries[] | (.key == "app-1") == (.value.volume == null)] | all' "$WORK/volumes-before.json" >/dev/null ||
    die "data volumes: every stateful host (and only those) has one: $(cat "$WORK/volumes-before.json")"
jq -e '[.[] | select(.volume) | .volume.encrypted and .volume.type == "gp3" and .volume.az == .zone
        and .volume.attached == [[.instance, "/dev/sdf", "attached"]]] | all' "$WORK/volumes-before.json" >/dev/null ||
    die "data volumes: encrypted gp3 in the host's zone, attached to its instance as /dev/sdf: $(cat "$WORK/volumes-before.json")"
jq -e '.["mon-1"].volume.size == 30 and .["mon-2"].volume.size == 20' "$WORK/volumes-before.json" >/dev/null ||
    die "data volumes: mon-1 has data_gb 30, mon-2 the default 20: $(cat "$WORK/volumes-before.json")"
log "data volumes: $(jq -c '[to_entries[] | select(.value.volume) | "\(.key) \(.value.volume.id) \(.value.volume.size)G"]' "$WORK/volumes-before.json")"

log "replace mon-1's instance (terraform plan -replace, as obsctl up --replace does)"
tf replace-plan plan -input=false -no-color -var-file="$TFVARS" -replace='module.instances.aws_instance.this["mon-1"]' -out="$WORK/replace.tfplan" ||
    { show_log replace-plan; die "terraform plan -replace failed"; }
tf replace-show show -json "$WORK/replace.tfplan" || { show_log replace-show; die "terraform show -json of the replacement plan failed"; }
jq -r '.resource_changes[] | select(.change.actions | index("delete")) | .address' "$WORK/replace-show.log" | sort >"$WORK/replace-deletes"
# The instance and what points at it (its volume attachment, its load
# balancer target), never a volume.
grep -qxF 'module.instances.aws_instance.this["mon-1"]' "$WORK/replace-deletes" &&
    grep -qxF 'module.instances.aws_volume_attachment.data["mon-1"]' "$WORK/replace-deletes" &&
    ! grep -q 'aws_ebs_volume' "$WORK/replace-deletes" ||
    die "the replacement plan deletes $(paste -sd' ' "$WORK/replace-deletes"): expected mon-1's instance and its volume attachment, and no volume"
t0=$(now)
tf replace apply -input=false -no-color "$WORK/replace.tfplan" || { show_log replace; die "terraform apply of the replacement failed"; }
replace_s=$(elapsed "$t0" "$(now)")
tf output-after output -json || { show_log output-after; die "terraform output failed"; }
jq '.obsctl_inventory.value' "$WORK/output-after.log" >"$INV"
data_volumes "$WORK/volumes-after.json"
jq -e --slurpfile b "$WORK/volumes-before.json" '.["mon-1"].instance != $b[0]["mon-1"].instance' "$WORK/volumes-after.json" >/dev/null ||
    die "mon-1's instance was not replaced"
jq -e --slurpfile b "$WORK/volumes-before.json" '.["mon-1"].volume.id == $b[0]["mon-1"].volume.id
        and .["mon-1"].volume.attached == [[.["mon-1"].instance, "/dev/sdf", "attached"]]' "$WORK/volumes-after.json" >/dev/null ||
    die "mon-1's data volume must be the same and attached to the new instance: before $(jq -c '.["mon-1"]' "$WORK/volumes-before.json"), after $(jq -c '.["mon-1"]' "$WORK/volumes-after.json")"
log "mon-1 replaced in ${replace_s}s: instance $(jq -r '.["mon-1"].instance' "$WORK/volumes-before.json") -> $(jq -r '.["mon-1"].instance' "$WORK/volumes-after.json"), data volume $(jq -r '.["mon-1"].volume.id' "$WORK/volumes-after.json") kept and attached"

log "replace the bastion (terraform plan -replace, as obsctl up --replace bastion does)"
tf bastion-plan plan -input=false -no-color -var-file="$TFVARS" -replace='module.bastion.aws_instance.this' -out="$WORK/bastion.tfplan" ||
    { show_log bastion-plan; die "terraform plan -replace of the bastion failed"; }
tf bastion-show show -json "$WORK/bastion.tfplan" || { show_log bastion-show; die "terraform show -json of the bastion's replacement failed"; }
# Only the bastion's instance is replaced; its Elastic IP (the address obsctl
# reaches it at) stays, re-associated in place; no host is touched.
jq -r '.resource_changes[] | select(.change.actions != ["no-op"] and .change.actions != ["read"]) | "\(.change.actions | join(",")) \(.address)"' \
    "$WORK/bastion-show.log" | sort >"$WORK/bastion-changes"
replaced='^(create,delete|delete,create) module\.bastion\.aws_instance\.this$'
unexpected=$(grep -Ev "$replaced"'|^update module\.bastion\.aws_eip\.this$' "$WORK/bastion-changes" || true)
grep -Eq "$replaced" "$WORK/bastion-changes" && [ -z "$unexpected" ] ||
    die "replacing the bastion must replace its instance alone (its Elastic IP kept, no host touched): $(paste -sd';' "$WORK/bastion-changes")"
log "bastion replacement planned: $(paste -sd';' "$WORK/bastion-changes")"

# --- destroy --------------------------------------------------------------

log "terraform destroy"
t0=$(now)
tf destroy destroy -input=false -no-color -auto-approve -var-file="$TFVARS" ||
    { show_log destroy; die "terraform destroy failed"; }
t1=$(now)
destroy_s=$(elapsed "$t0" "$t1")

left=$(jq '[.resources[] | select(.mode == "managed")] | length' "$WORK/terraform.tfstate")
((left == 0)) || die "state still holds $left resources after destroy"
"$MOTO_VENV/bin/python" - "$ENDPOINT" <<'EOF' || die "Grafana's database is still in moto after destroy"
import sys
import boto3
rds = boto3.client("rds", endpoint_url=sys.argv[1], region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
left = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
left += [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]]
if left:
    print(f"  left behind: {left}", file=sys.stderr)
sys.exit(1 if left else 0)
EOF

ok=1
cat <<EOF
PASS: aws stack against moto ($ENDPOINT)
  resources created:  $resources
  hosts:              $(jq -r '.hosts | keys | join(", ")' "$INV")
  grafana database:   $DB_ID (postgres, Multi-AZ, encrypted) at $(jq -r .grafana_db_endpoint.value "$OUT")
  apply:              ${apply_s} s
  destroy:            ${destroy_s} s
  second plan:        no changes
  RDS password:       not in the Terraform state (write-only password_wo)
  validations:        ${#refusals[@]} invalid inputs refused; no database without grafana_db_password
  private hosts:      no public IPv4 but the bastion's ($BASTION_IP); NAT per zone; S3 gateway endpoint
  egress:             no all-protocol rule to 0.0.0.0/0; load balancer only to Grafana's groups on 3000
  audit:              flow logs, ALB and S3 access logs into $(jq -r .log_bucket.value "$OUT"); RDS log exports; default SG empty
EOF
