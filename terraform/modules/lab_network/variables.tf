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
