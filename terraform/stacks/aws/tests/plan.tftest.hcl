# Plan-level tests of the aws stack with a mocked AWS provider (no API, no
# credentials): `terraform test` in terraform/stacks/aws (tests/static/terraform.sh).
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_lb" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/obsctl-prod/0123456789abcdef" }
  }
  mock_resource "aws_lb_target_group" {
    defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/obsctl-prod/0123456789abcdef" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::obsctl-prod-loki-123456789012-eu-west-1" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_ec2_instance_type" {
    defaults = { supported_architectures = ["x86_64"] }
  }
  mock_data "aws_ami" {
    defaults = { id = "ami-12345678", architecture = "x86_64" }
  }
}

variables {
  environment = "prod"
  hosts = {
    "mon-1" = { roles = ["prometheus", "alertmanager", "grafana", "loki"], size = "large", disk_gb = 50, zone = 0 }
    "mon-2" = { roles = ["prometheus", "alertmanager", "grafana", "loki"], size = "large", disk_gb = 50, zone = 1 }
    "mon-3" = { roles = ["alertmanager", "loki"], size = "medium", disk_gb = 30, zone = 2 }
    "app-1" = { roles = ["app"], size = "small", zone = 1 }
  }
  ports = {
    prometheus_port      = 9090, alertmanager_port = 9093, alertmanager_cluster_port = 9094, node_exporter_port = 9100,
    grafana_http_port    = 3000, grafana_alerting_ha_port = 9095, loki_http_port = 3100, loki_grpc_port = 9096,
    loki_memberlist_port = 7946, alloy_http_port = 12345, promtail_http_port = 9080, app_port = 8181,
    loki_backend_port    = 3101, alloy_backend_port = 12346, promtail_backend_port = 9081,
  }
  components           = ["prometheus", "alertmanager", "node_exporter", "grafana", "loki", "alloy", "app"]
  protected            = true
  loki_retention_days  = 30
  ssh_public_key_file  = "tests/id_ed25519.pub"
  ssh_private_key_file = "/nonexistent/id_ed25519"
  grafana_db_password  = "0123456789abcdefABCDEF"
  aws = {
    region             = "eu-west-1"
    availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    admin_cidrs        = ["198.18.0.0/24"]
    # The user's certificate for Grafana's load balancer (required with Grafana).
    grafana_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
  }
}

# Issue 19 item 1: only the tenant's chunks expire, a margin after Loki's
# own retention (here 30 days + 7).
run "loki_bucket_expires_only_chunks" {
  command = plan

  assert {
    condition     = module.loki_bucket[0].chunk_expiry == [{ prefix = "fake/", days = 37 }]
    error_message = "lifecycle expiry must be exactly fake/ after 37 days, got ${jsonencode(module.loki_bucket[0].chunk_expiry)}"
  }
}

# Item 2 and 3: a protected environment's database has deletion protection,
# a final snapshot with a unique name, keeps its backups; the password
# version obsctl passes reaches password_wo_version.
run "protected_database" {
  command = apply

  variables {
    grafana_db_password_version = 3
  }

  assert {
    condition     = module.grafana_db[0].protection.deletion_protection && !module.grafana_db[0].protection.skip_final_snapshot && !module.grafana_db[0].protection.delete_automated_backups
    error_message = "protected: ${jsonencode(module.grafana_db[0].protection)}"
  }

  assert {
    condition     = can(regex("^obsctl-prod-grafana-final-[0-9]{14}$", module.grafana_db[0].protection.final_snapshot_identifier))
    error_message = "final snapshot name is not unique per database: ${module.grafana_db[0].protection.final_snapshot_identifier}"
  }

  assert {
    condition     = module.grafana_db[0].protection.password_wo_version == 3
    error_message = "password_wo_version does not follow grafana_db_password_version"
  }
}

run "unprotected_database" {
  command = apply

  variables {
    protected = false
  }

  assert {
    condition     = !module.grafana_db[0].protection.deletion_protection && module.grafana_db[0].protection.skip_final_snapshot && module.grafana_db[0].protection.delete_automated_backups
    error_message = "unprotected: ${jsonencode(module.grafana_db[0].protection)}"
  }
}

