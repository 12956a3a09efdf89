output "endpoint" {
  description = "host:port Grafana connects to (Grafana's [database] host). The name follows the primary across a Multi-AZ failover."
  value       = "${aws_db_instance.this.address}:${aws_db_instance.this.port}"
}

output "address" {
  description = "DNS name of the instance."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port PostgreSQL listens on."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "Name of Grafana's database."
  value       = aws_db_instance.this.db_name
}

output "username" {
  description = "User Grafana logs in as."
  value       = aws_db_instance.this.username
}

output "identifier" {
  description = "RDS identifier of the instance (for the console, CLI and snapshots)."
  value       = aws_db_instance.this.identifier
}

output "arn" {
  description = "ARN of the DB instance."
  value       = aws_db_instance.this.arn
}

output "security_group_id" {
  description = "ID of the database security group (5432 from the Grafana hosts only)."
  value       = aws_security_group.this.id
}

output "subnet_group_name" {
  description = "Name of the DB subnet group."
  value       = aws_db_subnet_group.this.name
}

output "protection" {
  description = "How the database is protected against deletion: deletion_protection, skip_final_snapshot, final_snapshot_identifier, delete_automated_backups, backup_retention_period."
  value = {
    deletion_protection       = aws_db_instance.this.deletion_protection
    skip_final_snapshot       = aws_db_instance.this.skip_final_snapshot
    final_snapshot_identifier = aws_db_instance.this.final_snapshot_identifier
    delete_automated_backups  = aws_db_instance.this.delete_automated_backups
    backup_retention_period   = aws_db_instance.this.backup_retention_period
    password_wo_version       = aws_db_instance.this.password_wo_version
    log_exports               = sort(aws_db_instance.this.enabled_cloudwatch_logs_exports)
    log_retention_days        = distinct([for g in aws_cloudwatch_log_group.this : g.retention_in_days])
  }
}
