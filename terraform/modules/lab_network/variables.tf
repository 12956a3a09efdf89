variable "environment" {
  description = "Environment name; lab state lives under <root_dir>/envs/<environment>."
  type        = string
}

variable "bridge" {
  description = "Name of the Linux bridge the lab machines attach to (at most 15 characters)."
  type        = string
}

variable "cidr" {
  description = "IPv4 network of the bridge; its first address is the host's (gateway and apt cache)."
  type        = string
}

variable "script" {
  description = "Absolute path of lab.sh."
  type        = string
}

variable "root_dir" {
  description = "Directory holding lab images, machines and the apt cache."
  type        = string
}

variable "bastion" {
  description = "Address of the environment's bastion on the bridge, or null. When set, the lab host may open connections into var.cidr only to it and to its own bridge address (an nftables table of the environment's own); the machines still reach the host (apt cache, receivers) and replies pass."
  type        = string
  default     = null
}
