#!/usr/bin/env bash
# Terraform's own tests of the stacks, offline (no cloud API, no credentials):
#
#  1. terraform/stacks/aws/tests/*.tftest.hcl: plans (and mock applies) of
#     the aws stack with a mocked AWS provider: the Loki bucket's lifecycle
#     rule, the Grafana database's protection and password version, names,
#     credit mode, ports from obsctl, --without components, refusals; and
#     terraform/stacks/lab/tests/*.tftest.hcl: plans of the lab stack (its
#     bastion: the jump machine, the contract's ssh.bastion, clashes refused).
#  2. terraform/modules/*/tests/*.tftest.hcl: module tests (aws_instances:
#     an instance type must run the image's architecture).
#  3. tests/names/names.txt through both stacks: every name of the table
#     becomes a `run` of its own (environment) or a host of a `run`, with
#     expect_failures for the bad ones. The same table runs through obsctl's
#     rules in `cargo test` (src/model/names.rs), so the three agree.
#
# Needs terraform and the aws provider in the mirror (TF_CLI_CONFIG_FILE
# defaults to tests/aws/terraformrc).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export TF_CLI_CONFIG_FILE="$root/tests/aws/terraformrc" # providers from the offline mirror only
export TF_IN_AUTOMATION=1 TF_INPUT=0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -a "$root/terraform" "$work/terraform"

tf() { # $1 = stack (or modules/<name>), rest = terraform arguments; output in $work/<name>.log
    local stack=$1 dir log
    shift
    case "$stack" in modules/*) dir="$work/terraform/$stack" ;; *) dir="$work/terraform/stacks/$stack" ;; esac
    log="$work/${stack//\//-}.log"
    TF_DATA_DIR="$work/data-${stack//\//-}" terraform -chdir="$dir" "$@" >>"$log" 2>&1 ||
        { tail -n 60 "$log" >&2; echo "terraform.sh: terraform $* in $stack failed" >&2; return 1; }
}

# The names table as a `terraform test` file for stack $1, with its header
# (provider mocks and the stack's other variables) in $2.
names_test() {
    local header=$1
    cat "$header"
    local good_hosts=() n=0
    while read -r kind verdict name _; do
        [[ -z "$kind" || "$kind" == \#* ]] && continue
        n=$((n + 1))
        case "$kind/$verdict" in
        env/ok) printf 'run "env_%d_ok" {\n  command = plan\n  variables {\n    environment = "%s"\n  }\n}\n\n' "$n" "$name" ;;
        env/bad) printf 'run "env_%d_bad" {\n  command = plan\n  variables {\n    environment = "%s"\n  }\n  expect_failures = [var.environment]\n}\n\n' "$n" "$name" ;;
        host/ok) good_hosts+=("$name") ;;
        host/bad) printf 'run "host_%d_bad" {\n  command = plan\n  variables {\n    hosts = { "%s" = { roles = ["prometheus"] } }\n  }\n  expect_failures = [var.hosts]\n}\n\n' "$n" "$name" ;;
        *) echo "terraform.sh: bad line in names.txt: $kind $verdict $name" >&2; exit 1 ;;
        esac
    done <"$root/tests/names/names.txt"
    printf 'run "hosts_ok" {\n  command = plan\n  variables {\n    hosts = {\n'
    for h in "${good_hosts[@]}"; do printf '      "%s" = { roles = ["prometheus"] }\n' "$h"; done
    printf '    }\n  }\n}\n'
}

# Headers: the aws one reuses the mocks and variables of plan.tftest.hcl (up
# to its first `run`), the lab stack needs no provider.
aws_tests="$work/terraform/stacks/aws/tests"
sed '/^run "/,$d' "$aws_tests/plan.tftest.hcl" >"$work/aws-header.hcl"
cat >"$work/lab-header.hcl" <<'HCL'
variables {
  environment          = "dev"
  hosts                = { "mon-1" = { roles = ["prometheus"] } }
  ports                = { prometheus_port = 9090, alertmanager_port = 9093, alertmanager_cluster_port = 9094, node_exporter_port = 9100, grafana_http_port = 3000, grafana_alerting_ha_port = 9095, loki_http_port = 3100, loki_grpc_port = 9096, loki_memberlist_port = 7946, alloy_http_port = 12345, promtail_http_port = 9080, app_port = 8080, loki_backend_port = 3101, alloy_backend_port = 12346, promtail_backend_port = 9081 }
  components           = ["prometheus", "alertmanager"]
  ssh_public_key_file  = "../aws/tests/id_ed25519.pub"
  ssh_private_key_file = "/nonexistent/id_ed25519"
  lab                  = { bridge = "obs-dev", cidr = "10.77.0.0/24", host_numbers = { "mon-1" = 10 } }
}

HCL
names_test "$work/aws-header.hcl" >"$aws_tests/names.tftest.hcl"
mkdir -p "$work/terraform/stacks/lab/tests"
names_test "$work/lab-header.hcl" >"$work/terraform/stacks/lab/tests/names.tftest.hcl"

for stack in aws lab; do
    t0=$(date +%s)
    tf "$stack" init -backend=false -input=false -lockfile=readonly -no-color
    # The lab stack's hosts need numbers: give every host of the table one.
    if [[ "$stack" == lab ]]; then
        python3 - "$work/terraform/stacks/lab/tests/names.tftest.hcl" <<'PY'
import re, sys
p = sys.argv[1]
t = open(p).read()
def numbered(m):
    hosts = re.findall(r'"([^"]+)" = \{ roles', m.group(0))
    numbers = ", ".join(f'"{h}" = {10 + i}' for i, h in enumerate(hosts))
    return m.group(0) + f'    lab = {{ bridge = "obs-dev", cidr = "10.77.0.0/24", host_numbers = {{ {numbers} }} }}\n'
t = re.sub(r'    hosts = \{.*?\n    \}\n(?=  \})|    hosts = \{ "[^"]+" = \{ roles = \["prometheus"\] \} \}\n', numbered, t, flags=re.S)
open(p, "w").write(t)
PY
    fi
    tf "$stack" test -no-color
    grep -E '^Success!' "$work/$stack.log" >&2
    echo "terraform.sh: stacks/$stack: terraform test passed ($(($(date +%s) - t0))s)" >&2
done

for dir in "$work"/terraform/modules/*/tests; do
    module="modules/$(basename "$(dirname "$dir")")"
    t0=$(date +%s)
    # Modules have no lock file of their own: init writes one in the copy.
    tf "$module" init -backend=false -input=false -no-color
    tf "$module" test -no-color
    echo "terraform.sh: $module: terraform test passed ($(($(date +%s) - t0))s)" >&2
done
