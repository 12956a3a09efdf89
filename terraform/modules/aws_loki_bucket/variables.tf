variable "name" {
  description = "Prefix for the IAM role and instance profile names. IAM names are global to the account: include the region (the aws stack passes \"obsctl-<environment>-<region>\")."
  type        = string
}

variable "bucket_name" {
  description = "Name of the S3 bucket Loki stores chunks and index in (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..")
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens."
  }
}

variable "loki_retention_days" {
  description = "Loki's own retention (limits_config.retention_period) in whole days. Chunks expire expiry_margin_days after it."
  type        = number

  validation {
    condition     = var.loki_retention_days >= 1 && floor(var.loki_retention_days) == var.loki_retention_days
    error_message = "loki_retention_days must be a whole number of days, at least 1."
  }
}

variable "expiry_margin_days" {
  description = "Days the lifecycle rule waits after Loki's retention before it expires a chunk object. S3 counts from the object's creation (a chunk holds up to a few hours of logs before it is written) and runs once a day; Loki's compactor deletes after retention_delete_delay (2h). A week leaves the deleting to Loki."
  type        = number
  default     = 7

  validation {
    condition     = var.expiry_margin_days >= 1 && floor(var.expiry_margin_days) == var.expiry_margin_days
    error_message = "expiry_margin_days must be a whole number of days, at least 1."
  }
}

variable "tenants" {
  description = "Loki tenants whose chunks live under \"<tenant>/\" in the bucket. obsctl's Loki runs with auth_enabled: false, whose single tenant is \"fake\"."
  type        = list(string)
  default     = ["fake"]

  validation {
    condition     = length(var.tenants) > 0 && alltrue([for t in var.tenants : can(regex("^[A-Za-z0-9_.!*'()-]+$", t)) && t != "index"])
    error_message = "tenants must be non-empty Loki tenant IDs (never \"index\": that prefix holds the index and delete requests)."
  }
}

variable "force_destroy" {
  description = "Delete the bucket even when it still holds objects on destroy. Off by default: destroying an environment then fails instead of dropping its logs."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption; null = SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "noncurrent_days" {
  description = "Days a deleted or overwritten object stays as a noncurrent version before it expires (the bucket is versioned)."
  type        = number
  default     = 7

  validation {
    condition     = floor(var.noncurrent_days) == var.noncurrent_days && var.noncurrent_days >= 1
    error_message = "noncurrent_days must be a whole number of days, at least 1."
  }
}

variable "access_logging" {
  description = "Write server access logs into access_log_bucket (a separate switch: the bucket's name may be known only at apply)."
  type        = bool
  default     = false
}

variable "access_log_bucket" {
  description = "Bucket the server access logs go to (the audit log bucket), with access_logging."
  type        = string
  default     = null
}

variable "access_log_prefix" {
  description = "Key prefix of the access logs in that bucket (a slash follows)."
  type        = string
  default     = "s3"
}
