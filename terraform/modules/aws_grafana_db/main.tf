# Grafana's shared database: one RDS for PostgreSQL instance that every
# Grafana host behind the load balancer uses, so users, folders, dashboards
# saved in the UI and alerting state are the same on all of them and survive
# the loss of any host. Multi-AZ (a synchronous standby in another zone,
# automatic failover behind the same endpoint) keeps the database from being
# the single point of failure the two Grafana hosts are there to avoid.
#
# Reachable only from inside the VPC (publicly_accessible = false) and there
# only on 5432 from the security groups of the Grafana hosts.

locals {
  identifier  = "${var.name}-grafana"
  port        = 5432
  log_exports = ["postgresql", "upgrade"]
}

# RDS writes exported logs to /aws/rds/instance/<identifier>/<log>; created
# here first so they expire after log_retention_days.
resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(local.log_exports)

  name              = "/aws/rds/instance/${local.identifier}/${each.key}"
  retention_in_days = var.log_retention_days

  tags = var.tags
}

# A unique suffix for the final snapshot, fixed when the database is created:
# a second database of the same environment (after a destroy) leaves its own
# final snapshot instead of failing on the first one's name.
resource "terraform_data" "final_snapshot_suffix" {
  input = formatdate("YYYYMMDDhhmmss", plantimestamp())

  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_db_subnet_group" "this" {
  name        = local.identifier
  description = "obsctl ${var.name}: Grafana database"
  subnet_ids  = var.subnet_ids

  tags = merge(var.tags, { Name = local.identifier })
}

# Inline rules, like aws_security: the group is authoritative. No egress:
# the database never opens connections of its own.
resource "aws_security_group" "this" {
  name        = "${var.name}-grafana-db"
  description = "obsctl ${var.name}: Grafana database"
  vpc_id      = var.vpc_id

  ingress {
    description     = "PostgreSQL from Grafana hosts"
    protocol        = "tcp"
    from_port       = local.port
    to_port         = local.port
    security_groups = var.client_security_group_ids
  }

  egress = []

  tags = merge(var.tags, { Name = "${var.name}-grafana-db" })
}

resource "aws_db_instance" "this" {
  identifier = local.identifier

  engine                      = "postgres"
  engine_version              = var.engine_version
  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  instance_class              = var.instance_class

  allocated_storage = var.storage_gb
  storage_type      = "gp3"
  storage_encrypted = true # with the account's aws/rds KMS key

  multi_az               = var.multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  port                   = local.port

  db_name  = var.database_name
  username = var.username
  # Write-only (Terraform >= 1.11, provider >= 5.88): sent to RDS at create,
  # never stored in the Terraform state, which may be shared in S3. RDS gets
  # the password again only when password_wo_version changes: obsctl raises
  # it with every new password (`obsctl rotate-secret`).
  password_wo         = var.password
  password_wo_version = var.password_version

  backup_retention_period = var.backup_retention_days

  # PostgreSQL's log and the major-upgrade log into CloudWatch Logs, in
  # the log group below (its retention, not "never expire").
  enabled_cloudwatch_logs_exports = local.log_exports
  copy_tags_to_snapshot           = true

  # A protected database cannot be deleted until deletion protection is
  # switched off by hand, then leaves a final snapshot with a unique name and
  # keeps its automated backups (point-in-time recovery) for their retention
  # period. Unprotected ones (test environments) go without either.
  deletion_protection       = var.protected
  skip_final_snapshot       = !var.protected
  final_snapshot_identifier = var.protected ? "${local.identifier}-final-${terraform_data.final_snapshot_suffix.output}" : null
  delete_automated_backups  = !var.protected

  # Changes that need a restart or a failover (instance class, storage,
  # engine settings) wait for the maintenance window instead of happening
  # during `obsctl up`.
  apply_immediately = false

  # `obsctl restore` of an archive with a snapshot, onto an environment that
  # is not up: the instance is created from the snapshot (its data, user and
  # database; the password the restored secrets hold). Only at creation: a
  # running instance never follows a change of it (no replacement).
  snapshot_identifier = var.snapshot_identifier

  tags = merge(var.tags, { Name = local.identifier })

  lifecycle {
    ignore_changes = [snapshot_identifier]
  }

  depends_on = [aws_cloudwatch_log_group.this]
}