# Item 10: names carry obsctl and the environment; IAM names also the region.
run "names" {
  command = apply

  assert {
    condition     = module.instances.key_pair_name == "obsctl-prod" && module.grafana_db[0].identifier == "obsctl-prod-grafana"
    error_message = "key pair ${module.instances.key_pair_name}, RDS ${module.grafana_db[0].identifier}"
  }

  assert {
    condition     = module.loki_bucket[0].instance_profile_name == "obsctl-prod-eu-west-1-loki"
    error_message = "IAM names must hold the region: ${module.loki_bucket[0].instance_profile_name}"
  }

  assert {
    condition     = alltrue([for n in keys(module.security.ingress_ports) : startswith(n, "obsctl-prod-")])
    error_message = "security group names: ${jsonencode(keys(module.security.ingress_ports))}"
  }
}

# Item 13: burstable hosts get standard credits, the others none.
run "cpu_credits" {
  command = apply

  assert {
    condition     = jsonencode(module.instances.cpu_credits) == jsonencode({ "app-1" = "standard", "mon-1" = null, "mon-2" = null, "mon-3" = "standard" })
    error_message = "credits: ${jsonencode(module.instances.cpu_credits)}"
  }
}

# Issue 12: the security groups open the ports obsctl passes (app_port 8181).
run "ports_from_obsctl" {
  command = apply

  assert {
    condition     = jsonencode(module.security.ingress_ports["obsctl-prod-role-app"]) == jsonencode(["8181"])
    error_message = "app group: ${jsonencode(module.security.ingress_ports)}"
  }

  assert {
    condition     = jsonencode(module.security.ingress_ports["obsctl-prod-stack"]) == jsonencode(["12345", "22", "9100"])
    error_message = "stack group: ${jsonencode(module.security.ingress_ports)}"
  }
}

# Issue 12: --without grafana,loki,alloy: no load balancer, no database,
# no bucket or IAM role, no ports of the components that are off.
run "without_components" {
  command = plan

  variables {
    components = ["prometheus", "alertmanager", "node_exporter", "app"]
  }

  assert {
    condition     = length(module.grafana_lb) == 0 && length(module.grafana_db) == 0 && length(module.loki_bucket) == 0
    error_message = "components that are off still get infrastructure"
  }

  assert {
    condition     = output.grafana_url == null && output.loki_bucket == null && output.grafana_db_endpoint == null
    error_message = "outputs of components that are off"
  }

  assert {
    condition     = module.security.lb_security_group_id == null
    error_message = "load balancer security group without grafana"
  }
}

# Item 11: what AWS refuses, the stack refuses before any API call.
run "ecdsa_key_refused" {
  command = plan

  variables {
    ssh_public_key_file = "tests/id_ecdsa.pub"
  }

  expect_failures = [var.ssh_public_key_file]
}

run "internet_in_two_halves_refused" {
  command = plan

  variables {
    aws = {
      region                  = "eu-west-1"
      availability_zones      = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      admin_cidrs             = ["0.0.0.0/1", "128.0.0.0/1"]
      grafana_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    }
  }

  expect_failures = [var.aws]
}

# Issue 13: Grafana through the load balancer over HTTPS only, with the
# user's certificate; port 80 only redirects; the load balancer speaks HTTPS
# to Grafana too.
run "grafana_https_only" {
  command = plan

  assert {
    condition     = module.grafana_lb[0].url == "https://${module.grafana_lb[0].dns_name}/"
    error_message = "Grafana's URL is not https: ${module.grafana_lb[0].url}"
  }

  assert {
    condition = alltrue([
      module.grafana_lb[0].listeners.https.protocol == "HTTPS",
      module.grafana_lb[0].listeners.https.port == 443,
      module.grafana_lb[0].listeners.https.certificate_arn == var.aws.grafana_certificate_arn,
    ])
    error_message = "listener 443: ${jsonencode(module.grafana_lb[0].listeners.https)}"
  }

  assert {
    condition = alltrue([
      module.grafana_lb[0].listeners.http.port == 80,
      module.grafana_lb[0].listeners.http.action == "redirect",
      module.grafana_lb[0].listeners.http.redirect_to == "HTTPS:443",
    ])
    error_message = "listener 80 does not only redirect to HTTPS: ${jsonencode(module.grafana_lb[0].listeners.http)}"
  }

  assert {
    condition     = module.grafana_lb[0].target_protocol == "HTTPS" && module.grafana_lb[0].health_check_protocol == "HTTPS"
    error_message = "the load balancer speaks ${module.grafana_lb[0].target_protocol} to Grafana"
  }
}

