# The inputs obsctl passes to every stack, defined once: each stack links
# this file (stacks/<provider>/obsctl_inputs.tf -> ../../shared/obsctl_inputs.tf),
# so the shape of `hosts` and the name rules cannot drift apart between them.
#
# Name rules (the same as obsctl's, src/model/names.rs; tests/names/names.txt runs
# one table of names through both): lower-case letters and digits in
# hyphen-separated words, starting with a letter, no `--`, no trailing `-`;
# environments at most 20 characters, hosts at most 31. Every AWS name the
# aws stack derives starts with "obsctl-<environment>", so an environment
# never yields a name AWS reserves (`sg-…` security groups, `internal-…`
# load balancers); no `--` and no trailing `-` is what RDS identifiers need.

variable "environment" {
  description = "Name of the environment (its file environments/<name>.toml). Part of every resource name."
  type        = string

  validation {
    condition     = length(var.environment) <= 20 && can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", var.environment))
    error_message = "environment must be 1-20 characters: lower-case letters, digits and single hyphens between them, starting with a letter."
  }
}

variable "os" {
  description = "Debian release of every host: debian-13 (the default) or debian-12. The lab boots each machine from that release's base image; aws picks Debian's official image of it (see aws.ami_name)."
  type        = string
  default     = "debian-13"

  validation {
    condition     = can(regex("^debian-[0-9]+$", var.os))
    error_message = "os must name a Debian release such as debian-13."
  }
}

variable "hosts" {
  description = <<-EOT
    Machines of the topology, keyed by host name. roles: components the host
    runs (prometheus, alertmanager, grafana, loki, app; node_exporter and
    the log agent run on every host); size: small, medium or large (aws: a key
    of aws.instance_types; the lab ignores it); disk_gb: root volume (aws);
    data_gb: the data volume of a host with a stateful role (aws: an EBS
    volume that outlives the instance; the lab's data directory has no size);
    zone: index into aws.availability_zones (the lab ignores it); os: the
    host's Debian release when it differs from `os` during a roll to another
    release (obsctl replaces one host at a time: a host not rolled yet keeps
    its release; the lab boots each machine from its host's release, aws
    instances keep their image until replaced). Null: `os`.
  EOT
  type = map(object({
    roles   = list(string)
    size    = optional(string, "small")
    disk_gb = optional(number, 20)
    data_gb = optional(number, 20)
    zone    = optional(number, 0)
    os      = optional(string)
  }))

  validation {
    condition     = length(var.hosts) > 0
    error_message = "hosts must name at least one host."
  }

  validation {
    condition     = alltrue([for name in keys(var.hosts) : length(name) <= 31 && can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", name))])
    error_message = "Host names must be 1-31 characters: lower-case letters, digits and single hyphens between them, starting with a letter. Offending: ${join(", ", [for name in keys(var.hosts) : name if !(length(name) <= 31 && can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", name)))])}."
  }

  validation {
    condition = alltrue([
      for h in values(var.hosts) : length(h.roles) > 0 && length(distinct(h.roles)) == length(h.roles) && alltrue([
        for r in h.roles : contains(["prometheus", "alertmanager", "grafana", "loki", "app"], r)
      ])
    ])
    error_message = "Every host needs a non-empty list of distinct roles out of: prometheus, alertmanager, grafana, loki, app. Offending hosts: ${join(", ", [for n, h in var.hosts : n if length(h.roles) == 0 || length(distinct(h.roles)) != length(h.roles) || !alltrue([for r in h.roles : contains(["prometheus", "alertmanager", "grafana", "loki", "app"], r)])])}."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : h.os == null || can(regex("^debian-[0-9]+$", coalesce(h.os, "x")))])
    error_message = "Every host's os must name a Debian release such as debian-13 (or be null: the environment's os)."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : contains(["small", "medium", "large"], h.size)])
    error_message = "Every host's size must be small, medium or large."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : floor(h.zone) == h.zone && h.zone >= 0])
    error_message = "Every host's zone must be a whole number, at least 0."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : floor(h.disk_gb) == h.disk_gb && h.disk_gb >= 8 && h.disk_gb <= 16384])
    error_message = "Every host's disk_gb must be a whole number between 8 and 16384."
  }

  validation {
    condition     = alltrue([for h in values(var.hosts) : floor(h.data_gb) == h.data_gb && h.data_gb >= 1 && h.data_gb <= 16384])
    error_message = "Every host's data_gb must be a whole number between 1 and 16384."
  }
}

variable "ports" {
  description = "Every port of the stack, from obsctl's component registry, under the names the Ansible roles use (prometheus_port, …, app_port). The aws stack opens its security groups from it."
  type        = map(number)

  # loki_backend_port, alloy_backend_port and promtail_backend_port are loopback-only listeners
  # behind the log gateway (nginx): in the map, opened in no security group.
  validation {
    condition = sort(keys(var.ports)) == sort([
      "prometheus_port", "alertmanager_port", "alertmanager_cluster_port", "node_exporter_port", "grafana_http_port",
      "grafana_alerting_ha_port", "loki_http_port", "loki_grpc_port", "loki_memberlist_port", "alloy_http_port",
      "promtail_http_port", "app_port", "loki_backend_port", "alloy_backend_port", "promtail_backend_port",
    ])
    error_message = "ports must hold exactly: prometheus_port, alertmanager_port, alertmanager_cluster_port, node_exporter_port, grafana_http_port, grafana_alerting_ha_port, loki_http_port, loki_grpc_port, loki_memberlist_port, alloy_http_port, promtail_http_port, app_port, loki_backend_port, alloy_backend_port, promtail_backend_port."
  }

  validation {
    condition     = alltrue([for p in values(var.ports) : floor(p) == p && p >= 1 && p <= 65535 && p != 22]) && length(distinct(values(var.ports))) == length(var.ports)
    error_message = "ports must be distinct TCP ports from 1 to 65535, none of them 22 (SSH)."
  }
}

variable "components" {
  description = "The components this run deploys (the env file's components minus --without). A component that is off gets no infrastructure: no load balancer or database without grafana, no bucket or IAM role without loki, no open ports."
  type        = list(string)

  validation {
    condition     = alltrue([for c in var.components : contains(["prometheus", "alertmanager", "node_exporter", "grafana", "loki", "alloy", "promtail", "app"], c)])
    error_message = "components must be out of: prometheus, alertmanager, node_exporter, grafana, loki, alloy, promtail, app."
  }
}
