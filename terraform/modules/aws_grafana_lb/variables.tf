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
  description = "ACM certificate ARN. When set, the load balancer serves HTTPS on 443 and redirects 80 to it; when null, it serves plain HTTP on 80."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (only used with certificate_arn)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
