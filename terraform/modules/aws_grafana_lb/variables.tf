variable "name" {
  description = "Name of the load balancer and of its target group (the aws stack passes \"obsctl-<environment>\"): at most 32 characters of letters, digits and hyphens, not starting with \"internal-\" (AWS rules)."
  type        = string

  validation {
    condition     = length(var.name) <= 32 && can(regex("^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$", var.name)) && !startswith(var.name, "internal-")
    error_message = "name must be 1-32 letters, digits and hyphens, not starting or ending with a hyphen nor starting with \"internal-\"."
  }
}

variable "vpc_id" {
  description = "VPC of the target group."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets the load balancer spans (at least two, in different availability zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An application load balancer needs subnets in at least two availability zones."
  }
}

variable "security_group_ids" {
  description = "Security groups of the load balancer."
  type        = list(string)
}

variable "targets" {
  description = "Grafana instances to balance over (host name => instance ID)."
  type        = map(string)
}

variable "grafana_port" {
  description = "Port Grafana listens on, on the instances."
  type        = number
  default     = 3000
}

variable "certificate_arn" {
  description = "ACM certificate ARN (the user's, for the name users type): the load balancer serves HTTPS on 443 with it and redirects 80 to 443. Required: Grafana is not served over plain HTTP."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Deletion protection on the load balancer (on in a protected environment): it cannot be deleted until this is switched off again."
  type        = bool
  default     = false
}

variable "access_logs" {
  description = "Write access logs into access_logs_bucket (a separate switch: the bucket may be known only at apply)."
  type        = bool
  default     = false
}

variable "access_logs_bucket" {
  description = "Bucket the access logs go to (the audit log bucket), with access_logs."
  type        = string
  default     = null
}

variable "access_logs_prefix" {
  description = "Key prefix of the access logs in that bucket."
  type        = string
  default     = "alb"
}
