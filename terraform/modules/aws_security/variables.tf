variable "name" {
  description = "Prefix for security group names (usually the environment name)."
  type        = string
}

variable "vpc_id" {
  description = "VPC the security groups belong to."
  type        = string
}

variable "admin_cidrs" {
  description = "IPv4 CIDRs allowed to reach the bastion (SSH; through it the hosts and the Prometheus and Alertmanager UIs) and the Grafana load balancer. 0.0.0.0/0 is refused."
  type        = list(string)

  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for c in var.admin_cidrs : can(cidrnetmask(c)) && !endswith(c, "/0")])
    error_message = "admin_cidrs must be a non-empty list of IPv4 CIDRs, none of them /0."
  }
}

variable "hosts_roles" {
  description = "Enabled roles of every host (host name => roles; empty when all of a host's roles are turned off). Hosts with the same set of roles share one role security group."
  type        = map(list(string))

  validation {
    condition = alltrue([
      for roles in values(var.hosts_roles) : alltrue([
        for r in roles : contains(["prometheus", "alertmanager", "grafana", "loki", "app"], r)
      ])
    ])
    error_message = "Roles must be out of prometheus, alertmanager, grafana, loki, app."
  }
}

variable "ports" {
  description = "Every port of the stack under the Ansible roles' names (prometheus_port, alertmanager_port, alertmanager_cluster_port, node_exporter_port, grafana_http_port, grafana_alerting_ha_port, loki_http_port, loki_grpc_port, loki_memberlist_port, alloy_http_port, promtail_http_port, app_port)."
  type        = map(number)
}

variable "every_host" {
  description = "Enabled components that run on every host and are reached from the stack: node_exporter and/or the log agent (alloy, or the legacy promtail)."
  type        = list(string)
  default     = ["node_exporter", "alloy"]

  validation {
    condition     = alltrue([for c in var.every_host : contains(["node_exporter", "alloy", "promtail"], c)])
    error_message = "every_host may hold node_exporter, alloy and promtail."
  }
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

variable "egress_tcp_ports" {
  description = "TCP ports the hosts may open connections to on the internet besides 80 and 443 (APT, HTTPS APIs): the SMTP smarthosts' and webhook receivers' ports of the environment file (obsctl derives them)."
  type        = list(number)
  default     = []

  validation {
    condition     = alltrue([for p in var.egress_tcp_ports : floor(p) == p && p >= 1 && p <= 65535])
    error_message = "egress_tcp_ports must be TCP ports from 1 to 65535."
  }
}

variable "database" {
  description = "Grafana's database the hosts connect to: its port and the CIDRs it lives in (the private subnets); null = none."
  type = object({
    port        = number
    cidr_blocks = list(string)
  })
  default = null
}

variable "scrape_targets" {
  description = "What the Prometheus hosts scrape beyond the stack's own components (obsctl derives it from the env file's [[scrape_jobs]] and [[existing_hosts]]). hosts: host of the stack => TCP ports the user's jobs scrape there; each such host gets a security group of its own admitting exactly those ports from the Prometheus hosts' role groups. addresses: IPv4 address outside the stack => TCP ports scraped there; the Prometheus hosts get one group whose egress reaches exactly those ports of those addresses (/32)."
  type = object({
    hosts     = optional(map(list(number)), {})
    addresses = optional(map(list(number)), {})
  })
  default = {}

  validation {
    condition = alltrue([
      for p in flatten(concat(values(var.scrape_targets.hosts), values(var.scrape_targets.addresses))) : floor(p) == p && p >= 1 && p <= 65535
    ])
    error_message = "scrape_targets ports must be TCP ports from 1 to 65535."
  }

  validation {
    condition     = alltrue([for a in keys(var.scrape_targets.addresses) : can(cidrnetmask("${a}/32"))])
    error_message = "scrape_targets.addresses must be IPv4 addresses."
  }
}
