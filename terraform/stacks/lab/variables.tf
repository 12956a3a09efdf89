# environment, hosts, ports, components: obsctl_inputs.tf (shared with the aws stack).

variable "ssh_public_key_file" {
  description = "Public key authorised for root on every lab machine."
  type        = string
}

variable "ssh_private_key_file" {
  description = "Private key obsctl and Ansible use; published in the inventory."
  type        = string
}

variable "lab" {
  description = "Lab network: bridge name, IPv4 CIDR, and each host's number within the CIDR (stable across added hosts); bastion: the jump machine's name and number within the CIDR (null: no bastion, the lab host reaches the machines directly); data_paths: the stateful components' data roots (obsctl's model/backup.rs DATA_ROOTS), bound into every machine from its data directory on the lab host, which a replaced machine keeps."
  type = object({
    bridge       = string
    cidr         = string
    host_numbers = map(number)
    bastion      = optional(object({ name = string, number = number }))
    root_dir     = optional(string, "/var/lib/obsctl/lab")
    data_paths   = optional(list(string), [])
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

  validation {
    condition     = var.lab.bastion == null || try(var.lab.bastion.number >= 2 && !contains(values(var.lab.host_numbers), var.lab.bastion.number) && !contains(keys(var.lab.host_numbers), var.lab.bastion.name), true)
    error_message = "lab.bastion must have a number >= 2 and a name and number no host has."
  }

  validation {
    condition     = alltrue([for p in var.lab.data_paths : can(regex("^/var/lib/[a-z0-9][a-z0-9._-]*$", p))])
    error_message = "lab.data_paths must be directories directly under /var/lib."
  }
}