# Without a certificate, Grafana on aws is refused (no plain-HTTP Grafana).
run "grafana_without_certificate_refused" {
  command = plan

  variables {
    aws = {
      region             = "eu-west-1"
      availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      admin_cidrs        = ["198.18.0.0/24"]
    }
  }

  expect_failures = [var.aws]
}

# ... but an environment without Grafana needs none.
run "no_certificate_without_grafana" {
  command = plan

  variables {
    components = ["prometheus", "alertmanager", "node_exporter", "app"]
    aws = {
      region             = "eu-west-1"
      availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      admin_cidrs        = ["198.18.0.0/24"]
    }
  }

  assert {
    condition     = length(module.grafana_lb) == 0
    error_message = "a load balancer without Grafana"
  }
}

# Issue 32 item 1: no host has a public IPv4 (neither asked for nor from its
# subnet), the hosts sit in the private subnets, the bastion is the way in.
run "private_hosts" {
  command = apply

  assert {
    condition     = alltrue([for h, s in module.instances.subnet_ids : contains(module.network.private_subnet_ids, s)])
    error_message = "a host outside the private subnets: ${jsonencode(module.instances.subnet_ids)}"
  }

  assert {
    condition     = !anytrue(values(module.network.map_public_ip_on_launch))
    error_message = "a subnet maps public IPs on launch: ${jsonencode(module.network.map_public_ip_on_launch)}"
  }

  assert {
    condition     = alltrue([for h, v in output.obsctl_inventory.hosts : v.address == v.private_address])
    error_message = "the contract does not address every host at its private IP"
  }

  assert {
    condition     = output.obsctl_inventory.ssh.bastion == "admin@${output.bastion}"
    error_message = "contract bastion: ${jsonencode(output.obsctl_inventory.ssh.bastion)}"
  }

  assert {
    condition     = length(module.network.nat_gateways) == 3 && module.network.s3_endpoint_id != null
    error_message = "NAT gateways per zone and the S3 endpoint: ${jsonencode(module.network.nat_gateways)}"
  }
}

# Issue 32 item 2: the load balancer reaches only Grafana's port on the
# Grafana hosts' groups; no all-protocol rule to 0.0.0.0/0 in any group; to
# the internet only TCP 80, 443 and the receivers' ports obsctl passes.
run "narrow_egress" {
  command = apply

  variables {
    egress_tcp_ports = [587]
  }

  assert {
    condition = alltrue([for r in module.security.egress["obsctl-prod-grafana-lb"] :
    r.protocol == "tcp" && r.from == 3000 && r.to == 3000 && length(r.cidrs) == 0 && contains(module.security.lb_egress_expected.groups, one(r.groups))])
    error_message = "load balancer egress: ${jsonencode(module.security.egress["obsctl-prod-grafana-lb"])}"
  }

  assert {
    condition     = length(module.security.egress["obsctl-prod-grafana-lb"]) == length(module.security.lb_egress_expected.groups)
    error_message = "load balancer egress must reach every Grafana group: ${jsonencode(module.security.egress["obsctl-prod-grafana-lb"])}"
  }

  assert {
    condition     = alltrue(flatten([for g, rules in module.security.egress : [for r in rules : !(contains(["-1", "all"], r.protocol) && contains(r.cidrs, "0.0.0.0/0"))]]))
    error_message = "an all-protocol rule to 0.0.0.0/0: ${jsonencode(module.security.egress)}"
  }

  assert {
    condition     = toset(flatten([for g, rules in module.security.egress : [for r in rules : r.from if contains(r.cidrs, "0.0.0.0/0")]])) == toset([80, 443, 587])
    error_message = "ports open to the internet: ${jsonencode(module.security.egress)}"
  }

  assert {
    condition     = alltrue([for g, rules in module.security.egress : length(rules) == 0 if startswith(g, "obsctl-prod-role-")])
    error_message = "role groups carry egress of their own"
  }
}

