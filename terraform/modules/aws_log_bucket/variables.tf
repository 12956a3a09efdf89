variable "bucket_name" {
  description = "Name of the audit log bucket (globally unique): VPC flow logs, the Grafana load balancer's access logs and the Loki bucket's server access logs."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..")
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens."
  }
}

variable "retention_days" {
  description = "Days every log object is kept before it expires (and noncurrent versions a day after they become noncurrent)."
  type        = number
  default     = 90

  validation {
    condition     = floor(var.retention_days) == var.retention_days && var.retention_days >= 1
    error_message = "retention_days must be a whole number of days, at least 1."
  }
}

variable "force_destroy" {
  description = "Let destroy delete the bucket with the logs still in it (test environments). Off: destroying an environment keeps the audit trail and fails on the non-empty bucket instead."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
