variable "name" {
  description = "Prefix for security group names (usually the environment name)."
  type        = string
}

variable "vpc_id" {
  description = "VPC the security groups belong to."
  type        = string
}

variable "admin_cidrs" {
  description = "IPv4 CIDRs allowed to reach SSH, the Prometheus and Alertmanager UIs and the Grafana load balancer. 0.0.0.0/0 is refused."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for c in var.admin_cidrs : can(cidrnetmask(c)) && !endswith(c, "/0")])
    error_message = "admin_cidrs must be a non-empty list of IPv4 CIDRs, none of them /0."
  }
}

variable "hosts_roles" {
  description = "Roles of every host (host name => roles). Hosts with the same set of roles share one role security group."
  type        = map(list(string))

  validation {
    condition = alltrue([
      for roles in values(var.hosts_roles) : length(roles) > 0 && alltrue([
        for r in roles : contains(["prometheus", "alertmanager", "grafana", "loki", "app"], r)
      ])
    ])
    error_message = "Every host needs at least one role out of prometheus, alertmanager, grafana, loki, app."
  }
}

variable "app_port" {
  description = "TCP port of the demo application (scraped by Prometheus)."
  type        = number
  default     = 8080
}

variable "lb_https" {
  description = "Also open 443 on the load balancer security group (when the Grafana load balancer serves HTTPS)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