# Issue 32 item 3: audit trails and protections.
run "audit_trails" {
  command = apply

  assert {
    condition     = module.network.flow_log.traffic_type == "ALL" && module.network.flow_log.destination == "arn:aws:s3:::${output.log_bucket}"
    error_message = "flow log: ${jsonencode(module.network.flow_log)}"
  }

  assert {
    condition     = module.grafana_lb[0].protection.deletion_protection && jsonencode(module.grafana_lb[0].protection.access_logs) == jsonencode([{ bucket = output.log_bucket, enabled = true, prefix = "alb" }])
    error_message = "load balancer: ${jsonencode(module.grafana_lb[0].protection)}"
  }

  assert {
    condition     = module.loki_bucket[0].access_logs.bucket == output.log_bucket && module.loki_bucket[0].versions == { versioning = "Enabled", noncurrent_days = 7 }
    error_message = "Loki bucket: ${jsonencode(module.loki_bucket[0].versions)} ${jsonencode(module.loki_bucket[0].access_logs)}"
  }

  assert {
    condition     = module.logs.retention == { days = 90, noncurrent_days = 1, versioning = "Enabled" }
    error_message = "log bucket retention: ${jsonencode(module.logs.retention)}"
  }

  assert {
    condition     = jsonencode(module.grafana_db[0].protection.log_exports) == jsonencode(["postgresql", "upgrade"]) && jsonencode(module.grafana_db[0].protection.log_retention_days) == jsonencode([90])
    error_message = "RDS log exports: ${jsonencode(module.grafana_db[0].protection)}"
  }

  assert {
    condition     = module.network.default_security_group_rules == 0
    error_message = "the VPC's default security group keeps rules"
  }
}

# An unprotected environment's load balancer can be deleted.
run "unprotected_load_balancer" {
  command = apply

  variables {
    protected = false
  }

  assert {
    condition     = !module.grafana_lb[0].protection.deletion_protection
    error_message = "deletion protection on an unprotected environment's load balancer"
  }
}

# Issue 31: the security groups open only what the declared jobs need. A
# user job's targets on a host of the stack: a group of that host's own,
# admitting exactly those ports from the Prometheus hosts' role groups;
# addresses outside the stack (existing hosts, address targets): the
# Prometheus hosts' egress to exactly those ports of those /32s.
run "scrape_targets_open_only_what_jobs_need" {
  command = apply

  variables {
    scrape_targets = {
      hosts     = { "app-1" = [9113, 9113], "mon-3" = [9187] }
      addresses = { "10.0.9.50" = [9100, 12345, 9187] }
    }
  }

  assert {
    condition     = jsonencode(module.security.ingress_ports["obsctl-prod-scrape-app-1"]) == jsonencode(["9113"]) && jsonencode(module.security.ingress_ports["obsctl-prod-scrape-mon-3"]) == jsonencode(["9187"])
    error_message = "scrape groups: ${jsonencode(module.security.ingress_ports)}"
  }

  assert {
    condition     = alltrue(flatten([for g, rules in module.security.scrape_ingress : [for r in rules : r.groups == module.security.prometheus_security_group_ids]])) && length(module.security.prometheus_security_group_ids) == 1
    error_message = "a scrape target must admit the Prometheus hosts' groups only: ${jsonencode(module.security.scrape_ingress)} vs ${jsonencode(module.security.prometheus_security_group_ids)}"
  }

  assert {
    condition     = length(module.security.host_security_group_ids["app-1"]) == 3 && length(module.security.host_security_group_ids["mon-3"]) == 3 && length(module.security.host_security_group_ids["mon-1"]) == 3 && length(module.security.host_security_group_ids["mon-2"]) == 3
    error_message = "groups per host (stack, role, scrape or scraper): ${jsonencode(module.security.host_security_group_ids)}"
  }

  assert {
    condition     = toset([for r in module.security.egress["obsctl-prod-scraper"] : "${r.protocol}/${r.from}-${r.to}/${join(",", r.cidrs)}"]) == toset(["tcp/9100-9100/10.0.9.50/32", "tcp/12345-12345/10.0.9.50/32", "tcp/9187-9187/10.0.9.50/32"])
    error_message = "scraper egress: ${jsonencode(module.security.egress["obsctl-prod-scraper"])}"
  }

  assert {
    condition     = length(module.security.egress["obsctl-prod-scrape-app-1"]) == 0
    error_message = "a scrape group carries egress of its own"
  }
}

# Without user jobs or existing hosts, no group is added: two per host, as before.
run "no_scrape_targets_no_groups" {
  command = plan

  assert {
    condition     = alltrue([for h, ids in module.security.host_security_group_ids : length(ids) == 2])
    error_message = "groups per host: ${jsonencode(module.security.host_security_group_ids)}"
  }
}

run "scrape_targets_name_hosts_of_the_stack" {
  command = plan

  variables {
    scrape_targets = { hosts = { "db-9" = [9187] } }
  }

  expect_failures = [var.scrape_targets]
}
