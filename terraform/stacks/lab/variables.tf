variable "environment" {
  description = "Environment name (the name of its file in environments/)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.environment))
    error_message = "environment must be lowercase letters, digits and dashes, at most 20 characters."
  }
}

variable "hosts" {
  description = "Hosts of the topology: name => roles and sizing (sizing is ignored by the lab)."
  type = map(object({
    roles   = list(string)
    size    = optional(string, "small")
    disk_gb = optional(number, 10)
    zone    = optional(number, 0)
  }))

  validation {
    condition     = length(var.hosts) > 0
    error_message = "hosts must name at least one host."
  }

  validation {
    condition     = alltrue([for n in keys(var.hosts) : can(regex("^[a-z][a-z0-9-]{0,30}$", n))])
    error_message = "host names must be lowercase letters, digits and dashes."
  }
}

variable "ssh_public_key_file" {
  description = "Public key authorised for root on every lab machine."
  type        = string
}

variable "ssh_private_key_file" {
  description = "Private key obsctl and Ansible use; published in the inventory."
  type        = string
}

variable "lab" {
  description = "Lab network: bridge name, IPv4 CIDR, and each host's number within the CIDR (stable across added hosts)."
  type = object({
    bridge       = string
    cidr         = string
    host_numbers = map(number)
    root_dir     = optional(string, "/var/lib/obsctl/lab")
  })

  validation {
    condition     = length(var.lab.bridge) <= 15 && can(regex("^[a-z][a-z0-9-]*$", var.lab.bridge))
    error_message = "lab.bridge must be a valid interface name of at most 15 characters."
  }

  validation {
    condition     = can(cidrhost(var.lab.cidr, 1)) && can(regex("^[0-9.]+/[0-9]+$", var.lab.cidr))
    error_message = "lab.cidr must be an IPv4 network such as 10.77.0.0/24."
  }

  validation {
    condition     = alltrue([for n in values(var.lab.host_numbers) : n >= 2])
    error_message = "lab.host_numbers must be >= 2 (1 is the host's own address)."
  }
}

variable "ports" {
  description = "Every component port by its Ansible variable name, from obsctl's component registry. The lab has no firewall, so it opens nothing; declared because obsctl passes the same inputs to every stack."
  type        = map(number)
  default     = {}
}

variable "components" {
  description = "Components enabled in this run (the env file's `components` minus --without). The lab creates the same machines either way."
  type        = list(string)
  default     = []
}
