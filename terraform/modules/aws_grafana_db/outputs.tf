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
