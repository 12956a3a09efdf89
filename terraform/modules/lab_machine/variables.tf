variable "environment" {
  description = "Environment name the machine belongs to."
  type        = string
}

variable "os" {
  description = "Debian release of the machine (debian-13, debian-12): lab.sh boots it from that release's base image."
  type        = string
}

variable "name" {
  description = "Host name of the machine (inventory name)."
  type        = string
}

variable "address" {
  description = "IPv4 address of the machine on the lab bridge."
  type        = string
}

variable "prefix" {
  description = "Prefix length of the lab network."
  type        = string
}

variable "gateway" {
  description = "The host's address on the bridge (apt cache)."
  type        = string
}

variable "bridge" {
  description = "Bridge to attach the machine's veth to."
  type        = string
}

variable "ssh_public_key_file" {
  description = "Public key authorised for root on the machine."
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

variable "data_paths" {
  description = "Data roots of the stateful components (directories directly under /var/lib), bound into the machine from its data directory on the lab host, which outlives the machine."
  type        = list(string)
  default     = []
}
