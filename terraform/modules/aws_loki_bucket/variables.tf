variable "name" {
  description = "Prefix for the IAM role and instance profile names (usually the environment name)."
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

variable "retention_days" {
  description = "Objects expire this many days after they were written. Keep it at or above Loki's own retention_period."
  type        = number
  default     = 31

  validation {
    condition     = var.retention_days >= 1 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days, at least 1."
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
