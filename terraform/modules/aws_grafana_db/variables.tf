variable "name" {
  description = "Prefix of the DB instance, subnet group and security group names (usually the environment name). The instance is \"<name>-grafana\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,54}$", var.name)) && !strcontains(var.name, "--") && !endswith(var.name, "-")
    error_message = "name must start with a letter, hold only lower-case letters, digits and single hyphens, not end with a hyphen and be at most 55 characters (RDS identifier rules)."
  }
}

variable "vpc_id" {
  description = "VPC the database security group belongs to."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the DB subnet group, in at least two availability zones (RDS requires two, Multi-AZ puts the standby in another one)."
  type        = list(string)

  validation {
    condition     = length(distinct(var.subnet_ids)) >= 2
    error_message = "subnet_ids must name at least two subnets (in different availability zones)."
  }
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 5432: those of the Grafana hosts."
  type        = list(string)

  validation {
    condition     = length(var.client_security_group_ids) > 0
    error_message = "client_security_group_ids must name at least one security group, or nothing could use the database."
  }
}

variable "password" {
  description = "Password of the master user (the user Grafana logs in as). Passed as the write-only password_wo: never stored in the Terraform state."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.password) >= 16 && length(var.password) <= 128 && can(regex("^[!#-.0-?A-~]+$", var.password))
    error_message = "password must be 16-128 printable ASCII characters without space, '\"', '/' or '@' (RDS rules)."
  }
}

variable "engine_version" {
  description = "PostgreSQL version. A major version alone (\"17\") lets RDS pick its default minor; minor upgrades are applied automatically in the maintenance window. A major upgrade is not: it needs a planned change of this value with allow_major_version_upgrade."
  type        = string
  default     = "17"
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition     = can(regex("^db\\.[a-z0-9-]+\\.[a-z0-9]+$", var.instance_class))
    error_message = "instance_class must be an RDS instance class such as db.t4g.micro."
  }
}

variable "storage_gb" {
  description = "Allocated gp3 storage in GiB (20 to 65536)."
  type        = number
  default     = 20

  validation {
    condition     = floor(var.storage_gb) == var.storage_gb && var.storage_gb >= 20 && var.storage_gb <= 65536
    error_message = "storage_gb must be a whole number from 20 to 65536."
  }
}

variable "multi_az" {
  description = "Run a synchronous standby in a second availability zone with automatic failover."
  type        = bool
  default     = true
}

variable "protected" {
  description = "The database belongs to a protected environment: deletion protection on, a final snapshot \"<identifier>-final-<creation time>\" when it is deleted, automated backups kept after deletion. Off: none of these (test environments)."
  type        = bool
  default     = false
}

variable "password_version" {
  description = "Version of password. RDS is sent the write-only password again whenever it changes."
  type        = number
  default     = 1
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery), 1 to 35."
  type        = number
  default     = 7

  validation {
    condition     = floor(var.backup_retention_days) == var.backup_retention_days && var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be a whole number from 1 to 35."
  }
}

variable "database_name" {
  description = "Name of the database created in the instance."
  type        = string
  default     = "grafana"
}

variable "username" {
  description = "Master user name (Grafana's database user)."
  type        = string
  default     = "grafana"
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the exported PostgreSQL logs (a value CloudWatch accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, …)."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "snapshot_identifier" {
  description = "A DB snapshot the instance is created from (obsctl restore); null = an empty database. Read only when the instance is created."
  type        = string
  default     = null
}
