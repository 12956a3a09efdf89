locals {
  # Every name starts with "obsctl-<environment>": EC2 key pairs, security
  # groups, load balancers, target groups and RDS identifiers are unique per
  # account and region, so two environments of one account never collide,
  # and no name starts with a prefix AWS reserves ("sg-", "internal-").
  name = "obsctl-${var.environment}"
  # IAM is global to the account: the region is part of these names, so the
  # same environment in a second region does not collide.
  global_name = "obsctl-${var.environment}-${var.aws.region}"

  # Components this run deploys (the env file's minus --without). A host's
  # infrastructure follows only its enabled roles; its roles in the
  # inventory contract stay as the env file has them.
  enabled_roles = { for h, v in var.hosts : h => [for r in v.roles : r if contains(var.components, r)] }

  loki_hosts    = sort([for h, roles in local.enabled_roles : h if contains(roles, "loki")])
  grafana_hosts = sort([for h, roles in local.enabled_roles : h if contains(roles, "grafana")])

  # Hosts that keep state (TSDB, Alertmanager's silences and log, Grafana's
  # sqlite, Loki's data) get a data volume. From the env file's roles, not
  # this run's: `--without loki` must not delete a Loki host's volume.
  stateful_hosts = sort([for h, v in var.hosts : h if length(setintersection(v.roles, ["prometheus", "alertmanager", "grafana", "loki"])) > 0])

  # Grafana's shared PostgreSQL database (RDS): when obsctl passes a password
  # (environments with grafana database = postgres) and grafana is deployed
  # on some host. Whether a password is set is no secret, only the password is.
  grafana_db = nonsensitive(var.grafana_db_password != null) && length(local.grafana_hosts) > 0

  # Globally unique by construction: account and region are part of it.
  loki_bucket_name = coalesce(
    var.aws.loki_bucket_name,
    "obsctl-${var.environment}-loki-${data.aws_caller_identity.current.account_id}-${var.aws.region}",
  )
  log_bucket_name = "obsctl-${var.environment}-logs-${data.aws_caller_identity.current.account_id}-${var.aws.region}"
}

data "aws_caller_identity" "current" {}

# The audit trail: VPC flow logs, the load balancer's and the Loki
# bucket's access logs. A protected environment's outlives `destroy`.
module "logs" {
  source = "../../modules/aws_log_bucket"

  bucket_name    = local.log_bucket_name
  retention_days = var.aws.log_retention_days
  force_destroy  = !var.protected
}

module "network" {
  source = "../../modules/aws_network"

  name                = local.name
  vpc_cidr            = var.aws.vpc_cidr
  availability_zones  = var.aws.availability_zones
  nat_per_zone        = var.aws.nat_per_zone
  flow_logs           = true
  flow_log_bucket_arn = "arn:aws:s3:::${module.logs.bucket_name}"
  flow_log_prefix     = module.logs.prefixes.flow_logs
}

module "security" {
  source = "../../modules/aws_security"

  name        = local.name
  vpc_id      = module.network.vpc_id
  admin_cidrs = var.aws.admin_cidrs
  hosts_roles = local.enabled_roles
  ports       = var.ports
  every_host  = [for c in ["node_exporter", "alloy", "promtail"] : c if contains(var.components, c)]
  lb_https    = var.aws.grafana_certificate_arn != null

  egress_tcp_ports = var.egress_tcp_ports
  scrape_targets   = var.scrape_targets
  database         = local.grafana_db ? { port = 5432, cidr_blocks = module.network.private_subnet_cidrs } : null
}

module "loki_bucket" {
  source = "../../modules/aws_loki_bucket"
  count  = length(local.loki_hosts) > 0 ? 1 : 0

  name                = local.global_name
  bucket_name         = local.loki_bucket_name
  loki_retention_days = var.loki_retention_days
  force_destroy       = var.aws.loki_force_destroy
  access_logging      = true
  access_log_bucket   = module.logs.bucket_name
  access_log_prefix   = module.logs.prefixes.s3
}

module "instances" {
  source = "../../modules/aws_instances"

  name        = local.name
  environment = var.environment
  public_key  = file(var.ssh_public_key_file)
  ami_owner   = var.aws.ami_owner
  # Debian's official images are named debian-<major>-amd64-<date>-<build>.
  ami_name = coalesce(var.aws.ami_name, "${var.os}-amd64-*")

  hosts = {
    for h, v in var.hosts : h => {
      roles                = v.roles
      instance_type        = var.aws.instance_types[v.size]
      disk_gb              = v.disk_gb
      subnet_id            = module.network.private_subnet_ids[v.zone]
      security_group_ids   = module.security.host_security_group_ids[h]
      iam_instance_profile = contains(local.loki_hosts, h) ? module.loki_bucket[0].instance_profile_name : null
    }
  }

  # The zone is the one of the host's subnet, known before the instance.
  data_volumes = {
    for h in local.stateful_hosts : h => {
      size_gb           = var.hosts[h].data_gb
      availability_zone = var.aws.availability_zones[var.hosts[h].zone]
    }
  }
  protected = var.protected
}

module "grafana_lb" {
  source = "../../modules/aws_grafana_lb"
  count  = length(local.grafana_hosts) > 0 ? 1 : 0

  name               = local.name
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.public_subnet_ids
  security_group_ids = [module.security.lb_security_group_id]
  targets            = { for h in local.grafana_hosts : h => module.instances.instances[h].id }
  grafana_port       = var.ports.grafana_http_port
  certificate_arn    = var.aws.grafana_certificate_arn

  deletion_protection = var.protected
  access_logs         = true
  access_logs_bucket  = module.logs.bucket_name
  access_logs_prefix  = module.logs.prefixes.alb
}

# The one host with a public address (an Elastic IP), in the first zone's
# public subnet: obsctl's way to the private hosts (obsctl_inventory.ssh.bastion).
module "bastion" {
  source = "../../modules/aws_bastion"

  name               = "${local.name}-bastion"
  ami_id             = module.instances.ami_id
  instance_type      = var.aws.bastion_instance_type
  subnet_id          = module.network.public_subnet_ids[0]
  security_group_ids = [module.security.bastion_security_group_id]
  key_name           = module.instances.key_pair_name
}

module "grafana_db" {
  source = "../../modules/aws_grafana_db"
  count  = local.grafana_db ? 1 : 0

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = module.security.grafana_security_group_ids
  password                  = var.grafana_db_password
  password_version          = var.grafana_db_password_version
  instance_class            = var.aws.grafana_db_instance_class
  storage_gb                = var.aws.grafana_db_storage_gb
  multi_az                  = var.aws.grafana_db_multi_az
  protected                 = var.protected || var.aws.grafana_db_deletion_protection
  log_retention_days        = var.aws.log_retention_days
  snapshot_identifier       = var.grafana_db_snapshot_identifier
}
